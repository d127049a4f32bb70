//! Unary TPPs: `out = f(in)` over a `rows × cols` space, plus the layout transforms.

use crate::error::Result;
use crate::isa::key;
use crate::isa::matrix::{bitmask, Check, Layout};
use crate::isa::{Broadcast, DType};
use std::hash::{Hash, Hasher};

/// The operation of a unary TPP.
///
/// Elementwise ops read `x = in(i, j)` (which may be broadcast, see [`Broadcast`]) and write
/// `out(i, j)`. Backward ops read the incoming gradient `dy = in(i, j)` and the forward input
/// `x = aux(i, j)` (same shape and `ld_in` as `in`), or the forward mask where noted, and
/// write `dx = out(i, j)`. All math ops accept f64/f32/bf16/f16 in and out.
///
/// | op | forward | backward (`dx` from `dy`) |
/// |---|---|---|
/// | `Identity` | `x` converted to `out_dtype` (any dtypes; ints saturate) | `dy` |
/// | `Zero` | `0` (no input) | — |
/// | `Negate` | `−x` | `−dy` |
/// | `Abs` | `|x|` | `dy·sign(x)` |
/// | `Square` | `x²` | `2x·dy` |
/// | `Sqrt` | `√x` | `dy / (2√x)` |
/// | `Reciprocal` | `1/x` | `−dy/x²` |
/// | `Rsqrt` | `1/√x` | `−dy/(2x√x)` |
/// | `Increment` | `x + 1` | `dy` |
/// | `Exp` | `eˣ` | `dy·eˣ` |
/// | `Tanh` | `tanh x` | `TanhBackward`: `dy·(1 − tanh²x)` |
/// | `Sigmoid` | `σ(x)` | `SigmoidBackward`: `dy·σ(x)(1 − σ(x))` |
/// | `Gelu` | tanh-approximate GELU | `GeluBackward`: its exact derivative |
/// | `GeluErf` | `x·Φ(x)` | `GeluErfBackward`: `dy·(Φ(x) + x·φ(x))` |
/// | `Relu{mask}` | `max(x, 0)`; mask bit `x > 0` | `ReluBackward{mask}`: `dy` where bit/`x > 0`, else 0 |
/// | `LeakyRelu{alpha, mask}` | `x > 0 ? x : αx` | `LeakyReluBackward`: `x > 0 ? dy : α·dy` |
/// | `Elu{alpha}` | `x > 0 ? x : α(eˣ − 1)` | `EluBackward`: `x > 0 ? dy : dy·α·eˣ` |
/// | `Silu` | `x·σ(x)` | `SiluBackward`: `dy·σ(x)(1 + x(1 − σ(x)))` |
/// | `Dropout{p}` | kept ? `x·s` : 0, `s = 1/(1 − p)` rounded to the compute dtype; mask bit = kept | `DropoutBackward`: kept ? `dy·s` : 0 |
///
/// Layout transforms move elements without arithmetic (input and output dtype equal, any dtype):
/// `Transpose` (`out` is `cols × rows`), `VnniPack`/`VnniUnpack` (to and from [`Layout`]'s VNNI
/// layouts; pack zero-pads a ragged last group of rows), `GatherRows` (`out(i, :) =
/// in(idx[i], :)`), `GatherCols` (`out(i, j) = in(i, idx[j])`), `ScatterRows` (`out(idx[i], :)
/// = in(i, :)`), `ScatterCols` (`out(i, idx[j]) = in(i, j)`); for a scatter with repeated
/// indices the highest `i` (`j`) wins. Their backward forms are the inverse transforms
/// (transpose, unpack, scatter-add of the gathered gradient).
///
/// Broadcasting a row, a column or a scalar is `Identity` with [`UnaryDesc::broadcast`] set.
///
/// At ±∞ the activations and their derivatives take their limits (`gelu(−∞) = silu(−∞) = −0`,
/// `gelu′(+∞) = 1`, ...), rather than the NaN a literal `∞·0` in the formula would give.
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum UnaryOp {
    Identity,
    Zero,
    Negate,
    Abs,
    Square,
    Sqrt,
    Reciprocal,
    Rsqrt,
    Increment,
    Exp,
    Tanh,
    TanhBackward,
    Sigmoid,
    SigmoidBackward,
    Gelu,
    GeluBackward,
    GeluErf,
    GeluErfBackward,
    /// `mask: true` writes the relu bitmask.
    Relu {
        mask: bool,
    },
    /// `mask: true` reads the forward bitmask instead of `x`.
    ReluBackward {
        mask: bool,
    },
    /// `mask: true` writes the bitmask of `x > 0`.
    LeakyRelu {
        alpha: f32,
        mask: bool,
    },
    /// `mask: true` reads the forward bitmask instead of `x`.
    LeakyReluBackward {
        alpha: f32,
        mask: bool,
    },
    Elu {
        alpha: f32,
    },
    EluBackward {
        alpha: f32,
    },
    Silu,
    SiluBackward,
    /// Drop with probability `p` (`0 <= p < 1`); the seed is a run-time argument and the
    /// random stream is defined by [`crate::isa::dropout`].
    Dropout {
        p: f32,
    },
    /// Reads the forward mask.
    DropoutBackward {
        p: f32,
    },
    Transpose,
    /// `layout` is `Vnni2` or `Vnni4`.
    VnniPack {
        layout: Layout,
    },
    /// `layout` is `Vnni2` or `Vnni4`.
    VnniUnpack {
        layout: Layout,
    },
    GatherRows,
    GatherCols,
    ScatterRows,
    ScatterCols,
}

