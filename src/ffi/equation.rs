//! Equations in the C ABI: a builder addressed by an id (never a pointer, so a stale or
//! foreign value is an error, not undefined behaviour), nodes named by their `int32_t` index,
//! dispatch to an ordinary kernel handle, and `tpp_equation_call`.
//!
//! ```c
//! tpp_equation *eq;
//! tpp_equation_create(rows, cols, &eq);
//! int32_t x, g, y;
//! tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_NONE, ld, &x);
//! tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_ROW, 0, &g);
//! tpp_equation_binary(eq, TPP_BINARY_MUL, x, g, &y);
//! tpp_equation_output(eq, y, TPP_DTYPE_BF16, ld);
//! tpp_kernel *k;
//! tpp_equation_dispatch(eq, &k);
//! tpp_equation_destroy(eq);
//! ```

use super::codes::{
    binary_op, broadcast, dtype, reduce_axis, reduce_op, size, ternary_op, unary_op,
};
use super::handles::tpp_kernel;
use super::{guard, kernel, non_null, plausible, tpp_status, AnyKernel, Fail};
use crate::exec::EquationArgs;
use crate::isa::{equations, Equation, Expr, Layout, TernaryOp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// An equation under construction (`tpp_equation *` in C): an id, never dereferenced.
pub struct tpp_equation {
    _opaque: [u8; 0],
}

/// Ready-made equations (`tpp_equation_create_ready`): layer norm (param: eps).
pub const TPP_EQ_LAYER_NORM: i32 = 0;
/// Layer norm backward.
pub const TPP_EQ_LAYER_NORM_BWD: i32 = 1;
/// RMS norm (param: eps).
pub const TPP_EQ_RMS_NORM: i32 = 2;
/// RMS norm backward.
pub const TPP_EQ_RMS_NORM_BWD: i32 = 3;
/// Softmax over rows.
pub const TPP_EQ_SOFTMAX: i32 = 4;
/// Softmax backward.
pub const TPP_EQ_SOFTMAX_BWD: i32 = 5;
/// Bias + GELU (tanh form).
pub const TPP_EQ_BIAS_GELU: i32 = 6;
/// Dropout + residual add (param: p).
pub const TPP_EQ_DROPOUT_RESIDUAL: i32 = 7;
/// silu(a)·b.
pub const TPP_EQ_SILU_GATE: i32 = 8;
/// AdamW step.
pub const TPP_EQ_ADAMW: i32 = 9;
/// SGD with momentum.
pub const TPP_EQ_SGD_MOMENTUM: i32 = 10;
/// One online-softmax step of flash attention over a block of f32 scores `S` (`rows × cols`,
/// contiguous): inputs `S`, `m`, `l`; outputs `P` (`dtype`, contiguous), `m'`, `l'`, `c`.
pub const TPP_EQ_ONLINE_SOFTMAX: i32 = 11;

/// The tag in the top byte of builder ids ('e'); ids are never reused.
const TAG: u64 = 0x65 << 56;
static NEXT: AtomicU64 = AtomicU64::new(1);
static BUILDERS: Mutex<Option<HashMap<u64, Equation>>> = Mutex::new(None);

fn with<R>(eq: *const tpp_equation, f: impl FnOnce(&mut Equation) -> R) -> Result<R, Fail> {
    let id = eq as u64;
    let mut guard = BUILDERS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    match map.get_mut(&id) {
        Some(e) if id & (0xff << 56) == TAG => Ok(f(e)),
        _ => Err(Fail::arg(format!(
            "eq ({eq:p}) is not a live equation (never created, or destroyed)"
        ))),
    }
}

fn register(eq: Equation, out: *mut *mut tpp_equation) -> Result<(), Fail> {
    if !plausible(out.cast(), std::mem::align_of::<*mut tpp_equation>()) {
        return Err(Fail::arg(format!("out is null or misaligned ({out:p})")));
    }
    let id = TAG | NEXT.fetch_add(1, Ordering::Relaxed);
    BUILDERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(id, eq);
    // SAFETY: `out` was checked to be a plausible, aligned pointer.
    unsafe { *out = id as *mut tpp_equation };
    Ok(())
}

fn node_out(out: *mut i32) -> Result<(), Fail> {
    if plausible(out.cast(), 4) {
        Ok(())
    } else {
        Err(Fail::arg(format!(
            "node_out is null or misaligned ({out:p})"
        )))
    }
}

fn node(eq: &Equation, n: i32, what: &str) -> Result<Expr, Fail> {
    if n < 0 || n as usize >= eq.nodes().len() {
        return Err(Fail::arg(format!(
            "{what} = {n} is not a node of this equation (0..{})",
            eq.nodes().len()
        )));
    }
    Ok(Expr(n as u32))
}

/// Adds a node through `f` and writes its index to `*node_out`.
unsafe fn add(
    eq: *mut tpp_equation,
    node_out_ptr: *mut i32,
    f: impl FnOnce(&mut Equation) -> Result<Expr, Fail>,
) -> tpp_status {
    guard(|| {
        node_out(node_out_ptr)?;
        let e = with(eq, f)??;
        *node_out_ptr = e.0 as i32;
        Ok(())
    })
}

/// Starts an equation over a `rows × cols` space; `*out` receives its id (free it with
/// `tpp_equation_destroy`; dispatched kernels outlive it).
///
/// # Safety
/// `out` must point to a writable `tpp_equation *`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_create(
    rows: i64,
    cols: i64,
    out: *mut *mut tpp_equation,
) -> tpp_status {
    guard(|| register(Equation::new(size("rows", rows)?, size("cols", cols)?), out))
}

