//! Reduce TPPs: a `rows × cols` matrix folded to one value per row or per column.

use crate::error::Result;
use crate::isa::key;
use crate::isa::matrix::Check;
use crate::isa::DType;
use std::hash::{Hash, Hasher};

/// The reduction.
///
/// | op | fold of `x` | backward of `out = fold(x)` |
/// |---|---|---|
/// | `Sum` | `Σ x` | `dx = dout` (broadcast) |
/// | `Max` | `max x` (NaN if any is NaN) | `dout` to the arg-max |
/// | `Min` | `min x` (NaN if any is NaN) | `dout` to the arg-min |
/// | `AbsMax` | `max |x|` | `dout·sign(x)` to the arg-max |
/// | `SumSq` | `Σ x²` | `dx = 2x·dout` |
/// | `SumAndSumSq` | both: `out[0..len] = Σ x`, `out[len..2·len] = Σ x²` | as above |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    AbsMax,
    SumSq,
    SumAndSumSq,
}

impl ReduceOp {
    /// Lower-case name used in kernel names.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::AbsMax => "absmax",
            ReduceOp::SumSq => "sumsq",
            ReduceOp::SumAndSumSq => "sum_sumsq",
        }
    }
}

/// Which way the matrix is folded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceAxis {
    /// One value per row: `out[i] = fold_j x(i, j)` (`rows` outputs).
    PerRow,
    /// One value per column: `out[j] = fold_i x(i, j)` (`cols` outputs).
    PerCol,
}

/// A reduce TPP. The output is a dense vector of `rows` (per row) or `cols` (per column)
/// values, twice that for `SumAndSumSq`. With `accumulate` the result is folded into the
/// prior output (`out = out + Σ`, `out = max(out, max)`, ...) instead of overwriting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReduceDesc {
    /// The reduction.
    pub op: ReduceOp,
    /// Which way to fold.
    pub axis: ReduceAxis,
    /// Rows of the input.
    pub rows: usize,
    /// Columns of the input.
    pub cols: usize,
    /// Leading dimension of the input.
    pub ld_in: usize,
    /// Input dtype (floating).
    pub in_dtype: DType,
    /// Dtype of the arithmetic (f32 or f64).
    pub compute_dtype: DType,
    /// Output dtype (floating).
    pub out_dtype: DType,
    /// Fold into the prior output instead of overwriting it.
    pub accumulate: bool,
}

impl ReduceDesc {
    /// `op` along `axis` of a packed `rows × cols` matrix of `dtype`, overwriting the output.
    pub fn new(op: ReduceOp, axis: ReduceAxis, rows: usize, cols: usize, dtype: DType) -> Self {
        ReduceDesc {
            op,
            axis,
            rows,
            cols,
            ld_in: cols,
            in_dtype: dtype,
            compute_dtype: dtype.default_compute(),
            out_dtype: dtype,
            accumulate: false,
        }
    }

    /// Number of reduced values (per fold kind).
    pub fn out_count(&self) -> usize {
        match self.axis {
            ReduceAxis::PerRow => self.rows,
            ReduceAxis::PerCol => self.cols,
        }
    }

    /// Elements the output vector holds.
    pub fn out_len(&self) -> usize {
        let n = self.out_count();
        if self.op == ReduceOp::SumAndSumSq {
            n.saturating_mul(2)
        } else {
            n
        }
    }

    /// Elements the input spans.
    pub fn in_len(&self) -> usize {
        crate::isa::matrix_len(self.rows, self.cols, self.ld_in)
    }

    /// Nominal flop count: one per element and fold (two for `SumAndSumSq`).
    pub fn flops(&self) -> u64 {
        let per: u64 = match self.op {
            ReduceOp::SumSq => 2,
            ReduceOp::SumAndSumSq => 3,
            _ => 1,
        };
        per.saturating_mul(self.rows as u64)
            .saturating_mul(self.cols as u64)
    }

    /// Bytes a call reads and writes.
    pub fn bytes(&self) -> u64 {
        let input = self.rows as u128 * self.cols as u128 * self.in_dtype.size() as u128;
        key::saturate(input + self.out_len() as u128 * self.out_dtype.size() as u128)
    }

    /// Checks every field against the ISA.
    pub fn validate(&self) -> Result<()> {
        let ck = Check { family: "reduce" };
        ck.dim("rows", self.rows)?;
        ck.dim("cols", self.cols)?;
        ck.ld("ld_in", self.ld_in, self.cols, "cols")?;
        ck.extent("ld_in", self.rows, self.ld_in, self.in_dtype)?;
        ck.float("in_dtype", self.in_dtype)?;
        ck.compute(self.compute_dtype)?;
        ck.float("out_dtype", self.out_dtype)?;
        ck.extent("out", 2, self.out_count(), self.out_dtype)
    }

    /// Equivalent descriptors normalised to one cache entry (already canonical).
    pub fn canonical(&self) -> ReduceDesc {
        *self
    }

    /// A name that says what the kernel computes, e.g. `reduce_reference_sum_perrow_f32_64x64`.
    pub fn kernel_name(&self, backend: &str) -> String {
        format!(
            "reduce_{backend}_{}_{}_{}_{}x{}{}",
            self.op.name(),
            match self.axis {
                ReduceAxis::PerRow => "perrow",
                ReduceAxis::PerCol => "percol",
            },
            self.in_dtype,
            self.rows,
            self.cols,
            if self.accumulate { "_acc" } else { "" }
        )
    }
}

impl Hash for ReduceDesc {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        key::write(
            state,
            [
                key::pack3(self.rows, self.cols, self.ld_in),
                key::codes([
                    self.op as u8,
                    self.axis as u8,
                    self.in_dtype as u8,
                    self.compute_dtype as u8,
                    self.out_dtype as u8,
                    self.accumulate as u8,
                ]),
            ],
        );
    }
}
