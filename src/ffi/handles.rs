//! Kernel handles of the C ABI: opaque ids, never pointers to memory that could be freed.
//!
//! A C caller may pass a handle after releasing it, a handle of another family, or a value that
//! was never a handle. None of these may be undefined behaviour, so a handle is not a pointer
//! at all: it encodes a tag, a slot index and the slot's generation
//! (`TAG << 56 | generation << 24 | index`). Looking it up checks the tag, that the slot
//! exists, and that the slot is live in that generation; releasing a handle bumps the slot's
//! generation, so every earlier handle of the slot stays invalid after the slot is reused.
//! A slot whose generation would overflow is retired, never reused, so no stale handle can
//! ever alias a newer one.
//!
//! What a slot points to is a per-kernel record (the kernel and its info strings), made once
//! per kernel and kept for the process like the kernel itself. Slots live in segments that
//! are never freed, so the lookup on every call is a few atomic loads and takes no lock;
//! dispatch and release (which allocate and free slots) are serialised by one mutex.

use super::{AnyKernel, Fail};
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;
use std::ffi::CString;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

/// An opaque kernel handle (`tpp_kernel *` in C): an id, not an address; it is never
/// dereferenced.
pub struct tpp_kernel {
    _opaque: [u8; 0],
}

/// What a live handle refers to: one per kernel, kept for the process.
pub(crate) struct Record {
    pub kernel: AnyKernel,
    pub name: CString,
    pub backend: CString,
}

/// The top byte of every handle ('t'): a pointer or garbage value is rejected before any
/// table is read.
const TAG: u64 = 0x74;
const INDEX_BITS: u32 = 24;
/// At most this many handles are live at once (a program that dispatches without releasing
/// gets an error here rather than exhausting memory).
const MAX_HANDLES: usize = 1 << INDEX_BITS;
/// Generations are 32 bits; a slot that reaches the last one is retired.
const LAST_GENERATION: u64 = u32::MAX as u64;
/// Slots of the first segment; segment `s` has `FIRST << s`.
const FIRST: usize = 64;
/// Enough segments for `MAX_HANDLES` slots: `FIRST · (2^SEGMENTS − 1) ≥ 2^24`.
const SEGMENTS: usize = 19;

/// One handle slot. `state` is `generation << 1 | live`; `record` is only meaningful while the
/// state says live, and readers check the state again after reading it.
struct Slot {
    state: AtomicU64,
    record: AtomicPtr<Record>,
}

/// The segments, allocated on demand under `REGISTRY`'s lock and never freed.
static SEGMENT: [AtomicPtr<Slot>; SEGMENTS] = [const { AtomicPtr::new(ptr::null_mut()) }; SEGMENTS];

struct Registry {
    /// Slots below this index have been handed out at least once.
    next: usize,
    /// Released slots, ready for reuse with their next generation.
    free: Vec<u32>,
    live: u64,
    /// Kernel (address of its immortal inner record) → its C record.
    records: HashMap<usize, &'static Record, FxBuildHasher>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    free: Vec::new(),
    live: 0,
    records: HashMap::with_hasher(FxBuildHasher),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // The registry's invariants hold between statements, so a panic elsewhere cannot leave
    // it half-updated: a poisoned lock is still usable.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Segment and offset of slot `index`.
fn place(index: usize) -> (usize, usize) {
    let j = index + FIRST;
    let s = (usize::BITS - 1 - j.leading_zeros()) as usize - FIRST.trailing_zeros() as usize;
    (s, j - (FIRST << s))
}

/// The slot at `index`, if its segment exists.
fn slot(index: usize) -> Option<&'static Slot> {
    let (s, off) = place(index);
    let seg = SEGMENT.get(s)?.load(Ordering::Acquire);
    if seg.is_null() {
        return None;
    }
    // SAFETY: a published segment holds `FIRST << s` initialised slots and is never freed;
    // the acquire load pairs with the release store that published it.
    Some(unsafe { &*seg.add(off) })
}

fn encode(index: usize, generation: u64) -> *mut tpp_kernel {
    let v = TAG << 56 | generation << INDEX_BITS | index as u64;
    // An id in the shape of a pointer; it has no provenance and is never dereferenced.
    ptr::without_provenance_mut(v as usize)
}

