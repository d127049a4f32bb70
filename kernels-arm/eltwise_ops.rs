//! One vector of a NEON micro-op program: each micro-op's instructions (arithmetic,
//! compares and selects on all-ones / all-zeros lanes, integer and conversion ops), and the
//! accesses to its operands: whole or partial vectors of a port, broadcasts of column vectors
//! and scalars, and the mask bits of 4 columns (a nibble of one byte).

use super::{Gen, LANES, S};
use crate::isa::{Broadcast, CmpOp};
use crate::kernels_arm::asm::*;
use crate::kernels_arm::convert;
use crate::kernels_arm::scalef;
use crate::kernels_x86::eltwise::Declined;
use crate::lower::{BinOp, IntOp, MicroOp, Port, UnOp};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

impl Gen<'_> {
    /// One op of one vector (see [`Gen::step`]).
    pub(super) fn op(
        &mut self,
        op: &MicroOp,
        copy: usize,
        e: usize,
        lanes: usize,
    ) -> Result<(), Declined> {
        {
            self.load_spilled(op);
            match *op {
                MicroOp::Accumulate { src, acc } => {
                    let (fold, _) = self.spec.extra.accs[acc as usize];
                    self.accumulate(fold, self.acc(acc, copy), self.vreg(src, copy), lanes)
                }
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
        let (p, base) = self.port(port)?;
        match p.broadcast {
            Broadcast::None | Broadcast::Row => {
                let off = (e * p.dtype.size()) as u32;
                convert::load(&mut self.a, d, p.dtype, base, off, lanes, self.tmp[0])
            }
            Broadcast::Col | Broadcast::Scalar => convert::broadcast(&mut self.a, d, p.dtype, base),
        }
        Ok(())
    }

    /// Stores lanes `col + e ..` of `s` (`lanes` active); a column vector or scalar port
    /// (stored once per row, at its start) takes lane 0 as the row's element.
    fn store(&mut self, s: V, port: Port, e: usize, lanes: usize) -> Result<(), Declined> {
        let (p, base) = self.port(port)?;
        let (off, lanes) = match p.broadcast {
            Broadcast::None | Broadcast::Row => ((e * p.dtype.size()) as u32, lanes),
            Broadcast::Col | Broadcast::Scalar => (0, 1),
        };
        let scratch = [S[0], S[1], S[2]];
        // Whole vectors of a streamed full matrix (within `stnp`'s offset range, which the
        // unrolled step's offsets always are).
        let whole = p.broadcast == Broadcast::None && lanes == LANES && off < 256;
        if whole && self.spec.extra.stream.contains(&port) {
            convert::store_nontemporal(
                &mut self.a,
                s,
                p.dtype,
                base,
                off,
                self.tmp[0],
                scratch,
                self.bf16,
            );
            return Ok(());
        }
        convert::store(
            &mut self.a,
            s,
            p.dtype,
            base,
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
