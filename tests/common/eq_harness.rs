//! The differential harness of equations: random poisoned operands, the backend's kernel, and
//! the reference evaluation with its running error bounds.
//!
//! An output element passes when it is within twice the reference's bound plus the rounding of
//! its dtype; elements past `cols` in a padded row must keep their poison; mask bits must match
//! wherever the reference is certain of them.

use super::buffers::{poison_mask, Buf, Rng};
use tpp::backend::reference::equation::evaluate;
use tpp::*;

/// Relative rounding of an output dtype (half an ulp).
fn rounding(dt: DType) -> f64 {
    match dt {
        DType::BF16 => 1.0 / 256.0,
        DType::F16 => 1.0 / 2048.0,
        _ => 1.0 / (1u64 << 24) as f64,
    }
}

/// Spacing of the dtype's subnormals.
fn tiny(dt: DType) -> f64 {
    match dt {
        DType::F16 => 1.0 / (1u64 << 24) as f64,
        _ => 1e-30,
    }
}

/// Largest finite value of the dtype.
fn largest(dt: DType) -> f64 {
    match dt {
        DType::F16 => 65504.0,
        DType::BF16 => 3.38e38,
        _ => f32::MAX as f64,
    }
}

/// Random operands for `eq` (values in `[lo, hi)`), dense f64 copies of them, and a mask.
pub struct Operands {
    pub inputs: Vec<Buf>,
    pub dense: Vec<Vec<f64>>,
    pub mask: Option<Vec<u8>>,
}

pub fn operands(eq: &Equation, seed: u64, lo: f64, hi: f64) -> Operands {
    let mut rng = Rng(seed | 1);
    let (rows, cols) = (eq.rows(), eq.cols());
    let mut inputs = Vec::new();
    let mut dense = Vec::new();
    for (n, d) in eq.inputs().iter().enumerate() {
        let buf = Buf::random(d.dtype, eq.input_len(n), &mut rng, lo, hi, false);
        let (r, c) = match d.shape {
            Broadcast::None => (rows, cols),
            Broadcast::Row => (1, cols),
            Broadcast::Col => (rows, 1),
            Broadcast::Scalar => (1, 1),
        };
        let mut v = Vec::with_capacity(r * c);
        for i in 0..r {
            for j in 0..c {
                v.push(buf.get(d.shape.offset(i, j, d.ld)));
            }
        }
        inputs.push(buf);
        dense.push(v);
    }
    let mask = (!eq.mask_inputs().is_empty()).then(|| {
        (0..eq.mask_input_len(0))
            .map(|_| rng.below(256) as u8)
            .collect()
    });
    Operands {
        inputs,
        dense,
        mask,
    }
}

/// Runs `kernel` and compares it with the reference; `Err` says where it differs.
pub fn check(
    kernel: &EquationKernel,
    ops: &Operands,
    seed: u64,
) -> std::result::Result<(), String> {
    check_run(
        kernel.equation(),
        ops,
        seed,
        &mut |ins, mask, outs, seed| {
            let ins: Vec<In> = ins.iter().map(|b| b.input()).collect();
            let mut outs: Vec<Out> = outs.iter_mut().map(|b| b.output()).collect();
            kernel
                .call_with(&ins, mask, &mut outs, seed)
                .map_err(|e| format!("call failed: {e}"))
        },
    )
}

/// How a backend runs an equation: inputs, mask input, poisoned outputs, seed.
pub type Runner<'r> =
    dyn FnMut(&[Buf], Option<&[u8]>, &mut [Buf], u64) -> std::result::Result<(), String> + 'r;

