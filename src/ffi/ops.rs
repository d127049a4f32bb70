//! The operators for C callers, on the plain layouts C code holds: convolution on NCHW
//! activations and KCRS weights, fully connected layers on row-major `[rows][features]`
//! activations and `[out][in]` weights, attention on `[B][S][H][D]`. Each call builds the
//! operator's plan (its kernels come from the process cache after the first call), converts to
//! the blocked layouts with tpp's layout kernels, runs, and converts back. Threads: rayon's
//! global pool (`RAYON_NUM_THREADS`).

use super::{guard, non_null, operands, tpp_status, Fail};
use crate::isa::DType;
use crate::ops::{
    Attention, AttentionGrads, AttentionOptions, Conv2d, ConvOptions, ConvShape, Linear,
    LinearOptions, OpElem,
};
use half::bf16;
use std::ffi::c_void;

/// A 2D convolution for `tpp_conv2d_*` (see `tpp::ops::Conv2d`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_conv2d_desc {
    /// `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (activations and weights; bias and weight
    /// gradients are f32).
    pub dtype: i32,
    /// Batch, input channels, input height and width.
    pub n: i64,
    /// See `n`.
    pub c: i64,
    /// See `n`.
    pub h: i64,
    /// See `n`.
    pub w: i64,
    /// Output channels, filter height and width (weights are `[k][c/groups][r][s]`).
    pub k: i64,
    /// See `k`.
    pub r: i64,
    /// See `k`.
    pub s: i64,
    /// Strides (at least 1).
    pub stride_h: i64,
    /// See `stride_h`.
    pub stride_w: i64,
    /// Zero padding on each side.
    pub pad_h: i64,
    /// See `pad_h`.
    pub pad_w: i64,
    /// Dilations (at least 1).
    pub dilation_h: i64,
    /// See `dilation_h`.
    pub dilation_w: i64,
    /// Groups (1 for a plain convolution).
    pub groups: i64,
    /// `TPP_ACT_*` applied after the bias in the forward pass (not `TPP_ACT_RELU_MASK`).
    pub activation: i32,
    /// The slope / scale of `TPP_ACT_LEAKY_RELU` and `TPP_ACT_ELU`.
    pub activation_alpha: f32,
}

/// A fully connected layer for `tpp_linear_*` (see `tpp::ops::Linear`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_linear_desc {
    /// `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (bf16: even `c` and `k`).
    pub dtype: i32,
    /// Rows (batch × tokens), input features, output features.
    pub n: i64,
    /// See `n`.
    pub c: i64,
    /// See `n`.
    pub k: i64,
    /// `TPP_ACT_*` applied after the bias in the forward pass (not `TPP_ACT_RELU_MASK`).
    pub activation: i32,
    /// The slope / scale of `TPP_ACT_LEAKY_RELU` and `TPP_ACT_ELU`.
    pub activation_alpha: f32,
}

/// Scaled dot-product attention for `tpp_attention_forward` (see `tpp::ops::Attention`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_attention_desc {
    /// `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (bf16: even `head_dim`).
    pub dtype: i32,
    /// Batch, heads, query and key sequence lengths, head size.
    pub batch: i64,
    /// See `batch`.
    pub heads: i64,
    /// See `batch`.
    pub seq_q: i64,
    /// See `batch`.
    pub seq_kv: i64,
    /// See `batch`.
    pub head_dim: i64,
    /// 1: causal mask (query i sees keys j <= i + seq_kv - seq_q); 0: none.
    pub causal: i32,
    /// Scale of the scores; 0 means 1/sqrt(head_dim).
    pub scale: f32,
}

/// `len` elements at `p` (checked plausible and aligned by the caller).
pub(super) unsafe fn slice<'a, T>(p: *const c_void, len: usize) -> &'a [T] {
    std::slice::from_raw_parts(p.cast(), len)
}
pub(super) unsafe fn slice_mut<'a, T>(p: *mut c_void, len: usize) -> &'a mut [T] {
    std::slice::from_raw_parts_mut(p.cast(), len)
}

