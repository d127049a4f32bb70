//! Transcendental functions as micro-op sequences (DESIGN §3), in f32, built only from the
//! [`Builder`]'s lane-wise operations: every backend that implements the micro-ops gets them.
//!
//! `exp` is a Cody–Waite reduction `x = n·ln2 + r` (`|r| ≲ ln2/2`, two `fnma` with a split
//! `ln2`), a degree-6 minimax polynomial for `e^r` and `Scalef(p, n)`, which cannot overflow
//! in between and rounds subnormal results once. Everything else is built on it so that no step
//! cancels: `expm1` returns `2^n·(q − (2^−n − 1))` with `q = e^r − 1 = r + r²·P(r)`; `tanh` is
//! `e/(e + 2)` with `e = expm1(2|x|)`; `sigmoid` only exponentiates `−|x|`; `erf` and the normal
//! CDF use `Φ(−a) = e^{−a²/2}/(2 + a·G(a))` with `G` a polynomial that only moves between 1.6
//! and 2.5 (so its rounding barely matters) and `a²` carried exactly, as a double-f32, into the
//! reduction; GELU is `x·sigmoid(2u)` or `x·Φ(x)`, never `0.5·x·(1 + …)`, and tanh-GELU carries
//! its cubic `u` as a double-f32 too (the sigmoid's relative error is `|2u|` times the absolute
//! error of `2u`).
//!
//! Measured maximum errors (`ulp`: the spacing of f32 at the true value, subnormal spacing
//! below `2^−126`; references in f64 from std and `libm`), over every f32 with
//! `2^−8 ≤ |x| < 8` (`< 128` for exp, expm1, sigmoid) and 16M bit-uniform samples per range over
//! `|x| < 0.01`, the core range and the whole line:
//!
//! | function | max error | register use (V regs: constants + peak temporaries) |
//! |---|---|---|
//! | `exp` | 0.90 ulp | 26: 12 + 3 |
//! | `expm1` | 1.44 ulp | 33: 13 + 5 |
//! | `tanh` | 2.42 ulp | 36: 13 + 5 |
//! | `sigmoid` | 2.41 ulp | 30: 12 + 4 |
//! | `erf` | 1.04 ulp | 67: 28 + 6 |
//! | `gelu_tanh` | 3.46 ulp where `abs(y) ≥ 1e−3·abs(x)`, else `abs(err) ≤ 1.8e−10·abs(x)` | 51: 16 + 6 |
//! | `gelu_erf` | 3.42 ulp where `abs(y) ≥ 1e−3·abs(x)`, else `abs(err) ≤ 1.8e−10·abs(x)` | 62: 26 + 6 |
//! | `gelu_tanh_grad` | 3.0 ulp where `abs(y) ≥ 1/4`, else `abs(err) ≤ 6.5e−8` | 55: 17 + 6 |
//! | `gelu_erf_grad` | 2.51 ulp where `abs(y) ≥ 1/4`, else `abs(err) ≤ 5.7e−8` | 64: 27 + 5 |
//!
//! The reduction rounds `x·log2e` with the shifter `1.5·2²³` (one fma and one subtraction,
//! rounding the exact product) since 2026-12-03; re-measured then on 16M samples per range, every
//! maximum fell slightly (exp 0.87, sigmoid 2.33, gelu_tanh 3.22 ulp); the table keeps the
//! earlier exhaustive figures as the bounds the sweeps check.
//!
//! (The grads cross zero near `x = −0.75` as a difference of terms near 0.3, hence the absolute
//! bound there.) `measure_all` below reproduces the sampled part:
//! `TPP_APPROX_POINTS=16000000 cargo test --release --lib lower::approx -- --ignored
//! --nocapture` (2.5 minutes; the default is 4M samples per range); `sweep_range` does the
//! exhaustive part, e.g. `F=gelu_erf R=-8:-0.00390625,0.00390625:8 cargo test --release --lib
//! lower::approx::tests::sweep_range -- --ignored --nocapture`.

use std::f64::consts::{FRAC_1_SQRT_2, LN_2, LOG2_E, PI};
use std::ops::{Deref, DerefMut};

use super::program::{BinOp, Builder, UnOp, K, V};
use crate::isa::CmpOp;

/// `e^r ≈ 1 + r + r²·P(r)` on `|r| ≤ 0.3466` (minimax, relative error 3.1e-9), highest first.
const EXP_POLY: [f64; 7] = [
    1.381_459_778_225_019_2e-3,
    8.368_717_235_628_521e-3,
    4.166_838_808_227_18e-2,
    1.666_652_062_878_014e-1,
    4.999_999_344_758_826e-1,
    1.0,
    1.0,
];

/// `e^r − 1 ≈ r + r²·P(r)` on `|r| ≤ 0.3466` (minimax, relative error 2.4e-10), highest first.
const EXPM1_POLY: [f64; 6] = [
    1.984_587_886_556_463_4e-4,
    1.394_062_774_774_324e-3,
    8.333_389_368_091_098e-3,
    4.166_636_090_868_128e-2,
    1.666_666_637_046_403_7e-1,
    5.000_000_044_164_78e-1,
];

