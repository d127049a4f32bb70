//! `tpp::ops::BertLayer` against a BERT encoder layer written here in plain f64 loops: the
//! projections as triple loops, attention with the full `S × S` score matrix and a textbook
//! softmax, the exact GELU `x·Φ(x)` (erf; tpp's `GeluErf`, which the layer uses, as BERT does),
//! layer norm with two-pass statistics. For bf16 the reference rounds the tensors the layer
//! stores between its steps (q, k, v, context, projections, hidden, intermediate) to bf16 at
//! the same points, and takes the same bf16 inputs and weights; everything else is f64.
//!
//! Dropout: the reference applies the keep masks the layer reports (so a mask applied to the
//! wrong element, or scaled wrongly, fails), and the masks themselves are checked for their
//! keep rate, for being a function of the seed, and for differing between the two sub-layers.

use tpp::ops::{lengths_from_mask, BertLayer, BertOptions, BertWeights, OpElem};
use tpp::{bf16, bitmask, Error};

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * self.f()).collect()
    }
}

fn cast<T: OpElem>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f32(x as f32)).collect()
}
fn back<T: OpElem>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.to_f32() as f64).collect()
}

/// The layer's parameters in f64 (already representable in the layer's dtype).
struct Params {
    w: [Vec<f64>; 6],
    b: [Vec<f64>; 6],
    norm: [Vec<f64>; 4],
}

/// `x·Wᵀ + b` (`x [n][c]`, `w [k][c]`).
fn affine(x: &[f64], w: &[f64], b: &[f64], n: usize, c: usize, k: usize) -> Vec<f64> {
    let mut z = vec![0.0; n * k];
    for i in 0..n {
        for o in 0..k {
            let mut s = b[o];
            for j in 0..c {
                s += x[i * c + j] * w[o * c + j];
            }
            z[i * k + o] = s;
        }
    }
    z
}

fn layer_norm(s: &[f64], g: &[f64], b: &[f64], h: usize, eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; s.len()];
    for (row, out) in s.chunks(h).zip(y.chunks_mut(h)) {
        let mean = row.iter().sum::<f64>() / h as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for j in 0..h {
            out[j] = (row[j] - mean) * rstd * g[j] + b[j];
        }
    }
    y
}

/// What the reference needs besides the parameters.
struct Case<'a> {
    o: &'a BertOptions,
    lengths: Option<&'a [usize]>,
    /// The keep masks of the two dropouts, `[n]` rows of `default_ld(hidden)` bits.
    masks: Option<(&'a [u8], &'a [u8])>,
    /// Rounds a stored tensor to the layer's dtype.
    round: fn(f64) -> f64,
}

