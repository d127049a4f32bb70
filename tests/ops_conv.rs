//! `tpp::ops::Conv2d` against a direct 7-loop convolution in f64 written here (NCHW, KCRS),
//! over random shapes (odd sizes, padding, stride 2, dilation, groups incl. depthwise), f32 and
//! bf16; the backward passes against the f64 gradients of the same loops and against finite
//! differences of the forward pass.

mod common;

use proptest::prelude::*;
use tpp::ops::{Conv2d, ConvOptions, ConvShape, OpElem};
use tpp::{bf16, Activation};

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.f()).collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    s: ConvShape,
    stride: (usize, usize),
    pad: (usize, usize),
    dil: (usize, usize),
    groups: usize,
}

impl Case {
    fn out(&self) -> (usize, usize) {
        let p = (self.s.h + 2 * self.pad.0 - self.dil.0 * (self.s.r - 1) - 1) / self.stride.0 + 1;
        let q = (self.s.w + 2 * self.pad.1 - self.dil.1 * (self.s.s - 1) - 1) / self.stride.1 + 1;
        (p, q)
    }
    /// Calls `f(n, k, p, q, c, r, s, h, w)` for every product term of the convolution that
    /// reads a real (not padding) input pixel.
    fn terms(&self, mut f: impl FnMut([usize; 9])) {
        let s = self.s;
        let (p_, q_) = self.out();
        let (cg, kg) = (s.c / self.groups, s.k / self.groups);
        for n in 0..s.n {
            for k in 0..s.k {
                let g = k / kg;
                for p in 0..p_ {
                    for q in 0..q_ {
                        for ci in 0..cg {
                            for r in 0..s.r {
                                for ss in 0..s.s {
                                    let h = (p * self.stride.0 + r * self.dil.0) as isize
                                        - self.pad.0 as isize;
                                    let w = (q * self.stride.1 + ss * self.dil.1) as isize
                                        - self.pad.1 as isize;
                                    if h >= 0 && w >= 0 && (h as usize) < s.h && (w as usize) < s.w
                                    {
                                        f([n, k, p, q, g * cg + ci, r, ss, h as usize, w as usize]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    fn x_at(&self, n: usize, c: usize, h: usize, w: usize) -> usize {
        ((n * self.s.c + c) * self.s.h + h) * self.s.w + w
    }
    fn w_at(&self, k: usize, c: usize, r: usize, s: usize) -> usize {
        let cg = self.s.c / self.groups;
        ((k * cg + c % cg) * self.s.r + r) * self.s.s + s
    }
    fn y_at(&self, n: usize, k: usize, p: usize, q: usize) -> usize {
        let (p_, q_) = self.out();
        ((n * self.s.k + k) * p_ + p) * q_ + q
    }
    fn x_len(&self) -> usize {
        self.s.n * self.s.c * self.s.h * self.s.w
    }
    fn w_len(&self) -> usize {
        self.s.k * (self.s.c / self.groups) * self.s.r * self.s.s
    }
    fn y_len(&self) -> usize {
        let (p, q) = self.out();
        self.s.n * self.s.k * p * q
    }
    fn forward(&self, x: &[f64], w: &[f64], b: &[f64], relu: bool) -> Vec<f64> {
        let mut y = vec![0.0; self.y_len()];
        self.terms(|[n, k, p, q, c, r, s, h, ww]| {
            y[self.y_at(n, k, p, q)] += x[self.x_at(n, c, h, ww)] * w[self.w_at(k, c, r, s)]
        });
        let (p_, q_) = self.out();
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / (p_ * q_)) % self.s.k];
            if relu {
                *v = v.max(0.0);
            }
        }
        y
    }
    fn grads(&self, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut dx, mut dw) = (vec![0.0; self.x_len()], vec![0.0; self.w_len()]);
        self.terms(|[n, k, p, q, c, r, s, h, ww]| {
            let g = dy[self.y_at(n, k, p, q)];
            dx[self.x_at(n, c, h, ww)] += g * w[self.w_at(k, c, r, s)];
            dw[self.w_at(k, c, r, s)] += g * x[self.x_at(n, c, h, ww)];
        });
        let (p_, q_) = self.out();
        let mut db = vec![0.0; self.s.k];
        for (i, v) in dy.iter().enumerate() {
            db[(i / (p_ * q_)) % self.s.k] += v;
        }
        (dx, dw, db)
    }
}

fn cast<T: OpElem>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f32(x as f32)).collect()
}
fn back<T: OpElem>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.to_f32() as f64).collect()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64, scale: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (scale + w.abs()),
            "{what}[{i}]: got {g}, want {w} (tol {tol}, scale {scale})"
        );
    }
}