/// Runs `eq` through `run` and compares the outputs with the reference.
pub fn check_run(
    eq: &Equation,
    ops: &Operands,
    seed: u64,
    run: &mut Runner,
) -> std::result::Result<(), String> {
    let (rows, cols) = (eq.rows(), eq.cols());
    let mut outs: Vec<Buf> = Vec::new();
    for (n, o) in eq.outputs().iter().enumerate() {
        outs.push(match o.kind {
            EqOutputKind::Value { dtype, .. } => Buf::poison(dtype, eq.output_len(n)),
            EqOutputKind::Mask { .. } => Buf::U8(poison_mask(eq.output_len(n))),
        });
    }
    run(&ops.inputs, ops.mask.as_deref(), &mut outs, seed)?;
    let vals = evaluate(eq, &ops.dense, ops.mask.as_deref(), seed);
    for (n, o) in eq.outputs().iter().enumerate() {
        let v = &vals[o.node.index()];
        let got = &outs[n];
        match o.kind {
            EqOutputKind::Value { dtype, ld } => {
                let (r, c) = match v.shape {
                    Broadcast::None => (rows, cols),
                    Broadcast::Row => (1, cols),
                    Broadcast::Col => (rows, 1),
                    Broadcast::Scalar => (1, 1),
                };
                let poison = Buf::poison(dtype, 1).bits(0);
                for i in 0..r {
                    for j in 0..c {
                        let k = v.shape.offset(i, j, ld);
                        let (want, bound) = (v.value[i * c + j], v.bound[i * c + j]);
                        let g = got.get(k);
                        // Relative rounding of the dtype, its subnormal spacing, and overflow
                        // past its largest finite value.
                        let tol = 2.0 * bound + rounding(dtype) * want.abs() + tiny(dtype);
                        let ok = if !bound.is_finite() || want.abs() > 1e30 {
                            true
                        } else if want.is_nan() {
                            g.is_nan() && got.bits(k) != poison
                        } else if want.abs() + tol > largest(dtype) {
                            g.is_infinite() && g.signum() == want.signum()
                                || (g - want).abs() <= tol
                        } else {
                            (g - want).abs() <= tol
                        };
                        if !ok {
                            return Err(format!(
                                "output {n} ({i}, {j}): got {g}, want {want} ± {bound}"
                            ));
                        }
                    }
                    if v.shape == Broadcast::None {
                        for j in cols..ld {
                            if i + 1 < rows && got.bits(i * ld + j) != poison {
                                return Err(format!("output {n}: padding ({i}, {j}) written"));
                            }
                        }
                    }
                }
            }
            EqOutputKind::Mask { ld_bits } => {
                let Buf::U8(m) = got else { unreachable!() };
                for i in 0..rows {
                    for j in 0..cols {
                        let (bit, sure) = v.mask[i * cols + j];
                        if sure && bitmask::get(m, i, j, ld_bits) != bit {
                            return Err(format!("mask output ({i}, {j}): want {bit}"));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The dtypes of equation inputs and outputs.
pub const EQ_DTYPES: [DType; 3] = [DType::F32, DType::BF16, DType::F16];

/// A random equation: up to 8 inputs of mixed dtypes and broadcasts, nodes of every kind up
/// to depth 6 (reductions in the middle, masks, dropout), and one to three outputs.
pub fn random_equation(rows: usize, cols: usize, seed: u64) -> Equation {
    let mut rng = Rng(seed | 1);
    let mut eq = Equation::new(rows, cols);
    // (node, shape, depth); masks separately.
    let mut vals: Vec<(Expr, Broadcast, usize)> = Vec::new();
    let mut masks: Vec<Expr> = Vec::new();
    let shapes = [
        Broadcast::None,
        Broadcast::None,
        Broadcast::None,
        Broadcast::Row,
        Broadcast::Col,
        Broadcast::Scalar,
    ];
    let inputs = 1 + rng.below(8);
    for k in 0..inputs {
        let shape = if k == 0 {
            Broadcast::None
        } else {
            shapes[rng.below(shapes.len())]
        };
        let dt = EQ_DTYPES[rng.below(3)];
        let ld = cols + [0, 0, 1, 5, 16][rng.below(5)];
        vals.push((eq.input_ld(dt, shape, ld), shape, 0));
    }
    if rng.below(6) == 0 {
        masks.push(eq.mask_input(bitmask::default_ld(cols) + 8 * rng.below(2)));
    }
    let join = |a: Broadcast, b: Broadcast| -> Broadcast {
        use Broadcast::*;
        match (a, b) {
            (None, _) | (_, None) | (Row, Col) | (Col, Row) => None,
            (Row, _) | (_, Row) => Row,
            (Col, _) | (_, Col) => Col,
            _ => Scalar,
        }
    };
    let nodes = 2 + rng.below(12);
    let unary = [
        UnaryOp::Identity,
        UnaryOp::Negate,
        UnaryOp::Abs,
        UnaryOp::Square,
        UnaryOp::Increment,
        UnaryOp::Exp,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Gelu,
        UnaryOp::GeluErf,
        UnaryOp::Silu,
        UnaryOp::Relu { mask: false },
        UnaryOp::LeakyRelu {
            alpha: 0.1,
            mask: false,
        },
        UnaryOp::Elu { alpha: 0.5 },
        UnaryOp::Sqrt,
        UnaryOp::Reciprocal,
    ];
    for _ in 0..nodes {
        let pick = |rng: &mut Rng, vals: &Vec<(Expr, Broadcast, usize)>| {
            let shallow: Vec<_> = vals.iter().filter(|v| v.2 < 6).copied().collect();
            // Prefer recent nodes, so chains get deep.
            let n = shallow.len();
            shallow[n - 1 - rng.below(n.min(4))]
        };
        let a = pick(&mut rng, &vals);
        let b = pick(&mut rng, &vals);
        let d = a.2.max(b.2) + 1;
        match rng.below(12) {
            0..=2 => {
                let op = unary[rng.below(unary.len())];
                vals.push((eq.unary(op, a.0), a.1, d));
            }
            3..=5 => {
                let ops = [
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Max,
                    BinaryOp::Min,
                    BinaryOp::Div,
                ];
                let op = ops[rng.below(ops.len())];
                vals.push((eq.binary(op, a.0, b.0), join(a.1, b.1), d));
            }
            6 => {
                let c = pick(&mut rng, &vals);
                let op = [TernaryOp::MulAdd, TernaryOp::NMulAdd][rng.below(2)];
                let s = join(join(a.1, b.1), c.1);
                vals.push((eq.ternary(op, a.0, b.0, c.0), s, d.max(c.2 + 1)));
            }
            7 => {
                let k = eq.compare(CmpOp::Gt, a.0, b.0);
                masks.push(k);
                if rng.below(2) == 0 {
                    let m = masks[rng.below(masks.len())];
                    vals.push((eq.select(m, a.0, b.0), Broadcast::None, d));
                }
            }
            8 | 9 if a.1 == Broadcast::None => {
                let ops = [
                    ReduceOp::Sum,
                    ReduceOp::Max,
                    ReduceOp::Min,
                    ReduceOp::AbsMax,
                    ReduceOp::SumSq,
                ];
                let op = ops[rng.below(ops.len())];
                let (axis, shape) = if rng.below(2) == 0 {
                    (ReduceAxis::PerRow, Broadcast::Col)
                } else {
                    (ReduceAxis::PerCol, Broadcast::Row)
                };
                vals.push((eq.reduce(op, axis, a.0), shape, d));
            }
            10 if a.1 == Broadcast::None => {
                let op = if rng.below(2) == 0 {
                    UnaryOp::Dropout { p: 0.3 }
                } else {
                    UnaryOp::Relu { mask: true }
                };
                let y = eq.unary(op, a.0);
                vals.push((y, Broadcast::None, d));
                masks.push(eq.mask_of(y));
            }
            11 => {
                let ops = [
                    UnaryOp::TanhBackward,
                    UnaryOp::SigmoidBackward,
                    UnaryOp::GeluBackward,
                ];
                let op = ops[rng.below(ops.len())];
                vals.push((eq.unary_bwd(op, a.0, b.0), join(a.1, b.1), d));
            }
            _ => {
                let c = eq.constant([0.5, -1.25, 3.0][rng.below(3)]);
                vals.push((eq.add(a.0, c), a.1, d));
            }
        }
    }
    // Outputs: the last node, and up to two others.
    let last = *vals.last().expect("at least the inputs");
    let mut outs = vec![last];
    // (Only computed nodes: when every drawn node was a compare, there are none.)
    for _ in 0..rng.below(3).min(vals.len() - inputs) {
        outs.push(vals[inputs + rng.below(vals.len() - inputs)]);
    }
    for (e, shape, _) in outs {
        let dt = EQ_DTYPES[rng.below(3)];
        let ld = if shape == Broadcast::None {
            cols + rng.below(3)
        } else {
            cols
        };
        eq.output_ld(e, dt, ld);
    }
    if !masks.is_empty() && rng.below(3) == 0 {
        let m = masks[rng.below(masks.len())];
        eq.mask_output(m, bitmask::default_ld(cols));
    }
    eq
}

/// Every ready-made equation at `rows × cols` in `dt`, with the range its operands are drawn
/// from: optimizer states of realistic magnitude (AdamW's `v` must stay positive), the rest
/// in ±3. Dropout appears with p = 0.1 and, fused with the layer norm, also with p = 0.
pub fn ready_made(rows: usize, cols: usize, dt: DType) -> Vec<(Equation, (f64, f64))> {
    let wide = (-3.0, 3.0);
    let positive = (0.01, 1.0);
    vec![
        (equations::layer_norm(rows, cols, dt, 1e-5), wide),
        (equations::layer_norm_backward(rows, cols, dt), wide),
        (equations::rms_norm(rows, cols, dt, 1e-6), wide),
        (equations::rms_norm_backward(rows, cols, dt), wide),
        (equations::softmax(rows, cols, dt), wide),
        (equations::softmax_backward(rows, cols, dt), wide),
        (
            equations::bias_activation(rows, cols, dt, UnaryOp::Gelu),
            wide,
        ),
        (
            equations::bias_activation(rows, cols, dt, UnaryOp::Relu { mask: false }),
            wide,
        ),
        (equations::dropout_residual(rows, cols, dt, 0.1), wide),
        (equations::silu_gate(rows, cols, dt), wide),
        (equations::adamw(rows, cols, dt), positive),
        (equations::sgd_momentum(rows, cols, dt), positive),
        (
            equations::dropout_residual_layer_norm(rows, cols, dt, 0.1, 1e-5),
            wide,
        ),
        (
            equations::dropout_residual_layer_norm(rows, cols, dt, 0.0, 1e-5),
            wide,
        ),
    ]
}
