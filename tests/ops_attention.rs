//! `tpp::ops::Attention` (flash style, blocked over keys) against textbook attention written
//! here in f64 with the full `S_q × S_kv` softmax: random batch, heads, sequence lengths,
//! head sizes and block sizes, causal and padding masks, f32 and bf16; the backward pass
//! against the textbook gradients and finite differences of the forward pass.

mod common;

use proptest::prelude::*;
use tpp::bf16;
use tpp::ops::{Attention, AttentionGrads, AttentionOptions, OpElem};

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Textbook attention: the whole score matrix, its row softmax, then the product with V.
fn textbook(
    o: &AttentionOptions,
    q: &[f64],
    k: &[f64],
    v: &[f64],
    lens: Option<&[usize]>,
) -> Vec<f64> {
    let (d, ld) = (o.head_dim, o.heads * o.head_dim);
    let scale = o.scale.map_or(1.0 / (d as f64).sqrt(), |s| s as f64);
    let mut out = vec![0.0; o.batch * o.seq_q * ld];
    for b in 0..o.batch {
        let len = lens.map_or(o.seq_kv, |l| l[b]);
        for h in 0..o.heads {
            for i in 0..o.seq_q {
                let mut scores = vec![f64::NEG_INFINITY; o.seq_kv];
                for (j, sc) in scores.iter_mut().enumerate() {
                    let visible = j < len && (!o.causal || j <= i + (o.seq_kv - o.seq_q));
                    if visible {
                        *sc = scale
                            * (0..d)
                                .map(|t| {
                                    q[(b * o.seq_q + i) * ld + h * d + t]
                                        * k[(b * o.seq_kv + j) * ld + h * d + t]
                                })
                                .sum::<f64>();
                    }
                }
                let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
                let sum: f64 = e.iter().sum();
                for t in 0..d {
                    out[(b * o.seq_q + i) * ld + h * d + t] = (0..o.seq_kv)
                        .map(|j| e[j] / sum * v[(b * o.seq_kv + j) * ld + h * d + t])
                        .sum::<f64>();
                }
            }
        }
    }
    out
}

fn check<T: OpElem>(o: AttentionOptions, lens: Option<Vec<usize>>, seed: u64) {
    let mut rng = Rng(seed);
    let att = Attention::<T>::new(o.clone()).unwrap();
    let (lq, lkv) = att.lens();
    let mut draw = |n: usize, amp: f64| -> Vec<f64> {
        (0..n)
            .map(|_| (T::from_f32((amp * rng.f()) as f32)).to_f32() as f64)
            .collect()
    };
    let (q, k, v) = (draw(lq, 2.0), draw(lkv, 2.0), draw(lkv, 1.0));
    let cast = |x: &[f64]| -> Vec<T> { x.iter().map(|&y| T::from_f32(y as f32)).collect() };
    let mut out = vec![T::from_f32(f32::NAN); lq];
    att.forward(&cast(&q), &cast(&k), &cast(&v), lens.as_deref(), &mut out)
        .unwrap();
    let want = textbook(&o, &q, &k, &v, lens.as_deref());
    let tol = if T::DTYPE.size() == 2 { 2e-2 } else { 2e-5 };
    for (i, (g, w)) in out.iter().zip(&want).enumerate() {
        let g = g.to_f32() as f64;
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "out[{i}]: got {g}, want {w} ({o:?}, lens {lens:?})"
        );
    }
}

fn options(even: bool) -> impl Strategy<Value = (AttentionOptions, Option<Vec<usize>>, u64)> {
    (
        1usize..3,
        1usize..3,
        1usize..30,
        0usize..20,
        1usize..12,
        any::<bool>(),
        1usize..9,
        1usize..6,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            move |(batch, heads, sq, extra, d, causal, bq, bkv, pad, seed)| {
                let d = if even { 2 * d } else { d };
                let bkv = if even { 2 * bkv } else { bkv };
                let mut o = AttentionOptions::new(batch, heads, sq, d);
                o.seq_kv = sq + extra;
                o.causal = causal;
                o.blocks = Some((bq, bkv));
                let mut r = Rng(seed);
                // Key lengths (with a causal mask, long enough for every query to see a key).
                let lens = pad.then(|| {
                    (0..batch)
                        .map(|_| {
                            let lo = if causal { o.seq_kv - o.seq_q + 1 } else { 1 };
                            lo + ((r.f().abs() * (o.seq_kv - lo + 1) as f64) as usize)
                                .min(o.seq_kv - lo)
                        })
                        .collect()
                });
                (o, lens, seed)
            },
        )
}

