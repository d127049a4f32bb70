//! Large GEMM by BRGEMM composition (the TPP paper's recipe): A and B are packed into blocks,
//! and each `bm × bn` block of C is one batch-reduce GEMM over a chunk of k blocks. Chunks of
//! k are sized so that a chunk of A blocks and of B blocks fit half of L2 together; the B chunk
//! of a column block is reused by every row block. Blocks of C are independent, so rayon runs
//! groups of them in parallel (column groups, or row-by-column tiles when there are few
//! columns); the k chunks of one block run in order, the first with the caller's beta.
//!
//! `f32`, `f64`, and `bf16` inputs (VNNI2-packed B; AMX tiles where the CPU has them, else
//! `vdpbf16ps` on AVX-512) with an f32 C;
//! row- or column-major storage, either transpose, any alpha and beta, any sizes.

use super::pack::{copy_rows, pack, Blocks, View};
use crate::error::{Error, Result};
use crate::exec::GemmArgs;
use crate::isa::{BatchReduce, DType, GemmDesc};
use crate::GemmKernel;
use half::bf16;
use rayon::prelude::*;

/// How the matrices of a call are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    /// Element `(i, j)` at `i·ld + j` (tpp's own convention).
    #[default]
    RowMajor,
    /// Element `(i, j)` at `i + j·ld` (BLAS's).
    ColMajor,
}

/// An element type of the large GEMM: its inputs, and the type of C.
pub trait MatmulElem: Copy + Default + Send + Sync + 'static {
    /// The type of C.
    type C: Copy + Send + Sync + 'static;
    /// The dtype of A and B.
    const DTYPE: DType;
    /// The dtype of C.
    const C_DTYPE: DType;
    /// Whether B is packed in VNNI2 (bf16).
    const VNNI2: bool;
    /// `c · beta` in C's type.
    fn scale(c: Self::C, beta: f64) -> Self::C;
    /// `x · alpha` in the input type (alpha is folded into B's packing where that is exact
    /// enough: f32 and f64, not bf16).
    fn times(x: Self, alpha: f64) -> Self;
    /// Rounded to bf16 (nearest even), for [`Precision::Bf16`].
    fn to_bf16(self) -> bf16;
}

impl MatmulElem for f32 {
    type C = f32;
    const DTYPE: DType = DType::F32;
    const C_DTYPE: DType = DType::F32;
    const VNNI2: bool = false;
    fn scale(c: f32, beta: f64) -> f32 {
        c * beta as f32
    }
    fn times(x: f32, alpha: f64) -> f32 {
        x * alpha as f32
    }
    fn to_bf16(self) -> bf16 {
        bf16::from_f32(self)
    }
}

impl MatmulElem for f64 {
    type C = f64;
    const DTYPE: DType = DType::F64;
    const C_DTYPE: DType = DType::F64;
    const VNNI2: bool = false;
    fn scale(c: f64, beta: f64) -> f64 {
        c * beta
    }
    fn times(x: f64, alpha: f64) -> f64 {
        x * alpha
    }
    fn to_bf16(self) -> bf16 {
        crate::isa::bf16_from_f64(self)
    }
}

impl MatmulElem for bf16 {
    type C = f32;
    const DTYPE: DType = DType::BF16;
    const C_DTYPE: DType = DType::F32;
    const VNNI2: bool = true;
    fn scale(c: f32, beta: f64) -> f32 {
        <f32 as MatmulElem>::scale(c, beta)
    }
    fn times(x: bf16, alpha: f64) -> bf16 {
        crate::isa::bf16_from_f64(x.to_f64() * alpha)
    }
    fn to_bf16(self) -> bf16 {
        self
    }
}

/// How an f32 large GEMM may multiply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// In the inputs' own precision (the default).
    #[default]
    Full,
    /// Only when the caller asks: f32 A and B are rounded to bf16 (nearest even) and multiplied
    /// on AMX tiles, accumulating in f32 — several times the f32 rate, with each product good
    /// to about three significant digits (relative error ≤ 2⁻⁸ per factor). Where the CPU has
    /// no usable AMX-BF16 (where bf16 would not be faster than f32), the product stays in full
    /// precision. Only for f32 inputs.
    Bf16,
}

