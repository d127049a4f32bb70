//! # tpp — Tensor Processing Primitives
//!
//! A compact virtual tensor ISA of 2D primitives — GEMM and batch-reduce GEMM, unary, binary,
//! ternary and reduce ops over f64, f32, bf16, f16 and int8/int32 — after Georganas et al.
//! (SC'21) and LIBXSMM. A TPP is a descriptor: dispatch it once, call the kernel many times.
//!
//! ```text
//! descriptor ─► validate ─► canonical key ─► cache hit? ─► Kernel ─► call(operands)
//!                                  │ miss
//!                                  ▼
//!                 backend choice (registry order, TPP_TARGET) ─► generate ─► cache
//! ```
//!
//! Layers: [`isa`] (descriptors and their semantics) · [`mod@dispatch`] (validation, cache,
//! backend registry) · [`exec`] (kernel handles, `#[repr(C)]` ABIs, checked calls) ·
//! [`backend`] (the reference oracle and the glue to JIT generators) · [`ops`] (operators
//! built from kernel calls: the large GEMM, convolution, fully connected layers and MLPs,
//! attention, over the parallel loop layer and blocked layouts).
//!
//! ```
//! use tpp::{DType, GemmDesc, UnaryDesc, UnaryOp};
//!
//! let gemm = GemmDesc::new(4, 3, 2, DType::F32).beta(0.0).dispatch()?;
//! let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]; // 4 × 2
//! let b = [1.0f32, 0.0, -1.0, 0.5, 1.0, 2.0]; // 2 × 3
//! let mut c = [f32::NAN; 12]; // beta = 0 never reads C
//! gemm.call(&a[..], &b[..], &mut c[..])?;
//! assert_eq!(&c[..3], &[2.0, 2.0, 3.0]);
//!
//! let relu = UnaryDesc::new(UnaryOp::Relu { mask: false }, 4, 3, DType::F32).dispatch()?;
//! relu.call_in_place(&mut c[..])?;
//! println!("{} on {}", relu.name(), relu.backend());
//! # Ok::<(), tpp::Error>(())
//! ```
#![warn(missing_docs)]

pub mod backend;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod dispatch;
mod error;
pub mod exec;
pub mod ffi;
pub mod isa;
#[path = "../kernels-arm/mod.rs"]
pub mod kernels_arm;
#[path = "../kernels-cuda/mod.rs"]
pub mod kernels_cuda;
#[path = "../kernels-x86/mod.rs"]
pub mod kernels_x86;
pub mod lower;
pub mod ops;

pub use dispatch::{dispatch, dispatch_on, Binary, Descriptor, Gemm, Reduce, Ternary, Unary};
pub use error::{Error, Result};
pub use exec::{
    EquationArgs, EquationKernel, GemmCall, GemmEquationKernel, GemmInputs, In, Kernel, KernelInfo,
    Out, UnaryCall,
};
pub use isa::equations;
pub use isa::{
    bitmask, Activation, BatchReduce, Bias, BiasBroadcast, BinaryDesc, BinaryOp, Broadcast, CmpOp,
    DType, Element, Epilogue, EqInput, EqOp, EqOutput, EqOutputKind, Equation, Expr, GemmDesc,
    Layout, ReduceAxis, ReduceDesc, ReduceOp, TernaryDesc, TernaryOp, UnaryDesc, UnaryOp,
    ValueKind,
};

/// A GEMM / BRGEMM kernel handle.
pub type GemmKernel = Kernel<Gemm>;
/// A unary kernel handle.
pub type UnaryKernel = Kernel<Unary>;
/// A binary kernel handle.
pub type BinaryKernel = Kernel<Binary>;
/// A ternary kernel handle.
pub type TernaryKernel = Kernel<Ternary>;
/// A reduce kernel handle.
pub type ReduceKernel = Kernel<Reduce>;

/// bf16 and f16 element types, re-exported from `half`.
pub use half::{bf16, f16};

/// The README's examples, compiled and run as doctests so the front door stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
