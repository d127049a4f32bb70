/*
 * tpp: Tensor Processing Primitives — the C API.
 *
 * Build the library with `cargo build --release` (target/release/libtpp.so and libtpp.a;
 * `--features blas` also exports sgemm_/dgemm_, cblas_sgemm/cblas_dgemm/cblas_sbgemm and
 * cblas_{s,d,sb}gemm_batch); pkg-config finds it through target/release/tpp.pc.
 *
 * Use: fill a descriptor (tpp_*_desc_init sets the defaults, then change fields), dispatch it
 * once (tpp_*_dispatch validates it and returns a kernel handle), call the kernel many times
 * with its argument struct (tpp_*_call), release the handle. Every function returns a
 * tpp_status; on failure tpp_last_error() says what was wrong and what is allowed.
 * Operands are row-major: element (i, j) at base + i*ld + j. Offsets and strides count
 * elements. Kernels may be called from many threads at once.
 */

#ifndef TPP_H
#define TPP_H

/* Generated from src/ffi by cbindgen (tests/ffi_header.rs checks it); do not edit. */

#include <stdint.h>
#include <stddef.h>

// IEEE binary64.
#define TPP_DTYPE_F64 0

// IEEE binary32.
#define TPP_DTYPE_F32 1

// bfloat16.
#define TPP_DTYPE_BF16 2

// IEEE binary16.
#define TPP_DTYPE_F16 3

// Signed 32-bit integer.
#define TPP_DTYPE_I32 4

// Signed 8-bit integer.
#define TPP_DTYPE_I8 5

// Unsigned 8-bit integer.
#define TPP_DTYPE_U8 6

// Row-major storage.
#define TPP_LAYOUT_ROW_MAJOR 0

// VNNI2: pairs of rows interleaved (bf16/f16).
#define TPP_LAYOUT_VNNI2 1

// VNNI4: quads of rows interleaved (int8).
#define TPP_LAYOUT_VNNI4 2

// No broadcast: a full matrix.
#define TPP_BCAST_NONE 0

// A row vector of `cols` values, for every row.
#define TPP_BCAST_ROW 1

// A column vector of `rows` values, for every column.
#define TPP_BCAST_COL 2

// One value everywhere.
#define TPP_BCAST_SCALAR 3

// Batch-reduce: plain GEMM.
#define TPP_BATCH_NONE 0

// Batch-reduce by element strides.
#define TPP_BATCH_STRIDE 1

// Batch-reduce by arrays of element offsets.
#define TPP_BATCH_OFFSETS 2

// Batch-reduce by arrays of addresses.
#define TPP_BATCH_ADDRESSES 3

// No bias.
#define TPP_BIAS_NONE 0

// A bias row of `n` values: `C(i, j) += bias[j]`.
#define TPP_BIAS_ROW 1

// A bias column of `m` values: `C(i, j) += bias[i]`.
#define TPP_BIAS_COL 2

// Epilogue activations (`activation_alpha` is the slope / scale of leaky relu and elu).
#define TPP_ACT_NONE 0

// relu.
#define TPP_ACT_RELU 1

// relu writing a bitmask of the positive results.
#define TPP_ACT_RELU_MASK 2

// leaky relu.
#define TPP_ACT_LEAKY_RELU 3

// elu.
#define TPP_ACT_ELU 4

// tanh-approximate gelu.
#define TPP_ACT_GELU 5

// exact (erf) gelu.
#define TPP_ACT_GELU_ERF 6

// sigmoid.
#define TPP_ACT_SIGMOID 7

// tanh.
#define TPP_ACT_TANH 8

// silu.
#define TPP_ACT_SILU 9

// Kernel families (`tpp_kernel_info.family`).
#define TPP_FAMILY_GEMM 0

// Unary kernels.
#define TPP_FAMILY_UNARY 1

// Binary kernels.
#define TPP_FAMILY_BINARY 2

// Ternary kernels.
#define TPP_FAMILY_TERNARY 3

// Reduce kernels.
#define TPP_FAMILY_REDUCE 4

// Equation kernels.
#define TPP_FAMILY_EQUATION 5

// Unary ops (`tpp_unary_desc.op`; `mask` selects the bitmask forms of relu and leaky relu,
// `param` is alpha of leaky relu / elu or p of dropout, `layout` the VNNI layout).
#define TPP_UNARY_IDENTITY 0

// out = 0.
#define TPP_UNARY_ZERO 1

// out = −x.
#define TPP_UNARY_NEGATE 2

// out = |x|.
#define TPP_UNARY_ABS 3

// out = x².
#define TPP_UNARY_SQUARE 4

// out = √x.
#define TPP_UNARY_SQRT 5

// out = 1/x.
#define TPP_UNARY_RECIPROCAL 6

// out = 1/√x.
#define TPP_UNARY_RSQRT 7

// out = x + 1.
#define TPP_UNARY_INCREMENT 8

// out = eˣ.
#define TPP_UNARY_EXP 9

// out = tanh x.
#define TPP_UNARY_TANH 10

// Backward of tanh (reads aux).
#define TPP_UNARY_TANH_BWD 11

// out = σ(x).
#define TPP_UNARY_SIGMOID 12

// Backward of sigmoid (reads aux).
#define TPP_UNARY_SIGMOID_BWD 13

// tanh-approximate gelu.
#define TPP_UNARY_GELU 14

// Backward of gelu (reads aux).
#define TPP_UNARY_GELU_BWD 15

// exact gelu.
#define TPP_UNARY_GELU_ERF 16

// Backward of exact gelu (reads aux).
#define TPP_UNARY_GELU_ERF_BWD 17

// relu (`mask`: write the bitmask).
#define TPP_UNARY_RELU 18

// Backward of relu (`mask`: read the bitmask instead of aux).
#define TPP_UNARY_RELU_BWD 19

// leaky relu with slope `param`.
#define TPP_UNARY_LEAKY_RELU 20

// Backward of leaky relu.
#define TPP_UNARY_LEAKY_RELU_BWD 21

// elu with scale `param`.
#define TPP_UNARY_ELU 22

// Backward of elu (reads aux).
#define TPP_UNARY_ELU_BWD 23

// silu.
#define TPP_UNARY_SILU 24

// Backward of silu (reads aux).
#define TPP_UNARY_SILU_BWD 25