/// The shape and scalars of a large GEMM: `C = alpha·op(A)·op(B) + beta·C`, `C` is `m × n`,
/// `op(A)` is `m × k`, `op(B)` is `k × n`. `beta = 0` never reads C.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul {
    /// Storage order of A, B and C.
    pub order: Order,
    /// A is stored as `op(A)ᵀ`.
    pub trans_a: bool,
    /// B is stored as `op(B)ᵀ`.
    pub trans_b: bool,
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The contraction size.
    pub k: usize,
    /// Leading dimension of A as stored.
    pub lda: usize,
    /// Leading dimension of B as stored.
    pub ldb: usize,
    /// Leading dimension of C.
    pub ldc: usize,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the prior C.
    pub beta: f64,
    /// Whether an f32 product may round its inputs to bf16 for AMX tiles.
    pub precision: Precision,
}

impl Matmul {
    /// Row-major `C = A·B` with packed leading dimensions (at least 1, as BLAS has them;
    /// alpha 1, beta 0).
    pub fn new(m: usize, n: usize, k: usize) -> Matmul {
        Matmul {
            order: Order::RowMajor,
            trans_a: false,
            trans_b: false,
            m,
            n,
            k,
            lda: 0,
            ldb: 0,
            ldc: 0,
            alpha: 1.0,
            beta: 0.0,
            precision: Precision::Full,
        }
        .packed_ld()
    }
    /// Column-major storage, with packed leading dimensions for the current transposes.
    pub fn col_major(mut self) -> Self {
        self.order = Order::ColMajor;
        self.packed_ld()
    }
    /// A stored transposed (leading dimensions repacked).
    pub fn trans_a(mut self) -> Self {
        self.trans_a = true;
        self.packed_ld()
    }
    /// B stored transposed (leading dimensions repacked).
    pub fn trans_b(mut self) -> Self {
        self.trans_b = true;
        self.packed_ld()
    }
    /// Sets the leading dimensions.
    pub fn ld(mut self, lda: usize, ldb: usize, ldc: usize) -> Self {
        (self.lda, self.ldb, self.ldc) = (lda, ldb, ldc);
        self
    }
    /// Sets alpha and beta.
    pub fn scalars(mut self, alpha: f64, beta: f64) -> Self {
        (self.alpha, self.beta) = (alpha, beta);
        self
    }
    /// Sets the compute precision ([`Precision::Bf16`] only for f32 inputs).
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    fn packed_ld(mut self) -> Self {
        let row = self.order == Order::RowMajor;
        let (ar, ac) = stored(self.m, self.k, self.trans_a);
        let (br, bc) = stored(self.k, self.n, self.trans_b);
        self.lda = if row { ac } else { ar }.max(1);
        self.ldb = if row { bc } else { br }.max(1);
        self.ldc = if row { self.n } else { self.m }.max(1);
        self
    }

    /// The same product as a row-major problem: a column-major `C = op(A)·op(B)` is the
    /// row-major `Cᵀ = op(B)ᵀ·op(A)ᵀ`, i.e. A and B (and m and n) swap places.
    fn row_major(&self) -> (Matmul, bool) {
        match self.order {
            Order::RowMajor => (*self, false),
            Order::ColMajor => (
                Matmul {
                    order: Order::RowMajor,
                    trans_a: self.trans_b,
                    trans_b: self.trans_a,
                    m: self.n,
                    n: self.m,
                    lda: self.ldb,
                    ldb: self.lda,
                    ..*self
                },
                true,
            ),
        }
    }

    /// Elements A, B and C span (for the slice checks).
    fn extents(&self) -> (usize, usize, usize) {
        let (r, swapped) = self.row_major();
        let (ar, ac) = stored(r.m, r.k, r.trans_a);
        let (br, bc) = stored(r.k, r.n, r.trans_b);
        let len = |rows: usize, cols: usize, ld: usize| {
            if rows == 0 || cols == 0 {
                0
            } else {
                (rows - 1) * ld + cols
            }
        };
        let (a, b) = (len(ar, ac, r.lda), len(br, bc, r.ldb));
        let c = len(r.m, r.n, r.ldc);
        if swapped {
            (b, a, c)
        } else {
            (a, b, c)
        }
    }

