//! The peers of the GEMM benches — LIBXSMM (through `c/xsmm_shim.c`), OpenBLAS's `cblas_sgemm`
//! and the `gemm` crate (with its AVX-512 kernels) — and the register-only peak loops of the
//! multiply instructions, measured in the same run.

use std::ffi::c_void;
#[cfg(tpp_xsmm)]
use std::ffi::{c_char, CStr};

pub use crate::HAVE_XSMM;

#[cfg(tpp_xsmm)]
extern "C" {
    fn tpp_xsmm_init();
    fn tpp_xsmm_target() -> *const c_char;
    fn tpp_xsmm_sgemm(
        m: i32,
        n: i32,
        k: i32,
        lda: i32,
        ldb: i32,
        ldc: i32,
        beta: f32,
    ) -> *mut c_void;
    fn tpp_xsmm_sgemm_run(f: *mut c_void, a: *const f32, b: *const f32, c: *mut f32);
    #[allow(clippy::too_many_arguments)]
    fn tpp_xsmm_sbrgemm(
        m: i32,
        n: i32,
        k: i32,
        sa: i64,
        sb: i64,
        lda: i32,
        ldb: i32,
        ldc: i32,
        beta: f32,
    ) -> *mut c_void;
    fn tpp_xsmm_sbrgemm_run(f: *mut c_void, a: *const f32, b: *const f32, c: *mut f32, n: u64);
    #[allow(clippy::too_many_arguments)]
    fn tpp_xsmm_bsbrgemm(
        m: i32,
        n: i32,
        k: i32,
        sa: i64,
        sb: i64,
        lda: i32,
        ldb: i32,
        ldc: i32,
        beta: f32,
    ) -> *mut c_void;
    fn tpp_xsmm_bsbrgemm_run(
        f: *mut c_void,
        a: *const c_void,
        b: *const c_void,
        c: *mut f32,
        n: u64,
    );
}

/// A LIBXSMM kernel handle (a JIT function pointer, alive for the process; never made where
/// LIBXSMM is absent, as on an aarch64 cross build).
#[derive(Clone, Copy)]
#[cfg_attr(not(tpp_xsmm), allow(dead_code))]
pub struct Xsmm(*mut c_void);
// SAFETY: LIBXSMM kernels are immutable code, callable from any thread.
unsafe impl Send for Xsmm {}
unsafe impl Sync for Xsmm {}

/// LIBXSMM's code path on this CPU (`None` without LIBXSMM).
pub fn xsmm_target() -> Option<String> {
    #[cfg(tpp_xsmm)]
    // SAFETY: init is idempotent; the target name is a static C string.
    unsafe {
        tpp_xsmm_init();
        return Some(
            CStr::from_ptr(tpp_xsmm_target())
                .to_string_lossy()
                .into_owned(),
        );
    }
    #[allow(unreachable_code)]
    None
}

/// The shape of a (batch-reduce) GEMM case, row-major, packed leading dimensions.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
}

/// LIBXSMM's f32 kernel: plain GEMM for `batch == 0`, stride BRGEMM otherwise (beta 1).
pub fn xsmm_f32(s: Shape) -> Option<Xsmm> {
    #[cfg(tpp_xsmm)]
    // SAFETY: dispatch only reads its scalar arguments.
    unsafe {
        tpp_xsmm_init();
        let (m, n, k) = (s.m as i32, s.n as i32, s.k as i32);
        let f = if s.batch == 0 {
            tpp_xsmm_sgemm(m, n, k, k, n, n, 1.0)
        } else {
            tpp_xsmm_sbrgemm(
                m,
                n,
                k,
                (s.m * s.k) as i64,
                (s.k * s.n) as i64,
                k,
                n,
                n,
                1.0,
            )
        };
        return (!f.is_null()).then_some(Xsmm(f));
    }
    #[allow(unreachable_code)]
    {
        let _ = s;
        None
    }
}

/// Runs a LIBXSMM f32 kernel from [`xsmm_f32`].
pub fn xsmm_f32_run(x: Xsmm, s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) {
    #[cfg(tpp_xsmm)]
    // SAFETY: the buffers hold `batch` packed operands of the dispatched shape.
    unsafe {
        if s.batch == 0 {
            tpp_xsmm_sgemm_run(x.0, a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        } else {
            tpp_xsmm_sbrgemm_run(x.0, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), s.batch as u64);
        }
    }
    let _ = (x, s, a, b, c);
}

