//! The integer codes of the C ABI and their conversions (an unknown code is an error naming
//! the field and the allowed range, never undefined behaviour).

use super::Fail;
use crate::isa::{
    Activation, BinaryOp, Broadcast, CmpOp, DType, Layout, ReduceAxis, ReduceOp, TernaryOp, UnaryOp,
};

/// IEEE binary64.
pub const TPP_DTYPE_F64: i32 = 0;
/// IEEE binary32.
pub const TPP_DTYPE_F32: i32 = 1;
/// bfloat16.
pub const TPP_DTYPE_BF16: i32 = 2;
/// IEEE binary16.
pub const TPP_DTYPE_F16: i32 = 3;
/// Signed 32-bit integer.
pub const TPP_DTYPE_I32: i32 = 4;
/// Signed 8-bit integer.
pub const TPP_DTYPE_I8: i32 = 5;
/// Unsigned 8-bit integer.
pub const TPP_DTYPE_U8: i32 = 6;

/// Row-major storage.
pub const TPP_LAYOUT_ROW_MAJOR: i32 = 0;
/// VNNI2: pairs of rows interleaved (bf16/f16).
pub const TPP_LAYOUT_VNNI2: i32 = 1;
/// VNNI4: quads of rows interleaved (int8).
pub const TPP_LAYOUT_VNNI4: i32 = 2;

/// No broadcast: a full matrix.
pub const TPP_BCAST_NONE: i32 = 0;
/// A row vector of `cols` values, for every row.
pub const TPP_BCAST_ROW: i32 = 1;
/// A column vector of `rows` values, for every column.
pub const TPP_BCAST_COL: i32 = 2;
/// One value everywhere.
pub const TPP_BCAST_SCALAR: i32 = 3;

/// Batch-reduce: plain GEMM.
pub const TPP_BATCH_NONE: i32 = 0;
/// Batch-reduce by element strides.
pub const TPP_BATCH_STRIDE: i32 = 1;
/// Batch-reduce by arrays of element offsets.
pub const TPP_BATCH_OFFSETS: i32 = 2;
/// Batch-reduce by arrays of addresses.
pub const TPP_BATCH_ADDRESSES: i32 = 3;

/// No bias.
pub const TPP_BIAS_NONE: i32 = 0;
/// A bias row of `n` values: `C(i, j) += bias[j]`.
pub const TPP_BIAS_ROW: i32 = 1;
/// A bias column of `m` values: `C(i, j) += bias[i]`.
pub const TPP_BIAS_COL: i32 = 2;

/// Epilogue activations (`activation_alpha` is the slope / scale of leaky relu and elu).
pub const TPP_ACT_NONE: i32 = 0;
/// relu.
pub const TPP_ACT_RELU: i32 = 1;
/// relu writing a bitmask of the positive results.
pub const TPP_ACT_RELU_MASK: i32 = 2;
/// leaky relu.
pub const TPP_ACT_LEAKY_RELU: i32 = 3;
/// elu.
pub const TPP_ACT_ELU: i32 = 4;
/// tanh-approximate gelu.
pub const TPP_ACT_GELU: i32 = 5;
/// exact (erf) gelu.
pub const TPP_ACT_GELU_ERF: i32 = 6;
/// sigmoid.
pub const TPP_ACT_SIGMOID: i32 = 7;
/// tanh.
pub const TPP_ACT_TANH: i32 = 8;
/// silu.
pub const TPP_ACT_SILU: i32 = 9;

/// Kernel families (`tpp_kernel_info.family`).
pub const TPP_FAMILY_GEMM: i32 = 0;
/// Unary kernels.
pub const TPP_FAMILY_UNARY: i32 = 1;
/// Binary kernels.
pub const TPP_FAMILY_BINARY: i32 = 2;
/// Ternary kernels.
pub const TPP_FAMILY_TERNARY: i32 = 3;
/// Reduce kernels.
pub const TPP_FAMILY_REDUCE: i32 = 4;
/// Equation kernels.
pub const TPP_FAMILY_EQUATION: i32 = 5;

