//! The descriptors of the C ABI: plain structs of sizes (`int64_t`) and codes (`int32_t`), each
//! with an init function that fills the same defaults as the Rust constructor, and a checked
//! conversion to the Rust descriptor.

use super::codes::*;
use super::{guard, Fail};
use crate::isa::{
    BatchReduce, Bias, BiasBroadcast, BinaryDesc, Broadcast, DType, GemmDesc, Layout, ReduceDesc,
    TernaryDesc, UnaryDesc, UnaryOp,
};

/// A GEMM / BRGEMM descriptor (see `GemmDesc` in the Rust API for the semantics of each
/// field): `C = act(alpha·Σ op(A_i)·op(B_i) + beta·C + bias)`, row-major.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_gemm_desc {
    /// Rows of C.
    pub m: i64,
    /// Columns of C.
    pub n: i64,
    /// The contraction size.
    pub k: i64,
    /// Leading dimensions of A, B and C as stored (elements; logical columns for VNNI).
    pub lda: i64,
    /// See `lda`.
    pub ldb: i64,
    /// See `lda`.
    pub ldc: i64,
    /// `TPP_DTYPE_*` of A, B, C and the accumulation.
    pub a_dtype: i32,
    /// See `a_dtype`.
    pub b_dtype: i32,
    /// See `a_dtype`.
    pub c_dtype: i32,
    /// See `a_dtype`.
    pub compute_dtype: i32,
    /// 1: A is stored transposed (`k × m`).
    pub trans_a: i32,
    /// 1: B is stored transposed (`n × k`).
    pub trans_b: i32,
    /// `TPP_LAYOUT_*` of B and of C.
    pub b_layout: i32,
    /// See `b_layout`.
    pub c_layout: i32,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the prior C (0: C is write-only).
    pub beta: f64,
    /// `TPP_BATCH_*`.
    pub batch: i32,
    /// `TPP_BIAS_*`.
    pub bias: i32,
    /// Elements between consecutive A (B) matrices for `TPP_BATCH_STRIDE`.
    pub stride_a: i64,
    /// See `stride_a`.
    pub stride_b: i64,
    /// `TPP_DTYPE_*` of the bias.
    pub bias_dtype: i32,
    /// `TPP_ACT_*` of the epilogue.
    pub activation: i32,
    /// Leading dimension (bits) of the relu mask.
    pub mask_ld: i64,
    /// Slope (leaky relu) or scale (elu) of the activation.
    pub activation_alpha: f32,
}

/// A unary descriptor (see `UnaryDesc` and `UnaryOp` in the Rust API).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_unary_desc {
    /// `TPP_UNARY_*`.
    pub op: i32,
    /// 1: the bitmask form of relu / leaky relu (forward writes it, backward reads it).
    pub mask: i32,
    /// Alpha of leaky relu and elu, p of dropout.
    pub param: f32,
    /// `TPP_LAYOUT_*` of VNNI pack and unpack.
    pub layout: i32,
    /// The iteration space.
    pub rows: i64,
    /// See `rows`.
    pub cols: i64,
    /// Leading dimensions of the input and the output.
    pub ld_in: i64,
    /// See `ld_in`.
    pub ld_out: i64,
    /// `TPP_DTYPE_*` of the input, the arithmetic and the output.
    pub in_dtype: i32,
    /// See `in_dtype`.
    pub compute_dtype: i32,
    /// See `in_dtype`.
    pub out_dtype: i32,
    /// `TPP_BCAST_*` of the input.
    pub broadcast: i32,
    /// Leading dimension (bits) of the bitmask.
    pub mask_ld: i64,
}