proptest! {
    #![proptest_config(common::scale::config(24))]
    #[test]
    fn attention_f32_matches_textbook((o, lens, seed) in options(false)) {
        check::<f32>(o, lens, seed);
    }

    #[test]
    fn attention_bf16_matches_textbook((o, lens, seed) in options(true)) {
        check::<bf16>(o, lens, seed);
    }
}

#[test]
fn attention_default_blocks_bert_head() {
    // Two key blocks of 64 and a ragged third; a scale given explicitly.
    let mut o = AttentionOptions::new(1, 2, 150, 64);
    o.scale = Some(0.1);
    check::<f32>(o.clone(), None, 1);
    o.causal = true;
    check::<bf16>(o, Some(vec![140]), 2);
}

#[test]
fn attention_rejects_bad_problems() {
    let mut o = AttentionOptions::new(1, 1, 8, 4);
    o.seq_kv = 4;
    o.causal = true;
    assert!(Attention::<f32>::new(o).is_err());
    assert!(Attention::<bf16>::new(AttentionOptions::new(1, 1, 8, 3)).is_err());
    assert!(Attention::<f32>::new(AttentionOptions::new(1, 0, 8, 4)).is_err());
    let att = Attention::<f32>::new(AttentionOptions::new(2, 1, 8, 4)).unwrap();
    let x = vec![0f32; 64];
    let mut out = vec![0f32; 64];
    assert!(att.forward(&x, &x, &x, Some(&[8, 0]), &mut out).is_err());
    assert!(att.forward(&x, &x, &x, Some(&[8, 9]), &mut out).is_err());
    assert!(att.forward(&x[..63], &x, &x, None, &mut out).is_err());
}

/// Textbook gradients of `O = softmax(scale·Q·Kᵀ + mask)·V`: `dV = Pᵀ·dO`, `dP = dO·Vᵀ`,
/// `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q`.
fn textbook_grads(
    o: &AttentionOptions,
    q: &[f64],
    k: &[f64],
    v: &[f64],
    lens: Option<&[usize]>,
    dout: &[f64],
) -> [Vec<f64>; 3] {
    let (d, ld) = (o.head_dim, o.heads * o.head_dim);
    let scale = o.scale.map_or(1.0 / (d as f64).sqrt(), |s| s as f64);
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    for b in 0..o.batch {
        let len = lens.map_or(o.seq_kv, |l| l[b]);
        for h in 0..o.heads {
            let qa = |i: usize, t: usize| (b * o.seq_q + i) * ld + h * d + t;
            let ka = |j: usize, t: usize| (b * o.seq_kv + j) * ld + h * d + t;
            for i in 0..o.seq_q {
                let mut p = vec![0.0; o.seq_kv];
                let mut mx = f64::NEG_INFINITY;
                for j in 0..o.seq_kv {
                    p[j] = if j < len && (!o.causal || j <= i + (o.seq_kv - o.seq_q)) {
                        scale * (0..d).map(|t| q[qa(i, t)] * k[ka(j, t)]).sum::<f64>()
                    } else {
                        f64::NEG_INFINITY
                    };
                    mx = mx.max(p[j]);
                }
                let sum: f64 = p.iter().map(|s| (s - mx).exp()).sum();
                p.iter_mut().for_each(|s| *s = (*s - mx).exp() / sum);
                let dp: Vec<f64> = (0..o.seq_kv)
                    .map(|j| (0..d).map(|t| dout[qa(i, t)] * v[ka(j, t)]).sum())
                    .collect();
                let dd: f64 = (0..o.seq_kv).map(|j| dp[j] * p[j]).sum();
                for j in 0..o.seq_kv {
                    let ds = p[j] * (dp[j] - dd);
                    for t in 0..d {
                        dv[ka(j, t)] += p[j] * dout[qa(i, t)];
                        dq[qa(i, t)] += scale * ds * k[ka(j, t)];
                        dk[ka(j, t)] += scale * ds * q[qa(i, t)];
                    }
                }
            }
        }
    }
    [dq, dk, dv]
}