/// Unary ops (`tpp_unary_desc.op`; `mask` selects the bitmask forms of relu and leaky relu,
/// `param` is alpha of leaky relu / elu or p of dropout, `layout` the VNNI layout).
pub const TPP_UNARY_IDENTITY: i32 = 0;
/// out = 0.
pub const TPP_UNARY_ZERO: i32 = 1;
/// out = −x.
pub const TPP_UNARY_NEGATE: i32 = 2;
/// out = |x|.
pub const TPP_UNARY_ABS: i32 = 3;
/// out = x².
pub const TPP_UNARY_SQUARE: i32 = 4;
/// out = √x.
pub const TPP_UNARY_SQRT: i32 = 5;
/// out = 1/x.
pub const TPP_UNARY_RECIPROCAL: i32 = 6;
/// out = 1/√x.
pub const TPP_UNARY_RSQRT: i32 = 7;
/// out = x + 1.
pub const TPP_UNARY_INCREMENT: i32 = 8;
/// out = eˣ.
pub const TPP_UNARY_EXP: i32 = 9;
/// out = tanh x.
pub const TPP_UNARY_TANH: i32 = 10;
/// Backward of tanh (reads aux).
pub const TPP_UNARY_TANH_BWD: i32 = 11;
/// out = σ(x).
pub const TPP_UNARY_SIGMOID: i32 = 12;
/// Backward of sigmoid (reads aux).
pub const TPP_UNARY_SIGMOID_BWD: i32 = 13;
/// tanh-approximate gelu.
pub const TPP_UNARY_GELU: i32 = 14;
/// Backward of gelu (reads aux).
pub const TPP_UNARY_GELU_BWD: i32 = 15;
/// exact gelu.
pub const TPP_UNARY_GELU_ERF: i32 = 16;
/// Backward of exact gelu (reads aux).
pub const TPP_UNARY_GELU_ERF_BWD: i32 = 17;
/// relu (`mask`: write the bitmask).
pub const TPP_UNARY_RELU: i32 = 18;
/// Backward of relu (`mask`: read the bitmask instead of aux).
pub const TPP_UNARY_RELU_BWD: i32 = 19;
/// leaky relu with slope `param`.
pub const TPP_UNARY_LEAKY_RELU: i32 = 20;
/// Backward of leaky relu.
pub const TPP_UNARY_LEAKY_RELU_BWD: i32 = 21;
/// elu with scale `param`.
pub const TPP_UNARY_ELU: i32 = 22;
/// Backward of elu (reads aux).
pub const TPP_UNARY_ELU_BWD: i32 = 23;
/// silu.
pub const TPP_UNARY_SILU: i32 = 24;
/// Backward of silu (reads aux).
pub const TPP_UNARY_SILU_BWD: i32 = 25;
/// dropout with probability `param` (seed in the call arguments; writes the mask).
pub const TPP_UNARY_DROPOUT: i32 = 26;
/// Backward of dropout (reads the mask).
pub const TPP_UNARY_DROPOUT_BWD: i32 = 27;
/// Transpose.
pub const TPP_UNARY_TRANSPOSE: i32 = 28;
/// Pack into the VNNI `layout`.
pub const TPP_UNARY_VNNI_PACK: i32 = 29;
/// Unpack from the VNNI `layout`.
pub const TPP_UNARY_VNNI_UNPACK: i32 = 30;
/// `out(i, :) = in(idx[i], :)`.
pub const TPP_UNARY_GATHER_ROWS: i32 = 31;
/// `out(i, j) = in(i, idx[j])`.
pub const TPP_UNARY_GATHER_COLS: i32 = 32;
/// `out(idx[i], :) = in(i, :)`.
pub const TPP_UNARY_SCATTER_ROWS: i32 = 33;
/// `out(i, idx[j]) = in(i, j)`.
pub const TPP_UNARY_SCATTER_COLS: i32 = 34;

/// Binary ops.
pub const TPP_BINARY_ADD: i32 = 0;
/// a − b.
pub const TPP_BINARY_SUB: i32 = 1;
/// a · b.
pub const TPP_BINARY_MUL: i32 = 2;
/// a / b.
pub const TPP_BINARY_DIV: i32 = 3;
/// max(a, b).
pub const TPP_BINARY_MAX: i32 = 4;
/// min(a, b).
pub const TPP_BINARY_MIN: i32 = 5;
/// out += a · b.
pub const TPP_BINARY_MULADD: i32 = 6;
/// Bitmask of a > b.
pub const TPP_BINARY_CMP_GT: i32 = 7;
/// Bitmask of a ≥ b.
pub const TPP_BINARY_CMP_GE: i32 = 8;
/// Bitmask of a < b.
pub const TPP_BINARY_CMP_LT: i32 = 9;
/// Bitmask of a ≤ b.
pub const TPP_BINARY_CMP_LE: i32 = 10;
/// Bitmask of a = b.
pub const TPP_BINARY_CMP_EQ: i32 = 11;
/// Bitmask of a ≠ b.
pub const TPP_BINARY_CMP_NE: i32 = 12;

