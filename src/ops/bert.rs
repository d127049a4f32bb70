//! A BERT encoder layer, forward (the post-norm layer of BERT-base: 768 hidden, 12 heads, 3072
//! intermediate by default, any shape allowed), composed from the other operators and one
//! equation per sub-layer tail:
//!
//! 1. `[q k v] = x·[Wq Wk Wv]ᵀ + [bq bk bv]` — one fused `hidden → 3·hidden` [`Linear`]
//!    (the three weights concatenated and packed once, bias fused in the BRGEMM epilogue),
//!    writing `[B·S][3·H]`: each third of a row is the `[heads][D]` of one token;
//! 2. `ctx = softmax(q·kᵀ/√D + padding mask)·v` — the flash [`Attention`] (no `S × S` matrix),
//!    reading Q, K and V in place from the fused buffer (tokens `3·H` apart);
//! 3. `a = ctx·Woᵀ + bo` ([`Linear`]), then `h = LN(dropout(a) + x)` — one equation
//!    ([`equations::dropout_residual_layer_norm`]), one pass over each block of rows;
//! 4. `i = gelu(h·Wiᵀ + bi)` ([`Linear`], bias and erf-GELU fused in the epilogue);
//! 5. `o = i·Wo2ᵀ + bo2`, then `y = LN(dropout(o) + h)` — the same equation.
//!
//! **Dtypes.** f32, or bf16 activations and weights with f32 accumulation in every product, f32
//! softmax statistics, and f32 layer-norm statistics (the residual sum is never rounded to bf16
//! before it is normalised). Biases, `gamma` and `beta` are f32.
//!
//! **Dropout** applies to the two hidden-state outputs (steps 3 and 5), as in BERT; the
//! attention probabilities are not dropped (the flash attention never holds them). Each block
//! of rows draws its mask from a seed derived from the layer's seed, the step and the block
//! index, so a run is a pure function of `(inputs, seed)` for a given plan, whatever the
//! thread count. With `dropout = 0` (inference) the dropout node is absent and the layer is
//! exactly the deterministic one. The keep masks of the last run are readable
//! ([`BertLayer::dropout_masks`]).
//!
//! **Padding.** Per-sequence lengths (or a prefix padding mask, [`lengths_from_mask`]) mask
//! the padded keys in attention; padded query rows are computed like the others (as BERT does)
//! and their values are meaningless to the caller.
//!
//! **Memory and threads.** The plan owns the packed weights and every activation buffer
//! between the steps (allocated once, in [`BertLayer::new`]), so [`BertLayer::run`] takes
//! `&mut self`: the borrow checker, not a lock, guarantees that one run at a time uses the
//! scratch, at no cost per call; each step inside a run is parallel over rayon's current pool.
//! (The attention's per-thread block scratch is the attention plan's, made per run.) Use one
//! plan per concurrent caller.

use super::aligned::AlignedVec;
use super::attention::{Attention, AttentionOptions};
use super::layout::WeightLayout;
use super::linear::{Linear, LinearOptions};
use super::raw::{check_len, fits, OpElem, Shared};
use crate::error::{Error, Result};
use crate::exec::EquationKernel;
use crate::isa::{bitmask, equations, Activation, DType};
use crate::{In, Out};
use rayon::prelude::*;

/// The shape and options of a BERT layer.
#[derive(Clone, Debug, PartialEq)]
pub struct BertOptions {
    /// Sequences per batch.
    pub batch: usize,
    /// Tokens per sequence (padded length).
    pub seq: usize,
    /// Hidden size (a multiple of `heads`).
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Intermediate (MLP) size.
    pub intermediate: usize,
    /// Dropout probability of the two hidden-state dropouts, in `[0, 1)`; 0 for inference.
    pub dropout: f32,
    /// Seed of the dropout masks.
    pub seed: u64,
    /// Epsilon of both layer norms.
    pub layer_norm_eps: f32,
    /// Rows per block of the layer-norm equations; `None` picks 16.
    pub rows_per_block: Option<usize>,
}

impl BertOptions {
    /// BERT-base (hidden 768, 12 heads, intermediate 3072, eps 1e-12), inference (no dropout).
    pub fn base(batch: usize, seq: usize) -> BertOptions {
        BertOptions {
            batch,
            seq,
            hidden: 768,
            heads: 12,
            intermediate: 3072,
            dropout: 0.0,
            seed: 0,
            layer_norm_eps: 1e-12,
            rows_per_block: None,
        }
    }
}