/// A binary descriptor (see `BinaryDesc` in the Rust API).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_binary_desc {
    /// `TPP_BINARY_*`.
    pub op: i32,
    /// `TPP_BCAST_*` of each input.
    pub broadcast0: i32,
    /// See `broadcast0`.
    pub broadcast1: i32,
    /// `TPP_DTYPE_*` of the inputs, the arithmetic and the output.
    pub in0_dtype: i32,
    /// See `in0_dtype`.
    pub in1_dtype: i32,
    /// See `in0_dtype`.
    pub compute_dtype: i32,
    /// See `in0_dtype`.
    pub out_dtype: i32,
    /// The iteration space.
    pub rows: i64,
    /// See `rows`.
    pub cols: i64,
    /// Leading dimensions (bits of the output mask for comparisons).
    pub ld_in0: i64,
    /// See `ld_in0`.
    pub ld_in1: i64,
    /// See `ld_in0`.
    pub ld_out: i64,
}

/// A ternary descriptor (see `TernaryDesc` in the Rust API).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_ternary_desc {
    /// `TPP_TERNARY_*`.
    pub op: i32,
    /// `TPP_DTYPE_*` of the arithmetic and the output.
    pub compute_dtype: i32,
    /// See `compute_dtype`.
    pub out_dtype: i32,
    /// `TPP_DTYPE_*` of each input.
    pub in_dtypes: [i32; 3],
    /// `TPP_BCAST_*` of each input.
    pub broadcasts: [i32; 3],
    /// The iteration space.
    pub rows: i64,
    /// See `rows`.
    pub cols: i64,
    /// Leading dimension of each input.
    pub ld_in: [i64; 3],
    /// Leading dimension of the output.
    pub ld_out: i64,
    /// Leading dimension (bits) of the select mask.
    pub mask_ld: i64,
}

/// A reduce descriptor (see `ReduceDesc` in the Rust API).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tpp_reduce_desc {
    /// `TPP_REDUCE_*`.
    pub op: i32,
    /// `TPP_AXIS_*`.
    pub axis: i32,
    /// `TPP_DTYPE_*` of the input, the arithmetic and the output.
    pub in_dtype: i32,
    /// See `in_dtype`.
    pub compute_dtype: i32,
    /// See `in_dtype`.
    pub out_dtype: i32,
    /// 1: add to the output instead of overwriting it.
    pub accumulate: i32,
    /// The input's shape and leading dimension.
    pub rows: i64,
    /// See `rows`.
    pub cols: i64,
    /// See `rows`.
    pub ld_in: i64,
}

fn flag(field: &str, v: i32) -> Result<bool, Fail> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Fail::arg(format!("{field} = {v}; allowed: 0 or 1"))),
    }
}

fn ld_code(l: Layout) -> i32 {
    match l {
        Layout::RowMajor => TPP_LAYOUT_ROW_MAJOR,
        Layout::Vnni2 => TPP_LAYOUT_VNNI2,
        Layout::Vnni4 => TPP_LAYOUT_VNNI4,
    }
}

fn bc_code(b: Broadcast) -> i32 {
    match b {
        Broadcast::None => TPP_BCAST_NONE,
        Broadcast::Row => TPP_BCAST_ROW,
        Broadcast::Col => TPP_BCAST_COL,
        Broadcast::Scalar => TPP_BCAST_SCALAR,
    }
}

/// Runs an init function: checks `d` and the sizes, writes the defaults.
unsafe fn init<T>(d: *mut T, make: impl FnOnce() -> Result<T, Fail>) -> super::tpp_status {
    guard(|| {
        if !super::plausible(d.cast(), std::mem::align_of::<T>()) {
            return Err(Fail::arg("desc is null"));
        }
        *d = make()?;
        Ok(())
    })
}