fn reference(c: &Case, x: &[f64], p: &Params) -> Vec<f64> {
    let o = c.o;
    let (bsz, s, h, nh, im) = (o.batch, o.seq, o.hidden, o.heads, o.intermediate);
    let (n, d) = (bsz * s, h / nh);
    let r = |v: Vec<f64>| v.into_iter().map(c.round).collect::<Vec<_>>();
    let q = r(affine(x, &p.w[0], &p.b[0], n, h, h));
    let k = r(affine(x, &p.w[1], &p.b[1], n, h, h));
    let v = r(affine(x, &p.w[2], &p.b[2], n, h, h));
    let mut ctx = vec![0.0; n * h];
    let scale = 1.0 / (d as f64).sqrt();
    for b in 0..bsz {
        let len = c.lengths.map_or(s, |l| l[b]);
        for hd in 0..nh {
            for i in 0..s {
                let mut sc = vec![f64::NEG_INFINITY; s];
                for (j, scj) in sc.iter_mut().enumerate().take(len) {
                    let mut t = 0.0;
                    for e in 0..d {
                        t += q[(b * s + i) * h + hd * d + e] * k[(b * s + j) * h + hd * d + e];
                    }
                    *scj = t * scale;
                }
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let ex: Vec<f64> = sc.iter().map(|&t| (t - m).exp()).collect();
                let sum: f64 = ex.iter().sum();
                for e in 0..d {
                    let mut t = 0.0;
                    for j in 0..s {
                        t += ex[j] / sum * v[(b * s + j) * h + hd * d + e];
                    }
                    ctx[(b * s + i) * h + hd * d + e] = t;
                }
            }
        }
    }
    let ctx = r(ctx);
    let drop = |a: Vec<f64>, which: usize| -> Vec<f64> {
        let Some(masks) = c.masks else { return a };
        let m = if which == 0 { masks.0 } else { masks.1 };
        let ld = bitmask::default_ld(h);
        // The kept scale 1/(1 − p) rounded to f32, as the dropout op documents.
        let keep = f64::from(1.0 / (1.0 - o.dropout));
        (0..a.len())
            .map(|e| {
                let kept = bitmask::get(m, e / h, e % h, ld);
                if kept {
                    a[e] * keep
                } else {
                    0.0
                }
            })
            .collect()
    };
    let eps = o.layer_norm_eps as f64;
    let a = drop(r(affine(&ctx, &p.w[3], &p.b[3], n, h, h)), 0);
    let s1: Vec<f64> = a.iter().zip(x).map(|(a, x)| a + x).collect();
    let h1 = r(layer_norm(&s1, &p.norm[0], &p.norm[1], h, eps));
    let gelu = |z: f64| 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
    let inter = r(affine(&h1, &p.w[4], &p.b[4], n, h, im)
        .into_iter()
        .map(gelu)
        .collect());
    let out = drop(r(affine(&inter, &p.w[5], &p.b[5], n, im, h)), 1);
    let s2: Vec<f64> = out.iter().zip(&h1).map(|(a, x)| a + x).collect();
    layer_norm(&s2, &p.norm[2], &p.norm[3], h, eps)
}

fn round_of<T: OpElem>() -> fn(f64) -> f64 {
    if std::mem::size_of::<T>() == 2 {
        |v| bf16::from_f64(v).to_f64()
    } else {
        |v| v
    }
}

/// Random parameters in `T`, weights scaled by `1/√fan_in` so that activations stay O(1).
fn params<T: OpElem>(o: &BertOptions, rng: &mut Rng) -> (Params, [Vec<T>; 6]) {
    let (h, im) = (o.hidden, o.intermediate);
    let rt = |v: Vec<f64>| back(&cast::<T>(&v));
    let shapes = [(h, h), (h, h), (h, h), (h, h), (im, h), (h, im)];
    let w = shapes.map(|(k, c)| rt(rng.vec(k * c, 1.5 / (c as f64).sqrt())));
    let b = shapes.map(|(k, _)| rng.vec(k, 0.2));
    let norm = [0, 1, 2, 3].map(|i| {
        let v = rng.vec(h, 0.3);
        if i % 2 == 0 {
            v.iter().map(|g| 1.0 + g).collect()
        } else {
            v
        }
    });
    let wt = w.clone().map(|v| cast::<T>(&v));
    (Params { w, b, norm }, wt)
}

fn weights<'a, T>(wt: &'a [Vec<T>; 6], bf: &'a [Vec<f32>]) -> BertWeights<'a, T> {
    BertWeights {
        query: (&wt[0], &bf[0]),
        key: (&wt[1], &bf[1]),
        value: (&wt[2], &bf[2]),
        attn_out: (&wt[3], &bf[3]),
        attn_norm: (&bf[6], &bf[7]),
        intermediate: (&wt[4], &bf[4]),
        output: (&wt[5], &bf[5]),
        out_norm: (&bf[8], &bf[9]),
    }
}

/// f32 copies of the biases then the norms (the layer's f32 parameters).
fn f32_params(p: &Params) -> Vec<Vec<f32>> {
    p.b.iter()
        .chain(&p.norm)
        .map(|v| v.iter().map(|&x| x as f32).collect())
        .collect()
}

