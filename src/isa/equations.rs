//! Ready-made equations: the fused chains users ask for, each one line to dispatch
//! (`tpp::equations::layer_norm(4096, 1024, DType::BF16, 1e-5).dispatch()?`).
//!
//! Every function documents its inputs and outputs in call order. Statistics (means, rstd,
//! gradients of the affine parameters) are f32 whatever the data dtype; `dtype` is the dtype
//! of the activations and their gradients. Row vectors (`gamma`, `beta`, bias) have one value
//! per column and are f32.

use crate::isa::{
    BinaryOp, Broadcast, DType, Equation, Expr, ReduceAxis, ReduceOp, TernaryOp, UnaryOp,
};

const F32: DType = DType::F32;

fn row_mean(eq: &mut Equation, op: ReduceOp, x: Expr) -> Expr {
    let s = eq.reduce(op, ReduceAxis::PerRow, x);
    let inv = eq.constant((1.0 / eq.cols() as f64) as f32);
    eq.mul(s, inv)
}

/// Layer normalisation over each row:
/// `mean = Σⱼ x / cols`, `rstd = 1/√(Σⱼ (x − mean)² / cols + eps)`,
/// `y = (x − mean)·rstd·gamma + beta`.
///
/// Inputs: `x` (`rows × cols`, `dtype`), `gamma`, `beta` (`cols`, f32).
/// Outputs: `y` (`rows × cols`, `dtype`), `mean`, `rstd` (`rows`, f32).
pub fn layer_norm(rows: usize, cols: usize, dtype: DType, eps: f32) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let gamma = eq.input(F32, Broadcast::Row);
    let beta = eq.input(F32, Broadcast::Row);
    let (y, mean, rstd) = normalize_rows(&mut eq, x, gamma, beta, eps);
    eq.output(y, dtype).output(mean, F32).output(rstd, F32);
    eq
}

/// The layer norm of `x`'s rows: `(y, mean, rstd)` as [`layer_norm`] defines them.
fn normalize_rows(
    eq: &mut Equation,
    x: Expr,
    gamma: Expr,
    beta: Expr,
    eps: f32,
) -> (Expr, Expr, Expr) {
    let mean = row_mean(eq, ReduceOp::Sum, x);
    let d = eq.sub(x, mean);
    let var = row_mean(eq, ReduceOp::SumSq, d);
    let e = eq.constant(eps);
    let ve = eq.add(var, e);
    let rstd = eq.unary(UnaryOp::Rsqrt, ve);
    let xhat = eq.mul(d, rstd);
    (eq.ternary(TernaryOp::MulAdd, xhat, gamma, beta), mean, rstd)
}

/// Backward of [`layer_norm`]: with `x̂ = (x − mean)·rstd` and `g = dy·gamma`,
/// `dx = rstd·(g − Σⱼ g / cols − x̂·Σⱼ g·x̂ / cols)`, `dgamma = Σᵢ dy·x̂`, `dbeta = Σᵢ dy`.
///
/// Inputs: `dy`, `x` (`rows × cols`, `dtype`), `mean`, `rstd` (`rows`, f32), `gamma`
/// (`cols`, f32). Outputs: `dx` (`rows × cols`, `dtype`), `dgamma`, `dbeta` (`cols`, f32).
pub fn layer_norm_backward(rows: usize, cols: usize, dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let dy = eq.input(dtype, Broadcast::None);
    let x = eq.input(dtype, Broadcast::None);
    let mean = eq.input(F32, Broadcast::Col);
    let rstd = eq.input(F32, Broadcast::Col);
    let gamma = eq.input(F32, Broadcast::Row);
    let d = eq.sub(x, mean);
    let xhat = eq.mul(d, rstd);
    let g = eq.mul(dy, gamma);
    let a = row_mean(&mut eq, ReduceOp::Sum, g);
    let gx = eq.mul(g, xhat);
    let b = row_mean(&mut eq, ReduceOp::Sum, gx);
    let ga = eq.sub(g, a);
    let t = eq.ternary(TernaryOp::NMulAdd, xhat, b, ga);
    let dx = eq.mul(t, rstd);
    let dyx = eq.mul(dy, xhat);
    let dgamma = eq.reduce(ReduceOp::Sum, ReduceAxis::PerCol, dyx);
    let dbeta = eq.reduce(ReduceOp::Sum, ReduceAxis::PerCol, dy);
    eq.output(dx, dtype).output(dgamma, F32).output(dbeta, F32);
    eq
}

