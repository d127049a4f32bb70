//! CBLAS entry points (feature `blas`): `cblas_sgemm`, `cblas_dgemm`, and OpenBLAS's
//! `cblas_sbgemm` (bf16 A and B, f32 C), with the reference CBLAS's checks and error reports.
//!
//! The reference CBLAS (Netlib LAPACK's `CBLAS/src/cblas_sgemm.c`) is two layers, and tpp
//! reports each error where that layering sends it:
//! - its own layer checks the layout (parameter 1), then TransA (2), then TransB (3), in
//!   either layout, and reports to `cblas_xerbla` with a message naming the bad value;
//! - otherwise it calls the Fortran SGEMM, column-major: a row-major `C = op(A)·op(B)` becomes
//!   `Cᵀ = op(B)ᵀ·op(A)ᵀ`, i.e. the Fortran call gets (TransB, TransA, N, M, K, B, ldb, A,
//!   lda, C, ldc). SGEMM's checks (M, N, K, LDA, LDB, LDC in that order, on the swapped
//!   arguments) report its own INFO to `xerbla_` under the Fortran name. A program's own
//!   `xerbla_` gets exactly that (`"SGEMM "`, INFO); without one, the CBLAS library's
//!   `xerbla_` forwards to `cblas_xerbla` as parameter INFO + 1, which its `cblas_xerbla` maps
//!   back to the CBLAS position for row-major GEMMs (4 ↔ 5, 9 ↔ 11), so a row-major
//!   `M < 0` is reported as parameter 4.
//!
//! One difference: where the reference hands a program's own `cblas_xerbla` the unmapped
//! number and leaves the row-major mapping to the handler (the reference's own handler and
//! test harness do it with the library's `RowMajorStrg` flag, which tpp does not have), tpp
//! hands it the CBLAS parameter number itself, so every handler sees the number of the
//! argument at fault.

use super::blas::{boundary, global, program_xerbla, BlasElem, Call};
use half::bf16;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::Write;

pub(crate) const CBLAS_ROW_MAJOR: c_int = 101;
pub(crate) const CBLAS_COL_MAJOR: c_int = 102;

/// A CBLAS transpose code as the BLAS character (`None` for an invalid one).
fn cblas_trans(t: c_int) -> Option<u8> {
    match t {
        111 => Some(b'N'),
        112 => Some(b'T'),
        113 => Some(b'C'),
        _ => None,
    }
}

/// A routine's names: the CBLAS one and that of the Fortran routine under it (blank-padded to
/// 6 characters, as Fortran passes it to XERBLA).
#[derive(Clone, Copy)]
pub(crate) struct Names {
    pub cblas: &'static CStr,
    pub fortran: &'static [u8; 6],
}

/// Where the reference stops an invalid call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// In the CBLAS layer: parameter `p`, with a message about `value`.
    Cblas {
        p: c_int,
        form: &'static CStr,
        value: c_int,
    },
    /// In the Fortran routine: its INFO.
    Fortran(c_int),
}

/// A CBLAS GEMM as the reference passes it on: the column-major call (operands swapped for
/// row-major) and whether it was row-major.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gemm {
    pub row: bool,
    pub call: Call,
}

impl Gemm {
    /// The reference CBLAS's checks of a call, in its order.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        layout: c_int,
        transa: c_int,
        transb: c_int,
        (m, n, k): (c_int, c_int, c_int),
        (lda, ldb, ldc): (c_int, c_int, c_int),
        (alpha, beta): (f64, f64),
    ) -> Result<Gemm, Stop> {
        let row = match layout {
            CBLAS_ROW_MAJOR => true,
            CBLAS_COL_MAJOR => false,
            _ => {
                return Err(Stop::Cblas {
                    p: 1,
                    form: c"Illegal layout setting, %d\n",
                    value: layout,
                })
            }
        };
        let Some(ta) = cblas_trans(transa) else {
            return Err(Stop::Cblas {
                p: 2,
                form: c"Illegal TransA setting, %d\n",
                value: transa,
            });
        };
        let Some(tb) = cblas_trans(transb) else {
            return Err(Stop::Cblas {
                p: 3,
                form: c"Illegal TransB setting, %d\n",
                value: transb,
            });
        };
        let call = if row {
            Call {
                ta: tb,
                tb: ta,
                m: n,
                n: m,
                k,
                lda: ldb,
                ldb: lda,
                ldc,
                alpha,
                beta,
            }
        } else {
            Call {
                ta,
                tb,
                m,
                n,
                k,
                lda,
                ldb,
                ldc,
                alpha,
                beta,
            }
        };
        match call.info() {
            0 => Ok(Gemm { row, call }),
            info => Err(Stop::Fortran(info)),
        }
    }

    /// The operands in the order of the column-major call.
    pub fn operands<A>(&self, a: A, b: A) -> (A, A) {
        if self.row {
            (b, a)
        } else {
            (a, b)
        }
    }
}