/// Checks the pointers of an entry point (`None`: an optional one left null), each with the
/// bytes it spans (no more than an operand may: `isize::MAX`).
pub(super) fn pointers(list: &[(&str, Option<*const c_void>, usize, usize)]) -> Result<(), Fail> {
    let mut need = vec![];
    for &(what, p, elems, size) in list {
        if elems as u128 * size as u128 > isize::MAX as u128 {
            return Err(Fail::arg(format!(
                "{what} would span more bytes than an operand can"
            )));
        }
        if let Some(p) = p {
            need.push((what, p, size));
        }
    }
    operands(&need)
}

fn opt(p: *const c_void) -> Option<*const c_void> {
    (!p.is_null()).then_some(p)
}

pub(super) fn float_dtype(d: i32) -> Result<DType, Fail> {
    match super::codes::dtype("dtype", d)? {
        t @ (DType::F32 | DType::BF16) => Ok(t),
        other => Err(Fail::arg(format!(
            "dtype = {other}; allowed: TPP_DTYPE_F32 or TPP_DTYPE_BF16"
        ))),
    }
}

impl tpp_conv2d_desc {
    fn plan<T: OpElem>(&self, bias: bool) -> Result<Conv2d<T>, Fail> {
        let z = super::codes::size;
        let shape = ConvShape {
            n: z("n", self.n)?,
            c: z("c", self.c)?,
            h: z("h", self.h)?,
            w: z("w", self.w)?,
            k: z("k", self.k)?,
            r: z("r", self.r)?,
            s: z("s", self.s)?,
        };
        let opts = ConvOptions {
            stride: (z("stride_h", self.stride_h)?, z("stride_w", self.stride_w)?),
            padding: (z("pad_h", self.pad_h)?, z("pad_w", self.pad_w)?),
            dilation: (
                z("dilation_h", self.dilation_h)?,
                z("dilation_w", self.dilation_w)?,
            ),
            groups: z("groups", self.groups)?,
            bias,
            activation: super::codes::activation(self.activation, self.activation_alpha)?,
            ..ConvOptions::default()
        };
        Ok(Conv2d::new(shape, opts)?)
    }
}

/// What a conv entry point does with its plan and plain operands.
enum ConvCall {
    Forward {
        x: *const c_void,
        w: *const c_void,
        bias: *const f32,
        y: *mut c_void,
    },
    BackwardData {
        dy: *const c_void,
        w: *const c_void,
        dx: *mut c_void,
    },
    BackwardWeights {
        x: *const c_void,
        dy: *const c_void,
        dw: *mut f32,
        db: *mut f32,
    },
}

