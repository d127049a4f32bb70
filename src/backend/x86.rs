//! The AVX-512 backend: thin glue from descriptors to the shared lowering (`crate::lower`)
//! and the `kernels-x86` generators, with the code placed in the W^X arena.

use super::{jit, Backend};
use crate::dispatch::caps;
use crate::exec::{
    eltwise_spec, BinaryArgs, Exec, GemmArgs, ProgramArgs, ProgramSpec, ReduceArgs, TernaryArgs,
    UnaryArgs,
};
use crate::isa::{BinaryDesc, Broadcast, DType, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};
use crate::kernels_x86::eltwise::{self, EltwiseSpec};
use crate::lower;
use std::mem::offset_of;

/// AVX-512 (F, BW, VL, DQ; BF16 for bf16 outputs) code generation.
pub struct Avx512;

/// The caps check shared by every eltwise descriptor: AVX-512, and BF16 for bf16 stores.
fn can_store(out: DType) -> bool {
    let c = caps::x86();
    c.avx512 && (out != DType::BF16 || c.avx512_bf16)
}

fn generate<A: 'static>(name: String, spec: EltwiseSpec) -> Option<Box<dyn Exec<A>>> {
    install_or_decline(&name, eltwise::generate(&spec))
}

impl Avx512 {
    /// Layout transforms (transpose, VNNI pack/unpack, gathers and scatters), every element
    /// size: pure data movement, bit for bit.
    fn layout_transform(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        use crate::isa::UnaryOp;
        use crate::kernels_x86::copy::{self, ColMove, Dest, Source};
        use crate::kernels_x86::{transpose, vnni};
        let size = d.in_dtype.size();
        let (input, output) = (offset_of!(UnaryArgs, input), offset_of!(UnaryArgs, output));
        let args = arg_offsets();
        // The VNNI kernels address the rows of a group by 32-bit displacements.
        let fits = |ld: usize| {
            ld.checked_mul(4 * size)
                .is_some_and(|b| b <= i32::MAX as usize)
        };
        let (r, c, li, lo) = (d.rows, d.cols, d.ld_in, d.ld_out);
        let name = d.kernel_name(self.name());
        let bytes = match d.op {
            UnaryOp::Transpose => transpose::transpose(size, r, c, li, lo, input, output),
            UnaryOp::VnniPack { layout } | UnaryOp::VnniUnpack { layout } => {
                // The row-major side's rows are addressed by displacements.
                let (dir, row_ld) = match d.op {
                    UnaryOp::VnniPack { .. } => (vnni::Direction::Pack, li),
                    _ => (vnni::Direction::Unpack, lo),
                };
                if !fits(row_ld) {
                    return None;
                }
                vnni::generate(dir, size, layout.factor(), r, c, li, lo, input, output)?
            }
            UnaryOp::GatherRows => copy::rows(
                size,
                r,
                c,
                Source::GatherRows { ld: li },
                Dest::Rows { ld: lo },
                args,
            ),
            UnaryOp::ScatterRows => copy::rows(
                size,
                r,
                c,
                Source::Rows { ld: li },
                Dest::ScatterRows { ld: lo },
                args,
            ),
            UnaryOp::GatherCols => copy::cols(ColMove::Gather, size, r, c, li, lo, args),
            UnaryOp::ScatterCols => copy::cols(ColMove::Scatter, size, r, c, li, lo, args),
            _ => return None,
        };
        install_or_decline(&name, bytes)
    }

    /// Same-dtype copies (with broadcasts) and zero fill of any dtype, as raw byte moves: no
    /// conversion, so integers, f64 and NaN payloads come through bit for bit.
    fn raw_move(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        use crate::isa::UnaryOp;
        use crate::kernels_x86::copy::{self, Dest, Source};
        let src = match (d.op, d.broadcast) {
            (UnaryOp::Zero, _) => Source::Zero,
            (_, Broadcast::None) => Source::Rows { ld: d.ld_in },
            (_, Broadcast::Row) => Source::Row,
            (_, Broadcast::Col) => Source::Col,
            (_, Broadcast::Scalar) => Source::Scalar,
        };
        let dst = Dest::Rows { ld: d.ld_out };
        let bytes = copy::rows(d.out_dtype.size(), d.rows, d.cols, src, dst, arg_offsets());
        install_or_decline(&d.kernel_name(self.name()), bytes)
    }
}

fn arg_offsets() -> crate::kernels_x86::copy::ArgOffsets {
    crate::kernels_x86::copy::ArgOffsets {
        input: offset_of!(UnaryArgs, input),
        output: offset_of!(UnaryArgs, output),
        indices: offset_of!(UnaryArgs, indices),
    }
}

/// Installs generated code, or logs why the AVX-512 backend has none.
pub(super) fn install_or_decline<A: 'static, E: std::fmt::Display>(
    name: &str,
    bytes: Result<Vec<u8>, E>,
) -> Option<Box<dyn Exec<A>>> {
    jit::install_or_decline("avx512", name, bytes)
}

impl Backend for Avx512 {
    fn name(&self) -> &'static str {
        "avx512"
    }

    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        super::x86_gemm::generate(self.name(), d)
    }

    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        let same_type_copy = d.op == crate::isa::UnaryOp::Identity && d.in_dtype == d.out_dtype;
        if d.op.is_layout_transform() || same_type_copy || d.op == crate::isa::UnaryOp::Zero {
            // Pure data movement: no bf16 conversion instructions needed.
            if !caps::x86().avx512 {
                return None;
            }
            return if d.op.is_layout_transform() {
                self.layout_transform(d)
            } else {
                self.raw_move(d)
            };
        }
        if !can_store(d.out_dtype) {
            return None;
        }
        let program = lower::eltwise::unary(d)?;
        let spec = eltwise_spec::unary_spec(d, &program);
        generate(d.kernel_name(self.name()), spec)
    }

    fn binary(&self, d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        if !can_store(if d.op.is_compare() {
            DType::F32
        } else {
            d.out_dtype
        }) {
            return None;
        }
        let program = lower::eltwise::binary(d)?;
        let spec = eltwise_spec::binary_spec(d, &program);
        generate(d.kernel_name(self.name()), spec)
    }

    fn ternary(&self, d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        if !can_store(d.out_dtype) {
            return None;
        }
        let program = lower::eltwise::ternary(d)?;
        let spec = eltwise_spec::ternary_spec(d, &program);
        generate(d.kernel_name(self.name()), spec)
    }

    fn program(&self, spec: &ProgramSpec) -> Option<Box<dyn Exec<ProgramArgs>>> {
        if !spec.pass.ports.iter().all(|p| can_store(p.dtype)) {
            return None;
        }
        generate(spec.kernel_name("avx512"), spec.eltwise_spec(true))
    }

    fn reduce(&self, d: &ReduceDesc) -> Option<Box<dyn Exec<ReduceArgs>>> {
        if !can_store(d.out_dtype) {
            return None;
        }
        let bytes = crate::kernels_x86::reduce::generate(d)?;
        install_or_decline(&d.kernel_name(self.name()), bytes)
    }
}
