//! The C ABI (`include/tpp.h`, generated from this module by cbindgen and checked by
//! `tests/ffi_header.rs`): descriptors as plain structs with integer codes, dispatch to an
//! opaque kernel handle, calls on the kernels' own argument structs, kernel info, release,
//! and errors as status codes with a thread-local message. Every entry point validates its
//! arguments (null or implausible pointers, negative or overflowing sizes, unknown codes,
//! batch counts no memory can hold; kernel handles are checked ids, see `handles`) and catches
//! panics, so none crosses the boundary. `tests/c/ffi_bad_input.c` exercises each of these
//! under AddressSanitizer and UBSan.
#![allow(non_camel_case_types)]

mod bert;
#[cfg(feature = "blas")]
pub mod blas;
#[cfg(feature = "blas")]
pub mod cblas;
#[cfg(feature = "blas")]
pub mod cblas_batch;
mod codes;
mod desc;
mod equation;
mod handles;
mod matmul;
mod ops;

pub use bert::*;
pub use codes::*;
pub use desc::*;
pub use equation::*;
pub use handles::tpp_kernel;
pub use matmul::*;
pub use ops::*;

use crate::dispatch::{Binary, Gemm, Reduce, Ternary, Unary};
use crate::exec::{BinaryArgs, Family, GemmArgs, Kernel, ReduceArgs, TernaryArgs, UnaryArgs};
use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of every C entry point.
pub type tpp_status = i32;
/// Success.
pub const TPP_OK: tpp_status = 0;
/// An argument is invalid: a null or implausible pointer, a negative or overflowing size, an
/// unknown code, a kernel of another family. `tpp_last_error` says which.
pub const TPP_ERR_INVALID_ARGUMENT: tpp_status = 1;
/// The descriptor is outside the ISA; `tpp_last_error` names the field and what is allowed.
pub const TPP_ERR_INVALID_DESCRIPTOR: tpp_status = 2;
/// No backend can generate the kernel (only when one is forced by `TPP_TARGET`).
pub const TPP_ERR_UNSUPPORTED: tpp_status = 3;
/// An internal error was caught at the boundary (a bug in tpp: please report it).
pub const TPP_ERR_INTERNAL: tpp_status = 4;

thread_local! {
    /// This thread's last error message, NUL-terminated (empty: none). One buffer, reused, so
    /// that the success of a kernel call costs no allocation.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// An error of a C entry point: its status and message.
#[derive(Debug)]
pub(crate) struct Fail(tpp_status, String);

impl Fail {
    pub(crate) fn arg(msg: impl Into<String>) -> Fail {
        Fail(TPP_ERR_INVALID_ARGUMENT, msg.into())
    }
}

impl From<crate::Error> for Fail {
    fn from(e: crate::Error) -> Fail {
        let status = match e {
            crate::Error::InvalidDescriptor { .. } => TPP_ERR_INVALID_DESCRIPTOR,
            crate::Error::Unsupported { .. } => TPP_ERR_UNSUPPORTED,
            _ => TPP_ERR_INVALID_ARGUMENT,
        };
        Fail(status, e.to_string())
    }
}

fn set_error(msg: &str) {
    // try_with: a call from a thread-local destructor must not panic across the boundary.
    let _ = LAST_ERROR.try_with(|e| {
        let Ok(mut e) = e.try_borrow_mut() else {
            return;
        };
        if msg.is_empty() && e.first().is_none_or(|&b| b == 0) {
            return;
        }
        e.clear();
        e.extend(msg.bytes().map(|b| if b == 0 { b' ' } else { b }));
        e.push(0);
    });
}

/// Runs `f`, turning its error or panic into a status (and the thread's last error).
pub(crate) fn guard(f: impl FnOnce() -> Result<(), Fail>) -> tpp_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_error("");
            TPP_OK
        }
        Ok(Err(Fail(status, msg))) => {
            set_error(&msg);
            status
        }
        Err(_) => {
            set_error("internal error (a panic was caught at the C boundary)");
            TPP_ERR_INTERNAL
        }
    }
}

/// `p` as a reference, or an error naming it when null or implausible.
pub(crate) unsafe fn non_null<'a, T>(p: *const T, what: &str) -> Result<&'a T, Fail> {
    if !plausible(p.cast(), std::mem::align_of::<T>()) {
        return Err(Fail::arg(format!(
            "{what} is null or not a valid pointer ({p:p})"
        )));
    }
    Ok(&*p)
}

