//! The virtual tensor ISA: descriptors of 2D primitives and their exact semantics.
//!
//! A TPP is a descriptor — shapes, leading dimensions, dtypes, op and flags — that is validated
//! and turned into a kernel once by [`crate::dispatch()`], then called many times. All operands
//! are row-major (see [`matrix`]); column-major callers use the transpose flags.

mod activation;
mod binary;
pub mod dropout;
mod dtype;
mod equation;
pub mod equations;
mod gemm;
mod key;
pub mod matrix;
mod reduce;
mod ternary;
mod unary;

pub use activation::Activation;
pub use binary::{BinaryDesc, BinaryOp, CmpOp};
pub use dtype::{bf16_from_f64, DType, Element};
pub use equation::{EqInput, EqOp, EqOutput, EqOutputKind, Equation, Expr, Node, ValueKind};
pub use gemm::{BatchReduce, Bias, BiasBroadcast, Epilogue, GemmDesc};
pub use matrix::{bitmask, matrix_len, Broadcast, Layout, MAX_DIM};
pub use reduce::{ReduceAxis, ReduceDesc, ReduceOp};
pub use ternary::{TernaryDesc, TernaryOp};
pub use unary::{UnaryDesc, UnaryOp};