/// Runs forward, backward-data and backward-weights of `case` in `T` and checks them.
fn check<T: OpElem>(case: Case, seed: u64, relu: bool, blocks: Option<(usize, usize)>) {
    let mut rng = Rng(seed);
    // Inputs rounded to T first, so the f64 oracle sees exactly what the operator sees.
    let rt = |v: Vec<f64>| back(&cast::<T>(&v));
    let (x, w, b) = (
        rt(rng.vec(case.x_len())),
        rt(rng.vec(case.w_len())),
        rt(rng.vec(case.s.k)),
    );
    let dy = rt(rng.vec(case.y_len()));
    let opts = ConvOptions {
        stride: case.stride,
        padding: case.pad,
        dilation: case.dil,
        groups: case.groups,
        bias: true,
        activation: if relu {
            Activation::Relu { mask: false }
        } else {
            Activation::None
        },
        blocks,
        loop_spec: None,
        // f32: 1 to 4 chunks of the channel reduction (bf16 ignores it).
        channel_chunks: Some(1 + (seed % 4) as usize),
    };
    let conv = Conv2d::<T>::new(case.s, opts.clone()).unwrap();
    assert_eq!(conv.output_size(), case.out());
    let (il, ol, wl) = (
        conv.input_layout(),
        conv.output_layout(),
        conv.weight_layout(),
    );
    let mut xb = vec![T::from_f32(f32::NAN); il.len()];
    il.from_nchw(&cast::<T>(&x), &mut xb).unwrap();
    let mut wb = vec![T::from_f32(f32::NAN); wl.len()];
    wl.from_kcrs(&cast::<T>(&w), &mut wb).unwrap();
    let bias: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    let mut yb = vec![T::from_f32(f32::NAN); ol.len()];
    conv.forward(&xb, &wb, Some(&bias), &mut yb).unwrap();
    let mut y = vec![T::from_f32(f32::NAN); case.y_len()];
    ol.to_nchw(&yb, &mut y).unwrap();
    let red = (case.s.c / case.groups * case.s.r * case.s.s) as f64;
    let tol = if T::DTYPE.size() == 2 {
        1.0 / 128.0
    } else {
        1e-5
    };
    close(
        "forward",
        &back(&y),
        &case.forward(&x, &w, &b, relu),
        tol,
        red.sqrt(),
    );
    // A second run of the same plan on other data: the buffers it keeps between runs (the
    // zero-bordered input copy) must not carry anything over.
    let x2 = rt(rng.vec(case.x_len()));
    let mut xb2 = vec![T::from_f32(f32::NAN); il.len()];
    il.from_nchw(&cast::<T>(&x2), &mut xb2).unwrap();
    let mut yb2 = vec![T::from_f32(f32::NAN); ol.len()];
    conv.forward(&xb2, &wb, Some(&bias), &mut yb2).unwrap();
    ol.to_nchw(&yb2, &mut y).unwrap();
    close(
        "forward, second run",
        &back(&y),
        &case.forward(&x2, &w, &b, relu),
        tol,
        red.sqrt(),
    );

    // Backward passes (of the pre-activation output).
    let no_act = Conv2d::<T>::new(
        case.s,
        ConvOptions {
            activation: Activation::None,
            ..opts
        },
    )
    .unwrap();
    let (dx_want, dw_want, db_want) = case.grads(&x, &w, &dy);
    let mut dyb = vec![T::from_f32(f32::NAN); ol.len()];
    let mut dxb = vec![T::from_f32(f32::NAN); il.len()];
    // A first run on other data, so the checked run finds the gradient buffers the plan
    // keeps already used.
    ol.from_nchw(&cast::<T>(&rng.vec(case.y_len())), &mut dyb)
        .unwrap();
    no_act.backward_data(&dyb, &wb, &mut dxb).unwrap();
    ol.from_nchw(&cast::<T>(&dy), &mut dyb).unwrap();
    no_act.backward_data(&dyb, &wb, &mut dxb).unwrap();
    let mut dx = vec![T::from_f32(f32::NAN); case.x_len()];
    il.to_nchw(&dxb, &mut dx).unwrap();
    let (kg, taps) = (
        (case.s.k / case.groups) as f64,
        (case.s.r * case.s.s) as f64,
    );
    close(
        "backward_data",
        &back(&dx),
        &dx_want,
        tol,
        (kg * taps).sqrt(),
    );
    let gl = no_act.weight_grad_layout();
    let mut dwb = vec![f32::NAN; gl.len()];
    let mut db = vec![f32::NAN; case.s.k];
    no_act
        .backward_weights(&xb, &dyb, &mut dwb, Some(&mut db))
        .unwrap();
    let mut dw = vec![f32::NAN; case.w_len()];
    gl.to_kcrs(&dwb, &mut dw).unwrap();
    let (p, q) = case.out();
    let pixels = (case.s.n * p * q) as f64;
    close("backward_weights", &back(&dw), &dw_want, tol, pixels.sqrt());
    close("bias_grad", &back(&db), &db_want, tol, pixels.sqrt());

    // Finite differences of L = Σ y·dy through the forward pass (no activation), at a few
    // input and weight elements: the convolution is linear in each, so the central
    // difference is the derivative up to rounding.
    if T::DTYPE.size() == 4 {
        let loss = |xs: &[f64], ws: &[f64]| -> f64 {
            let mut xb = vec![0f32; il.len()];
            il.from_nchw(&cast::<f32>(xs), &mut xb).unwrap();
            let mut wb = vec![0f32; wl.len()];
            wl.from_kcrs(&cast::<f32>(ws), &mut wb).unwrap();
            let mut yb = vec![0f32; ol.len()];
            let plain = Conv2d::<f32>::new(
                case.s,
                ConvOptions {
                    bias: false,
                    activation: Activation::None,
                    ..no_act.options().clone()
                },
            )
            .unwrap();
            plain.forward(&xb, &wb, None, &mut yb).unwrap();
            let mut y = vec![0f32; case.y_len()];
            ol.to_nchw(&yb, &mut y).unwrap();
            y.iter().zip(&dy).map(|(&a, &b)| a as f64 * b).sum()
        };
        let h = 0.25;
        for t in 0..3 {
            let i = (rng.f().abs() * case.x_len() as f64) as usize % case.x_len();
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (loss(&xp, &w) - loss(&xm, &w)) / (2.0 * h);
            let got = back(&dx)[i];
            assert!(
                (fd - got).abs() <= 1e-3 * (1.0 + got.abs()),
                "dx fd #{t} at {i}: {fd} vs {got}"
            );
            let j = (rng.f().abs() * case.w_len() as f64) as usize % case.w_len();
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[j] += h;
            wm[j] -= h;
            let fd = (loss(&x, &wp) - loss(&x, &wm)) / (2.0 * h);
            let got = back(&dw)[j];
            assert!(
                (fd - got).abs() <= 1e-3 * (1.0 + got.abs()),
                "dw fd #{t} at {j}: {fd} vs {got}"
            );
        }
    }
}

