//! Grouped batch GEMM (feature `blas`): `cblas_sgemm_batch`, `cblas_dgemm_batch` and
//! `cblas_sbgemm_batch`, with the signatures of MKL's and OpenBLAS's `cblas.h`. Group `g`
//! holds `group_size[g]` products sharing layout, transposes, sizes, leading dimensions and
//! scalars (`transa_array[g]`, `m_array[g]`, …, `alpha_array[g]`); entry `e` of the batch
//! (groups in order) is `C[e] = alpha·op(A[e])·op(B[e]) + beta·C[e]` with `a_array[e]`,
//! `b_array[e]`, `c_array[e]`.
//!
//! Checks: the whole batch is checked before any product runs, and the first failure is
//! reported to `cblas_xerbla` (the program's or tpp's) under the batch routine's name, with
//! the position of the batch argument at fault and a message naming the group:
//! the layout (1), `group_count < 0` (15), a null argument array (its position; none is read
//! when `group_count = 0`), then each group in turn: `group_size[g] < 0` (16), its GEMM
//! arguments in `cblas_sgemm`'s order and numbering (the batch's arguments sit at the same
//! positions as `cblas_sgemm`'s: TransA 2, TransB 3, M 4, N 5, K 6, lda 9, ldb 11, ldc 14,
//! row-major ones mapped as the reference CBLAS maps them), then a null `a_array`, `b_array`,
//! `c_array` or matrix pointer that the group's products would read or write (8, 10, 13).
//! Each product quick-returns as `cblas_sgemm` does (nothing touched for `m = 0`, `n = 0`, or
//! `alpha = 0` / `k = 0` with `beta = 1`), so its pointers may then be null. (OpenBLAS reports
//! the same checks to `xerbla_` as `SGEMM_BATCH` with the Fortran GEMM's numbers; MKL reports
//! its CBLAS routines' errors, as here, under the CBLAS name and position.)
//!
//! Products run in parallel on rayon's pool (each is also parallel inside), except when one
//! product's C overlaps another's A, B or C: then the batch runs one product after another in
//! batch order, exactly as the loop of `cblas_sgemm` calls it stands for, so a product may
//! read what an earlier one wrote.

use super::blas::{boundary, BlasElem, Call, Touches};
use super::cblas::{cblas_number, cblas_report, Gemm, Stop, CBLAS_COL_MAJOR, CBLAS_ROW_MAJOR};
use half::bf16;
use rayon::prelude::*;
use std::ffi::{c_int, CStr};
use std::io::Write;

/// One product of the batch, checked, in the column-major form of its call.
struct Entry<T: BlasElem> {
    call: Call,
    a: *const T,
    b: *const T,
    c: *mut T::C,
}

/// The entries' pointers are the caller's; each task writes only its entry's C, and entries
/// whose C overlaps another's operands never run in parallel (see `conflicts`).
unsafe impl<T: BlasElem> Send for Entry<T> {}
unsafe impl<T: BlasElem> Sync for Entry<T> {}

/// Why a batch does not run.
enum Refusal {
    /// An invalid argument: the batch parameter at fault and the message for `cblas_xerbla`.
    Invalid {
        p: c_int,
        form: &'static CStr,
        value: c_int,
    },
    /// The list of products could not be allocated.
    NoMemory,
}

fn in_group(p: c_int, group: usize) -> Refusal {
    Refusal::Invalid {
        p,
        form: c"Illegal value in group %d (counting from 0)\n",
        value: group as c_int,
    }
}

/// The batch's arguments, as the C signature passes them.
struct Batch<T: BlasElem> {
    layout: c_int,
    transa: *const c_int,
    transb: *const c_int,
    m: *const c_int,
    n: *const c_int,
    k: *const c_int,
    alpha: *const T::Scalar,
    a: *const *const T,
    lda: *const c_int,
    b: *const *const T,
    ldb: *const c_int,
    beta: *const T::Scalar,
    c: *const *mut T::C,
    ldc: *const c_int,
    group_count: c_int,
    group_size: *const c_int,
}