/// Ternary ops: a · b + c.
pub const TPP_TERNARY_MULADD: i32 = 0;
/// c − a · b.
pub const TPP_TERNARY_NMULADD: i32 = 1;
/// mask ? a : b.
pub const TPP_TERNARY_SELECT: i32 = 2;

/// Reduce ops: sum.
pub const TPP_REDUCE_SUM: i32 = 0;
/// Maximum.
pub const TPP_REDUCE_MAX: i32 = 1;
/// Minimum.
pub const TPP_REDUCE_MIN: i32 = 2;
/// Maximum of absolute values.
pub const TPP_REDUCE_ABSMAX: i32 = 3;
/// Sum of squares.
pub const TPP_REDUCE_SUMSQ: i32 = 4;
/// Sum and sum of squares (two output vectors).
pub const TPP_REDUCE_SUM_SUMSQ: i32 = 5;
/// Reduce along each row (one value per row).
pub const TPP_AXIS_PER_ROW: i32 = 0;
/// Reduce along each column (one value per column).
pub const TPP_AXIS_PER_COL: i32 = 1;

fn unknown<T>(field: &str, code: i32, allowed: &str) -> Result<T, Fail> {
    Err(Fail::arg(format!(
        "{field} = {code} is not a code of {allowed}"
    )))
}

/// A size from C: non-negative.
pub(crate) fn size(field: &str, v: i64) -> Result<usize, Fail> {
    usize::try_from(v).map_err(|_| Fail::arg(format!("{field} = {v} is negative")))
}

pub(crate) fn dtype(field: &str, code: i32) -> Result<DType, Fail> {
    let all = DType::ALL;
    match usize::try_from(code).ok().and_then(|i| all.get(i)) {
        Some(&d) => Ok(d),
        None => unknown(field, code, "TPP_DTYPE_* (0..=6)"),
    }
}

/// The C code of a dtype.
pub(crate) fn dtype_code(d: DType) -> i32 {
    DType::ALL.iter().position(|&x| x == d).unwrap_or(0) as i32
}

pub(crate) fn layout(field: &str, code: i32) -> Result<Layout, Fail> {
    match code {
        TPP_LAYOUT_ROW_MAJOR => Ok(Layout::RowMajor),
        TPP_LAYOUT_VNNI2 => Ok(Layout::Vnni2),
        TPP_LAYOUT_VNNI4 => Ok(Layout::Vnni4),
        _ => unknown(field, code, "TPP_LAYOUT_* (0..=2)"),
    }
}

pub(crate) fn broadcast(field: &str, code: i32) -> Result<Broadcast, Fail> {
    match code {
        TPP_BCAST_NONE => Ok(Broadcast::None),
        TPP_BCAST_ROW => Ok(Broadcast::Row),
        TPP_BCAST_COL => Ok(Broadcast::Col),
        TPP_BCAST_SCALAR => Ok(Broadcast::Scalar),
        _ => unknown(field, code, "TPP_BCAST_* (0..=3)"),
    }
}

pub(crate) fn activation(code: i32, alpha: f32) -> Result<Activation, Fail> {
    Ok(match code {
        TPP_ACT_NONE => Activation::None,
        TPP_ACT_RELU => Activation::Relu { mask: false },
        TPP_ACT_RELU_MASK => Activation::Relu { mask: true },
        TPP_ACT_LEAKY_RELU => Activation::LeakyRelu { alpha },
        TPP_ACT_ELU => Activation::Elu { alpha },
        TPP_ACT_GELU => Activation::Gelu,
        TPP_ACT_GELU_ERF => Activation::GeluErf,
        TPP_ACT_SIGMOID => Activation::Sigmoid,
        TPP_ACT_TANH => Activation::Tanh,
        TPP_ACT_SILU => Activation::Silu,
        _ => return unknown("activation", code, "TPP_ACT_* (0..=9)"),
    })
}

