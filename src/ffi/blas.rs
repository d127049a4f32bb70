//! BLAS entry points on tpp's large GEMM (feature `blas`): `sgemm_` / `dgemm_` (Fortran
//! convention, column-major) and `cblas_sgemm` / `cblas_dgemm`, behaving as the reference BLAS
//! specifies: the same argument checks in the same order, reported through `xerbla_` (or
//! `cblas_xerbla`) with the same parameter numbers, and the same quick returns (nothing is read
//! or written when `m = 0`, `n = 0`, or when `alpha = 0` or `k = 0` with `beta = 1`; `beta = 0`
//! overwrites C without reading it; `alpha = 0` scales C by beta without reading A or B).
//!
//! The names are behind a feature because defining them in every binary that links tpp would
//! interpose on a real BLAS linked next to it. `cargo build --release --features blas` builds a
//! `libtpp.so` that stands in for one (`LD_PRELOAD=target/release/libtpp.so`).
//!
//! `xerbla_` prints the reference's message and returns (as OpenBLAS's and MKL's do): the
//! reference's `STOP` would end the host process. A program that defines its own `xerbla_`
//! (or `cblas_xerbla`) gets the call instead: tpp looks the name up in the global scope first.

use crate::ops::{matmul_raw, Matmul, MatmulElem, Order};
use std::ffi::{c_char, c_int, c_void};
use std::io::Write;

/// `op(X)` of a BLAS `trans` character: `Some(false)` for N, `Some(true)` for T or C.
fn trans(ch: u8) -> Option<bool> {
    match ch.to_ascii_uppercase() {
        b'N' => Some(false),
        b'T' | b'C' => Some(true),
        _ => None,
    }
}

/// One column-major GEMM call as BLAS receives it.
struct Call {
    ta: u8,
    tb: u8,
    m: c_int,
    n: c_int,
    k: c_int,
    lda: c_int,
    ldb: c_int,
    ldc: c_int,
    alpha: f64,
    beta: f64,
}

impl Call {
    /// The reference BLAS's `INFO` (0: valid) in its parameter numbering.
    fn info(&self) -> c_int {
        let (na, nb) = (trans(self.ta), trans(self.tb));
        let nrowa = if na == Some(false) { self.m } else { self.k };
        let nrowb = if nb == Some(false) { self.k } else { self.n };
        if na.is_none() {
            1
        } else if nb.is_none() {
            2
        } else if self.m < 0 {
            3
        } else if self.n < 0 {
            4
        } else if self.k < 0 {
            5
        } else if self.lda < nrowa.max(1) {
            8
        } else if self.ldb < nrowb.max(1) {
            10
        } else if self.ldc < self.m.max(1) {
            13
        } else {
            0
        }
    }

    /// The reference's quick return.
    fn quick(&self) -> bool {
        self.m == 0 || self.n == 0 || ((self.alpha == 0.0 || self.k == 0) && self.beta == 1.0)
    }

    /// The problem (valid once `info` is 0).
    fn problem(&self) -> Matmul {
        Matmul {
            order: Order::ColMajor,
            trans_a: trans(self.ta) == Some(true),
            trans_b: trans(self.tb) == Some(true),
            m: self.m as usize,
            n: self.n as usize,
            k: self.k as usize,
            lda: self.lda as usize,
            ldb: self.ldb as usize,
            ldc: self.ldc as usize,
            alpha: self.alpha,
            beta: self.beta,
        }
    }

    /// Checks, reports through `report(info)`, quick-returns or computes.
    unsafe fn run<T: MatmulElem<C = T> + Into<f64> + FromF64>(
        &self,
        a: *const T,
        b: *const T,
        c: *mut T::C,
        report: impl FnOnce(c_int),
    ) {
        let info = self.info();
        if info != 0 {
            return report(info);
        }
        if self.quick() {
            return;
        }
        let p = self.problem();
        if !(self.alpha.is_finite() && self.beta.is_finite()) {
            // The kernels take finite scalars only; BLAS propagates infinities and NaNs.
            return plain::<T>(&p, a, b, c);
        }
        // A panic must not unwind into the caller; the problem is valid, so an error here is
        // a bug worth a message rather than silence.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            matmul_raw::<T>(&p, a, b, c)
        }));
        if !matches!(r, Ok(Ok(()))) {
            let _ = writeln!(std::io::stderr(), "tpp: internal error in GEMM {p:?}");
        }
    }
}

