//! Multi-head scaled dot-product attention, flash style: for each block of queries the keys are
//! visited block by block, and a running row maximum `m`, row sum `l` and f32 accumulator are
//! rescaled as each block's softmax arrives (the online softmax), so the `S × S` score matrix
//! is never materialised — the memory is O(S·D) per head (the head's transposed keys and its
//! values, dense, VNNI2-packed for bf16), plus O(block²) scratch per thread (with a dense copy
//! of the block's queries).
//!
//! Why the copies of Q and V: the products then read rows `D` apart instead of `H·D` (or
//! `3·H·D` in a fused QKV buffer), a few cache lines per row rather than a new page. Copying
//! the query block and the f32 values measured 1.2–1.4× faster over the whole f32 attention
//! at sequence 512 on Zen 4 (dense and strided inputs alike), the copies being O(S·D) per head
//! against the O(S²·D) products.
//!
//! Per key block: `S = scale·Q·Kᵀ` (a GEMM on the head's transposed keys), the masked tail
//! set to −∞, then [`online_softmax_step`] (row max, `exp(S − m)`, row sum and the rescaling
//! factor as one equation, [`online_softmax`](crate::equations::online_softmax); it replaced
//! a chain of nine unary, binary and reduce calls and measured 5–10% faster over the whole attention at sequence 512 on Zen 4),
//! the accumulator rescaled, then `acc += P·V` (a GEMM, f32 accumulation); finally
//! `O = acc / l`.
//!
//! Tensors are `[B][S][H][D]` row-major (the layout a QKV projection writes), f32 or bf16.
//! The inputs may be further apart than `H·D` per token ([`AttentionOptions::input_ld`]):
//! Q, K and V can then be read directly from one fused `[B·S][3·H·D]` QKV projection.
//! Masks: causal (query `i` sees keys `j ≤ i + (S_kv − S_q)`) and per-batch key lengths
//! (padding: keys at or beyond the length are ignored, never read).

use super::aligned::AlignedVec;
use super::loops::{spec_or, LoopNest, LoopSpec};
use super::raw::{binary, check_len, fits, unary, OpElem, Shared};
use crate::error::{Error, Result};
use crate::exec::{EquationArgs, EquationKernel, GemmArgs};
use crate::isa::equations::online_softmax;
use crate::isa::{BinaryDesc, BinaryOp, Broadcast, DType, GemmDesc, Layout, UnaryDesc, UnaryOp};
use crate::{BinaryKernel, GemmKernel, UnaryKernel};
use std::marker::PhantomData;
use std::sync::Mutex;

/// The shape and options of an attention.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionOptions {
    /// Batch.
    pub batch: usize,
    /// Heads.
    pub heads: usize,
    /// Query sequence length.
    pub seq_q: usize,
    /// Key / value sequence length.
    pub seq_kv: usize,
    /// Head dimension.
    pub head_dim: usize,
    /// Causal mask (needs `seq_kv >= seq_q`).
    pub causal: bool,
    /// Scale of the scores; `None` is `1/√head_dim`.
    pub scale: Option<f32>,
    /// Queries and keys per block; `None` picks 64 queries and 256 keys (fewer for short
    /// sequences; 256 keys per block measured 1.4× faster than 64 at sequence 512 on Zen 4).
    pub blocks: Option<(usize, usize)>,
    /// The loop spec over `a` = batch, `b` = head, `c` = query block; `None` takes `"ABc"`.
    pub loop_spec: Option<String>,
    /// Elements from one token's row of `q`, `k` and `v` to the next (at least `H·D`); `None`
    /// is `H·D` (dense). The output is always dense. The forward pass only: the backward
    /// pass rejects strided inputs.
    pub input_ld: Option<usize>,
}

impl AttentionOptions {
    /// Self-attention of `batch × heads` heads over `seq` tokens of `head_dim`.
    pub fn new(batch: usize, heads: usize, seq: usize, head_dim: usize) -> AttentionOptions {
        AttentionOptions {
            batch,
            heads,
            seq_q: seq,
            seq_kv: seq,
            head_dim,
            causal: false,
            scale: None,
            blocks: None,
            loop_spec: None,
            input_ld: None,
        }
    }
}

