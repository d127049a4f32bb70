//! `tpp::ops::Linear` and `Mlp` against plain f64 loops written here: forward with bias and
//! activation, backward data / weights / bias, finite differences of the forward pass, and
//! one MLP SGD step against the same step done in f64.

mod common;

use proptest::prelude::*;
use tpp::ops::{Linear, LinearOptions, Mlp, OpElem};
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
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// The activation and its derivative, in f64.
fn act(a: Activation, x: f64) -> (f64, f64) {
    match a {
        Activation::None => (x, 1.0),
        Activation::Relu { .. } => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
        Activation::Sigmoid => {
            let s = 1.0 / (1.0 + (-x).exp());
            (s, s * (1.0 - s))
        }
        Activation::Tanh => (x.tanh(), 1.0 - x.tanh().powi(2)),
        _ => unreachable!("not drawn"),
    }
}

/// `z = x·Wᵀ + b` in f64 (`x [n][c]`, `w [k][c]`).
fn affine(x: &[f64], w: &[f64], b: &[f64], n: usize, c: usize, k: usize) -> Vec<f64> {
    let mut z = vec![0.0; n * k];
    for i in 0..n {
        for o in 0..k {
            z[i * k + o] = b[o] + (0..c).map(|j| x[i * c + j] * w[o * c + j]).sum::<f64>();
        }
    }
    z
}

fn check<T: OpElem>(
    n: usize,
    c: usize,
    k: usize,
    a: Activation,
    blocks: Option<(usize, usize)>,
    seed: u64,
) {
    let mut rng = Rng(seed);
    let rt = |v: Vec<f64>| back(&cast::<T>(&v));
    let (x, w, b, dy) = (
        rt(rng.vec(n * c)),
        rt(rng.vec(k * c)),
        rt(rng.vec(k)),
        rt(rng.vec(n * k)),
    );
    let opts = LinearOptions {
        bias: true,
        activation: a,
        blocks,
        rows_per_block: Some(5),
        loop_spec: None,
    };
    let lin = Linear::<T>::new(n, c, k, opts).unwrap();
    let wl = lin.weight_layout();
    let mut wb = vec![T::from_f32(f32::NAN); wl.len()];
    wl.from_kcrs(&cast::<T>(&w), &mut wb).unwrap();
    let bias: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    let xt = cast::<T>(&x);
    let mut y = vec![T::from_f32(f32::NAN); n * k];
    lin.forward(&xt, &wb, Some(&bias), &mut y).unwrap();
    let z = affine(&x, &w, &b, n, c, k);
    let want: Vec<f64> = z.iter().map(|&v| act(a, v).0).collect();
    let tol = if T::DTYPE.size() == 2 {
        1.0 / 100.0
    } else {
        2e-5
    };
    close("forward", &back(&y), &want, tol, (c as f64).sqrt());

    // Training form and the backward passes.
    let (mut zt, mut yt) = (
        vec![T::from_f32(f32::NAN); n * k],
        vec![T::from_f32(f32::NAN); n * k],
    );
    lin.forward_train(&xt, &wb, Some(&bias), &mut zt, &mut yt)
        .unwrap();
    close("forward_train y", &back(&yt), &want, tol, (c as f64).sqrt());
    let mut dz = vec![T::from_f32(f32::NAN); n * k];
    lin.activation_backward(&cast::<T>(&dy), &zt, &mut dz)
        .unwrap();
    let zs = back(&zt);
    let dz_want: Vec<f64> = dy
        .iter()
        .zip(&zs)
        .map(|(&g, &zz)| g * act(a, zz).1)
        .collect();
    close("activation_backward", &back(&dz), &dz_want, tol, 1.0);
    let dz64 = back(&dz);
    let mut dx = vec![T::from_f32(f32::NAN); n * c];
    lin.backward_data(&dz, &wb, &mut dx).unwrap();
    let mut dx_want = vec![0.0; n * c];
    let mut dw_want = vec![0.0; k * c];
    let mut db_want = vec![0.0; k];
    for i in 0..n {
        for o in 0..k {
            let g = dz64[i * k + o];
            db_want[o] += g;
            for j in 0..c {
                dx_want[i * c + j] += g * w[o * c + j];
                dw_want[o * c + j] += g * x[i * c + j];
            }
        }
    }
    close(
        "backward_data",
        &back(&dx),
        &dx_want,
        tol,
        (k as f64).sqrt(),
    );
    let gl = lin.weight_grad_layout();
    let (mut dwb, mut db) = (vec![f32::NAN; gl.len()], vec![f32::NAN; k]);
    lin.backward_weights(&xt, &dz, &mut dwb, Some(&mut db))
        .unwrap();
    let mut dw = vec![f32::NAN; k * c];
    gl.to_kcrs(&dwb, &mut dw).unwrap();
    close(
        "backward_weights",
        &back(&dw),
        &dw_want,
        tol,
        (n as f64).sqrt(),
    );
    close("bias_grad", &back(&db), &db_want, tol, (n as f64).sqrt());

    // Finite differences of L = Σ z·dz through the f32 forward pass (linear in x and w).
    if T::DTYPE.size() == 4 {
        let plain = Linear::<f32>::new(
            n,
            c,
            k,
            LinearOptions {
                activation: Activation::None,
                ..lin.options().clone()
            },
        )
        .unwrap();
        let loss = |xs: &[f64], ws: &[f64]| -> f64 {
            let mut wb = vec![0f32; wl.len()];
            wl.from_kcrs(&cast::<f32>(ws), &mut wb).unwrap();
            let mut z = vec![0f32; n * k];
            plain
                .forward(&cast::<f32>(xs), &wb, Some(&bias), &mut z)
                .unwrap();
            z.iter().zip(&dz64).map(|(&a, &b)| a as f64 * b).sum()
        };
        let h = 0.25;
        for _ in 0..3 {
            let i = (rng.f().abs() * (n * c) as f64) as usize % (n * c);
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (loss(&xp, &w) - loss(&xm, &w)) / (2.0 * h);
            assert!(
                (fd - back(&dx)[i]).abs() <= 1e-3 * (1.0 + fd.abs()),
                "dx fd at {i}"
            );
            let j = (rng.f().abs() * (k * c) as f64) as usize % (k * c);
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[j] += h;
            wm[j] -= h;
            let fd = (loss(&x, &wp) - loss(&x, &wm)) / (2.0 * h);
            assert!(
                (fd - dw[j] as f64).abs() <= 1e-3 * (1.0 + fd.abs()),
                "dw fd at {j}"
            );
        }
    }
}

