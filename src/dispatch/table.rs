//! An insert-only, lock-free-read hash table for the kernel cache.
//!
//! Kernels live for the whole process, so cache entries are never removed or replaced: a
//! reader needs no epoch or hazard-pointer protection (which is what a general concurrent map
//! such as papaya pays ~4 ns per lookup for). Readers load the current table and probe it with
//! acquire loads; writers are serialised by the caller's lock, publish entries with release
//! stores, and grow by building a bigger table and swapping it in. Old tables stay allocated
//! (readers may still be probing them); they total less than the live one.

use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

struct Entry<K, V> {
    hash: u64,
    key: K,
    value: V,
}

struct Table<K, V> {
    mask: usize,
    slots: Box<[AtomicPtr<Entry<K, V>>]>,
}

impl<K, V> Table<K, V> {
    fn new(capacity: usize) -> Self {
        let slots = (0..capacity)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        Table {
            mask: capacity - 1,
            slots,
        }
    }

    /// Stores `e` in the first empty slot of its probe sequence (writer side, under the lock).
    fn place(&self, e: *mut Entry<K, V>, hash: u64) {
        let mut i = hash as usize & self.mask;
        while !self.slots[i].load(Ordering::Relaxed).is_null() {
            i = (i + 1) & self.mask;
        }
        self.slots[i].store(e, Ordering::Release);
    }
}

/// The map: `get` from any thread at any time, `insert` serialised by an internal lock.
pub(crate) struct InsertOnlyMap<K, V, S> {
    table: AtomicPtr<Table<K, V>>,
    writer: Mutex<Writer<K, V>>,
    hasher: S,
    _owns: PhantomData<Box<Entry<K, V>>>,
}

struct Writer<K, V> {
    len: usize,
    retired: Vec<*mut Table<K, V>>,
}

// SAFETY: the raw pointers in `Writer` are owned tables, only touched under the mutex;
// sending or sharing the map is sound when its entries may be sent and shared (`_owns`).
unsafe impl<K: Send, V: Send> Send for Writer<K, V> {}

impl<K: Hash + Eq, V: Copy, S: BuildHasher> InsertOnlyMap<K, V, S> {
    pub(crate) fn with_hasher(hasher: S) -> Self {
        InsertOnlyMap {
            table: AtomicPtr::new(Box::into_raw(Box::new(Table::new(64)))),
            writer: Mutex::new(Writer {
                len: 0,
                retired: Vec::new(),
            }),
            hasher,
            _owns: PhantomData,
        }
    }

    /// Lock-free lookup.
    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let hash = self.hasher.hash_one(key);
        // SAFETY: tables and entries are never freed while the map is alive (only in `drop`,
        // which has exclusive access); the acquire loads pair with the release stores that
        // published them, so every field is initialised.
        unsafe {
            let table = &*self.table.load(Ordering::Acquire);
            let mut i = hash as usize & table.mask;
            loop {
                let e = table.slots[i].load(Ordering::Acquire);
                if e.is_null() {
                    return None;
                }
                let e = &*e;
                if e.hash == hash && e.key == *key {
                    return Some(e.value);
                }
                i = (i + 1) & table.mask;
            }
        }
    }

    /// Inserts `key → value` unless the key is present; returns the value now stored.
    pub(crate) fn insert(&self, key: K, value: V) -> V {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = self.get(&key) {
            return v;
        }
        let hash = self.hasher.hash_one(&key);
        let mut raw = self.table.load(Ordering::Relaxed);
        // SAFETY: only writers (holding the lock) replace the table, so it is live.
        let mut table = unsafe { &*raw };
        if 2 * (w.len + 1) > table.slots.len() {
            let bigger = Table::new(2 * table.slots.len());
            for slot in table.slots.iter() {
                let e = slot.load(Ordering::Relaxed);
                if !e.is_null() {
                    // SAFETY: entries are live for the life of the map.
                    bigger.place(e, unsafe { (*e).hash });
                }
            }
            w.retired.push(raw);
            raw = Box::into_raw(Box::new(bigger));
            self.table.store(raw, Ordering::Release);
            // SAFETY: just allocated, owned by the map from now on.
            table = unsafe { &*raw };
        }
        let entry = Box::into_raw(Box::new(Entry { hash, key, value }));
        table.place(entry, hash);
        w.len += 1;
        value
    }
}

impl<K, V, S> Drop for InsertOnlyMap<K, V, S> {
    fn drop(&mut self) {
        let w = self.writer.get_mut().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `&mut self`: no reader is left. Every entry sits in the live table exactly
        // once; retired tables only share those entry pointers.
        unsafe {
            let table = Box::from_raw(*self.table.get_mut());
            for slot in table.slots.iter() {
                let e = slot.load(Ordering::Relaxed);
                if !e.is_null() {
                    drop(Box::from_raw(e));
                }
            }
            for t in w.retired.drain(..) {
                drop(Box::from_raw(t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxBuildHasher;

    #[test]
    fn grows_and_finds_everything() {
        let m = InsertOnlyMap::with_hasher(FxBuildHasher);
        // Miri (`cargo +nightly miri test --lib dispatch::table`) runs a smaller map.
        let n = if cfg!(miri) { 300 } else { 10_000u64 };
        for i in 0..n {
            assert_eq!(m.insert(i, i * 3), i * 3);
        }
        assert_eq!(m.insert(5, 99), 15, "an existing key keeps its value");
        for i in 0..n {
            assert_eq!(m.get(&i), Some(i * 3));
        }
        assert_eq!(m.get(&n), None);
    }

    #[test]
    fn concurrent_readers_see_every_published_key() {
        let m = InsertOnlyMap::with_hasher(FxBuildHasher);
        let (n, step) = if cfg!(miri) {
            (400, 20)
        } else {
            (20_000u64, 1000)
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..n {
                    m.insert(i, i);
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut seen = 0;
                    while seen < n {
                        // Keys are inserted in order: once `seen` is visible, all below are.
                        if m.get(&seen).is_some() {
                            for j in 0..seen {
                                assert_eq!(m.get(&j), Some(j));
                            }
                            seen += step;
                        } else {
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
    }
}