/// An attention plan: validated and its fixed-shape kernels dispatched once, run many times.
#[derive(Debug)]
pub struct Attention<T: OpElem> {
    o: AttentionOptions,
    bq: usize,
    bkv: usize,
    /// Leading dimension of the score and probability blocks (even, for bf16 key pairs).
    ldp: usize,
    /// Elements between consecutive tokens of `q`, `k` and `v`.
    ld_in: usize,
    scale: f32,
    nest: LoopNest,
    /// Kernels of the block shapes every run has (full blocks and the sequence edges).
    shapes: Vec<((usize, usize), Step)>,
    _t: PhantomData<T>,
}

/// The kernels of one `rows × cols` block step.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// The block's query rows to a dense `[rows][D]` copy.
    q_copy: UnaryKernel,
    qk: GemmKernel,
    /// The online softmax update ([`online_softmax`]).
    softmax: EquationKernel,
    scale_acc: BinaryKernel,
    pv: GemmKernel,
    finish: BinaryKernel,
}

/// Per-thread scratch: one block's scores and probabilities, the running statistics and
/// accumulator, and the current head's transposed keys (and packed values for bf16).
struct Scratch<T> {
    s: AlignedVec<f32>,
    p: AlignedVec<T>,
    acc: AlignedVec<f32>,
    m: AlignedVec<f32>,
    l: AlignedVec<f32>,
    mx: AlignedVec<f32>,
    lx: AlignedVec<f32>,
    corr: AlignedVec<f32>,
    q: AlignedVec<T>,
    kt: AlignedVec<T>,
    v: AlignedVec<T>,
    head: Option<(usize, usize)>,
    extra: Vec<((usize, usize), Step)>,
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("attention", field, value, allowed)
}

impl<T: OpElem> Attention<T> {
    /// Validates the options and dispatches the kernels of the fixed block shapes.
    pub fn new(o: AttentionOptions) -> Result<Attention<T>> {
        if !matches!(T::DTYPE, DType::F32 | DType::BF16) {
            return Err(bad("dtype", T::DTYPE, "f32 or bf16"));
        }
        for (f, v) in [
            ("batch", o.batch),
            ("heads", o.heads),
            ("seq_q", o.seq_q),
            ("seq_kv", o.seq_kv),
            ("head_dim", o.head_dim),
        ] {
            if v == 0 {
                return Err(bad(f, 0, "at least 1"));
            }
        }
        for (what, seq) in [("q", o.seq_q), ("k", o.seq_kv.saturating_add(1))] {
            fits("attention", what, &[o.batch, seq, o.heads, o.head_dim, 2])?;
        }
        let dense = o.heads * o.head_dim;
        let ld_in = o.input_ld.unwrap_or(dense);
        if ld_in < dense {
            return Err(bad(
                "input_ld",
                ld_in,
                format!("at least heads·head_dim = {dense}"),
            ));
        }
        for (what, seq) in [("q", o.seq_q), ("k", o.seq_kv.saturating_add(1))] {
            fits("attention", what, &[o.batch, seq, ld_in, 2])?;
        }
        if o.causal && o.seq_kv < o.seq_q {
            return Err(bad(
                "causal",
                format!("seq_kv {} < seq_q {}", o.seq_kv, o.seq_q),
                "seq_kv >= seq_q with a causal mask",
            ));
        }
        if T::VNNI2 && !o.head_dim.is_multiple_of(2) {
            return Err(bad("head_dim", o.head_dim, "even for bf16 (VNNI2 pairs)"));
        }
        let (bq, bkv) = o.blocks.unwrap_or((64, 256));
        let (bq, bkv) = (bq.clamp(1, o.seq_q), bkv.clamp(1, o.seq_kv));
        if T::VNNI2 && !bkv.is_multiple_of(2) && bkv < o.seq_kv {
            return Err(bad("blocks", bkv, "an even key block for bf16"));
        }
        let scale = o.scale.unwrap_or(1.0 / (o.head_dim as f32).sqrt());
        if !scale.is_finite() {
            return Err(bad("scale", scale, "finite"));
        }
        let loops = [
            LoopSpec::new(0, o.batch, 1),
            LoopSpec::new(0, o.heads, 1),
            LoopSpec::new(0, o.seq_q.div_ceil(bq), 1),
        ];
        let nest = LoopNest::new(&loops, spec_or(o.loop_spec.as_deref(), "ABc"))?;
        let mut a = Attention {
            o,
            bq,
            bkv,
            ldp: bkv.next_multiple_of(2),
            ld_in,
            scale,
            nest,
            shapes: vec![],
            _t: PhantomData,
        };
        for rows in [bq, a.o.seq_q % bq] {
            for cols in [bkv, a.o.seq_kv % bkv] {
                if rows > 0 && cols > 0 && !a.shapes.iter().any(|(s, _)| *s == (rows, cols)) {
                    let step = a.step(rows, cols)?;
                    a.shapes.push(((rows, cols), step));
                }
            }
        }
        Ok(a)
    }

