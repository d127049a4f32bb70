//! The row-level parts of the eltwise generator that program kernels (equation passes) use:
//! row accumulators (their identities at a row's start, the fold of their unrolled copies and
//! lanes at its end) and the values hoisted to the start of each row.

use super::super::asm::*;
use super::super::convert;
use super::{Declined, Gen, KSCRATCH, SCRATCH_B};
use crate::isa::DType;
use crate::lower::{Fold, MicroOp};
use iced_x86::code_asm::*;

impl Gen<'_> {
    /// Register of copy `copy` of row accumulator `n`.
    pub(super) fn acc(&self, n: u16, copy: usize) -> Zmm {
        Zmm((self.acc_base + copy * self.spec.extra.accs.len() + n as usize) as u8)
    }

    /// `d = x ⊕ y` for the fold (NaN-propagating max and min), full width.
    pub(super) fn fold(&mut self, fold: Fold, d: Zmm, x: Zmm, y: Zmm) -> Result<(), Declined> {
        match fold {
            Fold::Sum => self.a.vaddps(d.z(), x.z(), y.z())?,
            Fold::Max | Fold::Min => {
                max_min_nan(&mut self.a, d, x, y, fold == Fold::Max, KSCRATCH)?
            }
        }
        Ok(())
    }

    /// Start of a row: the accumulators take their identities and the per-row values are
    /// computed.
    pub(super) fn row_start(&mut self) -> Result<(), Declined> {
        for (n, (fold, _)) in self.spec.extra.accs.clone().into_iter().enumerate() {
            for copy in 0..self.unroll {
                let z = self.acc(n as u16, copy).z();
                match fold {
                    Fold::Sum => self.a.vxorps(z, z, z)?,
                    Fold::Max => self.a.vbroadcastss(z, dword_ptr(self.inf[0]))?,
                    Fold::Min => self.a.vbroadcastss(z, dword_ptr(self.inf[1]))?,
                }
            }
        }
        let spec = self.spec;
        for (i, op) in spec.program.ops.iter().enumerate() {
            if self.asg.row_op[i] {
                if let MicroOp::Store { src, port } = *op {
                    // A column vector or scalar: one element per row.
                    self.a.mov(self.tmp.d(), 1u32)?;
                    self.a.kmovw(KSCRATCH.k(), self.tmp.d())?;
                    let (p, reg) = self.port(port)?;
                    let s = self.zmm(src, 0);
                    convert::store(
                        &mut self.a,
                        s,
                        p.dtype,
                        ptr(reg.q()),
                        Some(KSCRATCH),
                        SCRATCH_B,
                    )?;
                } else {
                    self.op(op, 0, 0, None, None)?;
                }
            }
        }
        Ok(())
    }

    /// End of a row: each accumulator's copies and lanes are folded and stored.
    pub(super) fn row_end(&mut self) -> Result<(), Declined> {
        for (n, (fold, port)) in self.spec.extra.accs.clone().into_iter().enumerate() {
            let a0 = self.acc(n as u16, 0);
            for copy in 1..self.unroll {
                let c = self.acc(n as u16, copy);
                self.fold(fold, a0, a0, c)?;
            }
            self.a.vextractf64x4(SCRATCH_B.y(), a0.z(), 1)?;
            self.fold(fold, a0, a0, SCRATCH_B)?;
            self.a.vextractf32x4(SCRATCH_B.x(), a0.z(), 1)?;
            self.fold(fold, a0, a0, SCRATCH_B)?;
            self.a.vpermilps(SCRATCH_B.z(), a0.z(), 0x4e)?;
            self.fold(fold, a0, a0, SCRATCH_B)?;
            self.a.vpermilps(SCRATCH_B.z(), a0.z(), 0xb1)?;
            self.fold(fold, a0, a0, SCRATCH_B)?;
            // One lane, under a mask (EVEX, so accumulators may live in zmm16–31).
            let (_, reg) = self.port(port)?;
            self.a.mov(self.tmp.d(), 1u32)?;
            self.a.kmovw(KSCRATCH.k(), self.tmp.d())?;
            convert::store(
                &mut self.a,
                a0,
                DType::F32,
                ptr(reg.q()),
                Some(KSCRATCH),
                SCRATCH_B,
            )?;
        }
        Ok(())
    }
}