/// Not null, past the zero page, and aligned to `align`.
pub(crate) fn plausible(p: *const c_void, align: usize) -> bool {
    let a = p as usize;
    a >= 4096 && a.is_multiple_of(align)
}

/// A kernel of any family.
#[derive(Clone, Copy)]
pub(crate) enum AnyKernel {
    Gemm(Kernel<Gemm>),
    Unary(Kernel<Unary>),
    Binary(Kernel<Binary>),
    Ternary(Kernel<Ternary>),
    Reduce(Kernel<Reduce>),
    Equation(crate::EquationKernel),
}

impl AnyKernel {
    /// The kernel's identity: the address of its process-lifetime record.
    fn addr(&self) -> usize {
        fn of<F: Family>(k: &Kernel<F>) -> usize {
            std::ptr::from_ref(k.inner).addr()
        }
        match self {
            AnyKernel::Gemm(k) => of(k),
            AnyKernel::Unary(k) => of(k),
            AnyKernel::Binary(k) => of(k),
            AnyKernel::Ternary(k) => of(k),
            AnyKernel::Reduce(k) => of(k),
            AnyKernel::Equation(k) => k.addr(),
        }
    }

    /// Its name and backend.
    fn names(&self) -> (&str, &str) {
        match self {
            AnyKernel::Gemm(k) => (k.name(), k.backend()),
            AnyKernel::Unary(k) => (k.name(), k.backend()),
            AnyKernel::Binary(k) => (k.name(), k.backend()),
            AnyKernel::Ternary(k) => (k.name(), k.backend()),
            AnyKernel::Reduce(k) => (k.name(), k.backend()),
            AnyKernel::Equation(k) => (k.name(), k.backend()),
        }
    }
}

/// What a kernel is (the strings belong to the kernel and stay valid for the process; two
/// handles of the same kernel give the same `name` pointer).
#[repr(C)]
pub struct tpp_kernel_info {
    /// Descriptive name, e.g. `gemm_avx512_f32_m64n64k64_beta1`.
    pub name: *const c_char,
    /// The backend that generated it (`avx512`, `reference`, ...).
    pub backend: *const c_char,
    /// Nominal flops of one call (per batch member for batch-reduce GEMM).
    pub flops: u64,
    /// Bytes of machine code (0 for the reference backend).
    pub code_size: u64,
    /// 1 when the portable reference backend runs it (no JIT backend claimed it).
    pub is_reference: i32,
    /// `TPP_FAMILY_GEMM`, `..._UNARY`, `..._BINARY`, `..._TERNARY` or `..._REDUCE`.
    pub family: i32,
}

/// Dispatches through `dispatch` and writes a new handle to `*out` (checked first, so a bad
/// `out` never costs a handle).
unsafe fn dispatch_into(
    out: *mut *mut tpp_kernel,
    dispatch: impl FnOnce() -> Result<AnyKernel, Fail>,
) -> Result<(), Fail> {
    if !plausible(out.cast(), std::mem::align_of::<*mut tpp_kernel>()) {
        return Err(Fail::arg(format!(
            "out (the kernel handle's destination) is null or misaligned ({out:p})"
        )));
    }
    *out = handles::insert(dispatch()?)?;
    Ok(())
}

/// Dispatches a GEMM / BRGEMM descriptor: validates it and returns a kernel handle in `*out`
/// (release it with `tpp_kernel_release`; the generated code itself is cached for the process).
///
/// # Safety
/// `desc` must point to a `tpp_gemm_desc`, `out` to a writable handle pointer.
#[no_mangle]
pub unsafe extern "C" fn tpp_gemm_dispatch(
    desc: *const tpp_gemm_desc,
    out: *mut *mut tpp_kernel,
) -> tpp_status {
    guard(|| {
        dispatch_into(out, || {
            let d = non_null(desc, "desc")?.to_desc()?;
            Ok(AnyKernel::Gemm(d.dispatch()?))
        })
    })
}

/// Dispatches a unary descriptor (see `tpp_gemm_dispatch`).
///
/// # Safety
/// As for `tpp_gemm_dispatch`.
#[no_mangle]
pub unsafe extern "C" fn tpp_unary_dispatch(
    desc: *const tpp_unary_desc,
    out: *mut *mut tpp_kernel,
) -> tpp_status {
    guard(|| {
        dispatch_into(out, || {
            let d = non_null(desc, "desc")?.to_desc()?;
            Ok(AnyKernel::Unary(d.dispatch()?))
        })
    })
}

