//! The reference evaluation of an equation: node by node over whole operands, in f64, with
//! the same per-op formulas as the single-op reference kernels. It shares nothing with the
//! lowering, so it is the equations' oracle.
//!
//! Alongside each value it carries a bound on how far a correct f32 evaluation may be from it
//! (a running error analysis: each op adds its own rounding or approximation error and
//! propagates its operands' by evaluating itself at their perturbed values). The differential
//! tests compare against that bound, which stays meaningful through cancellations and deep
//! DAGs where a fixed tolerance would be either too tight or useless. A comparison whose
//! operands are within their bounds of each other yields an *uncertain* mask bit.

use super::elem::{self, round_to};
use super::math;
use crate::isa::{
    bitmask, dropout, BinaryOp, Broadcast, CmpOp, EqOp, EqOutputKind, Equation, ReduceAxis,
    ReduceOp, TernaryOp, UnaryOp, ValueKind,
};
use std::ffi::c_void;

/// Unit roundoff of f32.
const EPS: f64 = 1.0 / (1u64 << 24) as f64;
/// Absolute error of any op near f32's subnormal range.
const TINY: f64 = 1e-30;
/// Relative error allowed for each transcendental sequence (well above their documented
/// bounds, see `lower::approx`).
const APPROX: f64 = 64.0 * EPS;

/// One node's value over its shape's extent (dense: `rows × cols`, `cols`, `rows` or 1).
#[derive(Clone, Debug, Default)]
pub struct NodeValue {
    /// The value of each element (values).
    pub value: Vec<f64>,
    /// The error bound of each element (values).
    pub bound: Vec<f64>,
    /// Each mask bit, and whether it is certain (false where the comparison is within its
    /// operands' bounds).
    pub mask: Vec<(bool, bool)>,
    /// Its shape (`None` for masks).
    pub shape: Broadcast,
}

impl NodeValue {
    fn at(&self, i: usize, j: usize, cols: usize) -> (f64, f64) {
        let k = self.shape.offset(i, j, cols);
        (self.value[k], self.bound[k])
    }
}

/// Evaluates every node. `inputs[n]` holds input `n` densely (a full matrix with `ld = cols`).
pub fn evaluate(
    eq: &Equation,
    inputs: &[Vec<f64>],
    mask_in: Option<&[u8]>,
    seed: u64,
) -> Vec<NodeValue> {
    let kinds = eq.kinds().expect("evaluate needs a validated equation");
    let (rows, cols) = (eq.rows(), eq.cols());
    let mut vals: Vec<NodeValue> = Vec::with_capacity(eq.nodes().len());
    for (n, node) in eq.nodes().iter().enumerate() {
        let shape = match kinds[n] {
            ValueKind::Value(s) => s,
            ValueKind::Mask => Broadcast::None,
        };
        let (r, c) = match shape {
            Broadcast::None => (rows, cols),
            Broadcast::Row => (1, cols),
            Broadcast::Col => (rows, 1),
            Broadcast::Scalar => (1, 1),
        };
        let mut out = NodeValue {
            shape,
            ..NodeValue::default()
        };
        let arg = |k: usize| &vals[node.args[k] as usize];
        let mut push = |v: f64, b: f64| {
            out.value.push(v);
            out.bound.push(b);
        };
        match node.op {
            EqOp::Input(k) => {
                out.value = inputs[k as usize].clone();
                out.bound = vec![0.0; out.value.len()];
            }
            EqOp::Const(bits) => push(f32::from_bits(bits) as f64, 0.0),
            EqOp::MaskInput(_) => {
                let m = mask_in.expect("the equation reads a mask");
                let ld = eq.mask_inputs()[0];
                out.mask = (0..rows * cols)
                    .map(|e| (bitmask::get(m, e / cols, e % cols, ld), true))
                    .collect();
            }
            EqOp::MaskOf => {
                // The mask the source node would write.
                let src = &eq.nodes()[node.args[0] as usize];
                let x = &vals[src.args[0] as usize];
                let EqOp::Unary(op) = src.op else {
                    unreachable!("validated: mask_of a mask-writing unary")
                };
                for e in 0..rows * cols {
                    let (i, j) = (e / cols, e % cols);
                    out.mask.push(match op {
                        UnaryOp::Dropout { p } => {
                            (dropout::keep(seed, dropout::threshold(p), i, j, cols), true)
                        }
                        _ => {
                            let (v, b) = x.at(i, j, cols);
                            (v > 0.0, v.abs() > b)
                        }
                    });
                }
            }
            EqOp::Binary(BinaryOp::Compare(c)) => {
                for e in 0..rows * cols {
                    let (i, j) = (e / cols, e % cols);
                    let ((a, ea), (b, eb)) = (arg(0).at(i, j, cols), arg(1).at(i, j, cols));
                    let sure = (a - b).abs() > ea + eb || a.is_nan() || b.is_nan();
                    out.mask.push((compare(c, a, b), sure));
                }
            }
            op => {
                for i in 0..r {
                    for j in 0..c {
                        let (v, b) = element(eq, op, node.operands(), &vals, i, j, seed);
                        // Below f32's normal range results may flush or round to 0.
                        let b = b + TINY;
                        // Past f32's range an f32 evaluation overflows where f64 does not.
                        let b = if v.abs() > f32::MAX as f64 {
                            f64::INFINITY
                        } else {
                            b
                        };
                        push(v, b);
                    }
                }
            }
        }
        vals.push(out);
    }
    vals
}

