//! Lowering: TPP ops, GEMM epilogues and (later) fused chains → vector micro-op programs, in
//! generic Rust, shared by every JIT backend (DESIGN §3). The reference backend does not use
//! this layer: it stays an independent oracle.

pub mod approx;
pub mod eltwise;
pub mod equation;
pub mod interp;
mod program;
pub mod regalloc;
pub mod spec;

pub use program::{BinOp, Builder, Fold, IntOp, MicroOp, Port, Program, UnOp, K, V};