/// Dispatches a binary descriptor (see `tpp_gemm_dispatch`).
///
/// # Safety
/// As for `tpp_gemm_dispatch`.
#[no_mangle]
pub unsafe extern "C" fn tpp_binary_dispatch(
    desc: *const tpp_binary_desc,
    out: *mut *mut tpp_kernel,
) -> tpp_status {
    guard(|| {
        dispatch_into(out, || {
            let d = non_null(desc, "desc")?.to_desc()?;
            Ok(AnyKernel::Binary(d.dispatch()?))
        })
    })
}

/// Dispatches a ternary descriptor (see `tpp_gemm_dispatch`).
///
/// # Safety
/// As for `tpp_gemm_dispatch`.
#[no_mangle]
pub unsafe extern "C" fn tpp_ternary_dispatch(
    desc: *const tpp_ternary_desc,
    out: *mut *mut tpp_kernel,
) -> tpp_status {
    guard(|| {
        dispatch_into(out, || {
            let d = non_null(desc, "desc")?.to_desc()?;
            Ok(AnyKernel::Ternary(d.dispatch()?))
        })
    })
}

/// Dispatches a reduce descriptor (see `tpp_gemm_dispatch`).
///
/// # Safety
/// As for `tpp_gemm_dispatch`.
#[no_mangle]
pub unsafe extern "C" fn tpp_reduce_dispatch(
    desc: *const tpp_reduce_desc,
    out: *mut *mut tpp_kernel,
) -> tpp_status {
    guard(|| {
        dispatch_into(out, || {
            let d = non_null(desc, "desc")?.to_desc()?;
            Ok(AnyKernel::Reduce(d.dispatch()?))
        })
    })
}

/// The kernel behind a handle, checked to be of the family `want`.
fn kernel(k: *const tpp_kernel, want: &str) -> Result<&'static AnyKernel, Fail> {
    let k = &handles::lookup(k)?.kernel;
    let family = match k {
        AnyKernel::Gemm(_) => "gemm",
        AnyKernel::Unary(_) => "unary",
        AnyKernel::Binary(_) => "binary",
        AnyKernel::Ternary(_) => "ternary",
        AnyKernel::Reduce(_) => "reduce",
        AnyKernel::Equation(_) => "equation",
    };
    if family != want {
        return Err(Fail::arg(format!(
            "kernel is a {family} kernel; tpp_{want}_call takes {want} kernels"
        )));
    }
    Ok(k)
}

/// Checks the operand pointers a call needs: non-null, plausible and aligned to their dtype.
fn operands(list: &[(&str, *const c_void, usize)]) -> Result<(), Fail> {
    for &(what, p, align) in list {
        if !plausible(p, align) {
            return Err(Fail::arg(format!(
                "{what} is null, in the zero page or not aligned to its {align}-byte elements ({p:p})"
            )));
        }
    }
    Ok(())
}

/// Rejects a batch count that no memory can hold: the A and B matrices of a stride batch, or
/// the offset or address arrays, spanning more than `isize::MAX` bytes (the ISA's limit on one
/// operand). Counts below that remain the caller's to get right, as every extent is.
fn check_batch(d: &crate::GemmDesc, batch: u64) -> Result<(), Fail> {
    use crate::isa::BatchReduce;
    let span = |stride: usize, one: usize, size: usize| -> u128 {
        (u128::from(batch) - 1) * stride as u128 * size as u128 + one as u128 * size as u128
    };
    let (what, bytes) = match d.batch {
        BatchReduce::None => return Ok(()),
        _ if batch == 0 => return Ok(()),
        BatchReduce::Stride { a, b } => {
            let sa = span(a, d.a_len(), d.a_dtype.size());
            let sb = span(b, d.b_len(), d.b_dtype.size());
            ("A and B matrices", sa.max(sb))
        }
        BatchReduce::Offsets => ("offset arrays", u128::from(batch) * 8),
        BatchReduce::Addresses => ("address arrays", u128::from(batch) * 8),
    };
    if bytes > isize::MAX as u128 {
        return Err(Fail::arg(format!(
            "args->batch = {batch}: its {what} would span {bytes} bytes, more than an operand \
             can (isize::MAX)"
        )));
    }
    Ok(())
}