/// `erf(x)/x − 1 ≈ P(x²)` on `|x| ≤ ERF_SMALL` (minimax, relative error 6.1e-9 in `erf`),
/// highest first: `erf(x) = x + x·P(x²)`, so the rounding of `P` is damped ninefold.
const ERF_POLY: [f64; 6] = [
    -6.315_084_560_397_78e-4,
    5.051_087_469_849_295e-3,
    -2.680_254_358_340_141e-2,
    1.128_271_730_486_589_7e-1,
    -3.761_257_182_906_635e-1,
    1.283_791_602_292_903_3e-1,
];
/// Below this `|x|`, `erf` uses [`ERF_POLY`]; above, `1 − erfc`.
const ERF_SMALL: f64 = 0.85;

/// `G(a) = (1/M(a) − 2)/a` with `M(a) = Φ(−a)·e^{a²/2}`, so that
/// `Φ(−a) = e^{−a²/2}/(2 + a·G(a))`; highest first. `G` only moves between 1.6 and 2.5, so its
/// rounding errors barely reach `Φ`. Minimax on `a ∈ [0, 6]`, weighted to a relative error of
/// `Φ(−a)` below 1e-8 (0.2 ulp) on `a ≤ 3.2` and an absolute error below 1e-11 beyond; `a` is
/// capped at [`GAUSS_G_MAX`] inside `G` (there `Φ(−a) < 1e−9`).
const GAUSS_G: [f64; 10] = [
    -6.713_754_944_357_287e-8,
    2.170_020_938_736_276_5e-6,
    -3.057_623_764_135_040_5e-5,
    2.471_048_184_376_323_3e-4,
    -1.235_391_155_287_623e-3,
    3.502_742_352_035_66e-3,
    -6.573_688_755_884_32e-4,
    -4.787_862_200_895_554e-2,
    2.732_273_418_644_319e-1,
    1.595_769_853_428_818_3,
];
const GAUSS_G_MAX: f64 = 6.0;

/// `2·√(2/π)`: `gelu_tanh(x) = x·sigmoid(C1·(x + GELU_K·x³))`.
const GELU_C1: f64 = 1.595_769_121_605_730_7;
const GELU_K: f64 = 0.044_715;
/// `1.5·2²³`: an f32 in `[2²³, 2²⁴)` has no fraction bits, so adding it rounds to an integer
/// (ties to even) for any addend below `2²²` in magnitude.
const ROUND_SHIFTER: f64 = 12_582_912.0;

/// A [`Builder`] that creates each distinct constant once per sequence.
struct Cx<'a> {
    b: &'a mut Builder,
    consts: Vec<(u32, V)>,
}

impl<'a> Cx<'a> {
    fn new(b: &'a mut Builder) -> Self {
        Cx {
            b,
            consts: Vec::new(),
        }
    }

    /// The constant `v` (rounded to f32).
    fn c(&mut self, v: f64) -> V {
        let bits = (v as f32).to_bits();
        if let Some(&(_, r)) = self.consts.iter().find(|c| c.0 == bits) {
            return r;
        }
        let r = self.b.constant(v as f32);
        self.consts.push((bits, r));
        r
    }

    /// `min(max(x, lo), hi)` (NaN stays NaN).
    fn clamp(&mut self, x: V, lo: f64, hi: f64) -> V {
        let (l, h) = (self.c(lo), self.c(hi));
        let t = self.bin(BinOp::Max, x, l);
        self.bin(BinOp::Min, t, h)
    }

    /// `P(t)` by Horner, coefficients highest first (each rounded to f32).
    fn horner(&mut self, t: V, coeffs: &[f64]) -> V {
        let mut p = self.c(coeffs[0]);
        for &k in &coeffs[1..] {
            let k = self.c(k);
            p = self.fma(p, t, k);
        }
        p
    }
}

impl Deref for Cx<'_> {
    type Target = Builder;
    fn deref(&self) -> &Builder {
        self.b
    }
}

impl DerefMut for Cx<'_> {
    fn deref_mut(&mut self) -> &mut Builder {
        self.b
    }
}

/// Cody–Waite reduction of `s·(x − sub)` (`x` finite): returns `(n, r)` with
/// `s·(x − sub) = n·ln2 + r`, `n` integral, `|r| ≲ ln2/2`. `sub` is a small correction (the
/// low half of a double-f32 `x`); the split `ln2/s` keeps `x − n·ln2/s` exact.
fn reduce(cx: &mut Cx, x: V, sub: Option<V>, s: f64) -> (V, V) {
    // n = round(x·log2e·s) by the shifter 1.5·2²³: the fma rounds the exact product plus the
    // shifter to an integer once, and the subtraction is exact (|x·log2e·s| < 2²² for every
    // caller). Rounding the exact product rather than a rounded one lowered every measured
    // maximum error slightly; the speed on an Intel Xeon was the same as mul + `vrndscaleps`.
    let l2e = cx.c(LOG2_E * s);
    let shifter = cx.c(ROUND_SHIFTER);
    let t = cx.fma(x, l2e, shifter);
    let n = cx.sub(t, shifter);
    let hi = (LN_2 / s) as f32 as f64;
    let (h, l) = (cx.c(hi), cx.c(LN_2 / s - hi));
    let r = cx.fnma(n, h, x);
    let mut r = cx.fnma(n, l, r);
    if let Some(sub) = sub {
        r = cx.sub(r, sub);
    }
    if s != 1.0 {
        let s = cx.c(s);
        r = cx.mul(r, s);
    }
    (n, r)
}