impl tpp_gemm_desc {
    pub(crate) fn to_desc(self) -> Result<GemmDesc, Fail> {
        let batch = match self.batch {
            TPP_BATCH_NONE => BatchReduce::None,
            TPP_BATCH_STRIDE => BatchReduce::Stride {
                a: size("stride_a", self.stride_a)?,
                b: size("stride_b", self.stride_b)?,
            },
            TPP_BATCH_OFFSETS => BatchReduce::Offsets,
            TPP_BATCH_ADDRESSES => BatchReduce::Addresses,
            c => {
                return Err(Fail::arg(format!(
                    "batch = {c}; allowed: TPP_BATCH_* (0..=3)"
                )))
            }
        };
        let bias = match self.bias {
            TPP_BIAS_NONE => None,
            TPP_BIAS_ROW | TPP_BIAS_COL => Some(Bias {
                broadcast: if self.bias == TPP_BIAS_ROW {
                    BiasBroadcast::Row
                } else {
                    BiasBroadcast::Col
                },
                dtype: dtype("bias_dtype", self.bias_dtype)?,
            }),
            c => {
                return Err(Fail::arg(format!(
                    "bias = {c}; allowed: TPP_BIAS_* (0..=2)"
                )))
            }
        };
        let mut d = GemmDesc::new(
            size("m", self.m)?,
            size("n", self.n)?,
            size("k", self.k)?,
            dtype("a_dtype", self.a_dtype)?,
        );
        d.lda = size("lda", self.lda)?;
        d.ldb = size("ldb", self.ldb)?;
        d.ldc = size("ldc", self.ldc)?;
        d.b_dtype = dtype("b_dtype", self.b_dtype)?;
        d.c_dtype = dtype("c_dtype", self.c_dtype)?;
        d.compute_dtype = dtype("compute_dtype", self.compute_dtype)?;
        d.trans_a = flag("trans_a", self.trans_a)?;
        d.trans_b = flag("trans_b", self.trans_b)?;
        d.b_layout = layout("b_layout", self.b_layout)?;
        d.c_layout = layout("c_layout", self.c_layout)?;
        d.alpha = self.alpha;
        d.beta = self.beta;
        d.batch = batch;
        d.epilogue.bias = bias;
        d.epilogue.activation = activation(self.activation, self.activation_alpha)?;
        d.epilogue.mask_ld = size("mask_ld", self.mask_ld)?;
        if d.epilogue.activation.writes_mask() && d.epilogue.mask_ld == 0 {
            // As `GemmDesc::activation` does: the packed mask of n columns.
            d.epilogue.mask_ld = crate::isa::bitmask::default_ld(d.n);
        }
        Ok(d)
    }
}

/// Fills `*desc` as `GemmDesc::new` does: packed row-major `C = A·B + C` (beta 1) of `dtype`
/// with its natural C and accumulation types (f32 for bf16/f16, i32 for int8).
///
/// # Safety
/// `desc` must point to writable memory for a `tpp_gemm_desc`.
#[no_mangle]
pub unsafe extern "C" fn tpp_gemm_desc_init(
    desc: *mut tpp_gemm_desc,
    m: i64,
    n: i64,
    k: i64,
    dtype_code_: i32,
) -> super::tpp_status {
    init(desc, || {
        let d = GemmDesc::new(
            size("m", m)?,
            size("n", n)?,
            size("k", k)?,
            dtype("dtype", dtype_code_)?,
        );
        Ok(tpp_gemm_desc {
            m,
            n,
            k,
            lda: d.lda as i64,
            ldb: d.ldb as i64,
            ldc: d.ldc as i64,
            a_dtype: dtype_code(d.a_dtype),
            b_dtype: dtype_code(d.b_dtype),
            c_dtype: dtype_code(d.c_dtype),
            compute_dtype: dtype_code(d.compute_dtype),
            trans_a: 0,
            trans_b: 0,
            b_layout: TPP_LAYOUT_ROW_MAJOR,
            c_layout: TPP_LAYOUT_ROW_MAJOR,
            alpha: d.alpha,
            beta: d.beta,
            batch: TPP_BATCH_NONE,
            bias: TPP_BIAS_NONE,
            stride_a: 0,
            stride_b: 0,
            bias_dtype: dtype_code(DType::F32),
            activation: TPP_ACT_NONE,
            mask_ld: 0,
            activation_alpha: 0.0,
        })
    })
}