impl UnaryOp {
    /// Moves elements without arithmetic (input dtype = output dtype, no broadcast).
    pub fn is_layout_transform(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Transpose
                | VnniPack { .. }
                | VnniUnpack { .. }
                | GatherRows
                | GatherCols
                | ScatterRows
                | ScatterCols
        )
    }

    /// Reads the forward input `x` through the `aux` operand.
    pub fn reads_aux(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            TanhBackward
                | SigmoidBackward
                | GeluBackward
                | GeluErfBackward
                | EluBackward { .. }
                | SiluBackward
                | ReluBackward { mask: false }
                | LeakyReluBackward { mask: false, .. }
        )
    }

    /// Reads a bitmask.
    pub fn reads_mask(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            ReluBackward { mask: true }
                | LeakyReluBackward { mask: true, .. }
                | DropoutBackward { .. }
        )
    }

    /// Writes a bitmask.
    pub fn writes_mask(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Relu { mask: true } | LeakyRelu { mask: true, .. } | Dropout { .. }
        )
    }

    /// Reads an index array.
    pub fn reads_indices(self) -> bool {
        use UnaryOp::*;
        matches!(self, GatherRows | GatherCols | ScatterRows | ScatterCols)
    }

    /// Reads the input operand at all.
    pub fn reads_input(self) -> bool {
        self != UnaryOp::Zero
    }

    /// Lower-case name used in kernel names.
    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Identity => "copy",
            Zero => "zero",
            Negate => "negate",
            Abs => "abs",
            Square => "square",
            Sqrt => "sqrt",
            Reciprocal => "reciprocal",
            Rsqrt => "rsqrt",
            Increment => "increment",
            Exp => "exp",
            Tanh => "tanh",
            TanhBackward => "tanh_bwd",
            Sigmoid => "sigmoid",
            SigmoidBackward => "sigmoid_bwd",
            Gelu => "gelu",
            GeluBackward => "gelu_bwd",
            GeluErf => "gelu_erf",
            GeluErfBackward => "gelu_erf_bwd",
            Relu { mask: false } => "relu",
            Relu { mask: true } => "relu_mask",
            ReluBackward { mask: false } => "relu_bwd",
            ReluBackward { mask: true } => "relu_bwd_mask",
            LeakyRelu { mask: false, .. } => "leaky_relu",
            LeakyRelu { mask: true, .. } => "leaky_relu_mask",
            LeakyReluBackward { mask: false, .. } => "leaky_relu_bwd",
            LeakyReluBackward { mask: true, .. } => "leaky_relu_bwd_mask",
            Elu { .. } => "elu",
            EluBackward { .. } => "elu_bwd",
            Silu => "silu",
            SiluBackward => "silu_bwd",
            Dropout { .. } => "dropout",
            DropoutBackward { .. } => "dropout_bwd",
            Transpose => "transpose",
            VnniPack {
                layout: Layout::Vnni4,
            } => "vnni4_pack",
            VnniPack { .. } => "vnni2_pack",
            VnniUnpack {
                layout: Layout::Vnni4,
            } => "vnni4_unpack",
            VnniUnpack { .. } => "vnni2_unpack",
            GatherRows => "gather_rows",
            GatherCols => "gather_cols",
            ScatterRows => "scatter_rows",
            ScatterCols => "scatter_cols",
        }
    }

    /// The op's parameter bits and layout in one word (the variant is hashed separately).
    #[inline]
    pub(crate) fn param_word(self) -> u64 {
        let (_, bits, layout) = self.key();
        (layout as u64) << 32 | bits as u64
    }

    #[inline]
    fn key(self) -> (&'static str, u32, u8) {
        use UnaryOp::*;
        let bits = match self {
            LeakyRelu { alpha, .. }
            | LeakyReluBackward { alpha, .. }
            | Elu { alpha }
            | EluBackward { alpha } => (alpha + 0.0).to_bits(),
            Dropout { p } | DropoutBackward { p } => (p + 0.0).to_bits(),
            _ => 0,
        };
        let layout = match self {
            VnniPack { layout } | VnniUnpack { layout } => layout as u8,
            _ => 0,
        };
        (self.name(), bits, layout)
    }
}