fn check_bwd<T: OpElem>(o: AttentionOptions, lens: Option<Vec<usize>>, seed: u64) {
    let mut rng = Rng(seed);
    let att = Attention::<T>::new(o.clone()).unwrap();
    let (lq, lkv) = att.lens();
    let mut draw = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|_| (T::from_f32(rng.f() as f32)).to_f32() as f64)
            .collect()
    };
    let (q, k, v, dout) = (draw(lq), draw(lkv), draw(lkv), draw(lq));
    let cast = |x: &[f64]| -> Vec<T> { x.iter().map(|&y| T::from_f32(y as f32)).collect() };
    let (qt, kt, vt) = (cast(&q), cast(&k), cast(&v));
    let mut out = vec![T::from_f32(f32::NAN); lq];
    let mut stats = vec![f32::NAN; att.stats_len()];
    att.forward_train(&qt, &kt, &vt, lens.as_deref(), &mut out, &mut stats)
        .unwrap();
    let (mut dq, mut dk, mut dv) = (
        vec![T::from_f32(f32::NAN); lq],
        vec![T::from_f32(f32::NAN); lkv],
        vec![T::from_f32(f32::NAN); lkv],
    );
    let grads = AttentionGrads {
        dq: &mut dq,
        dk: &mut dk,
        dv: &mut dv,
    };
    att.backward(
        &qt,
        &kt,
        &vt,
        lens.as_deref(),
        &out,
        &stats,
        &cast(&dout),
        grads,
    )
    .unwrap();
    let want = textbook_grads(&o, &q, &k, &v, lens.as_deref(), &dout);
    let tol = if T::DTYPE.size() == 2 { 5e-2 } else { 1e-4 };
    let scale = (o.seq_kv as f64).sqrt();
    for (name, got, want) in [
        ("dq", &dq, &want[0]),
        ("dk", &dk, &want[1]),
        ("dv", &dv, &want[2]),
    ] {
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            let g = g.to_f32() as f64;
            assert!(
                (g - w).abs() <= tol * (scale + w.abs()),
                "{name}[{i}]: got {g}, want {w} ({o:?}, lens {lens:?})"
            );
        }
    }
    // Finite differences of L = Σ O·dO through the f32 forward pass, at a few entries of q, k, v.
    if T::DTYPE.size() == 4 {
        let f32s = |x: &[f64]| -> Vec<f32> { x.iter().map(|&y| y as f32).collect() };
        let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
            let a = Attention::<f32>::new(o.clone()).unwrap();
            let mut out = vec![0f32; lq];
            a.forward(&f32s(q), &f32s(k), &f32s(v), lens.as_deref(), &mut out)
                .unwrap();
            out.iter().zip(&dout).map(|(&a, &b)| a as f64 * b).sum()
        };
        let h = 1e-2;
        for which in 0..3 {
            let (base, got) = match which {
                0 => (&q, &dq),
                1 => (&k, &dk),
                _ => (&v, &dv),
            };
            let i = (rng.f().abs() * base.len() as f64) as usize % base.len();
            let bump = |delta: f64| {
                let mut x = [q.clone(), k.clone(), v.clone()];
                x[which][i] += delta;
                loss(&x[0], &x[1], &x[2])
            };
            let fd = (bump(h) - bump(-h)) / (2.0 * h);
            let g = got[i].to_f32() as f64;
            assert!(
                (fd - g).abs() <= 2e-3 * (1.0 + fd.abs()),
                "fd of input {which} at {i}: {fd} vs {g}"
            );
        }
    }
}

proptest! {
    #![proptest_config(common::scale::config(12))]
    #[test]
    fn attention_backward_f32_matches_textbook((o, lens, seed) in options(false)) {
        check_bwd::<f32>(o, lens, seed);
    }

    #[test]
    fn attention_backward_bf16_matches_textbook((o, lens, seed) in options(true)) {
        check_bwd::<bf16>(o, lens, seed);
    }
}

