//! NEON code generation for micro-op programs (4 f32 lanes per vector), with the 2D loop
//! driver: every row, full vectors unrolled by a factor chosen from the program's register
//! needs, the leftover full vectors straight-line, and a partial tail of 1–3 lanes (loaded and
//! stored element-exactly, so nothing past a row is touched). Outputs may alias inputs: each
//! vector is loaded before it is stored.
//!
//! Registers: `v0..v25` hold the program (loop invariants first, then the values kept for a
//! whole row, then the row accumulators' copies, then each unrolled copy's temporaries,
//! predicates included: NEON has no predicate registers, a `K` is a vector of all-ones /
//! all-zeros lanes), `v26`/`v27` hold spilled constants for one op, `v28..v31` are the
//! emitter's scratch. The specification types are the backend-neutral ones the AVX-512
//! generator uses.
//!
//! Program kernels (equation passes) add a table of port pointers (ports beyond the free
//! general-purpose registers keep their row pointer on the stack), a run-time row count (0
//! allowed) and position base, per-row hoisting of what is constant along a row
//! ([`Assignment::of_rows`]), and row accumulators (see `eltwise_rows.rs`). Each micro-op's
//! instructions and the operand accesses of one vector are in `eltwise_ops.rs`.

use super::asm::*;
use super::convert::Bf16Round;
#[path = "eltwise_ops.rs"]
mod ops;
#[path = "eltwise_rows.rs"]
mod rows;
use crate::isa::{Broadcast, DType};
use crate::lower::regalloc::{invariant_def, reads, Assignment, Slot};
use crate::lower::{MicroOp, Port, K, V as VirtV};
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

pub use crate::kernels_x86::eltwise::{Declined, EltwiseSpec, MaskSpec, PortSpec, ProgramExtras};

/// f32 lanes of a q register.
pub const LANES: usize = 4;
/// Vector registers the program may use: its temporaries, predicates, per-row values and
/// row accumulators must fit (the equation lowering plans passes within this), invariants
/// take what is left and constants beyond that are reloaded from a pool.
pub const PROGRAM_VREGS: usize = 26;
/// Registers for the spilled constants one op reads.
const SPILL: [V; 2] = [V(26), V(27)];
/// The emitter's scratch registers.
const S: [V; 4] = [V(28), V(29), V(30), V(31)];

/// What the target CPU offers beyond base NEON that eltwise code may use.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// FEAT_BF16: narrow to bf16 with `bfcvtn`.
    pub bf16: bool,
}

impl Features {
    /// How stores narrow to bf16 with these features.
    pub fn bf16_round(self) -> Bf16Round {
        if self.bf16 {
            Bf16Round::Instruction
        } else {
            Bf16Round::Integer
        }
    }
}

/// Generates the kernel: `extern "C" fn(*const Args)` reading its pointers at the offsets of
/// the spec.
pub fn generate(spec: &EltwiseSpec, features: Features) -> Result<Vec<u8>, Declined> {
    let mut g = Gen::new(spec, features)?;
    g.emit()?;
    g.a.finalize()
        .map_err(|e| Declined(format!("assembler: {e:?}")))
}

/// Where a port's pointers live: its row pointer, and the column cursor of ports read along a
/// row, in registers; or (when the program has more operands than registers) its row pointer
/// in a stack slot at this offset from `sp`, its elements addressed from the column counter.
#[derive(Clone, Copy)]
enum Loc {
    Reg { row: X, cursor: Option<X> },
    Stack(u32),
}

/// Where a loop-invariant value lives.
#[derive(Clone, Copy)]
enum Home {
    Reg(u8),
    Pool(usize),
}