unsafe fn conv_run<T: OpElem>(d: &tpp_conv2d_desc, call: ConvCall) -> Result<(), Fail> {
    let bias = match call {
        ConvCall::Forward { bias, .. } => !bias.is_null(),
        ConvCall::BackwardData { .. } => false,
        ConvCall::BackwardWeights { db, .. } => !db.is_null(),
    };
    let conv = conv_plan::<T>(d, bias)?;
    let (il, ol, wl) = (
        conv.input_layout(),
        conv.output_layout(),
        conv.weight_layout(),
    );
    let (xn, yn, wn, kn) = (
        il.plain_len(),
        ol.plain_len(),
        wl.plain_len(),
        conv.shape().k,
    );
    let sz = std::mem::size_of::<T>();
    let block_x = |x: *const c_void| -> Result<Vec<T>, Fail> {
        let mut b = vec![T::default(); il.len()];
        il.from_nchw(slice(x, xn), &mut b)?;
        Ok(b)
    };
    let block_y = |y: *const c_void| -> Result<Vec<T>, Fail> {
        let mut b = vec![T::default(); ol.len()];
        ol.from_nchw(slice(y, yn), &mut b)?;
        Ok(b)
    };
    let block_w = |w: *const c_void| -> Result<Vec<T>, Fail> {
        let mut b = vec![T::default(); wl.len()];
        wl.from_kcrs(slice(w, wn), &mut b)?;
        Ok(b)
    };
    match call {
        ConvCall::Forward { x, w, bias, y } => {
            pointers(&[
                ("x", Some(x), xn, sz),
                ("w", Some(w), wn, sz),
                ("bias", opt(bias.cast()), kn, 4),
                ("y", Some(y.cast_const()), yn, sz),
            ])?;
            let mut yb = vec![T::default(); ol.len()];
            let b = (!bias.is_null()).then(|| slice::<f32>(bias.cast(), kn));
            conv.forward(&block_x(x)?, &block_w(w)?, b, &mut yb)?;
            ol.to_nchw(&yb, slice_mut(y, yn))?;
        }
        ConvCall::BackwardData { dy, w, dx } => {
            pointers(&[
                ("dy", Some(dy), yn, sz),
                ("w", Some(w), wn, sz),
                ("dx", Some(dx.cast_const()), xn, sz),
            ])?;
            let mut xb = vec![T::default(); il.len()];
            conv.backward_data(&block_y(dy)?, &block_w(w)?, &mut xb)?;
            il.to_nchw(&xb, slice_mut(dx, xn))?;
        }
        ConvCall::BackwardWeights { x, dy, dw, db } => {
            pointers(&[
                ("x", Some(x), xn, sz),
                ("dy", Some(dy), yn, sz),
                ("dw", Some(dw.cast_const().cast()), wn, 4),
                ("db", opt(db.cast_const().cast()), kn, 4),
            ])?;
            let gl = conv.weight_grad_layout();
            let mut wb = vec![0f32; gl.len()];
            let db = (!db.is_null()).then(|| slice_mut::<f32>(db.cast(), kn));
            conv.backward_weights(&block_x(x)?, &block_y(dy)?, &mut wb, db)?;
            gl.to_kcrs(&wb, slice_mut(dw.cast(), wn))?;
        }
    }
    Ok(())
}

fn conv_plan<T: OpElem>(d: &tpp_conv2d_desc, bias: bool) -> Result<Conv2d<T>, Fail> {
    d.plan::<T>(bias)
}

unsafe fn conv_entry(desc: *const tpp_conv2d_desc, call: ConvCall) -> tpp_status {
    guard(|| {
        let d = non_null(desc, "desc")?;
        match float_dtype(d.dtype)? {
            DType::BF16 => conv_run::<bf16>(d, call),
            _ => conv_run::<f32>(d, call),
        }
    })
}

/// `y = act(conv(x, w) + bias)`: `x` NCHW, `w` `[k][c/groups][r][s]`, `bias` `k` f32 values
/// or NULL, `y` `[n][k][p][q]` with `p = (h + 2·pad_h − dilation_h·(r − 1) − 1)/stride_h + 1`
/// (and `q` likewise).
///
/// # Safety
/// `desc` must point to a `tpp_conv2d_desc`; the tensors must hold the elements their shapes
/// give, in the descriptor's dtype.
#[no_mangle]
pub unsafe extern "C" fn tpp_conv2d_forward(
    desc: *const tpp_conv2d_desc,
    x: *const c_void,
    w: *const c_void,
    bias: *const f32,
    y: *mut c_void,
) -> tpp_status {
    conv_entry(desc, ConvCall::Forward { x, w, bias, y })
}

/// `dx` (NCHW) from `dy` (`[n][k][p][q]`, the gradient before the activation) and `w`.
///
/// # Safety
/// As for `tpp_conv2d_forward`.
#[no_mangle]
pub unsafe extern "C" fn tpp_conv2d_backward_data(
    desc: *const tpp_conv2d_desc,
    dy: *const c_void,
    w: *const c_void,
    dx: *mut c_void,
) -> tpp_status {
    conv_entry(desc, ConvCall::BackwardData { dy, w, dx })
}

/// `dw` (`[k][c/groups][r][s]`, f32) and, when `db` is not NULL, `db` (`k` f32 values) from `x`
/// and `dy`.
///
/// # Safety
/// As for `tpp_conv2d_forward`.
#[no_mangle]
pub unsafe extern "C" fn tpp_conv2d_backward_weights(
    desc: *const tpp_conv2d_desc,
    x: *const c_void,
    dy: *const c_void,
    dw: *mut f32,
    db: *mut f32,
) -> tpp_status {
    conv_entry(desc, ConvCall::BackwardWeights { x, dy, dw, db })
}

