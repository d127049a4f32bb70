/* The C API from C: GEMM, BRGEMM, unary, binary and reduce kernels and the large GEMM checked
 * against naive loops written here, kernel info, and the error paths (every one must return a
 * status and a message, never crash). With TPP_BLAS: sgemm_/dgemm_/cblas_sgemm/cblas_sbgemm/
 * cblas_sgemm_batch against the same loops, the reference quick returns, and argument errors
 * reported through the program's own xerbla_ (this program is linked with -rdynamic so that
 * tpp finds it; tests/cblas_errors.rs checks every CBLAS error exit). Prints
 * "N passed, M failed" and exits non-zero on any failure. */
#include "tpp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                    \
  do {                                                                                     \
    if (cond) {                                                                            \
      passed++;                                                                            \
    } else {                                                                               \
      failed++;                                                                            \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                          \
      printf(__VA_ARGS__);                                                                 \
      printf("\n");                                                                        \
    }                                                                                      \
  } while (0)

static float frand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *fill(size_t n, unsigned seed) {
  float *v = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = frand(&seed);
  return v;
}

static int close_to(double got, double want, double mag) {
  return fabs(got - want) <= 1e-5 * (mag + 1e-30) + 1e-6;
}

/* C(m×n) = A(m×k)·B(k×n) (+ C when beta), row-major, by the naive loop. */
static void naive(int m, int n, int k, const float *a, const float *b, float *c, int beta,
                  double *mag) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = beta ? c[i * n + j] : 0.0, g = fabs(s);
      for (int p = 0; p < k; p++) {
        s += (double)a[i * k + p] * b[p * n + j];
        g += fabs((double)a[i * k + p] * b[p * n + j]);
      }
      c[i * n + j] = (float)s;
      mag[i * n + j] = g;
    }
}

static void test_gemm(void) {
  const int m = 23, n = 37, k = 19;
  float *a = fill(m * k, 1), *b = fill(k * n, 2), *c = malloc(m * n * sizeof(float));
  float *want = malloc(m * n * sizeof(float));
  double *mag = malloc(m * n * sizeof(double));
  for (int i = 0; i < m * n; i++) c[i] = NAN; /* beta = 0 must not read C */
  tpp_gemm_desc d;
  CHECK(tpp_gemm_desc_init(&d, m, n, k, TPP_DTYPE_F32) == TPP_OK, "gemm init");
  d.beta = 0.0;
  tpp_kernel *kern = NULL;
  CHECK(tpp_gemm_dispatch(&d, &kern) == TPP_OK, "gemm dispatch: %s", tpp_last_error());
  tpp_gemm_args args;
  memset(&args, 0, sizeof args);
  args.a = a;
  args.b = b;
  args.c = c;
  args.batch = 1;
  args.prefetch = b; /* a hint: must not change the result */
  CHECK(tpp_gemm_call(kern, &args) == TPP_OK, "gemm call: %s", tpp_last_error());
  naive(m, n, k, a, b, want, 0, mag);
  int bad = 0;
  for (int i = 0; i < m * n; i++) bad += !close_to(c[i], want[i], mag[i]);
  CHECK(bad == 0, "gemm: %d elements differ from the naive loop", bad);
  tpp_kernel_info info;
  CHECK(tpp_kernel_get_info(kern, &info) == TPP_OK, "info");
  CHECK(info.family == TPP_FAMILY_GEMM && info.flops == 2ull * m * n * k, "info fields");
  CHECK(strstr(info.name, "gemm_") == info.name, "kernel name %s", info.name);
  printf("gemm kernel: %s on %s (reference: %d, %llu bytes of code)\n", info.name, info.backend,
         info.is_reference, (unsigned long long)info.code_size);
  tpp_kernel_release(kern);

  /* BRGEMM by stride, batch 3, beta = 1. */
  const int batch = 3;
  float *as = fill(batch * m * k, 3), *bs = fill(batch * k * n, 4);
  float *c1 = fill(m * n, 5), *w1 = malloc(m * n * sizeof(float));
  memcpy(w1, c1, m * n * sizeof(float));
  double *acc = calloc(m * n, sizeof(double));
  for (int t = 0; t < batch; t++) {
    naive(m, n, k, as + t * m * k, bs + t * k * n, w1, 1, mag);
    for (int i = 0; i < m * n; i++) acc[i] += mag[i];
  }
  CHECK(tpp_gemm_desc_init(&d, m, n, k, TPP_DTYPE_F32) == TPP_OK, "brgemm init");
  d.batch = TPP_BATCH_STRIDE;
  d.stride_a = m * k;
  d.stride_b = k * n;
  CHECK(tpp_gemm_dispatch(&d, &kern) == TPP_OK, "brgemm dispatch: %s", tpp_last_error());
  args.a = as;
  args.b = bs;
  args.c = c1;
  args.batch = batch;
  CHECK(tpp_gemm_call(kern, &args) == TPP_OK, "brgemm call: %s", tpp_last_error());
  bad = 0;
  for (int i = 0; i < m * n; i++) bad += !close_to(c1[i], w1[i], acc[i]);
  CHECK(bad == 0, "brgemm: %d elements differ", bad);
  tpp_kernel_release(kern);
  free(a), free(b), free(c), free(want), free(mag), free(as), free(bs), free(c1), free(w1);
  free(acc);
}

