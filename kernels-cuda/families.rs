//! Descriptors → PTX kernels: the front door of the generator, one function per family.
//! Elementwise ops go through the shared lowering ([`crate::lower::eltwise`]) exactly as on
//! the CPU backends; data movement, reductions and GEMMs have their own generators. The
//! argument structs are those of [`crate::exec`], passed by value, with device pointers.

use super::eltwise::{self, EltwiseSpec, MaskSpec, PortSpec};
use super::ptx::{Declined, PtxKernel, Target};
use crate::exec::{BinaryArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use crate::isa::{BinaryDesc, Broadcast, GemmDesc, ReduceDesc, TernaryDesc, TernaryOp, UnaryDesc};
use crate::lower::{self, MicroOp, Port, Program};
use std::mem::{offset_of, size_of};

/// The backend name in kernel names (`unary_cuda_sm80_relu_f32_...`).
pub fn backend_name(target: Target) -> &'static str {
    match target {
        Target::Sm80 => "cuda_sm80",
        Target::Sm90a => "cuda_sm90a",
    }
}

fn uses(p: &Program, port: Port) -> bool {
    p.ops.iter().any(|op| match *op {
        MicroOp::Load { port: q, .. } | MicroOp::Store { port: q, .. } => q == port,
        _ => false,
    })
}

fn declined(what: &str) -> Declined {
    Declined(format!(
        "{what}: not an f32-compute elementwise op over f32/bf16/f16"
    ))
}

/// A unary op: layout transforms and raw copies move bits, the others run their micro-op
/// program.
pub fn unary(d: &UnaryDesc, target: Target) -> Result<PtxKernel, Declined> {
    let name = d.kernel_name(backend_name(target));
    if let Some(k) = super::transform::generate(d, &name, target) {
        return k;
    }
    let program = lower::eltwise::unary(d).ok_or_else(|| declined(&name))?;
    let mut ports = vec![];
    let port = |port, dtype, broadcast, ld, arg_offset| PortSpec {
        port,
        dtype,
        broadcast,
        ld,
        arg_offset,
    };
    if uses(&program, Port::In0) {
        ports.push(port(
            Port::In0,
            d.in_dtype,
            d.broadcast,
            d.ld_in,
            offset_of!(UnaryArgs, input),
        ));
    }
    if uses(&program, Port::Aux) {
        ports.push(port(
            Port::Aux,
            d.in_dtype,
            Broadcast::None,
            d.ld_in,
            offset_of!(UnaryArgs, aux),
        ));
    }
    ports.push(port(
        Port::Out,
        d.out_dtype,
        Broadcast::None,
        d.ld_out,
        offset_of!(UnaryArgs, output),
    ));
    let spec = EltwiseSpec {
        name,
        program: &program,
        rows: d.rows,
        cols: d.cols,
        ports,
        mask_in: Some(MaskSpec {
            arg_offset: offset_of!(UnaryArgs, mask_in),
            ld_bits: d.mask_ld,
        }),
        mask_out: Some(MaskSpec {
            arg_offset: offset_of!(UnaryArgs, mask_out),
            ld_bits: d.mask_ld,
        }),
        seed_offset: Some(offset_of!(UnaryArgs, seed)),
        arg_bytes: size_of::<UnaryArgs>(),
    };
    eltwise::generate(&spec, target)
}

/// A binary op (comparisons write a bitmask through `output`).
pub fn binary(d: &BinaryDesc, target: Target) -> Result<PtxKernel, Declined> {
    let name = d.kernel_name(backend_name(target));
    let program = lower::eltwise::binary(d).ok_or_else(|| declined(&name))?;
    let mut ports = vec![
        PortSpec {
            port: Port::In0,
            dtype: d.in0_dtype,
            broadcast: d.broadcast0,
            ld: d.ld_in0,
            arg_offset: offset_of!(BinaryArgs, in0),
        },
        PortSpec {
            port: Port::In1,
            dtype: d.in1_dtype,
            broadcast: d.broadcast1,
            ld: d.ld_in1,
            arg_offset: offset_of!(BinaryArgs, in1),
        },
    ];
    let output = offset_of!(BinaryArgs, output);
    if !d.op.is_compare() {
        ports.push(PortSpec {
            port: Port::Out,
            dtype: d.out_dtype,
            broadcast: Broadcast::None,
            ld: d.ld_out,
            arg_offset: output,
        });
    }
    let spec = EltwiseSpec {
        name,
        program: &program,
        rows: d.rows,
        cols: d.cols,
        ports,
        mask_in: None,
        mask_out: d.op.is_compare().then_some(MaskSpec {
            arg_offset: output,
            ld_bits: d.ld_out,
        }),
        seed_offset: None,
        arg_bytes: size_of::<BinaryArgs>(),
    };
    eltwise::generate(&spec, target)
}

/// A ternary op.
pub fn ternary(d: &TernaryDesc, target: Target) -> Result<PtxKernel, Declined> {
    let name = d.kernel_name(backend_name(target));
    let program = lower::eltwise::ternary(d).ok_or_else(|| declined(&name))?;
    let offsets = [
        offset_of!(TernaryArgs, in0),
        offset_of!(TernaryArgs, in1),
        offset_of!(TernaryArgs, in2),
    ];
    let mut ports: Vec<PortSpec> = [Port::In0, Port::In1, Port::In2]
        .into_iter()
        .enumerate()
        .take(d.op.inputs())
        .map(|(i, port)| PortSpec {
            port,
            dtype: d.in_dtypes[i],
            broadcast: d.broadcasts[i],
            ld: d.ld_in[i],
            arg_offset: offsets[i],
        })
        .collect();
    ports.push(PortSpec {
        port: Port::Out,
        dtype: d.out_dtype,
        broadcast: Broadcast::None,
        ld: d.ld_out,
        arg_offset: offset_of!(TernaryArgs, output),
    });
    let spec = EltwiseSpec {
        name,
        program: &program,
        rows: d.rows,
        cols: d.cols,
        ports,
        mask_in: (d.op == TernaryOp::Select).then_some(MaskSpec {
            arg_offset: offset_of!(TernaryArgs, mask),
            ld_bits: d.mask_ld,
        }),
        mask_out: None,
        seed_offset: None,
        arg_bytes: size_of::<TernaryArgs>(),
    };
    eltwise::generate(&spec, target)
}

/// A reduction.
pub fn reduce(d: &ReduceDesc, target: Target) -> Result<PtxKernel, Declined> {
    let name = d.kernel_name(backend_name(target));
    let _ = size_of::<ReduceArgs>();
    super::reduce::generate(d, &name, target)
}

/// A GEMM or BRGEMM ([`super::gemm`] for the options): the sm_90a wgmma family where
/// [`super::gemm_wgmma::select`] takes the descriptor, the `mma.sync` / SIMT path otherwise
/// (the reason is logged under `TPP_VERBOSE=1` on sm_90a).
pub fn gemm(
    d: &GemmDesc,
    target: Target,
    opts: super::gemm::GemmOptions,
) -> Result<PtxKernel, Declined> {
    match super::gemm_wgmma::select(d, target, opts) {
        Ok(plan) => super::gemm_wgmma::generate_plan(d, plan),
        Err(why) => {
            if target == Target::Sm90a {
                crate::dispatch::env::log(|| {
                    format!(
                        "cuda gemm {}: the mma.sync path ({why})",
                        d.kernel_name(backend_name(target))
                    )
                });
            }
            super::gemm::generate(d, target, opts)
        }
    }
}