    /// Checks the leading dimensions against the stored shapes and the scalars for finiteness.
    pub fn validate(&self) -> Result<()> {
        let r = self.row_major().0;
        let ac = stored(r.m, r.k, r.trans_a).1;
        let bc = stored(r.k, r.n, r.trans_b).1;
        let bad = |field: &'static str, value: usize, allowed: String| {
            Err(Error::InvalidDescriptor {
                family: "matmul",
                field,
                value: value.to_string(),
                allowed,
            })
        };
        let (fa, fb) = match self.order {
            Order::RowMajor => ("lda", "ldb"),
            Order::ColMajor => ("ldb", "lda"),
        };
        if r.lda < ac.max(1) {
            return bad(
                fa,
                r.lda,
                format!(">= {} (the stored rows' length)", ac.max(1)),
            );
        }
        if r.ldb < bc.max(1) {
            return bad(fb, r.ldb, format!(">= {}", bc.max(1)));
        }
        if r.ldc < r.n.max(1) {
            return bad("ldc", self.ldc, format!(">= {}", r.n.max(1)));
        }
        if !self.alpha.is_finite() || !self.beta.is_finite() {
            return Err(Error::InvalidDescriptor {
                family: "matmul",
                field: "alpha/beta",
                value: format!("{}/{}", self.alpha, self.beta),
                allowed: "finite".into(),
            });
        }
        Ok(())
    }
}

/// Rows and columns of an `r × c` operand as stored (transposed or not).
fn stored(r: usize, c: usize, trans: bool) -> (usize, usize) {
    if trans {
        (c, r)
    } else {
        (r, c)
    }
}

/// `C = alpha·op(A)·op(B) + beta·C` over slices, checked against the problem.
///
/// Runs on the current rayon pool (`pool.install(|| matmul(..))` to choose the threads).
pub fn matmul<T: MatmulElem>(p: &Matmul, a: &[T], b: &[T], c: &mut [T::C]) -> Result<()> {
    p.validate()?;
    let (la, lb, lc) = p.extents();
    for (name, have, need) in [("a", a.len(), la), ("b", b.len(), lb), ("c", c.len(), lc)] {
        if have < need {
            return Err(Error::InvalidOperand {
                operand: name,
                problem: format!("holds {have} elements, the problem spans {need}"),
            });
        }
    }
    // SAFETY: the slices cover the extents just checked.
    unsafe { matmul_raw(p, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) }
}

/// [`matmul`] on raw pointers (the BLAS and C entry points).
///
/// # Safety
/// The problem must be valid (leading dimensions at least the stored rows' lengths) and each
/// pointer valid for the elements its operand spans (`C` for writes; A and B are not read
/// when `k = 0` or `alpha = 0`, C is not read when `beta = 0`).
pub unsafe fn matmul_raw<T: MatmulElem>(
    p: &Matmul,
    a: *const T,
    b: *const T,
    c: *mut T::C,
) -> Result<()> {
    if p.precision == Precision::Bf16 && T::DTYPE != DType::F32 {
        return Err(Error::InvalidDescriptor {
            family: "matmul",
            field: "precision",
            value: format!("Bf16 with {} inputs", T::DTYPE),
            allowed: "Bf16 only for f32 inputs; Full for any".into(),
        });
    }
    let (r, swapped) = p.row_major();
    if r.m == 0 || r.n == 0 {
        return Ok(());
    }
    if p.precision == Precision::Bf16 && amx_bf16() && r.k > 0 && r.alpha != 0.0 {
        return bf16_product(p, a, b, c.cast());
    }
    let (a, b) = if swapped { (b, a) } else { (a, b) };
    if r.k == 0 || r.alpha == 0.0 {
        scale_c::<T>(&r, r.beta, c);
        return Ok(());
    }
    Plan::<T>::new(&r)?.run(&r, a, b, c)
}

/// [`Precision::Bf16`]: A and B rounded to bf16 copies (the extents they span, padding
/// included), then the bf16 product on tiles into the f32 C.
unsafe fn bf16_product<T: MatmulElem>(
    p: &Matmul,
    a: *const T,
    b: *const T,
    c: *mut f32,
) -> Result<()> {
    let (la, lb, _) = p.extents();
    let row = p.order == Order::RowMajor;
    // The stored lines (rows, or columns for column-major) of an `r × c` operand, each
    // rounded in parallel; the gaps between lines (which a caller may leave uninitialised)
    // are never read and stay zero.
    let round = |x: *const T, len: usize, (r, c): (usize, usize), ld: usize| -> Vec<bf16> {
        let (lines, width) = if row { (r, c) } else { (c, r) };
        let src = SharedMut(x.cast_mut());
        let mut out = vec![bf16::ZERO; len];
        out.par_chunks_mut(ld.max(1))
            .take(lines)
            .enumerate()
            .for_each(|(l, dst)| {
                for (e, d) in dst[..width].iter_mut().enumerate() {
                    // SAFETY: element (l, e) of the operand lies inside its extent.
                    *d = unsafe { src.get().add(l * ld + e).read() }.to_bf16();
                }
            });
        out
    };
    let a16 = round(a, la, stored(p.m, p.k, p.trans_a), p.lda);
    let b16 = round(b, lb, stored(p.k, p.n, p.trans_b), p.ldb);
    let full = Matmul {
        precision: Precision::Full,
        ..*p
    };
    matmul_raw::<bf16>(&full, a16.as_ptr(), b16.as_ptr(), c)
}

