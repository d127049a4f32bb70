//! oneDNN through `c/dnnl_shim.c`: build a primitive once for a shape (NULL when oneDNN cannot
//! or the shape is invalid), then run it on caller memory (non-zero on failure).
//!
//! The functions exist whether or not oneDNN was found, so callers need no `cfg`: without it
//! every constructor returns NULL, which callers already treat as "no such peer", and `run`
//! returns -1.

use std::ffi::c_void;

/// Declares each shim function: the C symbol when oneDNN was found, otherwise a function of the
/// same signature that returns `$absent`.
macro_rules! shim {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $absent:expr; )*) => {
        #[cfg(tpp_dnnl)]
        mod sys {
            use std::ffi::c_void;
            extern "C" {
                $( pub fn $name($($arg: $ty),*) -> $ret; )*
            }
        }
        $(
            $(#[$doc])*
            ///
            /// # Safety
            /// Pointers must hold the shapes the primitive was built for (see `c/dnnl_shim.c`).
            #[allow(unused_variables, clippy::too_many_arguments, clippy::unused_unit)]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                #[cfg(tpp_dnnl)]
                return sys::$name($($arg),*);
                #[cfg(not(tpp_dnnl))]
                return $absent;
            }
        )*
    };
}

shim! {
    /// Sets the calling thread's OpenMP thread count (see [`with_threads`]).
    fn tpp_dnnl_set_threads(n: i32) -> () = ();
    /// An eltwise primitive over a `rows × cols` f32 (or bf16) matrix: `alg` 0 relu, 1 gelu
    /// (tanh), 2 exp, 3 logistic.
    fn tpp_dnnl_eltwise(alg: i32, bf16: i32, rows: i64, cols: i64) -> *mut c_void =
        std::ptr::null_mut();
    /// `y = x + row` with the row broadcast down the columns.
    fn tpp_dnnl_add_row(bf16: i32, rows: i64, cols: i64) -> *mut c_void = std::ptr::null_mut();
    /// A sum per row (`per_row` 1) or per column.
    fn tpp_dnnl_reduce_sum(bf16: i32, rows: i64, cols: i64, per_row: i32) -> *mut c_void =
        std::ptr::null_mut();
    /// A transpose (reorder) of a `rows × cols` matrix.
    fn tpp_dnnl_transpose(bf16: i32, rows: i64, cols: i64) -> *mut c_void = std::ptr::null_mut();
    /// Layer normalization of each row (forward training): memories `x`, `y` (`rows × cols`),
    /// `mean`, `variance` (`rows`, f32), `scale`, `shift` (`cols`, f32).
    fn tpp_dnnl_layer_norm(bf16: i32, rows: i64, cols: i64, eps: f32) -> *mut c_void =
        std::ptr::null_mut();
    /// Softmax of each row (v2, accurate): memories `x`, `y`.
    fn tpp_dnnl_softmax(bf16: i32, rows: i64, cols: i64) -> *mut c_void = std::ptr::null_mut();
    /// `gelu_tanh(x + bias)`, a binary add with an eltwise post-op: memories `x`, `bias`
    /// (`cols`, f32), `y`.
    fn tpp_dnnl_bias_gelu(bf16: i32, rows: i64, cols: i64) -> *mut c_void = std::ptr::null_mut();
    /// `swish(a)·b`, an eltwise with a binary post-op: memories `a`, `b`, `y`.
    fn tpp_dnnl_silu_gate(bf16: i32, rows: i64, cols: i64) -> *mut c_void = std::ptr::null_mut();
    /// Runs a primitive of at most three memories on its operands (unused ones NULL).
    fn tpp_dnnl_run(op: *mut c_void, p0: *mut c_void, p1: *mut c_void, p2: *mut c_void) -> i32 =
        -1;
    /// oneDNN's name for the implementation a primitive of the constructors above runs
    /// (`jit:avx512_core`, `ref:any`, ...), owned by the primitive; NULL if it cannot say.
    fn tpp_dnnl_impl(op: *mut c_void) -> *const std::ffi::c_char = std::ptr::null();
    /// Runs any primitive above with its memories at `p[0..n)`, in the constructor's order.
    fn tpp_dnnl_run_n(op: *mut c_void, p: *const *mut c_void) -> i32 = -1;
    /// A row-major f32 (or bf16-input) matmul `C(m×n) = A(m×k)·B(k×n)` with B prepacked.
    fn tpp_dnnl_matmul(bf16: i32, m: i64, n: i64, k: i64, b: *const c_void) -> *mut c_void =
        std::ptr::null_mut();
    /// Runs a matmul from [`tpp_dnnl_matmul`] on `threads` threads.
    fn tpp_dnnl_matmul_run(mm: *mut c_void, a: *const c_void, c: *mut f32, threads: i32) -> i32 =
        -1;
    /// A forward-inference convolution `y = relu?(conv(x, w) + b)` on NCHW sizes (square stride
    /// and padding), every tensor in the layout oneDNN prefers (see `c/dnnl_ops_shim.c`).
    fn tpp_dnnl_conv(bf16: i32, n: i64, c: i64, h: i64, w: i64, k: i64, r: i64, s: i64, stride: i64, pad: i64, relu: i32) -> *mut c_void =
        std::ptr::null_mut();
    /// A forward-inference inner product `y(n×k) = relu?(x·wᵀ + b)`.
    fn tpp_dnnl_inner_product(bf16: i32, n: i64, c: i64, k: i64, relu: i32) -> *mut c_void =
        std::ptr::null_mut();
    /// Runs a primitive of the two above on `threads` OpenMP threads.
    fn tpp_dnnl_fwd_run(f: *mut c_void, threads: i32) -> i32 = -1;
    /// The implementation oneDNN picked for it (a NUL-terminated string it owns).
    fn tpp_dnnl_fwd_impl(f: *const c_void) -> *const std::ffi::c_char = std::ptr::null();
    /// A BERT encoder layer (inference) composed from oneDNN primitives: inner products, batched
    /// matmuls, softmax and layer norms (see `c/dnnl_ops_shim.c`).
    fn tpp_dnnl_bert_layer(bf16: i32, batch: i64, seq: i64, hidden: i64, heads: i64, inter: i64) -> *mut c_void =
        std::ptr::null_mut();
    /// Runs a layer from [`tpp_dnnl_bert_layer`] on `threads` OpenMP threads.
    fn tpp_dnnl_bert_run(l: *mut c_void, threads: i32) -> i32 = -1;
    /// The implementations oneDNN picked for the layer's steps, space-separated.
    fn tpp_dnnl_bert_impl(l: *const c_void) -> *const std::ffi::c_char = std::ptr::null();
}

/// Runs `make` (a primitive constructor) with `threads` OpenMP threads on the calling thread,
/// then goes back to 1: oneDNN plans a primitive's parallel split when it creates it, so a
/// primitive must be created with the thread count it will run on.
pub fn with_threads<R>(threads: usize, make: impl FnOnce() -> R) -> R {
    // SAFETY: only sets an OpenMP variable of the calling thread.
    unsafe { tpp_dnnl_set_threads(threads as i32) };
    let r = make();
    // SAFETY: as above.
    unsafe { tpp_dnnl_set_threads(1) };
    r
}