/// Runs a GEMM kernel: `C = act(alpha·Σ op(A_i)·op(B_i) + beta·C + bias)`.
///
/// # Safety
/// `args` must hold pointers valid for the extents the kernel's descriptor implies (the
/// operands of `tpp_gemm_args`, as documented there); tpp checks them for null and alignment
/// only. A and B may alias each other; C may not alias them.
#[no_mangle]
pub unsafe extern "C" fn tpp_gemm_call(k: *const tpp_kernel, args: *const GemmArgs) -> tpp_status {
    guard(|| {
        let AnyKernel::Gemm(g) = kernel(k, "gemm")? else {
            unreachable!("checked by `kernel`")
        };
        let a = non_null(args, "args")?;
        let d = g.desc();
        let batched = d.batch != crate::isa::BatchReduce::None;
        let mut need = vec![("args->c", a.c as *const c_void, d.c_dtype.size())];
        let batch = if batched { a.batch } else { 1 };
        if batched {
            check_batch(d, batch)?;
        }
        if batch > 0 {
            let (sa, sb) = match d.batch {
                crate::isa::BatchReduce::Addresses => (8, 8),
                _ => (d.a_dtype.size(), d.b_dtype.size()),
            };
            need.push(("args->a", a.a, sa));
            need.push(("args->b", a.b, sb));
            if d.batch == crate::isa::BatchReduce::Offsets {
                need.push(("args->a_offsets", a.a_offsets.cast(), 8));
                need.push(("args->b_offsets", a.b_offsets.cast(), 8));
            }
        }
        if let Some(bias) = d.epilogue.bias {
            need.push(("args->bias", a.bias, bias.dtype.size()));
        }
        if d.epilogue.activation.writes_mask() {
            need.push(("args->relu_mask", a.relu_mask as *const c_void, 1));
        }
        operands(&need)?;
        g.call_raw(a);
        Ok(())
    })
}

/// Runs a unary kernel.
///
/// # Safety
/// As for `tpp_gemm_call`, with the operands of `tpp_unary_args`.
#[no_mangle]
pub unsafe extern "C" fn tpp_unary_call(
    k: *const tpp_kernel,
    args: *const UnaryArgs,
) -> tpp_status {
    guard(|| {
        let AnyKernel::Unary(u) = kernel(k, "unary")? else {
            unreachable!("checked by `kernel`")
        };
        let a = non_null(args, "args")?;
        let d = u.desc();
        let op = d.op;
        let mut need = vec![(
            "args->output",
            a.output as *const c_void,
            d.out_dtype.size(),
        )];
        if op.reads_input() {
            need.push(("args->input", a.input, d.in_dtype.size()));
        }
        if op.reads_aux() {
            need.push(("args->aux", a.aux, d.in_dtype.size()));
        }
        if op.reads_mask() {
            need.push(("args->mask_in", a.mask_in.cast(), 1));
        }
        if op.writes_mask() {
            need.push(("args->mask_out", a.mask_out as *const c_void, 1));
        }
        if op.reads_indices() {
            need.push(("args->indices", a.indices.cast(), 8));
        }
        operands(&need)?;
        u.call_raw(a);
        Ok(())
    })
}

/// Runs a binary kernel (comparisons write a bitmask to `output`).
///
/// # Safety
/// As for `tpp_gemm_call`, with the operands of `tpp_binary_args`.
#[no_mangle]
pub unsafe extern "C" fn tpp_binary_call(
    k: *const tpp_kernel,
    args: *const BinaryArgs,
) -> tpp_status {
    guard(|| {
        let AnyKernel::Binary(b) = kernel(k, "binary")? else {
            unreachable!("checked by `kernel`")
        };
        let a = non_null(args, "args")?;
        let d = b.desc();
        let out_align = if d.op.is_compare() {
            1
        } else {
            d.out_dtype.size()
        };
        operands(&[
            ("args->in0", a.in0, d.in0_dtype.size()),
            ("args->in1", a.in1, d.in1_dtype.size()),
            ("args->output", a.output as *const c_void, out_align),
        ])?;
        b.call_raw(a);
        Ok(())
    })
}

