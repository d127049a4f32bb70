//! Vector loads and stores of [`VEC`] consecutive elements (`ld.global.v4.b32` for f32,
//! `ld.global.v2.b32` for the 16-bit types: 16 or 8 bytes), converted to and from the f32 lanes
//! of the micro-op programs. The address must be aligned to the access size (`VEC` elements):
//! the elementwise driver checks that at run time and otherwise takes its scalar path.

use super::ptx::{Declined, KernelBuilder, R16, R32, R64};
use crate::isa::DType;

/// Elements one vector access moves.
pub const VEC: usize = 4;

/// True for the dtypes a vector access handles.
pub fn vectorisable(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::BF16 | DType::F16)
}

/// The `VEC` elements of `dtype` at `addr` (aligned to `VEC` elements), as f32 bits.
pub fn load(k: &mut KernelBuilder, dtype: DType, addr: R64) -> Result<[R32; VEC], Declined> {
    let out = [k.r32(), k.r32(), k.r32(), k.r32()];
    match dtype {
        DType::F32 => k.inst(format!(
            "ld.global.v4.b32 {{{}, {}, {}, {}}}, [{addr}]",
            out[0], out[1], out[2], out[3]
        )),
        DType::BF16 | DType::F16 => {
            let (w0, w1) = (k.r32(), k.r32());
            k.inst(format!("ld.global.v2.b32 {{{w0}, {w1}}}, [{addr}]"));
            for (n, w) in [w0, w1].into_iter().enumerate() {
                let (lo, hi) = (out[2 * n], out[2 * n + 1]);
                if dtype == DType::BF16 {
                    // A bf16 is the high half of its f32.
                    k.inst(format!("shl.b32 {lo}, {w}, 16"));
                    k.inst(format!("and.b32 {hi}, {w}, 0xFFFF0000"));
                } else {
                    let (h0, h1): (R16, R16) = (k.r16(), k.r16());
                    let t = k.r32();
                    k.inst(format!("cvt.u16.u32 {h0}, {w}"));
                    k.inst(format!("shr.u32 {t}, {w}, 16"));
                    k.inst(format!("cvt.u16.u32 {h1}, {t}"));
                    k.inst(format!("cvt.f32.f16 {lo}, {h0}"));
                    k.inst(format!("cvt.f32.f16 {hi}, {h1}"));
                }
            }
        }
        d => return Err(Declined(format!("no vector load of {d}"))),
    }
    Ok(out)
}

/// The `VEC` elements of `dtype` at `addr` (aligned) = `src` (f32 bits), rounded to nearest
/// even.
pub fn store(
    k: &mut KernelBuilder,
    dtype: DType,
    addr: R64,
    src: [R32; VEC],
) -> Result<(), Declined> {
    match dtype {
        DType::F32 => k.inst(format!(
            "st.global.v4.b32 [{addr}], {{{}, {}, {}, {}}}",
            src[0], src[1], src[2], src[3]
        )),
        DType::BF16 | DType::F16 => {
            let t = if dtype == DType::BF16 {
                "bf16x2"
            } else {
                "f16x2"
            };
            let (w0, w1) = (k.r32(), k.r32());
            // `cvt.rn.{bf16x2,f16x2}.f32 d, a, b` puts a in the high half and b in the low.
            k.inst(format!("cvt.rn.{t}.f32 {w0}, {}, {}", src[1], src[0]));
            k.inst(format!("cvt.rn.{t}.f32 {w1}, {}, {}", src[3], src[2]));
            k.inst(format!("st.global.v2.b32 [{addr}], {{{w0}, {w1}}}"));
        }
        d => return Err(Declined(format!("no vector store to {d}"))),
    }
    Ok(())
}