/// What a linear entry point does.
enum LinearCall {
    Forward {
        x: *const c_void,
        w: *const c_void,
        bias: *const f32,
        y: *mut c_void,
    },
    BackwardData {
        dy: *const c_void,
        w: *const c_void,
        dx: *mut c_void,
    },
    BackwardWeights {
        x: *const c_void,
        dy: *const c_void,
        dw: *mut f32,
        db: *mut f32,
    },
}

unsafe fn linear_run<T: OpElem>(d: &tpp_linear_desc, call: LinearCall) -> Result<(), Fail> {
    let z = super::codes::size;
    let (n, c, k) = (z("n", d.n)?, z("c", d.c)?, z("k", d.k)?);
    let bias = match call {
        LinearCall::Forward { bias, .. } => !bias.is_null(),
        LinearCall::BackwardData { .. } => false,
        LinearCall::BackwardWeights { db, .. } => !db.is_null(),
    };
    let opts = LinearOptions {
        bias,
        activation: super::codes::activation(d.activation, d.activation_alpha)?,
        ..LinearOptions::default()
    };
    let lin = Linear::<T>::new(n, c, k, opts)?;
    let wl = lin.weight_layout();
    let sz = std::mem::size_of::<T>();
    let block_w = |w: *const c_void| -> Result<Vec<T>, Fail> {
        let mut b = vec![T::default(); wl.len()];
        wl.from_kcrs(slice(w, k * c), &mut b)?;
        Ok(b)
    };
    match call {
        LinearCall::Forward { x, w, bias, y } => {
            pointers(&[
                ("x", Some(x), n * c, sz),
                ("w", Some(w), k * c, sz),
                ("bias", opt(bias.cast()), k, 4),
                ("y", Some(y.cast_const()), n * k, sz),
            ])?;
            let b = (!bias.is_null()).then(|| slice::<f32>(bias.cast(), k));
            lin.forward(slice(x, n * c), &block_w(w)?, b, slice_mut(y, n * k))?;
        }
        LinearCall::BackwardData { dy, w, dx } => {
            pointers(&[
                ("dy", Some(dy), n * k, sz),
                ("w", Some(w), k * c, sz),
                ("dx", Some(dx.cast_const()), n * c, sz),
            ])?;
            lin.backward_data(slice(dy, n * k), &block_w(w)?, slice_mut(dx, n * c))?;
        }
        LinearCall::BackwardWeights { x, dy, dw, db } => {
            pointers(&[
                ("x", Some(x), n * c, sz),
                ("dy", Some(dy), n * k, sz),
                ("dw", Some(dw.cast_const().cast()), k * c, 4),
                ("db", opt(db.cast_const().cast()), k, 4),
            ])?;
            let gl = lin.weight_grad_layout();
            let mut wb = vec![0f32; gl.len()];
            let db = (!db.is_null()).then(|| slice_mut::<f32>(db.cast(), k));
            lin.backward_weights(slice(x, n * c), slice(dy, n * k), &mut wb, db)?;
            gl.to_kcrs(&wb, slice_mut(dw.cast(), k * c))?;
        }
    }
    Ok(())
}

unsafe fn linear_entry(desc: *const tpp_linear_desc, call: LinearCall) -> tpp_status {
    guard(|| {
        let d = non_null(desc, "desc")?;
        match float_dtype(d.dtype)? {
            DType::BF16 => linear_run::<bf16>(d, call),
            _ => linear_run::<f32>(d, call),
        }
    })
}

/// `y = act(x·wᵀ + bias)`: `x` `[n][c]`, `w` `[k][c]`, `bias` `k` f32 values or NULL, `y`
/// `[n][k]`, all row-major.
///
/// # Safety
/// `desc` must point to a `tpp_linear_desc`; the tensors must hold the elements their shapes
/// give, in the descriptor's dtype.
#[no_mangle]
pub unsafe extern "C" fn tpp_linear_forward(
    desc: *const tpp_linear_desc,
    x: *const c_void,
    w: *const c_void,
    bias: *const f32,
    y: *mut c_void,
) -> tpp_status {
    linear_entry(desc, LinearCall::Forward { x, w, bias, y })
}