impl tpp_unary_desc {
    pub(crate) fn to_desc(self) -> Result<UnaryDesc, Fail> {
        let layout = layout("layout", self.layout)?;
        let op = unary_op(self.op, flag("mask", self.mask)?, self.param, layout)?;
        let mut d = UnaryDesc::new(
            op,
            size("rows", self.rows)?,
            size("cols", self.cols)?,
            DType::F32,
        );
        d.ld_in = size("ld_in", self.ld_in)?;
        d.ld_out = size("ld_out", self.ld_out)?;
        d.in_dtype = dtype("in_dtype", self.in_dtype)?;
        d.compute_dtype = dtype("compute_dtype", self.compute_dtype)?;
        d.out_dtype = dtype("out_dtype", self.out_dtype)?;
        d.broadcast = broadcast("broadcast", self.broadcast)?;
        d.mask_ld = size("mask_ld", self.mask_ld)?;
        Ok(d)
    }
}

/// Fills `*desc` as `UnaryDesc::new` does: `op` over a packed `rows × cols` matrix of `dtype`
/// (then set `mask`, `param`, `layout` and the rest as needed).
///
/// # Safety
/// `desc` must point to writable memory for a `tpp_unary_desc`.
#[no_mangle]
pub unsafe extern "C" fn tpp_unary_desc_init(
    desc: *mut tpp_unary_desc,
    op: i32,
    rows: i64,
    cols: i64,
    dtype_code_: i32,
) -> super::tpp_status {
    init(desc, || {
        // The layout is only a parameter of the VNNI ops; VNNI2 is the common one.
        let layout = Layout::Vnni2;
        let o = unary_op(op, false, 0.0, layout)?;
        let d = UnaryDesc::new(
            o,
            size("rows", rows)?,
            size("cols", cols)?,
            dtype("dtype", dtype_code_)?,
        );
        let vnni = matches!(o, UnaryOp::VnniPack { .. } | UnaryOp::VnniUnpack { .. });
        Ok(tpp_unary_desc {
            op,
            mask: 0,
            param: 0.0,
            layout: if vnni {
                ld_code(layout)
            } else {
                TPP_LAYOUT_ROW_MAJOR
            },
            rows,
            cols,
            ld_in: d.ld_in as i64,
            ld_out: d.ld_out as i64,
            in_dtype: dtype_code(d.in_dtype),
            compute_dtype: dtype_code(d.compute_dtype),
            out_dtype: dtype_code(d.out_dtype),
            broadcast: bc_code(d.broadcast),
            mask_ld: d.mask_ld as i64,
        })
    })
}

impl tpp_binary_desc {
    pub(crate) fn to_desc(self) -> Result<BinaryDesc, Fail> {
        let op = binary_op(self.op)?;
        let mut d = BinaryDesc::new(
            op,
            size("rows", self.rows)?,
            size("cols", self.cols)?,
            DType::F32,
        );
        d.ld_in0 = size("ld_in0", self.ld_in0)?;
        d.ld_in1 = size("ld_in1", self.ld_in1)?;
        d.ld_out = size("ld_out", self.ld_out)?;
        d.in0_dtype = dtype("in0_dtype", self.in0_dtype)?;
        d.in1_dtype = dtype("in1_dtype", self.in1_dtype)?;
        d.compute_dtype = dtype("compute_dtype", self.compute_dtype)?;
        d.out_dtype = dtype("out_dtype", self.out_dtype)?;
        d.broadcast0 = broadcast("broadcast0", self.broadcast0)?;
        d.broadcast1 = broadcast("broadcast1", self.broadcast1)?;
        Ok(d)
    }
}

/// Fills `*desc` as `BinaryDesc::new` does.
///
/// # Safety
/// `desc` must point to writable memory for a `tpp_binary_desc`.
#[no_mangle]
pub unsafe extern "C" fn tpp_binary_desc_init(
    desc: *mut tpp_binary_desc,
    op: i32,
    rows: i64,
    cols: i64,
    dtype_code_: i32,
) -> super::tpp_status {
    init(desc, || {
        let d = BinaryDesc::new(
            binary_op(op)?,
            size("rows", rows)?,
            size("cols", cols)?,
            dtype("dtype", dtype_code_)?,
        );
        Ok(tpp_binary_desc {
            op,
            broadcast0: TPP_BCAST_NONE,
            broadcast1: TPP_BCAST_NONE,
            in0_dtype: dtype_code(d.in0_dtype),
            in1_dtype: dtype_code(d.in1_dtype),
            compute_dtype: dtype_code(d.compute_dtype),
            out_dtype: dtype_code(d.out_dtype),
            rows,
            cols,
            ld_in0: d.ld_in0 as i64,
            ld_in1: d.ld_in1 as i64,
            ld_out: d.ld_out as i64,
        })
    })
}

