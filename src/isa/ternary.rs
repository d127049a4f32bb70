//! Ternary TPPs: fused multiply-add forms and select-by-mask.

use crate::error::Result;
use crate::isa::key;
use crate::isa::matrix::{bitmask, Check};
use crate::isa::{Broadcast, DType};
use std::hash::{Hash, Hasher};

/// The operation of a ternary TPP, with `a = in0(i, j)`, `b = in1(i, j)`, `c = in2(i, j)`.
///
/// | op | `out(i, j)` | backward |
/// |---|---|---|
/// | `MulAdd` | `a·b + c` | `da = dy·b`, `db = dy·a`, `dc = dy` |
/// | `NMulAdd` | `c − a·b` | `da = −dy·b`, `db = −dy·a`, `dc = dy` |
/// | `Select` | `mask(i, j) ? a : b` (`in2` unused; the mask is a bitmask operand) | `da = mask ? dy : 0`, `db = mask ? 0 : dy` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TernaryOp {
    MulAdd,
    NMulAdd,
    Select,
}

impl TernaryOp {
    /// Lower-case name used in kernel names.
    pub fn name(self) -> &'static str {
        match self {
            TernaryOp::MulAdd => "muladd",
            TernaryOp::NMulAdd => "nmuladd",
            TernaryOp::Select => "select",
        }
    }

    /// Number of matrix inputs the op reads (2 for select, which also reads a mask).
    pub fn inputs(self) -> usize {
        if self == TernaryOp::Select {
            2
        } else {
            3
        }
    }
}

/// A ternary TPP over a `rows × cols` row-major space.
///
/// Each input is `rows × cols` with its own leading dimension, or a broadcast vector; `out` is
/// `rows × cols` with `ld_out` and may alias a non-broadcast input of the same dtype and
/// leading dimension (`out = a·b + out` is `MulAdd` with `in2` aliasing `out`). `Select` reads
/// a bitmask with `mask_ld` bits per row. All dtypes are floating; compute is f32 or f64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TernaryDesc {
    /// The operation.
    pub op: TernaryOp,
    /// Rows of the space.
    pub rows: usize,
    /// Columns of the space.
    pub cols: usize,
    /// Leading dimensions of in0, in1, in2.
    pub ld_in: [usize; 3],
    /// Leading dimension of out.
    pub ld_out: usize,
    /// Dtypes of in0, in1, in2.
    pub in_dtypes: [DType; 3],
    /// Dtype of the arithmetic.
    pub compute_dtype: DType,
    /// Dtype of out.
    pub out_dtype: DType,
    /// Broadcasts of in0, in1, in2.
    pub broadcasts: [Broadcast; 3],
    /// Leading dimension (bits) of the select mask.
    pub mask_ld: usize,
}

impl TernaryDesc {
    /// `op` over packed `rows × cols` operands of `dtype`.
    pub fn new(op: TernaryOp, rows: usize, cols: usize, dtype: DType) -> TernaryDesc {
        TernaryDesc {
            op,
            rows,
            cols,
            ld_in: [cols; 3],
            ld_out: cols,
            in_dtypes: [dtype; 3],
            compute_dtype: dtype.default_compute(),
            out_dtype: dtype,
            broadcasts: [Broadcast::None; 3],
            mask_ld: bitmask::default_ld(cols),
        }
    }

    /// Sets the broadcasts of the three inputs.
    pub fn broadcast(mut self, b: [Broadcast; 3]) -> Self {
        self.broadcasts = b;
        self
    }

    /// Elements input `i` must hold.
    pub fn in_len(&self, i: usize) -> usize {
        self.broadcasts[i].len(self.rows, self.cols, self.ld_in[i])
    }

    /// Elements `out` must hold.
    pub fn out_len(&self) -> usize {
        crate::isa::matrix_len(self.rows, self.cols, self.ld_out)
    }

    /// Nominal flop count: two per element for the multiply-adds, zero for select.
    pub fn flops(&self) -> u64 {
        let per: u64 = if self.op == TernaryOp::Select { 0 } else { 2 };
        per.saturating_mul(self.rows as u64)
            .saturating_mul(self.cols as u64)
    }

    /// Bytes a call reads and writes.
    pub fn bytes(&self) -> u64 {
        let e = self.rows as u128 * self.cols as u128;
        let mut b = e * self.out_dtype.size() as u128;
        for i in 0..self.op.inputs() {
            b += self.broadcasts[i].len(self.rows, self.cols, self.cols) as u128
                * self.in_dtypes[i].size() as u128;
        }
        key::saturate(b)
    }

    /// Checks every field against the ISA.
    pub fn validate(&self) -> Result<()> {
        let ck = Check { family: "ternary" };
        ck.dim("rows", self.rows)?;
        ck.dim("cols", self.cols)?;
        const LD: [&str; 3] = ["ld_in[0]", "ld_in[1]", "ld_in[2]"];
        const DT: [&str; 3] = ["in_dtypes[0]", "in_dtypes[1]", "in_dtypes[2]"];
        for i in 0..self.op.inputs() {
            ck.float(DT[i], self.in_dtypes[i])?;
            if self.broadcasts[i] == Broadcast::None {
                ck.ld(LD[i], self.ld_in[i], self.cols, "cols")?;
                ck.extent(LD[i], self.rows, self.ld_in[i], self.in_dtypes[i])?;
            }
        }
        ck.compute(self.compute_dtype)?;
        ck.float("out_dtype", self.out_dtype)?;
        ck.ld("ld_out", self.ld_out, self.cols, "cols")?;
        ck.extent("ld_out", self.rows, self.ld_out, self.out_dtype)?;
        if self.op == TernaryOp::Select {
            ck.mask_ld("mask_ld", self.mask_ld, self.cols, self.rows)?;
        }
        Ok(())
    }

    /// Equivalent descriptors normalised to one cache entry.
    pub fn canonical(&self) -> TernaryDesc {
        let mut d = *self;
        for i in 0..3 {
            if d.broadcasts[i] != Broadcast::None || i >= d.op.inputs() {
                d.ld_in[i] = d.cols;
            }
        }
        if d.op == TernaryOp::Select {
            d.in_dtypes[2] = d.in_dtypes[0];
            d.broadcasts[2] = Broadcast::None;
        } else {
            d.mask_ld = 0;
        }
        d
    }

    /// A name that says what the kernel computes, e.g. `ternary_reference_muladd_f32_64x64`.
    pub fn kernel_name(&self, backend: &str) -> String {
        let mut s = format!(
            "ternary_{backend}_{}_{}_{}x{}",
            self.op.name(),
            self.in_dtypes[0],
            self.rows,
            self.cols
        );
        for (i, b) in self.broadcasts.iter().enumerate().take(self.op.inputs()) {
            if *b != Broadcast::None {
                s += &b.tag().replace("_bcast", &format!("_in{i}"));
            }
        }
        s
    }
}

impl Hash for TernaryDesc {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [b0, b1, b2] = self.broadcasts.map(|b| b as u8);
        let [d0, d1, d2] = self.in_dtypes.map(|d| d as u8);
        key::write(
            state,
            [
                key::pack3(self.rows, self.cols, self.ld_out),
                key::pack3(self.ld_in[0], self.ld_in[1], self.ld_in[2]),
                key::pack3(self.mask_ld, 0, 0)
                    ^ key::codes([
                        self.op as u8,
                        d0,
                        d1,
                        d2,
                        self.compute_dtype as u8,
                        self.out_dtype as u8,
                        b0 | b1 << 2 | b2 << 4,
                    ]),
            ],
        );
    }
}