/// `e^r − 1` for `|r| ≲ ln2/2`, as `r + r²·P(r)`: relative error ≲ 0.5 ulp.
fn expm1_poly(cx: &mut Cx, r: V) -> V {
    let r2 = cx.mul(r, r);
    let p = cx.horner(r, &EXPM1_POLY);
    cx.fma(r2, p, r)
}

/// `e^x − 1` for `x` in `[−20, 89]` or NaN.
fn expm1_core(cx: &mut Cx, x: V) -> V {
    let (n, r) = reduce(cx, x, None, 1.0);
    let q = expm1_poly(cx, r);
    // e^x − 1 = 2^n·(q − (2^−n − 1)); 2^−n − 1 is exact for |n| ≤ 24, and rounds harmlessly
    // beyond (to 2^−n when e^x − 1 rounds to −1, to −1 when 2^n·q dominates).
    let one = cx.c(1.0);
    let nn = cx.un(UnOp::Neg, n);
    let s = cx.bin(BinOp::Scalef, one, nn);
    let sm1 = cx.sub(s, one);
    let u = cx.sub(q, sm1);
    cx.bin(BinOp::Scalef, u, n)
}

/// `(e, d)`: `e = e^{s·(m − sub)}` (an exponent ≤ 0, finite) and `d = 1 + e`, so that
/// `sigmoid(±v) = (1 or e)/d` for `−|v| = s·(m − sub)`, and `sigmoid(v)·sigmoid(−v) = e/d²`.
fn sigmoid_parts(cx: &mut Cx, m: V, sub: Option<V>, s: f64) -> (V, V) {
    let (n, r) = reduce(cx, m, sub, s);
    let p = cx.horner(r, &EXP_POLY);
    let e = cx.bin(BinOp::Scalef, p, n);
    let one = cx.c(1.0);
    (e, cx.add(one, e))
}

/// The Gaussian tail, for `a = |x|` capped at `cap`: `(r, n, a, den)` with `e^r·2^n = e^{−a²/2}`
/// and `Φ(−a) = e^r·2^n/den` (`erfc = false`), or `e^r·2^n = e^{−a²}` and
/// `erfc(a) = e^r·2^n/den` (`erfc = true`, using `erfc(a) = 2·Φ(−a√2)`).
fn gauss_tail(cx: &mut Cx, x: V, erfc: bool, cap: f64) -> (V, V, V, V) {
    let a = cx.un(UnOp::Abs, x);
    let capv = cx.c(cap);
    let a = cx.bin(BinOp::Min, a, capv);
    // den = 2 + a·G(a), or 1 + a·G(a√2)/√2 for erfc.
    let (coeffs, c0, gmax) = if erfc {
        // G(a√2)/√2: the coefficient of a^j times 2^((j − 1)/2).
        let deg = GAUSS_G.len() as f64 - 1.0;
        let k = |i: usize| 2f64.powf((deg - i as f64 - 1.0) / 2.0);
        let c = GAUSS_G.iter().enumerate().map(|(i, &g)| g * k(i));
        (c.collect(), 1.0, GAUSS_G_MAX * FRAC_1_SQRT_2)
    } else {
        (GAUSS_G.to_vec(), 2.0, GAUSS_G_MAX)
    };
    let ag = if cap > gmax {
        let gm = cx.c(gmax);
        cx.bin(BinOp::Min, a, gm)
    } else {
        a
    };
    let g = cx.horner(ag, &coeffs);
    let c0 = cx.c(c0);
    let den = cx.fma(a, g, c0);
    // The exponent −a²/2 or −a² as the exact double-f32 hh − nl.
    let mh = if erfc {
        cx.un(UnOp::Neg, a)
    } else {
        let m = cx.c(-0.5);
        cx.mul(a, m)
    };
    let hh = cx.mul(mh, a);
    let nl = cx.fnma(mh, a, hh);
    let (n, r) = reduce(cx, hh, Some(nl), 1.0);
    (r, n, a, den)
}

/// `e^x`.
///
/// Measured: ≤ 0.90 ulp (results are `+inf` from 88.73 on, `0` below −103.97; subnormal results
/// are rounded once); `exp(±0) = 1`, `exp(+inf) = +inf`, `exp(−inf) = +0`, NaN → NaN.
pub fn exp(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let x = cx.clamp(x, -104.0, 89.0);
    let (n, r) = reduce(cx, x, None, 1.0);
    let p = cx.horner(r, &EXP_POLY);
    cx.bin(BinOp::Scalef, p, n)
}

