/* The operator entry points from C: tpp_conv2d_forward / _backward_data / _backward_weights,
 * tpp_linear_forward / _backward_data / _backward_weights, tpp_attention_forward and the
 * tpp_bert_layer_* object, each against naive loops written here, and their error paths. Prints "N passed, M failed" and
 * exits non-zero on any failure. */
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

static float *fill(size_t n, unsigned s) {
  float *v = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    v[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return v;
}

static int all_close(const float *got, const double *want, size_t n, double tol) {
  for (size_t i = 0; i < n; i++)
    if (fabs(got[i] - want[i]) > tol * (1.0 + fabs(want[i]))) {
      printf("  [%zu] got %g want %g\n", i, got[i], want[i]);
      return 0;
    }
  return 1;
}

enum { N = 2, C = 6, H = 7, W = 5, K = 4, R = 3, S = 3, G = 2, STR = 2, PAD = 1 };
enum { P = (H + 2 * PAD - R) / STR + 1, Q = (W + 2 * PAD - S) / STR + 1, CG = C / G, KG = K / G };

static void test_conv(void) {
  tpp_conv2d_desc d = {TPP_DTYPE_F32, N, C, H, W, K, R, S, STR, STR, PAD, PAD, 1, 1, G,
                       TPP_ACT_NONE, 0.0f};
  float *x = fill(N * C * H * W, 1), *w = fill(K * CG * R * S, 2), *b = fill(K, 3);
  float *dy = fill(N * K * P * Q, 4);
  float *y = malloc(sizeof(float) * N * K * P * Q), *dx = malloc(sizeof(float) * N * C * H * W);
  float *dw = malloc(sizeof(float) * K * CG * R * S), *db = malloc(sizeof(float) * K);
  double *yw = calloc(N * K * P * Q, sizeof(double)), *dxw = calloc(N * C * H * W, sizeof(double));
  double *dww = calloc(K * CG * R * S, sizeof(double)), *dbw = calloc(K, sizeof(double));
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++)
      for (int p = 0; p < P; p++)
        for (int q = 0; q < Q; q++) {
          int yi = ((n * K + k) * P + p) * Q + q;
          yw[yi] += b[k];
          dbw[k] += dy[yi];
          for (int c = 0; c < CG; c++)
            for (int r = 0; r < R; r++)
              for (int s = 0; s < S; s++) {
                int h = p * STR + r - PAD, ww = q * STR + s - PAD;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                int xi = ((n * C + (k / KG) * CG + c) * H + h) * W + ww;
                int wi = ((k * CG + c) * R + r) * S + s;
                yw[yi] += (double)x[xi] * w[wi];
                dxw[xi] += (double)dy[yi] * w[wi];
                dww[wi] += (double)dy[yi] * x[xi];
              }
        }
  CHECK(tpp_conv2d_forward(&d, x, w, b, y) == TPP_OK, "conv forward: %s", tpp_last_error());
  CHECK(all_close(y, yw, N * K * P * Q, 1e-5), "conv forward values");
  CHECK(tpp_conv2d_backward_data(&d, dy, w, dx) == TPP_OK, "conv bwd data: %s", tpp_last_error());
  CHECK(all_close(dx, dxw, N * C * H * W, 1e-5), "conv backward data values");
  CHECK(tpp_conv2d_backward_weights(&d, x, dy, dw, db) == TPP_OK, "conv bwd weights: %s",
        tpp_last_error());
  CHECK(all_close(dw, dww, K * CG * R * S, 1e-5), "conv backward weights values");
  CHECK(all_close(db, dbw, K, 1e-5), "conv bias gradient values");
  /* Errors: a null descriptor, an unknown dtype, groups that do not divide, a null x. */
  CHECK(tpp_conv2d_forward(NULL, x, w, b, y) == TPP_ERR_INVALID_ARGUMENT, "null desc");
  tpp_conv2d_desc bad = d;
  bad.dtype = TPP_DTYPE_I8;
  CHECK(tpp_conv2d_forward(&bad, x, w, b, y) == TPP_ERR_INVALID_ARGUMENT, "i8 conv");
  bad = d;
  bad.groups = 4;
  CHECK(tpp_conv2d_forward(&bad, x, w, b, y) == TPP_ERR_INVALID_DESCRIPTOR, "groups 4: %s",
        tpp_last_error());
  bad = d;
  bad.pad_h = -1;
  CHECK(tpp_conv2d_forward(&bad, x, w, b, y) == TPP_ERR_INVALID_ARGUMENT, "negative padding");
  CHECK(tpp_conv2d_forward(&d, NULL, w, b, y) == TPP_ERR_INVALID_ARGUMENT, "null x");
  CHECK(strlen(tpp_last_error()) > 0, "a message for null x");
  free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
  free(yw), free(dxw), free(dww), free(dbw);
}