/// `C = beta·C` over the `m × n` of a row-major problem: zeros without reading C for beta 0,
/// nothing for beta 1.
unsafe fn scale_c<T: MatmulElem>(r: &Matmul, beta: f64, c: *mut T::C) {
    if beta == 1.0 {
        return;
    }
    for i in 0..r.m {
        let row = c.add(i * r.ldc);
        for j in 0..r.n {
            let x = row.add(j);
            if beta == 0.0 {
                x.write(T::scale(std::mem::zeroed(), 0.0));
            } else {
                x.write(T::scale(x.read(), beta));
            }
        }
    }
}

thread_local! {
    /// Packing buffers kept for this thread's next call.
    static PACK_BUFFERS: std::cell::RefCell<Vec<Vec<u64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A packing buffer of this thread (moved out, so a nested call gets its own).
fn take_buffer() -> Vec<u64> {
    PACK_BUFFERS
        .with(|b| b.borrow_mut().pop())
        .unwrap_or_default()
}

/// Returns a buffer for later calls (at most two are kept).
fn give_buffer(v: Vec<u64>) {
    PACK_BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < 2 {
            b.push(v);
        }
    });
}

/// `len` elements of `T` in `buf` (grown as needed; 8-byte words suit every element type),
/// from a cache-line boundary on: vector loads of packed rows that straddle two lines cost
/// two accesses each.
fn as_elems<T: MatmulElem>(buf: &mut Vec<u64>, len: usize) -> &mut [T] {
    const LINE_WORDS: usize = 64 / 8;
    let words = (len * std::mem::size_of::<T>()).div_ceil(8) + LINE_WORDS;
    if buf.len() < words {
        buf.resize(words, 0);
    }
    let skip = buf.as_ptr().align_offset(64).min(LINE_WORDS);
    // SAFETY: the words from `skip` on cover `len` elements, are 8-aligned (at least T's
    // alignment), and every bit pattern is a valid f32, f64 or bf16.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().add(skip).cast::<T>(), len) }
}

/// Whether the bf16 BRGEMM kernels run on AMX tiles here.
fn amx_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::backend::amx::bf16_ready();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the core is Intel's (the large GEMM's B groups are sized per vendor).
fn intel_core() -> bool {
    crate::dispatch::caps::x86().vendor == crate::dispatch::caps::Vendor::Intel
}

/// Block sizes and kernels of one call.
struct Plan<T: MatmulElem> {
    bm: usize,
    bn: usize,
    bk: usize,
    /// k blocks per BRGEMM call.
    chunk: usize,
    /// Column blocks per task.
    group: usize,
    kb: usize,
    _t: std::marker::PhantomData<T>,
}

/// A pointer that rayon tasks share; each writes its own blocks of C.
#[derive(Clone, Copy)]
struct SharedMut<C>(*mut C);
// SAFETY: tasks write disjoint blocks of C.
unsafe impl<C> Send for SharedMut<C> {}
unsafe impl<C> Sync for SharedMut<C> {}

impl<C> SharedMut<C> {
    /// The pointer (a method, so closures capture the wrapper, not the raw field).
    fn get(&self) -> *mut C {
        self.0
    }
}

