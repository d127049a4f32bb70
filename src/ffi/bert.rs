//! The BERT encoder layer (`tpp::ops::BertLayer`) for C callers. Unlike the stateless
//! convolution, linear and attention entry points, a layer holds state between calls (its
//! packed weights and activation buffers), so it is an object: `tpp_bert_layer_create` builds
//! the plan from a descriptor, `tpp_bert_layer_set_weights` packs the weights once,
//! `tpp_bert_layer_forward` runs it many times, `tpp_bert_layer_release` frees it.
//!
//! A `tpp_bert_layer *` is an id, never a pointer (as equation builders are): a released,
//! foreign or made-up value is an error, not undefined behaviour. Ids are never reused. Calls
//! on one layer from several threads are serialised by the layer's lock (a layer's buffers
//! serve one run at a time); different layers run concurrently. A release while another
//! thread runs the layer frees it when that run ends.
//!
//! ```c
//! tpp_bert_desc d = {TPP_DTYPE_F32, batch, seq, 768, 12, 3072, 0.0f, 0.0f, 0};
//! tpp_bert_layer *layer;
//! tpp_bert_layer_create(&d, &layer);
//! tpp_bert_layer_set_weights(layer, &weights);
//! tpp_bert_layer_forward(layer, x, seq_lengths, y);
//! tpp_bert_layer_release(layer);
//! ```

use super::ops::{float_dtype, key_lengths, pointers, slice, slice_mut};
use super::{guard, non_null, plausible, tpp_status, Fail};
use crate::isa::DType;
use crate::ops::{BertLayer, BertOptions, BertWeights, OpElem};
use half::bf16;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A BERT layer (`tpp_bert_layer *` in C): an id, never dereferenced.
pub struct tpp_bert_layer {
    _opaque: [u8; 0],
}

/// The shape and options of a BERT encoder layer for `tpp_bert_layer_create` (see
/// `tpp::ops::BertLayer`: post-norm, GELU MLP, padding by sequence lengths).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_bert_desc {
    /// `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (activations and weights; biases and layer-norm
    /// parameters are f32 either way; bf16: even head size).
    pub dtype: i32,
    /// Sequences per batch.
    pub batch: i64,
    /// Tokens per sequence (the padded length).
    pub seq: i64,
    /// Hidden size (a multiple of `heads`), heads and intermediate (MLP) size.
    pub hidden: i64,
    /// See `hidden`.
    pub heads: i64,
    /// See `hidden`.
    pub intermediate: i64,
    /// Probability of the two hidden-state dropouts, in [0, 1); 0 for inference.
    pub dropout: f32,
    /// Epsilon of both layer norms; 0 means 1e-12 (BERT's).
    pub layer_norm_eps: f32,
    /// Seed of the dropout masks.
    pub seed: u64,
}

/// The parameters of a layer for `tpp_bert_layer_set_weights`: weights row-major
/// `[out][in]` in the layer's dtype (as PyTorch's `nn.Linear.weight`), biases, `gamma` and
/// `beta` f32. None may be NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_bert_weights {
    /// Query projection `[hidden][hidden]` and its bias (`hidden`).
    pub query: *const c_void,
    /// See `query`.
    pub query_bias: *const f32,
    /// Key projection `[hidden][hidden]` and its bias (`hidden`).
    pub key: *const c_void,
    /// See `key`.
    pub key_bias: *const f32,
    /// Value projection `[hidden][hidden]` and its bias (`hidden`).
    pub value: *const c_void,
    /// See `value`.
    pub value_bias: *const f32,
    /// Attention output projection `[hidden][hidden]` and its bias (`hidden`).
    pub attn_out: *const c_void,
    /// See `attn_out`.
    pub attn_out_bias: *const f32,
    /// The first layer norm's `gamma` and `beta` (`hidden` each).
    pub attn_norm_gamma: *const f32,
    /// See `attn_norm_gamma`.
    pub attn_norm_beta: *const f32,
    /// MLP up projection `[intermediate][hidden]` and its bias (`intermediate`).
    pub intermediate: *const c_void,
    /// See `intermediate`.
    pub intermediate_bias: *const f32,
    /// MLP down projection `[hidden][intermediate]` and its bias (`hidden`).
    pub output: *const c_void,
    /// See `output`.
    pub output_bias: *const f32,
    /// The second layer norm's `gamma` and `beta` (`hidden` each).
    pub out_norm_gamma: *const f32,
    /// See `out_norm_gamma`.
    pub out_norm_beta: *const f32,
}

/// A layer of either dtype.
enum AnyBert {
    F32(BertLayer<f32>),
    Bf16(BertLayer<bf16>),
}