impl Eq for UnaryOp {}
impl Hash for UnaryOp {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        state.write_u64(self.param_word());
    }
}

/// A unary TPP over a `rows × cols` row-major space.
///
/// - `in` is `rows × cols` with `ld_in` (or a broadcast vector); `out` is `rows × cols` with
///   `ld_out`, except: `Transpose` writes `cols × rows` (`ld_out >= rows`); `VnniPack` writes
///   the VNNI layout of the `rows × cols` input (`ld_out >= cols`, logical columns) and
///   `VnniUnpack` reads it (`ld_in >= cols`); `GatherRows` reads rows of width `cols` anywhere
///   in `in`; `GatherCols` reads rows of width `ld_in` (every index `< ld_in`);
///   `ScatterRows`/`ScatterCols` mirror them on the output side.
/// - Masks use `mask_ld` (bits, see [`crate::isa::bitmask`]).
/// - `out` may alias `in` (or `aux`) when both have the same shape, dtype and leading dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnaryDesc {
    /// The operation.
    pub op: UnaryOp,
    /// Rows of the iteration space.
    pub rows: usize,
    /// Columns of the iteration space.
    pub cols: usize,
    /// Leading dimension of `in` (and `aux`).
    pub ld_in: usize,
    /// Leading dimension of `out`.
    pub ld_out: usize,
    /// Dtype of `in` (and `aux`).
    pub in_dtype: DType,
    /// Dtype the arithmetic is done in (f32 or f64).
    pub compute_dtype: DType,
    /// Dtype of `out`.
    pub out_dtype: DType,
    /// How `in` covers the space.
    pub broadcast: Broadcast,
    /// Leading dimension (bits) of the bitmask the op reads or writes.
    pub mask_ld: usize,
}

