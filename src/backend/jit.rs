//! Generated machine code as kernels: installing a generator's bytes in the W^X code arena
//! (and dumping them under `TPP_DUMP`), shared by every JIT backend.

use crate::exec::{arena, Exec};
use std::marker::PhantomData;

/// A generated kernel: `extern "C" fn(*const A)` in the code arena.
struct Jit<A> {
    entry: unsafe extern "C" fn(*const A),
    size: usize,
    _args: PhantomData<fn(&A)>,
}

impl<A> Exec<A> for Jit<A> {
    unsafe fn run(&self, args: &A) {
        (self.entry)(args)
    }
    fn code_size(&self) -> usize {
        self.size
    }
}

/// Installs `bytes`, a complete function of the platform's C calling convention taking one
/// pointer to `A`, as the kernel `name`.
pub(super) fn install<A: 'static>(name: &str, bytes: Vec<u8>) -> Option<Box<dyn Exec<A>>> {
    arena::dump(name, &bytes);
    let code = arena::install(&bytes).ok()?;
    arena::perf_map(code, name);
    // SAFETY: the generators emit a complete function taking one pointer, and the arena made
    // it executable (and, on aarch64, visible to instruction fetch).
    let entry =
        unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(*const A)>(code.ptr()) };
    Some(Box::new(Jit {
        entry,
        size: code.len(),
        _args: PhantomData,
    }))
}

/// Installs generated code, or logs (under `TPP_VERBOSE`) why `backend` has none for `name`.
pub(super) fn install_or_decline<A: 'static, E: std::fmt::Display>(
    backend: &str,
    name: &str,
    bytes: Result<Vec<u8>, E>,
) -> Option<Box<dyn Exec<A>>> {
    match bytes {
        Ok(bytes) => install(name, bytes),
        Err(e) => {
            crate::dispatch::log_decline(backend, name, &e.to_string());
            None
        }
    }
}

/// Installs a part of a kernel that the kernel calls (a GEMM's epilogue over one tile shape):
/// its entry address.
pub(super) fn install_part(name: &str, bytes: &[u8]) -> Result<u64, String> {
    arena::dump(name, bytes);
    let code = arena::install(bytes).map_err(|e| e.to_string())?;
    arena::perf_map(code, name);
    Ok(code.ptr() as u64)
}