impl<T: BlasElem> Batch<T> {
    /// Checks every group and collects the products that touch memory, in batch order.
    unsafe fn entries(&self) -> Result<Vec<Entry<T>>, Refusal> {
        let row = match self.layout {
            CBLAS_ROW_MAJOR => true,
            CBLAS_COL_MAJOR => false,
            layout => {
                return Err(Refusal::Invalid {
                    p: 1,
                    form: c"Illegal layout setting, %d\n",
                    value: layout,
                })
            }
        };
        if self.group_count < 0 {
            return Err(Refusal::Invalid {
                p: 15,
                form: c"Illegal group_count, %d\n",
                value: self.group_count,
            });
        }
        let mut entries = Vec::new();
        if self.group_count == 0 {
            return Ok(entries);
        }
        let arrays: [(*const (), c_int); 11] = [
            (self.transa.cast(), 2),
            (self.transb.cast(), 3),
            (self.m.cast(), 4),
            (self.n.cast(), 5),
            (self.k.cast(), 6),
            (self.alpha.cast(), 7),
            (self.lda.cast(), 9),
            (self.ldb.cast(), 11),
            (self.beta.cast(), 12),
            (self.ldc.cast(), 14),
            (self.group_size.cast(), 16),
        ];
        if let Some(&(_, p)) = arrays.iter().find(|(ptr, _)| ptr.is_null()) {
            return Err(Refusal::Invalid {
                p,
                form: c"Null argument array (group_count %d)\n",
                value: self.group_count,
            });
        }
        let mut first = 0usize;
        for g in 0..self.group_count as usize {
            let size = *self.group_size.add(g);
            if size < 0 {
                return Err(in_group(16, g));
            }
            let scalars = ((*self.alpha.add(g)).into(), (*self.beta.add(g)).into());
            let gemm = Gemm::check(
                self.layout,
                *self.transa.add(g),
                *self.transb.add(g),
                (*self.m.add(g), *self.n.add(g), *self.k.add(g)),
                (*self.lda.add(g), *self.ldb.add(g), *self.ldc.add(g)),
                scalars,
            );
            let gemm = match gemm {
                Ok(gemm) => gemm,
                Err(Stop::Cblas { p, .. }) => return Err(in_group(p, g)),
                Err(Stop::Fortran(info)) => return Err(in_group(cblas_number(row, info), g)),
            };
            let end = first.checked_add(size as usize).ok_or(Refusal::NoMemory)?;
            self.collect(&gemm, first..end, g, &mut entries)?;
            first = end;
        }
        Ok(entries)
    }

    /// The products `range` of group `g`: their pointers checked where the call touches
    /// them, appended to `out` (none for a quick return).
    unsafe fn collect(
        &self,
        gemm: &Gemm,
        range: std::ops::Range<usize>,
        g: usize,
        out: &mut Vec<Entry<T>>,
    ) -> Result<(), Refusal> {
        let touches = gemm.call.touches();
        if touches == Touches::Nothing {
            return Ok(());
        }
        let reads = touches == Touches::All;
        // Parameters 8 and 10 name the user's A and B, which the row-major call swaps.
        let pick = |e: usize, arr: *const *const T| -> Option<*const T> {
            (!arr.is_null())
                .then(|| *arr.add(e))
                .filter(|p| !p.is_null())
        };
        out.try_reserve(range.len())
            .map_err(|_| Refusal::NoMemory)?;
        for e in range {
            let (mut a, mut b) = (std::ptr::null(), std::ptr::null());
            if reads {
                a = pick(e, self.a).ok_or_else(|| in_group(8, g))?;
                b = pick(e, self.b).ok_or_else(|| in_group(10, g))?;
            }
            let c = (!self.c.is_null())
                .then(|| *self.c.add(e))
                .filter(|p| !p.is_null())
                .ok_or_else(|| in_group(13, g))?;
            let (a, b) = gemm.operands(a, b);
            out.push(Entry {
                call: gemm.call,
                a,
                b,
                c,
            });
        }
        Ok(())
    }
}