impl UnaryDesc {
    /// `op` over a packed `rows × cols` matrix of `dtype` (compute f64 for f64 data, else f32).
    pub fn new(op: UnaryOp, rows: usize, cols: usize, dtype: DType) -> UnaryDesc {
        let (ld_out, mask_ld) = match op {
            UnaryOp::Transpose => (rows, 0),
            _ => (cols, bitmask::default_ld(cols)),
        };
        UnaryDesc {
            op,
            rows,
            cols,
            ld_in: cols,
            ld_out,
            in_dtype: dtype,
            compute_dtype: dtype.default_compute(),
            out_dtype: dtype,
            broadcast: Broadcast::None,
            mask_ld,
        }
    }

    /// Sets both leading dimensions.
    pub fn ld(mut self, ld_in: usize, ld_out: usize) -> Self {
        (self.ld_in, self.ld_out) = (ld_in, ld_out);
        self
    }
    /// Sets the input, compute and output dtypes.
    pub fn dtypes(mut self, input: DType, compute: DType, output: DType) -> Self {
        (self.in_dtype, self.compute_dtype, self.out_dtype) = (input, compute, output);
        self
    }
    /// Sets the input broadcast.
    pub fn broadcast(mut self, b: Broadcast) -> Self {
        self.broadcast = b;
        self
    }

    /// Shape `(rows, cols)` of the output as a row-major matrix (logical, before VNNI packing).
    pub fn out_shape(&self) -> (usize, usize) {
        match self.op {
            UnaryOp::Transpose => (self.cols, self.rows),
            _ => (self.rows, self.cols),
        }
    }

    /// Elements the input spans (for gathers: per row reached; see the safe call for the rest).
    pub fn in_len(&self) -> usize {
        match self.op {
            UnaryOp::VnniUnpack { layout } => layout.len(self.rows, self.cols, self.ld_in),
            UnaryOp::GatherCols => crate::isa::matrix_len(self.rows, self.ld_in, self.ld_in),
            _ => self.broadcast.len(self.rows, self.cols, self.ld_in),
        }
    }

    /// Elements the output spans (scatter rows: per row reached).
    pub fn out_len(&self) -> usize {
        let (r, c) = self.out_shape();
        match self.op {
            UnaryOp::VnniPack { layout } => layout.len(r, c, self.ld_out),
            UnaryOp::ScatterCols => crate::isa::matrix_len(r, self.ld_out, self.ld_out),
            _ => crate::isa::matrix_len(r, c, self.ld_out),
        }
    }

    /// Nominal flop count: one per element for arithmetic ops, zero for data movement.
    pub fn flops(&self) -> u64 {
        let moves =
            self.op.is_layout_transform() || matches!(self.op, UnaryOp::Identity | UnaryOp::Zero);
        if moves {
            0
        } else {
            (self.rows as u64).saturating_mul(self.cols as u64)
        }
    }

    /// Bytes a call reads and writes (input, aux and output; masks and indices excluded).
    pub fn bytes(&self) -> u64 {
        let elems = self.rows as u128 * self.cols as u128;
        let mut b = elems * self.out_dtype.size() as u128;
        if self.op.reads_input() {
            b += self.broadcast.len(self.rows, self.cols, self.cols) as u128
                * self.in_dtype.size() as u128;
        }
        if self.op.reads_aux() {
            b += elems * self.in_dtype.size() as u128;
        }
        crate::isa::key::saturate(b)
    }

