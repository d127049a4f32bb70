//! aarch64 NEON code generation: typed registers over dynasm's assembler, named-field encoders
//! for the ARMv8.6 instructions it lacks, the micro-op eltwise generator and the GEMM
//! microkernels. Pure code generation: it compiles on every host; the bytes only run on an
//! aarch64 CPU (or `qemu-aarch64`) with the features the caller checked.

// dynasm's `dynasm!` expands every dynamic register operand `X(r)` / `V(r)` to `r.into()`,
// which clippy reports when `r` is already the field type.
#![allow(clippy::useless_conversion)]

pub mod asm;
pub mod convert;
pub mod eltwise;
pub mod gemm;
pub mod gemm_arith;
pub mod layout;
pub mod raw;
pub mod reduce;
pub mod scalef;