    /// The options.
    pub fn options(&self) -> &AttentionOptions {
        &self.o
    }

    /// Nominal flops of the two products without masking: `4·B·H·S_q·S_kv·D`.
    pub fn flops(&self) -> u64 {
        let o = &self.o;
        4 * (o.batch * o.heads * o.seq_q * o.seq_kv * o.head_dim) as u64
    }

    /// Elements of the query (and output) tensor, and of the key and value tensors, dense.
    pub fn lens(&self) -> (usize, usize) {
        let o = &self.o;
        let row = o.heads * o.head_dim;
        (o.batch * o.seq_q * row, o.batch * o.seq_kv * row)
    }

    /// Elements the `q` slice, and each of the `k` and `v` slices, must hold at least: the
    /// last token's row starts `input_ld` times the tokens before it in (equal to
    /// [`Self::lens`] for dense inputs).
    pub fn input_lens(&self) -> (usize, usize) {
        let o = &self.o;
        let row = o.heads * o.head_dim;
        let span = |tokens: usize| (tokens - 1) * self.ld_in + row;
        (span(o.batch * o.seq_q), span(o.batch * o.seq_kv))
    }

    /// Elements between consecutive tokens of the inputs.
    pub(crate) fn input_ld(&self) -> usize {
        self.ld_in
    }

    fn step(&self, rows: usize, cols: usize) -> Result<Step> {
        let (d, bkv) = (self.o.head_dim, self.ldp);
        let (ld, ld_in) = (self.o.heads * d, self.ld_in);
        let f = DType::F32;
        let mut qk = GemmDesc::new(rows, cols, d, T::DTYPE)
            .ld(d, self.o.seq_kv, bkv)
            .alpha(self.scale as f64)
            .beta(0.0)
            .output(f);
        // bf16: an odd block of keys still multiplies pairs (the pad column of P is zero).
        let kk = if T::VNNI2 {
            cols.next_multiple_of(2)
        } else {
            cols
        };
        let mut pv = GemmDesc::new(rows, d, kk, T::DTYPE)
            .ld(bkv, d, d)
            .beta(1.0)
            .output(f);
        if T::VNNI2 {
            qk = qk.vnni_b();
            pv = pv.vnni_b();
        }
        Ok(Step {
            q_copy: UnaryDesc::new(UnaryOp::Identity, rows, d, T::DTYPE)
                .ld(ld_in, d)
                .dispatch()?,
            qk: qk.dispatch()?,
            softmax: online_softmax(rows, cols, bkv, T::DTYPE).dispatch()?,
            scale_acc: BinaryDesc::new(BinaryOp::Mul, rows, d, f)
                .broadcast(Broadcast::None, Broadcast::Col)
                .dispatch()?,
            pv: pv.dispatch()?,
            finish: BinaryDesc::new(BinaryOp::Div, rows, d, f)
                .ld(d, 1, ld)
                .broadcast(Broadcast::None, Broadcast::Col)
                .dtypes(f, f, f, T::DTYPE)
                .dispatch()?,
        })
    }