impl<T: MatmulElem> Plan<T> {
    fn new(r: &Matmul) -> Result<Self> {
        // 48 rows = 8 register tiles of 6 rows; 64 columns = 4 zmm vectors of f32. On AMX
        // tiles, 64 rows = two blocks of 2 × 2 tiles (no edge configuration), and A is packed:
        // in place, a power-of-two lda puts a tile's 16 rows into two L1 sets.
        let tiles = T::VNNI2 && amx_bf16();
        let (bm, bn, bk) = if tiles { (64, 64, 64) } else { (48, 64, 64) };
        let size = T::DTYPE.size();
        let l2 = crate::dispatch::caps::caches().l2;
        let kb = r.k.div_ceil(bk);
        // A chunk of an A block in an eighth of L2; the B chunks of a task's column group in
        // the whole of it on AMD cores (measured at 2048³ f32 on Zen 4: 8 k blocks × 8 column
        // blocks on its 1 MiB L2 run 30% faster than one column block at a time, which
        // re-reads A from L3), in a quarter of it on Intel cores (Xeon with 2 MiB L2, 1 thread,
        // the three choices interleaved in one process, medians of 13: 2048³ f32 98.5, 104.1
        // and 108.8 GFLOP/s for the whole, half and quarter; 4096³ 103.4, 108.9 and 111.3;
        // the spread within one choice was ±15% on that shared machine).
        let chunk = (l2 / (8 * bm * bk * size)).clamp(1, 16).min(kb);
        let b_share = if intel_core() { 4 } else { 1 };
        let group = (l2 / (b_share * chunk * bk * bn * size)).clamp(1, 16);
        Ok(Plan {
            bm,
            bn,
            bk,
            chunk,
            group,
            kb,
            _t: std::marker::PhantomData,
        })
    }

    /// The BRGEMM kernel for an `mm × nn` block of C over `kk`-deep blocks of A (leading
    /// dimension `lda`, the next block `a_step` elements on) and of B (packed blocks, or rows
    /// `ldb` apart).
    fn kernel(
        &self,
        r: &Matmul,
        (mm, nn, kk): (usize, usize, usize),
        (lda, a_step): (usize, usize),
        ldb: usize,
        (alpha, beta): (f64, f64),
    ) -> Result<GemmKernel> {
        let mut d = GemmDesc::new(mm, nn, kk, T::DTYPE)
            .output(T::C_DTYPE)
            .ld(lda, ldb, r.ldc)
            .alpha(alpha)
            .beta(beta)
            .batch(BatchReduce::Stride {
                a: a_step,
                b: self.bk * ldb,
            });
        if T::VNNI2 {
            d = d.vnni_b();
        }
        d.dispatch()
    }

    /// Column blocks per task and k blocks per chunk where each task copies its B rows: rows
    /// of a page or more (fewer columns where the threads would run out of tasks), and about
    /// a quarter of L2 of them (Xeon, 2 MiB L2: 64×4096×4096 f32 at 1 and 2 threads, chunks of
    /// 1 and 2 k blocks interleaved in one process, 2 ahead by 2–4%).
    fn copy_shape(&self, nb: usize, threads: usize) -> (usize, usize) {
        let size = T::DTYPE.size();
        let page = (4096 / (self.bn * size)).max(1);
        let group = page.min(nb.div_ceil(threads)).max(1);
        let l2 = crate::dispatch::caps::caches().l2;
        let k_block = (group * self.bn + 64 / size) * size * self.bk;
        let chunk = (l2 / 4 + k_block / 2) / k_block;
        (group, chunk.clamp(1, self.kb))
    }