// dropout with probability `param` (seed in the call arguments; writes the mask).
#define TPP_UNARY_DROPOUT 26

// Backward of dropout (reads the mask).
#define TPP_UNARY_DROPOUT_BWD 27

// Transpose.
#define TPP_UNARY_TRANSPOSE 28

// Pack into the VNNI `layout`.
#define TPP_UNARY_VNNI_PACK 29

// Unpack from the VNNI `layout`.
#define TPP_UNARY_VNNI_UNPACK 30

// `out(i, :) = in(idx[i], :)`.
#define TPP_UNARY_GATHER_ROWS 31

// `out(i, j) = in(i, idx[j])`.
#define TPP_UNARY_GATHER_COLS 32

// `out(idx[i], :) = in(i, :)`.
#define TPP_UNARY_SCATTER_ROWS 33

// `out(i, idx[j]) = in(i, j)`.
#define TPP_UNARY_SCATTER_COLS 34

// Binary ops.
#define TPP_BINARY_ADD 0

// a − b.
#define TPP_BINARY_SUB 1

// a · b.
#define TPP_BINARY_MUL 2

// a / b.
#define TPP_BINARY_DIV 3

// max(a, b).
#define TPP_BINARY_MAX 4

// min(a, b).
#define TPP_BINARY_MIN 5

// out += a · b.
#define TPP_BINARY_MULADD 6

// Bitmask of a > b.
#define TPP_BINARY_CMP_GT 7

// Bitmask of a ≥ b.
#define TPP_BINARY_CMP_GE 8

// Bitmask of a < b.
#define TPP_BINARY_CMP_LT 9

// Bitmask of a ≤ b.
#define TPP_BINARY_CMP_LE 10

// Bitmask of a = b.
#define TPP_BINARY_CMP_EQ 11

// Bitmask of a ≠ b.
#define TPP_BINARY_CMP_NE 12

// Ternary ops: a · b + c.
#define TPP_TERNARY_MULADD 0

// c − a · b.
#define TPP_TERNARY_NMULADD 1

// mask ? a : b.
#define TPP_TERNARY_SELECT 2

// Reduce ops: sum.
#define TPP_REDUCE_SUM 0

// Maximum.
#define TPP_REDUCE_MAX 1

// Minimum.
#define TPP_REDUCE_MIN 2

// Maximum of absolute values.
#define TPP_REDUCE_ABSMAX 3

// Sum of squares.
#define TPP_REDUCE_SUMSQ 4

// Sum and sum of squares (two output vectors).
#define TPP_REDUCE_SUM_SUMSQ 5

// Reduce along each row (one value per row).
#define TPP_AXIS_PER_ROW 0

// Reduce along each column (one value per column).
#define TPP_AXIS_PER_COL 1

// Ready-made equations (`tpp_equation_create_ready`): layer norm (param: eps).
#define TPP_EQ_LAYER_NORM 0

// Layer norm backward.
#define TPP_EQ_LAYER_NORM_BWD 1

// RMS norm (param: eps).
#define TPP_EQ_RMS_NORM 2

// RMS norm backward.
#define TPP_EQ_RMS_NORM_BWD 3

// Softmax over rows.
#define TPP_EQ_SOFTMAX 4

// Softmax backward.
#define TPP_EQ_SOFTMAX_BWD 5

// Bias + GELU (tanh form).
#define TPP_EQ_BIAS_GELU 6

// Dropout + residual add (param: p).
#define TPP_EQ_DROPOUT_RESIDUAL 7

// silu(a)·b.
#define TPP_EQ_SILU_GATE 8

// AdamW step.
#define TPP_EQ_ADAMW 9

// SGD with momentum.
#define TPP_EQ_SGD_MOMENTUM 10

// One online-softmax step of flash attention over a block of f32 scores `S` (`rows × cols`,
// contiguous): inputs `S`, `m`, `l`; outputs `P` (`dtype`, contiguous), `m'`, `l'`, `c`.
#define TPP_EQ_ONLINE_SOFTMAX 11

// A BERT layer (`tpp_bert_layer *` in C): an id, never dereferenced.
typedef struct tpp_bert_layer tpp_bert_layer;

// An equation under construction (`tpp_equation *` in C): an id, never dereferenced.
typedef struct tpp_equation tpp_equation;

// An opaque kernel handle (`tpp_kernel *` in C): an id, not an address; it is never
// dereferenced.
typedef struct tpp_kernel tpp_kernel;

// The result of every C entry point.
typedef int32_t tpp_status;

// A GEMM / BRGEMM descriptor (see `GemmDesc` in the Rust API for the semantics of each
// field): `C = act(alpha·Σ op(A_i)·op(B_i) + beta·C + bias)`, row-major.
typedef struct tpp_gemm_desc {
  // Rows of C.
  int64_t m;
  // Columns of C.
  int64_t n;
  // The contraction size.
  int64_t k;
  // Leading dimensions of A, B and C as stored (elements; logical columns for VNNI).
  int64_t lda;
  // See `lda`.
  int64_t ldb;
  // See `lda`.
  int64_t ldc;
  // `TPP_DTYPE_*` of A, B, C and the accumulation.
  int32_t a_dtype;
  // See `a_dtype`.
  int32_t b_dtype;
  // See `a_dtype`.
  int32_t c_dtype;
  // See `a_dtype`.
  int32_t compute_dtype;
  // 1: A is stored transposed (`k × m`).
  int32_t trans_a;
  // 1: B is stored transposed (`n × k`).
  int32_t trans_b;
  // `TPP_LAYOUT_*` of B and of C.
  int32_t b_layout;
  // See `b_layout`.
  int32_t c_layout;
  // Scale of the product.
  double alpha;
  // Scale of the prior C (0: C is write-only).
  double beta;
  // `TPP_BATCH_*`.
  int32_t batch;
  // `TPP_BIAS_*`.
  int32_t bias;
  // Elements between consecutive A (B) matrices for `TPP_BATCH_STRIDE`.
  int64_t stride_a;
  // See `stride_a`.
  int64_t stride_b;
  // `TPP_DTYPE_*` of the bias.
  int32_t bias_dtype;
  // `TPP_ACT_*` of the epilogue.
  int32_t activation;
  // Leading dimension (bits) of the relu mask.
  int64_t mask_ld;
  // Slope (leaky relu) or scale (elu) of the activation.
  float activation_alpha;
} tpp_gemm_desc;

