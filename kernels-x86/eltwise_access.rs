//! Operand access of the eltwise generator: element addresses in the current row, loads
//! (with conversion to f32 and broadcasts) and stores (with conversion, masks, and the
//! non-temporal form for streamed ports).

use super::super::asm::*;
use super::super::convert;
use super::{Declined, Gen, SCRATCH_B};
use crate::isa::{Broadcast, DType};
use crate::lower::Port;
use iced_x86::code_asm::*;

impl Gen<'_> {
    /// Address of element `col + e` of the current row of `reg`.
    pub(super) fn elem(&self, reg: Gpr, size: usize, e: usize) -> AsmMemoryOperand {
        let base = reg.q() + (e * size) as i32;
        match size {
            1 => ptr(base + self.col.q()),
            2 => ptr(base + self.col.q() * 2),
            4 => ptr(base + self.col.q() * 4),
            _ => ptr(base + self.col.q() * 8),
        }
    }

    pub(super) fn load(
        &mut self,
        d: Zmm,
        port: Port,
        e: usize,
        k: Option<Kreg>,
    ) -> Result<(), Declined> {
        let (p, reg) = self.port(port)?;
        match p.broadcast {
            Broadcast::None | Broadcast::Row => {
                let m = self.elem(reg, p.dtype.size(), e);
                convert::load(&mut self.a, d, p.dtype, m, k)?
            }
            Broadcast::Col | Broadcast::Scalar => {
                convert::broadcast(&mut self.a, d, p.dtype, ptr(reg.q()))?
            }
        }
        Ok(())
    }

    pub(super) fn store(
        &mut self,
        s: Zmm,
        port: Port,
        e: usize,
        k: Option<Kreg>,
    ) -> Result<(), Declined> {
        let (p, reg) = self.port(port)?;
        let m = self.elem(reg, p.dtype.size(), e);
        if k.is_none() && self.spec.extra.stream.contains(&port) {
            match p.dtype {
                DType::F32 => self.a.vmovntps(zmmword_ptr(m), s.z())?,
                DType::BF16 => {
                    self.a.vcvtneps2bf16(SCRATCH_B.y(), s.z())?;
                    self.a.evex().vmovntdq(ymmword_ptr(m), SCRATCH_B.y())?;
                }
                _ => {
                    self.a.vcvtps2ph(SCRATCH_B.y(), s.z(), 0)?;
                    self.a.evex().vmovntdq(ymmword_ptr(m), SCRATCH_B.y())?;
                }
            }
            return Ok(());
        }
        Ok(convert::store(&mut self.a, s, p.dtype, m, k, SCRATCH_B)?)
    }
}
