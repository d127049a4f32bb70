//! An equation → passes over its space, each one micro-op program (DESIGN §3).
//!
//! Elementwise nodes never get a pass of their own: every pass computes, in registers, the
//! nodes its work needs. Passes are cut only where a value must be complete before it can be
//! used: a **row reduction** (one value per row) is folded in registers across the row and
//! read by a later pass; a **column reduction** (one value per column) is folded into an f32
//! row vector in scratch and read only once every row has been through it. Values that are
//! constant along a row (column vectors, scalars and what is computed from them) are computed
//! once per row by the backend (see [`super::regalloc`]), which is where per-row outputs such
//! as a layer norm's mean and rstd are stored.
//!
//! A pass recomputes the cheap elementwise nodes an earlier pass already computed rather than
//! reading them back; a transcendental node that later passes need is stored once to f32
//! scratch instead. Scratch is owned by the kernel. Passes over full rows run in row blocks:
//! every pass of a *group* runs on one block of rows before the next block, so the block's
//! data stays in cache between passes; a group ends where a pass needs a column reduction of
//! the same group.

use super::eltwise::{binary_on, unary_on};
use super::program::{BinOp, Builder, Fold, Port, Program, UnOp, K, V};
use super::regalloc::Assignment;
use crate::isa::{
    BinaryOp, Broadcast, DType, EqOp, EqOutputKind, Equation, ReduceAxis, ReduceOp, TernaryOp,
    UnaryOp, ValueKind,
};
use std::collections::HashMap;

/// An operand buffer of the equation's kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buf {
    /// Value input `n` of the call.
    Input(u16),
    /// Value output `n` of the call.
    Output(u16),
    /// Scratch buffer `n` of the plan (always f32).
    Scratch(u16),
}

/// A scratch buffer: its shape in the space, and whether it only lives for one row block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScratchBuf {
    /// `None` (a full matrix, `ld = cols`), `Row` or `Col`.
    pub shape: Broadcast,
    /// Only the passes of the group that writes it read it: it holds one block of rows.
    pub per_block: bool,
    /// For column reductions: the fold whose identity it must hold before its group starts.
    pub init: Option<Fold>,
    /// The group that writes it.
    pub group: usize,
}

/// One operand of a pass: `Port::Buf(n)` of its program is `ports[n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassPort {
    /// The buffer.
    pub buf: Buf,
    /// Its dtype.
    pub dtype: DType,
    /// How it covers the pass's rows and columns.
    pub shape: Broadcast,
    /// Leading dimension of a full matrix (elements).
    pub ld: usize,
}

impl PassPort {
    /// A full-matrix output of the call: what non-temporal stores may write.
    pub fn streams(&self) -> bool {
        matches!(self.buf, Buf::Output(_)) && self.shape == Broadcast::None
    }
}

/// What rows and columns a pass runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Every row and column (in row blocks).
    Full,
    /// Every row, no columns: only what is constant along a row (in row blocks).
    Rows,
    /// One row of every column: row vectors (once, after the groups before it).
    Cols,
}

/// One pass: a program over a space.
#[derive(Clone, Debug, PartialEq)]
pub struct Pass {
    /// Its space.
    pub space: Space,
    /// The program (`Port::Buf` operands only).
    pub program: Program,
    /// Its operands.
    pub ports: Vec<PassPort>,
    /// Row accumulators: fold and the port (an f32 column vector) of each.
    pub accs: Vec<(Fold, u16)>,
    /// Bits per row of the mask input it reads.
    pub mask_in: Option<usize>,
    /// Bits per row of the mask output it writes.
    pub mask_out: Option<usize>,
    /// Its group (see the module docs).
    pub group: usize,
}

/// An equation lowered: passes in order, and the scratch they share.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The passes.
    pub passes: Vec<Pass>,
    /// The scratch buffers.
    pub scratch: Vec<ScratchBuf>,
}

/// Where a node's value can be read without computing it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Avail {
    /// Loaded from an input.
    Input(u16),
    /// Read from scratch.
    Scratch(u16, Broadcast),
}

/// Ops worth storing once rather than recomputing in each pass that needs them.
fn heavy(op: EqOp) -> bool {
    use UnaryOp::*;
    matches!(
        op,
        EqOp::Unary(
            Exp | Tanh
                | TanhBackward
                | Sigmoid
                | SigmoidBackward
                | Gelu
                | GeluBackward
                | GeluErf
                | GeluErfBackward
                | Elu { .. }
                | EluBackward { .. }
                | Silu
                | SiluBackward
        )
    )
}

