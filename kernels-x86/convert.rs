//! Loads and stores of f32 lanes from and to memory of any port dtype (f32, bf16, f16), with
//! round-to-nearest-even narrowing; shared by every generator.

use super::asm::*;
use crate::isa::DType;
use iced_x86::code_asm::*;

/// `dst` = 16 elements at `m` widened to f32; under `k`, inactive lanes become 0.
pub fn load(
    a: &mut CodeAssembler,
    dst: Zmm,
    dtype: DType,
    m: AsmMemoryOperand,
    k: Option<Kreg>,
) -> AsmResult<()> {
    let dz = dst.masked(k, true);
    match dtype {
        DType::F32 => a.vmovups(dz, zmmword_ptr(m)),
        DType::BF16 => {
            a.vpmovzxwd(dz, ymmword_ptr(m))?;
            a.vpslld(dst.z(), dst.z(), 16)
        }
        DType::F16 => a.vcvtph2ps(dz, ymmword_ptr(m)),
        _ => unreachable!("ports carry f32, bf16 or f16 (checked by the lowering)"),
    }
}

/// `dst` = the one element at `m`, widened to f32, in every lane.
pub fn broadcast(
    a: &mut CodeAssembler,
    dst: Zmm,
    dtype: DType,
    m: AsmMemoryOperand,
) -> AsmResult<()> {
    match dtype {
        DType::F32 => a.vbroadcastss(dst.z(), dword_ptr(m)),
        DType::BF16 => {
            a.vpbroadcastw(dst.z(), word_ptr(m))?;
            a.vpslld(dst.z(), dst.z(), 16)
        }
        DType::F16 => {
            // The zmm form: a ymm destination would take the VEX encoding, which has no
            // ymm16..31.
            a.vpbroadcastw(dst.z(), word_ptr(m))?;
            a.vcvtph2ps(dst.z(), dst.y())
        }
        _ => unreachable!("ports carry f32, bf16 or f16 (checked by the lowering)"),
    }
}

/// 16 lanes of `src` narrowed to `dtype` (nearest even) and stored at `m`, under `k`.
/// `scratch` may be clobbered.
pub fn store(
    a: &mut CodeAssembler,
    src: Zmm,
    dtype: DType,
    m: AsmMemoryOperand,
    k: Option<Kreg>,
    scratch: Zmm,
) -> AsmResult<()> {
    match dtype {
        DType::F32 => a.vmovups(mem_masked(zmmword_ptr(m), k), src.z()),
        DType::BF16 => {
            a.vcvtneps2bf16(scratch.y(), src.z())?;
            a.vmovdqu16(mem_masked(ymmword_ptr(m), k), scratch.y())
        }
        // Immediate 0: round to nearest even.
        DType::F16 => a.vcvtps2ph(mem_masked(ymmword_ptr(m), k), src.z(), 0),
        _ => unreachable!("ports carry f32, bf16 or f16 (checked by the lowering)"),
    }
}
