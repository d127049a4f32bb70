//! A vector whose elements start on a 64-byte cache line.
//!
//! A `Vec` of a few hundred KiB or more starts 16 bytes past a page (glibc maps it with its
//! header in front), so every 64-byte vector load or store the kernels make over it spans two
//! lines. The operators keep their weights, activations and scratch in these instead.
//! Xeon (model 207), 1 thread, 1×1 convolution 56×56×64 → 64 interleaved with oneDNN (whose
//! own buffers are aligned), median ratio to oneDNN: 0.89–0.90× on `Vec`s, 0.96–0.97× on
//! 64-byte aligned buffers.

use std::ops::{Deref, DerefMut};

/// One cache line of storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// `len` elements of `T` over whole, zero-initialised lines.
pub(crate) struct AlignedVec<T> {
    lines: Vec<Line>,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T> AlignedVec<T> {
    const FITS: () = assert!(std::mem::align_of::<T>() <= 64);

    /// No elements.
    pub const fn new() -> Self {
        AlignedVec {
            lines: Vec::new(),
            len: 0,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Copy + Default> AlignedVec<T> {
    /// `len` copies of `T::default()`.
    pub fn filled(len: usize) -> Self {
        let mut v = Self::new();
        v.refill(len);
        v
    }

    /// Makes this `len` copies of `T::default()`, reusing the allocation where it is large
    /// enough.
    pub fn refill(&mut self, len: usize) {
        let () = Self::FITS;
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .expect("a size that fits in memory");
        self.lines.clear();
        self.lines.resize(bytes.div_ceil(64), Line([0; 64]));
        let p = self.lines.as_mut_ptr().cast::<T>();
        for i in 0..len {
            // SAFETY: element i lies inside the lines (they hold `len` of them) and is
            // aligned (T's alignment divides 64 and its size); written before any read.
            unsafe { p.add(i).write(T::default()) };
        }
        self.len = len;
    }
}

impl<T> Default for AlignedVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Deref for AlignedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lines hold at least `len` elements of `T` from a 64-aligned start (T's
        // alignment divides 64); `refill` wrote every element (or `len` is 0).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T> DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for AlignedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedVec")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::AlignedVec;

    #[test]
    fn starts_on_a_line_and_holds_defaults() {
        for len in [0, 1, 33, 100_000] {
            let mut v = AlignedVec::<u16>::filled(len);
            assert_eq!(v.len(), len);
            assert_eq!(v.as_ptr() as usize % 64, 0);
            assert!(v.iter().all(|&x| x == 0));
            if len > 0 {
                v[len - 1] = 7;
            }
            v.refill(len / 2);
            assert!(v.iter().all(|&x| x == 0) && v.len() == len / 2);
        }
    }
}