fn case_strategy() -> impl Strategy<Value = (Case, u64, bool)> {
    (
        (
            1usize..3,
            1usize..4,
            1usize..7,
            1usize..7,
            1usize..9,
            1usize..9,
        ),
        (
            1usize..4,
            1usize..4,
            1usize..3,
            0usize..3,
            1usize..3,
            any::<bool>(),
        ),
        (any::<u64>(), any::<bool>()),
    )
        .prop_map(
            |((n, groups, cg, kg, h, w), (r, s, stride, pad, dil, depthwise), (seed, relu))| {
                let (cg, kg) = if depthwise { (1, 1) } else { (cg, kg) };
                let groups = if depthwise { groups + 2 } else { groups };
                let s = ConvShape {
                    n,
                    c: cg * groups,
                    h,
                    w,
                    k: kg * groups,
                    r,
                    s,
                };
                (
                    Case {
                        s,
                        stride: (stride, stride),
                        pad: (pad, pad),
                        dil: (dil, dil),
                        groups,
                    },
                    seed,
                    relu,
                )
            },
        )
        .prop_filter("the dilated filter fits the padded input", |(c, _, _)| {
            c.s.h + 2 * c.pad.0 > c.dil.0 * (c.s.r - 1)
                && c.s.w + 2 * c.pad.1 > c.dil.1 * (c.s.s - 1)
        })
}