    /// Checks every field against the ISA.
    pub fn validate(&self) -> Result<()> {
        use UnaryOp::*;
        let ck = Check { family: "unary" };
        ck.dim("rows", self.rows)?;
        ck.dim("cols", self.cols)?;
        let (or, oc) = self.out_shape();
        // Leading dimensions, per op.
        let (in_min, in_what, out_min, out_what) = match self.op {
            GatherCols => (1, "1", oc, "cols"),
            ScatterCols => (self.cols, "cols", 1, "1"),
            Transpose => (self.cols, "cols", oc, "rows"),
            _ => (self.cols, "cols", oc, "cols"),
        };
        if self.op.reads_input() && self.broadcast == Broadcast::None {
            ck.ld("ld_in", self.ld_in, in_min, in_what)?;
            ck.extent("ld_in", self.rows, self.ld_in, self.in_dtype)?;
        }
        ck.ld("ld_out", self.ld_out, out_min, out_what)?;
        ck.extent(
            "ld_out",
            or.next_multiple_of(4),
            self.ld_out,
            self.out_dtype,
        )?;
        if self.op.reads_mask() || self.op.writes_mask() {
            ck.mask_ld("mask_ld", self.mask_ld, self.cols, self.rows)?;
        }
        if self.broadcast != Broadcast::None && (self.op.is_layout_transform() || self.op == Zero) {
            return Err(ck.err(
                "broadcast",
                format!("{:?}", self.broadcast),
                format!("None for {}", self.op.name()),
            ));
        }
        if self.broadcast != Broadcast::None && self.op.reads_aux() {
            return Err(ck.err(
                "broadcast",
                format!("{:?}", self.broadcast),
                "None for backward ops that read the forward input",
            ));
        }
        self.validate_op(&ck)
    }

    fn validate_op(&self, ck: &Check) -> Result<()> {
        use UnaryOp::*;
        match self.op {
            Identity | Zero => ck.compute(self.compute_dtype),
            op if op.is_layout_transform() => {
                if self.out_dtype != self.in_dtype {
                    return Err(ck.err(
                        "out_dtype",
                        self.out_dtype,
                        format!("{} (layout transforms do not convert)", self.in_dtype),
                    ));
                }
                if let VnniPack { layout } | VnniUnpack { layout } = op {
                    if layout == Layout::RowMajor {
                        return Err(ck.err("op.layout", "RowMajor", "Vnni2 or Vnni4"));
                    }
                }
                ck.compute(self.compute_dtype)
            }
            op => {
                ck.float("in_dtype", self.in_dtype)?;
                ck.float("out_dtype", self.out_dtype)?;
                ck.compute(self.compute_dtype)?;
                match op {
                    LeakyRelu { alpha, .. }
                    | LeakyReluBackward { alpha, .. }
                    | Elu { alpha }
                    | EluBackward { alpha } => ck.finite("op.alpha", alpha as f64),
                    Dropout { p } | DropoutBackward { p } => {
                        if !(0.0..1.0).contains(&p) {
                            return Err(ck.err("op.p", p, "0 <= p < 1"));
                        }
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Equivalent descriptors normalised to one cache entry.
    pub fn canonical(&self) -> UnaryDesc {
        let mut d = *self;
        if !(d.op.reads_mask() || d.op.writes_mask()) {
            d.mask_ld = 0;
        }
        if !d.op.reads_input() || d.broadcast != Broadcast::None {
            d.ld_in = d.cols;
        }
        d
    }

    /// A name that says what the kernel computes, e.g. `unary_reference_relu_f32_64x64`.
    pub fn kernel_name(&self, backend: &str) -> String {
        let types = if self.in_dtype == self.out_dtype {
            self.in_dtype.name().to_string()
        } else {
            format!("{}_{}", self.in_dtype, self.out_dtype)
        };
        format!(
            "unary_{backend}_{}_{types}_{}x{}{}",
            self.op.name(),
            self.rows,
            self.cols,
            self.broadcast.tag()
        )
    }
}

impl Hash for UnaryDesc {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(&self.op).hash(state);
        key::write(
            state,
            [
                self.op.param_word(),
                key::pack3(self.rows, self.cols, self.ld_in),
                key::pack3(self.ld_out, self.mask_ld, 0)
                    ^ key::codes([
                        self.in_dtype as u8,
                        self.compute_dtype as u8,
                        self.out_dtype as u8,
                        self.broadcast as u8,
                    ]),
            ],
        );
    }
}