fn compare(c: CmpOp, a: f64, b: f64) -> bool {
    match c {
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
    }
}

/// The largest change of `f` over the corners of the operands' error boxes.
fn spread(f: &dyn Fn(&[f64]) -> f64, x: &[(f64, f64)]) -> f64 {
    let y = f(&x.iter().map(|p| p.0).collect::<Vec<_>>());
    let mut worst = 0.0f64;
    for corner in 0..(1usize << x.len()) {
        let p: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(k, &(v, e))| if corner >> k & 1 == 1 { v + e } else { v - e })
            .collect();
        let d = (f(&p) - y).abs();
        worst = if d.is_nan() {
            f64::INFINITY
        } else {
            worst.max(d)
        };
    }
    worst
}

/// Value and bound of element `(i, j)` of an elementwise or reduction node.
fn element(
    eq: &Equation,
    op: EqOp,
    args: &[u32],
    vals: &[NodeValue],
    i: usize,
    j: usize,
    seed: u64,
) -> (f64, f64) {
    let cols = eq.cols();
    let at = |k: usize| vals[args[k] as usize].at(i, j, cols);
    let mask_at = |k: usize| vals[args[k] as usize].mask[i * cols + j];
    match op {
        EqOp::Unary(u) => {
            let x = at(0);
            if u.reads_mask() {
                let scale = match u {
                    UnaryOp::DropoutBackward { p } => 1.0 / (1.0 - p as f64),
                    _ => 1.0,
                };
                let off = match u {
                    UnaryOp::LeakyReluBackward { alpha, .. } => alpha as f64,
                    _ => 0.0,
                };
                let on = (x.0 * scale, x.1 * scale + EPS * (x.0 * scale).abs());
                let other = (x.0 * off, x.1 * off.abs() + EPS * (x.0 * off).abs());
                return pick(mask_at(1), on, other);
            }
            if u.reads_aux() {
                let f = |p: &[f64]| math::backward(u, p[0], p[1]);
                let y = f(&[x.0, at(1).0]);
                let b = spread(&f, &[x, at(1)]) + APPROX * (y.abs() + x.0.abs());
                return (y, b);
            }
            if let UnaryOp::Dropout { p } = u {
                let keep = dropout::keep(seed, dropout::threshold(p), i, j, cols);
                let s = 1.0 / (1.0 - p as f64);
                return if keep {
                    (x.0 * s, x.1 * s + 2.0 * EPS * (x.0 * s).abs())
                } else {
                    (0.0, 0.0)
                };
            }
            let f = |p: &[f64]| math::pointwise(u, p[0]);
            let y = f(&[x.0]);
            if matches!(u, UnaryOp::Reciprocal | UnaryOp::Rsqrt) && x.0.abs() <= x.1 {
                // The operand may be 0 (the pole lies between the corners of its error box,
                // which `spread` would miss): any result.
                return (y, f64::INFINITY);
            }
            let local = match u {
                UnaryOp::Identity | UnaryOp::Zero | UnaryOp::Negate | UnaryOp::Abs => 0.0,
                UnaryOp::Relu { .. } => 0.0,
                UnaryOp::Square | UnaryOp::Sqrt | UnaryOp::Increment | UnaryOp::Reciprocal => {
                    EPS * y.abs()
                }
                UnaryOp::Rsqrt | UnaryOp::LeakyRelu { .. } => 2.0 * EPS * y.abs(),
                _ => APPROX * (y.abs() + x.0.abs()),
            };
            (y, spread(&f, &[x]) + local)
        }
        EqOp::Binary(b) => {
            let f = |p: &[f64]| match b {
                BinaryOp::Add => p[0] + p[1],
                BinaryOp::Sub => p[0] - p[1],
                BinaryOp::Mul => p[0] * p[1],
                BinaryOp::Div => p[0] / p[1],
                BinaryOp::Max => math::max_nan(p[0], p[1]),
                BinaryOp::Min => math::min_nan(p[0], p[1]),
                BinaryOp::MulAdd | BinaryOp::Compare(_) => unreachable!("validated"),
            };
            let (x, y) = (at(0), at(1));
            let v = f(&[x.0, y.0]);
            if b == BinaryOp::Div && y.0.abs() <= y.1 {
                // The divisor may be 0: any result, NaN included.
                return (v, f64::INFINITY);
            }
            (v, spread(&f, &[x, y]) + EPS * v.abs())
        }
        EqOp::Ternary(TernaryOp::Select) => pick(mask_at(0), at(1), at(2)),
        EqOp::Ternary(t) => {
            let f = |p: &[f64]| match t {
                TernaryOp::MulAdd => p[0] * p[1] + p[2],
                _ => p[2] - p[0] * p[1],
            };
            let (x, y, z) = (at(0), at(1), at(2));
            let v = f(&[x.0, y.0, z.0]);
            (v, spread(&f, &[x, y, z]) + EPS * v.abs())
        }
        EqOp::Reduce(r, axis) => {
            let x = &vals[args[0] as usize];
            let n = match axis {
                ReduceAxis::PerRow => cols,
                ReduceAxis::PerCol => eq.rows(),
            };
            let el = |k: usize| match axis {
                ReduceAxis::PerRow => x.at(i, k, cols),
                ReduceAxis::PerCol => x.at(k, j, cols),
            };
            let mut acc = match r {
                ReduceOp::Max | ReduceOp::AbsMax => f64::NEG_INFINITY,
                ReduceOp::Min => f64::INFINITY,
                _ => 0.0,
            };
            let (mut err, mut mag) = (0.0f64, 0.0f64);
            for k in 0..n {
                let (v, e) = el(k);
                match r {
                    ReduceOp::Sum => {
                        acc += v;
                        err += e;
                        mag += v.abs();
                    }
                    ReduceOp::SumSq => {
                        acc += v * v;
                        err += 2.0 * v.abs() * e + e * e + EPS * v * v;
                        mag += v * v;
                    }
                    ReduceOp::Max => {
                        acc = math::max_nan(acc, v);
                        err = err.max(e);
                    }
                    ReduceOp::Min => {
                        acc = math::min_nan(acc, v);
                        err = err.max(e);
                    }
                    ReduceOp::AbsMax => {
                        acc = math::max_nan(acc, v.abs());
                        err = err.max(e);
                    }
                    ReduceOp::SumAndSumSq => unreachable!("validated"),
                }
            }
            // f32 sums in any order: at most n roundings of partial sums.
            (acc, err + n as f64 * EPS * mag)
        }
        EqOp::Input(_) | EqOp::MaskInput(_) | EqOp::Const(_) | EqOp::MaskOf => {
            unreachable!("handled by evaluate")
        }
    }
}

