//! AVX-512 code generation for micro-op programs, with the 2D loop driver: every row, full
//! 16-lane vectors unrolled by a factor chosen from the program's register needs, the leftover
//! full vectors straight-line, and a masked tail, so any `rows × cols` and any leading
//! dimensions run without scratch copies. Outputs may alias inputs: each vector is loaded
//! before it is stored.

use super::asm::*;
use crate::isa::{Broadcast, CmpOp, DType};
use crate::lower::regalloc::{invariant_def, reads, Assignment, Slot};
use crate::lower::{BinOp, Fold, IntOp, MicroOp, Port, UnOp, K, V};
use iced_x86::code_asm::*;

/// f32 lanes of a zmm register.
pub const LANES: usize = 16;
/// Vector registers kept for the emitter's own temporaries.
const SCRATCH_A: Zmm = Zmm(30);
const SCRATCH_B: Zmm = Zmm(31);
/// Opmask of the tail vector, and the emitter's scratch opmask.
const TAIL: Kreg = Kreg(1);
const KSCRATCH: Kreg = Kreg(7);
/// Opmasks available to the program (k2..k6).
const PROGRAM_KREGS: usize = 5;

pub use crate::lower::spec::{EltwiseSpec, MaskSpec, PortSpec, ProgramExtras};

/// Why a program could not be generated (the backend then declines the descriptor).
#[derive(Debug)]
pub struct Declined(pub String);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<iced_x86::IcedError> for Declined {
    fn from(e: iced_x86::IcedError) -> Self {
        Declined(format!("assembler: {e}"))
    }
}

/// Generates the kernel: `extern "C" fn(*const Args)` reading its pointers at the offsets
/// of the spec.
pub fn generate(spec: &EltwiseSpec) -> Result<Vec<u8>, Declined> {
    Gen::new(spec)?.emit()
}

struct Gen<'a> {
    a: CodeAssembler,
    spec: &'a EltwiseSpec<'a>,
    asg: Assignment,
    /// `V`s that hold a non-NaN constant.
    number_consts: Vec<bool>,
    /// Register of each invariant slot, or the constant-pool label it is loaded from at each
    /// use when the program has more constants than registers.
    invariant_home: Vec<Home>,
    /// Registers the invariants kept in registers take (`zmm0..`).
    kept: usize,
    /// Spilled constants an op reads, loaded into `SPILL` registers for that op.
    spill_override: Vec<(V, Zmm)>,
    /// Bits of each spilled constant, by label, for the pool.
    pool: Vec<(CodeLabel, u32)>,
    unroll: usize,
    ports: Vec<(PortSpec, Loc)>,
    /// Holds the pointer of a port kept on the stack while an op uses it.
    port_tmp: Gpr,
    /// Bytes of stack the kernel reserves for ports kept there.
    stack: usize,
    mask_in: Option<(MaskSpec, Gpr)>,
    mask_out: Option<(MaskSpec, Gpr)>,
    rows: Gpr,
    col: Gpr,
    mask_byte: Gpr,
    pos_row: Gpr,
    tmp: Gpr,
    saved: Vec<Gpr>,
    iota: CodeLabel,
    sign: CodeLabel,
    abs: CodeLabel,
    /// −∞ and +∞ (the max and min identities).
    inf: [CodeLabel; 2],
    /// First register of the row accumulators (`unroll` copies of each).
    acc_base: usize,
    /// First register of the per-iteration temporaries.
    temp_base: usize,
}

/// Where a port's pointer lives: a register, or (when the program has more operands than
/// registers) a stack slot at this offset from `rsp`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Loc {
    Reg(Gpr),
    Stack(i32),
}

/// Where a loop-invariant value lives.
#[derive(Clone, Copy)]
enum Home {
    Reg(u8),
    Pool(usize),
}

/// Vector registers the program may use; `SPILL` holds spilled constants for one op.
const PROGRAM_VREGS: usize = 28;
const SPILL: [Zmm; 2] = [Zmm(28), Zmm(29)];

#[path = "eltwise_access.rs"]
mod access;
#[path = "eltwise_prefetch.rs"]
mod prefetch;
#[path = "eltwise_rows.rs"]
mod rows;