/// `(index, generation)` of a handle value, or `None` when it is not shaped like one.
fn decode(h: *const tpp_kernel) -> Option<(usize, u64)> {
    let v = h.addr() as u64;
    let index = (v & ((1 << INDEX_BITS) - 1)) as usize;
    let generation = (v >> INDEX_BITS) & LAST_GENERATION;
    (v >> 56 == TAG && generation > 0).then_some((index, generation))
}

fn not_a_handle(h: *const tpp_kernel) -> Fail {
    Fail::arg(format!(
        "kernel ({h:p}) is not a kernel handle from tpp_*_dispatch"
    ))
}

fn released(h: *const tpp_kernel) -> Fail {
    Fail::arg(format!(
        "kernel ({h:p}) was released: a handle must not be used after tpp_kernel_release"
    ))
}

/// The record a live handle refers to.
pub(crate) fn lookup(h: *const tpp_kernel) -> Result<&'static Record, Fail> {
    if h.is_null() {
        return Err(Fail::arg("kernel is null"));
    }
    let (index, generation) = decode(h).ok_or_else(|| not_a_handle(h))?;
    let slot = slot(index).ok_or_else(|| not_a_handle(h))?;
    let want = generation << 1 | 1;
    let state = slot.state.load(Ordering::Acquire);
    if state != want {
        return Err(if state >> 1 >= generation {
            released(h)
        } else {
            not_a_handle(h)
        });
    }
    let record = slot.record.load(Ordering::Acquire);
    // A release and reuse of the slot between the two state loads would make `record` another
    // kernel's: the second load sees it (a record stored after the slot left `want` is only
    // readable together with that change, by the acquire load above).
    if slot.state.load(Ordering::Relaxed) != want {
        return Err(released(h));
    }
    // SAFETY: records are leaked boxes, published (release) before the state said live.
    Ok(unsafe { &*record })
}

/// A new handle for `kernel`.
pub(crate) fn insert(kernel: AnyKernel) -> Result<*mut tpp_kernel, Fail> {
    let mut reg = registry();
    let record: &'static Record = match reg.records.get(&kernel.addr()) {
        Some(r) => r,
        None => {
            let c = |s: &str| CString::new(s).unwrap_or_default();
            let (name, backend) = kernel.names();
            let r = Box::leak(Box::new(Record {
                kernel,
                name: c(name),
                backend: c(backend),
            }));
            reg.records.insert(kernel.addr(), r);
            r
        }
    };
    let (index, slot) = match reg.free.pop() {
        Some(i) => (i as usize, slot(i as usize).expect("a freed slot exists")),
        None => {
            let index = reg.next;
            if index >= MAX_HANDLES {
                return Err(Fail::arg(format!(
                    "{MAX_HANDLES} kernel handles are live: release some (tpp_kernel_release)"
                )));
            }
            let (s, off) = place(index);
            if off == 0 {
                let segment: Box<[Slot]> = (0..FIRST << s)
                    .map(|_| Slot {
                        state: AtomicU64::new(0),
                        record: AtomicPtr::new(ptr::null_mut()),
                    })
                    .collect();
                let p = Box::leak(segment).as_mut_ptr();
                SEGMENT[s].store(p, Ordering::Release);
            }
            reg.next += 1;
            let slot = slot(index).expect("its segment was just published");
            // A fresh slot starts at generation 1 (0 is never a valid handle).
            slot.state.store(1 << 1, Ordering::Relaxed);
            (index, slot)
        }
    };
    let generation = slot.state.load(Ordering::Relaxed) >> 1;
    slot.record
        .store(ptr::from_ref(record).cast_mut(), Ordering::Release);
    slot.state.store(generation << 1 | 1, Ordering::Release);
    reg.live += 1;
    Ok(encode(index, generation))
}