/// Vector registers (and predicate registers) every backend offers a pass program: a pass
/// that needs more has a full-matrix value stored to scratch by an earlier pass instead (a
/// spill to memory), until every pass fits.
pub const VREG_BUDGET: u16 = 24;
/// Predicate registers every backend offers a pass program.
pub const KREG_BUDGET: u16 = 5;

/// The registers a backend offers one pass program (`Backend::program_registers`): a pass
/// that needs more spills full-matrix values to scratch until it fits, so a backend with
/// fewer registers gets more passes instead of declining the equation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterBudget {
    /// Vector registers for a pass's temporaries, per-row values and row accumulators.
    pub vregs: u16,
    /// Predicate registers, or `None` where a predicate is a vector register and counts
    /// against `vregs` (NEON: all-ones / all-zeros lanes).
    pub kregs: Option<u16>,
}

impl RegisterBudget {
    /// [`VREG_BUDGET`] vector and [`KREG_BUDGET`] predicate registers (AVX-512's, and the
    /// default of a backend that does not say).
    pub const COMMON: RegisterBudget = RegisterBudget {
        vregs: VREG_BUDGET,
        kregs: Some(KREG_BUDGET),
    };

    /// Whether a program needing `vregs` vector and `kregs` predicate registers fits.
    pub fn fits(self, vregs: u16, kregs: u16) -> bool {
        match self.kregs {
            Some(k) => vregs <= self.vregs && kregs <= k,
            None => vregs + kregs <= self.vregs,
        }
    }
}

/// Lowers a validated equation within [`RegisterBudget::COMMON`].
pub fn plan(eq: &Equation) -> Option<Plan> {
    plan_within(eq, RegisterBudget::COMMON)
}

/// Lowers a validated equation so that every pass fits `budget`.
pub fn plan_within(eq: &Equation, budget: RegisterBudget) -> Option<Plan> {
    let mut forced = vec![false; eq.nodes().len()];
    loop {
        match plan_forced(eq, &forced, budget)? {
            (plan, None) => return Some(plan),
            (_, Some(spill)) => forced[spill] = true,
        }
    }
}