/// Runs a ternary kernel.
///
/// # Safety
/// As for `tpp_gemm_call`, with the operands of `tpp_ternary_args`.
#[no_mangle]
pub unsafe extern "C" fn tpp_ternary_call(
    k: *const tpp_kernel,
    args: *const TernaryArgs,
) -> tpp_status {
    guard(|| {
        let AnyKernel::Ternary(t) = kernel(k, "ternary")? else {
            unreachable!("checked by `kernel`")
        };
        let a = non_null(args, "args")?;
        let d = t.desc();
        let mut need = vec![
            ("args->in0", a.in0, d.in_dtypes[0].size()),
            ("args->in1", a.in1, d.in_dtypes[1].size()),
            (
                "args->output",
                a.output as *const c_void,
                d.out_dtype.size(),
            ),
        ];
        if d.op == crate::isa::TernaryOp::Select {
            need.push(("args->mask", a.mask.cast(), 1));
        } else {
            need.push(("args->in2", a.in2, d.in_dtypes[2].size()));
        }
        operands(&need)?;
        t.call_raw(a);
        Ok(())
    })
}

/// Runs a reduce kernel.
///
/// # Safety
/// As for `tpp_gemm_call`, with the operands of `tpp_reduce_args`.
#[no_mangle]
pub unsafe extern "C" fn tpp_reduce_call(
    k: *const tpp_kernel,
    args: *const ReduceArgs,
) -> tpp_status {
    guard(|| {
        let AnyKernel::Reduce(r) = kernel(k, "reduce")? else {
            unreachable!("checked by `kernel`")
        };
        let a = non_null(args, "args")?;
        let d = r.desc();
        operands(&[
            ("args->input", a.input, d.in_dtype.size()),
            (
                "args->output",
                a.output as *const c_void,
                d.out_dtype.size(),
            ),
        ])?;
        r.call_raw(a);
        Ok(())
    })
}

/// Fills `*info` with what the kernel is (a released or unknown handle is an error).
///
/// # Safety
/// `info` must be null or point to writable memory for a `tpp_kernel_info`.
#[no_mangle]
pub unsafe extern "C" fn tpp_kernel_get_info(
    k: *const tpp_kernel,
    info: *mut tpp_kernel_info,
) -> tpp_status {
    guard(|| {
        let h = handles::lookup(k)?;
        if !plausible(info.cast(), std::mem::align_of::<tpp_kernel_info>()) {
            return Err(Fail::arg(format!("info is null or misaligned ({info:p})")));
        }
        let (i, family) = match &h.kernel {
            AnyKernel::Gemm(k) => (k.info().clone(), TPP_FAMILY_GEMM),
            AnyKernel::Unary(k) => (k.info().clone(), TPP_FAMILY_UNARY),
            AnyKernel::Binary(k) => (k.info().clone(), TPP_FAMILY_BINARY),
            AnyKernel::Ternary(k) => (k.info().clone(), TPP_FAMILY_TERNARY),
            AnyKernel::Reduce(k) => (k.info().clone(), TPP_FAMILY_REDUCE),
            AnyKernel::Equation(k) => (k.info().clone(), TPP_FAMILY_EQUATION),
        };
        *info = tpp_kernel_info {
            name: h.name.as_ptr(),
            backend: h.backend.as_ptr(),
            flops: i.flops,
            code_size: i.code_size as u64,
            is_reference: i32::from(i.is_reference),
            family,
        };
        Ok(())
    })
}

/// Releases a kernel handle (null is allowed and does nothing); the kernel's code stays cached
/// for other handles of the same descriptor. Using or releasing the handle again is an error
/// (`TPP_ERR_INVALID_ARGUMENT`, "was released"), never undefined behaviour: handles are ids
/// checked on every use, not pointers.
#[no_mangle]
pub extern "C" fn tpp_kernel_release(k: *mut tpp_kernel) -> tpp_status {
    guard(|| {
        if k.is_null() {
            return Ok(());
        }
        handles::release(k)
    })
}

/// The number of kernel handles dispatched and not yet released, in the whole process (a
/// program can check that it releases what it dispatches).
#[no_mangle]
pub extern "C" fn tpp_live_handles() -> u64 {
    catch_unwind(handles::live).unwrap_or(0)
}

/// The message of this thread's last failed call ("" after a success); valid until the
/// thread's next tpp call.
#[no_mangle]
pub extern "C" fn tpp_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| match e.try_borrow() {
            Ok(e) if !e.is_empty() => e.as_ptr().cast(),
            _ => c"".as_ptr(),
        })
        .unwrap_or(c"".as_ptr())
}

/// The library version, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn tpp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