/// Releases a live handle; using it (or releasing it) again is an error.
pub(crate) fn release(h: *const tpp_kernel) -> Result<(), Fail> {
    let mut reg = registry();
    // Under the lock no other release or reuse can interleave: the lookup is the truth.
    lookup(h)?;
    let (index, generation) = decode(h).expect("lookup decoded it");
    let slot = slot(index).expect("lookup found it");
    if generation < LAST_GENERATION {
        slot.state.store((generation + 1) << 1, Ordering::Release);
        reg.free.push(index as u32);
    } else {
        // Retired: its generation cannot grow, so it is never handed out again.
        slot.state.store(generation << 1, Ordering::Release);
    }
    reg.live -= 1;
    Ok(())
}

/// Handles dispatched and not yet released, over the whole process.
pub(crate) fn live() -> u64 {
    registry().live
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{DType, UnaryDesc, UnaryOp};

    fn some_kernel() -> AnyKernel {
        let d = UnaryDesc::new(UnaryOp::Negate, 3, 5, DType::F32);
        AnyKernel::Unary(crate::dispatch_on(&d, "reference").unwrap())
    }

    #[test]
    fn segments_cover_every_index() {
        assert_eq!(place(0), (0, 0));
        assert_eq!(place(63), (0, 63));
        assert_eq!(place(64), (1, 0));
        assert_eq!(place(64 + 127), (1, 127));
        assert_eq!(place(64 + 128), (2, 0));
        let (s, off) = place(MAX_HANDLES - 1);
        assert!(s < SEGMENTS && off < FIRST << s);
    }

    #[test]
    fn stale_and_foreign_values_are_rejected() {
        let k = some_kernel();
        let h = insert(k).unwrap();
        assert!(lookup(h).is_ok());
        release(h).unwrap();
        assert!(lookup(h).is_err(), "use after release");
        assert!(release(h).is_err(), "double release");
        // The slot is reused with the next generation; the old handle stays dead.
        let h2 = insert(k).unwrap();
        assert!(lookup(h).is_err() && lookup(h2).is_ok());
        for v in [1usize, 8, 4096, 0x7400_0000_0000_0000, usize::MAX] {
            assert!(lookup(ptr::without_provenance(v)).is_err(), "{v:#x}");
        }
        // A real heap address is not a handle.
        let b = Box::new(0u64);
        assert!(lookup(ptr::from_ref(&*b).cast()).is_err());
        release(h2).unwrap();
    }

    /// Handle values passed to other threads with no synchronisation of their own (as a C
    /// program may): a lookup there must see the slot's record fully (Miri checks that no read
    /// races with its initialisation), or an error once the handle is released.
    #[test]
    fn handles_published_without_synchronisation() {
        let kernels = [3, 4].map(|rows| {
            let d = UnaryDesc::new(UnaryOp::Abs, rows, 7, DType::F32);
            AnyKernel::Unary(crate::dispatch_on(&d, "reference").unwrap())
        });
        let names = kernels.map(|k| k.names().0.to_string());
        let current = std::sync::atomic::AtomicUsize::new(0);
        let hits = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let n = if cfg!(miri) { 30 } else { 3000 };
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        let h = current.load(Ordering::Relaxed);
                        if h == 0 {
                            std::thread::yield_now();
                            continue;
                        }
                        if let Ok(r) = lookup(ptr::without_provenance(h)) {
                            let name = r.name.to_str().unwrap();
                            assert!(names.iter().any(|n| n == name), "{name}");
                            hits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            for i in 0..n {
                let h = insert(kernels[i % 2]).unwrap();
                current.store(h.addr(), Ordering::Relaxed);
                // Give the readers a chance to find it live (a bounded wait: they may not).
                let seen = hits.load(Ordering::Relaxed);
                for _ in 0..100 {
                    if hits.load(Ordering::Relaxed) > seen {
                        break;
                    }
                    std::thread::yield_now();
                }
                release(h).unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
    }

    #[test]
    fn concurrent_lookups_race_releases() {
        let k = some_kernel();
        let n = if cfg!(miri) { 20 } else { 2000 };
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(move || {
                    for _ in 0..n {
                        let h = insert(k).unwrap();
                        assert!(lookup(h).is_ok());
                        release(h).unwrap();
                        assert!(lookup(h).is_err());
                    }
                });
            }
        });
    }
}