proptest! {
    #![proptest_config(common::scale::config(24))]
    #[test]
    fn conv_f32_matches_direct_loops((case, seed, relu) in case_strategy()) {
        check::<f32>(case, seed, relu, None);
    }

    #[test]
    fn conv_bf16_matches_direct_loops((case, seed, relu) in case_strategy()) {
        check::<bf16>(case, seed, relu, None);
    }
}

/// Shapes where the channel blocks are ragged, several per group, and the pixel rows split
/// into GEMM tiles (more than 56 output columns), plus 1×1 layers (the flattened GEMM path,
/// with and without a stride), a conv1-like layer and a 7×7 layer whose rows split into
/// column groups.
#[test]
fn conv_block_edges_and_1x1() {
    let base = |n, c, h, w, k, r, s| ConvShape {
        n,
        c,
        h,
        w,
        k,
        r,
        s,
    };
    let cases = [
        (
            Case {
                s: base(1, 70, 3, 60, 20, 3, 3),
                stride: (1, 1),
                pad: (1, 1),
                dil: (1, 1),
                groups: 1,
            },
            Some((32, 16)),
        ),
        (
            Case {
                s: base(2, 12, 5, 7, 10, 1, 1),
                stride: (1, 1),
                pad: (0, 0),
                dil: (1, 1),
                groups: 2,
            },
            Some((4, 2)),
        ),
        (
            Case {
                s: base(1, 8, 9, 9, 6, 3, 3),
                stride: (2, 2),
                pad: (1, 1),
                dil: (1, 1),
                groups: 1,
            },
            None,
        ),
        (
            Case {
                s: base(1, 66, 8, 10, 130, 1, 1),
                stride: (1, 1),
                pad: (0, 0),
                dil: (1, 1),
                groups: 1,
            },
            None,
        ),
        // A strided 1×1 layer (its forward reads a subsampled copy) with unequal strides,
        // groups, and more than one 64-pixel tile.
        (
            Case {
                s: base(2, 12, 19, 25, 10, 1, 1),
                stride: (2, 3),
                pad: (0, 0),
                dil: (1, 1),
                groups: 2,
            },
            None,
        ),
        // conv1-like: one input-channel block, a large filter, unequal padding and dilation.
        (
            Case {
                s: base(1, 3, 21, 23, 20, 7, 5),
                stride: (2, 2),
                pad: (3, 2),
                dil: (2, 1),
                groups: 1,
            },
            None,
        ),
        // Enough output rows (20 × 60 pixels of 64 + 64 channels: 30 KiB each) that the
        // weight gradient reduces them in more than one chunk (a quarter of L2 each).
        (
            Case {
                s: base(1, 64, 20, 60, 64, 3, 3),
                stride: (1, 1),
                pad: (1, 1),
                dil: (1, 1),
                groups: 1,
            },
            None,
        ),
        // A res5-like 3×3 layer on 7×7 pixels: its rows split into column groups (the
        // border columns leave out the filter column in the padding), over five input blocks
        // in chunks (seed 14: 3 chunks).
        (
            Case {
                s: base(2, 40, 7, 7, 24, 3, 3),
                stride: (1, 1),
                pad: (1, 1),
                dil: (1, 1),
                groups: 1,
            },
            Some((8, 8)),
        ),
        // Padding beyond the filter's reach: output rows 0, 1, 4 and 5 read only the zero
        // border (their forward has no batch members at all: bias and activation only).
        (
            Case {
                s: base(1, 8, 2, 6, 6, 1, 3),
                stride: (1, 1),
                pad: (2, 1),
                dil: (1, 1),
                groups: 1,
            },
            None,
        ),
    ];
    for (i, (case, blocks)) in cases.into_iter().enumerate() {
        check::<f32>(case, i as u64 + 7, i % 2 == 0, blocks);
        check::<bf16>(case, i as u64 + 9, false, blocks);
    }
}