// A unary descriptor (see `UnaryDesc` and `UnaryOp` in the Rust API).
typedef struct tpp_unary_desc {
  // `TPP_UNARY_*`.
  int32_t op;
  // 1: the bitmask form of relu / leaky relu (forward writes it, backward reads it).
  int32_t mask;
  // Alpha of leaky relu and elu, p of dropout.
  float param;
  // `TPP_LAYOUT_*` of VNNI pack and unpack.
  int32_t layout;
  // The iteration space.
  int64_t rows;
  // See `rows`.
  int64_t cols;
  // Leading dimensions of the input and the output.
  int64_t ld_in;
  // See `ld_in`.
  int64_t ld_out;
  // `TPP_DTYPE_*` of the input, the arithmetic and the output.
  int32_t in_dtype;
  // See `in_dtype`.
  int32_t compute_dtype;
  // See `in_dtype`.
  int32_t out_dtype;
  // `TPP_BCAST_*` of the input.
  int32_t broadcast;
  // Leading dimension (bits) of the bitmask.
  int64_t mask_ld;
} tpp_unary_desc;

// A binary descriptor (see `BinaryDesc` in the Rust API).
typedef struct tpp_binary_desc {
  // `TPP_BINARY_*`.
  int32_t op;
  // `TPP_BCAST_*` of each input.
  int32_t broadcast0;
  // See `broadcast0`.
  int32_t broadcast1;
  // `TPP_DTYPE_*` of the inputs, the arithmetic and the output.
  int32_t in0_dtype;
  // See `in0_dtype`.
  int32_t in1_dtype;
  // See `in0_dtype`.
  int32_t compute_dtype;
  // See `in0_dtype`.
  int32_t out_dtype;
  // The iteration space.
  int64_t rows;
  // See `rows`.
  int64_t cols;
  // Leading dimensions (bits of the output mask for comparisons).
  int64_t ld_in0;
  // See `ld_in0`.
  int64_t ld_in1;
  // See `ld_in0`.
  int64_t ld_out;
} tpp_binary_desc;

// A ternary descriptor (see `TernaryDesc` in the Rust API).
typedef struct tpp_ternary_desc {
  // `TPP_TERNARY_*`.
  int32_t op;
  // `TPP_DTYPE_*` of the arithmetic and the output.
  int32_t compute_dtype;
  // See `compute_dtype`.
  int32_t out_dtype;
  // `TPP_DTYPE_*` of each input.
  int32_t in_dtypes[3];
  // `TPP_BCAST_*` of each input.
  int32_t broadcasts[3];
  // The iteration space.
  int64_t rows;
  // See `rows`.
  int64_t cols;
  // Leading dimension of each input.
  int64_t ld_in[3];
  // Leading dimension of the output.
  int64_t ld_out;
  // Leading dimension (bits) of the select mask.
  int64_t mask_ld;
} tpp_ternary_desc;

// A reduce descriptor (see `ReduceDesc` in the Rust API).
typedef struct tpp_reduce_desc {
  // `TPP_REDUCE_*`.
  int32_t op;
  // `TPP_AXIS_*`.
  int32_t axis;
  // `TPP_DTYPE_*` of the input, the arithmetic and the output.
  int32_t in_dtype;
  // See `in_dtype`.
  int32_t compute_dtype;
  // See `in_dtype`.
  int32_t out_dtype;
  // 1: add to the output instead of overwriting it.
  int32_t accumulate;
  // The input's shape and leading dimension.
  int64_t rows;
  // See `rows`.
  int64_t cols;
  // See `rows`.
  int64_t ld_in;
} tpp_reduce_desc;

// Arguments of a GEMM / BRGEMM kernel.
typedef struct tpp_gemm_args {
  // A (base of the batch), or for `BatchReduce::Addresses` a `*const *const` array of
  // `batch` A pointers.
  const void *a;
  // B, as for `a`.
  const void *b;
  // C (read when beta ≠ 0, always written).
  void *c;
  // `BatchReduce::Offsets`: `batch` element offsets of A_i from `a`.
  const uint64_t *a_offsets;
  // `BatchReduce::Offsets`: `batch` element offsets of B_i from `b`.
  const uint64_t *b_offsets;
  // Run-time batch count for the batch-reduce forms (ignored by plain GEMM). 0 reduces
  // nothing: C becomes `beta·C` followed by the epilogue.
  uint64_t batch;
  // Bias vector of the epilogue.
  const void *bias;
  // Relu bitmask written by the epilogue.
  uint8_t *relu_mask;
  // A hint, never dereferenced (any address, or null for none): bytes to pull into L2
  // while the kernel runs, one 64-byte line per trip of its k loop, in increasing addresses
  // from here. Typically the next call's B: a loop over output blocks then reads this
  // call's B from L2 while the next one's arrives from memory, instead of waiting for it
  // at the next call's first tile (LIBXSMM's prefetch pointers are the prior art). The
  // AVX-512 kernels with a general-purpose register to spare follow it; the others ignore it.
  const void *prefetch;
} tpp_gemm_args;

// Arguments of a unary kernel.
typedef struct tpp_unary_args {
  // The input (`dy` for backward ops); unused by `Zero`.
  const void *input;
  // The forward input `x` of backward ops.
  const void *aux;
  // Bitmask read by mask-based backward ops.
  const uint8_t *mask_in;
  // The output.
  void *output;
  // Bitmask written by relu-with-mask and dropout.
  uint8_t *mask_out;
  // Index array of gathers and scatters (`rows` or `cols` entries).
  const uint64_t *indices;
  // Dropout seed.
  uint64_t seed;
} tpp_unary_args;

// Arguments of a binary kernel.
typedef struct tpp_binary_args {
  // First input.
  const void *in0;
  // Second input.
  const void *in1;
  // Output (bitmask bytes for comparisons).
  void *output;
} tpp_binary_args;

// Arguments of a ternary kernel.
typedef struct tpp_ternary_args {
  // First input.
  const void *in0;
  // Second input.
  const void *in1;
  // Third input (unused by `Select`).
  const void *in2;
  // Condition bitmask of `Select`.
  const uint8_t *mask;
  // Output.
  void *output;
} tpp_ternary_args;

// Arguments of a reduce kernel.
typedef struct tpp_reduce_args {
  // Input matrix.
  const void *input;
  // Output vector (read too when accumulating).
  void *output;
} tpp_reduce_args;