/// The C entry points of the training passes give what the Rust API gives, bit for bit, and
/// the backward pass without statistics is an error.
#[test]
fn attention_c_abi_training_passes() {
    use std::ffi::c_void;
    use tpp::ffi::{
        tpp_attention_backward, tpp_attention_desc, tpp_attention_forward_train, TPP_DTYPE_F32,
        TPP_ERR_INVALID_ARGUMENT, TPP_OK,
    };
    let mut o = AttentionOptions::new(2, 3, 10, 8);
    o.seq_kv = 13;
    o.causal = true;
    let att = Attention::<f32>::new(o).unwrap();
    let (lq, lkv) = att.lens();
    let mut rng = Rng(5);
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.f() as f32).collect() };
    let (q, k, v, dout) = (draw(lq), draw(lkv), draw(lkv), draw(lq));
    let lens = [13usize, 9];
    let (mut out, mut stats) = (vec![0f32; lq], vec![0f32; att.stats_len()]);
    att.forward_train(&q, &k, &v, Some(&lens), &mut out, &mut stats)
        .unwrap();
    let (mut dq, mut dk, mut dv) = (vec![0f32; lq], vec![0f32; lkv], vec![0f32; lkv]);
    att.backward(
        &q,
        &k,
        &v,
        Some(&lens),
        &out,
        &stats,
        &dout,
        AttentionGrads {
            dq: &mut dq,
            dk: &mut dk,
            dv: &mut dv,
        },
    )
    .unwrap();

    let d = tpp_attention_desc {
        dtype: TPP_DTYPE_F32,
        batch: 2,
        heads: 3,
        seq_q: 10,
        seq_kv: 13,
        head_dim: 8,
        causal: 1,
        scale: 0.0,
    };
    let lens_c = [13i64, 9];
    let (mut out_c, mut stats_c) = (vec![f32::NAN; lq], vec![f32::NAN; att.stats_len()]);
    let p = |x: &[f32]| x.as_ptr().cast::<c_void>();
    // SAFETY: every buffer holds the elements the descriptor implies.
    unsafe {
        let st = tpp_attention_forward_train(
            &d,
            p(&q),
            p(&k),
            p(&v),
            lens_c.as_ptr(),
            out_c.as_mut_ptr().cast(),
            stats_c.as_mut_ptr(),
        );
        assert_eq!(st, TPP_OK);
        assert_eq!(out_c, out);
        assert_eq!(stats_c, stats);
        let (mut dq_c, mut dk_c, mut dv_c) =
            (vec![f32::NAN; lq], vec![f32::NAN; lkv], vec![f32::NAN; lkv]);
        let st = tpp_attention_backward(
            &d,
            p(&q),
            p(&k),
            p(&v),
            lens_c.as_ptr(),
            p(&out),
            stats.as_ptr(),
            p(&dout),
            dq_c.as_mut_ptr().cast(),
            dk_c.as_mut_ptr().cast(),
            dv_c.as_mut_ptr().cast(),
        );
        assert_eq!(st, TPP_OK);
        assert_eq!((dq_c, dk_c, dv_c), (dq.clone(), dk.clone(), dv.clone()));
        let st = tpp_attention_backward(
            &d,
            p(&q),
            p(&k),
            p(&v),
            lens_c.as_ptr(),
            p(&out),
            std::ptr::null(),
            p(&dout),
            dq.as_mut_ptr().cast(),
            dk.as_mut_ptr().cast(),
            dv.as_mut_ptr().cast(),
        );
        assert_eq!(st, TPP_ERR_INVALID_ARGUMENT);
    }
}

