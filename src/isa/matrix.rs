//! Operand shapes shared by every family: row-major matrices, broadcast vectors, VNNI layouts,
//! bitmasks, and the checks that keep their extents addressable.
//!
//! An operand is a row-major 2D matrix `(rows, cols, ld, dtype)`: element `(i, j)` lives at
//! `base + i*ld + j` (in elements), with `ld >= cols`.

use crate::error::{Error, Result};
use crate::isa::DType;

/// Largest value any size or leading dimension may take (sizes travel as 32-bit ints in the
/// kernel ABIs of the JIT backends and the C API).
pub const MAX_DIM: usize = i32::MAX as usize;

/// How an input operand covers the `rows × cols` iteration space of an elementwise TPP.
///
/// A broadcast operand is a dense vector (its leading dimension is not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Broadcast {
    /// A full `rows × cols` matrix with its own leading dimension.
    #[default]
    None,
    /// A single row of `cols` contiguous elements, repeated down every row: `x(i, j) = v[j]`.
    Row,
    /// A single column of `rows` contiguous elements, repeated across every column:
    /// `x(i, j) = v[i]`.
    Col,
    /// One element used everywhere: `x(i, j) = v[0]`.
    Scalar,
}

impl Broadcast {
    /// Elements the operand must hold for a `rows × cols` space with leading dimension `ld`.
    pub fn len(self, rows: usize, cols: usize, ld: usize) -> usize {
        match self {
            Broadcast::None => matrix_len(rows, cols, ld),
            Broadcast::Row => cols,
            Broadcast::Col => rows,
            Broadcast::Scalar => 1,
        }
    }

    /// Element offset of `(i, j)` inside the operand.
    #[inline]
    pub fn offset(self, i: usize, j: usize, ld: usize) -> usize {
        match self {
            Broadcast::None => i * ld + j,
            Broadcast::Row => j,
            Broadcast::Col => i,
            Broadcast::Scalar => 0,
        }
    }

    pub(crate) fn tag(self) -> &'static str {
        match self {
            Broadcast::None => "",
            Broadcast::Row => "_bcastrow",
            Broadcast::Col => "_bcastcol",
            Broadcast::Scalar => "_bcastscalar",
        }
    }
}

/// Storage order of a GEMM operand (B or C) or of the output of a VNNI pack.
///
/// **VNNI-V layout** (V = 2 for bf16/f16, 4 for int8) of a logical `K × N` matrix with leading
/// dimension `ld` (counted in logical columns, `ld >= N`): element `(k, n)` lives at
/// `(k / V) * (ld * V) + n * V + k % V`. Each packed row holds V consecutive k values of every
/// column side by side, which is what `vdpbf16ps`, `vpdpbusd` and AMX tiles read. K must be a
/// multiple of V in a GEMM operand; [`crate::isa::UnaryOp::VnniPack`] zero-pads a ragged K.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Plain row-major.
    #[default]
    RowMajor,
    /// Pairs of consecutive rows interleaved (bf16, f16).
    Vnni2,
    /// Quads of consecutive rows interleaved (int8).
    Vnni4,
}

impl Layout {
    /// Rows interleaved per packed row: 1, 2 or 4.
    pub const fn factor(self) -> usize {
        match self {
            Layout::RowMajor => 1,
            Layout::Vnni2 => 2,
            Layout::Vnni4 => 4,
        }
    }

    /// Element offset of logical `(r, c)` in a matrix of this layout with leading dimension `ld`.
    #[inline]
    pub fn offset(self, r: usize, c: usize, ld: usize) -> usize {
        let v = self.factor();
        (r / v) * (ld * v) + c * v + r % v
    }

    /// Elements a `rows × cols` matrix of this layout spans (rows rounded up to the factor).
    pub fn len(self, rows: usize, cols: usize, ld: usize) -> usize {
        let v = self.factor();
        let packed = rows.div_ceil(v);
        if packed == 0 || cols == 0 {
            0
        } else {
            (packed - 1)
                .saturating_mul(ld)
                .saturating_mul(v)
                .saturating_add(cols.saturating_mul(v))
        }
    }

    pub(crate) fn tag(self) -> &'static str {
        match self {
            Layout::RowMajor => "",
            Layout::Vnni2 => "_vnni2",
            Layout::Vnni4 => "_vnni4",
        }
    }
}

/// Elements a row-major `rows × cols` matrix with leading dimension `ld` spans (saturating, so
/// that garbage sizes give a huge extent rather than a panic).
#[inline]
pub fn matrix_len(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1).saturating_mul(ld).saturating_add(cols)
    }
}