// What a kernel is (the strings belong to the kernel and stay valid for the process; two
// handles of the same kernel give the same `name` pointer).
typedef struct tpp_kernel_info {
  // Descriptive name, e.g. `gemm_avx512_f32_m64n64k64_beta1`.
  const char *name;
  // The backend that generated it (`avx512`, `reference`, ...).
  const char *backend;
  // Nominal flops of one call (per batch member for batch-reduce GEMM).
  uint64_t flops;
  // Bytes of machine code (0 for the reference backend).
  uint64_t code_size;
  // 1 when the portable reference backend runs it (no JIT backend claimed it).
  int32_t is_reference;
  // `TPP_FAMILY_GEMM`, `..._UNARY`, `..._BINARY`, `..._TERNARY` or `..._REDUCE`.
  int32_t family;
} tpp_kernel_info;

// The shape and options of a BERT encoder layer for `tpp_bert_layer_create` (see
// `tpp::ops::BertLayer`: post-norm, GELU MLP, padding by sequence lengths).
typedef struct tpp_bert_desc {
  // `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (activations and weights; biases and layer-norm
  // parameters are f32 either way; bf16: even head size).
  int32_t dtype;
  // Sequences per batch.
  int64_t batch;
  // Tokens per sequence (the padded length).
  int64_t seq;
  // Hidden size (a multiple of `heads`), heads and intermediate (MLP) size.
  int64_t hidden;
  // See `hidden`.
  int64_t heads;
  // See `hidden`.
  int64_t intermediate;
  // Probability of the two hidden-state dropouts, in [0, 1); 0 for inference.
  float dropout;
  // Epsilon of both layer norms; 0 means 1e-12 (BERT's).
  float layer_norm_eps;
  // Seed of the dropout masks.
  uint64_t seed;
} tpp_bert_desc;

// The parameters of a layer for `tpp_bert_layer_set_weights`: weights row-major
// `[out][in]` in the layer's dtype (as PyTorch's `nn.Linear.weight`), biases, `gamma` and
// `beta` f32. None may be NULL.
typedef struct tpp_bert_weights {
  // Query projection `[hidden][hidden]` and its bias (`hidden`).
  const void *query;
  // See `query`.
  const float *query_bias;
  // Key projection `[hidden][hidden]` and its bias (`hidden`).
  const void *key;
  // See `key`.
  const float *key_bias;
  // Value projection `[hidden][hidden]` and its bias (`hidden`).
  const void *value;
  // See `value`.
  const float *value_bias;
  // Attention output projection `[hidden][hidden]` and its bias (`hidden`).
  const void *attn_out;
  // See `attn_out`.
  const float *attn_out_bias;
  // The first layer norm's `gamma` and `beta` (`hidden` each).
  const float *attn_norm_gamma;
  // See `attn_norm_gamma`.
  const float *attn_norm_beta;
  // MLP up projection `[intermediate][hidden]` and its bias (`intermediate`).
  const void *intermediate;
  // See `intermediate`.
  const float *intermediate_bias;
  // MLP down projection `[hidden][intermediate]` and its bias (`hidden`).
  const void *output;
  // See `output`.
  const float *output_bias;
  // The second layer norm's `gamma` and `beta` (`hidden` each).
  const float *out_norm_gamma;
  // See `out_norm_gamma`.
  const float *out_norm_beta;
} tpp_bert_weights;

// The argument struct of an equation kernel (the C ABI's `tpp_equation_args`).
typedef struct tpp_equation_args {
  // One pointer per value input, in declaration order.
  const void *const *inputs;
  // One pointer per output, in declaration order (a mask output's bitmask included).
  void *const *outputs;
  // The mask input (null when the equation reads none).
  const uint8_t *mask_in;
  // Seed of the dropout nodes.
  uint64_t seed;
} tpp_equation_args;

// A large-GEMM problem for `tpp_matmul` (see `tpp::ops::Matmul`).
typedef struct tpp_matmul_desc {
  // 0: row-major, 1: column-major.
  int32_t col_major;
  // 1: A is stored as `op(A)ᵀ`.
  int32_t trans_a;
  // 1: B is stored as `op(B)ᵀ`.
  int32_t trans_b;
  // `TPP_DTYPE_F32`, `TPP_DTYPE_F64`, or `TPP_DTYPE_BF16` (bf16 A and B, f32 C).
  int32_t dtype;
  // C is `m × n`, op(A) `m × k`, op(B) `k × n`.
  int64_t m;
  // See `m`.
  int64_t n;
  // See `m`.
  int64_t k;
  // Leading dimensions as stored.
  int64_t lda;
  // See `lda`.
  int64_t ldb;
  // See `lda`.
  int64_t ldc;
  // `C = alpha·op(A)·op(B) + beta·C`; beta = 0 never reads C.
  double alpha;
  // See `alpha`.
  double beta;
  // 1: an f32 product may round A and B to bf16 and multiply on AMX tiles with f32
  // accumulation (`tpp::ops::Precision::Bf16`; full precision where tiles are absent);
  // 0 (what a C initializer that stops before this field gives): full precision.
  int32_t bf16_compute;
} tpp_matmul_desc;

// A 2D convolution for `tpp_conv2d_*` (see `tpp::ops::Conv2d`).
typedef struct tpp_conv2d_desc {
  // `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (activations and weights; bias and weight
  // gradients are f32).
  int32_t dtype;
  // Batch, input channels, input height and width.
  int64_t n;
  // See `n`.
  int64_t c;
  // See `n`.
  int64_t h;
  // See `n`.
  int64_t w;
  // Output channels, filter height and width (weights are `[k][c/groups][r][s]`).
  int64_t k;
  // See `k`.
  int64_t r;
  // See `k`.
  int64_t s;
  // Strides (at least 1).
  int64_t stride_h;
  // See `stride_h`.
  int64_t stride_w;
  // Zero padding on each side.
  int64_t pad_h;
  // See `pad_h`.
  int64_t pad_w;
  // Dilations (at least 1).
  int64_t dilation_h;
  // See `dilation_h`.
  int64_t dilation_w;
  // Groups (1 for a plain convolution).
  int64_t groups;
  // `TPP_ACT_*` applied after the bias in the forward pass (not `TPP_ACT_RELU_MASK`).
  int32_t activation;
  // The slope / scale of `TPP_ACT_LEAKY_RELU` and `TPP_ACT_ELU`.
  float activation_alpha;
} tpp_conv2d_desc;

