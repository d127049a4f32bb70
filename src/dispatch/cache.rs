//! The kernel cache: descriptor → kernel, one per family. A hit is a lock-free read of an
//! insert-only map keyed by the descriptor itself; a miss validates, canonicalises and
//! generates under a per-family lock, so each key gets exactly one kernel.

use super::env::{log, settings};
use super::registry;
use super::table::InsertOnlyMap;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::exec::{Family, Kernel};
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

static GENERATED: AtomicU64 = AtomicU64::new(0);

/// Kernels generated so far by this process, all families and backends together.
pub fn kernels_generated() -> u64 {
    GENERATED.load(Ordering::Relaxed)
}

/// Kernels forced onto a named backend, keyed by (backend, descriptor).
type ForcedMap<F> = HashMap<(&'static str, <F as Family>::Desc), Kernel<F>, FxBuildHasher>;

/// The cache of one family.
pub struct Cache<F: Family> {
    /// Automatic dispatch (honouring `TPP_TARGET`): the hot path.
    auto: InsertOnlyMap<F::Desc, Kernel<F>, FxBuildHasher>,
    /// Dispatch forced onto a named backend (tests, comparisons): behind a lock.
    forced: Mutex<ForcedMap<F>>,
    /// Serialises generation so that racing threads get one kernel per key.
    miss: Mutex<()>,
}

impl<F: Family> Default for Cache<F> {
    fn default() -> Self {
        Cache {
            auto: InsertOnlyMap::with_hasher(FxBuildHasher),
            forced: Mutex::new(HashMap::default()),
            miss: Mutex::new(()),
        }
    }
}

impl<F: Family> Cache<F> {
    /// Lock-free lookup.
    #[inline]
    pub(crate) fn get(&self, d: &F::Desc) -> Option<Kernel<F>> {
        self.auto.get(d)
    }

    /// Miss path of automatic dispatch.
    #[cold]
    pub(crate) fn dispatch_miss(&self, d: &F::Desc) -> Result<Kernel<F>> {
        F::validate(d)?;
        let _guard = self.miss.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = self.auto.get(d) {
            return Ok(k);
        }
        let canon = F::canonical(d);
        let kernel = match self.auto.get(&canon) {
            Some(k) => k,
            None => self.auto.insert(canon, generate_auto::<F>(&canon)),
        };
        Ok(self.auto.insert(*d, kernel))
    }

    /// Dispatch on the backend called `name`, or an error if it declines.
    pub(crate) fn dispatch_on(&self, d: &F::Desc, name: &str) -> Result<Kernel<F>> {
        F::validate(d)?;
        let backend = registry::find(name).ok_or_else(|| Error::Unsupported {
            backend: "dispatch",
            kernel: format!(
                "{} on unknown backend `{name}` (known: {})",
                F::NAME,
                known_names()
            ),
        })?;
        let canon = F::canonical(d);
        let mut forced = self.forced.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = forced.get(&(backend.name(), canon)) {
            return Ok(*k);
        }
        let k = generate_on::<F>(backend, &canon).ok_or_else(|| Error::Unsupported {
            backend: backend.name(),
            kernel: F::kernel_name(&canon, backend.name()),
        })?;
        forced.insert((backend.name(), canon), k);
        Ok(k)
    }
}

fn known_names() -> String {
    registry::backends()
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn generate_on<F: Family>(backend: &dyn Backend, d: &F::Desc) -> Option<Kernel<F>> {
    let exec = F::generate(backend, d)?;
    GENERATED.fetch_add(1, Ordering::Relaxed);
    Some(Kernel::new(backend, *d, exec))
}

/// Picks the backend: `TPP_TARGET`'s if set and willing, else the first willing one in the
/// registry; the reference accepts everything.
fn generate_auto<F: Family>(d: &F::Desc) -> Kernel<F> {
    let mut order: Vec<&dyn Backend> = registry::backends();
    let mut forced_reference = false;
    if let Some(target) = &settings().target {
        match registry::find(target) {
            // A forced target is tried alone, then the reference is the fallback.
            Some(b) => {
                forced_reference = b.is_reference();
                order = vec![b, registry::reference()];
            }
            None => warn_unknown_target(target),
        }
    }
    let several = order.len() > 1;
    for backend in order {
        if let Some(k) = generate_on::<F>(backend, d) {
            let why = if k.is_reference() && !forced_reference && several {
                " (fallback: no other backend generates it)"
            } else {
                ""
            };
            log(|| format!("dispatch {} -> {}{why}", k.name(), k.backend()));
            return k;
        }
    }
    unreachable!("the reference backend accepts every valid descriptor")
}

fn warn_unknown_target(target: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        eprintln!(
            "tpp: TPP_TARGET={target} names no backend (known: {}); choosing automatically",
            known_names()
        )
    });
}
