//! Register assignment for micro-op programs, shared by the JIT backends: loop-invariant
//! values (constants, seed halves) get registers of their own, hoisted out of the loops, and
//! the per-iteration values share a small pool by linear scan over their live ranges. A
//! backend that unrolls gives each unrolled copy its own pool.

use super::program::{MicroOp, Port, Program, K, V};

/// Where a virtual register lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Loop-invariant: computed once before the loops, in invariant register `n`.
    Invariant(u16),
    /// Recomputed every iteration, in pool register `n`.
    Temp(u16),
    /// Constant along a row (it reads only column-broadcast and scalar ports, constants and
    /// other such values): computed once at the start of each row, in per-row register `n`.
    PerRow(u16),
}

/// The assignment of one program.
#[derive(Clone, Debug)]
pub struct Assignment {
    /// Slot of each `V`.
    pub v: Vec<Slot>,
    /// Pool register of each `K` (for a `K` kept for the whole row, see `k_row`).
    pub k: Vec<u16>,
    /// The per-row predicate register of each `K` that a row's start defines and its vectors
    /// read.
    pub k_row: Vec<Option<u16>>,
    /// Number of invariant vector registers.
    pub invariants: u16,
    /// Vector pool registers one iteration (or the row's start) needs.
    pub temps: u16,
    /// Predicate registers one iteration (or the row's start) needs.
    pub ktemps: u16,
    /// Number of per-row vector registers.
    pub per_row: u16,
    /// Number of per-row predicate registers.
    pub k_per_row: u16,
    /// Which ops run once per row (at its start) rather than for every vector.
    pub row_op: Vec<bool>,
}

impl Assignment {
    /// Computes the assignment, with nothing hoisted per row.
    pub fn of(p: &Program) -> Assignment {
        Assignment::of_rows(p, &|_| false)
    }

    /// Computes the assignment; loads of the ports `per_row_port` accepts (column-broadcast
    /// and scalar operands), stores to them, and the arithmetic on such values and constants
    /// are hoisted to the start of each row. Values the row's start computes for its own use
    /// share the pool with the vectors' temporaries (they are dead before the first vector);
    /// those the vectors read keep a per-row register.
    pub fn of_rows(p: &Program, per_row_port: &dyn Fn(Port) -> bool) -> Assignment {
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
        // Which ops a row's start runs: those reading only invariants and per-row values.
        let (nv, nk) = (p.vregs as usize, p.kregs as usize);
        let mut row_v: Vec<bool> = v.iter().map(|s| matches!(s, Slot::Invariant(_))).collect();
        let mut row_k = vec![false; nk];
        let mut row_op = vec![false; p.ops.len()];
        for (i, op) in p.ops.iter().enumerate() {
            if invariant_def(op).is_some() {
                continue;
            }
            let (vs, ks) = reads(op);
            let fixed = vs.iter().flatten().all(|r| row_v[r.0 as usize])
                && ks.iter().flatten().all(|r| row_k[r.0 as usize]);
            row_op[i] = match *op {
                MicroOp::Load { port, .. } => per_row_port(port),
                MicroOp::Store { port, .. } => per_row_port(port) && fixed,
                MicroOp::LoadMask { .. }
                | MicroOp::StoreMask { .. }
                | MicroOp::Position { .. }
                | MicroOp::Accumulate { .. } => false,
                _ => fixed,
            };
            if row_op[i] {
                match writes(op) {
                    (Some(d), _) => row_v[d.0 as usize] = true,
                    (_, Some(d)) => row_k[d.0 as usize] = true,
                    _ => {}
                }
            }
        }
        // Per-row values the vectors read keep their own registers.
        let (mut escapes_v, mut escapes_k) = (vec![false; nv], vec![false; nk]);
        for (i, op) in p.ops.iter().enumerate() {
            if row_op[i] || invariant_def(op).is_some() {
                continue;
            }
            let (vs, ks) = reads(op);
            vs.iter()
                .flatten()
                .for_each(|r| escapes_v[r.0 as usize] = true);
            ks.iter()
                .flatten()
                .for_each(|r| escapes_k[r.0 as usize] = true);
        }
        let mut per_row = 0u16;
        let mut k_per_row = 0u16;
        let mut k_row = vec![None; nk];
        for (i, op) in p.ops.iter().enumerate() {
            if !row_op[i] {
                continue;
            }
            match writes(op) {
                (Some(d), _) if escapes_v[d.0 as usize] => {
                    v[d.0 as usize] = Slot::PerRow(per_row);
                    per_row += 1;
                }
                (_, Some(d)) if escapes_k[d.0 as usize] => {
                    k_row[d.0 as usize] = Some(k_per_row);
                    k_per_row += 1;
                }
                _ => {}
            }
        }
        // Two linear scans over the same pool: the row's start, then one vector.
        let mut k = vec![u16::MAX; nk];
        let (t0, kt0) = scan(p, &mut v, &mut k, &k_row, |i| row_op[i]);
        let (t1, kt1) = scan(p, &mut v, &mut k, &k_row, |i| !row_op[i]);
        Assignment {
            v,
            k,
            k_row,
            invariants,
            temps: t0.max(t1),
            ktemps: kt0.max(kt1),
            per_row,
            k_per_row,
            row_op,
        }
    }
}