fn acts() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::None),
        Just(Activation::Relu { mask: false }),
        Just(Activation::Sigmoid),
        Just(Activation::Tanh)
    ]
}

proptest! {
    #![proptest_config(common::scale::config(24))]
    #[test]
    fn linear_f32_matches_loops(n in 1usize..20, c in 1usize..40, k in 1usize..40, a in acts(), bc in 1usize..9, bk in 1usize..9, seed in any::<u64>()) {
        check::<f32>(n, c, k, a, Some((bc, bk)), seed);
    }

    #[test]
    fn linear_bf16_matches_loops(n in 1usize..20, c in 1usize..20, k in 1usize..20, a in acts(), bc in 1usize..5, bk in 1usize..5, seed in any::<u64>()) {
        check::<bf16>(n, 2 * c, 2 * k, a, Some((2 * bc, 2 * bk)), seed);
    }
}

#[test]
fn linear_default_blocks_and_errors() {
    check::<f32>(70, 130, 96, Activation::Relu { mask: false }, None, 3);
    check::<bf16>(33, 130, 66, Activation::Tanh, None, 4);
    assert!(Linear::<bf16>::new(4, 3, 4, LinearOptions::default()).is_err());
    assert!(Linear::<f32>::new(0, 3, 4, LinearOptions::default()).is_err());
    let lin = Linear::<f32>::new(2, 3, 4, LinearOptions::default()).unwrap();
    let w = vec![0f32; lin.weight_layout().len()];
    let mut y = vec![0f32; 8];
    assert!(
        lin.forward(&[0.0; 6], &w, Some(&[0.0; 4]), &mut y).is_err(),
        "a bias the plan has no use for"
    );
    assert!(lin.forward(&[0.0; 5], &w, None, &mut y).is_err());
}

