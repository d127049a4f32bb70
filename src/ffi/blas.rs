//! BLAS entry points on tpp's large GEMM (feature `blas`): the Fortran-convention `sgemm_` /
//! `dgemm_` here, the CBLAS ones in [`super::cblas`] and [`super::cblas_batch`]. They behave
//! as the reference BLAS specifies: the same argument checks in the same order, reported
//! through `xerbla_` with the same parameter numbers, and the same quick returns (nothing is
//! read or written when `m = 0`, `n = 0`, or when `alpha = 0` or `k = 0` with `beta = 1`;
//! `beta = 0` overwrites C without reading it; `alpha = 0` or `k = 0` scales C by beta without
//! reading A or B).
//!
//! The names are behind a feature because defining them in every binary that links tpp would
//! interpose on a real BLAS linked next to it. `cargo build --release --features blas` builds a
//! `libtpp.so` that stands in for one (`LD_PRELOAD=target/release/libtpp.so`).
//!
//! `xerbla_` prints the reference's message and returns (as OpenBLAS's and MKL's do): the
//! reference's `STOP` would end the host process. A program that defines its own `xerbla_`
//! (or `cblas_xerbla`) gets the call instead: tpp looks the name up in the global scope first.

use crate::ops::{matmul_raw, Matmul, MatmulElem, Order};
use half::bf16;
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

/// The element types of the BLAS entry points: A and B hold `Self`, C holds `Self::C`, alpha
/// and beta arrive as `Scalar`.
pub(crate) trait BlasElem: MatmulElem {
    /// The type of alpha and beta in the C signatures.
    type Scalar: Copy + Into<f64>;
    fn to_f64(self) -> f64;
    fn c_to_f64(c: Self::C) -> f64;
    fn c_from_f64(v: f64) -> Self::C;
}

impl BlasElem for f32 {
    type Scalar = f32;
    fn to_f64(self) -> f64 {
        self.into()
    }
    fn c_to_f64(c: f32) -> f64 {
        c.into()
    }
    fn c_from_f64(v: f64) -> f32 {
        v as f32
    }
}

impl BlasElem for f64 {
    type Scalar = f64;
    fn to_f64(self) -> f64 {
        self
    }
    fn c_to_f64(c: f64) -> f64 {
        c
    }
    fn c_from_f64(v: f64) -> f64 {
        v
    }
}

/// bf16 A and B with an f32 C and f32 scalars (OpenBLAS's `sbgemm`).
impl BlasElem for bf16 {
    type Scalar = f32;
    fn to_f64(self) -> f64 {
        bf16::to_f64(self)
    }
    fn c_to_f64(c: f32) -> f64 {
        c.into()
    }
    fn c_from_f64(v: f64) -> f32 {
        v as f32
    }
}

/// One column-major GEMM call as the Fortran BLAS receives it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub ta: u8,
    pub tb: u8,
    pub m: c_int,
    pub n: c_int,
    pub k: c_int,
    pub lda: c_int,
    pub ldb: c_int,
    pub ldc: c_int,
    pub alpha: f64,
    pub beta: f64,
}

/// What a valid call reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Touches {
    /// A quick return: nothing.
    Nothing,
    /// `alpha = 0` or `k = 0`: C is scaled by beta, A and B are not read.
    OnlyC,
    /// A and B are read, C written (and read unless beta = 0).
    All,
}

impl Call {
    /// The reference BLAS's `INFO` (0: valid) in its parameter numbering.
    pub fn info(&self) -> c_int {
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

    /// What the valid call touches: the reference's quick return first, then its
    /// `alpha = 0` branch (and `k = 0`, whose loops read nothing).
    pub fn touches(&self) -> Touches {
        if self.m == 0 || self.n == 0 || ((self.alpha == 0.0 || self.k == 0) && self.beta == 1.0) {
            Touches::Nothing
        } else if self.alpha == 0.0 || self.k == 0 {
            Touches::OnlyC
        } else {
            Touches::All
        }
    }

    /// The elements the stored A, B and C span (valid call; 0 for an operand not touched).
    pub fn spans(&self) -> [usize; 3] {
        let t = self.touches();
        let span = |rows: c_int, cols: c_int, ld: c_int| -> usize {
            (cols as usize - 1) * ld as usize + rows as usize
        };
        let (ta, tb) = (trans(self.ta) == Some(true), trans(self.tb) == Some(true));
        let (ar, ac) = if ta {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        };
        let (br, bc) = if tb {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        };
        match t {
            Touches::Nothing => [0, 0, 0],
            Touches::OnlyC => [0, 0, span(self.m, self.n, self.ldc)],
            Touches::All => [
                span(ar, ac, self.lda),
                span(br, bc, self.ldb),
                span(self.m, self.n, self.ldc),
            ],
        }
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
            precision: crate::ops::Precision::Full,
        }
    }