    unsafe fn run(&self, r: &Matmul, a: *const T, b: *const T, c: *mut T::C) -> Result<()> {
        let (bm, bn, bk) = (self.bm, self.bn, self.bk);
        let (mb, nb) = (r.m.div_ceil(bm), r.n.div_ceil(bn));
        // A row-major A is read in place (its k blocks are `bk` apart, its rows `lda`); a
        // transposed A, a bf16 A of odd k (the pairs of the dot products would straddle the
        // partial block) and a bf16 A on AMX tiles are packed as [m block][k block][bm × bk].
        // B is packed, as [n block][k block][bk × bn] (rows of B `ldb` apart would share a few
        // cache sets): all of it up front, or chunk by chunk per task (`stream_b` below).
        let direct_a = !r.trans_a && (!T::VNNI2 || r.k.is_multiple_of(2) && !amx_bf16());
        let (kfull, kedge) = if direct_a {
            (r.k / bk, r.k % bk)
        } else {
            (self.kb, 0)
        };
        let b_view = if r.trans_b {
            View {
                ptr: b,
                rows: r.k,
                cols: r.n,
                rs: 1,
                cs: r.ldb,
            }
        } else {
            View {
                ptr: b,
                rows: r.k,
                cols: r.n,
                rs: r.ldb,
                cs: 1,
            }
        };
        let bblk = Blocks {
            r: bk,
            c: bn,
            grid_r: self.kb,
            grid_c: nb,
        };
        // Packed operands live in this thread's buffers, reused by later calls (fresh pages
        // would cost a fault each).
        let (mut abuf, mut bbuf) = (take_buffer(), take_buffer());
        // With few rows of C (at most two row blocks) each element of B is used once or twice:
        // packing all of B first would write it to memory and read it back, so each task
        // packs the B chunk of its columns just before using it, into a buffer that stays in
        // L2 (a B read in place instead defeats the prefetchers: its rows are pages apart;
        // measured with the rows prefetched in the kernel too, 64×4096×4096 ran at a third of
        // the speed).
        let stream_b = direct_a && r.m <= 2 * bm;
        // A row-major f32/f64 B needs no blocks there: the chunk is a plain copy of whole rows
        // of the task's columns (a page or more each, which the prefetchers stream), its rows
        // one cache line longer than the columns so that they do not alias in L1.
        let copy_b = stream_b && !T::VNNI2 && !r.trans_b;
        let threads = rayon::current_num_threads();
        let (group, chunk_k) = if copy_b {
            self.copy_shape(nb, threads)
        } else {
            (self.group.min(nb), self.chunk)
        };
        let ldb = if copy_b {
            group * bn + 64 / T::DTYPE.size()
        } else {
            bn
        };
        let pb = as_elems::<T>(&mut bbuf, if stream_b { 0 } else { bblk.len() });
        // alpha rides on B as it is packed (as the reference BLAS multiplies it into B's
        // elements), so that the kernels see alpha 1 and other scalars make no new kernels;
        // bf16 (whose rounding would lose it) and a copied B take it in the kernels instead.
        // The kernels' beta is 0 or 1 (any other beta scales C first).
        let alpha_b = if T::VNNI2 || copy_b { 1.0 } else { r.alpha };
        let alpha_k = if T::VNNI2 || copy_b { r.alpha } else { 1.0 };
        if !stream_b {
            pack(b_view, bblk, T::VNNI2, true, alpha_b, pb);
        }
        let first_beta: f64 = if r.beta == 0.0 { 0.0 } else { 1.0 };
        if r.beta != 0.0 && r.beta != 1.0 {
            scale_c::<T>(r, r.beta, c);
        }
        let pa: &[T] = if direct_a {
            &[]
        } else {
            let a_view = if r.trans_a {
                View {
                    ptr: a,
                    rows: r.m,
                    cols: r.k,
                    rs: 1,
                    cs: r.lda,
                }
            } else {
                View {
                    ptr: a,
                    rows: r.m,
                    cols: r.k,
                    rs: r.lda,
                    cs: 1,
                }
            };
            let ablk = Blocks {
                r: bm,
                c: bk,
                grid_r: mb,
                grid_c: self.kb,
            };
            let pa = as_elems::<T>(&mut abuf, ablk.len());
            pack(a_view, ablk, false, false, 1.0, pa);
            pa
        };
        let (lda, a_step) = if direct_a { (r.lda, bk) } else { (bk, bm * bk) };
        let a_src = SharedMut(a.cast_mut());
        // A block (i, kc): its first element.
        let a_block = |i: usize, kc: usize| -> *const T {
            if direct_a {
                a_src.get().add(i * bm * r.lda + kc * bk)
            } else {
                pa.as_ptr().add((i * self.kb + kc) * bm * bk)
            }
        };
        // Kernels per edge shape, depth and beta (the first call: the caller's beta; then 1).
        let (me, ne) = (r.m - (mb - 1) * bm, r.n - (nb - 1) * bn);
        let mut kernels = vec![];
        for beta in [first_beta, 1.0] {
            for (mm, nn) in [(bm, bn), (me, bn), (bm, ne), (me, ne)] {
                let (mm, nn) = (mm.min(r.m), nn.min(r.n));
                for kk in [if kfull > 0 { bk } else { 0 }, kedge] {
                    if kk > 0
                        && !kernels
                            .iter()
                            .any(|(key, _)| *key == (mm, nn, kk, beta.to_bits()))
                    {
                        let k =
                            self.kernel(r, (mm, nn, kk), (lda, a_step), ldb, (alpha_k, beta))?;
                        kernels.push(((mm, nn, kk, beta.to_bits()), k));
                    }
                }
            }
        }
        let find = |mm: usize, nn: usize, kk: usize, beta: f64| {
            kernels
                .iter()
                .find(|(key, _)| *key == (mm, nn, kk, beta.to_bits()))
                .map(|(_, k)| *k)
                .expect("a kernel for every block shape")
        };
        // Tasks: groups of `group` column blocks (whose B chunk stays in L2 while every row
        // block's A chunk passes through), split into row ranges too when there are fewer
        // groups than twice the threads.
        let col_groups = nb.div_ceil(group);
        // Streaming B, every row task of a column group would pack the same chunks again.
        let row_groups = if col_groups >= 2 * threads || stream_b {
            1
        } else {
            (2 * threads).div_ceil(col_groups).min(mb)
        };
        let rows_per = mb.div_ceil(row_groups);
        let tasks: Vec<(usize, usize)> = (0..col_groups)
            .flat_map(|cg| (0..row_groups).map(move |rg| (cg, rg)))
            .collect();
        let cptr = SharedMut(c);
        let pb = &*pb;
        // The calls of one C block over k: chunks of full k blocks, then the partial block.
        let mut calls = vec![];
        for kc in (0..kfull).step_by(chunk_k) {
            calls.push((kc, chunk_k.min(kfull - kc), bk));
        }
        if kedge > 0 {
            calls.push((kfull, 1, kedge));
        }
        // `b_blk`: B's (j, kc) block, from the whole packed B or a task's chunk.
        let run_block = |j: usize,
                         i: usize,
                         (kc, count, kk): (usize, usize, usize),
                         beta: f64,
                         b_blk: *const T| {
            let mm = if i + 1 == mb { me } else { bm };
            let nn = if j + 1 == nb { ne } else { bn };
            let k = find(mm.min(r.m), nn.min(r.n), kk, beta);
            // SAFETY: A holds `count` k blocks of depth `kk` from block `kc` on (in place or
            // packed), the packed B the same; the C block lies inside the caller's C, and no
            // other task writes it.
            unsafe {
                let args = GemmArgs {
                    a: a_block(i, kc).cast(),
                    b: b_blk.cast(),
                    c: cptr.get().add(i * bm * r.ldc + j * bn).cast(),
                    batch: count as u64,
                    ..GemmArgs::default()
                };
                k.call_raw(&args);
            }
        };
        tasks.par_iter().try_for_each(|&(cg, rg)| -> Result<()> {
            let rows = rg * rows_per..((rg + 1) * rows_per).min(mb);
            let cols = cg * group..((cg + 1) * group).min(nb);
            let mut chunk_buf = if stream_b { take_buffer() } else { vec![] };
            for (n, &call) in calls.iter().enumerate() {
                let beta = if n == 0 { first_beta } else { 1.0 };
                let (kc, count, kk) = call;
                // The chunk's B: copied rows, or packed as [column block][k block][bk × bn].
                let chunk = if copy_b {
                    let (k0, j0) = (kc * bk, cols.start * bn);
                    let view = b_view.sub(k0, j0, count * kk, (r.n - j0).min(cols.len() * bn));
                    let buf = as_elems::<T>(&mut chunk_buf, count * kk * ldb);
                    copy_rows(view, ldb, buf)?;
                    Some(buf.as_ptr())
                } else if stream_b {
                    let (k0, j0) = (kc * bk, cols.start * bn);
                    let view = b_view.sub(
                        k0,
                        j0,
                        (r.k - k0).min(count * bk),
                        (r.n - j0).min(cols.len() * bn),
                    );
                    let blocks = Blocks {
                        r: bk,
                        c: bn,
                        grid_r: count,
                        grid_c: cols.len(),
                    };
                    let buf = as_elems::<T>(&mut chunk_buf, blocks.len());
                    pack(view, blocks, T::VNNI2, true, alpha_b, buf);
                    Some(buf.as_ptr())
                } else {
                    None
                };
                for i in rows.clone() {
                    for j in cols.clone() {
                        let b_blk = match chunk {
                            Some(p) if copy_b => p.add((j - cols.start) * bn),
                            Some(p) => p.add((j - cols.start) * count * bk * bn),
                            None => pb.as_ptr().add((j * self.kb + kc) * bk * bn),
                        };
                        run_block(j, i, call, beta, b_blk);
                    }
                }
            }
            if stream_b {
                give_buffer(chunk_buf);
            }
            Ok(())
        })?;
        give_buffer(abuf);
        give_buffer(bbuf);
        Ok(())
    }
}