/// `dx = dy·w` (`dy` `[n][k]`, the gradient before the activation; `dx` `[n][c]`).
///
/// # Safety
/// As for `tpp_linear_forward`.
#[no_mangle]
pub unsafe extern "C" fn tpp_linear_backward_data(
    desc: *const tpp_linear_desc,
    dy: *const c_void,
    w: *const c_void,
    dx: *mut c_void,
) -> tpp_status {
    linear_entry(desc, LinearCall::BackwardData { dy, w, dx })
}

/// `dw = dyᵀ·x` (`[k][c]` f32) and, when `db` is not NULL, `db = Σ_rows dy` (`k` f32 values).
///
/// # Safety
/// As for `tpp_linear_forward`.
#[no_mangle]
pub unsafe extern "C" fn tpp_linear_backward_weights(
    desc: *const tpp_linear_desc,
    x: *const c_void,
    dy: *const c_void,
    dw: *mut f32,
    db: *mut f32,
) -> tpp_status {
    linear_entry(desc, LinearCall::BackwardWeights { x, dy, dw, db })
}

/// The attention plan of a descriptor.
fn attention_plan<T: OpElem>(d: &tpp_attention_desc) -> Result<Attention<T>, Fail> {
    let z = super::codes::size;
    let mut o = AttentionOptions::new(
        z("batch", d.batch)?,
        z("heads", d.heads)?,
        z("seq_q", d.seq_q)?,
        z("head_dim", d.head_dim)?,
    );
    o.seq_kv = z("seq_kv", d.seq_kv)?;
    o.causal = match d.causal {
        0 | 1 => d.causal == 1,
        other => return Err(Fail::arg(format!("causal = {other}; allowed: 0 or 1"))),
    };
    o.scale = (d.scale != 0.0).then_some(d.scale);
    Ok(Attention::new(o)?)
}

