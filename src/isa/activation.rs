//! Activation functions: shared by the unary ops and the GEMM epilogue.

use crate::error::Result;
use crate::isa::matrix::Check;
use std::hash::{Hash, Hasher};

/// An activation, as fused into a GEMM epilogue (the same functions exist as unary ops, with
/// their backward forms, in [`crate::isa::UnaryOp`]).
///
/// | variant | forward `f(x)` |
/// |---|---|
/// | `Relu` | `max(x, 0)`; mask bit = `x > 0` |
/// | `LeakyRelu { alpha }` | `x > 0 ? x : alpha·x` |
/// | `Elu { alpha }` | `x > 0 ? x : alpha·(eˣ − 1)` |
/// | `Gelu` | `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (tanh approximation) |
/// | `GeluErf` | `0.5·x·(1 + erf(x/√2))` (exact) |
/// | `Sigmoid` | `1 / (1 + e⁻ˣ)` |
/// | `Tanh` | `tanh(x)` |
/// | `Silu` | `x · sigmoid(x)` |
///
/// NaN propagates through every activation (relu of NaN is NaN, with a clear mask bit).
/// At ±∞ each takes its limit (`gelu(−∞) = silu(−∞) = −0`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    /// No activation.
    #[default]
    None,
    /// Rectified linear unit; `mask: true` also writes the bitmask of positive results.
    Relu {
        /// Write the relu bitmask.
        mask: bool,
    },
    /// Leaky relu with negative slope `alpha`.
    LeakyRelu {
        /// Slope for `x <= 0`.
        alpha: f32,
    },
    /// Exponential linear unit.
    Elu {
        /// Scale of the negative branch.
        alpha: f32,
    },
    /// GELU, tanh approximation.
    Gelu,
    /// GELU, exact erf form.
    GeluErf,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// SiLU / swish.
    Silu,
}

impl Activation {
    /// True when the activation writes a relu bitmask.
    pub fn writes_mask(self) -> bool {
        matches!(self, Activation::Relu { mask: true })
    }

    pub(crate) fn validate(self, ck: &Check) -> Result<()> {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                ck.finite("epilogue.activation.alpha", alpha as f64)
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn tag(self) -> &'static str {
        match self {
            Activation::None => "",
            Activation::Relu { mask: false } => "_relu",
            Activation::Relu { mask: true } => "_relumask",
            Activation::LeakyRelu { .. } => "_leakyrelu",
            Activation::Elu { .. } => "_elu",
            Activation::Gelu => "_gelu",
            Activation::GeluErf => "_geluerf",
            Activation::Sigmoid => "_sigmoid",
            Activation::Tanh => "_tanh",
            Activation::Silu => "_silu",
        }
    }

    /// One word that identifies the activation (kind and parameter), for cache keys.
    #[inline]
    pub(crate) fn key_word(self) -> u64 {
        let (kind, param) = self.key();
        (kind as u64) << 32 | param as u64
    }

    #[inline]
    fn key(self) -> (u8, u32) {
        match self {
            Activation::None => (0, 0),
            Activation::Relu { mask } => (1, mask as u32),
            Activation::LeakyRelu { alpha } => (2, (alpha + 0.0).to_bits()),
            Activation::Elu { alpha } => (3, (alpha + 0.0).to_bits()),
            Activation::Gelu => (4, 0),
            Activation::GeluErf => (5, 0),
            Activation::Sigmoid => (6, 0),
            Activation::Tanh => (7, 0),
            Activation::Silu => (8, 0),
        }
    }
}

impl Eq for Activation {}
impl Hash for Activation {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.key_word())
    }
}