static void test_eltwise(void) {
  const int rows = 17, cols = 45;
  float *x = fill(rows * cols, 6), *row = fill(cols, 7), *y = malloc(rows * cols * sizeof(float));
  tpp_unary_desc u;
  CHECK(tpp_unary_desc_init(&u, TPP_UNARY_RELU, rows, cols, TPP_DTYPE_F32) == TPP_OK, "relu init");
  tpp_kernel *k = NULL;
  CHECK(tpp_unary_dispatch(&u, &k) == TPP_OK, "relu dispatch: %s", tpp_last_error());
  tpp_unary_args ua;
  memset(&ua, 0, sizeof ua);
  ua.input = x;
  ua.output = y;
  CHECK(tpp_unary_call(k, &ua) == TPP_OK, "relu call: %s", tpp_last_error());
  int bad = 0;
  for (int i = 0; i < rows * cols; i++) bad += y[i] != (x[i] > 0 ? x[i] : 0.0f);
  CHECK(bad == 0, "relu: %d elements wrong", bad);
  /* The wrong family is an error, not a crash. */
  tpp_binary_args wrong = {x, row, y};
  CHECK(tpp_binary_call(k, &wrong) == TPP_ERR_INVALID_ARGUMENT, "family check");
  CHECK(strstr(tpp_last_error(), "unary") != NULL, "family message: %s", tpp_last_error());
  tpp_kernel_release(k);

  tpp_binary_desc bd;
  CHECK(tpp_binary_desc_init(&bd, TPP_BINARY_ADD, rows, cols, TPP_DTYPE_F32) == TPP_OK, "add init");
  bd.broadcast1 = TPP_BCAST_ROW;
  CHECK(tpp_binary_dispatch(&bd, &k) == TPP_OK, "add dispatch: %s", tpp_last_error());
  tpp_binary_args ba = {x, row, y};
  CHECK(tpp_binary_call(k, &ba) == TPP_OK, "add call: %s", tpp_last_error());
  bad = 0;
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) bad += y[i * cols + j] != x[i * cols + j] + row[j];
  CHECK(bad == 0, "add: %d elements wrong", bad);
  tpp_kernel_release(k);

  tpp_reduce_desc rd;
  CHECK(tpp_reduce_desc_init(&rd, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, rows, cols, TPP_DTYPE_F32) ==
            TPP_OK,
        "reduce init");
  CHECK(tpp_reduce_dispatch(&rd, &k) == TPP_OK, "reduce dispatch: %s", tpp_last_error());
  float sums[17];
  tpp_reduce_args ra = {x, sums};
  CHECK(tpp_reduce_call(k, &ra) == TPP_OK, "reduce call: %s", tpp_last_error());
  bad = 0;
  for (int i = 0; i < rows; i++) {
    double s = 0, g = 0;
    for (int j = 0; j < cols; j++) s += x[i * cols + j], g += fabs(x[i * cols + j]);
    bad += !close_to(sums[i], s, g);
  }
  CHECK(bad == 0, "reduce: %d sums wrong", bad);
  tpp_kernel_release(k);
  free(x), free(row), free(y);
}