/// Ports whose value is the same along a row (hoisted to the row's start).
fn per_row(spec: &EltwiseSpec, port: Port) -> bool {
    spec.ports
        .iter()
        .any(|p| p.port == port && matches!(p.broadcast, Broadcast::Col | Broadcast::Scalar))
}

impl<'a> Gen<'a> {
    fn new(spec: &'a EltwiseSpec<'a>) -> Result<Self, Declined> {
        let asg = Assignment::of_rows(spec.program, &|p| per_row(spec, p));
        let (inv, temps, ktemps) = (
            asg.invariants as usize,
            asg.temps as usize,
            asg.ktemps as usize,
        );
        let (rowregs, accs) = (asg.per_row as usize, spec.extra.accs.len());
        for (i, op) in spec.program.ops.iter().enumerate() {
            let stored_per_row = matches!(op, MicroOp::Store { port, .. } if per_row(spec, *port));
            if stored_per_row && !asg.row_op[i] {
                return Err(Declined(
                    "a column vector stores a value that varies along the row".into(),
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
                return Err(Declined(
                    "an accumulator needs an f32 column-vector port".into(),
                ));
            }
        }
        let fixed = rowregs + accs;
        let krow = asg.k_per_row as usize;
        if ktemps + krow > PROGRAM_KREGS || temps + fixed > PROGRAM_VREGS {
            return Err(Declined(format!(
                "program needs {temps} vector and {ktemps} mask temporaries"
            )));
        }
        if spec.cols.saturating_mul(8) > i32::MAX as usize / 2 {
            return Err(Declined("rows too wide for 32-bit displacements".into()));
        }
        // Invariants: keep as many in registers as the temporaries leave room for (most used
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
        let room = PROGRAM_VREGS - temps - fixed;
        let mut order: Vec<usize> = (0..inv).collect();
        // Seeds first (they cannot be spilled), then constants by use count.
        order.sort_by_key(|&n| (constant[n], std::cmp::Reverse(uses[n])));
        let mut invariant_home = vec![Home::Pool(0); inv];
        let mut kept = 0;
        let mut spilled = 0;
        for n in order {
            if kept < room {
                invariant_home[n] = Home::Reg(kept as u8);
                kept += 1;
            } else if constant[n] {
                invariant_home[n] = Home::Pool(spilled);
                spilled += 1;
            } else {
                return Err(Declined(format!(
                    "program needs {inv} invariant + {temps} vector registers"
                )));
            }
        }
        // An op can read at most two spilled constants (one per SPILL register).
        for op in &spec.program.ops {
            let spilled_reads = reads(op)
                .0
                .into_iter()
                .flatten()
                .filter(|r| matches!(asg.v[r.0 as usize], Slot::Invariant(n) if matches!(invariant_home[n as usize], Home::Pool(_))))
                .count();
            if spilled_reads > SPILL.len() {
                return Err(Declined("an op reads three spilled constants".into()));
            }
        }
        // Unroll as far as registers allow (at most 4 vectors in flight).
        let by_v = (PROGRAM_VREGS - kept - rowregs)
            .checked_div(temps + accs)
            .unwrap_or(4);
        let by_k = (PROGRAM_KREGS - krow).checked_div(ktemps).unwrap_or(4);
        let unroll = by_v.min(by_k).clamp(1, 4);

        // General-purpose registers: caller-saved first, then callee-saved (pushed).
        let mut pool = SCRATCH.iter().chain(SAVED.iter()).copied();
        let mut saved = Vec::new();
        let mut take = || -> Result<Gpr, Declined> {
            let g = pool
                .next()
                .ok_or_else(|| Declined("out of general-purpose registers".into()))?;
            if SAVED.contains(&g) {
                saved.push(g);
            }
            Ok(g)
        };
        let (rows, col, tmp) = (take()?, take()?, take()?);
        let uses = |f: fn(&MicroOp) -> bool| spec.program.ops.iter().any(f);
        let mask_in = match (
            spec.mask_in,
            uses(|o| matches!(o, MicroOp::LoadMask { .. })),
        ) {
            (Some(m), true) => Some((m, take()?)),
            (None, true) => return Err(Declined("program reads a mask the spec lacks".into())),
            _ => None,
        };
        let mask_out = match (
            spec.mask_out,
            uses(|o| matches!(o, MicroOp::StoreMask { .. })),
        ) {
            (Some(m), true) => Some((m, take()?)),
            (None, true) => return Err(Declined("program writes a mask the spec lacks".into())),
            _ => None,
        };
        let mask_byte = if mask_in.is_some() || mask_out.is_some() {
            take()?
        } else {
            tmp
        };
        let pos_row = if uses(|o| matches!(o, MicroOp::Position { .. })) {
            take()?
        } else {
            tmp
        };
        // Ports take the registers left; with more ports than that, one register is kept to
        // hold a stack-resident port's pointer while an op uses it.
        let left = SCRATCH.len() + SAVED.len()
            - 3
            - usize::from(mask_byte != tmp)
            - usize::from(pos_row != tmp)
            - usize::from(mask_in.is_some())
            - usize::from(mask_out.is_some());
        let in_regs = if spec.ports.len() <= left {
            spec.ports.len()
        } else {
            left - 1
        };
        let mut ports = Vec::new();
        let mut stack = 0usize;
        for (n, p) in spec.ports.iter().enumerate() {
            if n < in_regs {
                ports.push((*p, Loc::Reg(take()?)));
            } else {
                ports.push((*p, Loc::Stack(stack as i32)));
                stack += 8;
            }
        }
        let port_tmp = if stack > 0 { take()? } else { tmp };
        let pool_size = invariant_home
            .iter()
            .filter(|h| matches!(h, Home::Pool(_)))
            .count();
        let mut number_consts = vec![false; spec.program.vregs as usize];
        for op in &spec.program.ops {
            if let MicroOp::Const { dst, value } = *op {
                number_consts[dst.0 as usize] = !value.is_nan();
            }
        }
        let mut a = assembler()?;
        let (iota, sign, abs) = (a.create_label(), a.create_label(), a.create_label());
        let inf = [a.create_label(), a.create_label()];
        let pool = (0..pool_size).map(|_| (a.create_label(), 0)).collect();
        Ok(Gen {
            a,
            spec,
            asg,
            number_consts,
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
            mask_byte,
            pos_row,
            tmp,
            saved,
            iota,
            sign,
            abs,
            inf,
            acc_base: kept + rowregs,
            temp_base: kept + rowregs + unroll * accs,
        })
    }

    fn zmm(&self, v: V, copy: usize) -> Zmm {
        if let Some(&(_, z)) = self.spill_override.iter().find(|o| o.0 == v) {
            return z;
        }
        match self.asg.v[v.0 as usize] {
            Slot::Invariant(n) => match self.invariant_home[n as usize] {
                Home::Reg(r) => Zmm(r),
                Home::Pool(_) => {
                    unreachable!("spilled constants are loaded before the op reads them")
                }
            },
            Slot::Temp(t) => {
                Zmm((self.temp_base + copy * self.asg.temps as usize + t as usize) as u8)
            }
            Slot::PerRow(r) => Zmm((self.kept + r as usize) as u8),
        }
    }

    /// Loads the spilled constants `op` reads into the `SPILL` registers.
    fn load_spilled(&mut self, op: &MicroOp) -> Result<(), Declined> {
        self.spill_override.clear();
        for r in reads(op).0.into_iter().flatten() {
            if let Slot::Invariant(n) = self.asg.v[r.0 as usize] {
                if let Home::Pool(i) = self.invariant_home[n as usize] {
                    if self.spill_override.iter().any(|o| o.0 == r) {
                        continue;
                    }
                    let z = SPILL[self.spill_override.len()];
                    self.a.vbroadcastss(z.z(), dword_ptr(self.pool[i].0))?;
                    self.spill_override.push((r, z));
                }
            }
        }
        Ok(())
    }

    fn kreg(&self, k: K, copy: usize) -> Kreg {
        if let Some(n) = self.asg.k_row[k.0 as usize] {
            return Kreg(2 + n as u8);
        }
        let base = 2 + self.asg.k_per_row as usize;
        Kreg((base + copy * self.asg.ktemps as usize + self.asg.k[k.0 as usize] as usize) as u8)
    }

    /// The port's spec and a register holding its pointer (loaded from the stack first when
    /// it lives there).
    fn port(&mut self, p: Port) -> Result<(PortSpec, Gpr), Declined> {
        let &(spec, loc) = self
            .ports
            .iter()
            .find(|(s, _)| s.port == p)
            .ok_or_else(|| Declined(format!("program uses {p:?}, which the spec lacks")))?;
        Ok((spec, self.reg_of(loc)?))
    }

    fn reg_of(&mut self, loc: Loc) -> Result<Gpr, Declined> {
        Ok(match loc {
            Loc::Reg(g) => g,
            Loc::Stack(off) => {
                self.a.mov(self.port_tmp.q(), qword_ptr(rsp + off))?;
                self.port_tmp
            }
        })
    }

    /// `reg += value`, for any value.
    fn add_imm(&mut self, reg: Gpr, value: usize) -> Result<(), Declined> {
        Ok(add_imm(&mut self.a, reg, value, self.tmp)?)
    }

    fn emit(mut self) -> Result<Vec<u8>, Declined> {
        let spec = self.spec;
        // Prologue: save what we use, load pointers, materialise invariants.
        for g in self.saved.clone() {
            self.a.push(g.q())?;
        }
        if self.stack > 0 {
            self.a.sub(rsp, self.stack as i32)?;
        }
        let table = match spec.extra.ptr_table {
            Some(off) => {
                self.a.mov(self.tmp.q(), qword_ptr(ARG0.q() + off as i32))?;
                self.tmp
            }
            None => ARG0,
        };
        for (p, loc) in self.ports.clone() {
            let src = qword_ptr(table.q() + p.arg_offset as i32);
            match loc {
                Loc::Reg(reg) => self.a.mov(reg.q(), src)?,
                Loc::Stack(off) => {
                    self.a.mov(self.port_tmp.q(), src)?;
                    self.a.mov(qword_ptr(rsp + off), self.port_tmp.q())?;
                }
            }
        }
        for (m, reg) in [self.mask_in, self.mask_out].into_iter().flatten() {
            self.a
                .mov(reg.q(), qword_ptr(ARG0.q() + m.arg_offset as i32))?;
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
            let z = self.zmm(dst, 0).z();
            match *op {
                MicroOp::Const { value, .. } => {
                    self.a.mov(self.tmp.d(), value.to_bits())?;
                    self.a.vpbroadcastd(z, self.tmp.d())?;
                }
                MicroOp::ConstBits { bits, .. } => {
                    self.a.mov(self.tmp.d(), bits)?;
                    self.a.vpbroadcastd(z, self.tmp.d())?;
                }
                MicroOp::Seed { high, .. } => {
                    let off = spec
                        .seed_offset
                        .ok_or_else(|| Declined("program reads a seed the spec lacks".into()))?;
                    self.a
                        .vpbroadcastd(z, dword_ptr(ARG0.q() + (off + 4 * high as usize) as i32))?;
                }
                _ => unreachable!("invariant_def covers only constants and seeds"),
            }
        }
        let rem = spec.cols % LANES;
        if rem != 0 {
            self.a.mov(self.tmp.d(), (1u32 << rem) - 1)?;
            self.a.kmovw(TAIL.k(), self.tmp.d())?;
        }
        let mut done = self.a.create_label();
        match spec.extra.rows_offset {
            Some(off) => {
                self.a
                    .mov(self.rows.q(), qword_ptr(ARG0.q() + off as i32))?;
                self.a.test(self.rows.q(), self.rows.q())?;
                self.a.jz(done)?;
            }
            None => self.a.mov(self.rows.q(), spec.rows as u64)?,
        }
        if self.pos_row != self.tmp {
            match spec.extra.position_offset {
                Some(off) => self
                    .a
                    .mov(self.pos_row.q(), qword_ptr(ARG0.q() + off as i32))?,
                None => self.a.xor(self.pos_row.d(), self.pos_row.d())?,
            }
        }

        // Rows.
        let mut row_top = self.a.create_label();
        self.a.set_label(&mut row_top)?;
        self.a.xor(self.col.d(), self.col.d())?;
        if self.mask_byte != self.tmp {
            self.a.xor(self.mask_byte.d(), self.mask_byte.d())?;
        }
        self.row_start()?;
        let full = spec.cols / LANES;
        let iters = full / self.unroll;
        if iters > 0 {
            let mut col_top = self.a.create_label();
            self.a.set_label(&mut col_top)?;
            self.steps(self.unroll, 0)?;
            self.add_imm(self.col, self.unroll * LANES)?;
            if self.mask_byte != self.tmp {
                self.add_imm(self.mask_byte, self.unroll * LANES / 8)?;
            }
            self.a
                .cmp(self.col.q(), (iters * self.unroll * LANES) as i32)?;
            self.a.jb(col_top)?;
        }
        self.steps(full % self.unroll, 0)?;
        if rem != 0 {
            self.step(0, (full % self.unroll) * LANES, Some(rem))?;
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
                Loc::Reg(reg) => self.add_imm(reg, step)?,
                Loc::Stack(off) if step > 0 => {
                    self.a.mov(self.tmp.q(), step as u64)?;
                    self.a.add(qword_ptr(rsp + off), self.tmp.q())?;
                }
                Loc::Stack(_) => {}
            }
        }
        for (m, reg) in [self.mask_in, self.mask_out].into_iter().flatten() {
            self.add_imm(reg, m.ld_bits / 8)?;
        }
        if self.pos_row != self.tmp {
            self.add_imm(self.pos_row, spec.cols)?;
        }
        self.a.dec(self.rows.q())?;
        self.a.jnz(row_top)?;

        // Epilogue and constant pool.
        self.a.set_label(&mut done)?;
        if self.stack > 0 {
            self.a.add(rsp, self.stack as i32)?;
        }
        if !spec.extra.stream.is_empty() {
            // Non-temporal stores are weakly ordered: fence them before returning.
            self.a.sfence()?;
        }
        self.a.vzeroupper()?;
        for g in self.saved.clone().into_iter().rev() {
            self.a.pop(g.q())?;
        }
        self.a.ret()?;
        let mut iota = self.iota;
        self.a.set_label(&mut iota)?;
        self.a.dd(&(0..LANES as u32).collect::<Vec<_>>())?;
        let mut sign = self.sign;
        self.a.set_label(&mut sign)?;
        self.a.dd(&[0x8000_0000])?;
        let mut abs = self.abs;
        self.a.set_label(&mut abs)?;
        self.a.dd(&[0x7fff_ffff])?;
        for (mut label, v) in self.inf.into_iter().zip([f32::NEG_INFINITY, f32::INFINITY]) {
            self.a.set_label(&mut label)?;
            self.a.dd(&[v.to_bits()])?;
        }
        for (mut label, bits) in self.pool.clone() {
            self.a.set_label(&mut label)?;
            self.a.dd(&[bits])?;
        }
        Ok(assemble(&mut self.a)?)
    }

    /// `copies` full vectors of the program, copy `u` on lanes `col + e + u·16 ..`, their ops
    /// interleaved (op by op, copy by copy) so that the independent chains of the copies lie
    /// next to each other in program order: a long chain (a transcendental is ~40 dependent
    /// ops) then fills the out-of-order scheduler with ready work instead of waiting on one
    /// chain's latency.
    fn steps(&mut self, copies: usize, e: usize) -> Result<(), Declined> {
        let spec = self.spec;
        for u in 0..copies {
            self.prefetch(e + u * LANES)?;
        }
        for (i, op) in spec.program.ops.iter().enumerate() {
            if invariant_def(op).is_some() || self.asg.row_op[i] {
                continue;
            }
            for u in 0..copies {
                self.op(op, u, e + u * LANES, None, None)?;
            }
        }
        Ok(())
    }

    /// One vector of the program: lanes `col + e ..`, unrolled copy `copy`; `tail` is the
    /// number of active lanes of a partial vector.
    fn step(&mut self, copy: usize, e: usize, tail: Option<usize>) -> Result<(), Declined> {
        let k = tail.map(|_| TAIL);
        let spec = self.spec;
        if tail.is_none() {
            self.prefetch(e)?;
        }
        for (i, op) in spec.program.ops.iter().enumerate() {
            if invariant_def(op).is_some() || self.asg.row_op[i] {
                continue;
            }
            self.op(op, copy, e, tail, k)?;
        }
        Ok(())
    }

    /// One op of one vector (see [`Gen::step`]).
    fn op(
        &mut self,
        op: &MicroOp,
        copy: usize,
        e: usize,
        tail: Option<usize>,
        k: Option<Kreg>,
    ) -> Result<(), Declined> {
        {
            self.load_spilled(op)?;
            match *op {
                MicroOp::Load { dst, port } => self.load(self.zmm(dst, copy), port, e, k)?,
                MicroOp::Store { src, port } => self.store(self.zmm(src, copy), port, e, k)?,
                MicroOp::LoadMask { dst } => {
                    let (_, reg) = self.mask_in.expect("checked in new");
                    let m = ptr(reg.q() + self.mask_byte.q() + (e / 8) as i32);
                    let kd = self.kreg(dst, copy).k();
                    if tail.is_some_and(|t| t <= 8) {
                        self.a.kmovb(kd, byte_ptr(m))?;
                    } else {
                        self.a.kmovw(kd, word_ptr(m))?;
                    }
                }
                MicroOp::StoreMask { src } => {
                    let (_, reg) = self.mask_out.expect("checked in new");
                    let m = ptr(reg.q() + self.mask_byte.q() + (e / 8) as i32);
                    let mut ks = self.kreg(src, copy).k();
                    if tail.is_some() {
                        // Bits of inactive lanes are written as 0.
                        self.a.kandw(KSCRATCH.k(), ks, TAIL.k())?;
                        ks = KSCRATCH.k();
                    }
                    if tail.is_some_and(|t| t <= 8) {
                        self.a.kmovb(byte_ptr(m), ks)?;
                    } else {
                        self.a.kmovw(word_ptr(m), ks)?;
                    }
                }
                MicroOp::Un { dst, op, a } => {
                    let (d, x) = (self.zmm(dst, copy).z(), self.zmm(a, copy).z());
                    match op {
                        UnOp::Neg => self.a.vpxord(d, x, dword_bcst(self.sign))?,
                        UnOp::Abs => self.a.vpandd(d, x, dword_bcst(self.abs))?,
                        UnOp::Sqrt => self.a.vsqrtps(d, x)?,
                    }
                }
                MicroOp::Bin {
                    dst,
                    op: op @ (BinOp::Max | BinOp::Min),
                    a,
                    b,
                } if self.number_consts[a.0 as usize] || self.number_consts[b.0 as usize] => {
                    // Against a constant that is not NaN one instruction propagates NaN: x86
                    // returns the second operand when either is NaN, so put the constant first.
                    let (c, x) = if self.number_consts[a.0 as usize] {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    let (d, c, x) = (
                        self.zmm(dst, copy).z(),
                        self.zmm(c, copy).z(),
                        self.zmm(x, copy).z(),
                    );
                    if op == BinOp::Max {
                        self.a.vmaxps(d, c, x)?;
                    } else {
                        self.a.vminps(d, c, x)?;
                    }
                }
                MicroOp::Bin { dst, op, a, b } => self.bin(
                    op,
                    self.zmm(dst, copy),
                    self.zmm(a, copy),
                    self.zmm(b, copy),
                )?,
                MicroOp::Fma {
                    dst,
                    a,
                    b,
                    c,
                    negate,
                } => self.fma(
                    self.zmm(dst, copy),
                    self.zmm(a, copy),
                    self.zmm(b, copy),
                    self.zmm(c, copy),
                    negate,
                )?,
                MicroOp::Cmp { dst, op, a, b } => {
                    // Ordered, quiet predicates; `Ne` is unordered so NaN != x holds.
                    let imm = match op {
                        CmpOp::Eq => 0x00,
                        CmpOp::Lt => 0x11,
                        CmpOp::Le => 0x12,
                        CmpOp::Ne => 0x04,
                        CmpOp::Ge => 0x1d,
                        CmpOp::Gt => 0x1e,
                    };
                    let (x, y) = (self.zmm(a, copy).z(), self.zmm(b, copy).z());
                    self.a.vcmpps(self.kreg(dst, copy).k(), x, y, imm)?;
                }
                MicroOp::Select { dst, k: c, a, b } => {
                    let d = self.zmm(dst, copy).masked(Some(self.kreg(c, copy)), false);
                    let (x, y) = (self.zmm(a, copy).z(), self.zmm(b, copy).z());
                    self.a.vblendmps(d, y, x)?;
                }
                MicroOp::Position { dst } => {
                    let d = self.zmm(dst, copy).z();
                    self.a.lea(
                        self.tmp.q(),
                        ptr(self.pos_row.q() + self.col.q() + e as i32),
                    )?;
                    self.a.vpbroadcastd(d, self.tmp.d())?;
                    self.a.vpaddd(d, d, zmmword_ptr(self.iota))?;
                }
                MicroOp::Int { dst, op, a, b } => {
                    let (d, x, y) = (
                        self.zmm(dst, copy).z(),
                        self.zmm(a, copy).z(),
                        self.zmm(b, copy).z(),
                    );
                    match op {
                        IntOp::Mul => self.a.vpmulld(d, x, y)?,
                        IntOp::Xor => self.a.vpxord(d, x, y)?,
                    }
                }
                MicroOp::ShrImm { dst, a, shift } => {
                    self.a
                        .vpsrld(self.zmm(dst, copy).z(), self.zmm(a, copy).z(), shift as u32)?
                }
                MicroOp::UGe { dst, a, b } => {
                    let (x, y) = (self.zmm(a, copy).z(), self.zmm(b, copy).z());
                    self.a.vpcmpud(self.kreg(dst, copy).k(), x, y, 5)?;
                }
                MicroOp::Accumulate { src, acc } => {
                    let (fold, _) = self.spec.extra.accs[acc as usize];
                    let (a, x) = (self.acc(acc, copy), self.zmm(src, copy));
                    match (fold, k) {
                        (Fold::Sum, _) => self.a.vaddps(a.masked(k, false), a.z(), x.z())?,
                        (_, None) => self.fold(fold, a, a, x)?,
                        (_, Some(k)) => {
                            self.fold(fold, SCRATCH_B, a, x)?;
                            self.a.vmovaps(a.masked(Some(k), false), SCRATCH_B.z())?;
                        }
                    }
                }
                MicroOp::Const { .. } | MicroOp::ConstBits { .. } | MicroOp::Seed { .. } => {
                    unreachable!("invariants are emitted in the prologue")
                }
            }
        }
        Ok(())
    }

    fn bin(&mut self, op: BinOp, d: Zmm, x: Zmm, y: Zmm) -> Result<(), Declined> {
        let (dz, xz, yz) = (d.z(), x.z(), y.z());
        match op {
            BinOp::Add => self.a.vaddps(dz, xz, yz)?,
            BinOp::Sub => self.a.vsubps(dz, xz, yz)?,
            BinOp::Mul => self.a.vmulps(dz, xz, yz)?,
            BinOp::Div => self.a.vdivps(dz, xz, yz)?,
            BinOp::Max | BinOp::Min => {
                max_min_nan(&mut self.a, d, x, y, op == BinOp::Max, KSCRATCH)?
            }
            BinOp::Scalef => self.a.vscalefps(dz, xz, yz)?,
            BinOp::CopySign => {
                self.a.vpandd(SCRATCH_A.z(), xz, dword_bcst(self.abs))?;
                self.a.vpandd(SCRATCH_B.z(), yz, dword_bcst(self.sign))?;
                self.a.vpord(dz, SCRATCH_A.z(), SCRATCH_B.z())?;
            }
        }
        Ok(())
    }

    /// `d = a·b + c` (or `c − a·b`), whatever registers coincide.
    fn fma(&mut self, d: Zmm, a: Zmm, b: Zmm, c: Zmm, negate: bool) -> Result<(), Declined> {
        let (dz, az, bz, cz) = (d.z(), a.z(), b.z(), c.z());
        if d == c {
            if negate {
                self.a.vfnmadd231ps(dz, az, bz)?
            } else {
                self.a.vfmadd231ps(dz, az, bz)?
            }
        } else if d == a {
            if negate {
                self.a.vfnmadd213ps(dz, bz, cz)?
            } else {
                self.a.vfmadd213ps(dz, bz, cz)?
            }
        } else if d == b {
            if negate {
                self.a.vfnmadd213ps(dz, az, cz)?
            } else {
                self.a.vfmadd213ps(dz, az, cz)?
            }
        } else {
            self.a.vmovaps(dz, cz)?;
            if negate {
                self.a.vfnmadd231ps(dz, az, bz)?
            } else {
                self.a.vfmadd231ps(dz, az, bz)?
            }
        }
        Ok(())
    }
}