/// Linear scan over the ops `active` selects: a temporary is free again after its last use
/// among them. Returns the vector and predicate pool sizes.
fn scan(
    p: &Program,
    v: &mut [Slot],
    k: &mut [u16],
    k_row: &[Option<u16>],
    active: impl Fn(usize) -> bool,
) -> (u16, u16) {
    let (mut v_last, mut k_last) = (vec![0usize; v.len()], vec![0usize; k.len()]);
    for (i, op) in p.ops.iter().enumerate() {
        if !active(i) {
            continue;
        }
        let (vs, ks) = reads(op);
        vs.iter().flatten().for_each(|r| v_last[r.0 as usize] = i);
        ks.iter().flatten().for_each(|r| k_last[r.0 as usize] = i);
    }
    let (mut free_v, mut free_k): (Vec<u16>, Vec<u16>) = (Vec::new(), Vec::new());
    let (mut temps, mut ktemps) = (0u16, 0u16);
    let take = |free: &mut Vec<u16>, count: &mut u16| {
        free.pop().unwrap_or_else(|| {
            *count += 1;
            *count - 1
        })
    };
    for (i, op) in p.ops.iter().enumerate() {
        if !active(i) || invariant_def(op).is_some() {
            continue;
        }
        let (vs, ks) = reads(op);
        // Sources whose last use is here are released before the destination is taken,
        // so `dst` may reuse a source register (every backend reads sources first).
        for r in vs.iter().flatten() {
            if v_last[r.0 as usize] == i {
                if let Slot::Temp(n) = v[r.0 as usize] {
                    if n != u16::MAX && !free_v.contains(&n) {
                        free_v.push(n);
                    }
                }
            }
        }
        for r in ks.iter().flatten() {
            let t = k[r.0 as usize];
            if k_last[r.0 as usize] == i && k_row[r.0 as usize].is_none() && !free_k.contains(&t) {
                free_k.push(t);
            }
        }
        match writes(op) {
            (Some(d), _) if matches!(v[d.0 as usize], Slot::Temp(_)) => {
                let n = take(&mut free_v, &mut temps);
                v[d.0 as usize] = Slot::Temp(n);
                if v_last[d.0 as usize] <= i {
                    // Never read: release at once.
                    free_v.push(n);
                }
            }
            (_, Some(d)) if k_row[d.0 as usize].is_none() => {
                k[d.0 as usize] = take(&mut free_k, &mut ktemps);
                if k_last[d.0 as usize] <= i {
                    free_k.push(k[d.0 as usize]);
                }
            }
            _ => {}
        }
    }
    (temps, ktemps)
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
        Store { src, .. } | Accumulate { src, .. } => ([Some(src), None, None], [None, None]),
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
        Store { .. } | StoreMask { .. } | Accumulate { .. } => (None, None),
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