impl tpp_ternary_desc {
    pub(crate) fn to_desc(self) -> Result<TernaryDesc, Fail> {
        let op = ternary_op(self.op)?;
        let mut d = TernaryDesc::new(
            op,
            size("rows", self.rows)?,
            size("cols", self.cols)?,
            DType::F32,
        );
        for i in 0..3 {
            d.in_dtypes[i] = dtype("in_dtypes", self.in_dtypes[i])?;
            d.broadcasts[i] = broadcast("broadcasts", self.broadcasts[i])?;
            d.ld_in[i] = size("ld_in", self.ld_in[i])?;
        }
        d.compute_dtype = dtype("compute_dtype", self.compute_dtype)?;
        d.out_dtype = dtype("out_dtype", self.out_dtype)?;
        d.ld_out = size("ld_out", self.ld_out)?;
        d.mask_ld = size("mask_ld", self.mask_ld)?;
        Ok(d)
    }
}

/// Fills `*desc` as `TernaryDesc::new` does.
///
/// # Safety
/// `desc` must point to writable memory for a `tpp_ternary_desc`.
#[no_mangle]
pub unsafe extern "C" fn tpp_ternary_desc_init(
    desc: *mut tpp_ternary_desc,
    op: i32,
    rows: i64,
    cols: i64,
    dtype_code_: i32,
) -> super::tpp_status {
    init(desc, || {
        let d = TernaryDesc::new(
            ternary_op(op)?,
            size("rows", rows)?,
            size("cols", cols)?,
            dtype("dtype", dtype_code_)?,
        );
        Ok(tpp_ternary_desc {
            op,
            compute_dtype: dtype_code(d.compute_dtype),
            out_dtype: dtype_code(d.out_dtype),
            in_dtypes: d.in_dtypes.map(dtype_code),
            broadcasts: d.broadcasts.map(bc_code),
            rows,
            cols,
            ld_in: d.ld_in.map(|l| l as i64),
            ld_out: d.ld_out as i64,
            mask_ld: d.mask_ld as i64,
        })
    })
}

impl tpp_reduce_desc {
    pub(crate) fn to_desc(self) -> Result<ReduceDesc, Fail> {
        let mut d = ReduceDesc::new(
            reduce_op(self.op)?,
            reduce_axis(self.axis)?,
            size("rows", self.rows)?,
            size("cols", self.cols)?,
            dtype("in_dtype", self.in_dtype)?,
        );
        d.ld_in = size("ld_in", self.ld_in)?;
        d.compute_dtype = dtype("compute_dtype", self.compute_dtype)?;
        d.out_dtype = dtype("out_dtype", self.out_dtype)?;
        d.accumulate = flag("accumulate", self.accumulate)?;
        Ok(d)
    }
}

/// Fills `*desc` as `ReduceDesc::new` does.
///
/// # Safety
/// `desc` must point to writable memory for a `tpp_reduce_desc`.
#[no_mangle]
pub unsafe extern "C" fn tpp_reduce_desc_init(
    desc: *mut tpp_reduce_desc,
    op: i32,
    axis: i32,
    rows: i64,
    cols: i64,
    dtype_code_: i32,
) -> super::tpp_status {
    init(desc, || {
        let d = ReduceDesc::new(
            reduce_op(op)?,
            reduce_axis(axis)?,
            size("rows", rows)?,
            size("cols", cols)?,
            dtype("dtype", dtype_code_)?,
        );
        Ok(tpp_reduce_desc {
            op,
            axis,
            in_dtype: dtype_code(d.in_dtype),
            compute_dtype: dtype_code(d.compute_dtype),
            out_dtype: dtype_code(d.out_dtype),
            accumulate: 0,
            rows,
            cols,
            ld_in: d.ld_in as i64,
        })
    })
}