static void test_linear(void) {
  enum { RN = 5, RC = 9, RK = 7 };
  tpp_linear_desc d = {TPP_DTYPE_F32, RN, RC, RK, TPP_ACT_RELU, 0.0f};
  float *x = fill(RN * RC, 5), *w = fill(RK * RC, 6), *b = fill(RK, 7), *dy = fill(RN * RK, 8);
  float y[RN * RK], dx[RN * RC], dw[RK * RC], db[RK];
  double yw[RN * RK], dxw[RN * RC] = {0}, dww[RK * RC] = {0}, dbw[RK] = {0};
  for (int i = 0; i < RN; i++)
    for (int o = 0; o < RK; o++) {
      double s = b[o];
      for (int j = 0; j < RC; j++) {
        s += (double)x[i * RC + j] * w[o * RC + j];
        dxw[i * RC + j] += (double)dy[i * RK + o] * w[o * RC + j];
        dww[o * RC + j] += (double)dy[i * RK + o] * x[i * RC + j];
      }
      yw[i * RK + o] = s > 0 ? s : 0;
      dbw[o] += dy[i * RK + o];
    }
  CHECK(tpp_linear_forward(&d, x, w, b, y) == TPP_OK, "linear forward: %s", tpp_last_error());
  CHECK(all_close(y, yw, RN * RK, 1e-5), "linear forward values");
  CHECK(tpp_linear_backward_data(&d, dy, w, dx) == TPP_OK, "linear bwd: %s", tpp_last_error());
  CHECK(all_close(dx, dxw, RN * RC, 1e-5), "linear backward data values");
  CHECK(tpp_linear_backward_weights(&d, x, dy, dw, db) == TPP_OK, "linear bwd w: %s",
        tpp_last_error());
  CHECK(all_close(dw, dww, RK * RC, 1e-5), "linear backward weights values");
  CHECK(all_close(db, dbw, RK, 1e-5), "linear bias gradient values");
  tpp_linear_desc bad = d;
  bad.activation = TPP_ACT_RELU_MASK;
  CHECK(tpp_linear_forward(&bad, x, w, b, y) == TPP_ERR_INVALID_DESCRIPTOR, "relu mask: %s",
        tpp_last_error());
  bad = d;
  bad.dtype = TPP_DTYPE_BF16; /* odd c */
  CHECK(tpp_linear_forward(&bad, x, w, b, y) == TPP_ERR_INVALID_DESCRIPTOR, "bf16 odd c");
  free(x), free(w), free(b), free(dy);
}

