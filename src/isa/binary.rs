//! Binary TPPs: `out = a ⊙ b` over a `rows × cols` space, with broadcasts of either input.

use crate::error::Result;
use crate::isa::key;
use crate::isa::matrix::{bitmask, Check};
use crate::isa::{Broadcast, DType};
use std::hash::{Hash, Hasher};

/// Comparison of a [`BinaryOp::Compare`]; the result is a bitmask (NaN compares false, except
/// `Ne`, which is true).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl CmpOp {
    /// Evaluates the comparison (IEEE semantics).
    pub fn eval(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// The operation of a binary TPP, with `a = in0(i, j)`, `b = in1(i, j)`.
///
/// | op | `out(i, j)` | backward |
/// |---|---|---|
/// | `Add` | `a + b` | `da = dy`, `db = dy` |
/// | `Sub` | `a − b` | `da = dy`, `db = −dy` |
/// | `Mul` | `a · b` | `da = dy·b`, `db = dy·a` |
/// | `Div` | `a / b` | `da = dy/b`, `db = −dy·a/b²` |
/// | `Max` | `max(a, b)` (NaN if either is NaN) | `dy` to the larger input |
/// | `Min` | `min(a, b)` (NaN if either is NaN) | `dy` to the smaller input |
/// | `MulAdd` | `out + a · b` (reads `out`) | `da = dy·b`, `db = dy·a` |
/// | `Compare(c)` | bit `(i, j)` of a bitmask = `a c b` | none (not differentiable) |
///
/// Reductions of a broadcast input's gradient (e.g. the bias of `Add` with a row broadcast)
/// are [`crate::isa::ReduceDesc`] ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    MulAdd,
    Compare(CmpOp),
}

impl BinaryOp {
    /// Lower-case name used in kernel names.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::MulAdd => "muladd",
            BinaryOp::Compare(CmpOp::Gt) => "cmp_gt",
            BinaryOp::Compare(CmpOp::Ge) => "cmp_ge",
            BinaryOp::Compare(CmpOp::Lt) => "cmp_lt",
            BinaryOp::Compare(CmpOp::Le) => "cmp_le",
            BinaryOp::Compare(CmpOp::Eq) => "cmp_eq",
            BinaryOp::Compare(CmpOp::Ne) => "cmp_ne",
        }
    }

    fn code(self) -> u8 {
        match self {
            BinaryOp::Add => 0,
            BinaryOp::Sub => 1,
            BinaryOp::Mul => 2,
            BinaryOp::Div => 3,
            BinaryOp::Max => 4,
            BinaryOp::Min => 5,
            BinaryOp::MulAdd => 6,
            BinaryOp::Compare(_) => 7,
        }
    }

    /// True for the comparisons, which write a bitmask.
    pub fn is_compare(self) -> bool {
        matches!(self, BinaryOp::Compare(_))
    }
}

/// A binary TPP over a `rows × cols` row-major space.
///
/// `in0`/`in1` are `rows × cols` with `ld_in0`/`ld_in1`, or broadcast vectors; `out` is
/// `rows × cols` with `ld_out`, or for comparisons a bitmask with `ld_out` bits (a multiple
/// of 8) whose `out_dtype` is `U8`. Inputs and outputs are any floating dtype; `out` may
/// alias a non-broadcast input of the same dtype and leading dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryDesc {
    /// The operation.
    pub op: BinaryOp,
    /// Rows of the space.
    pub rows: usize,
    /// Columns of the space.
    pub cols: usize,
    /// Leading dimension of `in0`.
    pub ld_in0: usize,
    /// Leading dimension of `in1`.
    pub ld_in1: usize,
    /// Leading dimension of `out` (bits for comparisons).
    pub ld_out: usize,
    /// Dtype of `in0`.
    pub in0_dtype: DType,
    /// Dtype of `in1`.
    pub in1_dtype: DType,
    /// Dtype of the arithmetic (f32 or f64).
    pub compute_dtype: DType,
    /// Dtype of `out` (`U8` for comparisons).
    pub out_dtype: DType,
    /// How `in0` covers the space.
    pub broadcast0: Broadcast,
    /// How `in1` covers the space.
    pub broadcast1: Broadcast,
}

impl BinaryDesc {
    /// `op` over packed `rows × cols` operands of `dtype`.
    pub fn new(op: BinaryOp, rows: usize, cols: usize, dtype: DType) -> BinaryDesc {
        let (ld_out, out_dtype) = if op.is_compare() {
            (bitmask::default_ld(cols), DType::U8)
        } else {
            (cols, dtype)
        };
        BinaryDesc {
            op,
            rows,
            cols,
            ld_in0: cols,
            ld_in1: cols,
            ld_out,
            in0_dtype: dtype,
            in1_dtype: dtype,
            compute_dtype: dtype.default_compute(),
            out_dtype,
            broadcast0: Broadcast::None,
            broadcast1: Broadcast::None,
        }
    }