/// `e^x − 1`, without cancellation near 0.
///
/// Measured: ≤ 1.44 ulp (the worst just past `x = 17.3`, where `2^−n − 1` rounds; ≤ 0.9 ulp
/// below); `expm1(±0) = ±0`, subnormals are returned exactly, `+inf → +inf`, `−inf → −1`,
/// NaN → NaN.
pub fn expm1(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let xc = cx.clamp(x, -20.0, 89.0);
    let y = expm1_core(cx, xc);
    // e^x − 1 has the sign of x: this also gives expm1(−0) = −0.
    cx.bin(BinOp::CopySign, y, x)
}

/// `tanh(x) = e/(e + 2)` with `e = expm1(2|x|)`, sign copied back.
///
/// Measured: ≤ 2.42 ulp; odd (`tanh(−0) = −0`), `±inf → ±1`, NaN → NaN. (The worst is for small
/// `|x|`, where `e`, `e + 2` and the division each add their rounding.)
pub fn tanh(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let a = cx.un(UnOp::Abs, x);
    // tanh rounds to 1 from |x| ≈ 9.01 on; the cap keeps e finite.
    let cap = cx.c(10.0);
    let a = cx.bin(BinOp::Min, a, cap);
    let a2 = cx.add(a, a);
    let e = expm1_core(cx, a2);
    let two = cx.c(2.0);
    let den = cx.add(e, two);
    let t = cx.div(e, den);
    cx.bin(BinOp::CopySign, t, x)
}

/// `sigmoid(x) = 1/(1 + e^{−x})`, computed as `(x > 0 ? 1 : e)/(1 + e)` with `e = e^{−|x|}`, so
/// that subnormal results are right too.
///
/// Measured: ≤ 2.41 ulp, subnormal results included (`sigmoid(−100) ≈ 3.7e−44`);
/// `sigmoid(±0) = 0.5`, `+inf → 1`, `−inf → 0`, NaN → NaN.
pub fn sigmoid(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let a = cx.un(UnOp::Abs, x);
    let m = cx.un(UnOp::Neg, a);
    let lo = cx.c(-104.0);
    let m = cx.bin(BinOp::Max, m, lo);
    let (e, d) = sigmoid_parts(cx, m, None, 1.0);
    let zero = cx.c(0.0);
    let k = cx.cmp(CmpOp::Gt, x, zero);
    let one = cx.c(1.0);
    let num = cx.select(k, one, e);
    cx.div(num, d)
}

/// Tanh-GELU's sigmoid: `(xc, s, e, d, k)` with `xc = clamp(x, ±20)`, `s = xc²`, `k = x > 0`,
/// `e = e^{−|v|}`, `d = 1 + e` for `v = C1·(xc + K·xc³)`. The sigmoid's relative error is
/// about `|v|` times the absolute error of `v`, so `xc + K·xc³` is carried as a double-f32
/// (`K` split in two) into the reduction, which multiplies by `C1` only after subtracting
/// `n·ln2/C1`.
fn gelu_tanh_parts(cx: &mut Cx, x: V) -> (V, V, V, V, K) {
    let xc = cx.clamp(x, -20.0, 20.0);
    let kh = GELU_K as f32 as f64;
    let (kh, kl) = (cx.c(kh), cx.c(GELU_K - kh));
    // t + tl = K·xc² (s + sl = xc², exact; t + tl1 = kh·s, exact)
    let s = cx.mul(xc, xc);
    let nsl = cx.fnma(xc, xc, s);
    let t = cx.mul(kh, s);
    let ntl1 = cx.fnma(kh, s, t);
    let u = cx.fma(kh, nsl, ntl1);
    let ntl = cx.fnma(kl, s, u);
    // yh + yl = xc + xc·(t + tl)
    let yh = cx.fma(t, xc, xc);
    let d0 = cx.sub(xc, yh);
    let e1 = cx.fma(t, xc, d0);
    let yl = cx.fnma(xc, ntl, e1);
    // −|v|/C1 = m − sub
    let a = cx.un(UnOp::Abs, yh);
    let m = cx.un(UnOp::Neg, a);
    let zero = cx.c(0.0);
    let k = cx.cmp(CmpOp::Gt, xc, zero);
    let nyl = cx.un(UnOp::Neg, yl);
    let sub = cx.select(k, yl, nyl);
    let (e, d) = sigmoid_parts(cx, m, Some(sub), GELU_C1);
    (xc, s, e, d, k)
}

