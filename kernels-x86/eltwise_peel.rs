//! The column loop of streaming-store kernels over rows that are not aligned: a masked head
//! vector ends where the streamed output's next vector-sized boundary begins, so that every
//! full vector after it stores with a non-temporal store (which needs the alignment), then a
//! masked last vector. The head's length is read from the output's pointer on every row (it
//! changes from row to row when the leading dimension is not a multiple of the alignment).
//!
//! The masked vectors are placed so that their active lanes end at the edge: the head covers
//! elements `h − 16 .. h` with its top `h` lanes active, the last one `cols − 16 .. cols` with
//! its top lanes active. Masked-off lanes are never read or written (AVX-512 masked memory
//! operations do not fault on them), so no element outside the row is touched.

use super::{Declined, Gen, Loc, LANES, TAIL};
use crate::lower::Port;
use iced_x86::code_asm::*;

/// Bits 16..31 set: shifted right by `n`, its low 16 bits are the top `n` lanes of a vector.
const TOP_LANES: u32 = 0xffff_0000;

impl Gen<'_> {
    /// The columns of one row, aligned to the streamed port `port` (see the module docs).
    /// `col` ends at an unspecified value; the caller resets it on the next row.
    pub(super) fn peeled_columns(&mut self, port: Port) -> Result<(), Declined> {
        let cols = self.spec.cols;
        let (p, loc) = *self
            .ports
            .iter()
            .find(|(q, _)| q.port == port)
            .ok_or_else(|| Declined("the aligned port is not a port of the pass".into()))?;
        let (col, tmp) = (self.col, self.tmp);
        let size = p.dtype.size();
        // Vectors of this port are 16 elements: 64 bytes (f32) or 32 (bf16, f16).
        let align = (LANES * size) as u32;
        // h = elements to the next boundary = (−ptr mod align) / size, at most `cols`.
        match loc {
            Loc::Reg(reg) => self.a.mov(tmp.q(), reg.q())?,
            Loc::Stack(off) => self.a.mov(tmp.q(), qword_ptr(rsp + off))?,
        }
        self.a.neg(tmp.q())?;
        self.a.and(tmp.d(), (align - 1) as i32)?;
        self.a.shr(tmp.d(), size.trailing_zeros())?;
        self.a.mov(col.d(), cols as u32)?;
        self.a.cmp(tmp.d(), col.d())?;
        self.a.cmovb(col.d(), tmp.d())?;
        // Whole vectors (after the head): unrolled while `unroll` fit, then one at a time.
        let unrolled = self.unroll * LANES;
        let mut one = self.a.create_label();
        let mut top = self.a.create_label();
        self.a.test(col.d(), col.d())?;
        self.a.jz(if self.unroll > 1 { top } else { one })?;
        self.top_lanes(col)?;
        self.a.sub(col.q(), LANES as i32)?;
        self.step(0, 0, Some(LANES))?;
        self.a.add(col.q(), LANES as i32)?;
        if self.unroll > 1 {
            self.a.set_label(&mut top)?;
            self.a.lea(tmp.q(), ptr(col.q() + unrolled as i32))?;
            self.a.cmp(tmp.q(), cols as i32)?;
            self.a.ja(one)?;
            for u in 0..self.unroll {
                self.step(u, u * LANES, None)?;
            }
            self.a.add(col.q(), unrolled as i32)?;
            self.a.jmp(top)?;
        }
        self.a.set_label(&mut one)?;
        let mut last = self.a.create_label();
        self.a.lea(tmp.q(), ptr(col.q() + LANES as i32))?;
        self.a.cmp(tmp.q(), cols as i32)?;
        self.a.ja(last)?;
        self.step(0, 0, None)?;
        self.a.add(col.q(), LANES as i32)?;
        self.a.jmp(one)?;

        // The last, partial vector: r = cols − col elements (0..15), as the top r lanes of
        // the vector ending at `cols`.
        self.a.set_label(&mut last)?;
        let mut end = self.a.create_label();
        self.a.neg(col.q())?;
        self.a.add(col.q(), cols as i32)?;
        self.a.jz(end)?;
        self.top_lanes(col)?;
        self.a.mov(col.q(), cols as i64 - LANES as i64)?;
        self.step(0, 0, Some(LANES))?;
        self.a.set_label(&mut end)?;
        Ok(())
    }

    /// `TAIL` = the top `n` lanes, `n` (1..16) in `n`'s low 32 bits (`tmp` clobbered).
    fn top_lanes(&mut self, n: crate::kernels_x86::asm::Gpr) -> Result<(), Declined> {
        self.a.mov(self.tmp.d(), TOP_LANES)?;
        self.a.shrx(self.tmp.d(), self.tmp.d(), n.d())?;
        self.a.kmovw(TAIL.k(), self.tmp.d())?;
        Ok(())
    }
}