/// The tag in the top byte of layer ids ('b'): a kernel handle, an equation id or a pointer is
/// rejected by the lookup.
const TAG: u64 = 0x62 << 56;
static NEXT: AtomicU64 = AtomicU64::new(1);
type Layers = HashMap<u64, Arc<Mutex<AnyBert>>>;
static LAYERS: Mutex<Option<Layers>> = Mutex::new(None);

fn layers() -> std::sync::MutexGuard<'static, Option<Layers>> {
    // The map is consistent between statements: a panic elsewhere leaves it usable.
    LAYERS.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_live(layer: *const tpp_bert_layer) -> Fail {
    Fail::arg(format!(
        "layer ({layer:p}) is not a live BERT layer (never created, or released)"
    ))
}

/// The layer an id names (the registry's lock is held only for the lookup).
fn lookup(layer: *const tpp_bert_layer) -> Result<Arc<Mutex<AnyBert>>, Fail> {
    let id = layer as u64;
    if id & (0xff << 56) != TAG {
        return Err(not_live(layer));
    }
    layers()
        .as_ref()
        .and_then(|m| m.get(&id).cloned())
        .ok_or_else(|| not_live(layer))
}

/// Runs `f` on the layer under its lock. A run that panicked leaves buffers half written but
/// no invariant broken (the next run overwrites them), so a poisoned lock is still usable.
fn with_layer<R>(
    layer: *const tpp_bert_layer,
    f: impl FnOnce(&mut AnyBert) -> Result<R, Fail>,
) -> Result<R, Fail> {
    let l = lookup(layer)?;
    let mut g = l.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut g)
}

impl tpp_bert_desc {
    fn options(&self) -> Result<BertOptions, Fail> {
        let z = super::codes::size;
        let eps = if self.layer_norm_eps == 0.0 {
            1e-12
        } else {
            self.layer_norm_eps
        };
        Ok(BertOptions {
            batch: z("batch", self.batch)?,
            seq: z("seq", self.seq)?,
            hidden: z("hidden", self.hidden)?,
            heads: z("heads", self.heads)?,
            intermediate: z("intermediate", self.intermediate)?,
            dropout: self.dropout,
            seed: self.seed,
            layer_norm_eps: eps,
            rows_per_block: None,
        })
    }
}

/// Builds a layer (kernels dispatched, buffers allocated) from `desc`; `*out` receives its id
/// (free it with `tpp_bert_layer_release`). Set its weights before running it.
///
/// # Safety
/// `desc` must point to a `tpp_bert_desc`, `out` to a writable `tpp_bert_layer *`.
#[no_mangle]
pub unsafe extern "C" fn tpp_bert_layer_create(
    desc: *const tpp_bert_desc,
    out: *mut *mut tpp_bert_layer,
) -> tpp_status {
    guard(|| {
        let d = non_null(desc, "desc")?;
        if !plausible(out.cast(), std::mem::align_of::<*mut tpp_bert_layer>()) {
            return Err(Fail::arg(format!("out is null or misaligned ({out:p})")));
        }
        let o = d.options()?;
        let layer = match float_dtype(d.dtype)? {
            DType::BF16 => AnyBert::Bf16(BertLayer::new(o)?),
            _ => AnyBert::F32(BertLayer::new(o)?),
        };
        let id = TAG | NEXT.fetch_add(1, Ordering::Relaxed);
        layers()
            .get_or_insert_with(HashMap::new)
            .insert(id, Arc::new(Mutex::new(layer)));
        *out = id as *mut tpp_bert_layer;
        Ok(())
    })
}

unsafe fn set_weights<T: OpElem>(l: &mut BertLayer<T>, w: &tpp_bert_weights) -> Result<(), Fail> {
    let (h, i) = (l.options().hidden, l.options().intermediate);
    let t = std::mem::size_of::<T>();
    let mats = [
        ("query", w.query, h * h),
        ("key", w.key, h * h),
        ("value", w.value, h * h),
        ("attn_out", w.attn_out, h * h),
        ("intermediate", w.intermediate, i * h),
        ("output", w.output, h * i),
    ];
    let vecs = [
        ("query_bias", w.query_bias, h),
        ("key_bias", w.key_bias, h),
        ("value_bias", w.value_bias, h),
        ("attn_out_bias", w.attn_out_bias, h),
        ("attn_norm_gamma", w.attn_norm_gamma, h),
        ("attn_norm_beta", w.attn_norm_beta, h),
        ("intermediate_bias", w.intermediate_bias, i),
        ("output_bias", w.output_bias, h),
        ("out_norm_gamma", w.out_norm_gamma, h),
        ("out_norm_beta", w.out_norm_beta, h),
    ];
    let list: Vec<_> = mats
        .iter()
        .map(|&(n, p, len)| (n, Some(p), len, t))
        .chain(vecs.iter().map(|&(n, p, len)| (n, Some(p.cast()), len, 4)))
        .collect();
    pointers(&list)?;
    let m = |p: *const c_void, len: usize| slice::<T>(p, len);
    let v = |p: *const f32, len: usize| slice::<f32>(p.cast(), len);
    l.set_weights(&BertWeights {
        query: (m(w.query, h * h), v(w.query_bias, h)),
        key: (m(w.key, h * h), v(w.key_bias, h)),
        value: (m(w.value, h * h), v(w.value_bias, h)),
        attn_out: (m(w.attn_out, h * h), v(w.attn_out_bias, h)),
        attn_norm: (v(w.attn_norm_gamma, h), v(w.attn_norm_beta, h)),
        intermediate: (m(w.intermediate, i * h), v(w.intermediate_bias, i)),
        output: (m(w.output, h * i), v(w.output_bias, h)),
        out_norm: (v(w.out_norm_gamma, h), v(w.out_norm_beta, h)),
    })?;
    Ok(())
}