// A fully connected layer for `tpp_linear_*` (see `tpp::ops::Linear`).
typedef struct tpp_linear_desc {
  // `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (bf16: even `c` and `k`).
  int32_t dtype;
  // Rows (batch × tokens), input features, output features.
  int64_t n;
  // See `n`.
  int64_t c;
  // See `n`.
  int64_t k;
  // `TPP_ACT_*` applied after the bias in the forward pass (not `TPP_ACT_RELU_MASK`).
  int32_t activation;
  // The slope / scale of `TPP_ACT_LEAKY_RELU` and `TPP_ACT_ELU`.
  float activation_alpha;
} tpp_linear_desc;

// Scaled dot-product attention for `tpp_attention_forward` (see `tpp::ops::Attention`).
typedef struct tpp_attention_desc {
  // `TPP_DTYPE_F32` or `TPP_DTYPE_BF16` (bf16: even `head_dim`).
  int32_t dtype;
  // Batch, heads, query and key sequence lengths, head size.
  int64_t batch;
  // See `batch`.
  int64_t heads;
  // See `batch`.
  int64_t seq_q;
  // See `batch`.
  int64_t seq_kv;
  // See `batch`.
  int64_t head_dim;
  // 1: causal mask (query i sees keys j <= i + seq_kv - seq_q); 0: none.
  int32_t causal;
  // Scale of the scores; 0 means 1/sqrt(head_dim).
  float scale;
} tpp_attention_desc;

// Success.
#define TPP_OK 0

// An argument is invalid: a null or implausible pointer, a negative or overflowing size, an
// unknown code, a kernel of another family. `tpp_last_error` says which.
#define TPP_ERR_INVALID_ARGUMENT 1

// The descriptor is outside the ISA; `tpp_last_error` names the field and what is allowed.
#define TPP_ERR_INVALID_DESCRIPTOR 2

// No backend can generate the kernel (only when one is forced by `TPP_TARGET`).
#define TPP_ERR_UNSUPPORTED 3

// An internal error was caught at the boundary (a bug in tpp: please report it).
#define TPP_ERR_INTERNAL 4

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Dispatches a GEMM / BRGEMM descriptor: validates it and returns a kernel handle in `*out`
// (release it with `tpp_kernel_release`; the generated code itself is cached for the process).
//
// # Safety
// `desc` must point to a `tpp_gemm_desc`, `out` to a writable handle pointer.
tpp_status tpp_gemm_dispatch(const struct tpp_gemm_desc *desc, struct tpp_kernel **out);

// Dispatches a unary descriptor (see `tpp_gemm_dispatch`).
//
// # Safety
// As for `tpp_gemm_dispatch`.
tpp_status tpp_unary_dispatch(const struct tpp_unary_desc *desc, struct tpp_kernel **out);

// Dispatches a binary descriptor (see `tpp_gemm_dispatch`).
//
// # Safety
// As for `tpp_gemm_dispatch`.
tpp_status tpp_binary_dispatch(const struct tpp_binary_desc *desc, struct tpp_kernel **out);

// Dispatches a ternary descriptor (see `tpp_gemm_dispatch`).
//
// # Safety
// As for `tpp_gemm_dispatch`.
tpp_status tpp_ternary_dispatch(const struct tpp_ternary_desc *desc, struct tpp_kernel **out);

// Dispatches a reduce descriptor (see `tpp_gemm_dispatch`).
//
// # Safety
// As for `tpp_gemm_dispatch`.
tpp_status tpp_reduce_dispatch(const struct tpp_reduce_desc *desc, struct tpp_kernel **out);

// Runs a GEMM kernel: `C = act(alpha·Σ op(A_i)·op(B_i) + beta·C + bias)`.
//
// # Safety
// `args` must hold pointers valid for the extents the kernel's descriptor implies (the
// operands of `tpp_gemm_args`, as documented there); tpp checks them for null and alignment
// only. A and B may alias each other; C may not alias them.
tpp_status tpp_gemm_call(const struct tpp_kernel *k, const struct tpp_gemm_args *args);

// Runs a unary kernel.
//
// # Safety
// As for `tpp_gemm_call`, with the operands of `tpp_unary_args`.
tpp_status tpp_unary_call(const struct tpp_kernel *k, const struct tpp_unary_args *args);

// Runs a binary kernel (comparisons write a bitmask to `output`).
//
// # Safety
// As for `tpp_gemm_call`, with the operands of `tpp_binary_args`.
tpp_status tpp_binary_call(const struct tpp_kernel *k, const struct tpp_binary_args *args);

// Runs a ternary kernel.
//
// # Safety
// As for `tpp_gemm_call`, with the operands of `tpp_ternary_args`.
tpp_status tpp_ternary_call(const struct tpp_kernel *k, const struct tpp_ternary_args *args);

// Runs a reduce kernel.
//
// # Safety
// As for `tpp_gemm_call`, with the operands of `tpp_reduce_args`.
tpp_status tpp_reduce_call(const struct tpp_kernel *k, const struct tpp_reduce_args *args);

// Fills `*info` with what the kernel is (a released or unknown handle is an error).
//
// # Safety
// `info` must be null or point to writable memory for a `tpp_kernel_info`.
tpp_status tpp_kernel_get_info(const struct tpp_kernel *k, struct tpp_kernel_info *info);

// Releases a kernel handle (null is allowed and does nothing); the kernel's code stays cached
// for other handles of the same descriptor. Using or releasing the handle again is an error
// (`TPP_ERR_INVALID_ARGUMENT`, "was released"), never undefined behaviour: handles are ids
// checked on every use, not pointers.
tpp_status tpp_kernel_release(struct tpp_kernel *k);

// The number of kernel handles dispatched and not yet released, in the whole process (a
// program can check that it releases what it dispatches).
uint64_t tpp_live_handles(void);

// The message of this thread's last failed call ("" after a success); valid until the
// thread's next tpp call.
const char *tpp_last_error(void);

// The library version, e.g. "0.1.0".
const char *tpp_version(void);