#[test]
fn conv_rejects_bad_problems() {
    let s = ConvShape {
        n: 1,
        c: 6,
        h: 4,
        w: 4,
        k: 4,
        r: 3,
        s: 3,
    };
    let bad = [
        ConvOptions {
            groups: 4,
            ..ConvOptions::default()
        },
        ConvOptions {
            stride: (0, 1),
            ..ConvOptions::default()
        },
        ConvOptions {
            dilation: (3, 1),
            ..ConvOptions::default()
        },
        ConvOptions {
            loop_spec: Some("abcz".into()),
            ..ConvOptions::default()
        },
        ConvOptions {
            loop_spec: Some("abcdE".into()),
            ..ConvOptions::default()
        },
    ];
    for o in bad {
        let e = Conv2d::<f32>::new(s, o.clone()).unwrap_err();
        assert!(
            matches!(e, tpp::Error::InvalidDescriptor { .. }),
            "{o:?}: {e}"
        );
    }
    // Sizes no memory can hold are errors, never wrapped arithmetic.
    let huge = ConvShape {
        n: 1 << 40,
        c: 1 << 20,
        ..s
    };
    assert!(Conv2d::<f32>::new(huge, ConvOptions::default()).is_err());
    let wide = ConvOptions {
        padding: (usize::MAX / 2, 0),
        ..ConvOptions::default()
    };
    assert!(Conv2d::<f32>::new(s, wide).is_err());
    let dilated = ConvOptions {
        dilation: (usize::MAX, 1),
        ..ConvOptions::default()
    };
    assert!(Conv2d::<f32>::new(s, dilated).is_err());
    assert!(tpp::ops::Linear::<f32>::new(1 << 40, 1 << 30, 4, Default::default()).is_err());
    assert!(
        tpp::ops::Attention::<f32>::new(tpp::ops::AttentionOptions::new(
            1 << 30,
            1 << 20,
            usize::MAX,
            64
        ))
        .is_err()
    );
    assert!(Conv2d::<bf16>::new(
        s,
        ConvOptions {
            blocks: Some((3, 4)),
            ..ConvOptions::default()
        }
    )
    .is_err());
    let conv = Conv2d::<f32>::new(s, ConvOptions::default()).unwrap();
    let mut y = vec![0f32; conv.output_layout().len()];
    let x = vec![0f32; conv.input_layout().len() - 1];
    let w = vec![0f32; conv.weight_layout().len()];
    assert!(matches!(
        conv.forward(&x, &w, None, &mut y),
        Err(tpp::Error::InvalidOperand { .. })
    ));
}
