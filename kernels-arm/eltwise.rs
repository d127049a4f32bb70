//! NEON code generation for micro-op programs (4 f32 lanes per vector), with the 2D loop
//! driver: every row, full vectors unrolled by a factor chosen from the program's register
//! needs, the leftover full vectors straight-line, and a partial tail of 1–3 lanes (loaded and
//! stored element-exactly, so nothing past a row is touched). Outputs may alias inputs: each
//! vector is loaded before it is stored.
//!
//! Registers: `v0..v25` hold the program (loop invariants first, then each unrolled copy's
//! temporaries, predicates included: NEON has no predicate registers, a `K` is a vector of
//! all-ones / all-zeros lanes), `v26`/`v27` hold spilled constants for one op, `v28..v31` are
//! the emitter's scratch. The specification types are the backend-neutral ones the AVX-512
//! generator uses.

use super::asm::*;
use super::convert::{self, Bf16Round};
use super::scalef;
use crate::isa::{Broadcast, CmpOp};
use crate::lower::regalloc::{invariant_def, reads, Assignment, Slot};
use crate::lower::{BinOp, IntOp, MicroOp, Port, UnOp, K, V as VirtV};
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

pub use crate::kernels_x86::eltwise::{Declined, EltwiseSpec, MaskSpec, PortSpec};

/// f32 lanes of a q register.
pub const LANES: usize = 4;
/// Vector registers the program may use.
const PROGRAM_VREGS: usize = 26;
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

/// A port's registers: its row pointer, and the column cursor of ports read along a row.
#[derive(Clone, Copy)]
struct PortRegs {
    spec: PortSpec,
    row: X,
    cursor: Option<X>,
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
    ports: [Option<PortRegs>; 5],
    mask_in: Option<(MaskSpec, X)>,
    mask_out: Option<(MaskSpec, X)>,
    rows: X,
    col: X,
    pos_row: X,
    tmp: [X; 3],
    frame: Frame,
    iota: DynamicLabel,
    lane_bits: DynamicLabel,
}

fn port_index(p: Port) -> usize {
    match p {
        Port::In0 => 0,
        Port::In1 => 1,
        Port::In2 => 2,
        Port::Aux => 3,
        Port::Out => 4,
        Port::Buf(_) => unreachable!("Gen::new declines port tables"),
    }
}

fn err(what: &str) -> Declined {
    Declined(what.to_string())
}

