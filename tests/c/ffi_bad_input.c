/* Bad input through every C entry point of include/tpp.h: null and misaligned pointers for each
 * pointer argument, negative and overflowing sizes, unknown codes in every code field, released,
 * forged and wrong-family kernel handles, absurd batch counts. Each must give a non-OK status
 * and a non-empty tpp_last_error(), never a crash; tests/ffi_c.rs also runs this program under
 * AddressSanitizer and UndefinedBehaviorSanitizer, where any report fails the test. With
 * TPP_BLAS, the BLAS entry points' invalid arguments must reach the program's xerbla_ (they
 * return no status; null pointers are outside what the BLAS interface can report).
 * Prints "N passed, M failed" and exits non-zero on any failure. */
#include "tpp.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define ANY (-1)

static void expect_fail(tpp_status st, int want, const char *what, int line) {
  const char *msg = tpp_last_error();
  int ok = st != TPP_OK && (want == ANY || st == want) && msg != NULL && msg[0] != '\0';
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL line %d: %s gave status %d, message \"%s\"\n", line, what, st,
           msg ? msg : "(null)");
  }
}

static void expect_ok(tpp_status st, const char *what, int line) {
  const char *msg = tpp_last_error();
  if (st == TPP_OK && msg != NULL && msg[0] == '\0') {
    passed++;
  } else {
    failed++;
    printf("FAIL line %d: %s gave status %d, message \"%s\"\n", line, what, st,
           msg ? msg : "(null)");
  }
}

#define BAD(call, want) expect_fail((call), (want), #call, __LINE__)
#define OK(call) expect_ok((call), #call, __LINE__)
#define CHECK(cond, what)                                                                   \
  do {                                                                                     \
    if (cond) {                                                                            \
      passed++;                                                                            \
    } else {                                                                               \
      failed++;                                                                            \
      printf("FAIL line %d: %s\n", __LINE__, what);                                        \
    }                                                                                      \
  } while (0)

#define ARG TPP_ERR_INVALID_ARGUMENT
#define DESC TPP_ERR_INVALID_DESCRIPTOR

/* Storage aligned for any descriptor, and a pointer one byte into it. */
static _Alignas(64) unsigned char raw[1024];
static void *misaligned(void) { return raw + 1; }

/* Aligned operand buffers, big enough for every kernel dispatched here (8 × 8 at most). */
static _Alignas(64) float buf_a[256], buf_b[256], buf_c[256], buf_d[256];
static _Alignas(64) uint8_t mask_buf[64];
static _Alignas(64) uint64_t idx_buf[8];

/* ---- descriptors ------------------------------------------------------------------------- */