    /// Checks, reports through `report(info)`, quick-returns or computes.
    pub unsafe fn run<T: BlasElem>(
        &self,
        a: *const T,
        b: *const T,
        c: *mut T::C,
        report: impl FnOnce(c_int),
    ) {
        match self.info() {
            0 => self.compute(a, b, c),
            info => report(info),
        }
    }

    /// The valid call's product (nothing on a quick return).
    pub unsafe fn compute<T: BlasElem>(&self, a: *const T, b: *const T, c: *mut T::C) {
        if self.touches() == Touches::Nothing {
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
unsafe fn plain<T: BlasElem>(p: &Matmul, a: *const T, b: *const T, c: *mut T::C) {
    let at = |t: bool, x: *const T, ld: usize, i: usize, j: usize| -> f64 {
        (if t {
            *x.add(j + i * ld)
        } else {
            *x.add(i + j * ld)
        })
        .to_f64()
    };
    // As the reference: alpha = 0 (or k = 0) only scales C, reading neither A nor B.
    let product = p.alpha != 0.0 && p.k > 0;
    for j in 0..p.n {
        for i in 0..p.m {
            let cij = c.add(i + j * p.ldc);
            let prior = if p.beta == 0.0 {
                0.0
            } else {
                p.beta * T::c_to_f64(*cij)
            };
            if !product {
                *cij = T::c_from_f64(prior);
                continue;
            }
            let mut s = 0.0;
            for q in 0..p.k {
                s += at(p.trans_a, a, p.lda, i, q) * at(p.trans_b, b, p.ldb, q, j);
            }
            *cij = T::c_from_f64(p.alpha * s + prior);
        }
    }
}

/// Runs an entry point's body with no panic crossing the C ABI (a panic is a bug in tpp:
/// say so and return, as the entry points return on every other failure).
pub(crate) fn boundary(name: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        let _ = writeln!(std::io::stderr(), "tpp: internal error in {name}");
    }
}

type Xerbla = unsafe extern "C" fn(*const c_char, *const c_int, usize);

/// The global-scope definition of `name` (the program's own handler, say), unless it is tpp's.
pub(crate) fn global(name: &std::ffi::CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym on the default scope with a NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!f.is_null() && !in_this_object(f)).then_some(f)
}

/// Whether `f` lies in the object (shared library or executable) that holds tpp. (Comparing
/// with `xerbla_ as *const _` would not do: inside a shared library that address comes
/// through the GOT, which already points at the program's definition when it has one.)
fn in_this_object(f: *const c_void) -> bool {
    // A function that is not exported: its address is its own.
    let here = in_this_object as *const c_void;
    // SAFETY: dladdr only reads the loader's tables and fills the structs.
    unsafe {
        let (mut a, mut b) = (std::mem::zeroed::<libc::Dl_info>(), std::mem::zeroed());
        libc::dladdr(f, &mut a) != 0
            && libc::dladdr(here, &mut b) != 0
            && std::ptr::eq(a.dli_fbase, b.dli_fbase)
    }
}

/// The program's own `xerbla_`, if any.
pub(crate) fn program_xerbla() -> Option<Xerbla> {
    // SAFETY: an xerbla_ has the Fortran XERBLA signature.
    global(c"xerbla_").map(|f| unsafe { std::mem::transmute::<*mut c_void, Xerbla>(f) })
}

/// Reports `info` for `name` (6 characters, blank-padded as Fortran passes them) to the
/// program's `xerbla_`, or as tpp's does.
pub(crate) fn report(name: &[u8; 6], info: c_int) {
    match program_xerbla() {
        // SAFETY: the name and its length, as Fortran passes them.
        Some(f) => unsafe { f(name.as_ptr().cast(), &info, 6) },
        None => print_xerbla(&String::from_utf8_lossy(name), info),
    }
}

/// The reference XERBLA's message.
fn print_xerbla(name: &str, info: c_int) {
    let name = name.trim_end();
    let _ = writeln!(
        std::io::stderr(),
        " ** On entry to {name:<6} parameter number {info:2} had an illegal value"
    );
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
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        std::ffi::CStr::from_ptr(srname)
            .to_string_lossy()
            .into_owned()
    };
    print_xerbla(&name, if info.is_null() { 0 } else { *info });
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
    boundary("sgemm_", || {
        let s = (*alpha as f64, *beta as f64);
        let call = fortran_call(transa, transb, m, n, k, lda, ldb, ldc, s.0, s.1);
        call.run::<f32>(a, b, c, |info| report(b"SGEMM ", info));
    })
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
    boundary("dgemm_", || {
        let call = fortran_call(transa, transb, m, n, k, lda, ldb, ldc, *alpha, *beta);
        call.run::<f64>(a, b, c, |info| report(b"DGEMM ", info));
    })
}