struct Gen<'a> {
    a: Ops,
    spec: &'a EltwiseSpec<'a>,
    bf16: Bf16Round,
    asg: Assignment,
    invariant_home: Vec<Home>,
    kept: usize,
    spill_override: Vec<(VirtV, V)>,
    pool: Vec<(DynamicLabel, u32)>,
    unroll: usize,
    ports: Vec<(PortSpec, Loc)>,
    /// Holds a stack-resident port's pointer while an op uses it.
    port_tmp: X,
    /// Bytes of stack reserved for the ports kept there (a multiple of 16).
    stack: u32,
    mask_in: Option<(MaskSpec, X)>,
    mask_out: Option<(MaskSpec, X)>,
    rows: X,
    col: X,
    pos_row: X,
    tmp: [X; 3],
    frame: Frame,
    iota: DynamicLabel,
    lane_bits: DynamicLabel,
    /// First register of the row accumulators (`unroll` copies of each).
    acc_base: usize,
    /// First register of the unrolled copies' temporaries.
    temp_base: usize,
}

/// Ports whose value is the same along a row (hoisted to the row's start).
fn per_row(spec: &EltwiseSpec, port: Port) -> bool {
    spec.ports
        .iter()
        .any(|p| p.port == port && matches!(p.broadcast, Broadcast::Col | Broadcast::Scalar))
}

fn err(what: &str) -> Declined {
    Declined(what.to_string())
}