impl<'a> Gen<'a> {
    fn new(spec: &'a EltwiseSpec<'a>, features: Features) -> Result<Self, Declined> {
        if spec.rows == 0 || spec.cols == 0 {
            return Err(err("an empty space (the row loop runs at least once)"));
        }
        // Equation passes (port tables, row accumulators, run-time rows) are not generated
        // for NEON yet: `Backend::program` is not implemented, so equations run on the
        // reference here.
        let program_pass = spec.ports.iter().any(|p| matches!(p.port, Port::Buf(_)))
            || spec.extra.ptr_table.is_some()
            || spec.extra.rows_offset.is_some()
            || !spec.extra.accs.is_empty()
            || !spec.extra.stream.is_empty()
            || spec
                .program
                .ops
                .iter()
                .any(|o| matches!(o, MicroOp::Accumulate { .. }));
        if program_pass {
            return Err(err("equation passes are not generated for NEON"));
        }
        let asg = Assignment::of(spec.program);
        let (inv, temps, ktemps) = (
            asg.invariants as usize,
            asg.temps as usize,
            asg.ktemps as usize,
        );
        let per_copy = temps + ktemps;
        if per_copy > PROGRAM_VREGS {
            return Err(Declined(format!(
                "program needs {temps} vector and {ktemps} predicate temporaries"
            )));
        }
        // Invariants: keep as many in registers as one copy's temporaries leave room for
        // (most used first); load the other constants from a pool at each use.
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
        let room = PROGRAM_VREGS - per_copy;
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
        let unroll = (PROGRAM_VREGS - kept)
            .checked_div(per_copy)
            .unwrap_or(4)
            .clamp(1, 4);

        let mut gprs = GprPool::default();
        let mut take = || {
            gprs.take()
                .ok_or_else(|| err("out of general-purpose registers"))
        };
        let (rows, col, pos_row) = (take()?, take()?, take()?);
        let tmp = [take()?, take()?, take()?];
        let mut ports = [None; 5];
        for p in &spec.ports {
            let row = take()?;
            let cursor = match p.broadcast {
                Broadcast::None | Broadcast::Row => Some(take()?),
                Broadcast::Col | Broadcast::Scalar => None,
            };
            ports[port_index(p.port)] = Some(PortRegs {
                spec: *p,
                row,
                cursor,
            });
        }
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
        let frame = Frame {
            gprs: gprs.saved.clone(),
            vectors: true,
        };
        let (iota, lane_bits) = (a.new_dynamic_label(), a.new_dynamic_label());
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
            mask_in,
            mask_out,
            rows,
            col,
            pos_row,
            tmp,
            frame,
            iota,
            lane_bits,
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
            Slot::Temp(n) => V((self.kept + copy * per_copy + n as usize) as u8),
            Slot::PerRow(_) => unreachable!("Assignment::of hoists nothing per row"),
        }
    }

    fn kreg(&self, k: K, copy: usize) -> V {
        let per_copy = (self.asg.temps + self.asg.ktemps) as usize;
        let n = self.asg.temps as usize + self.asg.k[k.0 as usize] as usize;
        V((self.kept + copy * per_copy + n) as u8)
    }

    fn port(&self, p: Port) -> Result<PortRegs, Declined> {
        self.ports[port_index(p)]
            .ok_or_else(|| Declined(format!("program uses {p:?}, which the spec lacks")))
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
        for p in self.ports.iter().flatten().copied().collect::<Vec<_>>() {
            let off = p.spec.arg_offset as u32;
            dynasm!(self.a ; .arch aarch64 ; ldr X(p.row.0), [X(ARG0.0), #off]);
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
        mov_imm(&mut self.a, self.rows, spec.rows as u64);
        dynasm!(self.a ; .arch aarch64 ; movz X(self.pos_row.0), #0);

        // Rows.
        let row_top = self.a.new_dynamic_label();
        dynasm!(self.a ; .arch aarch64 ; =>row_top ; movz X(self.col.0), #0);
        for p in self.ports.iter().flatten() {
            if let Some(c) = p.cursor {
                dynasm!(self.a ; .arch aarch64 ; mov X(c.0), X(p.row.0));
            }
        }
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
        // Next row.
        for p in self.ports.iter().flatten().copied().collect::<Vec<_>>() {
            let step = match p.spec.broadcast {
                Broadcast::None => p.spec.ld * p.spec.dtype.size(),
                Broadcast::Col => p.spec.dtype.size(),
                Broadcast::Row | Broadcast::Scalar => 0,
            };
            add_imm(&mut self.a, p.row, p.row, step, t0);
        }
        for (m, reg) in [self.mask_in, self.mask_out].into_iter().flatten() {
            add_imm(&mut self.a, reg, reg, m.ld_bits / 8, t0);
        }
        add_imm(&mut self.a, self.pos_row, self.pos_row, spec.cols, t0);
        let rows = self.rows;
        dynasm!(self.a ; .arch aarch64
            ; subs X(rows.0), XSP(rows.0), #1
            ; b.ne =>row_top);
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
        for p in self.ports.iter().flatten().copied().collect::<Vec<_>>() {
            if let Some(c) = p.cursor {
                add_imm(&mut self.a, c, c, elems * p.spec.dtype.size(), self.tmp[0]);
            }
        }
    }

    /// One vector of the program: lanes `col + e ..` (`lanes` of them active), unrolled copy
    /// `copy`.
    fn step(&mut self, copy: usize, e: usize, lanes: usize) -> Result<(), Declined> {
        for op in &self.spec.program.ops {
            if invariant_def(op).is_some() {
                continue;
            }
            self.load_spilled(op);
            match *op {
                MicroOp::Accumulate { .. } => unreachable!("Gen::new declines accumulators"),
                MicroOp::Load { dst, port } => self.load(self.vreg(dst, copy), port, e, lanes)?,
                MicroOp::Store { src, port } => self.store(self.vreg(src, copy), port, e, lanes)?,
                MicroOp::LoadMask { dst } => self.load_mask(self.kreg(dst, copy), e),
                MicroOp::StoreMask { src } => self.store_mask(self.kreg(src, copy), e, lanes),
                MicroOp::Un { dst, op, a } => {
                    let (d, x) = (self.vreg(dst, copy).0, self.vreg(a, copy).0);
                    match op {
                        UnOp::Neg => dynasm!(self.a ; .arch aarch64 ; fneg V(d).S4, V(x).S4),
                        UnOp::Abs => dynasm!(self.a ; .arch aarch64 ; fabs V(d).S4, V(x).S4),
                        UnOp::Sqrt => dynasm!(self.a ; .arch aarch64 ; fsqrt V(d).S4, V(x).S4),
                        UnOp::RoundEven => {
                            dynasm!(self.a ; .arch aarch64 ; frintn V(d).S4, V(x).S4)
                        }
                    }
                }
                MicroOp::Bin { dst, op, a, b } => self.bin(
                    op,
                    self.vreg(dst, copy),
                    self.vreg(a, copy),
                    self.vreg(b, copy),
                ),
                MicroOp::Fma {
                    dst,
                    a,
                    b,
                    c,
                    negate,
                } => self.fma(
                    self.vreg(dst, copy),
                    self.vreg(a, copy),
                    self.vreg(b, copy),
                    self.vreg(c, copy),
                    negate,
                ),
                MicroOp::Cmp { dst, op, a, b } => {
                    let (k, x, y) = (
                        self.kreg(dst, copy).0,
                        self.vreg(a, copy).0,
                        self.vreg(b, copy).0,
                    );
                    // Ordered comparisons (false on NaN); `Ne` is the complement of `Eq`,
                    // so NaN != x holds.
                    match op {
                        CmpOp::Eq => {
                            dynasm!(self.a ; .arch aarch64 ; fcmeq V(k).S4, V(x).S4, V(y).S4)
                        }
                        CmpOp::Ne => dynasm!(self.a ; .arch aarch64
                            ; fcmeq V(k).S4, V(x).S4, V(y).S4
                            ; mvn V(k).B16, V(k).B16),
                        CmpOp::Gt => {
                            dynasm!(self.a ; .arch aarch64 ; fcmgt V(k).S4, V(x).S4, V(y).S4)
                        }
                        CmpOp::Ge => {
                            dynasm!(self.a ; .arch aarch64 ; fcmge V(k).S4, V(x).S4, V(y).S4)
                        }
                        CmpOp::Lt => {
                            dynasm!(self.a ; .arch aarch64 ; fcmgt V(k).S4, V(y).S4, V(x).S4)
                        }
                        CmpOp::Le => {
                            dynasm!(self.a ; .arch aarch64 ; fcmge V(k).S4, V(y).S4, V(x).S4)
                        }
                    }
                }
                MicroOp::Select { dst, k, a, b } => {
                    let (d, m, x, y) = (
                        self.vreg(dst, copy).0,
                        self.kreg(k, copy).0,
                        self.vreg(a, copy).0,
                        self.vreg(b, copy).0,
                    );
                    if d == x {
                        dynasm!(self.a ; .arch aarch64 ; bif V(d).B16, V(y).B16, V(m).B16);
                    } else if d == y {
                        dynasm!(self.a ; .arch aarch64 ; bit V(d).B16, V(x).B16, V(m).B16);
                    } else {
                        dynasm!(self.a ; .arch aarch64
                            ; mov V(d).B16, V(m).B16
                            ; bsl V(d).B16, V(x).B16, V(y).B16);
                    }
                }
                MicroOp::Position { dst } => {
                    let (d, t, s) = (self.vreg(dst, copy).0, self.tmp[0].0, S[3].0);
                    let (pos, col, iota) = (self.pos_row.0, self.col.0, self.iota);
                    dynasm!(self.a ; .arch aarch64
                        ; add W(t), W(pos), W(col)
                        ; add WSP(t), WSP(t), #e as u32
                        ; dup V(d).S4, W(t)
                        ; ldr Q(s), =>iota
                        ; add V(d).S4, V(d).S4, V(s).S4);
                }
                MicroOp::Int { dst, op, a, b } => {
                    let (d, x, y) = (
                        self.vreg(dst, copy).0,
                        self.vreg(a, copy).0,
                        self.vreg(b, copy).0,
                    );
                    match op {
                        IntOp::Mul => {
                            dynasm!(self.a ; .arch aarch64 ; mul V(d).S4, V(x).S4, V(y).S4)
                        }
                        IntOp::Xor => {
                            dynasm!(self.a ; .arch aarch64 ; eor V(d).B16, V(x).B16, V(y).B16)
                        }
                    }
                }
                MicroOp::ShrImm { dst, a, shift } => {
                    let (d, x) = (self.vreg(dst, copy).0, self.vreg(a, copy).0);
                    match shift {
                        0 => dynasm!(self.a ; .arch aarch64 ; mov V(d).B16, V(x).B16),
                        1..=31 => {
                            dynasm!(self.a ; .arch aarch64 ; ushr V(d).S4, V(x).S4, #shift as u32)
                        }
                        _ => dynasm!(self.a ; .arch aarch64 ; movi V(d).D2, #0),
                    }
                }
                MicroOp::UGe { dst, a, b } => {
                    let (k, x, y) = (
                        self.kreg(dst, copy).0,
                        self.vreg(a, copy).0,
                        self.vreg(b, copy).0,
                    );
                    dynasm!(self.a ; .arch aarch64 ; cmhs V(k).S4, V(x).S4, V(y).S4);
                }
                MicroOp::Const { .. } | MicroOp::ConstBits { .. } | MicroOp::Seed { .. } => {
                    unreachable!("invariants are emitted in the prologue")
                }
            }
        }
        Ok(())
    }

    fn load(&mut self, d: V, port: Port, e: usize, lanes: usize) -> Result<(), Declined> {
        let p = self.port(port)?;
        match p.cursor {
            Some(c) => {
                let off = (e * p.spec.dtype.size()) as u32;
                convert::load(&mut self.a, d, p.spec.dtype, c, off, lanes, self.tmp[0])
            }
            None => convert::broadcast(&mut self.a, d, p.spec.dtype, p.row),
        }
        Ok(())
    }

    fn store(&mut self, s: V, port: Port, e: usize, lanes: usize) -> Result<(), Declined> {
        let p = self.port(port)?;
        let c = p
            .cursor
            .ok_or_else(|| err("a broadcast port cannot be stored"))?;
        let off = (e * p.spec.dtype.size()) as u32;
        let scratch = [S[0], S[1], S[2]];
        convert::store(
            &mut self.a,
            s,
            p.spec.dtype,
            c,
            off,
            lanes,
            self.tmp[0],
            scratch,
            self.bf16,
        );
        Ok(())
    }

    /// `k` = the 4 mask bits of columns `col + e ..` as all-ones / all-zeros lanes. Columns
    /// come in fours, so they are the low or the high nibble of one byte.
    fn load_mask(&mut self, k: V, e: usize) {
        let (_, reg) = self.mask_in.expect("checked in new");
        let [t0, t1, _] = self.tmp;
        let (col, bits, s) = (self.col.0, self.lane_bits, S[3].0);
        dynasm!(self.a ; .arch aarch64
            ; add WSP(t0.0), WSP(col), #e as u32
            ; lsr W(t1.0), W(t0.0), #3
            ; ldrb W(t1.0), [X(reg.0), X(t1.0)]
            ; and WSP(t0.0), W(t0.0), #4
            ; lsr W(t1.0), W(t1.0), W(t0.0)
            ; dup V(k.0).S4, W(t1.0)
            ; ldr Q(s), =>bits
            ; cmtst V(k.0).S4, V(k.0).S4, V(s).S4);
    }

    /// Writes the bits of `k` for columns `col + e ..` (`lanes` active, the others 0): the
    /// low nibble of a byte writes the whole byte (its high nibble 0, which also zeroes the
    /// padding bits after a row's last column), the high nibble is or-ed into it.
    fn store_mask(&mut self, k: V, e: usize, lanes: usize) {
        let (_, reg) = self.mask_out.expect("checked in new");
        let [t0, t1, t2] = self.tmp;
        let (col, bits, s) = (self.col.0, self.lane_bits, S[3].0);
        let (high, done) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
        dynasm!(self.a ; .arch aarch64
            ; ldr Q(s), =>bits
            ; and V(s).B16, V(k.0).B16, V(s).B16
            ; addv S(s), V(s).S4
            ; umov W(t0.0), V(s).S[0]);
        if lanes < LANES {
            let keep = (1u32 << lanes) - 1;
            dynasm!(self.a ; .arch aarch64 ; and WSP(t0.0), W(t0.0), #keep);
        }
        dynasm!(self.a ; .arch aarch64
            ; add WSP(t1.0), WSP(col), #e as u32
            ; tst W(t1.0), #4
            ; lsr W(t1.0), W(t1.0), #3
            ; b.ne =>high
            ; strb W(t0.0), [X(reg.0), X(t1.0)]
            ; b =>done
            ; =>high
            ; ldrb W(t2.0), [X(reg.0), X(t1.0)]
            ; orr W(t0.0), W(t2.0), W(t0.0), lsl #4
            ; strb W(t0.0), [X(reg.0), X(t1.0)]
            ; =>done);
    }

    fn bin(&mut self, op: BinOp, d: V, x: V, y: V) {
        let (d, x, y) = (d.0, x.0, y.0);
        match op {
            BinOp::Add => dynasm!(self.a ; .arch aarch64 ; fadd V(d).S4, V(x).S4, V(y).S4),
            BinOp::Sub => dynasm!(self.a ; .arch aarch64 ; fsub V(d).S4, V(x).S4, V(y).S4),
            BinOp::Mul => dynasm!(self.a ; .arch aarch64 ; fmul V(d).S4, V(x).S4, V(y).S4),
            BinOp::Div => dynasm!(self.a ; .arch aarch64 ; fdiv V(d).S4, V(x).S4, V(y).S4),
            // fmax/fmin return NaN when either input is NaN, as the micro-op demands.
            BinOp::Max => dynasm!(self.a ; .arch aarch64 ; fmax V(d).S4, V(x).S4, V(y).S4),
            BinOp::Min => dynasm!(self.a ; .arch aarch64 ; fmin V(d).S4, V(x).S4, V(y).S4),
            BinOp::Scalef => scalef::emit(&mut self.a, V(d), V(x), V(y), S, self.tmp[0]),
            BinOp::CopySign => {
                let s0 = S[0].0;
                dynasm!(self.a ; .arch aarch64
                    ; movi V(s0).S4, #0x80, lsl #24
                    ; bsl V(s0).B16, V(y).B16, V(x).B16
                    ; mov V(d).B16, V(s0).B16);
            }
        }
    }

    /// `d = a·b + c` (or `c − a·b`): `fmla`/`fmls` accumulate into their destination, so `c`
    /// is moved there first unless `d` already is `c` (through scratch when `d` is `a` or `b`).
    fn fma(&mut self, d: V, a: V, b: V, c: V, negate: bool) {
        let acc = if d == c {
            d
        } else if d == a || d == b {
            S[0]
        } else {
            d
        };
        if acc != c {
            dynasm!(self.a ; .arch aarch64 ; mov V(acc.0).B16, V(c.0).B16);
        }
        if negate {
            dynasm!(self.a ; .arch aarch64 ; fmls V(acc.0).S4, V(a.0).S4, V(b.0).S4);
        } else {
            dynasm!(self.a ; .arch aarch64 ; fmla V(acc.0).S4, V(a.0).S4, V(b.0).S4);
        }
        if acc != d {
            dynasm!(self.a ; .arch aarch64 ; mov V(d.0).B16, V(acc.0).B16);
        }
    }
}