/// RMS normalisation over each row: `rstd = 1/√(Σⱼ x² / cols + eps)`, `y = x·rstd·gamma`.
///
/// Inputs: `x` (`rows × cols`, `dtype`), `gamma` (`cols`, f32).
/// Outputs: `y` (`rows × cols`, `dtype`), `rstd` (`rows`, f32).
pub fn rms_norm(rows: usize, cols: usize, dtype: DType, eps: f32) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let gamma = eq.input(F32, Broadcast::Row);
    let ms = row_mean(&mut eq, ReduceOp::SumSq, x);
    let e = eq.constant(eps);
    let ve = eq.add(ms, e);
    let rstd = eq.unary(UnaryOp::Rsqrt, ve);
    let xr = eq.mul(x, rstd);
    let y = eq.mul(xr, gamma);
    eq.output(y, dtype).output(rstd, F32);
    eq
}

/// Backward of [`rms_norm`]: with `x̂ = x·rstd` and `g = dy·gamma`,
/// `dx = rstd·(g − x̂·Σⱼ g·x̂ / cols)`, `dgamma = Σᵢ dy·x̂`.
///
/// Inputs: `dy`, `x` (`rows × cols`, `dtype`), `rstd` (`rows`, f32), `gamma` (`cols`, f32).
/// Outputs: `dx` (`rows × cols`, `dtype`), `dgamma` (`cols`, f32).
pub fn rms_norm_backward(rows: usize, cols: usize, dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let dy = eq.input(dtype, Broadcast::None);
    let x = eq.input(dtype, Broadcast::None);
    let rstd = eq.input(F32, Broadcast::Col);
    let gamma = eq.input(F32, Broadcast::Row);
    let xhat = eq.mul(x, rstd);
    let g = eq.mul(dy, gamma);
    let gx = eq.mul(g, xhat);
    let b = row_mean(&mut eq, ReduceOp::Sum, gx);
    let t = eq.ternary(TernaryOp::NMulAdd, xhat, b, g);
    let dx = eq.mul(t, rstd);
    let dyx = eq.mul(dy, xhat);
    let dgamma = eq.reduce(ReduceOp::Sum, ReduceAxis::PerCol, dyx);
    eq.output(dx, dtype).output(dgamma, F32);
    eq
}

/// Numerically stable softmax over each row: `y = exp(x − maxⱼ x) / Σⱼ exp(x − maxⱼ x)`.
///
/// Inputs: `x`. Outputs: `y` (both `rows × cols`, `dtype`).
pub fn softmax(rows: usize, cols: usize, dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let m = eq.reduce(ReduceOp::Max, ReduceAxis::PerRow, x);
    let d = eq.sub(x, m);
    let e = eq.unary(UnaryOp::Exp, d);
    let s = eq.reduce(ReduceOp::Sum, ReduceAxis::PerRow, e);
    let r = eq.unary(UnaryOp::Reciprocal, s);
    let y = eq.mul(e, r);
    eq.output(y, dtype);
    eq
}

/// The online softmax update (flash attention's) of one block of scores `S` (`rows × cols`,
/// f32, already masked, rows `ld` apart), as one equation: `m' = max(m, rowmax S)`, `P = exp(S − m')` (in `dtype`,
/// rows `ld` apart), `c = exp(m − m')`, `l' = c·l + rowsum exp(S − m')` (the f32 values,
/// before P is rounded).
///
/// Inputs: `S`, `m`, `l` (`rows`, f32). Outputs: `P`, `m'`, `l'`, `c` (`rows`, f32).
pub fn online_softmax(rows: usize, cols: usize, ld: usize, dtype: DType) -> Equation {
    let f = F32;
    let mut eq = Equation::new(rows, cols);
    let s = eq.input_ld(f, Broadcast::None, ld);
    let m = eq.input(f, Broadcast::Col);
    let l = eq.input(f, Broadcast::Col);
    let row_max = eq.reduce(ReduceOp::Max, ReduceAxis::PerRow, s);
    let mx = eq.max(row_max, m);
    let d = eq.sub(s, mx);
    let p = eq.unary(UnaryOp::Exp, d);
    let dm = eq.sub(m, mx);
    let corr = eq.unary(UnaryOp::Exp, dm);
    let sum = eq.reduce(ReduceOp::Sum, ReduceAxis::PerRow, p);
    let l2 = eq.ternary(TernaryOp::MulAdd, corr, l, sum);
    eq.output_ld(p, dtype, ld)
        .output(mx, f)
        .output(l2, f)
        .output(corr, f);
    eq
}

