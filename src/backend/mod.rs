//! Backends: things that generate kernels for (some) descriptors. The one list of them lives in
//! [`mod@crate::dispatch`]; each JIT backend is thin glue here over its `kernels-<target>` generator.

#[cfg(target_arch = "x86_64")]
pub mod amx;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod gemm_compose;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod jit;
#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(target_arch = "aarch64")]
pub mod neon_gemm;
#[cfg(target_arch = "aarch64")]
mod neon_layout;
pub mod reference;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_gemm;

use crate::exec::{
    BinaryArgs, Exec, GemmArgs, ProgramArgs, ProgramSpec, ReduceArgs, TernaryArgs, UnaryArgs,
};
use crate::isa::{BinaryDesc, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};
use crate::lower::equation::RegisterBudget;

/// A kernel generator. Each method returns `None` for a descriptor the backend does not
/// support (dispatch then tries the next backend and finally the reference); a backend must
/// never return a kernel whose results differ from the reference beyond the ISA's tolerances.
/// Descriptors reach a backend validated and in canonical form.
pub trait Backend: Send + Sync {
    /// Short name: `reference`, `avx512`, ... (what `TPP_TARGET` selects).
    fn name(&self) -> &'static str;
    /// True only for the portable reference backend.
    fn is_reference(&self) -> bool {
        false
    }
    /// A GEMM / BRGEMM kernel.
    fn gemm(&self, _d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        None
    }
    /// A unary kernel.
    fn unary(&self, _d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        None
    }
    /// A binary kernel.
    fn binary(&self, _d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        None
    }
    /// A ternary kernel.
    fn ternary(&self, _d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        None
    }
    /// A reduce kernel.
    fn reduce(&self, _d: &ReduceDesc) -> Option<Box<dyn Exec<ReduceArgs>>> {
        None
    }
    /// A program kernel: one pass of a lowered equation (a micro-op program over a run-time
    /// number of rows, with `Port::Buf` operands). A backend that implements it runs every
    /// equation; one that does not leaves equations to the reference.
    fn program(&self, _spec: &ProgramSpec) -> Option<Box<dyn Exec<ProgramArgs>>> {
        None
    }
    /// The registers one of its program kernels may use: the equation lowering plans passes
    /// within them (spilling to scratch where a pass would need more).
    fn program_registers(&self) -> RegisterBudget {
        RegisterBudget::COMMON
    }
}