/// Builds a layer from random parameters, runs it on a poisoned output and compares it with
/// the reference (with the masks the layer reports).
fn check<T: OpElem>(o: BertOptions, lengths: Option<&[usize]>, tol: f64, seed: u64) {
    let mut rng = Rng(seed);
    let n = o.batch * o.seq;
    let x = back(&cast::<T>(&rng.vec(n * o.hidden, 1.0)));
    let (p, wt) = params::<T>(&o, &mut rng);
    let bf = f32_params(&p);
    let mut layer = BertLayer::<T>::new(o.clone()).unwrap();
    layer.set_weights(&weights(&wt, &bf)).unwrap();
    let xt = cast::<T>(&x);
    let mut y = vec![T::from_f32(f32::NAN); n * o.hidden];
    layer.run(&xt, lengths, &mut y).unwrap();
    let (m0, m1) = layer.dropout_masks();
    let masks = (o.dropout > 0.0).then_some((m0, m1));
    if o.dropout == 0.0 {
        assert!(m0.is_empty() && m1.is_empty(), "no masks without dropout");
    }
    let case = Case {
        o: &o,
        lengths,
        masks,
        round: round_of::<T>(),
    };
    let want = reference(&case, &x, &p);
    let got = back(&y);
    let mut worst = (0.0f64, 0);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let e = (g - w).abs();
        assert!(!e.is_nan(), "y[{i}]: got {g}, want {w}");
        if e > worst.0 {
            worst = (e, i);
        }
    }
    assert!(
        worst.0 <= tol,
        "{:?} {o:?}: worst |error| {} at y[{}] (got {}, want {}), tolerance {tol}",
        T::DTYPE,
        worst.0,
        worst.1,
        got[worst.1],
        want[worst.1]
    );
}

fn opts(batch: usize, seq: usize, hidden: usize, heads: usize, inter: usize) -> BertOptions {
    BertOptions {
        hidden,
        heads,
        intermediate: inter,
        layer_norm_eps: 1e-5,
        ..BertOptions::base(batch, seq)
    }
}

// Tolerances on the layer-normalised output (values of order 1): f32 is limited by f32
// accumulation and the kernels' exp / erf / rsqrt; bf16 by the bf16 probabilities of the
// attention (the reference rounds the stored tensors, not P) and one rounding of y.
const TOL_F32: f64 = 5e-5;
const TOL_BF16: f64 = 5e-2;

#[test]
fn small_f32_and_bf16() {
    check::<f32>(opts(2, 13, 48, 3, 96), None, TOL_F32, 1);
    check::<bf16>(opts(2, 13, 48, 3, 96), None, TOL_BF16, 2);
}

#[test]
fn padding_lengths() {
    let o = opts(3, 21, 64, 4, 160);
    check::<f32>(o.clone(), Some(&[21, 5, 1]), TOL_F32, 3);
    check::<bf16>(o, Some(&[9, 21, 17]), TOL_BF16, 4);
    // A prefix padding mask gives the same lengths.
    let mut mask = vec![0u8; 3 * 21];
    for (b, len) in [9, 21, 17].into_iter().enumerate() {
        mask[b * 21..b * 21 + len].fill(1);
    }
    assert_eq!(lengths_from_mask(&mask, 3, 21).unwrap(), vec![9, 21, 17]);
    mask[5] = 0;
    assert!(matches!(
        lengths_from_mask(&mask, 3, 21),
        Err(Error::InvalidOperand { .. })
    ));
}

#[test]
fn bert_base_shape() {
    // The real BERT-base widths at a short, odd sequence (fast in the optimised test profile).
    let mut o = BertOptions::base(1, 19);
    o.layer_norm_eps = 1e-12;
    check::<f32>(o.clone(), None, TOL_F32, 5);
    check::<bf16>(o, Some(&[11]), TOL_BF16, 6);
}