/// Forward over strided inputs: Q, K and V interleaved in one buffer of `ld`-element token
/// rows (as a fused QKV projection writes them, plus `gap` spare elements per row, poisoned
/// with NaN so a read outside the heads shows), against textbook attention on dense copies.
fn check_strided<T: OpElem>(
    mut o: AttentionOptions,
    lens: Option<Vec<usize>>,
    seed: u64,
    gap: usize,
) {
    let row = o.heads * o.head_dim;
    let ld = 3 * row + gap;
    o.input_ld = Some(ld);
    let mut rng = Rng(seed);
    let att = Attention::<T>::new(o.clone()).unwrap();
    let (lq, lkv) = att.lens();
    let mut draw = |n: usize, amp: f64| -> Vec<f64> {
        (0..n)
            .map(|_| (T::from_f32((amp * rng.f()) as f32)).to_f32() as f64)
            .collect()
    };
    let (q, k, v) = (draw(lq, 2.0), draw(lkv, 2.0), draw(lkv, 1.0));
    let tokens = (o.batch * o.seq_q).max(o.batch * o.seq_kv);
    let mut fused = vec![T::from_f32(f32::NAN); tokens * ld];
    for (third, x) in [&q, &k, &v].into_iter().enumerate() {
        for (t, src) in x.chunks(row).enumerate() {
            for (c, &y) in src.iter().enumerate() {
                fused[t * ld + third * row + c] = T::from_f32(y as f32);
            }
        }
    }
    let (lq_in, lkv_in) = att.input_lens();
    assert_eq!(lq_in, (o.batch * o.seq_q - 1) * ld + row);
    assert_eq!(lkv_in, (o.batch * o.seq_kv - 1) * ld + row);
    let (fq, fk, fv) = (
        &fused[..lq_in],
        &fused[row..row + lkv_in],
        &fused[2 * row..],
    );
    let mut out = vec![T::from_f32(f32::NAN); lq];
    att.forward(fq, fk, fv, lens.as_deref(), &mut out).unwrap();
    let want = textbook(&o, &q, &k, &v, lens.as_deref());
    let tol = if T::DTYPE.size() == 2 { 2e-2 } else { 2e-5 };
    for (i, (g, w)) in out.iter().zip(&want).enumerate() {
        let g = g.to_f32() as f64;
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "out[{i}]: got {g}, want {w} ({o:?}, lens {lens:?})"
        );
    }
    // One element short of the last token's row is an error, not a read past the slice.
    let mut spare = vec![T::default(); lq];
    assert!(att
        .forward(&fq[..lq_in - 1], fk, fv, lens.as_deref(), &mut spare)
        .is_err());
    assert!(att
        .forward(fq, &fk[..lkv_in - 1], fv, lens.as_deref(), &mut spare)
        .is_err());
}

proptest! {
    #![proptest_config(common::scale::config(12))]
    #[test]
    fn attention_strided_f32_matches_textbook((o, lens, seed) in options(false), gap in 0usize..5) {
        check_strided::<f32>(o, lens, seed, gap);
    }

    #[test]
    fn attention_strided_bf16_matches_textbook((o, lens, seed) in options(true), gap in 0usize..5) {
        check_strided::<bf16>(o, lens, seed, gap);
    }
}

#[test]
fn attention_strided_bert_head_and_bad_strides() {
    // BERT's fused layout (ld = 3·H·D) with default blocks, and a padded row.
    check_strided::<f32>(
        AttentionOptions::new(2, 2, 130, 64),
        Some(vec![130, 77]),
        3,
        0,
    );
    check_strided::<bf16>(AttentionOptions::new(1, 3, 70, 32), None, 4, 7);
    // A stride shorter than a token's heads is rejected when the plan is made.
    let mut o = AttentionOptions::new(1, 2, 8, 4);
    o.input_ld = Some(7);
    assert!(Attention::<f32>::new(o.clone()).is_err());
    o.input_ld = Some(8);
    assert!(Attention::<f32>::new(o.clone()).is_ok());
    o.input_ld = Some(usize::MAX / 4);
    assert!(Attention::<f32>::new(o.clone()).is_err());
    // The backward pass reads dense inputs only: a strided plan says so.
    o.input_ld = Some(24);
    let att = Attention::<f32>::new(o).unwrap();
    let (lq, lkv) = att.lens();
    let x = vec![0f32; 3 * lq];
    let (mut out, mut stats) = (vec![0f32; lq], vec![0f32; att.stats_len()]);
    att.forward_train(&x, &x, &x, None, &mut out, &mut stats)
        .unwrap();
    let (mut dq, mut dk, mut dv) = (vec![0f32; lq], vec![0f32; lkv], vec![0f32; lkv]);
    let grads = AttentionGrads {
        dq: &mut dq,
        dk: &mut dk,
        dv: &mut dv,
    };
    let err = att
        .backward(&x, &x, &x, None, &out, &stats, &x, grads)
        .unwrap_err();
    assert!(err.to_string().contains("input_ld"), "{err}");
}
