//! GEMM and batch-reduce GEMM descriptors.

use crate::error::Result;
use crate::isa::key;
use crate::isa::matrix::{bitmask, Check, Layout};
use crate::isa::{Activation, DType};
use std::hash::{Hash, Hasher};

/// How a batch-reduce GEMM finds its `A_i` and `B_i` (the batch count is a run-time argument).
///
/// Strides and offsets count **elements** of the operand's dtype (the byte step of LIBXSMM,
/// divided by the element size, so that a misaligned step cannot be expressed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BatchReduce {
    /// Plain GEMM: one A, one B, no batch.
    #[default]
    None,
    /// `A_i = A + i*a`, `B_i = B + i*b` (elements).
    Stride {
        /// Elements between consecutive A matrices.
        a: usize,
        /// Elements between consecutive B matrices.
        b: usize,
    },
    /// `A_i = A + a_offsets[i]`, `B_i = B + b_offsets[i]` (elements, `u64` arrays).
    Offsets,
    /// `A_i = a_addresses[i]`, `B_i = b_addresses[i]` (arrays of pointers).
    Addresses,
}

/// Which way the GEMM bias vector is broadcast over C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BiasBroadcast {
    /// A row of `n` values added to every row of C: `C(i, j) += bias[j]` (the usual FC bias).
    Row,
    /// A column of `m` values added to every column of C: `C(i, j) += bias[i]`.
    Col,
}

/// A bias added to the product before the activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bias {
    /// Row or column vector.
    pub broadcast: BiasBroadcast,
    /// Its dtype (any floating dtype).
    pub dtype: DType,
}

/// The fused epilogue of a GEMM, applied to each element of C after the accumulation:
/// `C(i, j) = act(alpha·acc(i, j) + beta·C(i, j) + bias)`, then converted to `c_dtype` (and
/// written in `c_layout`). With `Activation::Relu { mask: true }` the kernel also writes a
/// bitmask (see [`crate::isa::bitmask`]) with bit `(i, j)` set where the result is positive.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Epilogue {
    /// Optional bias vector.
    pub bias: Option<Bias>,
    /// Activation applied last.
    pub activation: Activation,
    /// Leading dimension (bits) of the relu mask; used only when the activation writes a mask.
    pub mask_ld: usize,
}

/// A GEMM or batch-reduce GEMM:
/// `C[m×n] = act(alpha · Σ_{i<batch} op(A_i)[m×k] · op(B_i)[k×n] + beta · C + bias)`.
///
/// - Row-major operands; `op(X)` is `X` or `Xᵀ` per `trans_a` / `trans_b`. A is stored `m × k`
///   (`lda >= k`), or `k × m` when transposed (`lda >= m`); B is stored `k × n` (`ldb >= n`), or
///   `n × k` when transposed (`ldb >= k`), or in VNNI layout ([`Layout`]) with `ldb >= n`.
/// - Dtypes: f64·f64 → f64 (compute f64); f32·f32 → f32/bf16/f16 (compute f32);
///   bf16·bf16 → f32/bf16 and f16·f16 → f32/f16 (compute f32; B may be VNNI2);
///   {u8,i8}·{u8,i8} → i32 (compute i32, wrap-around on overflow as VNNI/AMX do; B may be VNNI4;
///   alpha = 1, beta ∈ {0, 1}, no epilogue).
/// - `beta = 0` never reads C (C may hold NaN); `beta = 1` is the other fast case.
/// - C may be written in VNNI2 layout (bf16/f16 output, even `m`), ready to be the B of the
///   next layer.
/// - Backward: `dA = dC·op(B)ᵀ`, `dB = op(A)ᵀ·dC` are GEMMs with other transposes.
#[derive(Clone, Copy, Debug)]
pub struct GemmDesc {
    /// Rows of C and of op(A).
    pub m: usize,
    /// Columns of C and of op(B).
    pub n: usize,
    /// The contraction size.
    pub k: usize,
    /// Leading dimension of A as stored.
    pub lda: usize,
    /// Leading dimension of B as stored (logical columns for VNNI layouts).
    pub ldb: usize,
    /// Leading dimension of C (logical columns for VNNI2 C).
    pub ldc: usize,
    /// Dtype of A.
    pub a_dtype: DType,
    /// Dtype of B.
    pub b_dtype: DType,
    /// Dtype of C.
    pub c_dtype: DType,
    /// Accumulation dtype.
    pub compute_dtype: DType,
    /// A is stored transposed (`k × m`).
    pub trans_a: bool,
    /// B is stored transposed (`n × k`).
    pub trans_b: bool,
    /// Storage order of B.
    pub b_layout: Layout,
    /// Storage order of C: row-major or VNNI2.
    pub c_layout: Layout,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the prior C; 0 means C is write-only.
    pub beta: f64,
    /// Batch-reduce addressing.
    pub batch: BatchReduce,
    /// Fused epilogue.
    pub epilogue: Epilogue,
}