/// Starts from a ready-made equation (`TPP_EQ_*`; `param` is eps for the norms and p for
/// dropout, ignored otherwise). Their inputs and outputs are documented in `tpp::equations`.
///
/// # Safety
/// `out` must point to a writable `tpp_equation *`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_create_ready(
    kind: i32,
    rows: i64,
    cols: i64,
    dtype_code: i32,
    param: f32,
    out: *mut *mut tpp_equation,
) -> tpp_status {
    guard(|| {
        let (r, c, d) = (
            size("rows", rows)?,
            size("cols", cols)?,
            dtype("dtype", dtype_code)?,
        );
        let eq = match kind {
            TPP_EQ_LAYER_NORM => equations::layer_norm(r, c, d, param),
            TPP_EQ_LAYER_NORM_BWD => equations::layer_norm_backward(r, c, d),
            TPP_EQ_RMS_NORM => equations::rms_norm(r, c, d, param),
            TPP_EQ_RMS_NORM_BWD => equations::rms_norm_backward(r, c, d),
            TPP_EQ_SOFTMAX => equations::softmax(r, c, d),
            TPP_EQ_SOFTMAX_BWD => equations::softmax_backward(r, c, d),
            TPP_EQ_BIAS_GELU => equations::bias_activation(r, c, d, crate::UnaryOp::Gelu),
            TPP_EQ_DROPOUT_RESIDUAL => equations::dropout_residual(r, c, d, param),
            TPP_EQ_SILU_GATE => equations::silu_gate(r, c, d),
            TPP_EQ_ADAMW => equations::adamw(r, c, d),
            TPP_EQ_SGD_MOMENTUM => equations::sgd_momentum(r, c, d),
            TPP_EQ_ONLINE_SOFTMAX => equations::online_softmax(r, c, c, d),
            _ => {
                return Err(Fail::arg(format!(
                    "kind = {kind} is not a code of TPP_EQ_* (0..=11)"
                )))
            }
        };
        register(eq, out)
    })
}

/// Frees an equation under construction (null is allowed and does nothing).
#[no_mangle]
pub extern "C" fn tpp_equation_destroy(eq: *mut tpp_equation) -> tpp_status {
    guard(|| {
        if eq.is_null() {
            return Ok(());
        }
        let mut guard = BUILDERS.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut().and_then(|m| m.remove(&(eq as u64))) {
            Some(_) => Ok(()),
            None => Err(Fail::arg(format!("eq ({eq:p}) is not a live equation"))),
        }
    })
}

/// Declares the next value input (`ld` is used for full matrices only).
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_input(
    eq: *mut tpp_equation,
    dtype_code: i32,
    bcast: i32,
    ld: i64,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| {
        let (d, b) = (dtype("dtype", dtype_code)?, broadcast("broadcast", bcast)?);
        let ld = if b == crate::Broadcast::None {
            size("ld", ld)?
        } else {
            e.cols()
        };
        Ok(e.input_ld(d, b, ld))
    })
}

/// Declares the mask input (`ld_bits` bits per row).
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_mask_input(
    eq: *mut tpp_equation,
    ld_bits: i64,
    node_out: *mut i32,
) -> tpp_status {
    add(
        eq,
        node_out,
        |e| Ok(e.mask_input(size("ld_bits", ld_bits)?)),
    )
}

/// An f32 constant.
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_constant(
    eq: *mut tpp_equation,
    value: f32,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| Ok(e.constant(value)))
}

/// A unary op (`TPP_UNARY_*`, with `mask` and `param` as in `tpp_unary_desc_init`) of `x`;
/// backward ops take the forward input or mask as `aux` (`-1` for none).
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_unary(
    eq: *mut tpp_equation,
    op: i32,
    mask: i32,
    param: f32,
    x: i32,
    aux: i32,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| {
        let op = unary_op(op, mask != 0, param, Layout::RowMajor)?;
        let x = node(e, x, "x")?;
        Ok(if aux < 0 {
            e.unary(op, x)
        } else {
            let a = node(e, aux, "aux")?;
            e.unary_bwd(op, x, a)
        })
    })
}