static void test_errors(void) {
  tpp_gemm_desc d;
  tpp_kernel *k = NULL;
  CHECK(tpp_gemm_desc_init(NULL, 4, 4, 4, TPP_DTYPE_F32) == TPP_ERR_INVALID_ARGUMENT, "null desc");
  CHECK(tpp_gemm_desc_init(&d, -4, 4, 4, TPP_DTYPE_F32) == TPP_ERR_INVALID_ARGUMENT, "negative m");
  CHECK(strstr(tpp_last_error(), "negative") != NULL, "negative message: %s", tpp_last_error());
  CHECK(tpp_gemm_desc_init(&d, 4, 4, 4, 99) == TPP_ERR_INVALID_ARGUMENT, "bad dtype");
  CHECK(tpp_gemm_desc_init(&d, 4, 4, 4, TPP_DTYPE_F32) == TPP_OK, "init");
  d.lda = 2; /* < k */
  CHECK(tpp_gemm_dispatch(&d, &k) == TPP_ERR_INVALID_DESCRIPTOR, "lda < k");
  CHECK(strstr(tpp_last_error(), "lda") != NULL, "lda message: %s", tpp_last_error());
  d.lda = 4;
  d.m = (int64_t)1 << 62; /* overflowing extents */
  CHECK(tpp_gemm_dispatch(&d, &k) == TPP_ERR_INVALID_DESCRIPTOR, "huge m: %s", tpp_last_error());
  d.m = 4;
  d.activation = 1234;
  CHECK(tpp_gemm_dispatch(&d, &k) == TPP_ERR_INVALID_ARGUMENT, "bad activation code");
  d.activation = TPP_ACT_NONE;
  d.trans_a = 7;
  CHECK(tpp_gemm_dispatch(&d, &k) == TPP_ERR_INVALID_ARGUMENT, "bad flag");
  d.trans_a = 0;
  CHECK(tpp_gemm_dispatch(NULL, &k) == TPP_ERR_INVALID_ARGUMENT, "null desc to dispatch");
  CHECK(tpp_gemm_dispatch(&d, NULL) == TPP_ERR_INVALID_ARGUMENT, "null out");
  CHECK(tpp_gemm_dispatch(&d, &k) == TPP_OK, "valid dispatch");
  tpp_gemm_args args;
  memset(&args, 0, sizeof args);
  CHECK(tpp_gemm_call(k, &args) == TPP_ERR_INVALID_ARGUMENT, "null operands");
  CHECK(strstr(tpp_last_error(), "args->c") != NULL, "operand message: %s", tpp_last_error());
  args.a = (void *)8; /* the zero page */
  CHECK(tpp_gemm_call(k, &args) == TPP_ERR_INVALID_ARGUMENT, "implausible pointer");
  CHECK(tpp_gemm_call(NULL, &args) == TPP_ERR_INVALID_ARGUMENT, "null kernel");
  CHECK(tpp_gemm_call(k, NULL) == TPP_ERR_INVALID_ARGUMENT, "null args");
  CHECK(tpp_kernel_release(k) == TPP_OK && tpp_kernel_release(NULL) == TPP_OK, "release");
  CHECK(tpp_kernel_get_info(NULL, NULL) == TPP_ERR_INVALID_ARGUMENT, "info of null");
  tpp_unary_desc u;
  CHECK(tpp_unary_desc_init(&u, 999, 4, 4, TPP_DTYPE_F32) == TPP_ERR_INVALID_ARGUMENT, "bad op");
  CHECK(strlen(tpp_version()) > 0, "version");
}

static void test_matmul(void) {
  const int m = 70, n = 131, k = 65;
  float *a = fill(m * k, 8), *b = fill(k * n, 9), *c = fill(m * n, 10);
  float *want = malloc(m * n * sizeof(float));
  double *mag = malloc(m * n * sizeof(double));
  tpp_matmul_desc d = {0, 0, 0, TPP_DTYPE_F32, m, n, k, k, n, n, 1.0, 0.0, 0};
  CHECK(tpp_matmul(&d, a, b, c) == TPP_OK, "matmul: %s", tpp_last_error());
  naive(m, n, k, a, b, want, 0, mag);
  int bad = 0;
  for (int i = 0; i < m * n; i++) bad += !close_to(c[i], want[i], mag[i]);
  CHECK(bad == 0, "matmul: %d elements differ", bad);
  /* Asked for bf16 compute: each product within bf16 rounding of both factors (2^-7 of its
   * magnitude) where AMX runs it, exact to f32 elsewhere. */
  d.bf16_compute = 1;
  CHECK(tpp_matmul(&d, a, b, c) == TPP_OK, "matmul bf16 compute: %s", tpp_last_error());
  bad = 0;
  for (int i = 0; i < m * n; i++) bad += fabs((double)c[i] - want[i]) > 0x1.2p-7 * mag[i] + 1e-30;
  CHECK(bad == 0, "matmul bf16 compute: %d elements differ", bad);
  d.bf16_compute = 0;
  d.ldb = 3;
  CHECK(tpp_matmul(&d, a, b, c) == TPP_ERR_INVALID_DESCRIPTOR, "matmul bad ldb");
  d.ldb = n;
  d.dtype = TPP_DTYPE_I8;
  CHECK(tpp_matmul(&d, a, b, c) == TPP_ERR_INVALID_ARGUMENT, "matmul dtype");
  free(a), free(b), free(c), free(want), free(mag);
}