/// Backward of [`softmax`]: `dx = y·(dy − Σⱼ dy·y)`.
///
/// Inputs: `dy`, `y`. Outputs: `dx` (all `rows × cols`, `dtype`).
pub fn softmax_backward(rows: usize, cols: usize, dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let dy = eq.input(dtype, Broadcast::None);
    let y = eq.input(dtype, Broadcast::None);
    let p = eq.mul(dy, y);
    let s = eq.reduce(ReduceOp::Sum, ReduceAxis::PerRow, p);
    let t = eq.sub(dy, s);
    let dx = eq.mul(y, t);
    eq.output(dx, dtype);
    eq
}

/// Bias and activation: `y = act(x + bias)` for a forward elementwise `act` (`Gelu`, `Relu`,
/// `Silu`, ...; `Identity` for the bias alone).
///
/// Inputs: `x` (`rows × cols`, `dtype`), `bias` (`cols`, f32). Outputs: `y` (`dtype`).
pub fn bias_activation(rows: usize, cols: usize, dtype: DType, act: UnaryOp) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let bias = eq.input(F32, Broadcast::Row);
    let s = eq.add(x, bias);
    let y = eq.unary(act, s);
    eq.output(y, dtype);
    eq
}

/// Dropout and residual add: `y = dropout_p(x) + residual`, with the keep mask (the draw of
/// the unary `Dropout` op, from the call's seed and the element position).
///
/// Inputs: `x`, `residual` (`rows × cols`, `dtype`).
/// Outputs: `y` (`rows × cols`, `dtype`), the mask (bitmask, `cols` rounded up to 8 bits a row).
pub fn dropout_residual(rows: usize, cols: usize, dtype: DType, p: f32) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let res = eq.input(dtype, Broadcast::None);
    let d = eq.unary(UnaryOp::Dropout { p }, x);
    let y = eq.add(d, res);
    let k = eq.mask_of(d);
    eq.output(y, dtype)
        .mask_output(k, crate::isa::bitmask::default_ld(cols));
    eq
}

/// The SiLU gate of gated MLPs: `y = silu(a)·b`.
///
/// Inputs: `a`, `b`. Outputs: `y` (all `rows × cols`, `dtype`).
pub fn silu_gate(rows: usize, cols: usize, dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let a = eq.input(dtype, Broadcast::None);
    let b = eq.input(dtype, Broadcast::None);
    let s = eq.unary(UnaryOp::Silu, a);
    let y = eq.mul(s, b);
    eq.output(y, dtype);
    eq
}

/// One AdamW step (decoupled weight decay), with the hyper-parameters as run-time scalars so
/// that one kernel serves every step:
/// `m' = β₁m + (1−β₁)g`, `v' = β₂v + (1−β₂)g²`,
/// `θ' = θ − lr·(m'·c₁ / (√(v'·c₂) + eps) + wd·θ)`, where `c₁ = 1/(1−β₁ᵗ)`, `c₂ = 1/(1−β₂ᵗ)`.
///
/// Inputs: `θ` (f32), `g` (`grad_dtype`), `m`, `v` (f32), all `rows × cols`; then the f32
/// scalars `lr`, `β₁`, `β₂`, `eps`, `wd`, `c₁`, `c₂`. Outputs: `θ'`, `m'`, `v'` (f32). Each
/// output may overwrite its input in a raw call (`θ'` over `θ`, ...).
pub fn adamw(rows: usize, cols: usize, grad_dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let theta = eq.input(F32, Broadcast::None);
    let g = eq.input(grad_dtype, Broadcast::None);
    let m = eq.input(F32, Broadcast::None);
    let v = eq.input(F32, Broadcast::None);
    let [lr, b1, b2, eps, wd, c1, c2] = [(); 7].map(|_| eq.input(F32, Broadcast::Scalar));
    let one = eq.constant(1.0);
    let ob1 = eq.sub(one, b1);
    let ob2 = eq.sub(one, b2);
    let gm = eq.mul(ob1, g);
    let m2 = eq.ternary(TernaryOp::MulAdd, b1, m, gm);
    let gg = eq.mul(g, g);
    let gv = eq.mul(ob2, gg);
    let v2 = eq.ternary(TernaryOp::MulAdd, b2, v, gv);
    let vh = eq.mul(v2, c2);
    let sq = eq.unary(UnaryOp::Sqrt, vh);
    let den = eq.add(sq, eps);
    let mh = eq.mul(m2, c1);
    let step = eq.div(mh, den);
    let upd = eq.ternary(TernaryOp::MulAdd, wd, theta, step);
    let t2 = eq.ternary(TernaryOp::NMulAdd, lr, upd, theta);
    eq.output(t2, F32).output(m2, F32).output(v2, F32);
    eq
}