/// One SGD step of a 3-layer relu MLP against the same step in f64.
#[test]
fn mlp_step_matches_f64() {
    let (n, sizes) = (6, [5usize, 7, 4, 3]);
    let mut rng = Rng(11);
    let mut mlp = Mlp::<f32>::new(n, &sizes, Activation::Relu { mask: false }).unwrap();
    let mut ws = vec![];
    for l in 0..3 {
        let w: Vec<f64> = rng
            .vec(sizes[l] * sizes[l + 1])
            .iter()
            .map(|&v| (v as f32) as f64)
            .collect();
        let b: Vec<f64> = rng
            .vec(sizes[l + 1])
            .iter()
            .map(|&v| (v as f32) as f64)
            .collect();
        mlp.set_layer(l, &cast::<f32>(&w), &cast::<f32>(&b))
            .unwrap();
        ws.push((w, b));
    }
    let x: Vec<f64> = rng
        .vec(n * sizes[0])
        .iter()
        .map(|&v| (v as f32) as f64)
        .collect();
    let t: Vec<f64> = rng.vec(n * 3).iter().map(|&v| (v as f32) as f64).collect();
    let lr = 0.1;
    let loss = mlp
        .train_step(&cast::<f32>(&x), &cast::<f32>(&t), lr as f32)
        .unwrap() as f64;
    // The same step in f64.
    let mut acts_in = vec![x.clone()];
    let mut zs = vec![];
    for (l, (w, b)) in ws.iter().enumerate() {
        let z = affine(&acts_in[l], w, b, n, sizes[l], sizes[l + 1]);
        let y = if l < 2 {
            z.iter().map(|v| v.max(0.0)).collect()
        } else {
            z.clone()
        };
        zs.push(z);
        acts_in.push(y);
    }
    let out = &acts_in[3];
    let want_loss = out
        .iter()
        .zip(&t)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / (n * 3) as f64;
    assert!(
        (loss - want_loss).abs() < 1e-5 * (1.0 + want_loss),
        "loss {loss} vs {want_loss}"
    );
    let mut dy: Vec<f64> = out
        .iter()
        .zip(&t)
        .map(|(a, b)| 2.0 * (a - b) / (n * 3) as f64)
        .collect();
    for l in (0..3).rev() {
        let (c, k) = (sizes[l], sizes[l + 1]);
        let dz: Vec<f64> = if l < 2 {
            dy.iter()
                .zip(&zs[l])
                .map(|(&g, &z)| if z > 0.0 { g } else { 0.0 })
                .collect()
        } else {
            dy.clone()
        };
        let (w, b) = &ws[l];
        let mut dx = vec![0.0; n * c];
        let mut new_w = w.clone();
        let mut new_b = b.clone();
        for i in 0..n {
            for o in 0..k {
                new_b[o] -= lr * dz[i * k + o];
                for j in 0..c {
                    new_w[o * c + j] -= lr * dz[i * k + o] * acts_in[l][i * c + j];
                    dx[i * c + j] += dz[i * k + o] * w[o * c + j];
                }
            }
        }
        let (gw, gb) = mlp.layer(l);
        close("weights after the step", &back(gw), &new_w, 1e-5, 1.0);
        close("bias after the step", &back(gb), &new_b, 1e-5, 1.0);
        dy = dx;
    }
    // And training reduces the loss.
    let mut last = loss;
    for _ in 0..20 {
        last = mlp
            .train_step(&cast::<f32>(&x), &cast::<f32>(&t), lr as f32)
            .unwrap() as f64;
    }
    assert!(last < loss, "20 more steps: {last} after {loss}");
}
