//! Encoder golden tests (DESIGN §6): what tpp's encoders produce, byte for byte against the GNU
//! assembler (binutils), for x86-64 (every form `kernels-x86/` emits) and aarch64.

pub mod aarch64;
pub mod forms;
pub mod gnu;
pub mod x86;
pub mod x86_memory;
pub mod x86_vector;
