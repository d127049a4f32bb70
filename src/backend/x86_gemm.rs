//! The AVX-512 backend's GEMM glue: picks the multiply for the descriptor's dtypes and layouts,
//! generates the epilogue kernels of its tile shapes from the shared lowering, then the
//! microkernel that calls them.

use super::jit;
use super::x86::install_or_decline;
use crate::dispatch::{caps, log_decline};
use crate::exec::eltwise_spec::gemm_epilogue_spec;
use crate::exec::{Exec, GemmArgs};
use crate::isa::{Activation, DType, GemmDesc, Layout};
use crate::kernels_x86::eltwise;
use crate::kernels_x86::gemm::{self, Arith, Blocking, GemmSpec};
use crate::lower;

/// The kernel for `d`, or `None` (logged under `TPP_VERBOSE`) when this backend leaves it to
/// the reference.
pub(super) fn generate(backend: &str, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
    let c = caps::x86();
    if !c.avx512 {
        return None;
    }
    let name = d.kernel_name(backend);
    let decline = |why: &str| {
        log_decline(backend, &name, why);
        None
    };
    let arith = match choose(d) {
        Ok(a) => a,
        Err(why) => {
            // A layout the microkernels do not take may still compose from JIT kernels.
            let parts = super::gemm_compose::Parts {
                takes: &|i| choose(i).is_ok(),
                gemm: &|i| generate(backend, i),
                unary: &|u| super::Backend::unary(&super::x86::Avx512, u),
                bf16_vnni2: c.avx512_bf16,
            };
            let composed = super::gemm_compose::compose(d, &parts);
            return composed.or_else(|| decline(why));
        }
    };
    if d.c_dtype == DType::BF16 && !c.avx512_bf16 {
        return decline("bf16 C needs AVX512_BF16");
    }
    let blocking = Blocking::of(d, arith, c.vendor);
    if !displacements_fit(d, arith, &blocking) {
        return decline("leading dimensions too large for 32-bit displacements");
    }
    let plain = d.epilogue.bias.is_none() && d.epilogue.activation == Activation::None;
    let direct = (plain && matches!(d.c_dtype, DType::F32 | DType::F64 | DType::I32))
        || gemm::fits_in_registers(d, arith);
    let mut epilogues = vec![];
    if !direct {
        let Some(program) = lower::eltwise::epilogue(&d.epilogue) else {
            return decline("the epilogue has no micro-op lowering (f64 bias?)");
        };
        for (rows, cols) in blocking.tiles(d.m, d.n) {
            let spec = gemm_epilogue_spec(d, &program, blocking.cols(), rows, cols);
            let bytes = match eltwise::generate(&spec) {
                Ok(b) => b,
                Err(why) => return decline(&why.0),
            };
            let entry = jit::install_part(&format!("{name}_epilogue_{rows}x{cols}"), &bytes);
            epilogues.push(((rows, cols), entry.ok()?));
        }
    }
    let spec = GemmSpec {
        d,
        arith,
        blocking,
        epilogues,
    };
    install_or_decline(&name, gemm::generate(&spec))
}

/// The multiply for the descriptor, or why there is none here.
fn choose(d: &GemmDesc) -> Result<Arith, &'static str> {
    use DType::*;
    let c = caps::x86();
    if d.trans_b {
        return Err("transposed B is composed (transpose, then the microkernel)");
    }
    if d.c_layout != Layout::RowMajor {
        return Err("VNNI2 C is composed (the microkernel, then the pack)");
    }
    let plain = d.epilogue.bias.is_none() && d.epilogue.activation == Activation::None;
    match (d.a_dtype, d.b_dtype, d.b_layout) {
        (F32, F32, Layout::RowMajor)
        | (BF16, BF16, Layout::RowMajor)
        | (F16, F16, Layout::RowMajor) => Ok(Arith::Fma32),
        (BF16, BF16, Layout::Vnni2) if c.avx512_bf16 && !d.trans_a => Ok(Arith::DotBf16),
        (F64, F64, Layout::RowMajor) if plain => Ok(Arith::Fma64),
        (U8, I8, Layout::Vnni4) if c.avx512_vnni && !d.trans_a => Ok(Arith::DotU8I8),
        (I8, I8, Layout::Vnni4) if c.avx512_vnni && !d.trans_a => Ok(Arith::DotI8I8),
        _ => Err("no AVX-512 microkernel for these dtypes, layouts and epilogue"),
    }
}

/// Row offsets within a tile and k-loop steps are 32-bit displacements.
fn displacements_fit(d: &GemmDesc, arith: Arith, blk: &Blocking) -> bool {
    let lim = i32::MAX as usize / 2;
    let a_row = if d.trans_a { 1 } else { d.lda } * d.a_dtype.size();
    let a_step = if d.trans_a { d.lda } else { 1 } * d.a_dtype.size() * 4;
    let b_step = d.ldb * d.b_dtype.size() * 4 * 4;
    let c_row = d.ldc * d.c_dtype.size() * arith.lanes();
    [a_row, a_step, b_step, c_row]
        .iter()
        .all(|&x| x.checked_mul(blk.rows.max(8)).is_some_and(|v| v < lim))
}
