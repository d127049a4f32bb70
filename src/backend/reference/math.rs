//! The formulas of the ISA in f64, straight from their definitions.

use crate::isa::{Activation, UnaryOp};

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_C: f64 = 0.044_715;

/// Logistic sigmoid.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// SiLU, `x·σ(x)` (its limit, −0, at −∞).
pub fn silu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    x * sigmoid(x)
}

/// Derivative of [`silu`]: `σ(x)(1 + x(1 − σ(x)))` (its limits, 1 and 0, at ±∞).
pub fn silu_grad(x: f64) -> f64 {
    if x.is_infinite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
}

/// Tanh-approximate GELU (its limit, −0, at −∞).
pub fn gelu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_C * x * x * x)).tanh())
}

/// Derivative of [`gelu`] (its limits, 1 and 0, at ±∞).
pub fn gelu_grad(x: f64) -> f64 {
    if x.is_infinite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let t = (SQRT_2_OVER_PI * (x + GELU_C * x * x * x)).tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x)
}

/// Exact GELU: `x·Φ(x)` (its limit, −0, at −∞).
pub fn gelu_erf(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

/// Derivative of [`gelu_erf`]: `Φ(x) + x·φ(x)` (its limits, 1 and 0, at ±∞).
pub fn gelu_erf_grad(x: f64) -> f64 {
    if x.is_infinite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)) + x * pdf
}

/// Max that propagates NaN from either side.
pub fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Min that propagates NaN from either side.
pub fn min_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Relu that propagates NaN.
pub fn relu(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(0.0)
    }
}

/// A GEMM epilogue activation.
pub fn activation(act: Activation, x: f64) -> f64 {
    match act {
        Activation::None => x,
        Activation::Relu { .. } => relu(x),
        Activation::LeakyRelu { alpha } => pointwise(UnaryOp::LeakyRelu { alpha, mask: false }, x),
        Activation::Elu { alpha } => pointwise(UnaryOp::Elu { alpha }, x),
        Activation::Gelu => gelu(x),
        Activation::GeluErf => gelu_erf(x),
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Silu => silu(x),
    }
}

/// A forward elementwise unary op of one input (no masks, no randomness).
pub fn pointwise(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Identity => x,
        Zero => 0.0,
        Negate => -x,
        Abs => x.abs(),
        Square => x * x,
        Sqrt => x.sqrt(),
        Reciprocal => 1.0 / x,
        Rsqrt => 1.0 / x.sqrt(),
        Increment => x + 1.0,
        Exp => x.exp(),
        Tanh => x.tanh(),
        Sigmoid => sigmoid(x),
        Gelu => gelu(x),
        GeluErf => gelu_erf(x),
        Relu { .. } => relu(x),
        LeakyRelu { alpha, .. } => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                alpha as f64 * x
            }
        }
        Elu { alpha } => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                alpha as f64 * x.exp_m1()
            }
        }
        Silu => silu(x),
        _ => unreachable!("{op:?} is not a pointwise forward op"),
    }
}

/// A backward op: `dx` from the incoming gradient `dy` and the forward input `x`.
pub fn backward(op: UnaryOp, dy: f64, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        TanhBackward => {
            let t = x.tanh();
            dy * (1.0 - t * t)
        }
        SigmoidBackward => {
            let s = sigmoid(x);
            dy * s * (1.0 - s)
        }
        GeluBackward => dy * gelu_grad(x),
        GeluErfBackward => dy * gelu_erf_grad(x),
        ReluBackward { .. } => {
            if x > 0.0 {
                dy
            } else {
                0.0
            }
        }
        LeakyReluBackward { alpha, .. } => {
            if x > 0.0 {
                dy
            } else {
                dy * alpha as f64
            }
        }
        EluBackward { alpha } => {
            if x > 0.0 {
                dy
            } else {
                dy * alpha as f64 * x.exp()
            }
        }
        SiluBackward => dy * silu_grad(x),
        _ => unreachable!("{op:?} is not a backward op"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of the forward formulas agree with the stated derivatives.
    #[test]
    fn derivatives_match_finite_differences() {
        let ops = [
            (UnaryOp::Tanh, UnaryOp::TanhBackward),
            (UnaryOp::Sigmoid, UnaryOp::SigmoidBackward),
            (UnaryOp::Gelu, UnaryOp::GeluBackward),
            (UnaryOp::GeluErf, UnaryOp::GeluErfBackward),
            (UnaryOp::Silu, UnaryOp::SiluBackward),
            (
                UnaryOp::Elu { alpha: 0.7 },
                UnaryOp::EluBackward { alpha: 0.7 },
            ),
            (
                UnaryOp::LeakyRelu {
                    alpha: 0.1,
                    mask: false,
                },
                UnaryOp::LeakyReluBackward {
                    alpha: 0.1,
                    mask: false,
                },
            ),
        ];
        for (fwd, bwd) in ops {
            for i in -40..=40 {
                let x = i as f64 * 0.1 + 0.013;
                let h = 1e-6;
                let fd = (pointwise(fwd, x + h) - pointwise(fwd, x - h)) / (2.0 * h);
                let an = backward(bwd, 1.0, x);
                assert!((fd - an).abs() < 1e-6, "{fwd:?} at {x}: fd {fd} vs {an}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu_erf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((gelu(1.0) - 0.841_191_990_608_276_8).abs() < 1e-12);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(relu(f64::NAN).is_nan());
        assert!(max_nan(1.0, f64::NAN).is_nan());
    }
}