/// Bitmask operands (relu and dropout masks, compare results, select conditions).
///
/// One bit per element, row-major, least significant bit first: element `(i, j)` is bit
/// `(i*ld + j) % 8` of byte `(i*ld + j) / 8`, where `ld` is counted in bits, is at least `cols`
/// and is a multiple of 8 (so every row starts on a byte). A set bit means "true"/"kept".
///
/// A kernel that writes a mask writes every byte holding bits of its rows (the padding bits of
/// a row's last byte, columns `cols..` up to the byte boundary, as 0) and no other byte.
pub mod bitmask {
    /// Bytes a `rows × cols` mask with leading dimension `ld` (bits) spans.
    pub fn bytes(rows: usize, cols: usize, ld: usize) -> usize {
        super::matrix_len(rows, cols, ld).div_ceil(8)
    }

    /// The default mask leading dimension for `cols` columns: `cols` rounded up to 8.
    pub fn default_ld(cols: usize) -> usize {
        // Out-of-range sizes saturate; validation then rejects them with a proper error.
        cols.checked_next_multiple_of(8).unwrap_or(usize::MAX)
    }

    /// Reads bit `(i, j)`.
    #[inline]
    pub fn get(mask: &[u8], i: usize, j: usize, ld: usize) -> bool {
        let b = i * ld + j;
        mask[b / 8] >> (b % 8) & 1 == 1
    }

    /// Writes bit `(i, j)`.
    #[inline]
    pub fn set(mask: &mut [u8], i: usize, j: usize, ld: usize, on: bool) {
        let b = i * ld + j;
        let bit = 1u8 << (b % 8);
        if on {
            mask[b / 8] |= bit;
        } else {
            mask[b / 8] &= !bit;
        }
    }
}

/// Field checks shared by the validators of every family.
pub(crate) struct Check {
    pub family: &'static str,
}

impl Check {
    pub fn err(
        &self,
        field: &'static str,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Error {
        Error::desc(self.family, field, value, allowed)
    }

    /// A size must be in `1..=MAX_DIM`.
    pub fn dim(&self, field: &'static str, v: usize) -> Result<()> {
        if v == 0 || v > MAX_DIM {
            return Err(self.err(field, v, format!("1..={MAX_DIM}")));
        }
        Ok(())
    }

    /// A leading dimension must cover the row it strides over, and stay a valid size.
    pub fn ld(&self, field: &'static str, ld: usize, min: usize, what: &str) -> Result<()> {
        if ld < min || ld > MAX_DIM {
            return Err(self.err(field, ld, format!("{min}..={MAX_DIM} (>= {what})")));
        }
        Ok(())
    }

    /// The bytes an operand spans must be addressable (fit in `isize`).
    pub fn extent(&self, field: &'static str, rows: usize, ld: usize, dtype: DType) -> Result<()> {
        let bytes = rows
            .checked_mul(ld)
            .and_then(|e| e.checked_mul(dtype.size()))
            .filter(|&b| b <= isize::MAX as usize);
        if bytes.is_none() {
            return Err(self.err(
                field,
                format!("{rows} rows × {ld} ({dtype})"),
                "an operand of at most isize::MAX bytes",
            ));
        }
        Ok(())
    }

    /// A bitmask leading dimension: at least `cols`, a multiple of 8.
    pub fn mask_ld(&self, field: &'static str, ld: usize, cols: usize, rows: usize) -> Result<()> {
        if ld < cols || !ld.is_multiple_of(8) || ld > MAX_DIM {
            return Err(self.err(
                field,
                ld,
                format!("a multiple of 8, >= cols ({cols}), <= {MAX_DIM}"),
            ));
        }
        self.extent(field, rows, ld.div_ceil(8), DType::U8)
    }

    /// Only floating dtypes are allowed here.
    pub fn float(&self, field: &'static str, d: DType) -> Result<()> {
        if !d.is_float() {
            return Err(self.err(field, d, "f64, f32, bf16 or f16"));
        }
        Ok(())
    }

    /// The compute dtype of an elementwise op: f32, or f64.
    pub fn compute(&self, d: DType) -> Result<()> {
        if !matches!(d, DType::F32 | DType::F64) {
            return Err(self.err("compute_dtype", d, "f32 or f64"));
        }
        Ok(())
    }

    /// A scalar parameter must be finite.
    pub fn finite(&self, field: &'static str, v: f64) -> Result<()> {
        if !v.is_finite() {
            return Err(self.err(field, v, "a finite number"));
        }
        Ok(())
    }
}
