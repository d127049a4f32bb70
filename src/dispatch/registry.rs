//! The one list of backends, in order of preference.

use crate::backend::reference::Reference;
use crate::backend::Backend;
use std::sync::RwLock;

/// Backends compiled into the crate, best first; the reference is always last and always
/// accepts. JIT backends are added here, in front of it, as they land.
#[cfg(target_arch = "x86_64")]
static BUILTIN: &[&dyn Backend] = &[&crate::backend::amx::Amx, &crate::backend::x86::Avx512];
#[cfg(target_arch = "aarch64")]
static BUILTIN: &[&dyn Backend] = &[&crate::backend::neon::Neon];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
static BUILTIN: &[&dyn Backend] = &[];
static REFERENCE: Reference = Reference;

/// Backends registered at run time (out-of-tree generators, test backends).
static REGISTERED: RwLock<Vec<&'static dyn Backend>> = RwLock::new(Vec::new());

/// Registers a backend: it is tried after the built-in JIT backends and before the reference,
/// and can be forced by name (`TPP_TARGET`, [`crate::dispatch::dispatch_on`]). Registering a
/// name twice keeps the first.
pub fn register_backend(backend: &'static dyn Backend) {
    let mut list = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    let name = backend.name();
    let taken =
        name == REFERENCE.name() || BUILTIN.iter().chain(list.iter()).any(|b| b.name() == name);
    if !taken {
        list.push(backend);
    }
}

/// Every backend, in the order dispatch tries them (reference last).
pub fn backends() -> Vec<&'static dyn Backend> {
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<&'static dyn Backend> = BUILTIN.to_vec();
    all.extend(registered.iter().copied());
    all.push(&REFERENCE);
    all
}

/// The backend called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static dyn Backend> {
    if name == REFERENCE.name() {
        return Some(&REFERENCE);
    }
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    BUILTIN
        .iter()
        .chain(registered.iter())
        .copied()
        .find(|b| b.name() == name)
}

/// The reference backend.
pub fn reference() -> &'static dyn Backend {
    &REFERENCE
}