/// The parameters of a layer in the layouts users hold: weights row-major `[out][in]` (as
/// PyTorch's `nn.Linear.weight`), biases and layer-norm parameters f32.
#[derive(Clone, Copy, Debug)]
pub struct BertWeights<'a, T> {
    /// Query projection `[hidden][hidden]` and its bias.
    pub query: (&'a [T], &'a [f32]),
    /// Key projection `[hidden][hidden]` and its bias.
    pub key: (&'a [T], &'a [f32]),
    /// Value projection `[hidden][hidden]` and its bias.
    pub value: (&'a [T], &'a [f32]),
    /// Attention output projection `[hidden][hidden]` and its bias.
    pub attn_out: (&'a [T], &'a [f32]),
    /// The first layer norm's `gamma` and `beta` (`hidden` each).
    pub attn_norm: (&'a [f32], &'a [f32]),
    /// MLP up projection `[intermediate][hidden]` and its bias.
    pub intermediate: (&'a [T], &'a [f32]),
    /// MLP down projection `[hidden][intermediate]` and its bias.
    pub output: (&'a [T], &'a [f32]),
    /// The second layer norm's `gamma` and `beta` (`hidden` each).
    pub out_norm: (&'a [f32], &'a [f32]),
}

/// The parameters in the plan's layouts.
#[derive(Debug, Default)]
struct Params<T> {
    /// Blocked weights: fused query-key-value, attention output, up, down.
    w: [AlignedVec<T>; 4],
    /// Their biases.
    b: [Vec<f32>; 4],
    /// gamma and beta of the two layer norms.
    norm: [Vec<f32>; 4],
    set: bool,
}

/// The activations between the steps, `[B·S][..]` row-major.
#[derive(Debug)]
struct Buffers<T> {
    /// `[B·S][3·H]`: the query, key and value of each token, side by side.
    qkv: AlignedVec<T>,
    ctx: AlignedVec<T>,
    proj: AlignedVec<T>,
    h: AlignedVec<T>,
    inter: AlignedVec<T>,
    masks: [Vec<u8>; 2],
}

/// The tail equation of a sub-layer, for full blocks of rows and the last (ragged) block.
#[derive(Debug)]
struct Tail {
    full: EquationKernel,
    edge: Option<EquationKernel>,
    rows: usize,
}