/// The CBLAS parameter number of the Fortran GEMM's INFO: one more (the layout argument comes
/// first), with M ↔ N and lda ↔ ldb swapped back for a row-major call, as the reference's
/// `cblas_xerbla` maps it.
pub(crate) fn cblas_number(row: bool, info: c_int) -> c_int {
    let p = info + 1;
    match (row, p) {
        (true, 4) => 5,
        (true, 5) => 4,
        (true, 9) => 11,
        (true, 11) => 9,
        _ => p,
    }
}

/// Reports a stop as the reference does: CBLAS-layer errors to `cblas_xerbla`; Fortran-layer
/// ones to the program's `xerbla_` under the Fortran name and number if it has one, else to
/// `cblas_xerbla` with the CBLAS number.
pub(crate) fn report_stop(names: Names, row: bool, stop: Stop) {
    match stop {
        Stop::Cblas { p, form, value } => cblas_report(p, names.cblas, form, Some(value)),
        Stop::Fortran(info) => match program_xerbla() {
            // SAFETY: the name and its length, as Fortran passes them.
            Some(f) => unsafe { f(names.fortran.as_ptr().cast(), &info, 6) },
            None => cblas_report(cblas_number(row, info), names.cblas, c"", None),
        },
    }
}

type CblasXerbla = unsafe extern "C" fn(c_int, *const c_char, *const c_char, ...);

/// Calls the program's `cblas_xerbla` (the first in the global scope that is not tpp's) with
/// the reference's arguments: the parameter number, the routine, and a printf format with
/// its one `%d` argument; without one, prints as tpp's `cblas_xerbla` does, the formatted
/// message included.
pub(crate) fn cblas_report(p: c_int, rout: &CStr, form: &CStr, value: Option<c_int>) {
    match global(c"cblas_xerbla") {
        // SAFETY: a program's cblas_xerbla has the (variadic) CBLAS signature; the strings are
        // NUL-terminated and `form` has one %d when a value comes with it.
        Some(f) => unsafe {
            let f = std::mem::transmute::<*mut c_void, CblasXerbla>(f);
            match value {
                Some(v) => f(p, rout.as_ptr(), form.as_ptr(), v),
                None => f(p, rout.as_ptr(), form.as_ptr()),
            }
        },
        None => {
            let detail = form.to_string_lossy();
            let detail = match value {
                Some(v) => detail.replacen("%d", &v.to_string(), 1),
                None => detail.into_owned(),
            };
            print_cblas_error(p, &rout.to_string_lossy(), &detail);
        }
    }
}

/// The reference `cblas_xerbla`'s message (without its `exit`).
fn print_cblas_error(p: c_int, rout: &str, detail: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "Parameter {p} to routine {rout} was incorrect");
    let _ = write!(err, "{detail}");
}

/// The CBLAS error handler: prints the reference CBLAS message and returns. (The reference's
/// is variadic — a format and its arguments follow `rout` — which stable Rust cannot define;
/// the fixed arguments are passed the same way, and the others are not read.) tpp's CBLAS
/// routines report the CBLAS parameter number, already mapped for row-major calls.
///
/// # Safety
/// `rout` must be NUL-terminated (or null).
#[no_mangle]
pub unsafe extern "C" fn cblas_xerbla(p: c_int, rout: *const c_char, form: *const c_char) {
    let _ = form;
    let rout = if rout.is_null() {
        "?".into()
    } else {
        CStr::from_ptr(rout).to_string_lossy()
    };
    print_cblas_error(p, &rout, "");
}

