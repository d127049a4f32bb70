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

/// A vector whose first element is 64-byte aligned, as frameworks allocate activations (and
/// as oneDNN allocates its own memories): the benches give tpp and the copy ceilings operands
/// on the same footing as the peers. (A plain `Vec` of a few hundred KiB starts 16 bytes past
/// a page, so every 64-byte vector access to it splits a cache line.)
pub struct Aligned<T> {
    buf: Vec<T>,
    off: usize,
    len: usize,
}

impl<T: Copy> Aligned<T> {
    /// The first `len` of `values`, after `pad` elements up to the next line.
    pub fn new(values: impl Iterator<Item = T>, len: usize, pad: T) -> Aligned<T> {
        let per = (64 / std::mem::size_of::<T>()).max(1);
        let mut buf: Vec<T> = Vec::with_capacity(len + per);
        buf.resize(per, pad);
        let off = buf.as_ptr().align_offset(64).min(per);
        buf.truncate(off);
        buf.extend(values.take(len));
        assert_eq!(buf.len(), off + len, "fewer values than len");
        Aligned { buf, off, len }
    }
    /// `len` copies of `value`.
    pub fn filled(value: T, len: usize) -> Aligned<T> {
        Aligned::new(std::iter::repeat_n(value, len), len, value)
    }
    pub fn get(&self) -> &[T] {
        &self.buf[self.off..self.off + self.len]
    }
    pub fn get_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.off..self.off + self.len]
    }
}
