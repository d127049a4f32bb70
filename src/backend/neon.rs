//! The NEON backend (aarch64): thin glue from descriptors to the shared lowering
//! (`crate::lower`) and the `kernels-arm` generators, with the code placed in the W^X arena.
//! Every descriptor it does not take (or that needs a feature the CPU lacks) falls back to the
//! next backend, which `TPP_VERBOSE=1` logs and `KernelInfo::backend` shows.

use super::{jit, Backend};
use crate::dispatch::caps;
use crate::exec::{
    eltwise_spec, BinaryArgs, Exec, GemmArgs, ProgramArgs, ProgramSpec, ReduceArgs, TernaryArgs,
    UnaryArgs,
};
use crate::isa::{BinaryDesc, DType, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};
use crate::kernels_arm::eltwise::{self, EltwiseSpec, Features};
use crate::kernels_arm::reduce::{self, ReduceArgsLayout};
use crate::lower;
use crate::lower::equation::RegisterBudget;
use std::mem::offset_of;

/// Advanced SIMD code generation (ARMv8.0 baseline; FEAT_BF16 and FEAT_I8MM used when the
/// CPU reports them).
pub struct Neon;

/// Installs generated code, or logs why the NEON backend has none.
pub(super) fn install_or_decline<A: 'static, E: std::fmt::Display>(
    name: &str,
    bytes: Result<Vec<u8>, E>,
) -> Option<Box<dyn Exec<A>>> {
    jit::install_or_decline("neon", name, bytes)
}

/// The features of the running CPU the eltwise generator may use.
pub(super) fn features() -> Features {
    Features {
        bf16: caps::arm().bf16,
    }
}

fn generate<A: 'static>(name: String, spec: EltwiseSpec) -> Option<Box<dyn Exec<A>>> {
    install_or_decline(&name, eltwise::generate(&spec, features()))
}

impl Backend for Neon {
    fn name(&self) -> &'static str {
        "neon"
    }

    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        if !caps::arm().asimd {
            return None;
        }
        super::neon_gemm::generate(self.name(), d)
    }

    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        if !caps::arm().asimd {
            return None;
        }
        let same_type_copy = d.op == crate::isa::UnaryOp::Identity && d.in_dtype == d.out_dtype;
        if d.op.is_layout_transform() || same_type_copy || d.op == crate::isa::UnaryOp::Zero {
            // Pure data movement, bit for bit.
            return super::neon_layout::generate(self.name(), d);
        }
        let program = lower::eltwise::unary(d)?;
        let spec = eltwise_spec::unary_spec(d, &program);
        generate(d.kernel_name(self.name()), spec)
    }

    fn reduce(&self, d: &ReduceDesc) -> Option<Box<dyn Exec<ReduceArgs>>> {
        if !caps::arm().asimd {
            return None;
        }
        let args = ReduceArgsLayout {
            input: offset_of!(ReduceArgs, input),
            output: offset_of!(ReduceArgs, output),
        };
        let bytes = reduce::generate(d, args, features().bf16_round())?;
        jit::install(&d.kernel_name(self.name()), bytes)
    }

    fn binary(&self, d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        if !caps::arm().asimd {
            return None;
        }
        let program = lower::eltwise::binary(d)?;
        let spec = eltwise_spec::binary_spec(d, &program);
        generate(d.kernel_name(self.name()), spec)
    }

    fn ternary(&self, d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        if !caps::arm().asimd {
            return None;
        }
        let program = lower::eltwise::ternary(d)?;
        let spec = eltwise_spec::ternary_spec(d, &program);
        generate(d.kernel_name(self.name()), spec)
    }

    /// The program generator's vector registers, predicates included (a NEON predicate is
    /// a vector of all-ones / all-zeros lanes).
    fn program_registers(&self) -> RegisterBudget {
        RegisterBudget {
            vregs: eltwise::PROGRAM_VREGS as u16,
            kregs: None,
        }
    }

    fn program(&self, spec: &ProgramSpec) -> Option<Box<dyn Exec<ProgramArgs>>> {
        let storable = |d: DType| matches!(d, DType::F32 | DType::BF16 | DType::F16);
        if !caps::arm().asimd || !spec.pass.ports.iter().all(|p| storable(p.dtype)) {
            return None;
        }
        // No software prefetch: the next block's pointers in the table are not read.
        generate(spec.kernel_name("neon"), spec.eltwise_spec(false))
    }
}