static void desc_inits(void) {
  tpp_gemm_desc g;
  tpp_unary_desc u;
  tpp_binary_desc b;
  tpp_ternary_desc t;
  tpp_reduce_desc r;
  /* Null and misaligned destinations. */
  BAD(tpp_gemm_desc_init(NULL, 4, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_gemm_desc_init(misaligned(), 4, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_unary_desc_init(NULL, TPP_UNARY_RELU, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_unary_desc_init(misaligned(), TPP_UNARY_RELU, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_binary_desc_init(NULL, TPP_BINARY_ADD, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_binary_desc_init(misaligned(), TPP_BINARY_ADD, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_ternary_desc_init(NULL, TPP_TERNARY_MULADD, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_ternary_desc_init(misaligned(), TPP_TERNARY_MULADD, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_reduce_desc_init(NULL, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_reduce_desc_init(misaligned(), TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 4, 4, TPP_DTYPE_F32),
      ARG);
  /* Negative sizes, in each position. */
  BAD(tpp_gemm_desc_init(&g, -1, 4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_gemm_desc_init(&g, 4, -1, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_gemm_desc_init(&g, 4, 4, INT64_MIN, TPP_DTYPE_F32), ARG);
  BAD(tpp_unary_desc_init(&u, TPP_UNARY_RELU, -4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_unary_desc_init(&u, TPP_UNARY_RELU, 4, -4, TPP_DTYPE_F32), ARG);
  BAD(tpp_binary_desc_init(&b, TPP_BINARY_ADD, -4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_binary_desc_init(&b, TPP_BINARY_ADD, 4, -4, TPP_DTYPE_F32), ARG);
  BAD(tpp_ternary_desc_init(&t, TPP_TERNARY_MULADD, -4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_ternary_desc_init(&t, TPP_TERNARY_MULADD, 4, -4, TPP_DTYPE_F32), ARG);
  BAD(tpp_reduce_desc_init(&r, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, -4, 4, TPP_DTYPE_F32), ARG);
  BAD(tpp_reduce_desc_init(&r, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 4, -4, TPP_DTYPE_F32), ARG);
  /* Unknown codes. */
  const int32_t codes[] = {-1, 7, 99, INT32_MIN, INT32_MAX};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    int32_t c = codes[i];
    BAD(tpp_gemm_desc_init(&g, 4, 4, 4, c), ARG);
    BAD(tpp_unary_desc_init(&u, TPP_UNARY_RELU, 4, 4, c), ARG);
    BAD(tpp_unary_desc_init(&u, c == 7 ? 35 : c, 4, 4, TPP_DTYPE_F32), ARG);
    BAD(tpp_binary_desc_init(&b, TPP_BINARY_ADD, 4, 4, c), ARG);
    BAD(tpp_binary_desc_init(&b, c == 7 ? 13 : c, 4, 4, TPP_DTYPE_F32), ARG);
    BAD(tpp_ternary_desc_init(&t, TPP_TERNARY_MULADD, 4, 4, c), ARG);
    BAD(tpp_ternary_desc_init(&t, c == 7 ? 3 : c, 4, 4, TPP_DTYPE_F32), ARG);
    BAD(tpp_reduce_desc_init(&r, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 4, 4, c), ARG);
    BAD(tpp_reduce_desc_init(&r, c == 7 ? 6 : c, TPP_AXIS_PER_ROW, 4, 4, TPP_DTYPE_F32), ARG);
    BAD(tpp_reduce_desc_init(&r, TPP_REDUCE_SUM, c, 4, 4, TPP_DTYPE_F32), ARG);
  }
  /* A success clears the message. */
  OK(tpp_gemm_desc_init(&g, 4, 4, 4, TPP_DTYPE_F32));
}

/* Each field of a descriptor set to a bad value must make dispatch fail. */
#define FIELD_CASE(init, type, dispatch, field, value, want)                                \
  do {                                                                                     \
    type d_;                                                                               \
    tpp_kernel *k_ = NULL;                                                                 \
    OK(init);                                                                              \
    d_.field = (value);                                                                    \
    expect_fail(dispatch(&d_, &k_), (want), #type "." #field " = " #value, __LINE__);     \
    CHECK(k_ == NULL, "a failed dispatch wrote a handle");                                 \
  } while (0)

#define G(field, value, want)                                                               \
  FIELD_CASE(tpp_gemm_desc_init(&d_, 8, 8, 8, TPP_DTYPE_F32), tpp_gemm_desc,                \
             tpp_gemm_dispatch, field, value, want)
#define U(field, value, want)                                                               \
  FIELD_CASE(tpp_unary_desc_init(&d_, TPP_UNARY_RELU, 8, 8, TPP_DTYPE_F32), tpp_unary_desc, \
             tpp_unary_dispatch, field, value, want)
#define B(field, value, want)                                                               \
  FIELD_CASE(tpp_binary_desc_init(&d_, TPP_BINARY_ADD, 8, 8, TPP_DTYPE_F32),                \
             tpp_binary_desc, tpp_binary_dispatch, field, value, want)
#define T(field, value, want)                                                               \
  FIELD_CASE(tpp_ternary_desc_init(&d_, TPP_TERNARY_MULADD, 8, 8, TPP_DTYPE_F32),           \
             tpp_ternary_desc, tpp_ternary_dispatch, field, value, want)
#define R(field, value, want)                                                               \
  FIELD_CASE(tpp_reduce_desc_init(&d_, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 8, 8,              \
                                  TPP_DTYPE_F32),                                           \
             tpp_reduce_desc, tpp_reduce_dispatch, field, value, want)

static const int64_t HUGE = INT64_C(1) << 40;     /* above the ISA's 2^31 − 1 per size */
static const int64_t BIG = INT64_C(2147483647);   /* 2^31 − 1: products overflow */

static void dispatch_bad_fields(void) {
  /* GEMM: every size negative or huge, every code unknown, every flag not 0/1. */
  G(m, -1, ARG); G(n, -1, ARG); G(k, -1, ARG); G(lda, -1, ARG); G(ldb, -1, ARG);
  G(ldc, -1, ARG); G(mask_ld, -8, ARG);
  G(m, 0, DESC); G(m, HUGE, DESC); G(n, INT64_MAX, DESC); G(k, HUGE, DESC); G(lda, 3, DESC);
  G(ldc, HUGE, DESC);
  G(a_dtype, 7, ARG); G(b_dtype, -1, ARG); G(c_dtype, 1000, ARG); G(compute_dtype, -7, ARG);
  G(a_dtype, TPP_DTYPE_I32, DESC); G(c_dtype, TPP_DTYPE_U8, DESC);
  G(trans_a, 2, ARG); G(trans_b, -1, ARG); G(b_layout, 3, ARG); G(c_layout, -1, ARG);
  G(b_layout, TPP_LAYOUT_VNNI4, DESC);
  G(batch, 4, ARG); G(batch, -1, ARG); G(bias, 3, ARG); G(activation, 10, ARG);
  G(activation, -1, ARG);
  G(alpha, NAN, DESC); G(beta, INFINITY, DESC);
  /* Stride batch with negative strides, and a bias of an unknown dtype. */
  {
    tpp_gemm_desc d;
    tpp_kernel *k = NULL;
    OK(tpp_gemm_desc_init(&d, 8, 8, 8, TPP_DTYPE_F32));
    d.batch = TPP_BATCH_STRIDE;
    d.stride_a = -64;
    d.stride_b = 64;
    BAD(tpp_gemm_dispatch(&d, &k), ARG);
    d.stride_a = 64;
    d.stride_b = INT64_MIN;
    BAD(tpp_gemm_dispatch(&d, &k), ARG);
    d.stride_b = INT64_MAX; /* (batch − 1) · stride overflows at call time, not here */
    d.batch = TPP_BATCH_NONE;
    d.bias = TPP_BIAS_ROW;
    d.bias_dtype = 12;
    BAD(tpp_gemm_dispatch(&d, &k), ARG);
    CHECK(k == NULL, "a failed dispatch wrote a handle");
  }
  /* m·n·k overflowing: with 2^31 − 1 in two sizes some operand spans 2^62 elements, more
   * bytes than isize::MAX for 4- and 8-byte elements. */
  {
    tpp_gemm_desc d;
    tpp_kernel *k = NULL;
    OK(tpp_gemm_desc_init(&d, BIG, BIG, BIG, TPP_DTYPE_F32));
    BAD(tpp_gemm_dispatch(&d, &k), DESC);
    OK(tpp_gemm_desc_init(&d, BIG, 1, BIG, TPP_DTYPE_F64));
    BAD(tpp_gemm_dispatch(&d, &k), DESC);
    OK(tpp_gemm_desc_init(&d, BIG, BIG, 2, TPP_DTYPE_BF16)); /* f32 C of 2^64 bytes */
    BAD(tpp_gemm_dispatch(&d, &k), DESC);
    CHECK(k == NULL, "a failed dispatch wrote a handle");
  }
  /* Unary. */
  U(rows, -1, ARG); U(cols, -1, ARG); U(ld_in, -1, ARG); U(ld_out, INT64_MIN, ARG);
  U(mask_ld, -1, ARG); U(rows, 0, DESC); U(cols, HUGE, DESC); U(ld_in, 2, DESC);
  {
    /* rows·ld overflowing: 2^62 elements of f32. */
    tpp_unary_desc d;
    tpp_kernel *k = NULL;
    OK(tpp_unary_desc_init(&d, TPP_UNARY_EXP, BIG, BIG, TPP_DTYPE_F32));
    BAD(tpp_unary_dispatch(&d, &k), DESC);
    CHECK(k == NULL, "a failed dispatch wrote a handle");
  }
  U(op, 35, ARG); U(op, -1, ARG); U(mask, 2, ARG); U(layout, 3, ARG); U(in_dtype, 7, ARG);
  U(compute_dtype, -1, ARG); U(out_dtype, 99, ARG); U(broadcast, 4, ARG);
  U(broadcast, -2, ARG); U(in_dtype, TPP_DTYPE_I32, DESC);
  /* Binary. */
  B(rows, -1, ARG); B(cols, -1, ARG); B(ld_in0, -1, ARG); B(ld_in1, -1, ARG);
  B(ld_out, -1, ARG); B(rows, 0, DESC); B(cols, HUGE, DESC); B(ld_out, 1, DESC);
  B(op, 13, ARG); B(op, -1, ARG); B(broadcast0, 4, ARG); B(broadcast1, -1, ARG);
  B(in0_dtype, 7, ARG); B(in1_dtype, -1, ARG); B(compute_dtype, 8, ARG); B(out_dtype, 77, ARG);
  /* Ternary: every element of the arrays. */
  for (int i = 0; i < 3; i++) {
    T(in_dtypes[i], 7, ARG);
    T(in_dtypes[i], -1, ARG);
    T(broadcasts[i], 4, ARG);
    T(ld_in[i], -1, ARG);
    T(ld_in[i], 1, DESC);
  }
  T(rows, -1, ARG); T(cols, -1, ARG); T(ld_out, -1, ARG); T(mask_ld, -1, ARG);
  T(rows, HUGE, DESC); T(op, 3, ARG); T(op, INT32_MIN, ARG); T(compute_dtype, 9, ARG);
  T(out_dtype, -3, ARG);
  /* Reduce. */
  R(rows, -1, ARG); R(cols, -1, ARG); R(ld_in, -1, ARG); R(rows, 0, DESC); R(cols, HUGE, DESC);
  R(ld_in, 3, DESC); R(op, 6, ARG); R(op, -1, ARG); R(axis, 2, ARG); R(axis, -1, ARG);
  R(in_dtype, 7, ARG); R(compute_dtype, -1, ARG); R(out_dtype, 42, ARG); R(accumulate, 2, ARG);
}

static void dispatch_bad_pointers(void) {
  tpp_gemm_desc g;
  tpp_unary_desc u;
  tpp_binary_desc b;
  tpp_ternary_desc t;
  tpp_reduce_desc r;
  tpp_kernel *k = NULL;
  OK(tpp_gemm_desc_init(&g, 8, 8, 8, TPP_DTYPE_F32));
  OK(tpp_unary_desc_init(&u, TPP_UNARY_RELU, 8, 8, TPP_DTYPE_F32));
  OK(tpp_binary_desc_init(&b, TPP_BINARY_ADD, 8, 8, TPP_DTYPE_F32));
  OK(tpp_ternary_desc_init(&t, TPP_TERNARY_MULADD, 8, 8, TPP_DTYPE_F32));
  OK(tpp_reduce_desc_init(&r, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 8, 8, TPP_DTYPE_F32));
  uint64_t before = tpp_live_handles();
  BAD(tpp_gemm_dispatch(NULL, &k), ARG);
  BAD(tpp_unary_dispatch(NULL, &k), ARG);
  BAD(tpp_binary_dispatch(NULL, &k), ARG);
  BAD(tpp_ternary_dispatch(NULL, &k), ARG);
  BAD(tpp_reduce_dispatch(NULL, &k), ARG);
  BAD(tpp_gemm_dispatch(misaligned(), &k), ARG);
  BAD(tpp_unary_dispatch(misaligned(), &k), ARG);
  BAD(tpp_binary_dispatch(misaligned(), &k), ARG);
  BAD(tpp_ternary_dispatch(misaligned(), &k), ARG);
  BAD(tpp_reduce_dispatch(misaligned(), &k), ARG);
  BAD(tpp_gemm_dispatch(&g, NULL), ARG);
  BAD(tpp_unary_dispatch(&u, NULL), ARG);
  BAD(tpp_binary_dispatch(&b, NULL), ARG);
  BAD(tpp_ternary_dispatch(&t, NULL), ARG);
  BAD(tpp_reduce_dispatch(&r, NULL), ARG);
  BAD(tpp_gemm_dispatch(&g, misaligned()), ARG);
  BAD(tpp_unary_dispatch(&u, misaligned()), ARG);
  BAD(tpp_binary_dispatch(&b, misaligned()), ARG);
  BAD(tpp_ternary_dispatch(&t, misaligned()), ARG);
  BAD(tpp_reduce_dispatch(&r, misaligned()), ARG);
  BAD(tpp_gemm_dispatch(&g, (tpp_kernel **)16), ARG); /* the zero page */
  CHECK(k == NULL, "a failed dispatch wrote a handle");
  CHECK(tpp_live_handles() == before, "failed dispatches left live handles");
}

/* ---- handles and calls ------------------------------------------------------------------- */

enum { GEMM, UNARY, BINARY, TERNARY, REDUCE, FAMILIES };

static tpp_kernel *make(int family) {
  tpp_kernel *k = NULL;
  tpp_status st = TPP_ERR_INTERNAL;
  switch (family) {
  case GEMM: {
    tpp_gemm_desc d;
    tpp_gemm_desc_init(&d, 8, 8, 8, TPP_DTYPE_F32);
    st = tpp_gemm_dispatch(&d, &k);
  } break;
  case UNARY: {
    tpp_unary_desc d;
    tpp_unary_desc_init(&d, TPP_UNARY_RELU, 8, 8, TPP_DTYPE_F32);
    st = tpp_unary_dispatch(&d, &k);
  } break;
  case BINARY: {
    tpp_binary_desc d;
    tpp_binary_desc_init(&d, TPP_BINARY_ADD, 8, 8, TPP_DTYPE_F32);
    st = tpp_binary_dispatch(&d, &k);
  } break;
  case TERNARY: {
    tpp_ternary_desc d;
    tpp_ternary_desc_init(&d, TPP_TERNARY_MULADD, 8, 8, TPP_DTYPE_F32);
    st = tpp_ternary_dispatch(&d, &k);
  } break;
  default: {
    tpp_reduce_desc d;
    tpp_reduce_desc_init(&d, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 8, 8, TPP_DTYPE_F32);
    st = tpp_reduce_dispatch(&d, &k);
  } break;
  }
  CHECK(st == TPP_OK && k != NULL, "dispatch of a valid descriptor");
  return k;
}

/* Calls `k` as `family` with valid operands. */
static tpp_status call(int family, const tpp_kernel *k) {
  tpp_gemm_args ga = {buf_a, buf_b, buf_c, NULL, NULL, 1, NULL, NULL, NULL};
  tpp_unary_args ua = {buf_a, NULL, NULL, buf_c, NULL, NULL, 0};
  tpp_binary_args ba = {buf_a, buf_b, buf_c};
  tpp_ternary_args ta = {buf_a, buf_b, buf_d, NULL, buf_c};
  tpp_reduce_args ra = {buf_a, buf_c};
  switch (family) {
  case GEMM: return tpp_gemm_call(k, &ga);
  case UNARY: return tpp_unary_call(k, &ua);
  case BINARY: return tpp_binary_call(k, &ba);
  case TERNARY: return tpp_ternary_call(k, &ta);
  default: return tpp_reduce_call(k, &ra);
  }
}

static void handles(void) {
  uint64_t base = tpp_live_handles();
  tpp_kernel *k[FAMILIES];
  for (int f = 0; f < FAMILIES; f++) k[f] = make(f);
  CHECK(tpp_live_handles() == base + FAMILIES, "live handles count the dispatches");
  for (int f = 0; f < FAMILIES; f++) OK(call(f, k[f]));
  /* Every wrong family, for every call. */
  for (int f = 0; f < FAMILIES; f++)
    for (int g = 0; g < FAMILIES; g++)
      if (f != g) expect_fail(call(g, k[f]), ARG, "a kernel of another family", __LINE__);
  /* Null, forged and foreign handles. */
  int x = 0;
  const tpp_kernel *forged[] = {
      NULL,
      (const tpp_kernel *)(uintptr_t)16,
      (const tpp_kernel *)(uintptr_t)0xdeadbeef,
      (const tpp_kernel *)(uintptr_t)UINT64_C(0x7400000000000000),
      (const tpp_kernel *)(uintptr_t)UINT64_C(0x74000fffffffffff),
      (const tpp_kernel *)(uintptr_t)UINT64_MAX,
      (const tpp_kernel *)&x,
      (const tpp_kernel *)buf_a,
  };
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    for (int f = 0; f < FAMILIES; f++) expect_fail(call(f, forged[i]), ARG, "forged", __LINE__);
    tpp_kernel_info info;
    BAD(tpp_kernel_get_info(forged[i], &info), ARG);
    if (forged[i] != NULL) BAD(tpp_kernel_release((tpp_kernel *)forged[i]), ARG);
  }
  CHECK(tpp_live_handles() == base + FAMILIES, "forged releases changed the count");
  /* Info: null and misaligned destinations; the strings belong to the kernel. */
  tpp_kernel_info info, info2;
  BAD(tpp_kernel_get_info(k[GEMM], NULL), ARG);
  BAD(tpp_kernel_get_info(k[GEMM], misaligned()), ARG);
  OK(tpp_kernel_get_info(k[GEMM], &info));
  tpp_kernel *again = make(GEMM);
  OK(tpp_kernel_get_info(again, &info2));
  CHECK(again != k[GEMM], "each dispatch gets its own handle");
  CHECK(info.name == info2.name, "two handles of one kernel share its name");
  /* Release, then use: every entry point refuses the handle. */
  for (int f = 0; f < FAMILIES; f++) OK(tpp_kernel_release(k[f]));
  CHECK(tpp_live_handles() == base + 1, "releases lower the count");
  for (int f = 0; f < FAMILIES; f++) {
    for (int g = 0; g < FAMILIES; g++) {
      expect_fail(call(g, k[f]), ARG, "a released handle", __LINE__);
      if (f == g) CHECK(strstr(tpp_last_error(), "released") != NULL, tpp_last_error());
    }
    BAD(tpp_kernel_get_info(k[f], &info), ARG);
    BAD(tpp_kernel_release(k[f]), ARG); /* double release */
  }
  CHECK(tpp_live_handles() == base + 1, "double releases changed the count");
  /* The slots are reused by new handles; the old values stay dead. */
  tpp_kernel *fresh[FAMILIES];
  for (int f = 0; f < FAMILIES; f++) fresh[f] = make(f);
  for (int f = 0; f < FAMILIES; f++) {
    CHECK(fresh[f] != k[f], "a reused slot gets a new handle value");
    expect_fail(call(f, k[f]), ARG, "a stale handle after reuse", __LINE__);
    OK(call(f, fresh[f]));
    OK(tpp_kernel_release(fresh[f]));
  }
  OK(tpp_kernel_release(again));
  OK(tpp_kernel_release(NULL));
  CHECK(tpp_live_handles() == base, "every handle released");
}

/* Null, zero-page and misaligned operands and argument structs, for each family. */
static void call_bad_pointers(void) {
  void *mis = (unsigned char *)buf_c + 2; /* not a multiple of 4 */
  void *zero_page = (void *)(uintptr_t)64;
  tpp_kernel *k[FAMILIES];
  for (int f = 0; f < FAMILIES; f++) k[f] = make(f);
  BAD(tpp_gemm_call(k[GEMM], NULL), ARG);
  BAD(tpp_unary_call(k[UNARY], NULL), ARG);
  BAD(tpp_binary_call(k[BINARY], NULL), ARG);
  BAD(tpp_ternary_call(k[TERNARY], NULL), ARG);
  BAD(tpp_reduce_call(k[REDUCE], NULL), ARG);
  BAD(tpp_gemm_call(k[GEMM], misaligned()), ARG);
  BAD(tpp_unary_call(k[UNARY], misaligned()), ARG);
  BAD(tpp_binary_call(k[BINARY], misaligned()), ARG);
  BAD(tpp_ternary_call(k[TERNARY], misaligned()), ARG);
  BAD(tpp_reduce_call(k[REDUCE], misaligned()), ARG);
  void *bad[] = {NULL, zero_page, mis};
  for (int i = 0; i < 3; i++) {
    void *p = bad[i];
    tpp_gemm_args g1 = {p, buf_b, buf_c, NULL, NULL, 1, NULL, NULL, NULL};
    tpp_gemm_args g2 = {buf_a, p, buf_c, NULL, NULL, 1, NULL, NULL, NULL};
    tpp_gemm_args g3 = {buf_a, buf_b, p, NULL, NULL, 1, NULL, NULL, NULL};
    BAD(tpp_gemm_call(k[GEMM], &g1), ARG);
    BAD(tpp_gemm_call(k[GEMM], &g2), ARG);
    BAD(tpp_gemm_call(k[GEMM], &g3), ARG);
    tpp_unary_args u1 = {p, NULL, NULL, buf_c, NULL, NULL, 0};
    tpp_unary_args u2 = {buf_a, NULL, NULL, p, NULL, NULL, 0};
    BAD(tpp_unary_call(k[UNARY], &u1), ARG);
    BAD(tpp_unary_call(k[UNARY], &u2), ARG);
    tpp_binary_args b1 = {p, buf_b, buf_c}, b2 = {buf_a, p, buf_c}, b3 = {buf_a, buf_b, p};
    BAD(tpp_binary_call(k[BINARY], &b1), ARG);
    BAD(tpp_binary_call(k[BINARY], &b2), ARG);
    BAD(tpp_binary_call(k[BINARY], &b3), ARG);
    tpp_ternary_args t1 = {p, buf_b, buf_d, NULL, buf_c}, t2 = {buf_a, p, buf_d, NULL, buf_c};
    tpp_ternary_args t3 = {buf_a, buf_b, p, NULL, buf_c}, t4 = {buf_a, buf_b, buf_d, NULL, p};
    BAD(tpp_ternary_call(k[TERNARY], &t1), ARG);
    BAD(tpp_ternary_call(k[TERNARY], &t2), ARG);
    BAD(tpp_ternary_call(k[TERNARY], &t3), ARG);
    BAD(tpp_ternary_call(k[TERNARY], &t4), ARG);
    tpp_reduce_args r1 = {p, buf_c}, r2 = {buf_a, p};
    BAD(tpp_reduce_call(k[REDUCE], &r1), ARG);
    BAD(tpp_reduce_call(k[REDUCE], &r2), ARG);
  }
  for (int f = 0; f < FAMILIES; f++) OK(tpp_kernel_release(k[f]));

  /* The operands only some kernels read: aux, masks, indices, bias, relu mask, offsets. */
  tpp_unary_desc ud;
  tpp_kernel *kk = NULL;
  tpp_unary_desc_init(&ud, TPP_UNARY_GELU_BWD, 8, 8, TPP_DTYPE_F32);
  OK(tpp_unary_dispatch(&ud, &kk));
  tpp_unary_args ua = {buf_a, NULL, NULL, buf_c, NULL, NULL, 0};
  BAD(tpp_unary_call(kk, &ua), ARG); /* aux */
  ua.aux = mis;
  BAD(tpp_unary_call(kk, &ua), ARG);
  ua.aux = buf_b;
  OK(tpp_unary_call(kk, &ua));
  OK(tpp_kernel_release(kk));
  tpp_unary_desc_init(&ud, TPP_UNARY_RELU, 8, 8, TPP_DTYPE_F32);
  ud.mask = 1;
  OK(tpp_unary_dispatch(&ud, &kk));
  ua.aux = NULL;
  BAD(tpp_unary_call(kk, &ua), ARG); /* mask_out */
  ua.mask_out = mask_buf;
  OK(tpp_unary_call(kk, &ua));
  OK(tpp_kernel_release(kk));
  tpp_unary_desc_init(&ud, TPP_UNARY_RELU_BWD, 8, 8, TPP_DTYPE_F32);
  ud.mask = 1;
  OK(tpp_unary_dispatch(&ud, &kk));
  ua.mask_out = NULL;
  BAD(tpp_unary_call(kk, &ua), ARG); /* mask_in */
  OK(tpp_kernel_release(kk));
  tpp_unary_desc_init(&ud, TPP_UNARY_GATHER_ROWS, 8, 8, TPP_DTYPE_F32);
  OK(tpp_unary_dispatch(&ud, &kk));
  BAD(tpp_unary_call(kk, &ua), ARG); /* indices */
  ua.indices = (const uint64_t *)((unsigned char *)idx_buf + 4);
  BAD(tpp_unary_call(kk, &ua), ARG);
  OK(tpp_kernel_release(kk));
  tpp_ternary_desc td;
  tpp_ternary_desc_init(&td, TPP_TERNARY_SELECT, 8, 8, TPP_DTYPE_F32);
  OK(tpp_ternary_dispatch(&td, &kk));
  tpp_ternary_args ta = {buf_a, buf_b, NULL, NULL, buf_c};
  BAD(tpp_ternary_call(kk, &ta), ARG); /* mask */
  ta.mask = mask_buf;
  OK(tpp_ternary_call(kk, &ta));
  OK(tpp_kernel_release(kk));
  tpp_gemm_desc gd;
  tpp_gemm_desc_init(&gd, 8, 8, 8, TPP_DTYPE_F32);
  gd.bias = TPP_BIAS_ROW;
  gd.activation = TPP_ACT_RELU_MASK;
  OK(tpp_gemm_dispatch(&gd, &kk));
  tpp_gemm_args ga = {buf_a, buf_b, buf_c, NULL, NULL, 1, NULL, mask_buf, NULL};
  BAD(tpp_gemm_call(kk, &ga), ARG); /* bias */
  ga.bias = mis;
  BAD(tpp_gemm_call(kk, &ga), ARG);
  ga.bias = buf_d;
  ga.relu_mask = NULL;
  BAD(tpp_gemm_call(kk, &ga), ARG); /* relu mask */
  ga.relu_mask = mask_buf;
  OK(tpp_gemm_call(kk, &ga));
  OK(tpp_kernel_release(kk));
}

/* Batch counts no memory can hold, for each batch form. */
static void absurd_batches(void) {
  static _Alignas(64) uint64_t offsets[2];
  static const void *addr_a[2] = {buf_a, buf_a}, *addr_b[2] = {buf_b, buf_b};
  const uint64_t absurd[] = {UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 63, UINT64_C(1) << 62,
                             UINT64_C(1) << 61, (uint64_t)(int64_t)-5};
  tpp_gemm_desc d;
  tpp_kernel *k = NULL;
  for (int form = TPP_BATCH_STRIDE; form <= TPP_BATCH_ADDRESSES; form++) {
    OK(tpp_gemm_desc_init(&d, 8, 8, 8, TPP_DTYPE_F32));
    d.batch = form;
    d.stride_a = d.stride_b = 64;
    OK(tpp_gemm_dispatch(&d, &k));
    tpp_gemm_args a = {buf_a, buf_b, buf_c, NULL, NULL, 0, NULL, NULL, NULL};
    if (form == TPP_BATCH_OFFSETS) a.a_offsets = a.b_offsets = offsets;
    if (form == TPP_BATCH_ADDRESSES) a.a = addr_a, a.b = addr_b;
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
      a.batch = absurd[i];
      expect_fail(tpp_gemm_call(k, &a), ARG, "an absurd batch count", __LINE__);
    }
    a.batch = 0; /* allowed: C = beta·C */
    OK(tpp_gemm_call(k, &a));
    a.batch = 2;
    OK(tpp_gemm_call(k, &a));
    if (form == TPP_BATCH_OFFSETS) {
      a.a_offsets = NULL;
      BAD(tpp_gemm_call(k, &a), ARG);
      a.a_offsets = (const uint64_t *)((unsigned char *)offsets + 1);
      BAD(tpp_gemm_call(k, &a), ARG);
    }
    OK(tpp_kernel_release(k));
  }
}

/* ---- the large GEMM ---------------------------------------------------------------------- */

static void matmul(void) {
  const tpp_matmul_desc good = {0, 0, 0, TPP_DTYPE_F32, 8, 8, 8, 8, 8, 8, 1.0, 0.0, 0};
  tpp_matmul_desc d = good;
  OK(tpp_matmul(&d, buf_a, buf_b, buf_c));
  BAD(tpp_matmul(NULL, buf_a, buf_b, buf_c), ARG);
  memcpy(raw + 1, &good, sizeof good);
  BAD(tpp_matmul(misaligned(), buf_a, buf_b, buf_c), ARG);
  d.col_major = 2;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.trans_a = -1;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.trans_b = 3;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  const int32_t dtypes[] = {-1, 7, TPP_DTYPE_I8, TPP_DTYPE_F16, TPP_DTYPE_I32, INT32_MAX};
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
    d = good, d.dtype = dtypes[i];
    BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  }
  d = good, d.m = -1;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.k = INT64_MIN;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.ldc = -8;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.lda = 3;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), DESC);
  d = good, d.alpha = NAN;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), DESC);
  /* bf16 compute: a flag, and only for f32 inputs. */
  d = good, d.bf16_compute = 2;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.bf16_compute = -1;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), ARG);
  d = good, d.bf16_compute = 1, d.dtype = TPP_DTYPE_F64;
  BAD(tpp_matmul(&d, buf_a, buf_b, buf_c), DESC);
  d = good, d.bf16_compute = 1;
  OK(tpp_matmul(&d, buf_a, buf_b, buf_c));
  /* Sizes whose operands no memory can hold. */
  const tpp_matmul_desc huge[] = {
      {0, 0, 0, TPP_DTYPE_F32, INT64_MAX, 1, 1, 1, 1, 1, 1.0, 0.0, 0},
      {0, 0, 0, TPP_DTYPE_F32, HUGE, HUGE, HUGE, HUGE, HUGE, HUGE, 1.0, 0.0, 1},
      {1, 1, 1, TPP_DTYPE_F64, HUGE, HUGE, 8, HUGE, HUGE, HUGE, 1.0, 1.0, 0},
      {0, 0, 0, TPP_DTYPE_BF16, 8, INT64_C(1) << 62, 8, 8, INT64_C(1) << 62, INT64_C(1) << 62,
       1.0, 0.0, 0},
  };
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
    BAD(tpp_matmul(&huge[i], buf_a, buf_b, buf_c), ANY);
  /* Null and misaligned operands. */
  d = good;
  BAD(tpp_matmul(&d, NULL, buf_b, buf_c), ARG);
  BAD(tpp_matmul(&d, buf_a, NULL, buf_c), ARG);
  BAD(tpp_matmul(&d, buf_a, buf_b, NULL), ARG);
  BAD(tpp_matmul(&d, buf_a, buf_b, (unsigned char *)buf_c + 2), ARG);
  d.dtype = TPP_DTYPE_F64;
  BAD(tpp_matmul(&d, (unsigned char *)buf_a + 4, buf_b, buf_c), ARG);
  /* alpha = 0: A and B are not read and may be null. */
  d = good, d.alpha = 0.0;
  OK(tpp_matmul(&d, NULL, NULL, buf_c));
}

/* ---- BLAS -------------------------------------------------------------------------------- */

#ifdef TPP_BLAS
static int xerbla_calls, xerbla_info;
void xerbla_(const char *srname, const int *info, size_t len) {
  (void)srname;
  (void)len;
  xerbla_calls++;
  xerbla_info = *info;
}

static int cblas_calls, cblas_p;
void cblas_xerbla(int p, const char *rout, const char *form) {
  (void)rout;
  (void)form;
  cblas_calls++;
  cblas_p = p;
}

static void blas(void) {
  int n8 = 8, neg = -1, big = INT32_MAX, one = 1;
  float fone = 1.0f, fzero = 0.0f;
  double done = 1.0, dzero = 0.0;
  /* Negative sizes, tiny and huge leading dimensions, unknown characters and codes: each one
   * is reported with its parameter number and nothing is computed. */
  sgemm_("N", "N", &neg, &n8, &n8, &fone, buf_a, &n8, buf_b, &n8, &fzero, buf_c, &n8);
  CHECK(xerbla_calls == 1 && xerbla_info == 3, "sgemm_ m < 0");
  sgemm_("N", "N", &n8, &n8, &neg, &fone, buf_a, &n8, buf_b, &n8, &fzero, buf_c, &n8);
  CHECK(xerbla_calls == 2 && xerbla_info == 5, "sgemm_ k < 0");
  sgemm_("Q", "N", &n8, &n8, &n8, &fone, buf_a, &n8, buf_b, &n8, &fzero, buf_c, &n8);
  CHECK(xerbla_calls == 3 && xerbla_info == 1, "sgemm_ transa");
  dgemm_("N", "\x01", &n8, &n8, &n8, &done, NULL, &n8, NULL, &n8, &dzero, NULL, &n8);
  CHECK(xerbla_calls == 4 && xerbla_info == 2, "dgemm_ transb");
  dgemm_("N", "N", &big, &n8, &n8, &done, NULL, &one, NULL, &n8, &dzero, NULL, &big);
  CHECK(xerbla_calls == 5 && xerbla_info == 8, "dgemm_ lda < m");
  dgemm_("N", "N", &n8, &n8, &n8, &done, NULL, &n8, NULL, &n8, &dzero, NULL, &neg);
  CHECK(xerbla_calls == 6 && xerbla_info == 13, "dgemm_ ldc < 0");
  cblas_sgemm(0, 111, 111, 8, 8, 8, 1.0f, buf_a, 8, buf_b, 8, 0.0f, buf_c, 8);
  CHECK(cblas_calls == 1 && cblas_p == 1, "cblas_sgemm layout");
  /* As in the reference CBLAS, the checks of the Fortran GEMM a CBLAS call stands on go to the
   * program's own xerbla_ (Fortran name and number: row-major swaps M and N), the layout and
   * transpose checks to cblas_xerbla. */
  cblas_dgemm(101, 111, 111, -8, 8, 8, 1.0, NULL, 8, NULL, 8, 0.0, NULL, 8);
  CHECK(xerbla_calls == 7 && xerbla_info == 4 && cblas_calls == 1, "cblas_dgemm m < 0");
  cblas_dgemm(102, 111, 999, 8, 8, 8, 1.0, NULL, 8, NULL, 8, 0.0, NULL, 8);
  CHECK(cblas_calls == 2 && cblas_p == 3, "cblas_dgemm transb");
  cblas_sgemm(101, 111, 111, 8, 8, 8, 1.0f, buf_a, 8, buf_b, 8, 0.0f, buf_c, INT32_MIN);
  CHECK(xerbla_calls == 8 && xerbla_info == 13, "cblas_sgemm ldc");
}
#endif

int main(void) {
  CHECK(tpp_version() != NULL && tpp_version()[0] != '\0', "version");
  CHECK(tpp_last_error() != NULL && tpp_last_error()[0] == '\0', "no error before any call");
  uint64_t base = tpp_live_handles();
  desc_inits();
  dispatch_bad_fields();
  dispatch_bad_pointers();
  handles();
  call_bad_pointers();
  absurd_batches();
  matmul();
#ifdef TPP_BLAS
  blas();
#endif
  CHECK(tpp_live_handles() == base, "every handle released at the end");
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