/// A BERT encoder layer plan (see the module docs).
#[derive(Debug)]
pub struct BertLayer<T: OpElem> {
    o: BertOptions,
    /// Tokens: `batch · seq`.
    n: usize,
    /// `hidden → 3·hidden` with bias (the fused Q, K, V projection).
    qkv: Linear<T>,
    /// `hidden → hidden` with bias (the attention-output projection).
    proj: Linear<T>,
    /// `hidden → intermediate` with bias and GELU.
    up: Linear<T>,
    /// `intermediate → hidden` with bias.
    down: Linear<T>,
    attn: Attention<T>,
    tail: Tail,
    params: Params<T>,
    buf: Buffers<T>,
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("bert", field, value, allowed)
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Per-sequence lengths from a padding mask `[batch][seq]` (nonzero = a real token), which
/// must be a prefix mask per sequence (real tokens first, at least one); anything else is an
/// [`Error::InvalidOperand`].
pub fn lengths_from_mask(mask: &[u8], batch: usize, seq: usize) -> Result<Vec<usize>> {
    check_len("mask", mask.len(), batch * seq)?;
    (0..batch)
        .map(|b| {
            let row = &mask[b * seq..(b + 1) * seq];
            let len = row.iter().take_while(|&&m| m != 0).count();
            if len == 0 || row[len..].iter().any(|&m| m != 0) {
                return Err(Error::operand(
                    "mask",
                    format!("sequence {b} is not real tokens followed by padding"),
                ));
            }
            Ok(len)
        })
        .collect()
}

impl<T: OpElem> BertLayer<T> {
    /// Validates the options, dispatches every kernel and allocates the weights and the
    /// activation buffers (zeroed; [`Self::set_weights`] must be called before a run).
    pub fn new(o: BertOptions) -> Result<BertLayer<T>> {
        if !matches!(T::DTYPE, DType::F32 | DType::BF16) {
            return Err(bad("dtype", T::DTYPE, "f32 or bf16"));
        }
        for (f, v) in [
            ("batch", o.batch),
            ("seq", o.seq),
            ("hidden", o.hidden),
            ("heads", o.heads),
            ("intermediate", o.intermediate),
        ] {
            if v == 0 {
                return Err(bad(f, 0, "at least 1"));
            }
        }
        if !o.hidden.is_multiple_of(o.heads) {
            return Err(bad(
                "heads",
                o.heads,
                format!("a divisor of hidden = {}", o.hidden),
            ));
        }
        if !(0.0..1.0).contains(&o.dropout) {
            return Err(bad("dropout", o.dropout, "in [0, 1)"));
        }
        if !(o.layer_norm_eps.is_finite() && o.layer_norm_eps > 0.0) {
            return Err(bad("layer_norm_eps", o.layer_norm_eps, "finite and > 0"));
        }
        let n = fits("bert", "tokens", &[o.batch, o.seq])?;
        fits("bert", "intermediate activations", &[n, o.intermediate])?;
        // bf16 blocks take pairs of channels (VNNI2).
        let even = |b: usize| if T::VNNI2 { b.next_multiple_of(2) } else { b };
        let bias = |activation| LinearOptions {
            bias: true,
            activation,
            ..LinearOptions::default()
        };
        let h3 = fits("bert", "fused qkv width", &[3, o.hidden])?;
        fits("bert", "fused qkv activations", &[n, h3])?;
        fits("bert", "fused qkv weights", &[h3, o.hidden])?;
        fits("bert", "mlp weights", &[o.intermediate, o.hidden])?;
        // One product of 3·hidden outputs instead of three of hidden: the input rows are
        // read once, and the attention reads the three thirds in place (input_ld = 3·H).
        let qkv = Linear::new(n, o.hidden, h3, bias(Activation::None))?;
        let proj = Linear::new(n, o.hidden, o.hidden, bias(Activation::None))?;
        let up = Linear::new(n, o.hidden, o.intermediate, bias(Activation::GeluErf))?;
        // The down projection reduces over `intermediate` (3072) with rows that far apart.
        // On AMD, 32-wide output blocks, 128-deep reduction blocks and 32-row tiles measured up
        // to 1.3× faster than the defaults for f32 at sequence 512 (Zen 4; bf16 within noise);
        // on Intel (and other cores) the defaults: Xeon (model 207), 1 thread, the two layers
        // interleaved in one process, the whole layer +3% (sequence 512) and +2.5% (128).
        let amd = crate::dispatch::caps::x86().vendor == crate::dispatch::caps::Vendor::Amd;
        let down_opts = if amd {
            LinearOptions {
                blocks: Some((even(o.intermediate.min(128)), even(o.hidden.min(32)))),
                rows_per_block: Some(32),
                ..bias(Activation::None)
            }
        } else {
            bias(Activation::None)
        };
        let down = Linear::new(n, o.intermediate, o.hidden, down_opts)?;
        let attn = Attention::new(AttentionOptions {
            input_ld: Some(h3),
            ..AttentionOptions::new(o.batch, o.heads, o.seq, o.hidden / o.heads)
        })?;
        let rows = o.rows_per_block.unwrap_or(16).clamp(1, n);
        let eq = |r| {
            equations::dropout_residual_layer_norm(
                r,
                o.hidden,
                T::DTYPE,
                o.dropout,
                o.layer_norm_eps,
            )
            .dispatch()
        };
        let tail = Tail {
            full: eq(rows)?,
            edge: match n % rows {
                0 => None,
                r => Some(eq(r)?),
            },
            rows,
        };
        let wl = [
            qkv.weight_layout(),
            proj.weight_layout(),
            up.weight_layout(),
            down.weight_layout(),
        ];
        let params = Params {
            w: wl.map(|l| AlignedVec::filled(l.len())),
            b: [h3, o.hidden, o.intermediate, o.hidden].map(|len| vec![0.0; len]),
            norm: [(); 4].map(|_| vec![0.0; o.hidden]),
            set: false,
        };
        let act = || AlignedVec::filled(n * o.hidden);
        let mask_len = if o.dropout > 0.0 {
            bitmask::bytes(n, o.hidden, bitmask::default_ld(o.hidden))
        } else {
            0
        };
        let buf = Buffers {
            qkv: AlignedVec::filled(n * h3),
            ctx: act(),
            proj: act(),
            h: act(),
            inter: AlignedVec::filled(n * o.intermediate),
            masks: [vec![0; mask_len], vec![0; mask_len]],
        };
        Ok(BertLayer {
            o,
            n,
            qkv,
            proj,
            up,
            down,
            attn,
            tail,
            params,
            buf,
        })
    }