impl<'a> Gen<'a> {
    fn new(spec: &'a EltwiseSpec<'a>, features: Features) -> Result<Self, Declined> {
        // A fixed space runs its row loop at least once; a program kernel's run-time row
        // count may be 0, and its space may have no columns (a pass over rows only).
        let run_time_rows = spec.extra.rows_offset.is_some();
        if !run_time_rows && (spec.rows == 0 || spec.cols == 0) {
            return Err(err("an empty space (the row loop runs at least once)"));
        }
        let asg = Assignment::of_rows(spec.program, &|p| per_row(spec, p));
        let (inv, temps, ktemps) = (
            asg.invariants as usize,
            asg.temps as usize,
            asg.ktemps as usize,
        );
        let accs = spec.extra.accs.len();
        for (i, op) in spec.program.ops.iter().enumerate() {
            let stored_per_row = matches!(op, MicroOp::Store { port, .. } if per_row(spec, *port));
            if stored_per_row && !asg.row_op[i] {
                return Err(err(
                    "a column vector stores a value that varies along the row",
                ));
            }
            if let MicroOp::Accumulate { acc, .. } = *op {
                if acc as usize >= accs {
                    return Err(Declined(format!("accumulator {acc} is not declared")));
                }
            }
        }
        for &(_, port) in &spec.extra.accs {
            let ok = spec
                .ports
                .iter()
                .any(|p| p.port == port && p.dtype == DType::F32 && p.broadcast == Broadcast::Col);
            if !ok {
                return Err(err("an accumulator needs an f32 column-vector port"));
            }
        }
        // Per-row values and predicates keep a register for the whole row (predicates are
        // vectors here); each unrolled copy has its accumulators and temporaries.
        let row_regs = asg.per_row as usize + asg.k_per_row as usize;
        let per_copy = temps + ktemps;
        if per_copy + row_regs + accs > PROGRAM_VREGS {
            return Err(Declined(format!(
                "program needs {temps} vector, {ktemps} predicate, {row_regs} per-row and \
                 {accs} accumulator registers"
            )));
        }
        // Invariants: keep as many in registers as the rest leaves room for (most used
        // first); load the other constants from a pool at each use.
        let mut uses = vec![0usize; inv];
        let mut constant = vec![false; inv];
        for op in &spec.program.ops {
            if let (Some(dst), MicroOp::Const { .. } | MicroOp::ConstBits { .. }) =
                (invariant_def(op), op)
            {
                if let Slot::Invariant(n) = asg.v[dst.0 as usize] {
                    constant[n as usize] = true;
                }
            }
            for r in reads(op).0.into_iter().flatten() {
                if let Slot::Invariant(n) = asg.v[r.0 as usize] {
                    uses[n as usize] += 1;
                }
            }
        }
        let room = PROGRAM_VREGS - per_copy - row_regs - accs;
        let mut order: Vec<usize> = (0..inv).collect();
        order.sort_by_key(|&n| (constant[n], std::cmp::Reverse(uses[n])));
        let mut invariant_home = vec![Home::Pool(0); inv];
        let (mut kept, mut spilled) = (0, 0);
        let mut a = assembler();
        let mut pool = Vec::new();
        for n in order {
            if kept < room {
                invariant_home[n] = Home::Reg(kept as u8);
                kept += 1;
            } else if constant[n] {
                invariant_home[n] = Home::Pool(spilled);
                pool.push((a.new_dynamic_label(), 0));
                spilled += 1;
            } else {
                return Err(Declined(format!(
                    "program needs {inv} invariant + {per_copy} vector registers"
                )));
            }
        }
        for op in &spec.program.ops {
            let spilled_reads = reads(op)
                .0
                .into_iter()
                .flatten()
                .filter(|r| {
                    matches!(asg.v[r.0 as usize], Slot::Invariant(n)
                        if matches!(invariant_home[n as usize], Home::Pool(_)))
                })
                .count();
            if spilled_reads > SPILL.len() {
                return Err(err("an op reads three spilled constants"));
            }
        }
        let unroll = (PROGRAM_VREGS - kept - row_regs)
            .checked_div(per_copy + accs)
            .unwrap_or(4)
            .clamp(1, 4);

        let mut gprs = GprPool::default();
        let mut take = || {
            gprs.take()
                .ok_or_else(|| err("out of general-purpose registers"))
        };
        let (rows, col, pos_row) = (take()?, take()?, take()?);
        let tmp = [take()?, take()?, take()?];
        let used = |f: fn(&MicroOp) -> bool| spec.program.ops.iter().any(f);
        let mask_in = match (
            spec.mask_in,
            used(|o| matches!(o, MicroOp::LoadMask { .. })),
        ) {
            (Some(m), true) => Some((m, take()?)),
            (None, true) => return Err(err("program reads a mask the spec lacks")),
            _ => None,
        };
        let mask_out = match (
            spec.mask_out,
            used(|o| matches!(o, MicroOp::StoreMask { .. })),
        ) {
            (Some(m), true) => Some((m, take()?)),
            (None, true) => return Err(err("program writes a mask the spec lacks")),
            _ => None,
        };
        for (m, _) in [mask_in, mask_out].into_iter().flatten() {
            if !m.ld_bits.is_multiple_of(8) {
                return Err(err("mask rows must start on a byte"));
            }
        }
        // Ports take the registers left (a row pointer, and a cursor for those read along
        // the row); with more ports than that, one register is kept to hold a stack-resident
        // port's pointer while an op uses it.
        let need = |p: &PortSpec| match p.broadcast {
            Broadcast::None | Broadcast::Row => 2,
            Broadcast::Col | Broadcast::Scalar => 1,
        };
        let mut left = SCRATCH.len() + SAVED.len()
            - 6
            - usize::from(mask_in.is_some())
            - usize::from(mask_out.is_some());
        if spec.ports.iter().map(need).sum::<usize>() > left {
            left -= 1;
        }
        let mut ports = Vec::new();
        let mut stack = 0u32;
        for p in &spec.ports {
            if need(p) <= left {
                left -= need(p);
                let row = take()?;
                let cursor = match need(p) {
                    2 => Some(take()?),
                    _ => None,
                };
                ports.push((*p, Loc::Reg { row, cursor }));
            } else {
                ports.push((*p, Loc::Stack(stack)));
                stack += 8;
            }
        }
        let port_tmp = if stack > 0 { take()? } else { tmp[0] };
        let stack = stack.next_multiple_of(16);
        if stack > 4095 {
            return Err(err("too many ports for the stack frame"));
        }
        let frame = Frame {
            gprs: gprs.saved.clone(),
            vectors: true,
        };
        let (iota, lane_bits) = (a.new_dynamic_label(), a.new_dynamic_label());
        let acc_base = kept + row_regs;
        Ok(Gen {
            a,
            spec,
            bf16: features.bf16_round(),
            asg,
            invariant_home,
            kept,
            spill_override: Vec::new(),
            pool,
            unroll,
            ports,
            port_tmp,
            stack,
            mask_in,
            mask_out,
            rows,
            col,
            pos_row,
            tmp,
            frame,
            iota,
            lane_bits,
            acc_base,
            temp_base: acc_base + unroll * accs,
        })
    }

