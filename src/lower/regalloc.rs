//! Register assignment for micro-op programs, shared by the JIT backends: loop-invariant
//! values (constants, seed halves) get registers of their own, hoisted out of the loops, and
//! the per-iteration values share a small pool by linear scan over their live ranges. A
//! backend that unrolls gives each unrolled copy its own pool.

use super::program::{MicroOp, Program, K, V};

/// Where a virtual register lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Loop-invariant: computed once before the loops, in invariant register `n`.
    Invariant(u16),
    /// Recomputed every iteration, in pool register `n`.
    Temp(u16),
}

/// The assignment of one program.
#[derive(Clone, Debug)]
pub struct Assignment {
    /// Slot of each `V`.
    pub v: Vec<Slot>,
    /// Pool register of each `K`.
    pub k: Vec<u16>,
    /// Number of invariant vector registers.
    pub invariants: u16,
    /// Vector pool registers one iteration needs.
    pub temps: u16,
    /// Predicate registers one iteration needs.
    pub ktemps: u16,
}

impl Assignment {
    /// Computes the assignment.
    pub fn of(p: &Program) -> Assignment {
        let mut v = vec![Slot::Temp(u16::MAX); p.vregs as usize];
        let mut invariants = 0;
        // Equal constants share one register (sequences each create their own 0.0 and 1.0).
        let mut seen: Vec<(u32, u16)> = Vec::new();
        for op in &p.ops {
            if let Some(dst) = invariant_def(op) {
                let bits = match *op {
                    MicroOp::Const { value, .. } => Some(value.to_bits()),
                    MicroOp::ConstBits { bits, .. } => Some(bits),
                    _ => None,
                };
                let slot = match bits.and_then(|b| seen.iter().find(|s| s.0 == b)) {
                    Some(&(_, n)) => n,
                    None => {
                        invariants += 1;
                        if let Some(b) = bits {
                            seen.push((b, invariants - 1));
                        }
                        invariants - 1
                    }
                };
                v[dst.0 as usize] = Slot::Invariant(slot);
            }
        }
        // Last use of every register (by op index).
        let (mut v_last, mut k_last) = (
            vec![0usize; p.vregs as usize],
            vec![0usize; p.kregs as usize],
        );
        for (i, op) in p.ops.iter().enumerate() {
            let (vs, ks) = reads(op);
            vs.iter().flatten().for_each(|r| v_last[r.0 as usize] = i);
            ks.iter().flatten().for_each(|r| k_last[r.0 as usize] = i);
        }
        // Linear scan: a register is free again after its last use.
        let (mut free_v, mut free_k): (Vec<u16>, Vec<u16>) = (Vec::new(), Vec::new());
        let (mut temps, mut ktemps) = (0u16, 0u16);
        let mut k = vec![u16::MAX; p.kregs as usize];
        let take = |free: &mut Vec<u16>, count: &mut u16| {
            free.pop().unwrap_or_else(|| {
                *count += 1;
                *count - 1
            })
        };
        for (i, op) in p.ops.iter().enumerate() {
            let (vs, ks) = reads(op);
            // Sources whose last use is here are released before the destination is taken,
            // so `dst` may reuse a source register (every backend reads sources first).
            for r in vs.iter().flatten() {
                if v_last[r.0 as usize] == i {
                    if let Slot::Temp(n) = v[r.0 as usize] {
                        if !free_v.contains(&n) {
                            free_v.push(n);
                        }
                    }
                }
            }
            for r in ks.iter().flatten() {
                if k_last[r.0 as usize] == i && !free_k.contains(&k[r.0 as usize]) {
                    free_k.push(k[r.0 as usize]);
                }
            }
            match writes(op) {
                (Some(d), _) if invariant_def(op).is_none() => {
                    v[d.0 as usize] = Slot::Temp(take(&mut free_v, &mut temps));
                    if v_last[d.0 as usize] <= i {
                        // Never read: release at once.
                        if let Slot::Temp(n) = v[d.0 as usize] {
                            free_v.push(n);
                        }
                    }
                }
                (_, Some(d)) => {
                    k[d.0 as usize] = take(&mut free_k, &mut ktemps);
                    if k_last[d.0 as usize] <= i {
                        free_k.push(k[d.0 as usize]);
                    }
                }
                _ => {}
            }
        }
        Assignment {
            v,
            k,
            invariants,
            temps,
            ktemps,
        }
    }
}

/// The `V` an op defines if it is loop-invariant.
pub fn invariant_def(op: &MicroOp) -> Option<V> {
    match *op {
        MicroOp::Const { dst, .. } | MicroOp::ConstBits { dst, .. } | MicroOp::Seed { dst, .. } => {
            Some(dst)
        }
        _ => None,
    }
}

/// The registers an op reads.
pub fn reads(op: &MicroOp) -> ([Option<V>; 3], [Option<K>; 2]) {
    use MicroOp::*;
    match *op {
        Store { src, .. } => ([Some(src), None, None], [None, None]),
        StoreMask { src } => ([None; 3], [Some(src), None]),
        Un { a, .. } | ShrImm { a, .. } => ([Some(a), None, None], [None, None]),
        Bin { a, b, .. } | Int { a, b, .. } | Cmp { a, b, .. } | UGe { a, b, .. } => {
            ([Some(a), Some(b), None], [None, None])
        }
        Fma { a, b, c, .. } => ([Some(a), Some(b), Some(c)], [None, None]),
        Select { k, a, b, .. } => ([Some(a), Some(b), None], [Some(k), None]),
        Load { .. }
        | LoadMask { .. }
        | Const { .. }
        | ConstBits { .. }
        | Position { .. }
        | Seed { .. } => ([None; 3], [None, None]),
    }
}

/// The register an op writes.
pub fn writes(op: &MicroOp) -> (Option<V>, Option<K>) {
    use MicroOp::*;
    match *op {
        Load { dst, .. }
        | Const { dst, .. }
        | ConstBits { dst, .. }
        | Un { dst, .. }
        | Bin { dst, .. }
        | Fma { dst, .. }
        | Select { dst, .. }
        | Position { dst }
        | Seed { dst, .. }
        | Int { dst, .. }
        | ShrImm { dst, .. } => (Some(dst), None),
        LoadMask { dst } | Cmp { dst, .. } | UGe { dst, .. } => (None, Some(dst)),
        Store { .. } | StoreMask { .. } => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::{Builder, Port};

    #[test]
    fn constants_are_hoisted_and_temps_are_reused() {
        let mut b = Builder::new();
        let one = b.constant(1.0);
        let x = b.load(Port::In0);
        let y = b.add(x, one);
        let z = b.mul(y, y);
        let w = b.add(z, one);
        b.store(w, Port::Out);
        let p = b.finish();
        let a = Assignment::of(&p);
        assert_eq!(a.invariants, 1);
        assert_eq!(a.v[one.0 as usize], Slot::Invariant(0));
        // A second 1.0 shares the register.
        let mut b = Builder::new();
        let (x, y) = (b.constant(1.0), b.constant(1.0));
        let s = b.add(x, y);
        b.store(s, Port::Out);
        assert_eq!(Assignment::of(&b.finish()).invariants, 1);
        // x, y, z, w form a chain: one temp suffices.
        assert_eq!(a.temps, 1, "{:?}", a.v);
    }
}
