//! The large GEMM for C callers: `tpp_matmul`.

use super::{guard, non_null, Fail};
use crate::ops::{matmul_raw, Matmul, Order};
use std::ffi::c_void;

/// A large-GEMM problem for `tpp_matmul` (see `tpp::ops::Matmul`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_matmul_desc {
    /// 0: row-major, 1: column-major.
    pub col_major: i32,
    /// 1: A is stored as `op(A)ᵀ`.
    pub trans_a: i32,
    /// 1: B is stored as `op(B)ᵀ`.
    pub trans_b: i32,
    /// `TPP_DTYPE_F32`, `TPP_DTYPE_F64`, or `TPP_DTYPE_BF16` (bf16 A and B, f32 C).
    pub dtype: i32,
    /// C is `m × n`, op(A) `m × k`, op(B) `k × n`.
    pub m: i64,
    /// See `m`.
    pub n: i64,
    /// See `m`.
    pub k: i64,
    /// Leading dimensions as stored.
    pub lda: i64,
    /// See `lda`.
    pub ldb: i64,
    /// See `lda`.
    pub ldc: i64,
    /// `C = alpha·op(A)·op(B) + beta·C`; beta = 0 never reads C.
    pub alpha: f64,
    /// See `alpha`.
    pub beta: f64,
    /// 1: an f32 product may round A and B to bf16 and multiply on AMX tiles with f32
    /// accumulation (`tpp::ops::Precision::Bf16`; full precision where tiles are absent);
    /// 0 (what a C initializer that stops before this field gives): full precision.
    pub bf16_compute: i32,
}

/// Runs a large GEMM on tpp's BRGEMM composition (threads: rayon's global pool, sized by
/// `RAYON_NUM_THREADS`).
///
/// # Safety
/// `desc` must point to a `tpp_matmul_desc`; `a`, `b` and `c` must be valid for the elements
/// their operands span (A and B are not read when `k = 0` or `alpha = 0`).
#[no_mangle]
pub unsafe extern "C" fn tpp_matmul(
    desc: *const tpp_matmul_desc,
    a: *const c_void,
    b: *const c_void,
    c: *mut c_void,
) -> super::tpp_status {
    guard(|| {
        let d = non_null(desc, "desc")?;
        let flag = |f: &str, v: i32| match v {
            0 | 1 => Ok(v == 1),
            _ => Err(Fail::arg(format!("{f} = {v}; allowed: 0 or 1"))),
        };
        let size = super::codes::size;
        let p = Matmul {
            order: if flag("col_major", d.col_major)? {
                Order::ColMajor
            } else {
                Order::RowMajor
            },
            trans_a: flag("trans_a", d.trans_a)?,
            trans_b: flag("trans_b", d.trans_b)?,
            m: size("m", d.m)?,
            n: size("n", d.n)?,
            k: size("k", d.k)?,
            lda: size("lda", d.lda)?,
            ldb: size("ldb", d.ldb)?,
            ldc: size("ldc", d.ldc)?,
            alpha: d.alpha,
            beta: d.beta,
            precision: if flag("bf16_compute", d.bf16_compute)? {
                crate::ops::Precision::Bf16
            } else {
                crate::ops::Precision::Full
            },
        };
        p.validate()?;
        let dt = super::codes::dtype("dtype", d.dtype)?;
        let empty = p.m == 0 || p.n == 0;
        let reads_ab = !empty && p.k > 0 && p.alpha != 0.0;
        let ptrs = |align_ab: usize, align_c: usize| -> Result<(), Fail> {
            // Sizes whose operands no memory can hold are an error, not a wild pointer: each
            // operand must span at most isize::MAX bytes (element sizes are the alignments).
            let too_big = |what: &str, (rows, cols): (usize, usize), trans: bool, ld, size| {
                let (r, c) = if trans { (cols, rows) } else { (rows, cols) };
                let (r, c) = match p.order {
                    Order::RowMajor => (r, c),
                    Order::ColMajor => (c, r),
                };
                let bytes = crate::isa::matrix_len(r, c, ld) as u128 * size as u128;
                if bytes > isize::MAX as u128 {
                    return Err(Fail::arg(format!(
                        "{what} would span {bytes} bytes, more than an operand can (isize::MAX)"
                    )));
                }
                Ok(())
            };
            if reads_ab {
                too_big("A", (p.m, p.k), p.trans_a, p.lda, align_ab)?;
                too_big("B", (p.k, p.n), p.trans_b, p.ldb, align_ab)?;
            }
            if !empty {
                too_big("C", (p.m, p.n), false, p.ldc, align_c)?;
            }
            let mut need = vec![];
            if reads_ab {
                need.push(("a", a, align_ab));
                need.push(("b", b, align_ab));
            }
            if !empty {
                need.push(("c", c as *const c_void, align_c));
            }
            super::operands(&need)
        };
        match dt {
            crate::DType::F32 => {
                ptrs(4, 4)?;
                matmul_raw::<f32>(&p, a.cast(), b.cast(), c.cast())?
            }
            crate::DType::F64 => {
                ptrs(8, 8)?;
                matmul_raw::<f64>(&p, a.cast(), b.cast(), c.cast())?
            }
            crate::DType::BF16 => {
                ptrs(2, 4)?;
                matmul_raw::<half::bf16>(&p, a.cast(), b.cast(), c.cast())?
            }
            other => {
                return Err(Fail::arg(format!(
                    "dtype = {other}; allowed: TPP_DTYPE_F32, TPP_DTYPE_F64, TPP_DTYPE_BF16"
                )))
            }
        }
        Ok(())
    })
}
