/* Equations from C: a layer norm built node by node and a ready-made softmax, checked against
 * naive loops written here; kernel info; and the error paths of the builder (a destroyed or
 * made-up equation id, a node index out of range, an invalid DAG at dispatch, a kernel of
 * another family). Prints "N passed, M failed" and exits non-zero on any failure. */
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

enum { ROWS = 5, COLS = 37, LD = 40 };

static void test_layer_norm(void) {
  tpp_equation *eq = NULL;
  CHECK(tpp_equation_create(ROWS, COLS, &eq) == TPP_OK, "create: %s", tpp_last_error());
  int32_t x, g, b, s, inv, mean, d, q, var, eps, ve, rstd, xh, y;
  CHECK(tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_NONE, LD, &x) == TPP_OK, "input");
  tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_ROW, 0, &g);
  tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_ROW, 0, &b);
  tpp_equation_reduce(eq, TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, x, &s);
  tpp_equation_constant(eq, 1.0f / COLS, &inv);
  tpp_equation_binary(eq, TPP_BINARY_MUL, s, inv, &mean);
  tpp_equation_binary(eq, TPP_BINARY_SUB, x, mean, &d);
  tpp_equation_reduce(eq, TPP_REDUCE_SUMSQ, TPP_AXIS_PER_ROW, d, &q);
  tpp_equation_binary(eq, TPP_BINARY_MUL, q, inv, &var);
  tpp_equation_constant(eq, 1e-5f, &eps);
  tpp_equation_binary(eq, TPP_BINARY_ADD, var, eps, &ve);
  tpp_equation_unary(eq, TPP_UNARY_RSQRT, 0, 0.0f, ve, -1, &rstd);
  tpp_equation_binary(eq, TPP_BINARY_MUL, d, rstd, &xh);
  CHECK(tpp_equation_ternary(eq, TPP_TERNARY_MULADD, xh, g, b, &y) == TPP_OK, "ternary: %s",
        tpp_last_error());
  CHECK(tpp_equation_output(eq, y, TPP_DTYPE_F32, LD) == TPP_OK, "output");
  CHECK(tpp_equation_output(eq, mean, TPP_DTYPE_F32, 0) == TPP_OK, "output mean");
  tpp_kernel *k = NULL;
  CHECK(tpp_equation_dispatch(eq, &k) == TPP_OK, "dispatch: %s", tpp_last_error());
  CHECK(tpp_equation_destroy(eq) == TPP_OK, "destroy");
  tpp_kernel_info info;
  CHECK(tpp_kernel_get_info(k, &info) == TPP_OK && info.family == TPP_FAMILY_EQUATION,
        "info: family %d", info.family);

  float xs[ROWS * LD], gs[COLS], bs[COLS], ys[ROWS * LD], ms[ROWS];
  unsigned seed = 7;
  for (int i = 0; i < ROWS * LD; i++) {
    seed = seed * 1664525u + 1013904223u;
    xs[i] = (float)((seed >> 8) & 0xffff) / 16384.0f - 2.0f;
    ys[i] = NAN;
  }
  for (int j = 0; j < COLS; j++) {
    gs[j] = 1.0f + 0.01f * j;
    bs[j] = 0.5f - 0.02f * j;
  }
  const void *ins[3] = {xs, gs, bs};
  void *outs[2] = {ys, ms};
  tpp_equation_args args = {ins, outs, NULL, 0};
  CHECK(tpp_equation_call(k, &args) == TPP_OK, "call: %s", tpp_last_error());
  int bad = 0;
  for (int i = 0; i < ROWS; i++) {
    double m = 0, v = 0;
    for (int j = 0; j < COLS; j++) m += xs[i * LD + j];
    m /= COLS;
    for (int j = 0; j < COLS; j++) v += (xs[i * LD + j] - m) * (xs[i * LD + j] - m);
    double r = 1.0 / sqrt(v / COLS + 1e-5);
    if (fabs(ms[i] - m) > 1e-5) bad++;
    for (int j = 0; j < COLS; j++) {
      double want = (xs[i * LD + j] - m) * r * gs[j] + bs[j];
      if (fabs(ys[i * LD + j] - want) > 1e-4 * (1 + fabs(want))) bad++;
    }
    for (int j = COLS; j < LD && i + 1 < ROWS; j++)
      if (!isnan(ys[i * LD + j])) bad++; /* padding untouched */
  }
  CHECK(bad == 0, "layer norm: %d elements wrong", bad);
  /* A kernel of another family is refused by tpp_unary_call. */
  tpp_unary_args ua;
  memset(&ua, 0, sizeof ua);
  CHECK(tpp_unary_call(k, &ua) == TPP_ERR_INVALID_ARGUMENT, "family check");
  CHECK(tpp_kernel_release(k) == TPP_OK, "release");
}