// Builds a layer (kernels dispatched, buffers allocated) from `desc`; `*out` receives its id
// (free it with `tpp_bert_layer_release`). Set its weights before running it.
//
// # Safety
// `desc` must point to a `tpp_bert_desc`, `out` to a writable `tpp_bert_layer *`.
tpp_status tpp_bert_layer_create(const struct tpp_bert_desc *desc, struct tpp_bert_layer **out);

// Packs the parameters into the layer (once; again to change them). Every pointer is
// checked before anything changes.
//
// # Safety
// `weights` must point to a `tpp_bert_weights` whose arrays hold the elements the layer's
// shape gives, in its dtype (biases and norms f32).
tpp_status tpp_bert_layer_set_weights(struct tpp_bert_layer *layer,
                                      const struct tpp_bert_weights *weights);

// `y = layer(x)` over `[batch][seq][hidden]` row-major tensors in the layer's dtype;
// `seq_lengths` (`batch` values in 1..=seq, or NULL for none) masks padded keys (padded
// query rows of `y` are computed like the others and carry no meaning).
//
// # Safety
// `x` and `y` must hold `batch·seq·hidden` elements each (distinct buffers);
// `seq_lengths`, when not NULL, `batch` values.
tpp_status tpp_bert_layer_forward(struct tpp_bert_layer *layer,
                                  const void *x,
                                  const int64_t *seq_lengths,
                                  void *y);

// Replaces the seed of the dropout masks of later runs.
tpp_status tpp_bert_layer_set_seed(struct tpp_bert_layer *layer, uint64_t seed);

// Frees a layer (NULL is allowed and does nothing); its id is never valid again.
tpp_status tpp_bert_layer_release(struct tpp_bert_layer *layer);

#if defined(TPP_BLAS)
// The reference BLAS error handler: prints
// ` ** On entry to NAME   parameter number  N had an illegal value` and returns.
//
// # Safety
// `srname` must point to `len` characters (or be NUL-terminated when `len` is 0) and `info`
// to an integer.
void xerbla_(const char *srname, const int *info, size_t len);
#endif

#if defined(TPP_BLAS)
// Fortran-convention single-precision GEMM (column-major):
// `C = alpha·op(A)·op(B) + beta·C`, as the reference `SGEMM`.
//
// # Safety
// As the reference BLAS: every pointer valid for its operand.
void sgemm_(const char *transa,
            const char *transb,
            const int *m,
            const int *n,
            const int *k,
            const float *alpha,
            const float *a,
            const int *lda,
            const float *b,
            const int *ldb,
            const float *beta,
            float *c,
            const int *ldc);
#endif

#if defined(TPP_BLAS)
// Fortran-convention double-precision GEMM (column-major), as the reference `DGEMM`.
//
// # Safety
// As the reference BLAS: every pointer valid for its operand.
void dgemm_(const char *transa,
            const char *transb,
            const int *m,
            const int *n,
            const int *k,
            const double *alpha,
            const double *a,
            const int *lda,
            const double *b,
            const int *ldb,
            const double *beta,
            double *c,
            const int *ldc);
#endif

#if defined(TPP_BLAS)
// The CBLAS error handler: prints the reference CBLAS message and returns. (The reference's
// is variadic — a format and its arguments follow `rout` — which stable Rust cannot define;
// the fixed arguments are passed the same way, and the others are not read.) tpp's CBLAS
// routines report the CBLAS parameter number, already mapped for row-major calls.
//
// # Safety
// `rout` must be NUL-terminated (or null).
void cblas_xerbla(int p, const char *rout, const char *form);
#endif

#if defined(TPP_BLAS)
// CBLAS single-precision GEMM, row- or column-major (`CblasRowMajor` = 101,
// `CblasColMajor` = 102; `CblasNoTrans` = 111, `CblasTrans` = 112, `CblasConjTrans` = 113),
// with the reference CBLAS's argument checks and error reports (`cblas_xerbla`, or the
// program's `xerbla_` for the Fortran-level checks, as the reference).
//
// # Safety
// As the reference CBLAS: every pointer valid for its operand.
void cblas_sgemm(int layout,
                 int transa,
                 int transb,
                 int m,
                 int n,
                 int k,
                 float alpha,
                 const float *a,
                 int lda,
                 const float *b,
                 int ldb,
                 float beta,
                 float *c,
                 int ldc);
#endif

#if defined(TPP_BLAS)
// CBLAS double-precision GEMM (see `cblas_sgemm`).
//
// # Safety
// As the reference CBLAS: every pointer valid for its operand.
void cblas_dgemm(int layout,
                 int transa,
                 int transb,
                 int m,
                 int n,
                 int k,
                 double alpha,
                 const double *a,
                 int lda,
                 const double *b,
                 int ldb,
                 double beta,
                 double *c,
                 int ldc);
#endif

#if defined(TPP_BLAS)
// OpenBLAS's bf16 GEMM: `C = alpha·op(A)·op(B) + beta·C` with bf16 A and B (raw bits,
// OpenBLAS's `bfloat16`), f32 C, alpha and beta, and f32 accumulation, on tpp's bf16 large
// GEMM. Checks, quick returns and error reports as `cblas_sgemm` (routine `cblas_sbgemm`,
// Fortran name `SBGEMM`).
//
// # Safety
// As the reference CBLAS: every pointer valid for its operand.
void cblas_sbgemm(int layout,
                  int transa,
                  int transb,
                  int m,
                  int n,
                  int k,
                  float alpha,
                  const uint16_t *a,
                  int lda,
                  const uint16_t *b,
                  int ldb,
                  float beta,
                  float *c,
                  int ldc);
#endif

#if defined(TPP_BLAS)
// Grouped batch of single-precision GEMMs (MKL's and OpenBLAS's `cblas_sgemm_batch`): group
// `g` is `group_size[g]` products `C = alpha·op(A)·op(B) + beta·C` sharing
// `transa_array[g]` … `ldc_array[g]`; `a_array`, `b_array`, `c_array` hold one matrix per
// product, groups in order. The whole batch is checked first; the first failure goes to
// `cblas_xerbla` with the position of the batch argument at fault (a group's GEMM arguments
// numbered as `cblas_sgemm` numbers them) and the group in the message (README, BLAS).
//
// # Safety
// Each array valid for `group_count` (or, for the matrix arrays, the total of
// `group_size`) elements, each matrix for its operand.
void cblas_sgemm_batch(int layout,
                       const int *transa_array,
                       const int *transb_array,
                       const int *m_array,
                       const int *n_array,
                       const int *k_array,
                       const float *alpha_array,
                       const float *const *a_array,
                       const int *lda_array,
                       const float *const *b_array,
                       const int *ldb_array,
                       const float *beta_array,
                       float *const *c_array,
                       const int *ldc_array,
                       int group_count,
                       const int *group_size);
