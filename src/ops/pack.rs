//! Packing of the large GEMM's operands into the blocked layouts its BRGEMM calls read: A as
//! `[m blocks][k blocks][bm × bk]` (row-major blocks), B as `[n blocks][k blocks][bk × bn]`
//! (row-major, or VNNI2 for bf16). Edges are zero-padded, so every block has the full shape
//! and the zero rows / columns contribute nothing to the sums.

use crate::exec::UnaryArgs;
use crate::isa::{Layout, UnaryDesc, UnaryOp};
use rayon::prelude::*;

/// A matrix as stored: element `(i, j)` of the *logical* operand at `i·rs + j·cs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<T> {
    pub ptr: *const T,
    pub rows: usize,
    pub cols: usize,
    /// Row and column strides (elements).
    pub rs: usize,
    pub cs: usize,
}

// SAFETY: a view is read-only; the caller guarantees the memory outlives the packing.
unsafe impl<T: Sync> Send for View<T> {}
unsafe impl<T: Sync> Sync for View<T> {}

impl<T> View<T> {
    /// The `rows × cols` part from `(r0, c0)` on.
    ///
    /// # Safety
    /// `(r0, c0)` must lie inside the view (or at its end, with nothing taken).
    pub unsafe fn sub(&self, r0: usize, c0: usize, rows: usize, cols: usize) -> View<T> {
        View {
            ptr: self.ptr.add(r0 * self.rs + c0 * self.cs),
            rows,
            cols,
            ..*self
        }
    }
}

impl<T: Copy> View<T> {
    /// Element `(i, j)`.
    ///
    /// # Safety
    /// `i < rows`, `j < cols`, and the view's memory is valid.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> T {
        *self.ptr.add(i * self.rs + j * self.cs)
    }
}

/// Block shape of a packed operand: `r × c` elements per block, `grid_r × grid_c` blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocks {
    pub r: usize,
    pub c: usize,
    pub grid_r: usize,
    pub grid_c: usize,
}

impl Blocks {
    pub fn len(&self) -> usize {
        self.r * self.c * self.grid_r * self.grid_c
    }
}

/// Copies a view with contiguous rows (`cs == 1`) into `out`, rows `ld_out` elements apart,
/// through tpp's copy kernel (JIT where the backend has one).
///
/// # Safety
/// `v` must describe valid memory.
pub(crate) unsafe fn copy_rows<T: super::MatmulElem>(
    v: View<T>,
    ld_out: usize,
    out: &mut [T],
) -> crate::error::Result<()> {
    debug_assert!(v.cs == 1 && ld_out >= v.cols);
    if v.rows == 0 || v.cols == 0 {
        return Ok(());
    }
    assert!(out.len() >= (v.rows - 1) * ld_out + v.cols);
    let k = UnaryDesc::new(UnaryOp::Identity, v.rows, v.cols, T::DTYPE)
        .ld(v.rs, ld_out)
        .dispatch()?;
    let args = UnaryArgs {
        input: v.ptr.cast(),
        output: out.as_mut_ptr().cast(),
        ..UnaryArgs::default()
    };
    // SAFETY: the view is valid memory (the caller's promise), `out` holds the rows at
    // `ld_out` (asserted), and the kernel was made for exactly these shapes and strides.
    k.call_raw(&args);
    Ok(())
}

/// Packs `alpha·v` into blocks, each `b.r × b.c` row-major (with `vnni2`, in VNNI2: pairs of
/// rows interleaved), ordered `[block row][block column]`, or `[block column][block row]` with
/// `by_cols` (so that B's k blocks of one column block are contiguous).
///
/// # Safety
/// `v` must describe valid memory.
pub(crate) unsafe fn pack<T: super::MatmulElem>(
    v: View<T>,
    b: Blocks,
    vnni2: bool,
    by_cols: bool,
    alpha: f64,
    out: &mut [T],
) {
    let block = b.r * b.c;
    // Full blocks of a row-major bf16 B go through tpp's own VNNI2 pack kernel (JIT, near copy
    // speed); edges, transposed sources and scaled copies take the element loop below.
    let vnni_pack = if vnni2 && v.cs == 1 && alpha == 1.0 && b.r.is_multiple_of(2) {
        UnaryDesc::new(
            UnaryOp::VnniPack {
                layout: Layout::Vnni2,
            },
            b.r,
            b.c,
            T::DTYPE,
        )
        .ld(v.rs, b.c)
        .dispatch()
        .ok()
        .filter(|k| !k.is_reference())
    } else {
        None
    };
    out.par_chunks_mut(block).enumerate().for_each(|(n, dst)| {
        let (bi, bj) = if by_cols {
            (n % b.grid_r, n / b.grid_r)
        } else {
            (n / b.grid_c, n % b.grid_c)
        };
        let (i0, j0) = (bi * b.r, bj * b.c);
        let rows = b.r.min(v.rows.saturating_sub(i0));
        let cols = b.c.min(v.cols.saturating_sub(j0));
        if rows < b.r || cols < b.c {
            dst.fill(T::default());
        }
        if let Some(k) = vnni_pack.filter(|_| rows == b.r && cols == b.c) {
            let args = UnaryArgs {
                input: unsafe { v.ptr.add(i0 * v.rs + j0) }.cast(),
                output: dst.as_mut_ptr().cast(),
                ..UnaryArgs::default()
            };
            // SAFETY: the source block lies inside the view (a full block), `dst` holds the
            // packed block, and the kernel was made for exactly these shapes and strides.
            unsafe { k.call_raw(&args) };
            return;
        }
        if v.cs == 1 && !vnni2 && alpha == 1.0 {
            // Contiguous source rows: copy them whole.
            for i in 0..rows {
                // SAFETY: row `i0 + i`, columns `j0..j0 + cols`, inside the view.
                let src =
                    unsafe { std::slice::from_raw_parts(v.ptr.add((i0 + i) * v.rs + j0), cols) };
                dst[i * b.c..i * b.c + cols].copy_from_slice(src);
            }
            return;
        }
        for i in 0..rows {
            for j in 0..cols {
                // SAFETY: inside the view by the bounds above.
                let x = unsafe { v.at(i0 + i, j0 + j) };
                let x = if alpha == 1.0 { x } else { T::times(x, alpha) };
                let at = if vnni2 {
                    (i / 2) * (2 * b.c) + 2 * j + i % 2
                } else {
                    i * b.c + j
                };
                dst[at] = x;
            }
        }
    });
}