/// One SGD step with momentum and weight decay (PyTorch's, no dampening):
/// `b' = μ·b + g + wd·θ`, `θ' = θ − lr·b'`.
///
/// Inputs: `θ` (f32), `g` (`grad_dtype`), `b` (f32), all `rows × cols`; then the f32 scalars
/// `lr`, `μ`, `wd`. Outputs: `θ'`, `b'` (f32); each may overwrite its input in a raw call.
pub fn sgd_momentum(rows: usize, cols: usize, grad_dtype: DType) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let theta = eq.input(F32, Broadcast::None);
    let g = eq.input(grad_dtype, Broadcast::None);
    let b = eq.input(F32, Broadcast::None);
    let [lr, mu, wd] = [(); 3].map(|_| eq.input(F32, Broadcast::Scalar));
    let gw = eq.ternary(TernaryOp::MulAdd, wd, theta, g);
    let b2 = eq.ternary(TernaryOp::MulAdd, mu, b, gw);
    let t2 = eq.ternary(TernaryOp::NMulAdd, lr, b2, theta);
    eq.output(t2, F32).output(b2, F32);
    eq
}

/// `y = x + bias` broadcast along rows or columns and then `op` with a second matrix: the
/// generic binary tail used by residual blocks (`op = Add`) and gating (`op = Mul`).
///
/// Inputs: `x`, `z` (`rows × cols`, `dtype`), `bias` (`cols`, f32). Outputs: `y` (`dtype`).
pub fn bias_binary(rows: usize, cols: usize, dtype: DType, op: BinaryOp) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let z = eq.input(dtype, Broadcast::None);
    let bias = eq.input(F32, Broadcast::Row);
    let s = eq.add(x, bias);
    let y = eq.binary(op, s, z);
    eq.output(y, dtype);
    eq
}

/// The tail of a transformer sub-layer, in one equation: `s = dropout_p(x) + residual`, then
/// the [`layer_norm`] of `s` (`y = (s − mean)·rstd·gamma + beta`), with `s` kept in f32 (never
/// rounded to `dtype` between the add and the normalisation). With `p = 0` there is no dropout
/// node and no mask output.
///
/// Inputs: `x`, `residual` (`rows × cols`, `dtype`), `gamma`, `beta` (`cols`, f32).
/// Outputs: `y` (`rows × cols`, `dtype`), then for `p > 0` the keep mask (bitmask, `cols`
/// rounded up to 8 bits a row).
pub fn dropout_residual_layer_norm(
    rows: usize,
    cols: usize,
    dtype: DType,
    p: f32,
    eps: f32,
) -> Equation {
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(dtype, Broadcast::None);
    let res = eq.input(dtype, Broadcast::None);
    let gamma = eq.input(F32, Broadcast::Row);
    let beta = eq.input(F32, Broadcast::Row);
    let dropped = (p > 0.0).then(|| eq.unary(UnaryOp::Dropout { p }, x));
    let s = eq.add(dropped.unwrap_or(x), res);
    let (y, _, _) = normalize_rows(&mut eq, s, gamma, beta, eps);
    eq.output(y, dtype);
    if let Some(dropped) = dropped {
        let k = eq.mask_of(dropped);
        eq.mask_output(k, crate::isa::bitmask::default_ld(cols));
    }
    eq
}