/// The column-major product as the reference BLAS loops it, for non-finite alpha or beta.
unsafe fn plain<T: MatmulElem<C = T> + Into<f64> + FromF64>(
    p: &Matmul,
    a: *const T,
    b: *const T,
    c: *mut T,
) {
    let at = |t: bool, x: *const T, ld: usize, i: usize, j: usize| -> f64 {
        (if t {
            *x.add(j + i * ld)
        } else {
            *x.add(i + j * ld)
        })
        .into()
    };
    for j in 0..p.n {
        for i in 0..p.m {
            let mut s = 0.0;
            for q in 0..p.k {
                s += at(p.trans_a, a, p.lda, i, q) * at(p.trans_b, b, p.ldb, q, j);
            }
            let cij = c.add(i + j * p.ldc);
            let prior = if p.beta == 0.0 {
                0.0
            } else {
                p.beta * (*cij).into()
            };
            *cij = T::from_f64(p.alpha * s + prior);
        }
    }
}

/// The float types of the BLAS entry points.
trait FromF64 {
    fn from_f64(v: f64) -> Self;
}
impl FromF64 for f32 {
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}
impl FromF64 for f64 {
    fn from_f64(v: f64) -> f64 {
        v
    }
}

type Xerbla = unsafe extern "C" fn(*const c_char, *const c_int, usize);
type CblasXerbla = unsafe extern "C" fn(c_int, *const c_char, *const c_char, ...);

/// The global-scope definition of `name`, if it is not tpp's own `ours`.
fn global(name: &std::ffi::CStr, ours: *const c_void) -> Option<*mut c_void> {
    // SAFETY: dlsym on the default scope with a NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!f.is_null() && !std::ptr::eq(f, ours)).then_some(f)
}

/// Reports `info` for `name` (6 characters, blank-padded as Fortran passes them).
fn report(name: &[u8; 6], info: c_int) {
    let f: Xerbla = match global(c"xerbla_", xerbla_ as *const c_void) {
        // SAFETY: a program's xerbla_ has the Fortran XERBLA signature.
        Some(f) => unsafe { std::mem::transmute::<*mut c_void, Xerbla>(f) },
        None => xerbla_,
    };
    // SAFETY: the name and its length, as Fortran passes them.
    unsafe { f(name.as_ptr().cast(), &info, 6) }
}

/// The reference BLAS error handler: prints
/// ` ** On entry to NAME   parameter number  N had an illegal value` and returns.
///
/// # Safety
/// `srname` must point to `len` characters (or be NUL-terminated when `len` is 0) and `info`
/// to an integer.
#[no_mangle]
pub unsafe extern "C" fn xerbla_(srname: *const c_char, info: *const c_int, len: usize) {
    let name = if srname.is_null() {
        String::from("?")
    } else if len > 0 {
        let bytes = std::slice::from_raw_parts(srname.cast::<u8>(), len.min(32));
        String::from_utf8_lossy(bytes).trim_end().to_string()
    } else {
        std::ffi::CStr::from_ptr(srname)
            .to_string_lossy()
            .trim_end()
            .to_string()
    };
    let info = if info.is_null() { 0 } else { *info };
    let _ = writeln!(
        std::io::stderr(),
        " ** On entry to {name:<6} parameter number {info:2} had an illegal value"
    );
}

/// The CBLAS error handler: prints the reference CBLAS message and returns. (The reference's
/// is variadic — a format and its arguments follow `rout` — which stable Rust cannot define;
/// the fixed arguments are passed the same way, and the others are not needed.)
///
/// # Safety
/// `rout` and `form` must be NUL-terminated (or null).
#[no_mangle]
pub unsafe extern "C" fn cblas_xerbla(p: c_int, rout: *const c_char, form: *const c_char) {
    let _ = form;
    let rout = if rout.is_null() {
        "?".into()
    } else {
        std::ffi::CStr::from_ptr(rout).to_string_lossy()
    };
    let _ = writeln!(
        std::io::stderr(),
        "Parameter {p} to routine {rout} was incorrect"
    );
}

/// The arguments of a Fortran-convention GEMM, read through their pointers.
#[allow(clippy::too_many_arguments)]
unsafe fn fortran_call(
    transa: *const c_char,
    transb: *const c_char,
    m: *const c_int,
    n: *const c_int,
    k: *const c_int,
    lda: *const c_int,
    ldb: *const c_int,
    ldc: *const c_int,
    alpha: f64,
    beta: f64,
) -> Call {
    Call {
        ta: *transa as u8,
        tb: *transb as u8,
        m: *m,
        n: *n,
        k: *k,
        lda: *lda,
        ldb: *ldb,
        ldc: *ldc,
        alpha,
        beta,
    }
}

/// Fortran-convention single-precision GEMM (column-major):
/// `C = alpha·op(A)·op(B) + beta·C`, as the reference `SGEMM`.
///
/// # Safety
/// As the reference BLAS: every pointer valid for its operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn sgemm_(
    transa: *const c_char,
    transb: *const c_char,
    m: *const c_int,
    n: *const c_int,
    k: *const c_int,
    alpha: *const f32,
    a: *const f32,
    lda: *const c_int,
    b: *const f32,
    ldb: *const c_int,
    beta: *const f32,
    c: *mut f32,
    ldc: *const c_int,
) {
    let call = fortran_call(
        transa,
        transb,
        m,
        n,
        k,
        lda,
        ldb,
        ldc,
        *alpha as f64,
        *beta as f64,
    );
    call.run::<f32>(a, b, c, |info| report(b"SGEMM ", info));
}

