//! Support of the CUDA tests: the kernel catalogue and the tools they need.
#![allow(dead_code)]

pub mod catalogue;
pub mod ptxas;