    /// The options.
    pub fn options(&self) -> &BertOptions {
        &self.o
    }

    /// Elements of the input and of the output: `batch · seq · hidden`.
    pub fn len(&self) -> usize {
        self.n * self.o.hidden
    }

    /// Never true (every dimension is at least 1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nominal flops of one forward pass: the six products and the attention's two.
    pub fn flops(&self) -> u64 {
        self.qkv.flops()
            + self.proj.flops()
            + self.up.flops()
            + self.down.flops()
            + self.attn.flops()
    }

    /// Bytes the plan holds for the weights and the activation buffers.
    pub fn memory_bytes(&self) -> usize {
        let t = std::mem::size_of::<T>();
        let p = &self.params;
        let b = &self.buf;
        t * (p.w.iter().map(|w| w.len()).sum::<usize>()
            + [&b.qkv, &b.ctx, &b.proj, &b.h, &b.inter]
                .iter()
                .map(|v| v.len())
                .sum::<usize>())
            + 4 * (p.b.iter().chain(&p.norm).map(Vec::len).sum::<usize>())
            + b.masks.iter().map(Vec::len).sum::<usize>()
    }

    /// Replaces the seed of the dropout masks (the plan's kernels do not depend on it).
    pub fn set_seed(&mut self, seed: u64) {
        self.o.seed = seed;
    }

    /// Packs the weights into the plan's blocked layouts (query, key and value concatenated
    /// into one `[3·hidden][hidden]` matrix first) and copies the biases and layer-norm
    /// parameters; every length is checked first (nothing changes on an error).
    pub fn set_weights(&mut self, w: &BertWeights<'_, T>) -> Result<()> {
        let (h, i) = (self.o.hidden, self.o.intermediate);
        let checks = [
            ("query", w.query, h * h, h),
            ("key", w.key, h * h, h),
            ("value", w.value, h * h, h),
            ("attn_out", w.attn_out, h * h, h),
            ("intermediate", w.intermediate, i * h, i),
            ("output", w.output, h * i, h),
        ];
        for (name, (m, b), mlen, blen) in checks {
            exact(name, m.len(), mlen)?;
            exact(name, b.len(), blen)?;
        }
        let norms = [w.attn_norm.0, w.attn_norm.1, w.out_norm.0, w.out_norm.1];
        for v in norms {
            exact("norm", v.len(), h)?;
        }
        // Rows `[out][in]` stack: the fused matrix is query, then key, then value.
        let qkv_w = [w.query.0, w.key.0, w.value.0].concat();
        let qkv_b = [w.query.1, w.key.1, w.value.1].concat();
        let mats: [(&[T], &[f32]); 4] = [(&qkv_w, &qkv_b), w.attn_out, w.intermediate, w.output];
        let layouts: [WeightLayout; 4] = [
            self.qkv.weight_layout(),
            self.proj.weight_layout(),
            self.up.weight_layout(),
            self.down.weight_layout(),
        ];
        for (n, (m, b)) in mats.into_iter().enumerate() {
            layouts[n].from_kcrs(m, &mut self.params.w[n])?;
            self.params.b[n].copy_from_slice(b);
        }
        for (dst, src) in self.params.norm.iter_mut().zip(norms) {
            dst.copy_from_slice(src);
        }
        self.params.set = true;
        Ok(())
    }

    /// The keep masks of the two dropouts of the last run (attention sub-layer, then MLP
    /// sub-layer): row-major `[batch·seq]` rows of `hidden` bits rounded up to whole bytes
    /// ([`bitmask`] order; a set bit is a kept element). Empty without dropout.
    pub fn dropout_masks(&self) -> (&[u8], &[u8]) {
        (&self.buf.masks[0], &self.buf.masks[1])
    }