/// Whether some product's C overlaps another product's A, B or C (byte ranges).
fn conflicts<T: BlasElem>(entries: &[Entry<T>]) -> bool {
    let range = |p: usize, elems: usize, size: usize| -> Option<(usize, usize)> {
        p.checked_add(elems.checked_mul(size)?).map(|end| (p, end))
    };
    let (st, sc) = (std::mem::size_of::<T>(), std::mem::size_of::<T::C>());
    let mut writes = Vec::with_capacity(entries.len());
    let mut reads = Vec::with_capacity(2 * entries.len());
    for (i, e) in entries.iter().enumerate() {
        let [sa, sb, scc] = e.call.spans();
        let Some(w) = range(e.c as usize, scc, sc) else {
            return true;
        };
        writes.push((w.0, w.1, i));
        for (p, s) in [(e.a as usize, sa), (e.b as usize, sb)] {
            if s > 0 {
                let Some(r) = range(p, s, st) else {
                    return true;
                };
                reads.push((r.0, r.1, i));
            }
        }
    }
    writes.sort_unstable();
    if writes.windows(2).any(|w| w[0].1 > w[1].0) {
        return true;
    }
    // The writes are disjoint and sorted, so their ends are sorted too: the writes a read
    // range meets start at the first one ending after the read begins.
    reads.iter().any(|&(start, end, i)| {
        let first = writes.partition_point(|w| w.1 <= start);
        writes[first..]
            .iter()
            .take_while(|w| w.0 < end)
            .any(|w| w.2 != i)
    })
}

/// Checks, reports, and runs the batch.
unsafe fn run_batch<T: BlasElem>(rout: &CStr, batch: Batch<T>) {
    let entries = match batch.entries() {
        Ok(entries) => entries,
        Err(Refusal::Invalid { p, form, value }) => {
            return cblas_report(p, rout, form, Some(value))
        }
        Err(Refusal::NoMemory) => {
            let rout = rout.to_string_lossy();
            let _ = writeln!(std::io::stderr(), "tpp: {rout}: cannot allocate the batch");
            return;
        }
    };
    // SAFETY (both arms): each entry was checked as a valid call; the caller's pointers are
    // valid for their operands, and parallel entries write disjoint memory.
    let run = |e: &Entry<T>| unsafe { e.call.compute::<T>(e.a, e.b, e.c) };
    if entries.len() > 1 && !conflicts(&entries) {
        entries.par_iter().for_each(run);
    } else {
        entries.iter().for_each(run);
    }
}

/// Grouped batch of single-precision GEMMs (MKL's and OpenBLAS's `cblas_sgemm_batch`): group
/// `g` is `group_size[g]` products `C = alpha·op(A)·op(B) + beta·C` sharing
/// `transa_array[g]` … `ldc_array[g]`; `a_array`, `b_array`, `c_array` hold one matrix per
/// product, groups in order. The whole batch is checked first; the first failure goes to
/// `cblas_xerbla` with the position of the batch argument at fault (a group's GEMM arguments
/// numbered as `cblas_sgemm` numbers them) and the group in the message (README, BLAS).
///
/// # Safety
/// Each array valid for `group_count` (or, for the matrix arrays, the total of
/// `group_size`) elements, each matrix for its operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_sgemm_batch(
    layout: c_int,
    transa_array: *const c_int,
    transb_array: *const c_int,
    m_array: *const c_int,
    n_array: *const c_int,
    k_array: *const c_int,
    alpha_array: *const f32,
    a_array: *const *const f32,
    lda_array: *const c_int,
    b_array: *const *const f32,
    ldb_array: *const c_int,
    beta_array: *const f32,
    c_array: *const *mut f32,
    ldc_array: *const c_int,
    group_count: c_int,
    group_size: *const c_int,
) {
    boundary("cblas_sgemm_batch", || {
        let batch = Batch::<f32> {
            layout,
            transa: transa_array,
            transb: transb_array,
            m: m_array,
            n: n_array,
            k: k_array,
            alpha: alpha_array,
            a: a_array.cast(),
            lda: lda_array,
            b: b_array.cast(),
            ldb: ldb_array,
            beta: beta_array,
            c: c_array,
            ldc: ldc_array,
            group_count,
            group_size,
        };
        run_batch(c"cblas_sgemm_batch", batch)
    })
}

/// Grouped batch of double-precision GEMMs (see `cblas_sgemm_batch`).
///
/// # Safety
/// As `cblas_sgemm_batch`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_dgemm_batch(
    layout: c_int,
    transa_array: *const c_int,
    transb_array: *const c_int,
    m_array: *const c_int,
    n_array: *const c_int,
    k_array: *const c_int,
    alpha_array: *const f64,
    a_array: *const *const f64,
    lda_array: *const c_int,
    b_array: *const *const f64,
    ldb_array: *const c_int,
    beta_array: *const f64,
    c_array: *const *mut f64,
    ldc_array: *const c_int,
    group_count: c_int,
    group_size: *const c_int,
) {
    boundary("cblas_dgemm_batch", || {
        let batch = Batch::<f64> {
            layout,
            transa: transa_array,
            transb: transb_array,
            m: m_array,
            n: n_array,
            k: k_array,
            alpha: alpha_array,
            a: a_array.cast(),
            lda: lda_array,
            b: b_array.cast(),
            ldb: ldb_array,
            beta: beta_array,
            c: c_array,
            ldc: ldc_array,
            group_count,
            group_size,
        };
        run_batch(c"cblas_dgemm_batch", batch)
    })
}

