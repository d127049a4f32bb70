//! Running kernels: handles, the `#[repr(C)]` kernel ABIs, and the safe calls that check
//! caller memory against the descriptor before any kernel touches it.

pub mod arena;
mod args;
mod call_eltwise;
mod call_gemm;
pub mod eltwise_spec;
mod equation;
mod gemm_equation;
mod kernel;
pub(crate) mod operand;
mod program;

pub use args::{BinaryArgs, EpilogueArgs, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
pub use call_eltwise::UnaryCall;
pub use call_gemm::{GemmCall, GemmInputs};
pub use equation::{EquationArgs, EquationKernel};
pub use gemm_equation::GemmEquationKernel;
pub use kernel::{Exec, Family, Kernel, KernelInfo};
pub use operand::{In, Out};
pub use program::{Prefetch, ProgramArgs, ProgramSpec};