    /// `o = softmax(scale·q·kᵀ + mask)·v` per batch and head (`q`, `o`: `[B][S_q][H][D]`;
    /// `k`, `v`: `[B][S_kv][H][D]`); `key_lengths` (one per batch, 1 to `S_kv`) masks padded
    /// keys.
    pub fn forward(
        &self,
        q: &[T],
        k: &[T],
        v: &[T],
        key_lengths: Option<&[usize]>,
        out: &mut [T],
    ) -> Result<()> {
        self.run(q, k, v, key_lengths, out, None)
    }

    /// [`Self::forward`], also keeping the softmax statistics the backward pass needs:
    /// `stats` holds [`Self::stats_len`] f32 values (per batch and head, the row maxima `m` of
    /// the scaled scores, then the row sums `l` of `exp(S − m)`, each `S_q` long).
    pub fn forward_train(
        &self,
        q: &[T],
        k: &[T],
        v: &[T],
        key_lengths: Option<&[usize]>,
        out: &mut [T],
        stats: &mut [f32],
    ) -> Result<()> {
        check_len("stats", stats.len(), self.stats_len())?;
        self.run(q, k, v, key_lengths, out, Some(Shared::of_mut(stats)))
    }

    /// Elements of the statistics of [`Self::forward_train`]: `2·B·H·S_q`.
    pub fn stats_len(&self) -> usize {
        2 * self.o.batch * self.o.heads * self.o.seq_q
    }

    /// Checks the operands every pass shares.
    pub(crate) fn check(
        &self,
        q: usize,
        k: usize,
        v: usize,
        key_lengths: Option<&[usize]>,
    ) -> Result<()> {
        let o = &self.o;
        let (lq, lkv) = self.input_lens();
        check_len("q", q, lq)?;
        check_len("k", k, lkv)?;
        check_len("v", v, lkv)?;
        if let Some(lens) = key_lengths {
            check_len("key_lengths", lens.len(), o.batch)?;
            if let Some(bad) = lens[..o.batch].iter().find(|&&l| l == 0 || l > o.seq_kv) {
                return Err(Error::operand(
                    "key_lengths",
                    format!("{bad} is not in 1..={}", o.seq_kv),
                ));
            }
        }
        Ok(())
    }

    /// The block sizes `(bq, bkv)`, the leading dimension of the score blocks and the scale.
    pub(crate) fn blocking(&self) -> (usize, usize, usize, f32) {
        (self.bq, self.bkv, self.ldp, self.scale)
    }