/// Grouped batch of bf16 GEMMs with f32 C (OpenBLAS's `cblas_sbgemm_batch`; see
/// `cblas_sgemm_batch` and `cblas_sbgemm`).
///
/// # Safety
/// As `cblas_sgemm_batch`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_sbgemm_batch(
    layout: c_int,
    transa_array: *const c_int,
    transb_array: *const c_int,
    m_array: *const c_int,
    n_array: *const c_int,
    k_array: *const c_int,
    alpha_array: *const f32,
    a_array: *const *const u16,
    lda_array: *const c_int,
    b_array: *const *const u16,
    ldb_array: *const c_int,
    beta_array: *const f32,
    c_array: *const *mut f32,
    ldc_array: *const c_int,
    group_count: c_int,
    group_size: *const c_int,
) {
    boundary("cblas_sbgemm_batch", || {
        let batch = Batch::<bf16> {
            layout,
            transa: transa_array,
            transb: transb_array,
            m: m_array,
            n: n_array,
            k: k_array,
            alpha: alpha_array,
            a: a_array.cast(),
            lda: lda_array,
            b: b_array.cast(),
            ldb: ldb_array,
            beta: beta_array,
            c: c_array,
            ldc: ldc_array,
            group_count,
            group_size,
        };
        run_batch(c"cblas_sbgemm_batch", batch)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column-major `m × n × k` NN product at fake addresses (`conflicts` only compares them).
    fn entry(
        a: usize,
        b: usize,
        c: usize,
        (m, n, k): (c_int, c_int, c_int),
        alpha: f64,
    ) -> Entry<f32> {
        Entry {
            call: Call {
                ta: b'N',
                tb: b'N',
                m,
                n,
                k,
                lda: m,
                ldb: k,
                ldc: m + 2,
                alpha,
                beta: 0.0,
            },
            a: a as *const f32,
            b: b as *const f32,
            c: c as *mut f32,
        }
    }

    #[test]
    fn conflicts_are_overlaps_of_one_products_c_with_anothers_operands() {
        let s = (4, 3, 5);
        // C spans (n - 1)·ldc + m = 2·6 + 4 = 16 floats = 64 bytes; A 20 floats, B 15.
        let apart = [
            entry(0x1000, 0x2000, 0x3000, s, 1.0),
            entry(0x1000, 0x2000, 0x3040, s, 1.0),
        ];
        assert!(!conflicts(&apart), "adjacent Cs, shared A and B are fine");
        let same_c = [
            entry(0x1000, 0x2000, 0x3000, s, 1.0),
            entry(0x1000, 0x2000, 0x303c, s, 1.0),
        ];
        assert!(conflicts(&same_c), "Cs overlapping by one float");
        let c_is_a = [
            entry(0x1000, 0x2000, 0x3000, s, 1.0),
            entry(0x3030, 0x2000, 0x4000, s, 1.0),
        ];
        assert!(conflicts(&c_is_a), "a later A inside an earlier C");
        let a_is_c = [
            entry(0x4000, 0x2000, 0x3000, s, 1.0),
            entry(0x1000, 0x2000, 0x4010, s, 1.0),
        ];
        assert!(conflicts(&a_is_c), "an earlier A inside a later C");
        let own = [
            entry(0x3000, 0x2000, 0x3000, s, 1.0),
            entry(0x1000, 0x2000, 0x5000, s, 1.0),
        ];
        assert!(
            !conflicts(&own),
            "a product's C over its own A is its own business"
        );
        let unread = [
            entry(0x1000, 0x2000, 0x3000, s, 1.0),
            entry(0x3000, 0x3000, 0x5000, s, 0.0),
        ];
        assert!(!conflicts(&unread), "alpha = 0 reads neither A nor B");
        let b_in_c = [
            entry(0x1000, 0x2000, 0x3000, s, 1.0),
            entry(0x1000, 0x2ffc, 0x5000, s, 1.0),
        ];
        assert!(conflicts(&b_in_c), "a B reaching into another C");
    }
}
