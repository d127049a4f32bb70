//! CUDA code generation: PTX text built from typed registers and named instruction atoms,
//! the way `kernels-x86/` emits machine code. Pure host code: it compiles and is unit-tested
//! everywhere; the text runs only through a CUDA driver's JIT (`cuModuleLoadData`, see
//! `crate::cuda` under the `cuda` feature) and is checked offline with `ptxas`.
//!
//! Layout: [`ptx`] (registers, kernel builder, targets) · [`atoms`] (`mma`, `ldmatrix`,
//! `cp.async`, ...) · [`microops`] (the shared micro-op programs as PTX) · [`eltwise`],
//! [`reduce`], [`transform`] (the elementwise, reduction and data-movement kernels) ·
//! [`vector`] (v2/v4 global accesses) · [`equation`], [`equation_rows`] (equations: one
//! kernel per group of passes of their plan) · [`wgmma`] (sm_90a warpgroup MMA atoms and tile) ·
//! [`tma`] (sm_90 TMA copies, mbarriers, tensor-map descriptions) · [`gemm_tiling`],
//! [`gemm_load`], [`gemm`], [`gemm_simt`] (GEMM/BRGEMM on `mma.sync`) · [`gemm_wgmma`]
//! (GEMM/BRGEMM on sm_90a `wgmma` fed by TMA) · [`families`]
//! (descriptor → kernel).

pub mod atoms;
pub mod eltwise;
pub mod equation;
pub mod equation_rows;
pub mod families;
pub mod gemm;
pub mod gemm_epilogue;
pub mod gemm_load;
pub mod gemm_simt;
pub mod gemm_tiling;
pub mod gemm_wgmma;
pub mod grid;
pub mod microops;
pub mod ptx;
pub mod reduce;
pub mod tma;
pub mod transform;
pub mod vector;
pub mod wgmma;

pub use equation::{generate as equation_kernels, EquationKernels, EquationPassArgs, PassLaunch};
pub use families::{
    backend_name, binary, gemm as gemm_kernel, reduce as reduce_kernel, ternary, unary,
};
pub use gemm::GemmOptions;
pub use ptx::{Declined, Launch, PtxKernel, Target};