#endif

#if defined(TPP_BLAS)
// Grouped batch of double-precision GEMMs (see `cblas_sgemm_batch`).
//
// # Safety
// As `cblas_sgemm_batch`.
void cblas_dgemm_batch(int layout,
                       const int *transa_array,
                       const int *transb_array,
                       const int *m_array,
                       const int *n_array,
                       const int *k_array,
                       const double *alpha_array,
                       const double *const *a_array,
                       const int *lda_array,
                       const double *const *b_array,
                       const int *ldb_array,
                       const double *beta_array,
                       double *const *c_array,
                       const int *ldc_array,
                       int group_count,
                       const int *group_size);
#endif

#if defined(TPP_BLAS)
// Grouped batch of bf16 GEMMs with f32 C (OpenBLAS's `cblas_sbgemm_batch`; see
// `cblas_sgemm_batch` and `cblas_sbgemm`).
//
// # Safety
// As `cblas_sgemm_batch`.
void cblas_sbgemm_batch(int layout,
                        const int *transa_array,
                        const int *transb_array,
                        const int *m_array,
                        const int *n_array,
                        const int *k_array,
                        const float *alpha_array,
                        const uint16_t *const *a_array,
                        const int *lda_array,
                        const uint16_t *const *b_array,
                        const int *ldb_array,
                        const float *beta_array,
                        float *const *c_array,
                        const int *ldc_array,
                        int group_count,
                        const int *group_size);
#endif

// Fills `*desc` as `GemmDesc::new` does: packed row-major `C = A·B + C` (beta 1) of `dtype`
// with its natural C and accumulation types (f32 for bf16/f16, i32 for int8).
//
// # Safety
// `desc` must point to writable memory for a `tpp_gemm_desc`.
tpp_status tpp_gemm_desc_init(struct tpp_gemm_desc *desc,
                              int64_t m,
                              int64_t n,
                              int64_t k,
                              int32_t dtype_code_);

// Fills `*desc` as `UnaryDesc::new` does: `op` over a packed `rows × cols` matrix of `dtype`
// (then set `mask`, `param`, `layout` and the rest as needed).
//
// # Safety
// `desc` must point to writable memory for a `tpp_unary_desc`.
tpp_status tpp_unary_desc_init(struct tpp_unary_desc *desc,
                               int32_t op,
                               int64_t rows,
                               int64_t cols,
                               int32_t dtype_code_);

// Fills `*desc` as `BinaryDesc::new` does.
//
// # Safety
// `desc` must point to writable memory for a `tpp_binary_desc`.
tpp_status tpp_binary_desc_init(struct tpp_binary_desc *desc,
                                int32_t op,
                                int64_t rows,
                                int64_t cols,
                                int32_t dtype_code_);

// Fills `*desc` as `TernaryDesc::new` does.
//
// # Safety
// `desc` must point to writable memory for a `tpp_ternary_desc`.
tpp_status tpp_ternary_desc_init(struct tpp_ternary_desc *desc,
                                 int32_t op,
                                 int64_t rows,
                                 int64_t cols,
                                 int32_t dtype_code_);

// Fills `*desc` as `ReduceDesc::new` does.
//
// # Safety
// `desc` must point to writable memory for a `tpp_reduce_desc`.
tpp_status tpp_reduce_desc_init(struct tpp_reduce_desc *desc,
                                int32_t op,
                                int32_t axis,
                                int64_t rows,
                                int64_t cols,
                                int32_t dtype_code_);

// Starts an equation over a `rows × cols` space; `*out` receives its id (free it with
// `tpp_equation_destroy`; dispatched kernels outlive it).
//
// # Safety
// `out` must point to a writable `tpp_equation *`.
tpp_status tpp_equation_create(int64_t rows, int64_t cols, struct tpp_equation **out);

// Starts from a ready-made equation (`TPP_EQ_*`; `param` is eps for the norms and p for
// dropout, ignored otherwise). Their inputs and outputs are documented in `tpp::equations`.
//
// # Safety
// `out` must point to a writable `tpp_equation *`.
tpp_status tpp_equation_create_ready(int32_t kind,
                                     int64_t rows,
                                     int64_t cols,
                                     int32_t dtype_code,
                                     float param,
                                     struct tpp_equation **out);

// Frees an equation under construction (null is allowed and does nothing).
tpp_status tpp_equation_destroy(struct tpp_equation *eq);

// Declares the next value input (`ld` is used for full matrices only).
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_input(struct tpp_equation *eq,
                              int32_t dtype_code,
                              int32_t bcast,
                              int64_t ld,
                              int32_t *node_out);

// Declares the mask input (`ld_bits` bits per row).
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_mask_input(struct tpp_equation *eq, int64_t ld_bits, int32_t *node_out);

// An f32 constant.
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_constant(struct tpp_equation *eq, float value, int32_t *node_out);

// A unary op (`TPP_UNARY_*`, with `mask` and `param` as in `tpp_unary_desc_init`) of `x`;
// backward ops take the forward input or mask as `aux` (`-1` for none).
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_unary(struct tpp_equation *eq,
                              int32_t op,
                              int32_t mask,
                              float param,
                              int32_t x,
                              int32_t aux,
                              int32_t *node_out);

// A binary op (`TPP_BINARY_*`; comparisons yield a mask node).
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_binary(struct tpp_equation *eq,
                               int32_t op,
                               int32_t a,
                               int32_t b,
                               int32_t *node_out);

// A ternary op (`TPP_TERNARY_*`; for `SELECT`, `a` is the mask node).
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_ternary(struct tpp_equation *eq,
                                int32_t op,
                                int32_t a,
                                int32_t b,
                                int32_t c,
                                int32_t *node_out);

// A reduction (`TPP_REDUCE_*` along `TPP_AXIS_*`) of a full-matrix node.
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_reduce(struct tpp_equation *eq,
                               int32_t op,
                               int32_t axis,
                               int32_t x,
                               int32_t *node_out);