#ifdef TPP_BLAS
static int xerbla_info = -1;
static char xerbla_name[8];
/* Overrides tpp's handler, as LAPACK's test programs do. */
void xerbla_(const char *srname, const int *info, size_t len) {
  xerbla_info = *info;
  memset(xerbla_name, 0, sizeof xerbla_name);
  memcpy(xerbla_name, srname, len < 7 ? len : 7);
}

static int cblas_p = -1;
void cblas_xerbla(int p, const char *rout, const char *form) {
  (void)rout;
  (void)form;
  cblas_p = p;
}

static void test_blas(void) {
  const int m = 9, n = 50, k = 66;
  float *a = fill(m * k, 11), *b = fill(k * n, 12), *c = malloc(m * n * sizeof(float));
  float *want = malloc(m * n * sizeof(float));
  double *mag = malloc(m * n * sizeof(double));
  naive(m, n, k, a, b, want, 0, mag);
  /* Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: sgemm_("N", "N", n, m, k, B, A). */
  float one = 1.0f, zero = 0.0f;
  int lda = k, ldb = n, ldc = n;
  for (int i = 0; i < m * n; i++) c[i] = NAN;
  sgemm_("N", "N", &n, &m, &k, &one, b, &ldb, a, &lda, &zero, c, &ldc);
  int bad = 0;
  for (int i = 0; i < m * n; i++) bad += !close_to(c[i], want[i], mag[i]);
  CHECK(bad == 0, "sgemm_: %d elements differ", bad);
  for (int i = 0; i < m * n; i++) c[i] = NAN;
  cblas_sgemm(101, 111, 111, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
  bad = 0;
  for (int i = 0; i < m * n; i++) bad += !close_to(c[i], want[i], mag[i]);
  CHECK(bad == 0, "cblas_sgemm: %d elements differ", bad);
  /* Quick return: alpha = 0 and beta = 1 leave C (NaN here) untouched. */
  float nan_c = NAN;
  int one_i = 1;
  sgemm_("N", "N", &one_i, &one_i, &one_i, &zero, b, &one_i, a, &one_i, &one, &nan_c, &one_i);
  CHECK(isnan(nan_c), "quick return touched C");
  /* alpha = 0, beta = 0: C becomes 0 without reading A, B (null) or C. */
  sgemm_("N", "N", &one_i, &one_i, &one_i, &zero, NULL, &one_i, NULL, &one_i, &zero, &nan_c,
         &one_i);
  CHECK(nan_c == 0.0f, "alpha = beta = 0 gives %f", nan_c);
  /* Argument errors, in the reference's order and numbering. */
  int bad_ld = 1;
  sgemm_("N", "N", &n, &m, &k, &one, b, &bad_ld, a, &lda, &zero, c, &ldc);
  CHECK(xerbla_info == 8 && strncmp(xerbla_name, "SGEMM", 5) == 0, "xerbla got %d %s",
        xerbla_info, xerbla_name);
  sgemm_("X", "N", &n, &m, &k, &one, b, &ldb, a, &lda, &zero, c, &ldc);
  CHECK(xerbla_info == 1, "bad transa: info %d", xerbla_info);
  int neg = -1;
  double dz = 0.0, done = 1.0;
  dgemm_("N", "T", &n, &neg, &k, &done, NULL, &ldb, NULL, &lda, &dz, NULL, &ldc);
  CHECK(xerbla_info == 4 && strncmp(xerbla_name, "DGEMM", 5) == 0, "dgemm n < 0: %d",
        xerbla_info);
  /* CBLAS: TransA is checked first in either layout. A row-major ldb < n fails the Fortran
   * SGEMM's LDA check (8) of the swapped call the reference makes, and goes, as in the
   * reference, to this program's own xerbla_ (without one, cblas_xerbla would get 11). */
  cblas_sgemm(101, 7, 7, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
  CHECK(cblas_p == 2, "cblas bad transposes: parameter %d", cblas_p);
  xerbla_info = -1;
  cblas_sgemm(101, 111, 111, m, n, k, 1.0f, a, k, b, n - 1, 0.0f, c, n);
  CHECK(xerbla_info == 8 && strncmp(xerbla_name, "SGEMM", 5) == 0, "cblas row-major ldb: %d %s",
        xerbla_info, xerbla_name);
  cblas_sgemm(5, 111, 111, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
  CHECK(cblas_p == 1, "cblas bad layout: parameter %d", cblas_p);
  /* A non-finite alpha propagates, as in the reference. */
  float inf = INFINITY;
  sgemm_("N", "N", &n, &m, &k, &inf, b, &ldb, a, &lda, &zero, c, &ldc);
  CHECK(isinf(c[0]) || isnan(c[0]), "alpha = inf gives %f", c[0]);
  free(a), free(b), free(c), free(want), free(mag);
}

/* bf16 as OpenBLAS's bfloat16 holds it: the top half of a float's bits. */
static uint16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

static void test_cblas_extensions(void) {
  const int m = 9, n = 50, k = 66;
  float *a = fill(m * k, 21), *b = fill(k * n, 22);
  float *c0 = malloc(m * n * sizeof(float)), *c1 = malloc(m * n * sizeof(float));
  float *want = malloc(m * n * sizeof(float));
  double *mag = malloc(m * n * sizeof(double));
  uint16_t *ah = malloc(m * k * sizeof(uint16_t)), *bh = malloc(k * n * sizeof(uint16_t));
  /* The inputs truncated to bf16, so the naive loop sees the values tpp gets. */
  for (int i = 0; i < m * k; i++) a[i] = from_bf16(ah[i] = to_bf16(a[i]));
  for (int i = 0; i < k * n; i++) b[i] = from_bf16(bh[i] = to_bf16(b[i]));
  naive(m, n, k, a, b, want, 0, mag);
  for (int i = 0; i < m * n; i++) c0[i] = NAN;
  cblas_sbgemm(101, 111, 111, m, n, k, 1.0f, ah, k, bh, n, 0.0f, c0, n);
  int bad = 0;
  for (int i = 0; i < m * n; i++) bad += !close_to(c0[i], want[i], mag[i]);
  CHECK(bad == 0, "cblas_sbgemm: %d elements differ", bad);
  /* A batch: group 0 is two products into c0 and c1; group 1 is alpha = 0, beta = 1, a quick
   * return that may pass null matrices. */
  const int ta[2] = {111, 111}, tb[2] = {111, 111}, ms[2] = {m, m}, ns[2] = {n, n};
  const int ks[2] = {k, k}, ldas[2] = {k, k}, ldbs[2] = {n, n}, ldcs[2] = {n, n};
  const int sizes[2] = {2, 1};
  const float alphas[2] = {1.0f, 0.0f}, betas[2] = {0.0f, 1.0f};
  const float *as[3] = {a, a, NULL}, *bs[3] = {b, b, NULL};
  float *cs[3] = {c0, c1, NULL};
  for (int i = 0; i < m * n; i++) c0[i] = c1[i] = NAN;
  cblas_sgemm_batch(101, ta, tb, ms, ns, ks, alphas, as, ldas, bs, ldbs, betas, cs, ldcs, 2,
                    sizes);
  bad = 0;
  for (int i = 0; i < m * n; i++)
    bad += !close_to(c0[i], want[i], mag[i]) + !close_to(c1[i], want[i], mag[i]);
  CHECK(bad == 0, "cblas_sgemm_batch: %d elements differ", bad);
  free(a), free(b), free(c0), free(c1), free(want), free(mag), free(ah), free(bh);
}
#endif

int main(void) {
  test_gemm();
  test_eltwise();
  test_errors();
  test_matmul();
#ifdef TPP_BLAS
  test_blas();
  test_cblas_extensions();
#endif
  CHECK(tpp_live_handles() == 0, "%llu kernel handles not released",
        (unsigned long long)tpp_live_handles());
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