    /// The register of `v` in unrolled copy `copy`.
    fn vreg(&self, v: VirtV, copy: usize) -> V {
        if let Some(&(_, r)) = self.spill_override.iter().find(|(s, _)| *s == v) {
            return r;
        }
        let per_copy = (self.asg.temps + self.asg.ktemps) as usize;
        match self.asg.v[v.0 as usize] {
            Slot::Invariant(n) => match self.invariant_home[n as usize] {
                Home::Reg(r) => V(r),
                Home::Pool(_) => unreachable!("spilled constants are loaded into SPILL first"),
            },
            Slot::Temp(n) => V((self.temp_base + copy * per_copy + n as usize) as u8),
            Slot::PerRow(n) => V((self.kept + n as usize) as u8),
        }
    }

    fn kreg(&self, k: K, copy: usize) -> V {
        if let Some(n) = self.asg.k_row[k.0 as usize] {
            return V((self.kept + self.asg.per_row as usize + n as usize) as u8);
        }
        let per_copy = (self.asg.temps + self.asg.ktemps) as usize;
        let n = self.asg.temps as usize + self.asg.k[k.0 as usize] as usize;
        V((self.temp_base + copy * per_copy + n) as u8)
    }

    /// Register of copy `copy` of row accumulator `n`.
    fn acc(&self, n: u16, copy: usize) -> V {
        V((self.acc_base + copy * self.spec.extra.accs.len() + n as usize) as u8)
    }

    /// The port's spec and where its pointers live.
    fn port_loc(&self, p: Port) -> Result<(PortSpec, Loc), Declined> {
        self.ports
            .iter()
            .find(|(s, _)| s.port == p)
            .copied()
            .ok_or_else(|| Declined(format!("program uses {p:?}, which the spec lacks")))
    }

