//! What a NEON GEMM microkernel multiplies with: the multiply-accumulate instruction, and the
//! shapes that follow from it (lanes of an accumulator, k per A lane, the tile width).
//!
//! Every form reads one 16-byte register of A per row and k group (4 lanes of 1, 2 or 4 k;
//! 2 lanes for f64), and one 16-byte B vector per 4 columns (2 for f64) and k step:
//! row-major f32/f64, a VNNI2 row group for `bfdot`, a VNNI4 row group for the int8 dots.

use super::asm::{word, Ops, V};
use super::raw;
use crate::isa::DType;
use dynasmrt::{dynasm, DynasmApi};

/// How a microkernel multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// `fmla .4s` by element; bf16/f16 A and B (row-major) widen to f32 on load.
    Fma32 {
        /// The input dtype (f32, bf16 or f16).
        input: DType,
    },
    /// `fmla .2d` by element.
    Fma64,
    /// `bfdot .4s, .8h, .2h[i]` (FEAT_BF16) on a VNNI2 bf16 B: 2 k per lane.
    DotBf16,
    /// An int8 dot product by element on a VNNI4 B (4 k per lane, i32 lanes).
    DotI8(DotI8),
}

/// The int8 dot product of the signedness of A and B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotI8 {
    /// `sdot` (FEAT_DotProd): i8 A, i8 B.
    Sdot,
    /// `udot` (FEAT_DotProd): u8 A, u8 B.
    Udot,
    /// `sudot` by element (FEAT_I8MM): i8 B in the vector operand, u8 A by element.
    UnsignedA,
    /// `usdot` by element (FEAT_I8MM): u8 B in the vector operand, i8 A by element.
    SignedA,
}

impl Arith {
    /// Lanes of one accumulator (and of one A register).
    pub fn lanes(self) -> usize {
        if self == Arith::Fma64 {
            2
        } else {
            4
        }
    }
    /// Consecutive k in one lane of A (the VNNI factor of B).
    pub fn k_per_lane(self) -> usize {
        match self {
            Arith::Fma32 { .. } | Arith::Fma64 => 1,
            Arith::DotBf16 => 2,
            Arith::DotI8(_) => 4,
        }
    }
    /// k covered by one A register.
    pub fn k_group(self) -> usize {
        self.lanes() * self.k_per_lane()
    }
    /// Columns of a full tile: 4 accumulators per row.
    pub fn tile_cols(self) -> usize {
        4 * self.lanes()
    }
    /// Whether A and B are bf16/f16 widened to f32 on load (8-byte loads, then `shll`/`fcvtl`).
    pub fn widened(self) -> bool {
        matches!(self, Arith::Fma32 { input } if input != DType::F32)
    }
    /// The unit a B or A lane is moved as: the widened input dtype, or raw 4 or 8 bytes.
    pub fn unit(self) -> DType {
        match self {
            Arith::Fma32 { input } => input,
            Arith::Fma64 => DType::F64,
            Arith::DotBf16 | Arith::DotI8(_) => DType::F32,
        }
    }
    /// Whether the accumulators hold integers.
    pub fn integer(self) -> bool {
        matches!(self, Arith::DotI8(_))
    }

    /// `acc += b · lane `lane` of `a`` (`acc`, `b` and `a` registers).
    pub fn mac(self, ops: &mut Ops, acc: V, b: V, a: V, lane: u8) {
        let (c, bn, am, l) = (acc.0, b.0, a.0, lane as u32);
        match self {
            Arith::Fma32 { .. } => {
                dynasm!(ops ; .arch aarch64 ; fmla V(c).S4, V(bn).S4, V(am).S[l])
            }
            Arith::Fma64 => dynasm!(ops ; .arch aarch64 ; fmla V(c).D2, V(bn).D2, V(am).D[l]),
            Arith::DotBf16 => word(ops, raw::bfdot_elem(acc, b, a, lane)),
            Arith::DotI8(DotI8::Sdot) => {
                dynasm!(ops ; .arch aarch64 ; sdot V(c).S4, V(bn).B16, V(am).B4[l])
            }
            Arith::DotI8(DotI8::Udot) => {
                dynasm!(ops ; .arch aarch64 ; udot V(c).S4, V(bn).B16, V(am).B4[l])
            }
            Arith::DotI8(DotI8::UnsignedA) => word(ops, raw::sudot_elem(acc, b, a, lane)),
            Arith::DotI8(DotI8::SignedA) => word(ops, raw::usdot_elem(acc, b, a, lane)),
        }
    }
}