/// LIBXSMM's bf16 stride BRGEMM with B in VNNI2 and f32 C (beta 1).
pub fn xsmm_bf16(s: Shape) -> Option<Xsmm> {
    #[cfg(tpp_xsmm)]
    // SAFETY: as for `xsmm_f32`.
    unsafe {
        tpp_xsmm_init();
        let (m, n, k) = (s.m as i32, s.n as i32, s.k as i32);
        let f = tpp_xsmm_bsbrgemm(
            m,
            n,
            k,
            (s.m * s.k) as i64,
            (s.k * s.n) as i64,
            k,
            n,
            n,
            1.0,
        );
        return (!f.is_null()).then_some(Xsmm(f));
    }
    #[allow(unreachable_code)]
    {
        let _ = s;
        None
    }
}

/// Runs a LIBXSMM bf16 kernel from [`xsmm_bf16`] (`a`, `b`: bf16 bits).
pub fn xsmm_bf16_run(x: Xsmm, s: Shape, a: &[u16], b: &[u16], c: &mut [f32]) {
    #[cfg(tpp_xsmm)]
    // SAFETY: as for `xsmm_f32_run`.
    unsafe {
        tpp_xsmm_bsbrgemm_run(
            x.0,
            a.as_ptr().cast(),
            b.as_ptr().cast(),
            c.as_mut_ptr(),
            s.batch as u64,
        );
    }
    let _ = (x, s, a, b, c);
}

type SetThreads = unsafe extern "C" fn(i32);
/// `cblas_sgemm`.
#[allow(clippy::type_complexity)]
pub type Sgemm = unsafe extern "C" fn(
    i32,
    i32,
    i32,
    i32,
    i32,
    i32,
    f32,
    *const f32,
    i32,
    *const f32,
    i32,
    f32,
    *mut f32,
    i32,
);

/// OpenBLAS's entry points, loaded at run time from its shared library: looked up in its own
/// handle, so a `cblas_sgemm` defined by the program (tpp's, with the `blas` feature) cannot
/// stand in for it.
pub struct OpenBlas {
    set_threads: SetThreads,
    sgemm: Sgemm,
}

/// OpenBLAS, when its shared library is installed.
pub fn openblas() -> Option<&'static OpenBlas> {
    static LIB: std::sync::OnceLock<Option<OpenBlas>> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        for name in [c"libopenblas.so.0", c"libopenblas.so"] {
            // SAFETY: dlopen/dlsym with NUL-terminated names; the symbols have the CBLAS
            // signatures above.
            unsafe {
                let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if h.is_null() {
                    continue;
                }
                let set = libc::dlsym(h, c"openblas_set_num_threads".as_ptr());
                let gemm = libc::dlsym(h, c"cblas_sgemm".as_ptr());
                if set.is_null() || gemm.is_null() {
                    continue;
                }
                return Some(OpenBlas {
                    set_threads: std::mem::transmute::<*mut c_void, SetThreads>(set),
                    sgemm: std::mem::transmute::<*mut c_void, Sgemm>(gemm),
                });
            }
        }
        None
    })
    .as_ref()
}

impl OpenBlas {
    /// Sets OpenBLAS's thread count.
    pub fn threads(&self, n: usize) {
        // SAFETY: a plain setter.
        unsafe { (self.set_threads)(n as i32) }
    }

    /// Row-major `C = alpha·op(A)·op(B) + beta·C` (CblasRowMajor = 101, NoTrans = 111,
    /// Trans = 112) on packed operands.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(
        &self,
        (m, n, k): (usize, usize, usize),
        (ta, tb): (bool, bool),
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
    ) {
        let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
        let t = |x: bool| if x { 112 } else { 111 };
        // SAFETY: packed row-major operands of the given shape (checked above).
        unsafe {
            (self.sgemm)(
                101,
                t(ta),
                t(tb),
                m as i32,
                n as i32,
                k as i32,
                1.0,
                a.as_ptr(),
                lda as i32,
                b.as_ptr(),
                ldb as i32,
                beta,
                c.as_mut_ptr(),
                n as i32,
            )
        }
    }
}

/// OpenBLAS on one thread: one `cblas_sgemm` per batch member (beta 1). `None` without it.
pub fn openblas_f32(s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) -> Option<()> {
    let ob = openblas()?;
    ob.threads(1);
    for i in 0..s.batch.max(1) {
        let (pa, pb) = (&a[i * s.m * s.k..], &b[i * s.k * s.n..]);
        ob.sgemm((s.m, s.n, s.k), (false, false), pa, pb, 1.0, c);
    }
    Some(())
}

