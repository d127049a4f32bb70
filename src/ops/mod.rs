//! Operators: higher-dimensional computations written in generic Rust as loops over TPP
//! kernel calls, parallel with rayon.

mod attention;
mod attention_bwd;
mod bert;
mod conv;
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
