/*
 * The error exits of tpp's CBLAS GEMMs as a C program sees them (driven by
 * tests/cblas_errors.rs, which holds the expected answers).
 *
 * Reads one call per line on stdin, makes it, and prints one line saying what reached the
 * program: "cblas P ROUT | MESSAGE" (its cblas_xerbla, with the formatted message),
 * "xerbla INFO NAME" (its xerbla_), "stderr TEXT" (tpp's own handler printed TEXT), or
 * "none"; several events are joined by " ; ".
 *
 *   g T LAYOUT TRANSA TRANSB M N K LDA LDB LDC
 *       cblas_Tgemm (T: s, d, or b for cblas_sbgemm) with alpha 1, beta 0 and 64-element
 *       operands.
 *   B T LAYOUT GROUP_COUNT NULLMASK NGROUPS then NGROUPS times
 *     TRANSA TRANSB M N K LDA LDB LDC ALPHA BETA SIZE NULLABC
 *       cblas_Tgemm_batch; bit p of NULLMASK passes NULL for batch parameter p; NULLABC bits
 *       1, 2, 4 make the group's A, B, C matrix pointers NULL.
 *
 * Variants: -DOWN_CBLAS_XERBLA and -DOWN_XERBLA define the program's own handlers;
 * -DREF_HARNESS does what the reference CBLAS test harness (CBLAS/testing/c_xerbla.c) does:
 * its xerbla_ forwards to cblas_xerbla as parameter INFO + 1 under the CBLAS name, and its
 * cblas_xerbla maps row-major GEMM numbers back by a RowMajorStrg flag that the program sets
 * before each call. Without a handler of its own the program reads back what tpp printed.
 * The program declares the BLAS names as a program using a system cblas.h sees them
 * (enums as int, bfloat16 as uint16_t), not from tpp.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int,
                 float, float *, int);
void cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *,
                 int, double, double *, int);
void cblas_sbgemm(int, int, int, int, int, int, float, const uint16_t *, int, const uint16_t *,
                  int, float, float *, int);
void cblas_sgemm_batch(int, const int *, const int *, const int *, const int *, const int *,
                       const float *, const float **, const int *, const float **, const int *,
                       const float *, float **, const int *, int, const int *);
void cblas_dgemm_batch(int, const int *, const int *, const int *, const int *, const int *,
                       const double *, const double **, const int *, const double **,
                       const int *, const double *, double **, const int *, int, const int *);
void cblas_sbgemm_batch(int, const int *, const int *, const int *, const int *, const int *,
                        const float *, const uint16_t **, const int *, const uint16_t **,
                        const int *, const float *, float **, const int *, int, const int *);

static char events[1024];

static void event(const char *text) {
  if (events[0]) strncat(events, " ; ", sizeof events - strlen(events) - 1);
  strncat(events, text, sizeof events - strlen(events) - 1);
}

#if defined(OWN_CBLAS_XERBLA) || defined(REF_HARNESS)
#ifdef REF_HARNESS
int RowMajorStrg;
static int is_gemm(const char *rout) {
  return !strcmp(rout, "cblas_sgemm") || !strcmp(rout, "cblas_dgemm") ||
         !strcmp(rout, "cblas_sbgemm");
}
#endif
void cblas_xerbla(int p, const char *rout, const char *form, ...) {
#ifdef REF_HARNESS
  if (RowMajorStrg && is_gemm(rout)) {
    if (p == 4) p = 5;
    else if (p == 5) p = 4;
    else if (p == 9) p = 11;
    else if (p == 11) p = 9;
  }
#endif
  char msg[256], line[400];
  va_list ap;
  va_start(ap, form);
  vsnprintf(msg, sizeof msg, form, ap);
  va_end(ap);
  for (char *s = msg; *s; s++)
    if (*s == '\n') *s = ' ';
  snprintf(line, sizeof line, "cblas %d %s | %s", p, rout, msg);
  event(line);
}
#endif

#if defined(OWN_XERBLA)
void xerbla_(const char *srname, const int *info, size_t len) {
  char line[64];
  int n = (int)(len < 16 ? len : 16);
  while (n > 0 && srname[n - 1] == ' ') n--;
  snprintf(line, sizeof line, "xerbla %d %.*s", *info, n, srname);
  event(line);
}
#elif defined(REF_HARNESS)
void xerbla_(const char *srname, const int *info, size_t len) {
  char rout[40] = "cblas_";
  size_t n = len < 16 ? len : 16;
  while (n > 0 && srname[n - 1] == ' ') n--;
  for (size_t i = 0; i < n; i++) rout[6 + i] = (char)tolower((unsigned char)srname[i]);
  rout[6 + n] = 0;
  cblas_xerbla(*info + 1, rout, "");
}
#endif

/* tpp's own handlers print to stderr, which points at this file. */
static int capture = -1;
static off_t captured = 0;

static void read_back(void) {
  char text[512];
  ssize_t got = pread(capture, text, sizeof text - 1, captured);
  if (got <= 0) return;
  captured = lseek(capture, 0, SEEK_END);
  text[got] = 0;
  char *nl = strchr(text, '\n');
  if (nl) *nl = 0;
  char line[600];
  snprintf(line, sizeof line, "stderr %s", text);
  event(line);
}

enum { ELEMS = 64 };