/// Packs the parameters into the layer (once; again to change them). Every pointer is
/// checked before anything changes.
///
/// # Safety
/// `weights` must point to a `tpp_bert_weights` whose arrays hold the elements the layer's
/// shape gives, in its dtype (biases and norms f32).
#[no_mangle]
pub unsafe extern "C" fn tpp_bert_layer_set_weights(
    layer: *mut tpp_bert_layer,
    weights: *const tpp_bert_weights,
) -> tpp_status {
    guard(|| {
        let w = non_null(weights, "weights")?;
        with_layer(layer, |l| match l {
            AnyBert::F32(l) => set_weights(l, w),
            AnyBert::Bf16(l) => set_weights(l, w),
        })
    })
}

unsafe fn forward<T: OpElem>(
    l: &mut BertLayer<T>,
    x: *const c_void,
    seq_lengths: *const i64,
    y: *mut c_void,
) -> Result<(), Fail> {
    let (len, t, batch) = (l.len(), std::mem::size_of::<T>(), l.options().batch);
    let lens_p = (!seq_lengths.is_null()).then_some(seq_lengths.cast());
    pointers(&[
        ("x", Some(x), len, t),
        ("seq_lengths", lens_p, batch, 8),
        ("y", Some(y.cast_const()), len, t),
    ])?;
    let (xa, ya, bytes) = (x as usize, y as usize, len * t);
    if xa < ya + bytes && ya < xa + bytes {
        return Err(Fail::arg(
            "x and y overlap: the layer reads x (the residual) after writing parts of y",
        ));
    }
    let lens = key_lengths(seq_lengths, batch)?;
    l.run(slice(x, len), lens.as_deref(), slice_mut(y, len))?;
    Ok(())
}

/// `y = layer(x)` over `[batch][seq][hidden]` row-major tensors in the layer's dtype;
/// `seq_lengths` (`batch` values in 1..=seq, or NULL for none) masks padded keys (padded
/// query rows of `y` are computed like the others and carry no meaning).
///
/// # Safety
/// `x` and `y` must hold `batch·seq·hidden` elements each (distinct buffers);
/// `seq_lengths`, when not NULL, `batch` values.
#[no_mangle]
pub unsafe extern "C" fn tpp_bert_layer_forward(
    layer: *mut tpp_bert_layer,
    x: *const c_void,
    seq_lengths: *const i64,
    y: *mut c_void,
) -> tpp_status {
    guard(|| {
        with_layer(layer, |l| match l {
            AnyBert::F32(l) => forward(l, x, seq_lengths, y),
            AnyBert::Bf16(l) => forward(l, x, seq_lengths, y),
        })
    })
}

/// Replaces the seed of the dropout masks of later runs.
#[no_mangle]
pub extern "C" fn tpp_bert_layer_set_seed(layer: *mut tpp_bert_layer, seed: u64) -> tpp_status {
    guard(|| {
        with_layer(layer, |l| {
            match l {
                AnyBert::F32(l) => l.set_seed(seed),
                AnyBert::Bf16(l) => l.set_seed(seed),
            }
            Ok(())
        })
    })
}

/// Frees a layer (NULL is allowed and does nothing); its id is never valid again.
#[no_mangle]
pub extern "C" fn tpp_bert_layer_release(layer: *mut tpp_bert_layer) -> tpp_status {
    guard(|| {
        if layer.is_null() {
            return Ok(());
        }
        let id = layer as u64;
        // Dropped outside the registry's lock (a layer's buffers can be large).
        let removed = match id & (0xff << 56) == TAG {
            true => layers().as_mut().and_then(|m| m.remove(&id)),
            false => None,
        };
        match removed {
            Some(_) => Ok(()),
            None => Err(not_live(layer)),
        }
    })
}
