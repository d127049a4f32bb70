//! Tolerances, written down once.
//!
//! A result may differ from the f64 reference by `rel · magnitude + abs`, where `magnitude`
//! is the size of the quantities that formed it (|result| for a pointwise op, the larger of
//! |x| and |result| for activations, Σ|aᵢbᵢ| for a dot product) and `rel` is that of the
//! least precise dtype involved (the compute dtype or the output dtype):
//!
//! | dtype | rel | why |
//! |---|---|---|
//! | f64 | 16·2⁻⁵² | a few ulp of evaluation error |
//! | f32 | 8·2⁻²³ (≈ 9.5e-7) | "a few ulp" for transcendental approximations |
//! | bf16 | 2⁻⁷ | one ulp: f32 → bf16 rounding may land on either neighbour |
//! | f16 | 2⁻¹⁰ | one ulp, as for bf16 |
//! | integers | 0 | integer results are exact |
//!
//! `abs` is the smallest normal number of the dtype: backends may flush subnormals.
//! Accumulations (GEMM, sums) add `terms · eps(compute)` relative to their magnitude.
//! NaN matches NaN and infinities match infinities of the same sign; nothing else matches a
//! non-finite value.
//!
//! The Arm bf16 matrix instructions (`bfdot`, `bfmmla`, without FEAT_EBF16) are not IEEE:
//! they flush subnormal inputs and outputs to zero whatever FPCR says, and round their
//! internal sums (two products for `bfdot`, four for `bfmmla`) without round-to-nearest-even
//! (qemu's emulation of the Arm pseudo-code differs from the correctly rounded sum in about 4%
//! of `bfdot` and 10% of `bfmmla` lanes). Their GEMMs are held to the same bound as the
//! others, which covers both: each such instruction adds at most two f32 roundings of a partial
//! sum no larger than the magnitude Σ|aᵢbᵢ|, for 2 or 4 terms, inside the
//! `(terms + 3)·eps(f32)` accumulation allowance. A flushed subnormal input drops a product
//! below `|b|·2⁻¹²⁶`; the harness draws GEMM inputs as normal numbers in [-2, 2], so in the
//! tests flushing only touches subnormal partial results, which `abs` covers.

use tpp::DType;

/// A tolerance.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rel: f64,
    pub abs: f64,
}

/// The tolerance of one dtype (the table above).
pub fn of(dt: DType) -> Tol {
    match dt {
        DType::F64 => Tol {
            rel: 16.0 * f64::EPSILON,
            abs: f64::MIN_POSITIVE,
        },
        DType::F32 => Tol {
            rel: 8.0 * f32::EPSILON as f64,
            abs: f32::MIN_POSITIVE as f64,
        },
        DType::BF16 => Tol {
            rel: 2f64.powi(-7),
            abs: f32::MIN_POSITIVE as f64,
        },
        DType::F16 => Tol {
            rel: 2f64.powi(-10),
            abs: 2f64.powi(-14),
        },
        _ => Tol { rel: 0.0, abs: 0.0 },
    }
}

/// The looser of several dtypes' tolerances.
pub fn loosest(dts: &[DType]) -> Tol {
    dts.iter()
        .map(|&d| of(d))
        .fold(Tol { rel: 0.0, abs: 0.0 }, |a, b| Tol {
            rel: a.rel.max(b.rel),
            abs: a.abs.max(b.abs),
        })
}

/// Whether `got` is close enough to `want`, given the magnitude that formed it.
pub fn close(got: f64, want: f64, magnitude: f64, tol: Tol) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return want == got;
    }
    (got - want).abs() <= tol.rel * magnitude.max(want.abs()) + tol.abs
}
