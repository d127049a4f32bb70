//! x86-64 code generation (AVX-512 and AMX): typed registers over the iced-x86 assembler,
//! and the generators. Pure code generation: it compiles on every host; the bytes only run on
//! an x86-64 CPU with the features the caller checked.

pub mod amx;
pub mod asm;
mod assemble;
pub mod convert;
pub mod copy;
pub mod eltwise;
pub mod gemm;
pub mod gemm_amx;
pub mod gemm_blocking;
mod gemm_epilogue;
pub mod reduce;
pub mod transpose;
pub mod vnni;
