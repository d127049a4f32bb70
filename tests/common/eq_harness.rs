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
    let eq = kernel.equation();
    let (rows, cols) = (eq.rows(), eq.cols());
    let mut outs: Vec<Buf> = Vec::new();
    for (n, o) in eq.outputs().iter().enumerate() {
        outs.push(match o.kind {
            EqOutputKind::Value { dtype, .. } => Buf::poison(dtype, eq.output_len(n)),
            EqOutputKind::Mask { .. } => Buf::U8(poison_mask(eq.output_len(n))),
        });
    }
    {
        let ins: Vec<In> = ops.inputs.iter().map(|b| b.input()).collect();
        let mut outv: Vec<Out> = outs.iter_mut().map(|b| b.output()).collect();
        kernel
            .call_with(&ins, ops.mask.as_deref(), &mut outv, seed)
            .map_err(|e| format!("call failed: {e}"))?;
    }
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