/// The key lengths from C (NULL: none), after the pointer checks.
pub(super) unsafe fn key_lengths(p: *const i64, batch: usize) -> Result<Option<Vec<usize>>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    let raw = slice::<i64>(p.cast(), batch);
    Ok(Some(
        raw.iter()
            .map(|&l| super::codes::size("key_lengths", l))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// The operands of an attention entry point (unused ones NULL).
struct AttentionCall {
    q: *const c_void,
    k: *const c_void,
    v: *const c_void,
    key_lengths: *const i64,
    out: *mut c_void,
    stats: *mut f32,
    /// The backward pass's dout, dq, dk, dv (all NULL for the forward passes).
    grads: Option<[*mut c_void; 4]>,
}

unsafe fn attention_run<T: OpElem>(d: &tpp_attention_desc, c: AttentionCall) -> Result<(), Fail> {
    let att = attention_plan::<T>(d)?;
    let (lq, lkv) = att.lens();
    let sz = std::mem::size_of::<T>();
    let b = att.options().batch;
    let stats = (!c.stats.is_null()).then_some(c.stats.cast_const().cast());
    let mut list = vec![
        ("q", Some(c.q), lq, sz),
        ("k", Some(c.k), lkv, sz),
        ("v", Some(c.v), lkv, sz),
        ("key_lengths", opt(c.key_lengths.cast()), b, 8),
        ("out", Some(c.out.cast_const()), lq, sz),
        ("stats", stats, att.stats_len(), 4),
    ];
    if let Some([dout, dq, dk, dv]) = c.grads {
        if stats.is_none() {
            return Err(Fail::arg(
                "stats is NULL: the backward pass needs the forward's statistics",
            ));
        }
        list.extend([
            ("dout", Some(dout.cast_const()), lq, sz),
            ("dq", Some(dq.cast_const()), lq, sz),
            ("dk", Some(dk.cast_const()), lkv, sz),
            ("dv", Some(dv.cast_const()), lkv, sz),
        ]);
    }
    pointers(&list)?;
    let lens = key_lengths(c.key_lengths, b)?;
    let (q, k, v) = (slice(c.q, lq), slice(c.k, lkv), slice(c.v, lkv));
    match (c.grads, stats) {
        (Some([dout, dq, dk, dv]), Some(_)) => {
            let grads = AttentionGrads {
                dq: slice_mut(dq, lq),
                dk: slice_mut(dk, lkv),
                dv: slice_mut(dv, lkv),
            };
            let stats = slice::<f32>(c.stats.cast_const().cast(), att.stats_len());
            att.backward(
                q,
                k,
                v,
                lens.as_deref(),
                slice(c.out.cast_const(), lq),
                stats,
                slice(dout.cast_const(), lq),
                grads,
            )?;
        }
        (None, Some(_)) => {
            let stats = slice_mut::<f32>(c.stats.cast(), att.stats_len());
            att.forward_train(q, k, v, lens.as_deref(), slice_mut(c.out, lq), stats)?;
        }
        _ => att.forward(q, k, v, lens.as_deref(), slice_mut(c.out, lq))?,
    }
    Ok(())
}

unsafe fn attention_entry(desc: *const tpp_attention_desc, call: AttentionCall) -> tpp_status {
    guard(|| {
        let d = non_null(desc, "desc")?;
        match float_dtype(d.dtype)? {
            DType::BF16 => attention_run::<bf16>(d, call),
            _ => attention_run::<f32>(d, call),
        }
    })
}

/// `out = softmax(scale·q·kᵀ + mask)·v` per batch and head: `q`, `out` `[batch][seq_q][heads]
/// [head_dim]`, `k`, `v` `[batch][seq_kv][heads][head_dim]`; `key_lengths` (`batch` values in
/// 1..=seq_kv, or NULL) masks padded keys.
///
/// # Safety
/// `desc` must point to a `tpp_attention_desc`; the tensors must hold the elements their shapes
/// give, in the descriptor's dtype.
#[no_mangle]
pub unsafe extern "C" fn tpp_attention_forward(
    desc: *const tpp_attention_desc,
    q: *const c_void,
    k: *const c_void,
    v: *const c_void,
    key_lengths: *const i64,
    out: *mut c_void,
) -> tpp_status {
    let call = AttentionCall {
        q,
        k,
        v,
        key_lengths,
        out,
        stats: std::ptr::null_mut(),
        grads: None,
    };
    attention_entry(desc, call)
}

/// `tpp_attention_forward`, also writing the softmax statistics the backward pass needs to
/// `stats` (`2·batch·heads·seq_q` f32 values).
///
/// # Safety
/// As for `tpp_attention_forward`; `stats` must hold its values.
#[no_mangle]
pub unsafe extern "C" fn tpp_attention_forward_train(
    desc: *const tpp_attention_desc,
    q: *const c_void,
    k: *const c_void,
    v: *const c_void,
    key_lengths: *const i64,
    out: *mut c_void,
    stats: *mut f32,
) -> tpp_status {
    let call = AttentionCall {
        q,
        k,
        v,
        key_lengths,
        out,
        stats,
        grads: None,
    };
    attention_entry(desc, call)
}

/// `dq`, `dk`, `dv` (shaped as `q`, `k`, `v`) from `dout` (shaped as `out`), given the
/// forward's inputs, its output and the statistics of `tpp_attention_forward_train`.
///
/// # Safety
/// As for `tpp_attention_forward_train`; the gradients must hold their elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tpp_attention_backward(
    desc: *const tpp_attention_desc,
    q: *const c_void,
    k: *const c_void,
    v: *const c_void,
    key_lengths: *const i64,
    out: *const c_void,
    stats: *const f32,
    dout: *const c_void,
    dq: *mut c_void,
    dk: *mut c_void,
    dv: *mut c_void,
) -> tpp_status {
    let call = AttentionCall {
        q,
        k,
        v,
        key_lengths,
        out: out.cast_mut(),
        stats: stats.cast_mut(),
        grads: Some([dout.cast_mut(), dq, dk, dv]),
    };
    attention_entry(desc, call)
}