/// Tanh-approximate GELU, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as
/// `x·sigmoid(2u)` (no cancellation for negative `x`).
///
/// Measured: ≤ 3.46 ulp where `|gelu(x)| ≥ 1e−3·|x|` (`x ≳ −3.1`), absolute error
/// ≤ 1.8e−10·|x| elsewhere (where `0.5·x·(1 + tanh(…))` in f32, as PyTorch computes it, cancels);
/// `gelu(±0) = ±0`, `+inf → +inf`, `−inf → −0` (the limit), NaN → NaN.
pub fn gelu_tanh(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let (_, _, e, d, k) = gelu_tanh_parts(cx, x);
    let lo = cx.c(-20.0);
    let xm = cx.bin(BinOp::Max, x, lo);
    let xe = cx.mul(xm, e);
    let num = cx.select(k, xm, xe);
    cx.div(num, d)
}

/// Derivative of [`gelu_tanh`]: `σ(v) + x·σ(v)·σ(−v)·v′` with `v = C1·(x + K·x³)`,
/// `v′ = C1·(1 + 3K·x²)`.
///
/// Measured: ≤ 3.0 ulp where `|y| ≥ 1/4`, absolute error ≤ 6.5e−8 elsewhere (around the zero
/// at `x ≈ −0.75` the result is a difference of terms near 0.3); `gelu_tanh_grad(0) = 0.5`,
/// `+inf → 1`, `−inf → 0`, NaN → NaN.
pub fn gelu_tanh_grad(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let (xc, s, e, d, k) = gelu_tanh_parts(cx, x);
    let one = cx.c(1.0);
    let num = cx.select(k, one, e);
    // (num·d + x·v′·e)/d²
    let (c1, c3) = (cx.c(GELU_C1), cx.c(3.0 * GELU_K * GELU_C1));
    let vp = cx.fma(c3, s, c1);
    let xvp = cx.mul(xc, vp);
    let nd = cx.mul(num, d);
    let f = cx.fma(xvp, e, nd);
    let dd = cx.mul(d, d);
    cx.div(f, dd)
}

/// `erf(x)`: `x + x·P(x²)` below `|x| = 0.85`, `1 − erfc(|x|)` above with
/// `erfc(t) = e^{−t²}/(1 + t·G(t))`, sign copied back.
///
/// Measured: ≤ 1.04 ulp; odd (`erf(−0) = −0`), `erf(±inf) = ±1`, NaN → NaN.
pub fn erf(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    // erf(x) rounds to 1 from 3.92 on.
    let (r, n, a, den) = gauss_tail(cx, x, true, GAUSS_G_MAX * FRAC_1_SQRT_2);
    let p = cx.horner(r, &EXP_POLY);
    let q = cx.div(p, den);
    let c = cx.bin(BinOp::Scalef, q, n);
    let one = cx.c(1.0);
    let big = cx.sub(one, c);
    let s = cx.mul(a, a);
    let ps = cx.horner(s, &ERF_POLY);
    let small = cx.fma(a, ps, a);
    let lim = cx.c(ERF_SMALL);
    let k = cx.cmp(CmpOp::Lt, a, lim);
    let y = cx.select(k, small, big);
    cx.bin(BinOp::CopySign, y, x)
}

/// Exact GELU, `0.5·x·(1 + erf(x/√2)) = x·Φ(x)`. With `z = x·Φ(−|x|)`, it is `z` for `x ≤ 0`
/// and `x − z` for `x > 0`; `Φ(−a) = e^{−a²/2}/(2 + a·G(a))` with `x·e^r` rounded once.
///
/// Measured: ≤ 3.42 ulp where `|gelu(x)| ≥ 1e−3·|x|` (`x ≳ −3.1`), absolute error
/// ≤ 1.8e−10·|x| elsewhere (an Abramowitz–Stegun 7.1.26 `erf`, 1.5e−7 absolute, as in PyTorch's
/// vectorised CPU kernel, gives up to 7.5e−8·|x|); `gelu(±0) = ±0`, `+inf → +inf`, `−inf → −0`,
/// NaN → NaN.
pub fn gelu_erf(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let (r, n, _, den) = gauss_tail(cx, x, false, 15.0);
    // Beyond |x| = 15, Φ(−|x|)·2^n is 0 and xc·e^r stays finite.
    let q = expm1_poly(cx, r);
    let xc = cx.clamp(x, -15.0, 15.0);
    let xp = cx.fma(xc, q, xc);
    let w = cx.div(xp, den);
    let z = cx.bin(BinOp::Scalef, w, n);
    let pos = cx.sub(x, z);
    let zero = cx.c(0.0);
    let k = cx.cmp(CmpOp::Gt, x, zero);
    cx.select(k, pos, z)
}