/// [`plan`] with the `forced` nodes stored to scratch; also returns a node to spill when a
/// pass exceeds the register budget.
fn plan_forced(
    eq: &Equation,
    forced: &[bool],
    budget: RegisterBudget,
) -> Option<(Plan, Option<usize>)> {
    let kinds = eq.kinds().ok()?;
    let nodes = eq.nodes();
    let n = nodes.len();
    let mut avail: Vec<Option<Avail>> = vec![None; n];
    for (i, node) in nodes.iter().enumerate() {
        if let EqOp::Input(k) = node.op {
            avail[i] = Some(Avail::Input(k));
        }
    }
    // The reductions the outputs need.
    let mut needed = vec![false; n];
    for o in eq.outputs() {
        needed[o.node.index()] = true;
    }
    for i in (0..n).rev() {
        if needed[i] {
            for &a in nodes[i].operands() {
                needed[a as usize] = true;
            }
        }
    }
    // Reductions, and the nodes spilled to scratch: each is computed by one pass.
    let mut pending_red: Vec<usize> = (0..n)
        .filter(|&i| needed[i] && (forced[i] || matches!(nodes[i].op, EqOp::Reduce(..))))
        .collect();
    let mut pending_out: Vec<usize> = (0..eq.outputs().len()).collect();
    let mut plan = Plan {
        passes: Vec::new(),
        scratch: Vec::new(),
    };
    // Which group each scratch is read in (for `per_block`).
    let mut readers: Vec<Vec<usize>> = Vec::new();
    let mut group = 0usize;
    let mut group_space: Option<Space> = None;
    while !pending_red.is_empty() || !pending_out.is_empty() {
        // `ready[i]`: computable now (its cone reaches only available values).
        let mut ready = vec![false; n];
        for i in 0..n {
            ready[i] = avail[i].is_some()
                || match nodes[i].op {
                    EqOp::Reduce(..) => false,
                    _ if forced[i] => false,
                    _ => nodes[i].operands().iter().all(|&a| ready[a as usize]),
                };
        }
        let reds: Vec<usize> = pending_red
            .iter()
            .copied()
            .filter(|&r| nodes[r].operands().iter().all(|&a| ready[a as usize]))
            .collect();
        let outs: Vec<usize> = pending_out
            .iter()
            .copied()
            .filter(|&o| ready[eq.outputs()[o].node.index()])
            .collect();
        let shape_of = |o: usize| match kinds[eq.outputs()[o].node.index()] {
            ValueKind::Value(s) => s,
            ValueKind::Mask => Broadcast::None,
        };
        let full = !reds.is_empty() || outs.iter().any(|&o| shape_of(o) == Broadcast::None);
        let rows = outs.iter().any(|&o| shape_of(o) == Broadcast::Col);
        let space = if full {
            Space::Full
        } else if rows {
            Space::Rows
        } else {
            Space::Cols
        };
        let fits = |o: &usize| match space {
            Space::Full | Space::Rows => shape_of(*o) != Broadcast::Row,
            Space::Cols => matches!(shape_of(*o), Broadcast::Row | Broadcast::Scalar),
        };
        let outs: Vec<usize> = outs.into_iter().filter(fits).collect();
        if reds.is_empty() && outs.is_empty() {
            return None; // cannot happen for a valid DAG; decline rather than loop
        }
        // The work left after this pass: what it needs that this pass computes anyway.
        let later_needs = {
            let mut need = vec![false; n];
            for &r in pending_red.iter().filter(|r| !reds.contains(r)) {
                need[nodes[r].args[0] as usize] = true;
            }
            for &o in pending_out.iter().filter(|o| !outs.contains(o)) {
                need[eq.outputs()[o].node.index()] = true;
            }
            for i in (0..n).rev() {
                let stop = avail[i].is_some() || reds.contains(&i);
                if need[i] && !stop {
                    for &a in nodes[i].operands() {
                        need[a as usize] = true;
                    }
                }
            }
            need
        };
        // Register need of each node (Sethi–Ullman numbers), for the order operands are
        // computed in: fewer values live at once.
        let mut need = vec![1usize; n];
        for i in 0..n {
            if avail[i].is_none() {
                let mut ns: Vec<usize> = nodes[i]
                    .operands()
                    .iter()
                    .map(|&a| need[a as usize])
                    .collect();
                ns.sort_unstable_by(|a, b| b.cmp(a));
                need[i] = ns
                    .iter()
                    .enumerate()
                    .map(|(k, &x)| x + k)
                    .max()
                    .unwrap_or(1);
            }
        }
        let first_scratch = plan.scratch.len();
        let mut b = PassBuilder {
            eq,
            kinds: &kinds,
            avail: &avail,
            b: Builder::new(),
            memo: HashMap::new(),
            need,
            ports: Vec::new(),
            space,
            mask_in: None,
        };
        let mut accs = Vec::new();
        let mut new_avail = Vec::new();
        for &r in &reds {
            let EqOp::Reduce(op, axis) = nodes[r].op else {
                // A spilled node: computed here, read back from scratch by later passes.
                let v = b.value(r)?;
                let s = plan.scratch.len() as u16;
                plan.scratch.push(ScratchBuf {
                    shape: Broadcast::None,
                    per_block: true,
                    init: None,
                    group,
                });
                readers.push(Vec::new());
                let port = b.port(Buf::Scratch(s), DType::F32, Broadcast::None, eq.cols());
                b.b.store(v, Port::Buf(port));
                new_avail.push((r, Avail::Scratch(s, Broadcast::None)));
                continue;
            };
            let x = b.value(nodes[r].args[0] as usize)?;
            let (fold, v) = match op {
                ReduceOp::Sum => (Fold::Sum, x),
                ReduceOp::SumSq => (Fold::Sum, b.b.mul(x, x)),
                ReduceOp::Max => (Fold::Max, x),
                ReduceOp::Min => (Fold::Min, x),
                ReduceOp::AbsMax => (Fold::Max, b.b.un(UnOp::Abs, x)),
                ReduceOp::SumAndSumSq => return None,
            };
            let shape = match axis {
                ReduceAxis::PerRow => Broadcast::Col,
                ReduceAxis::PerCol => Broadcast::Row,
            };
            let s = plan.scratch.len() as u16;
            plan.scratch.push(ScratchBuf {
                shape,
                per_block: false,
                init: (axis == ReduceAxis::PerCol).then_some(fold),
                group,
            });
            readers.push(Vec::new());
            let port = b.port(Buf::Scratch(s), DType::F32, shape, 0);
            match axis {
                ReduceAxis::PerRow => {
                    b.b.accumulate(v, accs.len() as u16);
                    accs.push((fold, port));
                }
                ReduceAxis::PerCol => {
                    let cur = b.b.load(Port::Buf(port));
                    let op = match fold {
                        Fold::Sum => BinOp::Add,
                        Fold::Max => BinOp::Max,
                        Fold::Min => BinOp::Min,
                    };
                    let new = b.b.bin(op, cur, v);
                    b.b.store(new, Port::Buf(port));
                }
            }
            new_avail.push((r, Avail::Scratch(s, shape)));
        }
        let mut mask_out = None;
        for &o in &outs {
            let out = eq.outputs()[o];
            let i = out.node.index();
            match out.kind {
                EqOutputKind::Value { dtype, ld } => {
                    let v = b.value(i)?;
                    let port = b.port(Buf::Output(o as u16), dtype, shape_of(o), ld);
                    b.b.store(v, Port::Buf(port));
                }
                EqOutputKind::Mask { ld_bits } => {
                    let k = b.mask(i)?;
                    b.b.store_mask(k);
                    mask_out = Some(ld_bits);
                }
            }
        }
        // Heavy full-matrix values later passes need: stored once, read back there.
        if space == Space::Full {
            let computed: Vec<usize> = b.memo.keys().copied().collect();
            for i in computed {
                let full = kinds[i] == ValueKind::Value(Broadcast::None);
                if full && later_needs[i] && heavy(nodes[i].op) && avail[i].is_none() {
                    let s = plan.scratch.len() as u16;
                    plan.scratch.push(ScratchBuf {
                        shape: Broadcast::None,
                        per_block: true,
                        init: None,
                        group,
                    });
                    readers.push(Vec::new());
                    let v = b.value(i)?;
                    let port = b.port(Buf::Scratch(s), DType::F32, Broadcast::None, eq.cols());
                    b.b.store(v, Port::Buf(port));
                    new_avail.push((i, Avail::Scratch(s, Broadcast::None)));
                }
            }
        }
        // A new group where the pass reads a column reduction of the current one, and around
        // every pass over one row of columns (those run once, not per row block).
        let reads_current_group = b.ports.iter().any(|p| match p.buf {
            Buf::Scratch(s) => {
                let sb = &plan.scratch[s as usize];
                (s as usize) < first_scratch && sb.shape == Broadcast::Row && sb.group == group
            }
            _ => false,
        });
        if let Some(prev) = group_space {
            if reads_current_group || prev == Space::Cols || space == Space::Cols {
                group += 1;
            }
        }
        group_space = Some(space);
        for sb in &mut plan.scratch[first_scratch..] {
            sb.group = group;
        }
        for p in &b.ports {
            if let Buf::Scratch(s) = p.buf {
                readers[s as usize].push(group);
            }
        }
        let program = b.b.finish();
        let per_row = |p: Port| match p {
            Port::Buf(n) => matches!(
                b.ports[n as usize].shape,
                Broadcast::Col | Broadcast::Scalar
            ),
            _ => false,
        };
        let asg = Assignment::of_rows(&program, &per_row);
        let vregs = asg.temps + asg.per_row + accs.len() as u16;
        if !budget.fits(vregs, asg.ktemps + asg.k_per_row) {
            // Spill the full-matrix value with the largest register need this pass computes.
            let spill = b
                .memo
                .keys()
                .copied()
                .filter(|&i| {
                    kinds[i] == ValueKind::Value(Broadcast::None)
                        && avail[i].is_none()
                        && !forced[i]
                        && !matches!(nodes[i].op, EqOp::Input(_) | EqOp::Const(_))
                })
                .max_by_key(|&i| (b.need[i], i));
            return Some((plan, Some(spill?)));
        }
        let pass = Pass {
            space,
            program,
            ports: b.ports,
            accs,
            mask_in: b.mask_in,
            mask_out,
            group,
        };
        plan.passes.push(pass);
        for (i, a) in new_avail {
            avail[i] = Some(a);
        }
        pending_red.retain(|r| !reds.contains(r));
        pending_out.retain(|o| !outs.contains(o));
    }
    for (s, buf) in plan.scratch.iter_mut().enumerate() {
        buf.per_block = buf.shape == Broadcast::None && readers[s].iter().all(|&g| g == buf.group);
    }
    Some((plan, None))
}

