//! The libraries tpp's benches and showcase compare against, kept out of the library: oneDNN
//! and LIBXSMM through the C shims in `c/` (compiled and linked by this crate's `build.rs` when
//! their headers are installed), OpenBLAS loaded at run time, the `gemm` crate, and the
//! register-only peak loops of the multiply instructions.
//!
//! tpp-kernels takes this crate as a dev-dependency, so its link lines reach the benches,
//! examples and tests and never the library or a crate that depends on it.

pub mod dnnl;
pub mod gemm;

/// Whether oneDNN (libdnnl-dev) was found at build time.
pub const HAVE_DNNL: bool = cfg!(tpp_dnnl);
/// Whether LIBXSMM (libxsmm-dev, with libopenblas-dev) was found at build time.
pub const HAVE_XSMM: bool = cfg!(tpp_xsmm);