/// `mask ? on : off`; an uncertain bit admits either.
fn pick((bit, sure): (bool, bool), on: (f64, f64), off: (f64, f64)) -> (f64, f64) {
    let chosen = if bit { on } else { off };
    if sure {
        chosen
    } else {
        (chosen.0, (on.0 - off.0).abs() + on.1.max(off.1))
    }
}

/// Runs an equation on raw operands (the reference backend's kernel).
///
/// # Safety
/// The pointers must be valid for the extents the equation implies (see
/// [`crate::EquationKernel::call_raw`]).
pub unsafe fn run(
    eq: &Equation,
    inputs: &[*const c_void],
    outputs: &[*mut c_void],
    mask_in: *const u8,
    seed: u64,
) {
    let (rows, cols) = (eq.rows(), eq.cols());
    let dense: Vec<Vec<f64>> = eq
        .inputs()
        .iter()
        .zip(inputs)
        .map(|(d, &p)| {
            let (r, c) = extent(d.shape, rows, cols);
            let mut v = Vec::with_capacity(r * c);
            for i in 0..r {
                for j in 0..c {
                    v.push(elem::load(p, d.dtype, d.shape.offset(i, j, d.ld)));
                }
            }
            v
        })
        .collect();
    let mask =
        (!mask_in.is_null()).then(|| std::slice::from_raw_parts(mask_in, eq.mask_input_len(0)));
    let vals = evaluate(eq, &dense, mask, seed);
    for (o, &p) in eq.outputs().iter().zip(outputs) {
        let v = &vals[o.node.index()];
        match o.kind {
            EqOutputKind::Value { dtype, ld } => {
                let (r, c) = extent(v.shape, rows, cols);
                for i in 0..r {
                    for j in 0..c {
                        let x = v.value[i * c + j];
                        elem::store(p, dtype, v.shape.offset(i, j, ld), round_to(dtype, x));
                    }
                }
            }
            EqOutputKind::Mask { ld_bits } => {
                let len = bitmask::bytes(rows, cols, ld_bits);
                let m = std::slice::from_raw_parts_mut(p.cast::<u8>(), len);
                for i in 0..rows {
                    for j in 0..cols {
                        bitmask::set(m, i, j, ld_bits, v.mask[i * cols + j].0);
                    }
                }
                elem::clear_row_padding(m.as_mut_ptr(), rows, cols, ld_bits);
            }
        }
    }
}

fn extent(shape: Broadcast, rows: usize, cols: usize) -> (usize, usize) {
    match shape {
        Broadcast::None => (rows, cols),
        Broadcast::Row => (1, cols),
        Broadcast::Col => (rows, 1),
        Broadcast::Scalar => (1, 1),
    }
}
