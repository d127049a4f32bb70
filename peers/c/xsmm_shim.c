/* LIBXSMM peer of the GEMM benches (Debian's libxsmm-dev, 1.17). LIBXSMM is column-major:
 * a row-major C = A·B (m×n) is the column-major Cᵀ = Bᵀ·Aᵀ, i.e. LIBXSMM's (n, m, k) with
 * its A = our B and its B = our A. Its VNNI_A flag then means our B in VNNI2, as tpp has it. */
#include <libxsmm.h>
#include <stddef.h>

void tpp_xsmm_init(void) { libxsmm_init(); }

/* LIBXSMM's name for the code path it picked on this CPU. */
const char *tpp_xsmm_target(void) { return libxsmm_get_target_arch(); }

/* Row-major f32 C(m×n) = A(m×k)·B(k×n) + beta·C; NULL when LIBXSMM has no kernel. */
void *tpp_xsmm_sgemm(int m, int n, int k, int lda, int ldb, int ldc, float beta) {
  const float alpha = 1.0f;
  const libxsmm_blasint M = n, N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
  const int flags = beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : LIBXSMM_GEMM_FLAG_NONE;
  return (void *)libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, &flags, NULL);
}

void tpp_xsmm_sgemm_run(void *f, const float *a, const float *b, float *c) {
  ((libxsmm_smmfunction)f)(b, a, c);
}

/* Row-major f32 BRGEMM C = beta·C + Σ A_i·B_i with element strides. */
void *tpp_xsmm_sbrgemm(int m, int n, int k, long sa, long sb, int lda, int ldb, int ldc,
                       float beta) {
  const float alpha = 1.0f;
  const libxsmm_blasint M = n, N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
  const int flags = beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : LIBXSMM_GEMM_FLAG_NONE;
  return (void *)libxsmm_smmdispatch_reducebatch_strd(
      M, N, K, (libxsmm_blasint)(sb * 4), (libxsmm_blasint)(sa * 4), &LDA, &LDB, &LDC, &alpha,
      &beta, &flags, NULL);
}

void tpp_xsmm_sbrgemm_run(void *f, const float *a, const float *b, float *c,
                          unsigned long long count) {
  ((libxsmm_smmfunction_reducebatch_strd)f)(b, a, c, &count);
}

/* Row-major bf16 BRGEMM with B in VNNI2 and f32 C. */
void *tpp_xsmm_bsbrgemm(int m, int n, int k, long sa, long sb, int lda, int ldb, int ldc,
                        float beta) {
  const float alpha = 1.0f;
  const libxsmm_blasint M = n, N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
  const int flags = LIBXSMM_GEMM_FLAG_VNNI_A |
                    (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : LIBXSMM_GEMM_FLAG_NONE);
  return (void *)libxsmm_bsmmdispatch_reducebatch_strd(
      M, N, K, (libxsmm_blasint)(sb * 2), (libxsmm_blasint)(sa * 2), &LDA, &LDB, &LDC, &alpha,
      &beta, &flags, NULL);
}

void tpp_xsmm_bsbrgemm_run(void *f, const void *a, const void *b, float *c,
                           unsigned long long count) {
  ((libxsmm_bsmmfunction_reducebatch_strd)f)((const libxsmm_bfloat16 *)b,
                                            (const libxsmm_bfloat16 *)a, c, &count);
}