    /// The port's spec and a register holding the address of its current element (the
    /// column cursor, or the element itself for a broadcast port); elements `e` further are
    /// `e * size` bytes on. A stack-resident port's address is computed in `port_tmp`.
    fn port(&mut self, p: Port) -> Result<(PortSpec, X), Declined> {
        let (spec, loc) = self.port_loc(p)?;
        let reg = match loc {
            Loc::Reg { row, cursor } => cursor.unwrap_or(row),
            Loc::Stack(off) => {
                let (t, col) = (self.port_tmp.0, self.col.0);
                dynasm!(self.a ; .arch aarch64 ; ldr X(t), [sp, #off]);
                if matches!(spec.broadcast, Broadcast::None | Broadcast::Row) {
                    match spec.dtype.size() {
                        2 => dynasm!(self.a ; .arch aarch64 ; add X(t), X(t), X(col), lsl #1),
                        4 => dynasm!(self.a ; .arch aarch64 ; add X(t), X(t), X(col), lsl #2),
                        _ => return Err(err("ports are 2- or 4-byte dtypes")),
                    }
                }
                self.port_tmp
            }
        };
        Ok((spec, reg))
    }

    /// Loads the spilled constants `op` reads into the SPILL registers.
    fn load_spilled(&mut self, op: &MicroOp) {
        self.spill_override.clear();
        let mut next = 0;
        for r in reads(op).0.into_iter().flatten() {
            if let Slot::Invariant(n) = self.asg.v[r.0 as usize] {
                if let Home::Pool(i) = self.invariant_home[n as usize] {
                    if self.spill_override.iter().any(|(s, _)| *s == r) {
                        continue;
                    }
                    let (label, reg) = (self.pool[i].0, SPILL[next]);
                    dynasm!(self.a ; .arch aarch64 ; ldr Q(reg.0), =>label);
                    self.spill_override.push((r, reg));
                    next += 1;
                }
            }
        }
    }

    fn emit(&mut self) -> Result<(), Declined> {
        let spec = self.spec;
        let t0 = self.tmp[0];
        self.frame.prologue(&mut self.a);
        if self.stack > 0 {
            let s = self.stack;
            dynasm!(self.a ; .arch aarch64 ; sub sp, sp, #s);
        }
        let table = match spec.extra.ptr_table {
            Some(off) => {
                let (t, off) = (self.tmp[1], off as u32);
                dynasm!(self.a ; .arch aarch64 ; ldr X(t.0), [X(ARG0.0), #off]);
                t
            }
            None => ARG0,
        };
        for (p, loc) in self.ports.clone() {
            let off = p.arg_offset as u32;
            match loc {
                Loc::Reg { row, .. } => {
                    dynasm!(self.a ; .arch aarch64 ; ldr X(row.0), [X(table.0), #off])
                }
                Loc::Stack(slot) => dynasm!(self.a ; .arch aarch64
                    ; ldr X(t0.0), [X(table.0), #off]
                    ; str X(t0.0), [sp, #slot]),
            }
        }
        for (m, reg) in [self.mask_in, self.mask_out].into_iter().flatten() {
            let off = m.arg_offset as u32;
            dynasm!(self.a ; .arch aarch64 ; ldr X(reg.0), [X(ARG0.0), #off]);
        }
        for op in &spec.program.ops {
            let Some(dst) = invariant_def(op) else {
                continue;
            };
            let Slot::Invariant(n) = self.asg.v[dst.0 as usize] else {
                unreachable!("invariant_def values have invariant slots")
            };
            if let Home::Pool(i) = self.invariant_home[n as usize] {
                self.pool[i].1 = match *op {
                    MicroOp::Const { value, .. } => value.to_bits(),
                    MicroOp::ConstBits { bits, .. } => bits,
                    _ => unreachable!("only constants are spilled"),
                };
                continue;
            }
            let d = self.vreg(dst, 0);
            match *op {
                MicroOp::Const { value, .. } => dup_imm32(&mut self.a, d, value.to_bits(), t0),
                MicroOp::ConstBits { bits, .. } => dup_imm32(&mut self.a, d, bits, t0),
                MicroOp::Seed { high, .. } => {
                    let off = spec
                        .seed_offset
                        .ok_or_else(|| err("program reads a seed the spec lacks"))?;
                    add_imm(&mut self.a, t0, ARG0, off + 4 * high as usize, t0);
                    dynasm!(self.a ; .arch aarch64 ; ld1r {V(d.0).S4 * 1}, [X(t0.0)]);
                }
                _ => unreachable!("invariant_def covers only constants and seeds"),
            }
        }
        let done = self.a.new_dynamic_label();
        let (rows, pos_row) = (self.rows.0, self.pos_row.0);
        match spec.extra.rows_offset {
            Some(off) => {
                let off = off as u32;
                dynasm!(self.a ; .arch aarch64
                    ; ldr X(rows), [X(ARG0.0), #off]
                    ; cbz X(rows), =>done);
            }
            None => mov_imm(&mut self.a, self.rows, spec.rows as u64),
        }
        match spec.extra.position_offset {
            Some(off) => {
                let off = off as u32;
                dynasm!(self.a ; .arch aarch64 ; ldr X(pos_row), [X(ARG0.0), #off]);
            }
            None => dynasm!(self.a ; .arch aarch64 ; movz X(pos_row), #0),
        }

        // Rows.
        let row_top = self.a.new_dynamic_label();
        dynasm!(self.a ; .arch aarch64 ; =>row_top ; movz X(self.col.0), #0);
        for (_, loc) in &self.ports {
            if let Loc::Reg {
                row,
                cursor: Some(c),
            } = *loc
            {
                dynasm!(self.a ; .arch aarch64 ; mov X(c.0), X(row.0));
            }
        }
        self.row_start()?;
        let full = spec.cols / LANES;
        let iters = full / self.unroll;
        if iters > 0 {
            let col_top = self.a.new_dynamic_label();
            dynasm!(self.a ; .arch aarch64 ; =>col_top);
            for u in 0..self.unroll {
                self.step(u, u * LANES, LANES)?;
            }
            self.advance_cursors(self.unroll * LANES);
            let (col, limit) = (self.col, iters * self.unroll * LANES);
            add_imm(&mut self.a, col, col, self.unroll * LANES, t0);
            mov_imm(&mut self.a, t0, limit as u64);
            dynasm!(self.a ; .arch aarch64
                ; cmp X(col.0), X(t0.0)
                ; b.lo =>col_top);
        }
        let left = full % self.unroll;
        for v in 0..left {
            self.step(v, v * LANES, LANES)?;
        }
        let rem = spec.cols % LANES;
        if rem != 0 {
            self.step(0, left * LANES, rem)?;
        }
        self.row_end()?;
        // Next row.
        for (p, loc) in self.ports.clone() {
            let step = match p.broadcast {
                Broadcast::None => p.ld * p.dtype.size(),
                Broadcast::Col => p.dtype.size(),
                Broadcast::Row | Broadcast::Scalar => 0,
            };
            match loc {
                Loc::Reg { row, .. } => add_imm(&mut self.a, row, row, step, t0),
                Loc::Stack(slot) if step > 0 => {
                    let t1 = self.tmp[1];
                    dynasm!(self.a ; .arch aarch64 ; ldr X(t1.0), [sp, #slot]);
                    add_imm(&mut self.a, t1, t1, step, t0);
                    dynasm!(self.a ; .arch aarch64 ; str X(t1.0), [sp, #slot]);
                }
                Loc::Stack(_) => {}
            }
        }
        for (m, reg) in [self.mask_in, self.mask_out].into_iter().flatten() {
            add_imm(&mut self.a, reg, reg, m.ld_bits / 8, t0);
        }
        add_imm(&mut self.a, self.pos_row, self.pos_row, spec.cols, t0);
        dynasm!(self.a ; .arch aarch64
            ; subs X(rows), XSP(rows), #1
            ; b.ne =>row_top
            ; =>done);
        if self.stack > 0 {
            let s = self.stack;
            dynasm!(self.a ; .arch aarch64 ; add sp, sp, #s);
        }
        if !spec.extra.stream.is_empty() {
            // Order the non-temporal stores before the caller reads the output.
            dynasm!(self.a ; .arch aarch64 ; dmb ish);
        }
        self.frame.epilogue(&mut self.a);

        // Constant pool: 16-byte vectors for `ldr q` (literal loads need no alignment, but
        // aligned ones never straddle a cache line).
        let (iota, lane_bits) = (self.iota, self.lane_bits);
        dynasm!(self.a ; .arch aarch64
            ; .align 16
            ; =>iota ; .u32 0 ; .u32 1 ; .u32 2 ; .u32 3
            ; =>lane_bits ; .u32 1 ; .u32 2 ; .u32 4 ; .u32 8);
        for (label, bits) in self.pool.clone() {
            dynasm!(self.a ; .arch aarch64
                ; =>label ; .u32 bits ; .u32 bits ; .u32 bits ; .u32 bits);
        }
        Ok(())
    }

    fn advance_cursors(&mut self, elems: usize) {
        for (p, loc) in self.ports.clone() {
            if let Loc::Reg {
                cursor: Some(c), ..
            } = loc
            {
                add_imm(&mut self.a, c, c, elems * p.dtype.size(), self.tmp[0]);
            }
        }
    }

    /// One vector of the program: lanes `col + e ..` (`lanes` of them active), unrolled copy
    /// `copy` (the ops a row's start runs are skipped).
    fn step(&mut self, copy: usize, e: usize, lanes: usize) -> Result<(), Declined> {
        let spec = self.spec;
        for (i, op) in spec.program.ops.iter().enumerate() {
            if invariant_def(op).is_some() || self.asg.row_op[i] {
                continue;
            }
            self.op(op, copy, e, lanes)?;
        }
        Ok(())
    }
}
