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