/// A binary op (`TPP_BINARY_*`; comparisons yield a mask node).
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_binary(
    eq: *mut tpp_equation,
    op: i32,
    a: i32,
    b: i32,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| {
        let (a, b) = (node(e, a, "a")?, node(e, b, "b")?);
        Ok(e.binary(binary_op(op)?, a, b))
    })
}

/// A ternary op (`TPP_TERNARY_*`; for `SELECT`, `a` is the mask node).
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_ternary(
    eq: *mut tpp_equation,
    op: i32,
    a: i32,
    b: i32,
    c: i32,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| {
        let (a, b, c) = (node(e, a, "a")?, node(e, b, "b")?, node(e, c, "c")?);
        Ok(match ternary_op(op)? {
            TernaryOp::Select => e.select(a, b, c),
            t => e.ternary(t, a, b, c),
        })
    })
}

/// A reduction (`TPP_REDUCE_*` along `TPP_AXIS_*`) of a full-matrix node.
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_reduce(
    eq: *mut tpp_equation,
    op: i32,
    axis: i32,
    x: i32,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| {
        let x = node(e, x, "x")?;
        Ok(e.reduce(reduce_op(op)?, reduce_axis(axis)?, x))
    })
}

/// The mask a relu-with-mask or dropout node writes.
///
/// # Safety
/// `node_out` must point to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_mask_of(
    eq: *mut tpp_equation,
    x: i32,
    node_out: *mut i32,
) -> tpp_status {
    add(eq, node_out, |e| {
        let x = node(e, x, "x")?;
        Ok(e.mask_of(x))
    })
}

/// Marks a value node as the next output (`ld` for full matrices only).
#[no_mangle]
pub extern "C" fn tpp_equation_output(
    eq: *mut tpp_equation,
    n: i32,
    dtype_code: i32,
    ld: i64,
) -> tpp_status {
    guard(|| {
        with(eq, |e| {
            let x = node(e, n, "node")?;
            let d = dtype("dtype", dtype_code)?;
            let ld = if ld <= 0 { e.cols() } else { size("ld", ld)? };
            e.output_ld(x, d, ld);
            Ok(())
        })?
    })
}

/// Marks a mask node as the next output, a bitmask of `ld_bits` bits per row.
#[no_mangle]
pub extern "C" fn tpp_equation_mask_output(
    eq: *mut tpp_equation,
    n: i32,
    ld_bits: i64,
) -> tpp_status {
    guard(|| {
        with(eq, |e| {
            let x = node(e, n, "node")?;
            e.mask_output(x, size("ld_bits", ld_bits)?);
            Ok(())
        })?
    })
}

/// Validates the equation and returns a kernel handle in `*out` (release it with
/// `tpp_kernel_release`; `tpp_kernel_get_info` says which backend runs it).
///
/// # Safety
/// `out` must point to a writable `tpp_kernel *`.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_dispatch(
    eq: *mut tpp_equation,
    out: *mut *mut tpp_kernel,
) -> tpp_status {
    guard(|| {
        let e = with(eq, |e| e.clone())?;
        super::dispatch_into(out, || Ok(AnyKernel::Equation(e.dispatch()?)))
    })
}

/// Runs an equation kernel: `args->inputs` holds one pointer per input, `args->outputs` one
/// per output (in declaration order), `args->mask_in` the mask input if the equation reads one.
///
/// # Safety
/// Every pointer must be valid for the extent the equation implies (rows × ld elements of its
/// dtype for a full matrix, `cols` for a row vector, `rows` for a column vector, 1 for a
/// scalar, bitmask bytes for masks). Outputs may overlap only the inputs the Rust API's
/// `EquationKernel::may_alias` allows.
#[no_mangle]
pub unsafe extern "C" fn tpp_equation_call(
    k: *const tpp_kernel,
    args: *const EquationArgs,
) -> tpp_status {
    guard(|| {
        let AnyKernel::Equation(e) = kernel(k, "equation")? else {
            unreachable!("checked by `kernel`")
        };
        let a = non_null(args, "args")?;
        let eq = e.equation();
        let list = |p: *const *const std::ffi::c_void, n: usize, what: &str| {
            if n > 0 && !plausible(p.cast(), 8) {
                return Err(Fail::arg(format!("args->{what} is null or misaligned")));
            }
            for i in 0..n {
                if !plausible(*p.add(i), 1) {
                    return Err(Fail::arg(format!("args->{what}[{i}] is null or invalid")));
                }
            }
            Ok(())
        };
        list(a.inputs, eq.inputs().len(), "inputs")?;
        list(a.outputs.cast(), eq.outputs().len(), "outputs")?;
        if !eq.mask_inputs().is_empty() && !plausible(a.mask_in.cast(), 1) {
            return Err(Fail::arg(
                "args->mask_in is null (the equation reads a mask)",
            ));
        }
        e.call_raw(a);
        Ok(())
    })
}