/// A CBLAS GEMM: checks, reports, quick-returns or computes.
#[allow(clippy::too_many_arguments)]
unsafe fn cblas_run<T: BlasElem>(
    names: Names,
    layout: c_int,
    transa: c_int,
    transb: c_int,
    (m, n, k): (c_int, c_int, c_int),
    (alpha, beta): (T::Scalar, T::Scalar),
    (a, lda): (*const T, c_int),
    (b, ldb): (*const T, c_int),
    (c, ldc): (*mut T::C, c_int),
) {
    let scalars = (alpha.into(), beta.into());
    match Gemm::check(layout, transa, transb, (m, n, k), (lda, ldb, ldc), scalars) {
        Ok(g) => {
            let (pa, pb) = g.operands(a, b);
            g.call.compute::<T>(pa, pb, c)
        }
        Err(stop) => report_stop(names, layout == CBLAS_ROW_MAJOR, stop),
    }
}

/// CBLAS single-precision GEMM, row- or column-major (`CblasRowMajor` = 101,
/// `CblasColMajor` = 102; `CblasNoTrans` = 111, `CblasTrans` = 112, `CblasConjTrans` = 113),
/// with the reference CBLAS's argument checks and error reports (`cblas_xerbla`, or the
/// program's `xerbla_` for the Fortran-level checks, as the reference).
///
/// # Safety
/// As the reference CBLAS: every pointer valid for its operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_sgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: f32,
    a: *const f32,
    lda: c_int,
    b: *const f32,
    ldb: c_int,
    beta: f32,
    c: *mut f32,
    ldc: c_int,
) {
    let names = Names {
        cblas: c"cblas_sgemm",
        fortran: b"SGEMM ",
    };
    boundary("cblas_sgemm", || {
        cblas_run::<f32>(
            names,
            layout,
            transa,
            transb,
            (m, n, k),
            (alpha, beta),
            (a, lda),
            (b, ldb),
            (c, ldc),
        )
    })
}

/// CBLAS double-precision GEMM (see `cblas_sgemm`).
///
/// # Safety
/// As the reference CBLAS: every pointer valid for its operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_dgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: f64,
    a: *const f64,
    lda: c_int,
    b: *const f64,
    ldb: c_int,
    beta: f64,
    c: *mut f64,
    ldc: c_int,
) {
    let names = Names {
        cblas: c"cblas_dgemm",
        fortran: b"DGEMM ",
    };
    boundary("cblas_dgemm", || {
        cblas_run::<f64>(
            names,
            layout,
            transa,
            transb,
            (m, n, k),
            (alpha, beta),
            (a, lda),
            (b, ldb),
            (c, ldc),
        )
    })
}

/// OpenBLAS's bf16 GEMM: `C = alpha·op(A)·op(B) + beta·C` with bf16 A and B (raw bits,
/// OpenBLAS's `bfloat16`), f32 C, alpha and beta, and f32 accumulation, on tpp's bf16 large
/// GEMM. Checks, quick returns and error reports as `cblas_sgemm` (routine `cblas_sbgemm`,
/// Fortran name `SBGEMM`).
///
/// # Safety
/// As the reference CBLAS: every pointer valid for its operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_sbgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: f32,
    a: *const u16,
    lda: c_int,
    b: *const u16,
    ldb: c_int,
    beta: f32,
    c: *mut f32,
    ldc: c_int,
) {
    let names = Names {
        cblas: c"cblas_sbgemm",
        fortran: b"SBGEMM",
    };
    boundary("cblas_sbgemm", || {
        // bf16 is a transparent u16.
        cblas_run::<bf16>(
            names,
            layout,
            transa,
            transb,
            (m, n, k),
            (alpha, beta),
            (a.cast(), lda),
            (b.cast(), ldb),
            (c, ldc),
        )
    })
}