/// Derivative of [`gelu_erf`]: `Φ(x) + x·φ(x)`, `φ(x) = e^{−x²/2}/√(2π)`.
///
/// Measured: ≤ 2.51 ulp where `|y| ≥ 1/4`, absolute error ≤ 5.7e−8 elsewhere (around the zero
/// at `x ≈ −0.75`); `gelu_erf_grad(0) = 0.5`, `+inf → 1`, `−inf → 0`, NaN → NaN.
pub fn gelu_erf_grad(b: &mut Builder, x: V) -> V {
    let cx = &mut Cx::new(b);
    let (r, n, _, den) = gauss_tail(cx, x, false, 15.0);
    let p = cx.horner(r, &EXP_POLY);
    let q = cx.div(p, den);
    let c = cx.bin(BinOp::Scalef, q, n);
    let one = cx.c(1.0);
    let oc = cx.sub(one, c);
    let zero = cx.c(0.0);
    let k = cx.cmp(CmpOp::Gt, x, zero);
    let ph = cx.select(k, oc, c);
    let k = cx.c(1.0 / (2.0 * PI).sqrt());
    let pk = cx.mul(p, k);
    let pdf = cx.bin(BinOp::Scalef, pk, n);
    let xc = cx.clamp(x, -15.0, 15.0);
    cx.fma(xc, pdf, ph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::interp::eval1;
    use crate::lower::regalloc::Assignment;
    use crate::lower::{Port, Program};

    type Seq = fn(&mut Builder, V) -> V;

    fn build(f: Seq) -> Program {
        let mut b = Builder::new();
        let x = b.load(Port::In0);
        let y = f(&mut b, x);
        b.store(y, Port::Out);
        b.finish()
    }

    // f64 references, from the definitions (with the limits at ±inf).
    fn sigmoid_ref(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    fn gelu_tanh_ref(x: f64) -> f64 {
        let u = (2.0 / PI).sqrt() * (x + GELU_K * x * x * x);
        if x.is_infinite() {
            x.max(-0.0)
        } else {
            x * sigmoid_ref(2.0 * u)
        }
    }
    fn gelu_tanh_grad_ref(x: f64) -> f64 {
        let c = (2.0 / PI).sqrt();
        let t = (c * (x + GELU_K * x * x * x)).tanh();
        let g = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * GELU_K * x * x);
        if x.is_infinite() {
            x.clamp(0.0, 1.0)
        } else {
            g
        }
    }
    fn phi_ref(x: f64) -> f64 {
        0.5 * libm::erfc(-x * FRAC_1_SQRT_2)
    }
    fn gelu_erf_ref(x: f64) -> f64 {
        if x.is_infinite() {
            x.max(-0.0)
        } else {
            x * phi_ref(x)
        }
    }
    fn gelu_erf_grad_ref(x: f64) -> f64 {
        if x.is_infinite() {
            x.clamp(0.0, 1.0)
        } else {
            phi_ref(x) + x * (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
        }
    }

    /// The spacing of f32 at `|t|` (subnormal spacing below `2^−126`).
    fn ulp(t: f64) -> f64 {
        let e = if t == 0.0 {
            -127
        } else {
            ((t.abs().to_bits() >> 52) as i32) - 1023
        };
        2f64.powi(e.max(-126) - 23)
    }

    /// Error of `y` against `t` in ulps: exact for non-finite results (NaN matches NaN).
    fn ulps(y: f32, t: f64) -> f64 {
        let tf = t as f32;
        if y.is_nan() || t.is_nan() || tf.is_infinite() || y.is_infinite() {
            let same = y.to_bits() == tf.to_bits() || (y.is_nan() && t.is_nan());
            return if same { 0.0 } else { f64::INFINITY };
        }
        (y as f64 - t).abs() / ulp(t)
    }

    /// About `n` f32s between `lo` and `hi`, a fixed number of ulps apart.
    fn grid(lo: f32, hi: f32, n: u64) -> impl Iterator<Item = f32> {
        let key = |v: f32| match v.is_sign_negative() {
            true => -((v.to_bits() & 0x7fff_ffff) as i64),
            false => v.to_bits() as i64,
        };
        let (a, b) = (key(lo), key(hi));
        let step = ((b - a) as u64 / n).max(1) as i64;
        (0..)
            .map(move |i| a + i * step)
            .take_while(move |&k| k <= b)
            .map(|k| match k < 0 {
                true => f32::from_bits((-k) as u32 | 0x8000_0000),
                false => f32::from_bits(k as u32),
            })
    }

    /// A sequence under test: its f64 reference, where its error counts in ulps (elsewhere
    /// the absolute error over `scale(x)` counts), the ranges swept, the documented bounds.
    struct Case {
        name: &'static str,
        f: Seq,
        r: fn(f64) -> f64,
        rel: fn(f64, f64) -> bool,
        scale: fn(f64) -> f64,
        ranges: &'static [(f32, f32)],
        max_ulp: f64,
        max_abs: f64,
    }

    fn always(_: f64, _: f64) -> bool {
        true
    }
    fn one(_: f64) -> f64 {
        1.0
    }
    fn gelu_rel(x: f64, t: f64) -> bool {
        t.abs() >= 1e-3 * x.abs()
    }
    fn abs_x(x: f64) -> f64 {
        x.abs()
    }
    fn grad_rel(_: f64, t: f64) -> bool {
        t.abs() >= 0.25
    }

    /// Near zero, the core (bit-uniform, so every binade is covered), the whole line.
    macro_rules! ranges {
        ($lo:expr, $hi:expr) => {
            &[(-0.01, 0.01), ($lo, -0.01), (0.01, $hi), (-3e38, 3e38)]
        };
    }
    #[rustfmt::skip]
    const CASES: [Case; 9] = [
        Case { name: "exp", f: exp, r: f64::exp, rel: always, scale: one,
               ranges: ranges!(-104.0, 89.0), max_ulp: 0.9, max_abs: 0.0 },
        Case { name: "expm1", f: expm1, r: f64::exp_m1, rel: always, scale: one,
               ranges: ranges!(-20.0, 89.0), max_ulp: 1.45, max_abs: 0.0 },
        Case { name: "tanh", f: tanh, r: f64::tanh, rel: always, scale: one,
               ranges: ranges!(-10.0, 10.0), max_ulp: 2.45, max_abs: 0.0 },
        Case { name: "sigmoid", f: sigmoid, r: sigmoid_ref, rel: always, scale: one,
               ranges: ranges!(-104.0, 20.0), max_ulp: 2.45, max_abs: 0.0 },
        Case { name: "erf", f: erf, r: libm::erf, rel: always, scale: one,
               ranges: ranges!(-4.5, 4.5), max_ulp: 1.05, max_abs: 0.0 },
        Case { name: "gelu_tanh", f: gelu_tanh, r: gelu_tanh_ref, rel: gelu_rel, scale: abs_x,
               ranges: ranges!(-20.0, 20.0), max_ulp: 3.5, max_abs: 1.8e-10 },
        Case { name: "gelu_erf", f: gelu_erf, r: gelu_erf_ref, rel: gelu_rel, scale: abs_x,
               ranges: ranges!(-20.0, 20.0), max_ulp: 3.45, max_abs: 1.8e-10 },
        Case { name: "gelu_tanh_grad", f: gelu_tanh_grad, r: gelu_tanh_grad_ref, rel: grad_rel,
               scale: one, ranges: ranges!(-20.0, 20.0), max_ulp: 3.05, max_abs: 6.5e-8 },
        Case { name: "gelu_erf_grad", f: gelu_erf_grad, r: gelu_erf_grad_ref, rel: grad_rel,
               scale: one, ranges: ranges!(-20.0, 20.0), max_ulp: 2.55, max_abs: 5.7e-8 },
    ];

    /// Inputs every sequence must get right: zeros, subnormals, extremes, infinities, NaN.
    const SPECIAL: [f32; 20] = [
        0.0,
        -0.0,
        1e-45,
        -1e-45,
        1e-40,
        -1e-40,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-20,
        -1e-20,
        0.5,
        -0.5,
        1.0,
        -1.0,
        1e30,
        -1e30,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];

    #[derive(Debug, Default)]
    struct Worst {
        ulp: f64,
        ulp_at: f32,
        abs: f64,
        abs_at: f32,
        n: u64,
    }

    fn measure(c: &Case, per_range: u64) -> Worst {
        let p = build(c.f);
        let mut w = Worst::default();
        let xs = c
            .ranges
            .iter()
            .flat_map(|&(lo, hi)| grid(lo, hi, per_range));
        for x in xs.chain(SPECIAL) {
            let (y, t) = (eval1(&p, x), (c.r)(x as f64));
            w.n += 1;
            if (c.rel)(x as f64, t) || !x.is_finite() {
                let e = ulps(y, t);
                if e.is_nan() || e > w.ulp {
                    (w.ulp, w.ulp_at) = (e, x);
                }
            } else {
                let e = (y as f64 - t).abs() / (c.scale)(x as f64);
                if e.is_nan() || e > w.abs {
                    (w.abs, w.abs_at) = (e, x);
                }
            }
        }
        w
    }

    /// Sweeps `name` (some 240k points: well under a second in debug builds) against its bounds.
    fn check(name: &str) {
        let c = CASES.iter().find(|c| c.name == name).unwrap();
        let w = measure(c, 60_000);
        assert!(w.ulp <= c.max_ulp && w.abs <= c.max_abs, "{name}: {w:?}");
        let nan = eval1(&build(c.f), f32::NAN);
        assert!(nan.is_nan(), "{name}(NaN) = {nan}");
    }

    #[test]
    fn exp_sweep() {
        check("exp");
    }
    #[test]
    fn expm1_sweep() {
        check("expm1");
    }
    #[test]
    fn tanh_sweep() {
        check("tanh");
    }
    #[test]
    fn sigmoid_sweep() {
        check("sigmoid");
    }
    #[test]
    fn erf_sweep() {
        check("erf");
    }
    #[test]
    fn gelu_tanh_sweep() {
        check("gelu_tanh");
    }
    #[test]
    fn gelu_erf_sweep() {
        check("gelu_erf");
    }
    #[test]
    fn gelu_tanh_grad_sweep() {
        check("gelu_tanh_grad");
    }
    #[test]
    fn gelu_erf_grad_sweep() {
        check("gelu_erf_grad");
    }

    /// Exact results at the special points, signs of zero included.
    #[test]
    fn special_values() {
        let inf = f32::INFINITY;
        #[rustfmt::skip]
        let cases: &[(Seq, f32, f32)] = &[
            (exp, 0.0, 1.0), (exp, -0.0, 1.0), (exp, inf, inf), (exp, -inf, 0.0),
            (exp, 89.0, inf), (exp, -104.0, 0.0), (exp, 1e-45, 1.0),
            (expm1, 0.0, 0.0), (expm1, -0.0, -0.0), (expm1, inf, inf), (expm1, -inf, -1.0),
            (expm1, -30.0, -1.0), (expm1, 1e-40, 1e-40), (expm1, -1e-45, -1e-45),
            (tanh, 0.0, 0.0), (tanh, -0.0, -0.0), (tanh, inf, 1.0), (tanh, -inf, -1.0),
            (tanh, 9.1, 1.0), (tanh, -1e30, -1.0), (tanh, 1e-40, 1e-40),
            (sigmoid, 0.0, 0.5), (sigmoid, -0.0, 0.5), (sigmoid, inf, 1.0),
            (sigmoid, -inf, 0.0), (sigmoid, 20.0, 1.0), (sigmoid, -1e30, 0.0),
            (erf, 0.0, 0.0), (erf, -0.0, -0.0), (erf, inf, 1.0), (erf, -inf, -1.0),
            (erf, 4.0, 1.0), (erf, -1e30, -1.0),
            (gelu_tanh, 0.0, 0.0), (gelu_tanh, -0.0, -0.0), (gelu_tanh, inf, inf),
            (gelu_tanh, -inf, -0.0), (gelu_tanh, 1e30, 1e30), (gelu_tanh, -1e30, -0.0),
            (gelu_tanh, f32::MAX, f32::MAX),
            (gelu_erf, 0.0, 0.0), (gelu_erf, -0.0, -0.0), (gelu_erf, inf, inf),
            (gelu_erf, -inf, -0.0), (gelu_erf, 1e30, 1e30), (gelu_erf, -1e30, -0.0),
            (gelu_erf, f32::MAX, f32::MAX),
            (gelu_tanh_grad, 0.0, 0.5), (gelu_tanh_grad, inf, 1.0),
            (gelu_tanh_grad, -inf, 0.0), (gelu_tanh_grad, 1e30, 1.0),
            (gelu_erf_grad, 0.0, 0.5), (gelu_erf_grad, inf, 1.0),
            (gelu_erf_grad, -inf, 0.0), (gelu_erf_grad, 1e30, 1.0),
        ];
        for &(f, x, want) in cases {
            let y = eval1(&build(f), x);
            assert_eq!(
                y.to_bits(),
                want.to_bits(),
                "f({x:e}) = {y:e}, want {want:e}"
            );
        }
    }

    /// Register use stays modest: few live temporaries, constants shared.
    #[test]
    fn register_use() {
        for c in &CASES {
            let p = build(c.f);
            let a = Assignment::of(&p);
            assert!(a.temps <= 6 && a.invariants <= 28, "{}: {a:?}", c.name);
        }
    }

    /// The measurement behind the documented bounds (release build: 40 s at the default 4M
    /// points per range, `TPP_APPROX_POINTS` sets them). Prints each sequence's worst errors and
    /// register use.
    #[test]
    #[ignore]
    fn measure_all() {
        let per_range =
            std::env::var("TPP_APPROX_POINTS").map_or(4_000_000, |v| v.parse().unwrap());
        let mut over = vec![];
        for c in &CASES {
            let p = build(c.f);
            let w = measure(c, per_range);
            let a = Assignment::of(&p);
            println!(
                "{:15} {:.3} ulp at {:e}, abs {:.2e} at {:e} ({} points); {} vregs: {} constants, {} temps",
                c.name, w.ulp, w.ulp_at, w.abs, w.abs_at, w.n, p.vregs, a.invariants, a.temps
            );
            if w.ulp > c.max_ulp || w.abs > c.max_abs {
                over.push(format!("{}: {w:?}", c.name));
            }
        }
        assert!(over.is_empty(), "over the documented bounds: {over:#?}");
    }

    /// Every f32 in the ranges `R=lo:hi,lo:hi,…` for the function `F` (release build: some
    /// 4M points a second).
    #[test]
    #[ignore]
    fn sweep_range() {
        let (Ok(name), Ok(r)) = (std::env::var("F"), std::env::var("R")) else {
            return println!("sweep_range: set F=<function> R=<lo:hi,...>");
        };
        let ranges: Vec<(f32, f32)> = r
            .split(',')
            .map(|r| {
                let (lo, hi) = r.split_once(':').unwrap();
                (lo.parse().unwrap(), hi.parse().unwrap())
            })
            .collect();
        let c = CASES.iter().find(|c| c.name == name).unwrap();
        let c2 = Case {
            ranges: ranges.leak(),
            ..*c
        };
        let w = measure(&c2, u64::MAX >> 1);
        println!("{name} {:?}: {w:?}", c2.ranges);
    }
}
