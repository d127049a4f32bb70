//! Operators: higher-dimensional computations written in generic Rust as loops over TPP
//! kernel calls, parallel with rayon.

mod gemm;
mod pack;

pub use gemm::{matmul, matmul_raw, Matmul, MatmulElem, Order, Precision};