static void test_attention(void) {
  enum { B = 2, NH = 2, SQ = 9, SK = 11, D = 4 };
  tpp_attention_desc d = {TPP_DTYPE_F32, B, NH, SQ, SK, D, 1, 0.0f};
  float *q = fill(B * SQ * NH * D, 9), *k = fill(B * SK * NH * D, 10), *v = fill(B * SK * NH * D, 11);
  float out[B * SQ * NH * D];
  double want[B * SQ * NH * D];
  int64_t lens[B] = {11, 7};
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int i = 0; i < SQ; i++) {
        double sc[SK], mx = -INFINITY, sum = 0;
        for (int j = 0; j < SK; j++) {
          sc[j] = -INFINITY;
          if (j < lens[b] && j <= i + SK - SQ) {
            sc[j] = 0;
            for (int t = 0; t < D; t++)
              sc[j] += (double)q[((b * SQ + i) * NH + h) * D + t] * k[((b * SK + j) * NH + h) * D + t];
            sc[j] *= 0.5; /* 1/sqrt(4) */
          }
          if (sc[j] > mx) mx = sc[j];
        }
        for (int j = 0; j < SK; j++) sum += exp(sc[j] - mx);
        for (int t = 0; t < D; t++) {
          double o = 0;
          for (int j = 0; j < SK; j++) o += exp(sc[j] - mx) / sum * v[((b * SK + j) * NH + h) * D + t];
          want[((b * SQ + i) * NH + h) * D + t] = o;
        }
      }
  CHECK(tpp_attention_forward(&d, q, k, v, lens, out) == TPP_OK, "attention: %s",
        tpp_last_error());
  CHECK(all_close(out, want, B * SQ * NH * D, 1e-5), "attention values");
  lens[1] = 0;
  CHECK(tpp_attention_forward(&d, q, k, v, lens, out) == TPP_ERR_INVALID_ARGUMENT,
        "key length 0");
  tpp_attention_desc bad = d;
  bad.causal = 2;
  CHECK(tpp_attention_forward(&bad, q, k, v, NULL, out) == TPP_ERR_INVALID_ARGUMENT, "causal 2");
  bad = d;
  bad.seq_kv = 3;
  CHECK(tpp_attention_forward(&bad, q, k, v, NULL, out) == TPP_ERR_INVALID_DESCRIPTOR,
        "causal with fewer keys than queries");
  free(q), free(k), free(v);
}

/* y[n][o] = b[o] + sum_i x[n][i] * w[o][i] */
static void naive_linear(const double *x, const float *w, const float *b, double *y, int rows,
                         int in, int out) {
  for (int n = 0; n < rows; n++)
    for (int o = 0; o < out; o++) {
      double s = b[o];
      for (int i = 0; i < in; i++) s += x[n * in + i] * w[o * in + i];
      y[n * out + o] = s;
    }
}

/* Each row of a + r normalised, then scaled and shifted. */
static void naive_add_norm(const double *a, const double *r, const float *g, const float *be,
                           double *y, int rows, int cols) {
  for (int n = 0; n < rows; n++) {
    double mean = 0, var = 0;
    for (int c = 0; c < cols; c++) mean += a[n * cols + c] + r[n * cols + c];
    mean /= cols;
    for (int c = 0; c < cols; c++) {
      double d = a[n * cols + c] + r[n * cols + c] - mean;
      var += d * d;
    }
    var /= cols;
    for (int c = 0; c < cols; c++)
      y[n * cols + c] = (a[n * cols + c] + r[n * cols + c] - mean) / sqrt(var + 1e-12) * g[c] + be[c];
  }
}