impl GemmDesc {
    /// A row-major `C = A·B + C` (beta 1, as LIBXSMM's default) with packed leading dimensions
    /// and the natural output and compute types of `dtype` (f32 output for bf16/f16, i32 for
    /// int8).
    pub fn new(m: usize, n: usize, k: usize, dtype: DType) -> GemmDesc {
        let (c_dtype, compute_dtype) = match dtype {
            DType::F64 => (DType::F64, DType::F64),
            DType::I8 | DType::U8 | DType::I32 => (DType::I32, DType::I32),
            _ => (DType::F32, DType::F32),
        };
        GemmDesc {
            m,
            n,
            k,
            lda: k,
            ldb: n,
            ldc: n,
            a_dtype: dtype,
            b_dtype: dtype,
            c_dtype,
            compute_dtype,
            trans_a: false,
            trans_b: false,
            b_layout: Layout::RowMajor,
            c_layout: Layout::RowMajor,
            alpha: 1.0,
            beta: 1.0,
            batch: BatchReduce::None,
            epilogue: Epilogue::default(),
        }
    }

    /// Sets the three leading dimensions.
    pub fn ld(mut self, lda: usize, ldb: usize, ldc: usize) -> Self {
        (self.lda, self.ldb, self.ldc) = (lda, ldb, ldc);
        self
    }
    /// Sets alpha.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Sets beta.
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }
    /// Marks A as stored transposed and sets `lda` to the packed `m`.
    pub fn trans_a(mut self) -> Self {
        self.trans_a = true;
        self.lda = self.m;
        self
    }
    /// Marks B as stored transposed and sets `ldb` to the packed `k`.
    pub fn trans_b(mut self) -> Self {
        self.trans_b = true;
        self.ldb = self.k;
        self
    }
    /// Sets the types of A and B (and keeps the others).
    pub fn inputs(mut self, a: DType, b: DType) -> Self {
        (self.a_dtype, self.b_dtype) = (a, b);
        self
    }
    /// Sets the dtype of C (output conversion).
    pub fn output(mut self, c: DType) -> Self {
        self.c_dtype = c;
        self
    }
    /// Declares B in the VNNI layout of its dtype (VNNI2 for bf16/f16, VNNI4 for int8).
    pub fn vnni_b(mut self) -> Self {
        self.b_layout = if self.b_dtype.size() == 1 {
            Layout::Vnni4
        } else {
            Layout::Vnni2
        };
        self
    }
    /// Writes C in VNNI2 layout.
    pub fn vnni_c(mut self) -> Self {
        self.c_layout = Layout::Vnni2;
        self
    }
    /// Sets the batch-reduce addressing.
    pub fn batch(mut self, batch: BatchReduce) -> Self {
        self.batch = batch;
        self
    }
    /// Adds a bias of the given broadcast and dtype.
    pub fn bias(mut self, broadcast: BiasBroadcast, dtype: DType) -> Self {
        self.epilogue.bias = Some(Bias { broadcast, dtype });
        self
    }
    /// Sets the epilogue activation (and a packed mask leading dimension if it writes a mask).
    pub fn activation(mut self, act: Activation) -> Self {
        self.epilogue.activation = act;
        if act.writes_mask() && self.epilogue.mask_ld == 0 {
            self.epilogue.mask_ld = bitmask::default_ld(self.n);
        }
        self
    }

    /// Rows and columns of A as stored.
    pub fn a_shape(&self) -> (usize, usize) {
        if self.trans_a {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        }
    }

    /// Rows and columns of B as stored (logical, before VNNI packing).
    pub fn b_shape(&self) -> (usize, usize) {
        if self.trans_b {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        }
    }

    /// Elements one A matrix spans.
    pub fn a_len(&self) -> usize {
        let (r, c) = self.a_shape();
        Layout::RowMajor.len(r, c, self.lda)
    }

    /// Elements one B matrix spans.
    pub fn b_len(&self) -> usize {
        let (r, c) = self.b_shape();
        self.b_layout.len(r, c, self.ldb)
    }

    /// Elements C spans.
    pub fn c_len(&self) -> usize {
        self.c_layout.len(self.m, self.n, self.ldc)
    }

    /// True for the int8 → i32 family.
    pub fn is_int8(&self) -> bool {
        self.a_dtype.is_int8()
    }

    /// Nominal flop count of one product (per batch member for BRGEMM): `2·m·n·k`, saturating.
    pub fn flops(&self) -> u64 {
        // Saturating: validation bounds each operand's bytes, not the product of the sizes.
        (self.m as u64)
            .saturating_mul(2)
            .saturating_mul(self.n as u64)
            .saturating_mul(self.k as u64)
    }

    /// Checks every field against the ISA.
    pub fn validate(&self) -> Result<()> {
        let ck = Check { family: "gemm" };
        ck.dim("m", self.m)?;
        ck.dim("n", self.n)?;
        ck.dim("k", self.k)?;
        self.validate_dtypes(&ck)?;
        let (ar, ac) = self.a_shape();
        ck.ld("lda", self.lda, ac, if self.trans_a { "m" } else { "k" })?;
        ck.extent("lda", ar, self.lda, self.a_dtype)?;
        let v = self.b_layout.factor();
        match self.b_layout {
            Layout::RowMajor => {
                let (br, bc) = self.b_shape();
                ck.ld("ldb", self.ldb, bc, if self.trans_b { "k" } else { "n" })?;
                ck.extent("ldb", br, self.ldb, self.b_dtype)?;
            }
            Layout::Vnni2 | Layout::Vnni4 => {
                let want = if self.b_dtype.size() == 1 { 4 } else { 2 };
                if self.b_dtype.size() > 2 || v != want {
                    return Err(ck.err(
                        "b_layout",
                        format!("{:?} with {}", self.b_layout, self.b_dtype),
                        "Vnni2 for bf16/f16, Vnni4 for i8/u8, RowMajor for any",
                    ));
                }
                if self.trans_b {
                    return Err(ck.err("trans_b", true, "false when B is in a VNNI layout"));
                }
                if !self.k.is_multiple_of(v) {
                    return Err(ck.err(
                        "k",
                        self.k,
                        format!("a multiple of {v} when B is VNNI{v}"),
                    ));
                }
                ck.ld("ldb", self.ldb, self.n, "n")?;
                ck.extent("ldb", self.k, self.ldb, self.b_dtype)?;
            }
        }
        ck.ld("ldc", self.ldc, self.n, "n")?;
        ck.extent("ldc", self.m.next_multiple_of(2), self.ldc, self.c_dtype)?;
        match self.c_layout {
            Layout::RowMajor => {}
            Layout::Vnni2 => {
                if !matches!(self.c_dtype, DType::BF16 | DType::F16) {
                    return Err(ck.err("c_layout", "Vnni2", "Vnni2 only for a bf16 or f16 C"));
                }
                if !self.m.is_multiple_of(2) {
                    return Err(ck.err("m", self.m, "an even m when C is VNNI2"));
                }
            }
            Layout::Vnni4 => return Err(ck.err("c_layout", "Vnni4", "RowMajor or Vnni2")),
        }
        ck.finite("alpha", self.alpha)?;
        ck.finite("beta", self.beta)?;
        if let BatchReduce::Stride { a, b } = self.batch {
            ck.extent("batch.stride_a", 1, a, self.a_dtype)?;
            ck.extent("batch.stride_b", 1, b, self.b_dtype)?;
        }
        self.validate_epilogue(&ck)
    }

    fn validate_dtypes(&self, ck: &Check) -> Result<()> {
        let (a, b, c, comp) = (self.a_dtype, self.b_dtype, self.c_dtype, self.compute_dtype);
        if a.is_int8() {
            if !b.is_int8() {
                return Err(ck.err("b_dtype", b, "i8 or u8 when A is int8"));
            }
            if comp != DType::I32 {
                return Err(ck.err("compute_dtype", comp, "i32 for int8 inputs"));
            }
            if c != DType::I32 {
                return Err(ck.err("c_dtype", c, "i32 for int8 inputs"));
            }
            if self.alpha != 1.0 {
                return Err(ck.err("alpha", self.alpha, "1 for int8 inputs"));
            }
            if self.beta != 0.0 && self.beta != 1.0 {
                return Err(ck.err("beta", self.beta, "0 or 1 for int8 inputs"));
            }
            return Ok(());
        }
        ck.float("a_dtype", a)?;
        if b != a {
            return Err(ck.err("b_dtype", b, format!("{a} (the same as A)")));
        }
        let want = if a == DType::F64 {
            DType::F64
        } else {
            DType::F32
        };
        if comp != want {
            return Err(ck.err("compute_dtype", comp, format!("{want} for {a} inputs")));
        }
        let ok = match a {
            DType::F64 => c == DType::F64,
            DType::F32 => matches!(c, DType::F32 | DType::BF16 | DType::F16),
            DType::BF16 => matches!(c, DType::F32 | DType::BF16),
            _ => matches!(c, DType::F32 | DType::F16),
        };
        if !ok {
            let allowed = match a {
                DType::F64 => "f64",
                DType::F32 => "f32, bf16 or f16",
                DType::BF16 => "f32 or bf16",
                _ => "f32 or f16",
            };
            return Err(ck.err("c_dtype", c, format!("{allowed} for {a} inputs")));
        }
        Ok(())
    }

    fn validate_epilogue(&self, ck: &Check) -> Result<()> {
        let ep = &self.epilogue;
        if self.is_int8() && (ep.bias.is_some() || ep.activation != Activation::None) {
            return Err(ck.err(
                "epilogue",
                "bias or activation",
                "no epilogue for int8 GEMM",
            ));
        }
        if let Some(bias) = ep.bias {
            ck.float("epilogue.bias.dtype", bias.dtype)?;
        }
        ep.activation.validate(ck)?;
        if ep.activation.writes_mask() {
            ck.mask_ld("epilogue.mask_ld", ep.mask_ld, self.n, self.m)?;
        }
        Ok(())
    }

    /// The same kernel with fields that do not affect it normalised, so that equivalent
    /// descriptors share one cache entry.
    pub fn canonical(&self) -> GemmDesc {
        let mut d = *self;
        if !d.epilogue.activation.writes_mask() {
            d.epilogue.mask_ld = 0;
        }
        d.alpha += 0.0; // -0.0 → 0.0
        d.beta += 0.0;
        d
    }

    /// A name that says what the kernel computes, e.g. `gemm_reference_f32_m64n64k64_beta1`.
    pub fn kernel_name(&self, backend: &str) -> String {
        let types = if self.a_dtype == self.c_dtype {
            self.a_dtype.name().to_string()
        } else {
            format!("{}{}{}", self.a_dtype, self.b_dtype, self.c_dtype)
        };
        let mut s = format!("gemm_{backend}_{types}_m{}n{}k{}", self.m, self.n, self.k);
        if self.trans_a || self.trans_b {
            s += &format!(
                "_{}{}",
                if self.trans_a { 't' } else { 'n' },
                if self.trans_b { 't' } else { 'n' }
            );
        }
        s += self.b_layout.tag();
        if self.c_layout != Layout::RowMajor {
            s += "_cvnni2";
        }
        if self.alpha != 1.0 {
            s += "_alpha";
        }
        s += &format!(
            "_beta{}",
            if self.beta == 0.0 || self.beta == 1.0 {
                self.beta.to_string()
            } else {
                "x".into()
            }
        );
        s += match self.batch {
            BatchReduce::None => "",
            BatchReduce::Stride { .. } => "_brstride",
            BatchReduce::Offsets => "_broffs",
            BatchReduce::Addresses => "_braddr",
        };
        if let Some(b) = self.epilogue.bias {
            s += match b.broadcast {
                BiasBroadcast::Row => "_biasrow",
                BiasBroadcast::Col => "_biascol",
            };
        }
        s += self.epilogue.activation.tag();
        s
    }
}