    /// Sets the three leading dimensions.
    pub fn ld(mut self, ld_in0: usize, ld_in1: usize, ld_out: usize) -> Self {
        (self.ld_in0, self.ld_in1, self.ld_out) = (ld_in0, ld_in1, ld_out);
        self
    }
    /// Sets the broadcasts of both inputs.
    pub fn broadcast(mut self, b0: Broadcast, b1: Broadcast) -> Self {
        (self.broadcast0, self.broadcast1) = (b0, b1);
        self
    }
    /// Sets the dtypes of in0, in1, the arithmetic and out.
    pub fn dtypes(mut self, in0: DType, in1: DType, compute: DType, out: DType) -> Self {
        (
            self.in0_dtype,
            self.in1_dtype,
            self.compute_dtype,
            self.out_dtype,
        ) = (in0, in1, compute, out);
        self
    }

    /// Elements `in0` must hold.
    pub fn in0_len(&self) -> usize {
        self.broadcast0.len(self.rows, self.cols, self.ld_in0)
    }
    /// Elements `in1` must hold.
    pub fn in1_len(&self) -> usize {
        self.broadcast1.len(self.rows, self.cols, self.ld_in1)
    }
    /// Elements (bytes, for comparisons) `out` must hold.
    pub fn out_len(&self) -> usize {
        if self.op.is_compare() {
            bitmask::bytes(self.rows, self.cols, self.ld_out)
        } else {
            crate::isa::matrix_len(self.rows, self.cols, self.ld_out)
        }
    }

    /// Nominal flop count: one per element (two for `MulAdd`).
    pub fn flops(&self) -> u64 {
        let per: u64 = if self.op == BinaryOp::MulAdd { 2 } else { 1 };
        per.saturating_mul(self.rows as u64)
            .saturating_mul(self.cols as u64)
    }

    /// Bytes a call reads and writes.
    pub fn bytes(&self) -> u64 {
        let e = self.rows as u128 * self.cols as u128;
        let out = if self.op.is_compare() {
            e.div_ceil(8)
        } else {
            let rw = if self.op == BinaryOp::MulAdd { 2 } else { 1 };
            rw * e * self.out_dtype.size() as u128
        };
        let input = |b: Broadcast, d: DType| {
            b.len(self.rows, self.cols, self.cols) as u128 * d.size() as u128
        };
        key::saturate(
            out + input(self.broadcast0, self.in0_dtype) + input(self.broadcast1, self.in1_dtype),
        )
    }

    /// Checks every field against the ISA.
    pub fn validate(&self) -> Result<()> {
        let ck = Check { family: "binary" };
        ck.dim("rows", self.rows)?;
        ck.dim("cols", self.cols)?;
        for (field, ld, b, dt) in [
            ("ld_in0", self.ld_in0, self.broadcast0, self.in0_dtype),
            ("ld_in1", self.ld_in1, self.broadcast1, self.in1_dtype),
        ] {
            if b == Broadcast::None {
                ck.ld(field, ld, self.cols, "cols")?;
                ck.extent(field, self.rows, ld, dt)?;
            }
        }
        ck.float("in0_dtype", self.in0_dtype)?;
        ck.float("in1_dtype", self.in1_dtype)?;
        ck.compute(self.compute_dtype)?;
        if self.op.is_compare() {
            if self.out_dtype != DType::U8 {
                return Err(ck.err(
                    "out_dtype",
                    self.out_dtype,
                    "u8 (comparisons write a bitmask)",
                ));
            }
            ck.mask_ld("ld_out", self.ld_out, self.cols, self.rows)
        } else {
            ck.float("out_dtype", self.out_dtype)?;
            ck.ld("ld_out", self.ld_out, self.cols, "cols")?;
            ck.extent("ld_out", self.rows, self.ld_out, self.out_dtype)
        }
    }

    /// Equivalent descriptors normalised to one cache entry.
    pub fn canonical(&self) -> BinaryDesc {
        let mut d = *self;
        if d.broadcast0 != Broadcast::None {
            d.ld_in0 = d.cols;
        }
        if d.broadcast1 != Broadcast::None {
            d.ld_in1 = d.cols;
        }
        d
    }

    /// A name that says what the kernel computes, e.g. `binary_reference_add_f32_64x64`.
    pub fn kernel_name(&self, backend: &str) -> String {
        format!(
            "binary_{backend}_{}_{}_{}x{}{}{}",
            self.op.name(),
            self.in0_dtype,
            self.rows,
            self.cols,
            self.broadcast0.tag().replace("_bcast", "_a"),
            self.broadcast1.tag().replace("_bcast", "_b"),
        )
    }
}

impl Hash for BinaryDesc {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (op, cmp) = match self.op {
            BinaryOp::Compare(c) => (7, c as u8),
            op => (op.code(), 0),
        };
        key::write(
            state,
            [
                key::pack3(self.rows, self.cols, self.ld_out),
                key::pack3(self.ld_in0, self.ld_in1, 0)
                    ^ key::codes([
                        op,
                        cmp,
                        self.in0_dtype as u8,
                        self.in1_dtype as u8,
                        self.compute_dtype as u8,
                        self.out_dtype as u8,
                        self.broadcast0 as u8 | (self.broadcast1 as u8) << 4,
                    ]),
            ],
        );
    }
}
