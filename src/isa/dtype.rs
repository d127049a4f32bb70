//! Element types of the ISA and the Rust types that carry them.

use half::{bf16, f16};
use std::fmt;

/// The element type of an operand, or of the arithmetic a kernel performs.
///
/// Every descriptor names its input, compute and output types separately, as LIBXSMM does.
/// Narrowing conversions round to nearest even; NaN propagates. Conversions from a floating
/// type to an integer type round to nearest even and saturate, and NaN becomes 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DType {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// bfloat16: the top 16 bits of an f32 (8-bit exponent, 7-bit mantissa).
    BF16,
    /// IEEE binary16 (5-bit exponent, 10-bit mantissa).
    F16,
    /// Signed 32-bit integer (the accumulator of int8 GEMM).
    I32,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer (the activation side of u8 × i8 GEMM, and bitmask bytes).
    U8,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 7] = [
        DType::F64,
        DType::F32,
        DType::BF16,
        DType::F16,
        DType::I32,
        DType::I8,
        DType::U8,
    ];

    /// Bytes one element occupies.
    pub const fn size(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::BF16 | DType::F16 => 2,
            DType::I8 | DType::U8 => 1,
        }
    }

    /// True for f64, f32, bf16 and f16.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::BF16 | DType::F16)
    }

    /// True for the 8-bit integer types that int8 GEMM multiplies.
    pub const fn is_int8(self) -> bool {
        matches!(self, DType::I8 | DType::U8)
    }

    /// Lower-case name used in kernel names and messages (`f32`, `bf16`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::I8 => "i8",
            DType::U8 => "u8",
        }
    }

    /// The compute dtype elementwise ops default to for data of this dtype: f64 for f64,
    /// f32 otherwise.
    pub const fn default_compute(self) -> DType {
        match self {
            DType::F64 => DType::F64,
            _ => DType::F32,
        }
    }

    /// Machine epsilon (distance from 1 to the next value) of a floating type; 0 for integers.
    pub fn epsilon(self) -> f64 {
        match self {
            DType::F64 => f64::EPSILON,
            DType::F32 => f32::EPSILON as f64,
            DType::BF16 => bf16::EPSILON.to_f64(),
            DType::F16 => f16::EPSILON.to_f64(),
            _ => 0.0,
        }
    }
}

/// `v` rounded to the nearest bf16, ties to even — the ISA's narrowing rule. (`half`'s own
/// `bf16::from_f64` rounds some values just above a halfway point down: `f32` bits
/// `0xbefe8001` came out `0xbefe`, not `0xbeff`.) Rounds to odd at f32 first: with 16 bits to
/// spare that keeps the second rounding, f32 to bf16, exact.
pub fn bf16_from_f64(v: f64) -> bf16 {
    let f = v as f32;
    if !f.is_finite() || f as f64 == v {
        return bf16::from_f32(f);
    }
    // Toward zero, then the last bit set: round to odd.
    let toward_zero = if (f as f64).abs() > v.abs() {
        f32::from_bits(f.to_bits() - 1)
    } else {
        f
    };
    bf16::from_f32(f32::from_bits(toward_zero.to_bits() | 1))
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that holds one element of a [`DType`]. Sealed: the set is the ISA's.
pub trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    /// The dtype this Rust type carries.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t { const DTYPE: DType = DType::$d; }
    )*};
}
element!(f64 => F64, f32 => F32, bf16 => BF16, f16 => F16, i32 => I32, i8 => I8, u8 => U8);

#[cfg(test)]
mod bf16_rounding {
    use super::*;

    #[test]
    fn matches_the_f32_rounding_on_f32_values() {
        // Every f32 whose bf16 neighbourhood matters: around halfway, sticky bits, both signs,
        // subnormals and the edge of the range.
        for hi in [0x3f80u32, 0xbefe, 0x0001, 0x8001, 0x7f7f, 0x0080, 0x4000] {
            for lo in [0u32, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4000, 0xc000] {
                let x = f32::from_bits(hi << 16 | lo);
                assert_eq!(
                    bf16_from_f64(x as f64).to_bits(),
                    bf16::from_f32(x).to_bits(),
                    "{:#x}",
                    x.to_bits()
                );
            }
        }
    }

    #[test]
    fn rounds_f64_values_once() {
        // Halfway between 1.0 and the next bf16 (2^-8 apart), nudged by less than an f32 ulp:
        // rounding to f32 first would land on the tie and go to even (down).
        let half = 1.0 + f64::powi(2.0, -8);
        assert_eq!(
            bf16_from_f64(half + 1e-12).to_f64(),
            1.0 + f64::powi(2.0, -7)
        );
        assert_eq!(bf16_from_f64(half - 1e-12).to_f64(), 1.0);
        assert_eq!(bf16_from_f64(half).to_f64(), 1.0);
        assert_eq!(
            bf16_from_f64(-(half + 1e-12)).to_f64(),
            -(1.0 + f64::powi(2.0, -7))
        );
        assert!(bf16_from_f64(f64::NAN).is_nan());
        assert_eq!(bf16_from_f64(1e300).to_f64(), f64::INFINITY);
        assert_eq!(bf16_from_f64(-1e-300).to_bits(), 0x8000);
    }
}