// The mask a relu-with-mask or dropout node writes.
//
// # Safety
// `node_out` must point to a writable `int32_t`.
tpp_status tpp_equation_mask_of(struct tpp_equation *eq, int32_t x, int32_t *node_out);

// Marks a value node as the next output (`ld` for full matrices only).
tpp_status tpp_equation_output(struct tpp_equation *eq, int32_t n, int32_t dtype_code, int64_t ld);

// Marks a mask node as the next output, a bitmask of `ld_bits` bits per row.
tpp_status tpp_equation_mask_output(struct tpp_equation *eq, int32_t n, int64_t ld_bits);

// Validates the equation and returns a kernel handle in `*out` (release it with
// `tpp_kernel_release`; `tpp_kernel_get_info` says which backend runs it).
//
// # Safety
// `out` must point to a writable `tpp_kernel *`.
tpp_status tpp_equation_dispatch(struct tpp_equation *eq, struct tpp_kernel **out);

// Runs an equation kernel: `args->inputs` holds one pointer per input, `args->outputs` one
// per output (in declaration order), `args->mask_in` the mask input if the equation reads one.
//
// # Safety
// Every pointer must be valid for the extent the equation implies (rows × ld elements of its
// dtype for a full matrix, `cols` for a row vector, `rows` for a column vector, 1 for a
// scalar, bitmask bytes for masks). Outputs may overlap only the inputs the Rust API's
// `EquationKernel::may_alias` allows.
tpp_status tpp_equation_call(const struct tpp_kernel *k, const struct tpp_equation_args *args);

// Runs a large GEMM on tpp's BRGEMM composition (threads: rayon's global pool, sized by
// `RAYON_NUM_THREADS`).
//
// # Safety
// `desc` must point to a `tpp_matmul_desc`; `a`, `b` and `c` must be valid for the elements
// their operands span (A and B are not read when `k = 0` or `alpha = 0`).
tpp_status tpp_matmul(const struct tpp_matmul_desc *desc, const void *a, const void *b, void *c);

// `y = act(conv(x, w) + bias)`: `x` NCHW, `w` `[k][c/groups][r][s]`, `bias` `k` f32 values
// or NULL, `y` `[n][k][p][q]` with `p = (h + 2·pad_h − dilation_h·(r − 1) − 1)/stride_h + 1`
// (and `q` likewise).
//
// # Safety
// `desc` must point to a `tpp_conv2d_desc`; the tensors must hold the elements their shapes
// give, in the descriptor's dtype.
tpp_status tpp_conv2d_forward(const struct tpp_conv2d_desc *desc,
                              const void *x,
                              const void *w,
                              const float *bias,
                              void *y);

// `dx` (NCHW) from `dy` (`[n][k][p][q]`, the gradient before the activation) and `w`.
//
// # Safety
// As for `tpp_conv2d_forward`.
tpp_status tpp_conv2d_backward_data(const struct tpp_conv2d_desc *desc,
                                    const void *dy,
                                    const void *w,
                                    void *dx);

// `dw` (`[k][c/groups][r][s]`, f32) and, when `db` is not NULL, `db` (`k` f32 values) from `x`
// and `dy`.
//
// # Safety
// As for `tpp_conv2d_forward`.
tpp_status tpp_conv2d_backward_weights(const struct tpp_conv2d_desc *desc,
                                       const void *x,
                                       const void *dy,
                                       float *dw,
                                       float *db);

// `y = act(x·wᵀ + bias)`: `x` `[n][c]`, `w` `[k][c]`, `bias` `k` f32 values or NULL, `y`
// `[n][k]`, all row-major.
//
// # Safety
// `desc` must point to a `tpp_linear_desc`; the tensors must hold the elements their shapes
// give, in the descriptor's dtype.
tpp_status tpp_linear_forward(const struct tpp_linear_desc *desc,
                              const void *x,
                              const void *w,
                              const float *bias,
                              void *y);

// `dx = dy·w` (`dy` `[n][k]`, the gradient before the activation; `dx` `[n][c]`).
//
// # Safety
// As for `tpp_linear_forward`.
tpp_status tpp_linear_backward_data(const struct tpp_linear_desc *desc,
                                    const void *dy,
                                    const void *w,
                                    void *dx);

// `dw = dyᵀ·x` (`[k][c]` f32) and, when `db` is not NULL, `db = Σ_rows dy` (`k` f32 values).
//
// # Safety
// As for `tpp_linear_forward`.
tpp_status tpp_linear_backward_weights(const struct tpp_linear_desc *desc,
                                       const void *x,
                                       const void *dy,
                                       float *dw,
                                       float *db);

// `out = softmax(scale·q·kᵀ + mask)·v` per batch and head: `q`, `out` `[batch][seq_q][heads]
// [head_dim]`, `k`, `v` `[batch][seq_kv][heads][head_dim]`; `key_lengths` (`batch` values in
// 1..=seq_kv, or NULL) masks padded keys.
//
// # Safety
// `desc` must point to a `tpp_attention_desc`; the tensors must hold the elements their shapes
// give, in the descriptor's dtype.
tpp_status tpp_attention_forward(const struct tpp_attention_desc *desc,
                                 const void *q,
                                 const void *k,
                                 const void *v,
                                 const int64_t *key_lengths,
                                 void *out);

// `tpp_attention_forward`, also writing the softmax statistics the backward pass needs to
// `stats` (`2·batch·heads·seq_q` f32 values).
//
// # Safety
// As for `tpp_attention_forward`; `stats` must hold its values.
tpp_status tpp_attention_forward_train(const struct tpp_attention_desc *desc,
                                       const void *q,
                                       const void *k,
                                       const void *v,
                                       const int64_t *key_lengths,
                                       void *out,
                                       float *stats);

// `dq`, `dk`, `dv` (shaped as `q`, `k`, `v`) from `dout` (shaped as `out`), given the
// forward's inputs, its output and the statistics of `tpp_attention_forward_train`.
//
// # Safety
// As for `tpp_attention_forward_train`; the gradients must hold their elements.
tpp_status tpp_attention_backward(const struct tpp_attention_desc *desc,
                                  const void *q,
                                  const void *k,
                                  const void *v,
                                  const int64_t *key_lengths,
                                  const void *out,
                                  const float *stats,
                                  const void *dout,
                                  void *dq,
                                  void *dk,
                                  void *dv);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* TPP_H */