/// Builds one pass's program.
struct PassBuilder<'a> {
    eq: &'a Equation,
    kinds: &'a [ValueKind],
    avail: &'a [Option<Avail>],
    b: Builder,
    /// Each node computed so far in this pass: its value and (for mask writers) its mask.
    memo: HashMap<usize, (Option<V>, Option<K>)>,
    /// Sethi–Ullman number of each node.
    need: Vec<usize>,
    ports: Vec<PassPort>,
    space: Space,
    mask_in: Option<usize>,
}

impl PassBuilder<'_> {
    /// The port of `buf` (added on first use).
    fn port(&mut self, buf: Buf, dtype: DType, shape: Broadcast, ld: usize) -> u16 {
        if let Some(n) = self.ports.iter().position(|p| p.buf == buf) {
            return n as u16;
        }
        // In a pass over one row of columns, a row vector is indexed by the column.
        let shape = match (self.space, shape) {
            (Space::Cols, Broadcast::Row) => Broadcast::Row,
            (_, s) => s,
        };
        self.ports.push(PassPort {
            buf,
            dtype,
            shape,
            ld,
        });
        self.ports.len() as u16 - 1
    }

    fn value(&mut self, i: usize) -> Option<V> {
        self.node(i)?.0
    }

    fn mask(&mut self, i: usize) -> Option<K> {
        self.node(i)?.1
    }

    fn node(&mut self, i: usize) -> Option<(Option<V>, Option<K>)> {
        if let Some(&r) = self.memo.get(&i) {
            return Some(r);
        }
        let eq = self.eq;
        let node = eq.nodes()[i];
        let r = match (self.avail[i], node.op) {
            (Some(Avail::Input(k)), _) => {
                let inp = eq.inputs()[k as usize];
                let port = self.port(Buf::Input(k), inp.dtype, inp.shape, inp.ld);
                (Some(self.b.load(Port::Buf(port))), None)
            }
            (Some(Avail::Scratch(s, shape)), _) => {
                let port = self.port(Buf::Scratch(s), DType::F32, shape, eq.cols());
                (Some(self.b.load(Port::Buf(port))), None)
            }
            (None, EqOp::Input(_)) | (None, EqOp::Reduce(..)) => return None,
            (None, EqOp::MaskInput(k)) => {
                self.mask_in = Some(eq.mask_inputs()[k as usize]);
                (None, Some(self.b.load_mask()))
            }
            (None, EqOp::Const(bits)) => (Some(self.b.constant(f32::from_bits(bits))), None),
            (None, EqOp::MaskOf) => (None, self.mask(node.args[0] as usize)),
            (None, op) => {
                // Operands in decreasing register need, so fewer values are live at once.
                let mut order: Vec<usize> = (0..node.arity as usize).collect();
                order.sort_by_key(|&k| std::cmp::Reverse(self.need[node.args[k] as usize]));
                for k in order {
                    self.node(node.args[k] as usize)?;
                }
                let arg = |s: &Self, k: usize| s.memo[&(node.args[k] as usize)];
                match op {
                    EqOp::Unary(u) => {
                        let x = arg(self, 0).0?;
                        let (aux, mask) = if u.reads_aux() {
                            (arg(self, 1).0, None)
                        } else if u.reads_mask() {
                            (None, arg(self, 1).1)
                        } else {
                            (None, None)
                        };
                        let (y, k) = unary_on(&mut self.b, u, x, aux, mask)?;
                        (Some(y), k)
                    }
                    EqOp::Binary(BinaryOp::Compare(c)) => {
                        let (x, y) = (arg(self, 0).0?, arg(self, 1).0?);
                        (None, Some(self.b.cmp(c, x, y)))
                    }
                    EqOp::Binary(op) => {
                        let (x, y) = (arg(self, 0).0?, arg(self, 1).0?);
                        (Some(binary_on(&mut self.b, op, x, y)?), None)
                    }
                    EqOp::Ternary(TernaryOp::Select) => {
                        let (k, x, y) = (arg(self, 0).1?, arg(self, 1).0?, arg(self, 2).0?);
                        (Some(self.b.select(k, x, y)), None)
                    }
                    EqOp::Ternary(t) => {
                        let (x, y, z) = (arg(self, 0).0?, arg(self, 1).0?, arg(self, 2).0?);
                        let r = if t == TernaryOp::NMulAdd {
                            self.b.fnma(x, y, z)
                        } else {
                            self.b.fma(x, y, z)
                        };
                        (Some(r), None)
                    }
                    _ => return None,
                }
            }
        };
        debug_assert!(self.kinds.len() > i);
        self.memo.insert(i, r);
        Some(r)
    }
}