    /// `y = layer(x)` over `[batch][seq][hidden]` row-major tensors; `seq_lengths` (one per
    /// sequence, 1 to `seq`) masks padded keys.
    pub fn run(&mut self, x: &[T], seq_lengths: Option<&[usize]>, y: &mut [T]) -> Result<()> {
        let len = self.len();
        check_len("x", x.len(), len)?;
        check_len("y", y.len(), len)?;
        if !self.params.set {
            return Err(Error::operand(
                "weights",
                "set_weights must be called before a run",
            ));
        }
        let (x, y) = (&x[..len], &mut y[..len]);
        let BertLayer {
            o,
            qkv,
            proj,
            up,
            down,
            attn,
            tail,
            params: p,
            buf,
            ..
        } = self;
        let (h, seed) = (o.hidden, o.seed);
        let (q, k, v) = thirds(&buf.qkv, h);
        attn.check(q.len(), k.len(), v.len(), seq_lengths)?;
        qkv.forward(x, &p.w[0], Some(&p.b[0]), &mut buf.qkv)?;
        let (q, k, v) = thirds(&buf.qkv, h);
        attn.forward(q, k, v, seq_lengths, &mut buf.ctx)?;
        proj.forward(&buf.ctx, &p.w[1], Some(&p.b[1]), &mut buf.proj)?;
        let [m0, m1] = &mut buf.masks;
        tail.run(
            (seed, 0),
            h,
            &buf.proj,
            x,
            (&p.norm[0], &p.norm[1]),
            &mut buf.h,
            m0,
        )?;
        up.forward(&buf.h, &p.w[2], Some(&p.b[2]), &mut buf.inter)?;
        down.forward(&buf.inter, &p.w[3], Some(&p.b[3]), &mut buf.proj)?;
        tail.run(
            (seed, 1),
            h,
            &buf.proj,
            &buf.h,
            (&p.norm[2], &p.norm[3]),
            y,
            m1,
        )
    }
}

/// Q, K and V in the fused `[tokens][3·h]` buffer: each starts at its third of the first row
/// and runs to the end (the attention steps over rows `3·h` apart).
fn thirds<T>(fused: &[T], h: usize) -> (&[T], &[T], &[T]) {
    (fused, &fused[h..], &fused[2 * h..])
}

/// A parameter's length must match exactly (a longer slice is a mistake, not spare room).
fn exact(name: &'static str, have: usize, need: usize) -> Result<()> {
    if have != need {
        return Err(Error::operand(
            name,
            format!("holds {have} elements, the layer needs {need}"),
        ));
    }
    Ok(())
}

impl Tail {
    /// `y = LN(dropout(a) + res)` over all rows of `hidden` columns, in parallel over blocks
    /// of rows; `(seed, stage)` seeds its dropout.
    #[allow(clippy::too_many_arguments)]
    fn run<T: OpElem>(
        &self,
        (seed, stage): (u64, u64),
        h: usize,
        a: &[T],
        res: &[T],
        (gamma, beta): (&[f32], &[f32]),
        y: &mut [T],
        mask: &mut [u8],
    ) -> Result<()> {
        let rows = self.rows;
        let n = a.len() / h;
        let mask_row = bitmask::default_ld(h) / 8;
        let with_mask = !mask.is_empty();
        let (ys, ms) = (Shared::of_mut(y), Shared::of_mut(mask));
        (0..n.div_ceil(rows)).into_par_iter().try_for_each(|blk| {
            let r0 = blk * rows;
            let r = rows.min(n - r0);
            let k = if r == rows {
                &self.full
            } else {
                self.edge.as_ref().expect("an edge kernel")
            };
            let span = r0 * h..(r0 + r) * h;
            // SAFETY: block blk owns rows r0..r0 + r of y and of the mask, which the plan
            // sized for all rows; the blocks are disjoint.
            let (yb, mb) = unsafe {
                (
                    std::slice::from_raw_parts_mut(ys.at(r0 * h), r * h),
                    std::slice::from_raw_parts_mut(
                        ms.at(if with_mask { r0 * mask_row } else { 0 }),
                        if with_mask { r * mask_row } else { 0 },
                    ),
                )
            };
            let ins = [
                In::from(&a[span.clone()]),
                In::from(&res[span]),
                In::from(gamma),
                In::from(beta),
            ];
            let mut outs = vec![Out::from(yb)];
            if with_mask {
                outs.push(Out::from(mb));
            }
            let s = mix(seed ^ mix((stage << 48) | blk as u64));
            k.call_with(&ins, None, &mut outs, s)
        })
    }
}