/// Fortran-convention double-precision GEMM (column-major), as the reference `DGEMM`.
///
/// # Safety
/// As the reference BLAS: every pointer valid for its operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dgemm_(
    transa: *const c_char,
    transb: *const c_char,
    m: *const c_int,
    n: *const c_int,
    k: *const c_int,
    alpha: *const f64,
    a: *const f64,
    lda: *const c_int,
    b: *const f64,
    ldb: *const c_int,
    beta: *const f64,
    c: *mut f64,
    ldc: *const c_int,
) {
    let call = fortran_call(transa, transb, m, n, k, lda, ldb, ldc, *alpha, *beta);
    call.run::<f64>(a, b, c, |info| report(b"DGEMM ", info));
}

const CBLAS_ROW_MAJOR: c_int = 101;
const CBLAS_COL_MAJOR: c_int = 102;

/// A CBLAS transpose code as the BLAS character (`?` for an invalid one).
fn cblas_trans(t: c_int) -> u8 {
    match t {
        111 => b'N',
        112 => b'T',
        113 => b'C',
        _ => b'?',
    }
}

/// `cblas_xerbla` in the global scope (the program's, if it has one) or tpp's.
fn cblas_report(p: c_int, rout: &std::ffi::CStr) {
    match global(c"cblas_xerbla", cblas_xerbla as *const c_void) {
        // SAFETY: a program's cblas_xerbla has the (variadic) CBLAS signature; the strings are
        // NUL-terminated.
        Some(f) => unsafe {
            let f = std::mem::transmute::<*mut c_void, CblasXerbla>(f);
            f(p, rout.as_ptr(), c"".as_ptr())
        },
        // SAFETY: as above.
        None => unsafe { cblas_xerbla(p, rout.as_ptr(), c"".as_ptr()) },
    }
}

/// A CBLAS call: the layout check, then the column-major call it is (a row-major
/// `C = op(A)·op(B)` is the column-major `Cᵀ = op(B)ᵀ·op(A)ᵀ`), with the Fortran-order INFO
/// numbers mapped back to CBLAS's as the reference CBLAS maps them.
#[allow(clippy::too_many_arguments)]
unsafe fn cblas_run<T: MatmulElem<C = T> + Into<f64> + FromF64>(
    rout: &std::ffi::CStr,
    layout: c_int,
    transa: c_int,
    transb: c_int,
    (m, n, k): (c_int, c_int, c_int),
    (alpha, beta): (f64, f64),
    (a, lda): (*const T, c_int),
    (b, ldb): (*const T, c_int),
    (c, ldc): (*mut T, c_int),
) {
    let (ta, tb) = (cblas_trans(transa), cblas_trans(transb));
    let row = match layout {
        CBLAS_ROW_MAJOR => true,
        CBLAS_COL_MAJOR => false,
        _ => return cblas_report(1, rout),
    };
    // The reference checks TransA, then TransB, whatever the layout.
    if ta == b'?' {
        return cblas_report(2, rout);
    }
    if tb == b'?' {
        return cblas_report(3, rout);
    }
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
    let (pa, pb) = if row { (b, a) } else { (a, b) };
    call.run::<T>(pa, pb, c, |info| {
        let p = match (row, info) {
            (_, 13) => 14,
            (false, 1) | (true, 2) => 2,
            (false, 2) | (true, 1) => 3,
            (false, 3) | (true, 4) => 4,
            (false, 4) | (true, 3) => 5,
            (_, 5) => 6,
            (false, 8) | (true, 10) => 9,
            (false, 10) | (true, 8) => 11,
            (_, other) => other,
        };
        cblas_report(p, rout)
    });
}

/// CBLAS single-precision GEMM, row- or column-major (`CblasRowMajor` = 101,
/// `CblasColMajor` = 102; `CblasNoTrans` = 111, `CblasTrans` = 112, `CblasConjTrans` = 113),
/// with the reference CBLAS's argument checks reported through `cblas_xerbla`.
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
    let s = (alpha as f64, beta as f64);
    cblas_run(
        c"cblas_sgemm",
        layout,
        transa,
        transb,
        (m, n, k),
        s,
        (a, lda),
        (b, ldb),
        (c, ldc),
    );
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
    cblas_run(
        c"cblas_dgemm",
        layout,
        transa,
        transb,
        (m, n, k),
        (alpha, beta),
        (a, lda),
        (b, ldb),
        (c, ldc),
    );
}
