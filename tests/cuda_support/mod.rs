//! Support of the CUDA tests: the kernel catalogue and the tools they need.
#![allow(dead_code)]

#[cfg(feature = "cuda")]
pub mod bridge;
pub mod catalogue;
pub mod emu;
pub mod emu_async;
pub mod emu_bridge;
pub mod emu_equation;
pub mod emu_warp;
pub mod emu_wgmma;
pub mod gemm_check;
pub mod ptxas;