static void test_bert(void) {
  enum { BB = 2, BS = 5, BH = 8, BN = 2, BI = 12, BD = BH / BN, T = BB * BS };
  tpp_bert_desc d = {TPP_DTYPE_F32, BB, BS, BH, BN, BI, 0.0f, 0.0f, 0};
  float *wq = fill(BH * BH, 20), *wk = fill(BH * BH, 21), *wv = fill(BH * BH, 22);
  float *wo = fill(BH * BH, 23), *wi = fill(BI * BH, 24), *w2 = fill(BH * BI, 25);
  float *bq = fill(BH, 26), *bk = fill(BH, 27), *bv = fill(BH, 28), *bo = fill(BH, 29);
  float *bi = fill(BI, 30), *b2 = fill(BH, 31), *g1 = fill(BH, 32), *e1 = fill(BH, 33);
  float *g2 = fill(BH, 34), *e2 = fill(BH, 35), *x = fill(T * BH, 36);
  float y[T * BH];
  int64_t lens[BB] = {5, 3};
  tpp_bert_weights w = {wq, bq, wk, bk, wv, bv, wo, bo, g1, e1, wi, bi, w2, b2, g2, e2};
  /* The reference, in double. */
  double xd[T * BH], q[T * BH], k[T * BH], v[T * BH], ctx[T * BH], a[T * BH], h[T * BH];
  double in[T * BI], o[T * BH], want[T * BH];
  for (int i = 0; i < T * BH; i++) xd[i] = x[i];
  naive_linear(xd, wq, bq, q, T, BH, BH);
  naive_linear(xd, wk, bk, k, T, BH, BH);
  naive_linear(xd, wv, bv, v, T, BH, BH);
  for (int b = 0; b < BB; b++)
    for (int hd = 0; hd < BN; hd++)
      for (int i = 0; i < BS; i++) {
        double sc[BS], mx = -INFINITY, sum = 0;
        for (int j = 0; j < lens[b]; j++) {
          sc[j] = 0;
          for (int t = 0; t < BD; t++)
            sc[j] += q[(b * BS + i) * BH + hd * BD + t] * k[(b * BS + j) * BH + hd * BD + t];
          sc[j] /= sqrt((double)BD);
          if (sc[j] > mx) mx = sc[j];
        }
        for (int j = 0; j < lens[b]; j++) sum += exp(sc[j] - mx);
        for (int t = 0; t < BD; t++) {
          double acc = 0;
          for (int j = 0; j < lens[b]; j++)
            acc += exp(sc[j] - mx) / sum * v[(b * BS + j) * BH + hd * BD + t];
          ctx[(b * BS + i) * BH + hd * BD + t] = acc;
        }
      }
  naive_linear(ctx, wo, bo, a, T, BH, BH);
  naive_add_norm(a, xd, g1, e1, h, T, BH);
  naive_linear(h, wi, bi, in, T, BH, BI);
  for (int i = 0; i < T * BI; i++) in[i] = 0.5 * in[i] * (1.0 + erf(in[i] / sqrt(2.0)));
  naive_linear(in, w2, b2, o, T, BI, BH);
  naive_add_norm(o, h, g2, e2, want, T, BH);

  tpp_bert_layer *layer = NULL;
  CHECK(tpp_bert_layer_create(&d, &layer) == TPP_OK, "bert create: %s", tpp_last_error());
  CHECK(tpp_bert_layer_forward(layer, x, lens, y) == TPP_ERR_INVALID_ARGUMENT,
        "bert forward before set_weights");
  CHECK(tpp_bert_layer_set_weights(layer, &w) == TPP_OK, "bert weights: %s", tpp_last_error());
  for (int i = 0; i < T * BH; i++) y[i] = NAN;
  CHECK(tpp_bert_layer_forward(layer, x, lens, y) == TPP_OK, "bert forward: %s",
        tpp_last_error());
  CHECK(all_close(y, want, T * BH, 1e-4), "bert forward values");
  /* Bad operands: null x or y, x and y overlapping, a length outside 1..=seq, a null
   * parameter (nothing changes: the layer still gives the same values afterwards). */
  CHECK(tpp_bert_layer_forward(layer, NULL, lens, y) == TPP_ERR_INVALID_ARGUMENT, "null x");
  CHECK(tpp_bert_layer_forward(layer, x, lens, NULL) == TPP_ERR_INVALID_ARGUMENT, "null y");
  CHECK(tpp_bert_layer_forward(layer, x, lens, x + 3) == TPP_ERR_INVALID_ARGUMENT,
        "overlapping x and y");
  lens[1] = 0;
  CHECK(tpp_bert_layer_forward(layer, x, lens, y) == TPP_ERR_INVALID_ARGUMENT, "length 0");
  lens[1] = BS + 1;
  CHECK(tpp_bert_layer_forward(layer, x, lens, y) == TPP_ERR_INVALID_ARGUMENT, "length > seq");
  lens[1] = 3;
  tpp_bert_weights bad_w = w;
  bad_w.out_norm_beta = NULL;
  CHECK(tpp_bert_layer_set_weights(layer, &bad_w) == TPP_ERR_INVALID_ARGUMENT, "null beta");
  CHECK(tpp_bert_layer_set_weights(layer, NULL) == TPP_ERR_INVALID_ARGUMENT, "null weights");
  for (int i = 0; i < T * BH; i++) y[i] = NAN;
  CHECK(tpp_bert_layer_forward(layer, x, lens, y) == TPP_OK, "bert forward again: %s",
        tpp_last_error());
  CHECK(all_close(y, want, T * BH, 1e-4), "bert values after rejected calls");
  /* Bad descriptors: each a typed error, and no layer. */
  tpp_bert_layer *none = NULL;
  tpp_bert_desc bad = d;
  bad.heads = 3; /* does not divide hidden */
  CHECK(tpp_bert_layer_create(&bad, &none) == TPP_ERR_INVALID_DESCRIPTOR, "heads 3: %s",
        tpp_last_error());
  bad = d;
  bad.batch = -1;
  CHECK(tpp_bert_layer_create(&bad, &none) == TPP_ERR_INVALID_ARGUMENT, "negative batch");
  bad = d;
  bad.seq = 0;
  CHECK(tpp_bert_layer_create(&bad, &none) == TPP_ERR_INVALID_DESCRIPTOR, "seq 0");
  bad = d;
  bad.dropout = 1.0f;
  CHECK(tpp_bert_layer_create(&bad, &none) == TPP_ERR_INVALID_DESCRIPTOR, "dropout 1");
  bad = d;
  bad.dtype = TPP_DTYPE_I8;
  CHECK(tpp_bert_layer_create(&bad, &none) == TPP_ERR_INVALID_ARGUMENT, "i8 layer");
  bad = d;
  bad.dtype = TPP_DTYPE_BF16;
  bad.hidden = 6; /* head size 3: bf16 needs pairs */
  CHECK(tpp_bert_layer_create(&bad, &none) == TPP_ERR_INVALID_DESCRIPTOR, "bf16 odd head");
  bad = d;
  bad.hidden = INT64_MAX / 2;
  CHECK(tpp_bert_layer_create(&bad, &none) != TPP_OK, "a layer no memory can hold");
  CHECK(none == NULL, "no layer from a failed create");
  CHECK(tpp_bert_layer_create(NULL, &none) == TPP_ERR_INVALID_ARGUMENT, "null desc");
  CHECK(tpp_bert_layer_create(&d, NULL) == TPP_ERR_INVALID_ARGUMENT, "null out");
  /* Ids: made-up values and released layers are errors, never dereferenced. */
  CHECK(tpp_bert_layer_forward((tpp_bert_layer *)(uintptr_t)0x1234, x, NULL, y) ==
            TPP_ERR_INVALID_ARGUMENT,
        "made-up layer");
  CHECK(tpp_bert_layer_forward(NULL, x, NULL, y) == TPP_ERR_INVALID_ARGUMENT, "null layer");
  CHECK(tpp_bert_layer_set_seed(layer, 7) == TPP_OK, "set seed");
  CHECK(tpp_bert_layer_release(layer) == TPP_OK, "release");
  CHECK(tpp_bert_layer_forward(layer, x, lens, y) == TPP_ERR_INVALID_ARGUMENT,
        "forward after release");
  CHECK(tpp_bert_layer_set_weights(layer, &w) == TPP_ERR_INVALID_ARGUMENT,
        "weights after release");
  CHECK(tpp_bert_layer_release(layer) == TPP_ERR_INVALID_ARGUMENT, "double release");
  CHECK(tpp_bert_layer_release(NULL) == TPP_OK, "release NULL");
  free(wq), free(wk), free(wv), free(wo), free(wi), free(w2), free(bq), free(bk), free(bv);
  free(bo), free(bi), free(b2), free(g1), free(e1), free(g2), free(e2), free(x);
}

int main(void) {
  test_conv();
  test_linear();
  test_attention();
  test_bert();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