static void test_softmax(void) {
  tpp_equation *eq = NULL;
  CHECK(tpp_equation_create_ready(TPP_EQ_SOFTMAX, 3, 10, TPP_DTYPE_F32, 0.0f, &eq) == TPP_OK,
        "ready: %s", tpp_last_error());
  tpp_kernel *k = NULL;
  CHECK(tpp_equation_dispatch(eq, &k) == TPP_OK, "dispatch: %s", tpp_last_error());
  tpp_equation_destroy(eq);
  float x[30], y[30];
  for (int i = 0; i < 30; i++) x[i] = (float)(i % 7) - 3.0f;
  const void *ins[1] = {x};
  void *outs[1] = {y};
  tpp_equation_args args = {ins, outs, NULL, 0};
  CHECK(tpp_equation_call(k, &args) == TPP_OK, "call: %s", tpp_last_error());
  int bad = 0;
  for (int i = 0; i < 3; i++) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < 10; j++) mx = fmax(mx, x[i * 10 + j]);
    for (int j = 0; j < 10; j++) s += exp(x[i * 10 + j] - mx);
    for (int j = 0; j < 10; j++)
      if (fabs(y[i * 10 + j] - exp(x[i * 10 + j] - mx) / s) > 1e-6) bad++;
  }
  CHECK(bad == 0, "softmax: %d elements wrong", bad);
  tpp_kernel_release(k);
}

/* Two online-softmax steps over the two halves of each row give the softmax of the row. */
static void test_online_softmax(void) {
  enum { R = 3, C = 5 };
  tpp_equation *eq = NULL;
  CHECK(tpp_equation_create_ready(TPP_EQ_ONLINE_SOFTMAX, R, C, TPP_DTYPE_F32, 0.0f, &eq) ==
            TPP_OK,
        "ready: %s", tpp_last_error());
  tpp_kernel *k = NULL;
  CHECK(tpp_equation_dispatch(eq, &k) == TPP_OK, "dispatch: %s", tpp_last_error());
  tpp_equation_destroy(eq);
  float s[2][R * C], p[2][R * C], m[3][R], l[3][R], c[2][R];
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < R * C; i++) s[h][i] = (float)((i * 7 + h * 3) % 11) * 0.5f - 2.0f;
  for (int i = 0; i < R; i++) {
    m[0][i] = -INFINITY;
    l[0][i] = 0.0f;
  }
  for (int h = 0; h < 2; h++) {
    const void *ins[3] = {s[h], m[h], l[h]};
    void *outs[4] = {p[h], m[h + 1], l[h + 1], c[h]};
    tpp_equation_args args = {ins, outs, NULL, 0};
    CHECK(tpp_equation_call(k, &args) == TPP_OK, "call: %s", tpp_last_error());
  }
  int bad = 0;
  for (int i = 0; i < R; i++) {
    double mx = -INFINITY, sum = 0;
    for (int h = 0; h < 2; h++)
      for (int j = 0; j < C; j++) mx = fmax(mx, s[h][i * C + j]);
    for (int h = 0; h < 2; h++)
      for (int j = 0; j < C; j++) sum += exp(s[h][i * C + j] - mx);
    if (m[2][i] != (float)mx) bad++;
    if (fabs(l[2][i] - sum) > 1e-5 * sum) bad++;
    if (c[0][i] != 0.0f) bad++; /* exp(-inf - m') */
    /* P of the last step, over the final l, is the softmax of those scores. */
    for (int j = 0; j < C; j++) {
      double want = exp(s[1][i * C + j] - mx) / sum;
      if (fabs(p[1][i * C + j] / l[2][i] - want) > 1e-5) bad++;
    }
  }
  CHECK(bad == 0, "online softmax: %d values wrong", bad);
  tpp_kernel_release(k);
}

static void test_errors(void) {
  tpp_equation *eq = NULL;
  int32_t n;
  CHECK(tpp_equation_create(-1, 4, &eq) == TPP_ERR_INVALID_ARGUMENT, "negative rows");
  CHECK(tpp_equation_create(4, 4, NULL) == TPP_ERR_INVALID_ARGUMENT, "null out");
  CHECK(tpp_equation_input((tpp_equation *)(uintptr_t)0x1234, TPP_DTYPE_F32, 0, 4, &n) ==
            TPP_ERR_INVALID_ARGUMENT,
        "made-up id");
  tpp_equation_create(4, 4, &eq);
  CHECK(tpp_equation_input(eq, 99, TPP_BCAST_NONE, 4, &n) == TPP_ERR_INVALID_ARGUMENT,
        "bad dtype code");
  CHECK(tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_NONE, 4, NULL) ==
            TPP_ERR_INVALID_ARGUMENT,
        "null node_out");
  tpp_equation_input(eq, TPP_DTYPE_F32, TPP_BCAST_NONE, 4, &n);
  int32_t m;
  CHECK(tpp_equation_binary(eq, TPP_BINARY_ADD, n, 7, &m) == TPP_ERR_INVALID_ARGUMENT,
        "node out of range: %s", tpp_last_error());
  tpp_kernel *k = NULL;
  CHECK(tpp_equation_dispatch(eq, &k) == TPP_ERR_INVALID_DESCRIPTOR, "no output: %s",
        tpp_last_error());
  CHECK(strstr(tpp_last_error(), "outputs") != NULL, "message names the field: %s",
        tpp_last_error());
  CHECK(tpp_equation_destroy(eq) == TPP_OK, "destroy");
  CHECK(tpp_equation_destroy(eq) == TPP_ERR_INVALID_ARGUMENT, "destroy twice");
  CHECK(tpp_equation_output(eq, 0, TPP_DTYPE_F32, 4) == TPP_ERR_INVALID_ARGUMENT,
        "use after destroy");
  CHECK(tpp_equation_call(NULL, NULL) == TPP_ERR_INVALID_ARGUMENT, "null kernel");
}

int main(void) {
  test_layer_norm();
  test_softmax();
  test_online_softmax();
  test_errors();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
