//! The NEON backend's GEMM glue: takes the descriptors the f32 microkernel reads directly,
//! generates the epilogue kernels of its tile shapes from the shared lowering, then the
//! microkernel that calls them. Everything else falls back (logged under `TPP_VERBOSE`).

use super::neon::{features, install_or_decline};
use crate::dispatch::log_decline;
use crate::exec::{arena, Exec, GemmArgs};
use crate::isa::{Activation, BiasBroadcast, Broadcast, DType, GemmDesc, Layout};
use crate::kernels_arm::eltwise::{self, EltwiseSpec, MaskSpec, PortSpec};
use crate::kernels_arm::gemm::{self, GemmSpec, TILE_COLS};
use crate::kernels_x86::gemm::EpilogueArgs;
use crate::lower::{self, Port};
use std::mem::offset_of;

/// The kernel for `d`, or `None` when this backend leaves it to the next one.
pub(super) fn generate(backend: &str, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
    let name = d.kernel_name(backend);
    let decline = |why: &str| {
        log_decline(backend, &name, why);
        None
    };
    if let Err(why) = takes(d) {
        return decline(why);
    }
    let plain = d.epilogue.bias.is_none() && d.epilogue.activation == Activation::None;
    let mut epilogues = vec![];
    if !(plain && d.c_dtype == DType::F32) {
        let Some(program) = lower::eltwise::epilogue(&d.epilogue) else {
            return decline("the epilogue has no micro-op lowering");
        };
        for (rows, cols) in gemm::tiles(d.m, d.n) {
            let spec = epilogue_spec(d, &program, rows, cols);
            let bytes = match eltwise::generate(&spec, features()) {
                Ok(b) => b,
                Err(why) => return decline(&why.0),
            };
            let tile_name = format!("{name}_epilogue_{rows}x{cols}");
            arena::dump(&tile_name, &bytes);
            let code = arena::install(&bytes).ok()?;
            epilogues.push(((rows, cols), code.ptr() as u64));
        }
    }
    install_or_decline(&name, gemm::generate(&GemmSpec { d, epilogues }))
}

/// Whether the microkernel reads and writes `d` directly, or why not.
fn takes(d: &GemmDesc) -> Result<(), &'static str> {
    if d.a_dtype != DType::F32 || d.b_dtype != DType::F32 || d.compute_dtype != DType::F32 {
        return Err("only the f32 microkernel exists on NEON (f64, bf16 and int8 fall back)");
    }
    if d.trans_a || d.trans_b {
        return Err("transposed A or B falls back");
    }
    if d.b_layout != Layout::RowMajor || d.c_layout != Layout::RowMajor {
        return Err("VNNI B or C falls back");
    }
    if !matches!(d.c_dtype, DType::F32 | DType::BF16 | DType::F16) {
        return Err("C must be f32, bf16 or f16");
    }
    if d.epilogue.activation.writes_mask() && d.epilogue.mask_ld % 8 != 0 {
        return Err("mask rows must start on a byte");
    }
    Ok(())
}

/// The eltwise spec of the epilogue over one `rows × cols` tile (see [`EpilogueArgs`]) whose
/// f32 accumulators lie one full tile width apart.
fn epilogue_spec<'a>(
    d: &GemmDesc,
    program: &'a lower::Program,
    rows: usize,
    cols: usize,
) -> EltwiseSpec<'a> {
    let mut ports = vec![PortSpec {
        port: Port::In0,
        dtype: DType::F32,
        broadcast: Broadcast::None,
        ld: TILE_COLS,
        arg_offset: offset_of!(EpilogueArgs, acc),
    }];
    if let Some(bias) = d.epilogue.bias {
        ports.push(PortSpec {
            port: Port::In1,
            dtype: bias.dtype,
            broadcast: match bias.broadcast {
                BiasBroadcast::Row => Broadcast::Row,
                BiasBroadcast::Col => Broadcast::Col,
            },
            ld: 0,
            arg_offset: offset_of!(EpilogueArgs, bias),
        });
    }
    ports.push(PortSpec {
        port: Port::Out,
        dtype: d.c_dtype,
        broadcast: Broadcast::None,
        ld: d.ldc,
        arg_offset: offset_of!(EpilogueArgs, c),
    });
    EltwiseSpec {
        program,
        rows,
        cols,
        ports,
        mask_in: None,
        mask_out: Some(MaskSpec {
            arg_offset: offset_of!(EpilogueArgs, mask),
            ld_bits: d.epilogue.mask_ld,
        }),
        seed_offset: None,
    }
}