/// The `gemm` crate on one thread: one call per batch member (`dst = dst + lhs·rhs`).
pub fn gemm_crate_f32(s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..s.batch.max(1) {
        let (pa, pb) = (&a[i * s.m * s.k..], &b[i * s.k * s.n..]);
        // SAFETY: packed row-major operands (column stride 1, row stride the width).
        unsafe {
            gemm::gemm(
                s.m,
                s.n,
                s.k,
                c.as_mut_ptr(),
                1,
                s.n as isize,
                true,
                pa.as_ptr(),
                1,
                s.k as isize,
                pb.as_ptr(),
                1,
                s.n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// Register-only throughput of a multiply instruction: 24 independent accumulators, so the
/// loop is bound by the instruction's issue rate alone. Returns flops (or int ops) per second.
pub fn peak(which: Peak) -> f64 {
    use std::time::Instant;
    let iters = 2_000_000u64;
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = Instant::now();
        // SAFETY: the caller checked the CPU features of `which` (the bench only runs here on
        // AVX-512 machines; bf16 and VNNI are checked by `available`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match which {
                Peak::Fma32 => std::hint::black_box(fma32_loop(iters)),
                Peak::DotBf16 => std::hint::black_box(dpbf16_loop(iters)),
                Peak::DotU8I8 => {
                    std::hint::black_box(dpbusd_loop(iters));
                    std::hint::black_box(fma32_loop(0))
                }
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (which, iters);
        let dt = t.elapsed().as_secs_f64();
        best = best.max(iters as f64 * 24.0 * which.ops_per_instruction() / dt);
    }
    best
}

/// The multiply instructions the GEMM kernels are bound by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peak {
    /// `vfmadd231ps zmm`: 32 flops.
    Fma32,
    /// `vdpbf16ps zmm`: 64 flops.
    DotBf16,
    /// `vpdpbusd zmm`: 128 int ops.
    DotU8I8,
}

impl Peak {
    fn ops_per_instruction(self) -> f64 {
        match self {
            Peak::Fma32 => 32.0,
            Peak::DotBf16 => 64.0,
            Peak::DotU8I8 => 128.0,
        }
    }
    /// Whether this CPU has the instruction (never off x86-64: the peak loops are AVX-512).
    #[cfg(not(target_arch = "x86_64"))]
    pub fn available(self) -> bool {
        false
    }
    /// Whether this CPU has the instruction.
    #[cfg(target_arch = "x86_64")]
    pub fn available(self) -> bool {
        match self {
            Peak::Fma32 => is_x86_feature_detected!("avx512f"),
            Peak::DotBf16 => is_x86_feature_detected!("avx512bf16"),
            Peak::DotU8I8 => is_x86_feature_detected!("avx512vnni"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
macro_rules! peak_loop {
    ($name:ident, $feat:literal, $ty:ty, $zero:expr, $op:expr) => {
        #[target_feature(enable = $feat)]
        unsafe fn $name(iters: u64) -> $ty {
            use std::arch::x86_64::*;
            // Opaque operands: with known ones the compiler folds `fma(x, x, a) == a` away.
            let x: $ty = std::hint::black_box($zero);
            let mut acc = std::hint::black_box([$zero; 24]);
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = $op(*a, x);
                }
            }
            acc.iter().fold($zero, |s, &a| $op(s, a))
        }
    };
}
#[cfg(target_arch = "x86_64")]
peak_loop!(
    fma32_loop,
    "avx512f",
    std::arch::x86_64::__m512,
    _mm512_set1_ps(1e-9),
    |a, x| { _mm512_fmadd_ps(x, x, a) }
);
#[cfg(target_arch = "x86_64")]
peak_loop!(
    dpbf16_loop,
    "avx512f,avx512bf16",
    std::arch::x86_64::__m512,
    _mm512_set1_ps(1e-9),
    |a, x: __m512| {
        let h = _mm512_castps_si512(x);
        _mm512_dpbf16_ps(
            a,
            std::mem::transmute::<__m512i, __m512bh>(h),
            std::mem::transmute::<__m512i, __m512bh>(h),
        )
    }
);
#[cfg(target_arch = "x86_64")]
peak_loop!(
    dpbusd_loop,
    "avx512f,avx512vnni",
    std::arch::x86_64::__m512i,
    _mm512_set1_epi32(1),
    |a, x| _mm512_dpbusd_epi32(a, x, x)
);