impl PartialEq for GemmDesc {
    /// Field by field, with `&` rather than `&&` so the comparisons run without branches (a
    /// cache hit compares the descriptor once). Floats compare by bits.
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        (self.m == o.m)
            & (self.n == o.n)
            & (self.k == o.k)
            & (self.lda == o.lda)
            & (self.ldb == o.ldb)
            & (self.ldc == o.ldc)
            & (self.a_dtype == o.a_dtype)
            & (self.b_dtype == o.b_dtype)
            & (self.c_dtype == o.c_dtype)
            & (self.compute_dtype == o.compute_dtype)
            & (self.trans_a == o.trans_a)
            & (self.trans_b == o.trans_b)
            & (self.b_layout == o.b_layout)
            & (self.c_layout == o.c_layout)
            & (self.alpha.to_bits() == o.alpha.to_bits())
            & (self.beta.to_bits() == o.beta.to_bits())
            & (self.batch == o.batch)
            & (self.epilogue.bias == o.epilogue.bias)
            & (self.epilogue.activation.key_word() == o.epilogue.activation.key_word())
            & (self.epilogue.mask_ld == o.epilogue.mask_ld)
    }
}
impl Eq for GemmDesc {}
impl Hash for GemmDesc {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (batch_kind, sa, sb) = match self.batch {
            BatchReduce::None => (0, 0, 0),
            BatchReduce::Stride { a, b } => (1, a, b),
            BatchReduce::Offsets => (2, 0, 0),
            BatchReduce::Addresses => (3, 0, 0),
        };
        let bias = self
            .epilogue
            .bias
            .map_or(0, |b| 1 | (b.broadcast as u8) << 1 | (b.dtype as u8) << 2);
        key::write(
            state,
            [
                key::pack3(self.m, self.n, self.k),
                key::pack3(self.lda, self.ldb, self.ldc),
                key::codes([
                    self.a_dtype as u8,
                    self.b_dtype as u8,
                    self.c_dtype as u8,
                    self.compute_dtype as u8,
                    self.trans_a as u8 | (self.trans_b as u8) << 1,
                    self.b_layout as u8 | (self.c_layout as u8) << 4,
                    batch_kind,
                    bias,
                ]),
                self.alpha.to_bits() ^ self.beta.to_bits().rotate_left(32),
                key::pack3(sa, sb, self.epilogue.mask_ld) ^ self.epilogue.activation.key_word(),
            ],
        );
    }
}
