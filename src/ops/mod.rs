//! Operators: higher-dimensional computations written in generic Rust as loops over TPP
//! kernel calls, parallel with rayon.
//!
//! Any slice works, but operands that start on a 64-byte line run faster: the kernels move
//! 64-byte vectors, which straddle two lines otherwise (and a `Vec` of a few hundred KiB
//! starts 16 bytes past a page). The plans keep their own weights, activations and scratch
//! aligned so.

mod aligned;
mod attention;
mod attention_bwd;
mod bert;
mod conv;
mod conv_taps;
mod gemm;
pub mod layout;
mod linear;
pub mod loops;
mod mlp;
mod pack;
mod raw;
mod scratch;

pub use attention::{Attention, AttentionOptions};
pub use attention_bwd::AttentionGrads;
pub use bert::{lengths_from_mask, BertLayer, BertOptions, BertWeights};
pub use conv::{Conv2d, ConvOptions, ConvShape};
pub use gemm::{matmul, matmul_raw, Matmul, MatmulElem, Order, Precision};
pub use layout::{default_block, ActLayout, WeightLayout};
pub use linear::{Linear, LinearOptions};
pub use loops::{LoopNest, LoopSpec};
pub use mlp::Mlp;
pub use raw::OpElem;