pub(crate) fn unary_op(code: i32, mask: bool, param: f32, layout: Layout) -> Result<UnaryOp, Fail> {
    use UnaryOp::*;
    let alpha = param;
    Ok(match code {
        TPP_UNARY_IDENTITY => Identity,
        TPP_UNARY_ZERO => Zero,
        TPP_UNARY_NEGATE => Negate,
        TPP_UNARY_ABS => Abs,
        TPP_UNARY_SQUARE => Square,
        TPP_UNARY_SQRT => Sqrt,
        TPP_UNARY_RECIPROCAL => Reciprocal,
        TPP_UNARY_RSQRT => Rsqrt,
        TPP_UNARY_INCREMENT => Increment,
        TPP_UNARY_EXP => Exp,
        TPP_UNARY_TANH => Tanh,
        TPP_UNARY_TANH_BWD => TanhBackward,
        TPP_UNARY_SIGMOID => Sigmoid,
        TPP_UNARY_SIGMOID_BWD => SigmoidBackward,
        TPP_UNARY_GELU => Gelu,
        TPP_UNARY_GELU_BWD => GeluBackward,
        TPP_UNARY_GELU_ERF => GeluErf,
        TPP_UNARY_GELU_ERF_BWD => GeluErfBackward,
        TPP_UNARY_RELU => Relu { mask },
        TPP_UNARY_RELU_BWD => ReluBackward { mask },
        TPP_UNARY_LEAKY_RELU => LeakyRelu { alpha, mask },
        TPP_UNARY_LEAKY_RELU_BWD => LeakyReluBackward { alpha, mask },
        TPP_UNARY_ELU => Elu { alpha },
        TPP_UNARY_ELU_BWD => EluBackward { alpha },
        TPP_UNARY_SILU => Silu,
        TPP_UNARY_SILU_BWD => SiluBackward,
        TPP_UNARY_DROPOUT => Dropout { p: param },
        TPP_UNARY_DROPOUT_BWD => DropoutBackward { p: param },
        TPP_UNARY_TRANSPOSE => Transpose,
        TPP_UNARY_VNNI_PACK => VnniPack { layout },
        TPP_UNARY_VNNI_UNPACK => VnniUnpack { layout },
        TPP_UNARY_GATHER_ROWS => GatherRows,
        TPP_UNARY_GATHER_COLS => GatherCols,
        TPP_UNARY_SCATTER_ROWS => ScatterRows,
        TPP_UNARY_SCATTER_COLS => ScatterCols,
        _ => return unknown("op", code, "TPP_UNARY_* (0..=34)"),
    })
}

pub(crate) fn binary_op(code: i32) -> Result<BinaryOp, Fail> {
    use BinaryOp::*;
    Ok(match code {
        TPP_BINARY_ADD => Add,
        TPP_BINARY_SUB => Sub,
        TPP_BINARY_MUL => Mul,
        TPP_BINARY_DIV => Div,
        TPP_BINARY_MAX => Max,
        TPP_BINARY_MIN => Min,
        TPP_BINARY_MULADD => MulAdd,
        TPP_BINARY_CMP_GT => Compare(CmpOp::Gt),
        TPP_BINARY_CMP_GE => Compare(CmpOp::Ge),
        TPP_BINARY_CMP_LT => Compare(CmpOp::Lt),
        TPP_BINARY_CMP_LE => Compare(CmpOp::Le),
        TPP_BINARY_CMP_EQ => Compare(CmpOp::Eq),
        TPP_BINARY_CMP_NE => Compare(CmpOp::Ne),
        _ => return unknown("op", code, "TPP_BINARY_* (0..=12)"),
    })
}

pub(crate) fn ternary_op(code: i32) -> Result<TernaryOp, Fail> {
    Ok(match code {
        TPP_TERNARY_MULADD => TernaryOp::MulAdd,
        TPP_TERNARY_NMULADD => TernaryOp::NMulAdd,
        TPP_TERNARY_SELECT => TernaryOp::Select,
        _ => return unknown("op", code, "TPP_TERNARY_* (0..=2)"),
    })
}

pub(crate) fn reduce_op(code: i32) -> Result<ReduceOp, Fail> {
    Ok(match code {
        TPP_REDUCE_SUM => ReduceOp::Sum,
        TPP_REDUCE_MAX => ReduceOp::Max,
        TPP_REDUCE_MIN => ReduceOp::Min,
        TPP_REDUCE_ABSMAX => ReduceOp::AbsMax,
        TPP_REDUCE_SUMSQ => ReduceOp::SumSq,
        TPP_REDUCE_SUM_SUMSQ => ReduceOp::SumAndSumSq,
        _ => return unknown("op", code, "TPP_REDUCE_* (0..=5)"),
    })
}

pub(crate) fn reduce_axis(code: i32) -> Result<ReduceAxis, Fail> {
    match code {
        TPP_AXIS_PER_ROW => Ok(ReduceAxis::PerRow),
        TPP_AXIS_PER_COL => Ok(ReduceAxis::PerCol),
        _ => unknown("axis", code, "TPP_AXIS_* (0..=1)"),
    }
}