#[test]
fn dropout_masks_applied_and_seeded() {
    let mut o = opts(2, 17, 48, 3, 96);
    o.dropout = 0.25;
    o.seed = 42;
    // The layer against the reference with the layer's own masks: a mask applied to other
    // elements than it reports, or mis-scaled, fails here.
    check::<f32>(o.clone(), None, TOL_F32, 7);
    check::<bf16>(o.clone(), Some(&[17, 3]), TOL_BF16, 8);

    let n = o.batch * o.seq;
    let mut rng = Rng(9);
    let x = cast::<f32>(&rng.vec(n * o.hidden, 1.0));
    let (p, wt) = params::<f32>(&o, &mut rng);
    let bf = f32_params(&p);
    let mut layer = BertLayer::<f32>::new(o.clone()).unwrap();
    layer.set_weights(&weights(&wt, &bf)).unwrap();
    let run = |layer: &mut BertLayer<f32>| {
        let mut y = vec![f32::NAN; n * o.hidden];
        layer.run(&x, None, &mut y).unwrap();
        let (a, b) = layer.dropout_masks();
        (y, a.to_vec(), b.to_vec())
    };
    let first = run(&mut layer);
    // Same seed: bit-identical outputs and masks.
    let again = run(&mut layer);
    assert!(first
        .0
        .iter()
        .zip(&again.0)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!((&first.1, &first.2), (&again.1, &again.2));
    // Keep rate near 1 − p over every mask bit; the two sub-layers draw different masks.
    let ld = bitmask::default_ld(o.hidden);
    let kept = |m: &[u8]| {
        (0..n)
            .flat_map(|i| (0..o.hidden).map(move |j| (i, j)))
            .filter(|&(i, j)| bitmask::get(m, i, j, ld))
            .count() as f64
            / (n * o.hidden) as f64
    };
    for m in [&first.1, &first.2] {
        let rate = kept(m);
        assert!((rate - 0.75).abs() < 0.03, "keep rate {rate}");
    }
    assert_ne!(first.1, first.2, "the two dropouts share a mask");
    // Row blocks draw different masks (no block repeats the first one).
    let row_bytes = ld / 8;
    let block0 = &first.1[..16 * row_bytes];
    assert_ne!(block0, &first.1[16 * row_bytes..32 * row_bytes]);
    // Another seed: other masks and outputs.
    layer.set_seed(43);
    let other = run(&mut layer);
    assert_ne!(first.1, other.1);
    assert!(first.0.iter().zip(&other.0).any(|(a, b)| a != b));
}

#[test]
fn typed_errors() {
    let bad = |o: BertOptions| {
        assert!(
            matches!(
                BertLayer::<f32>::new(o.clone()),
                Err(Error::InvalidDescriptor { .. })
            ),
            "{o:?} accepted"
        )
    };
    bad(opts(1, 8, 48, 5, 96));
    bad(opts(0, 8, 48, 3, 96));
    bad(BertOptions {
        dropout: 1.0,
        ..opts(1, 8, 48, 3, 96)
    });
    bad(BertOptions {
        layer_norm_eps: 0.0,
        ..opts(1, 8, 48, 3, 96)
    });
    // bf16 needs even widths (VNNI2 pairs).
    assert!(BertLayer::<bf16>::new(opts(1, 8, 45, 3, 96)).is_err());

    let o = opts(2, 8, 48, 3, 96);
    let mut layer = BertLayer::<f32>::new(o.clone()).unwrap();
    let x = vec![0.5f32; layer.len()];
    let mut y = vec![0.0f32; layer.len()];
    let operand = |r: tpp::Result<()>| assert!(matches!(r, Err(Error::InvalidOperand { .. })));
    // No weights yet.
    operand(layer.run(&x, None, &mut y));
    let (p, wt) = params::<f32>(&o, &mut Rng(1));
    let bf = f32_params(&p);
    let mut w = weights(&wt, &bf);
    w.key.1 = &bf[0][..47];
    operand(layer.set_weights(&w));
    layer.set_weights(&weights(&wt, &bf)).unwrap();
    operand(layer.run(&x[1..], None, &mut y));
    operand(layer.run(&x, Some(&[8, 0]), &mut y));
    operand(layer.run(&x, Some(&[8, 9]), &mut y));
    operand(layer.run(&x, Some(&[8]), &mut y));
    layer.run(&x, Some(&[8, 1]), &mut y).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
}

/// A plan moves to and is shared with other threads (`run` takes `&mut self`, so sharing
/// gives read-only access: options, masks).
#[test]
fn plan_is_send_and_sync() {
    fn both<S: Send + Sync>() {}
    both::<BertLayer<f32>>();
    both::<BertLayer<bf16>>();
}