    fn run(
        &self,
        q: &[T],
        k: &[T],
        v: &[T],
        key_lengths: Option<&[usize]>,
        out: &mut [T],
        stats: Option<Shared<f32>>,
    ) -> Result<()> {
        let o = &self.o;
        self.check(q.len(), k.len(), v.len(), key_lengths)?;
        check_len("out", out.len(), self.lens().0)?;
        let (d, ld) = (o.head_dim, self.ld_in);
        let transpose = UnaryDesc::new(UnaryOp::Transpose, o.seq_kv, d, T::DTYPE)
            .ld(ld, o.seq_kv)
            .dispatch()?;
        let (kt_pack, v_pack) = if T::VNNI2 {
            let vn = Layout::Vnni2;
            (
                Some(
                    UnaryDesc::new(UnaryOp::VnniPack { layout: vn }, d, o.seq_kv, T::DTYPE)
                        .dispatch()?,
                ),
                Some(
                    UnaryDesc::new(UnaryOp::VnniPack { layout: vn }, o.seq_kv, d, T::DTYPE)
                        .ld(ld, d)
                        .dispatch()?,
                ),
            )
        } else {
            // f32 values are copied to a dense `[S_kv][D]` block per head too: the P·V
            // product then reads rows `D` apart rather than `input_ld` (three times further
            // in BERT's fused QKV buffer, a page per row).
            (
                None,
                Some(
                    UnaryDesc::new(UnaryOp::Identity, o.seq_kv, d, T::DTYPE)
                        .ld(ld, d)
                        .dispatch()?,
                ),
            )
        };
        let failure = Mutex::new(None);
        let (qs, ks, vs, os) = (
            Shared::of(q),
            Shared::of(k),
            Shared::of(v),
            Shared::of_mut(out),
        );
        let (bq, bkv) = (self.bq, self.ldp);
        let head_len = o.seq_kv.next_multiple_of(2) * d;
        self.nest.run_with(
            |_| Scratch::<T> {
                s: AlignedVec::filled(bq * bkv),
                p: AlignedVec::filled(bq * bkv),
                acc: AlignedVec::filled(bq * d),
                m: AlignedVec::filled(bq),
                l: AlignedVec::filled(bq),
                mx: AlignedVec::filled(bq),
                lx: AlignedVec::filled(bq),
                corr: AlignedVec::filled(bq),
                q: AlignedVec::filled(bq * d),
                kt: AlignedVec::filled(head_len),
                v: AlignedVec::filled(head_len),
                head: None,
                extra: vec![],
            },
            |st, _, ind| {
                let (b, h, qb) = (ind[0], ind[1], ind[2]);
                let head = b * o.seq_kv * ld + h * d;
                if st.head != Some((b, h)) {
                    // SAFETY: the head's keys and values lie in k and v ([S_kv] rows `ld`
                    // apart); the scratch holds their transposed / packed copies.
                    unsafe {
                        match kt_pack {
                            None => unary(&transpose, ks.at(head), st.kt.as_mut_ptr()),
                            Some(pack) => {
                                let mut t = vec![T::default(); o.seq_kv * d];
                                unary(&transpose, ks.at(head), t.as_mut_ptr());
                                unary(&pack, t.as_ptr(), st.kt.as_mut_ptr());
                            }
                        }
                        if let Some(pack) = v_pack {
                            unary(&pack, vs.at(head), st.v.as_mut_ptr());
                        }
                    }
                    st.head = Some((b, h));
                }
                let kv_len = key_lengths.map_or(o.seq_kv, |l| l[b]);
                if let Err(e) = self.query_block(st, (b, h, qb), kv_len, (qs, os), stats) {
                    failure
                        .lock()
                        .expect("no panic holds the lock")
                        .get_or_insert(e);
                }
            },
            |_, _| (),
        );
        match failure.into_inner().expect("no panic holds the lock") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The kernels of a block shape: prebuilt, or dispatched now (key lengths that end inside
    /// a block) and kept in the thread's scratch.
    fn kernels(&self, st: &mut Scratch<T>, rows: usize, cols: usize) -> Result<Step> {
        if let Some((_, s)) = self
            .shapes
            .iter()
            .chain(st.extra.iter())
            .find(|(s, _)| *s == (rows, cols))
        {
            return Ok(*s);
        }
        let s = self.step(rows, cols)?;
        st.extra.push(((rows, cols), s));
        Ok(s)
    }

    /// One block of queries of head `(b, h)` against its first `kv_len` keys.
    fn query_block(
        &self,
        st: &mut Scratch<T>,
        (b, h, qb): (usize, usize, usize),
        kv_len: usize,
        (qs, os): (Shared<T>, Shared<T>),
        stats: Option<Shared<f32>>,
    ) -> Result<()> {
        let o = &self.o;
        let (d, ld, bkv) = (o.head_dim, self.ld_in, self.bkv);
        let i0 = qb * self.bq;
        let rows = self.bq.min(o.seq_q - i0);
        let off = o.seq_kv - o.seq_q.min(o.seq_kv);
        // Keys any row of the block may see.
        let last_key = if o.causal {
            (i0 + rows - 1 + off).min(kv_len - 1)
        } else {
            kv_len - 1
        };
        st.m[..rows].fill(f32::NEG_INFINITY);
        st.l[..rows].fill(0.0);
        st.acc[..rows * d].fill(0.0);
        let q_at = (b * o.seq_q + i0) * ld + h * d;
        let out_at = (b * o.seq_q + i0) * o.heads * d + h * d;
        for j0 in (0..=last_key).step_by(bkv) {
            let cols = bkv.min(last_key + 1 - j0);
            let k = self.kernels(st, rows, cols)?;
            if j0 == 0 {
                // SAFETY: the block's query rows (checked length) into the scratch.
                unsafe { unary(&k.q_copy, qs.at(q_at), st.q.as_mut_ptr()) };
            }
            // SAFETY: the query rows, the head's transposed keys (columns j0..j0 + cols) and
            // the scratch blocks are in bounds by construction.
            unsafe {
                let args = GemmArgs {
                    a: st.q.as_ptr().cast(),
                    b: st
                        .kt
                        .as_ptr()
                        .add(if T::VNNI2 { 2 * j0 } else { j0 })
                        .cast(),
                    c: st.s.as_mut_ptr().cast(),
                    ..GemmArgs::default()
                };
                k.qk.call_raw(&args);
            }
            if o.causal {
                for i in 0..rows {
                    let first_masked = (i0 + i + off + 1).saturating_sub(j0).min(cols);
                    st.s[i * self.ldp + first_masked..i * self.ldp + cols].fill(f32::NEG_INFINITY);
                }
            }
            online_softmax_step(&k, st);
            if T::VNNI2 && cols % 2 == 1 {
                for i in 0..rows {
                    st.p[i * self.ldp + cols] = T::default();
                }
            }
            // SAFETY: P's rows, the head's values from key j0 on (copied or packed), and the
            // accumulator.
            unsafe {
                let v = st.v.as_ptr().add(j0 * d);
                let args = GemmArgs {
                    a: st.p.as_ptr().cast(),
                    b: v.cast(),
                    c: st.acc.as_mut_ptr().cast(),
                    ..GemmArgs::default()
                };
                k.pv.call_raw(&args);
            }
        }
        let k = self.kernels(st, rows, bkv.min(last_key + 1))?;
        // SAFETY: the accumulator and l over `rows`, written to this block's output rows.
        unsafe { binary(&k.finish, st.acc.as_ptr(), st.l.as_ptr(), os.at(out_at)) };
        if let Some(stats) = stats {
            let at = (b * o.heads + h) * 2 * o.seq_q + i0;
            // SAFETY: this block's rows of head (b, h)'s statistics (checked length).
            unsafe {
                std::ptr::copy_nonoverlapping(st.m.as_ptr(), stats.at(at), rows);
                std::ptr::copy_nonoverlapping(st.l.as_ptr(), stats.at(at + o.seq_q), rows);
            }
        }
        Ok(())
    }
}

/// One online softmax step ([`online_softmax`]), then `acc = c·acc`.
fn online_softmax_step<T: OpElem>(k: &Step, st: &mut Scratch<T>) {
    let inputs = [
        st.s.as_ptr().cast(),
        st.m.as_ptr().cast(),
        st.l.as_ptr().cast(),
    ];
    let outputs = [
        st.p.as_mut_ptr().cast(),
        st.mx.as_mut_ptr().cast(),
        st.lx.as_mut_ptr().cast(),
        st.corr.as_mut_ptr().cast(),
    ];
    // SAFETY: every buffer holds `rows` values (or a `rows × ld` block), as the equation of
    // this shape expects; the outputs are distinct buffers from the inputs.
    unsafe {
        k.softmax.call_raw(&EquationArgs {
            inputs: inputs.as_ptr(),
            outputs: outputs.as_ptr(),
            mask_in: std::ptr::null(),
            seed: 0,
        });
        binary(
            &k.scale_acc,
            st.acc.as_ptr(),
            st.corr.as_ptr(),
            st.acc.as_mut_ptr(),
        );
    }
    std::mem::swap(&mut st.m, &mut st.mx);
    std::mem::swap(&mut st.l, &mut st.lx);
}
