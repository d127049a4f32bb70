//! The NEON backend's GEMM glue: takes the descriptors the microkernels read directly,
//! generates the epilogue kernels of its tile shapes from the shared lowering, then the
//! microkernel that calls them (with MMLA tiles where the CPU has them and they win).
//! Everything else falls back (logged under `TPP_VERBOSE`).

use super::gemm_compose::{canonical, compose, Parts};
use super::neon::{features, install_or_decline, Neon};
use super::{jit, Backend};
use crate::dispatch::{caps, log_decline};
use crate::exec::eltwise_spec::gemm_epilogue_spec;
use crate::exec::{Exec, GemmArgs};
use crate::isa::{Activation, DType, GemmDesc, Layout};
use crate::kernels_arm::eltwise;
use crate::kernels_arm::gemm::TILE_COLS;
use crate::kernels_arm::gemm::{self, Arith, DotI8, GemmSpec, Mmla, MmlaUse, MMLA_MIN_ROWS};
use crate::lower;

/// The kernel for `d`, or `None` when this backend leaves it to the next one.
pub(super) fn generate(backend: &str, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
    let name = d.kernel_name(backend);
    let decline = |why: &str| {
        log_decline(backend, &name, why);
        None
    };
    let arith = match choose(d) {
        Ok(a) => a,
        Err(why) => {
            // A transposed B, a B layout the microkernels do not read or a VNNI2 C compose
            // from the layout kernels and the microkernel of the canonical form.
            let parts = Parts {
                takes: &|i| choose(i).is_ok(),
                gemm: &|i| generate(backend, i),
                unary: &|u| Backend::unary(&Neon, u),
                bf16_vnni2: caps::arm().bf16,
            };
            return compose(d, &parts).or_else(|| decline(why));
        }
    };
    let mut epilogues = vec![];
    if !direct(d) {
        let Some(program) = lower::eltwise::epilogue(&d.epilogue) else {
            return decline("the epilogue has no micro-op lowering");
        };
        for (rows, cols) in gemm::tiles(d.m, d.n, arith.tile_cols()) {
            let spec = gemm_epilogue_spec(d, &program, TILE_COLS, rows, cols);
            let bytes = match eltwise::generate(&spec, features()) {
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
        epilogues,
        mmla: mmla(arith),
    };
    install_or_decline(&name, gemm::generate(&spec))
}

/// Whether the NEON backend has a microkernel for `d` on this CPU (what it does not claim
/// falls back to the next backend).
pub fn claims(d: &GemmDesc) -> bool {
    let composed = || canonical(d, caps::arm().bf16).is_some_and(|i| choose(&i).is_ok());
    caps::arm().asimd && (choose(d).is_ok() || composed())
}

/// Whether the microkernel stores C itself (f32/f64/i32 C, no bias, no activation).
fn direct(d: &GemmDesc) -> bool {
    d.epilogue.bias.is_none()
        && d.epilogue.activation == Activation::None
        && matches!(d.c_dtype, DType::F32 | DType::F64 | DType::I32)
}

/// The multiply for `d` on this CPU, or why there is none.
fn choose(d: &GemmDesc) -> Result<Arith, &'static str> {
    use DType::*;
    let c = caps::arm();
    if d.trans_b {
        return Err("transposed B is composed (transpose, then the microkernel)");
    }
    if d.c_layout != Layout::RowMajor {
        return Err("VNNI2 C is composed (the microkernel, then the pack)");
    }
    if d.epilogue.activation.writes_mask() && !d.epilogue.mask_ld.is_multiple_of(8) {
        return Err("mask rows must start on a byte");
    }
    let to_f32 = matches!(d.c_dtype, F32 | BF16 | F16) && d.compute_dtype == F32;
    let vnni = !d.trans_a && direct(d) && d.c_dtype == I32;
    match (d.a_dtype, d.b_dtype, d.b_layout) {
        (F32, F32, Layout::RowMajor)
        | (BF16, BF16, Layout::RowMajor)
        | (F16, F16, Layout::RowMajor)
            if to_f32 =>
        {
            Ok(Arith::Fma32 { input: d.a_dtype })
        }
        (F64, F64, Layout::RowMajor) if direct(d) && d.c_dtype == F64 => Ok(Arith::Fma64),
        (BF16, BF16, Layout::Vnni2) if c.bf16 && !d.trans_a && to_f32 => Ok(Arith::DotBf16),
        (I8, I8, Layout::Vnni4) if c.dotprod && vnni => Ok(Arith::DotI8(DotI8::Sdot)),
        (U8, U8, Layout::Vnni4) if c.dotprod && vnni => Ok(Arith::DotI8(DotI8::Udot)),
        (U8, I8, Layout::Vnni4) if c.i8mm && vnni => Ok(Arith::DotI8(DotI8::UnsignedA)),
        (I8, U8, Layout::Vnni4) if c.i8mm && vnni => Ok(Arith::DotI8(DotI8::SignedA)),
        _ => Err("no NEON microkernel for these dtypes, layouts and epilogue on this CPU"),
    }
}

/// The MMLA form of `arith` where the CPU has it (FEAT_BF16 for `bfmmla`, FEAT_I8MM for the
/// int8 ones), for the tiles tall enough that it beats the dot product
/// ([`MMLA_MIN_ROWS`] says why).
fn mmla(arith: Arith) -> Option<MmlaUse> {
    let c = caps::arm();
    let kind = Mmla::of(arith)?;
    let has = match kind {
        Mmla::Bfmmla => c.bf16,
        _ => c.i8mm,
    };
    has.then_some(MmlaUse {
        kind,
        min_rows: MMLA_MIN_ROWS,
    })
}