static void gemm(char t, int layout, int ta, int tb, int m, int n, int k, int lda, int ldb,
                 int ldc) {
  static double a[ELEMS], b[ELEMS], c[ELEMS];
  memset(c, 0, sizeof c);
  if (t == 's')
    cblas_sgemm(layout, ta, tb, m, n, k, 1.0f, (float *)a, lda, (float *)b, ldb, 0.0f,
                (float *)c, ldc);
  else if (t == 'd')
    cblas_dgemm(layout, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
  else
    cblas_sbgemm(layout, ta, tb, m, n, k, 1.0f, (uint16_t *)a, lda, (uint16_t *)b, ldb, 0.0f,
                 (float *)c, ldc);
}

enum { MAX_GROUPS = 8, MAX_ENTRIES = 32 };

/* One batch call; returns 0 on a malformed line. */
static int batch(char t, int layout, int group_count, unsigned nullmask, int ngroups) {
  int ta[MAX_GROUPS], tb[MAX_GROUPS], m[MAX_GROUPS], n[MAX_GROUPS], k[MAX_GROUPS];
  int lda[MAX_GROUPS], ldb[MAX_GROUPS], ldc[MAX_GROUPS], size[MAX_GROUPS];
  double alpha[MAX_GROUPS], beta[MAX_GROUPS];
  float alpha_f[MAX_GROUPS], beta_f[MAX_GROUPS];
  unsigned nullabc[MAX_GROUPS];
  static double mats[3][MAX_ENTRIES][ELEMS];
  void *ap[MAX_ENTRIES], *bp[MAX_ENTRIES], *cp[MAX_ENTRIES];
  int e = 0;
  if (ngroups < 0 || ngroups > MAX_GROUPS) return 0;
  for (int g = 0; g < ngroups; g++) {
    if (scanf("%d %d %d %d %d %d %d %d %lf %lf %d %u", &ta[g], &tb[g], &m[g], &n[g], &k[g],
              &lda[g], &ldb[g], &ldc[g], &alpha[g], &beta[g], &size[g], &nullabc[g]) != 12)
      return 0;
    alpha_f[g] = (float)alpha[g];
    beta_f[g] = (float)beta[g];
    for (int j = 0; j < size[g]; j++, e++) {
      if (e >= MAX_ENTRIES) return 0;
      memset(mats[2][e], 0, sizeof mats[2][e]);
      ap[e] = (nullabc[g] & 1) ? NULL : mats[0][e];
      bp[e] = (nullabc[g] & 2) ? NULL : mats[1][e];
      cp[e] = (nullabc[g] & 4) ? NULL : mats[2][e];
    }
  }
#define ARG(p, x) ((nullmask >> (p)) & 1 ? NULL : (x))
  if (t == 's')
    cblas_sgemm_batch(layout, ARG(2, ta), ARG(3, tb), ARG(4, m), ARG(5, n), ARG(6, k),
                      ARG(7, alpha_f), ARG(8, (const float **)ap), ARG(9, lda),
                      ARG(10, (const float **)bp), ARG(11, ldb), ARG(12, beta_f),
                      ARG(13, (float **)cp), ARG(14, ldc), group_count, ARG(16, size));
  else if (t == 'd')
    cblas_dgemm_batch(layout, ARG(2, ta), ARG(3, tb), ARG(4, m), ARG(5, n), ARG(6, k),
                      ARG(7, alpha), ARG(8, (const double **)ap), ARG(9, lda),
                      ARG(10, (const double **)bp), ARG(11, ldb), ARG(12, beta),
                      ARG(13, (double **)cp), ARG(14, ldc), group_count, ARG(16, size));
  else
    cblas_sbgemm_batch(layout, ARG(2, ta), ARG(3, tb), ARG(4, m), ARG(5, n), ARG(6, k),
                       ARG(7, alpha_f), ARG(8, (const uint16_t **)ap), ARG(9, lda),
                       ARG(10, (const uint16_t **)bp), ARG(11, ldb), ARG(12, beta_f),
                       ARG(13, (float **)cp), ARG(14, ldc), group_count, ARG(16, size));
#undef ARG
  return 1;
}

int main(void) {
  FILE *cap = tmpfile();
  if (!cap) return 2;
  fflush(stderr);
  capture = fileno(cap);
  if (dup2(capture, 2) < 0) return 2;
  char kind[4], t[4];
  while (scanf("%3s %3s", kind, t) == 2) {
    events[0] = 0;
    int layout, ok = 1;
    if (kind[0] == 'g') {
      int ta, tb, m, n, k, lda, ldb, ldc;
      if (scanf("%d %d %d %d %d %d %d %d %d", &layout, &ta, &tb, &m, &n, &k, &lda, &ldb,
                &ldc) != 9)
        return 3;
#ifdef REF_HARNESS
      RowMajorStrg = layout == 101;
#endif
      gemm(t[0], layout, ta, tb, m, n, k, lda, ldb, ldc);
    } else {
      int group_count, ngroups;
      unsigned nullmask;
      if (scanf("%d %d %u %d", &layout, &group_count, &nullmask, &ngroups) != 4) return 3;
#ifdef REF_HARNESS
      RowMajorStrg = 0;
#endif
      ok = batch(t[0], layout, group_count, nullmask, ngroups);
    }
    if (!ok) return 3;
    read_back();
    printf("%s\n", events[0] ? events : "none");
  }
  return 0;
}
