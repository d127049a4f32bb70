/* oneDNN's convolution and inner product for the operator benches (benches/ops.rs): build a
 * forward-inference primitive once for a shape, with every tensor in the layout oneDNN prefers
 * (format tag `any`: its blocked / NHWC layouts, the way frameworks keep prepacked weights and
 * activations between layers), bias and optional ReLU fused; run it on `threads` OpenMP
 * threads. NULL / non-zero on failure. */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#pragma weak omp_set_num_threads
extern void omp_set_num_threads(int);

static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* In dnnl_shim.c: whether a bench chose the creation threads (tpp_dnnl_set_threads). */
extern int tpp_dnnl_threads_chosen;

static int init(void) {
    if (engine) return 0;
    if (omp_set_num_threads && !tpp_dnnl_threads_chosen) omp_set_num_threads(1);
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return -1;
    return dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success;
}

typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t mem[4];
    int ids[4];
    const char *impl;
} tpp_dnnl_fwd;

/* The primitive and zero-filled memories in the layouts the primitive chose. */
static tpp_dnnl_fwd *make(dnnl_primitive_desc_t pd) {
    static const dnnl_query_t q[4] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_weights_md, dnnl_query_dst_md};
    static const int ids[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    tpp_dnnl_fwd *f = calloc(1, sizeof *f);
    if (!f || dnnl_primitive_create(&f->prim, pd) != dnnl_success) goto fail;
    for (int i = 0; i < 4; i++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q[i], i == 2 ? 1 : 0);
        void *data;
        if (!md || dnnl_memory_create(&f->mem[i], md, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
            dnnl_memory_get_data_handle(f->mem[i], &data) != dnnl_success)
            goto fail;
        memset(data, 0, dnnl_memory_desc_get_size(md));
        f->ids[i] = ids[i];
    }
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &f->impl);
    f->impl = f->impl ? strdup(f->impl) : "?";
    dnnl_primitive_desc_destroy(pd);
    return f;
fail:
    dnnl_primitive_desc_destroy(pd);
    free(f);
    return NULL;
}

static dnnl_primitive_attr_t relu_attr(int relu) {
    dnnl_primitive_attr_t attr = NULL;
    if (!relu) return NULL;
    dnnl_post_ops_t po;
    dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_create(&po);
    dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return attr;
}

/* y = relu?(conv(x, w) + b): NCHW sizes, square stride and padding; f32 or bf16 data
 * (bf16 output), f32 bias. */
tpp_dnnl_fwd *tpp_dnnl_conv(int bf16, long n, long c, long h, long w, long k, long r, long s,
                            long stride, long pad, int relu) {
    if (init()) return NULL;
    dnnl_data_type_t t = bf16 ? dnnl_bf16 : dnnl_f32;
    long p = (h + 2 * pad - r) / stride + 1, q = (w + 2 * pad - s) / stride + 1;
    dnnl_dims_t xd = {n, c, h, w}, wd = {k, c, r, s}, bd = {k}, yd = {n, k, p, q};
    dnnl_dims_t st = {stride, stride}, pl = {pad, pad};
    dnnl_memory_desc_t x, wt, b, y;
    dnnl_memory_desc_init_by_tag(&x, 4, xd, t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wt, 4, wd, t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&y, 4, yd, t, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &x, &wt, &b, &y, st, pl, pl) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = relu_attr(relu);
    dnnl_primitive_desc_t pd;
    dnnl_status_t rc = dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc == dnnl_success ? make(pd) : NULL;
}

/* y(n×k) = relu?(x(n×c)·wᵀ + b): f32 or bf16 data (bf16 output), f32 bias. */
tpp_dnnl_fwd *tpp_dnnl_inner_product(int bf16, long n, long c, long k, int relu) {
    if (init()) return NULL;
    dnnl_data_type_t t = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t xd = {n, c}, wd = {k, c}, bd = {k}, yd = {n, k};
    dnnl_memory_desc_t x, wt, b, y;
    dnnl_memory_desc_init_by_tag(&x, 2, xd, t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wt, 2, wd, t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&y, 2, yd, t, dnnl_format_tag_any);
    dnnl_inner_product_desc_t d;
    if (dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, &x, &wt, &b, &y) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = relu_attr(relu);
    dnnl_primitive_desc_t pd;
    dnnl_status_t rc = dnnl_primitive_desc_create(&pd, &d, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc == dnnl_success ? make(pd) : NULL;
}

/* Runs a primitive from above on `threads` OpenMP threads; 0 on success. */
int tpp_dnnl_fwd_run(tpp_dnnl_fwd *f, int threads) {
    if (omp_set_num_threads) omp_set_num_threads(threads);
    dnnl_exec_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i].arg = f->ids[i];
        args[i].memory = f->mem[i];
    }
    int rc = dnnl_primitive_execute(f->prim, stream, 4, args) != dnnl_success ||
             dnnl_stream_wait(stream) != dnnl_success;
    if (omp_set_num_threads) omp_set_num_threads(1);
    return rc;
}

/* The implementation oneDNN picked (e.g. "brgconv:avx512_core"). */
const char *tpp_dnnl_fwd_impl(const tpp_dnnl_fwd *f) { return f->impl; }

/* ---- A BERT encoder layer (inference) composed from oneDNN primitives ----
 * The same dataflow as tpp::ops::BertLayer with no dropout: Q, K, V inner products (bias);
 * scores = scale·Q·Kᵀ as a batched matmul over [batch][heads] reading Q and K in place from
 * the [tokens][hidden] projections through strides (the scale an eltwise-linear post-op);
 * softmax over the keys; context = P·V (a batched matmul writing [tokens][hidden]); output
 * inner product with bias and the residual as a binary-add post-op; layer norm (scale, shift);
 * up inner product with bias and erf-GELU post-op; down inner product with bias and residual
 * post-op; layer norm. Activations are plain row-major (what the matmuls and layer norms read);
 * weights take the layout oneDNN prefers (format `any`). Memories are zero-filled: the bench
 * times the work, which does not depend on the values. */

enum { B_X, B_Q, B_K, B_V, B_S, B_CTX, B_A, B_H, B_I, B_O, B_Y, B_G1, B_B1, B_G2, B_B2, B_MEMS };
#define BERT_STEPS 11
#define BERT_ARGS 6

typedef struct {
    dnnl_primitive_t prim[BERT_STEPS];
    dnnl_exec_arg_t args[BERT_STEPS][BERT_ARGS];
    int nargs[BERT_STEPS];
    int nsteps;
    dnnl_memory_t mem[B_MEMS + 2 * BERT_STEPS];
    int nmem;
    char impl[1024];
} tpp_dnnl_bert;

static dnnl_memory_t bert_mem(tpp_dnnl_bert *l, const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    void *data;
    if (dnnl_memory_create(&m, md, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) return NULL;
    dnnl_memory_get_data_handle(m, &data);
    memset(data, 0, dnnl_memory_desc_get_size(md));
    l->mem[l->nmem++] = m;
    return m;
}

static void bert_arg(tpp_dnnl_bert *l, int arg, dnnl_memory_t m) {
    int s = l->nsteps;
    l->args[s][l->nargs[s]].arg = arg;
    l->args[s][l->nargs[s]].memory = m;
    l->nargs[s]++;
}

/* Creates the primitive of `pd` as the next step (args added before by bert_arg); records its
 * implementation name. */
static int bert_step(tpp_dnnl_bert *l, dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    size_t used = strlen(l->impl);
    if (impl && used + strlen(impl) + 2 < sizeof l->impl) {
        if (used) strcat(l->impl, " ");
        strcat(l->impl, impl);
    }
    int rc = dnnl_primitive_create(&l->prim[l->nsteps], pd) != dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (!rc) l->nsteps++;
    return rc;
}

/* Weights (`any`) and bias memories of an inner product, as the primitive chose them. */
static int bert_ip(tpp_dnnl_bert *l, int bf16, long n, long c, long k, int gelu, dnnl_memory_t src,
                   dnnl_memory_t dst, dnnl_memory_t residual) {
    dnnl_data_type_t t = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t xd = {n, c}, wd = {k, c}, bd = {k}, yd = {n, k};
    dnnl_memory_desc_t x, wt, b, y;
    dnnl_memory_desc_init_by_tag(&x, 2, xd, t, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&wt, 2, wd, t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&y, 2, yd, t, dnnl_ab);
    dnnl_inner_product_desc_t d;
    if (dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, &x, &wt, &b, &y) != dnnl_success)
        return -1;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_create(&po);
    if (gelu) dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_erf, 0.f, 0.f);
    if (residual) dnnl_post_ops_append_binary(po, dnnl_binary_add, &y);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_desc_t pd;
    dnnl_status_t rc = dnnl_primitive_desc_create(&pd, &d, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (rc != dnnl_success) return -1;
    dnnl_memory_t w = bert_mem(l, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
    dnnl_memory_t bias = bert_mem(l, &b);
    if (!w || !bias) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    bert_arg(l, DNNL_ARG_SRC, src);
    bert_arg(l, DNNL_ARG_WEIGHTS, w);
    bert_arg(l, DNNL_ARG_BIAS, bias);
    bert_arg(l, DNNL_ARG_DST, dst);
    if (residual) bert_arg(l, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, residual);
    return bert_step(l, pd);
}

/* A batched matmul dst = scale·src·wei over [batch][heads] with the given strides. */
static int bert_matmul(tpp_dnnl_bert *l, dnnl_data_type_t t, const dnnl_dims_t sd, const dnnl_dims_t ss,
                       const dnnl_dims_t wd, const dnnl_dims_t ws, const dnnl_dims_t dd, const dnnl_dims_t ds,
                       float scale, dnnl_memory_t src, dnnl_memory_t wei, dnnl_memory_t dst) {
    dnnl_memory_desc_t s, w, d;
    dnnl_memory_desc_init_by_strides(&s, 4, sd, t, ss);
    dnnl_memory_desc_init_by_strides(&w, 4, wd, t, ws);
    dnnl_memory_desc_init_by_strides(&d, 4, dd, t, ds);
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &s, &w, NULL, &d) != dnnl_success) return -1;
    dnnl_primitive_attr_t attr = NULL;
    if (scale != 1.f) {
        dnnl_post_ops_t po;
        dnnl_primitive_attr_create(&attr);
        dnnl_post_ops_create(&po);
        dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, scale, 0.f);
        dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t rc = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (rc != dnnl_success) return -1;
    bert_arg(l, DNNL_ARG_SRC, src);
    bert_arg(l, DNNL_ARG_WEIGHTS, wei);
    bert_arg(l, DNNL_ARG_DST, dst);
    return bert_step(l, pd);
}

static int bert_layer_norm(tpp_dnnl_bert *l, int bf16, long n, long h, float eps, dnnl_memory_t src,
                           dnnl_memory_t dst, dnnl_memory_t scale, dnnl_memory_t shift) {
    dnnl_dims_t dims = {n, h};
    dnnl_memory_desc_t data;
    dnnl_memory_desc_init_by_tag(&data, 2, dims, bf16 ? dnnl_bf16 : dnnl_f32, dnnl_ab);
    dnnl_layer_normalization_desc_t d;
    if (dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_inference, &data, NULL, eps,
                                                   dnnl_use_scale | dnnl_use_shift) != dnnl_success)
        return -1;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL) != dnnl_success) return -1;
    bert_arg(l, DNNL_ARG_SRC, src);
    bert_arg(l, DNNL_ARG_DST, dst);
    bert_arg(l, DNNL_ARG_SCALE, scale);
    bert_arg(l, DNNL_ARG_SHIFT, shift);
    return bert_step(l, pd);
}

static void bert_free(tpp_dnnl_bert *l) {
    for (int i = 0; i < l->nsteps; i++) dnnl_primitive_destroy(l->prim[i]);
    for (int i = 0; i < l->nmem; i++) dnnl_memory_destroy(l->mem[i]);
    free(l);
}

/* The layer for `batch` sequences of `seq` tokens; f32 or bf16 activations and weights. */
tpp_dnnl_bert *tpp_dnnl_bert_layer(int bf16, long batch, long seq, long hidden, long heads, long inter) {
    if (init() || hidden % heads) return NULL;
    tpp_dnnl_bert *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    dnnl_data_type_t t = bf16 ? dnnl_bf16 : dnnl_f32;
    long n = batch * seq, d = hidden / heads;
    dnnl_memory_desc_t act, wide, scores, vec;
    dnnl_dims_t ad = {n, hidden}, id = {n, inter}, sd = {batch, heads, seq, seq}, vd = {hidden};
    dnnl_memory_desc_init_by_tag(&act, 2, ad, t, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&wide, 2, id, t, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&scores, 4, sd, t, dnnl_abcd);
    dnnl_memory_desc_init_by_tag(&vec, 1, vd, dnnl_f32, dnnl_a);
    dnnl_memory_t m[B_MEMS];
    for (int i = 0; i < B_MEMS; i++) {
        const dnnl_memory_desc_t *md = i == B_S ? &scores : i == B_I ? &wide : i >= B_G1 ? &vec : &act;
        if (!(m[i] = bert_mem(l, md))) goto fail;
    }
    /* [tokens][hidden] seen as [batch][heads][seq][d], and K as [batch][heads][d][seq]. */
    dnnl_dims_t hd = {batch, heads, seq, d}, hs = {seq * hidden, d, hidden, 1};
    dnnl_dims_t kd = {batch, heads, d, seq}, ks = {seq * hidden, d, 1, hidden};
    dnnl_dims_t ss = {heads * seq * seq, seq * seq, seq, 1};
    if (bert_ip(l, bf16, n, hidden, hidden, 0, m[B_X], m[B_Q], NULL) ||
        bert_ip(l, bf16, n, hidden, hidden, 0, m[B_X], m[B_K], NULL) ||
        bert_ip(l, bf16, n, hidden, hidden, 0, m[B_X], m[B_V], NULL) ||
        bert_matmul(l, t, hd, hs, kd, ks, sd, ss, 1.f / sqrtf((float)d), m[B_Q], m[B_K], m[B_S]))
        goto fail;
    dnnl_softmax_v2_desc_t sm;
    dnnl_primitive_desc_t pd;
    if (dnnl_softmax_v2_forward_desc_init(&sm, dnnl_forward_inference, dnnl_softmax_accurate, &scores, &scores, 3) !=
            dnnl_success ||
        dnnl_primitive_desc_create(&pd, &sm, NULL, engine, NULL) != dnnl_success)
        goto fail;
    bert_arg(l, DNNL_ARG_SRC, m[B_S]);
    bert_arg(l, DNNL_ARG_DST, m[B_S]);
    if (bert_step(l, pd) ||
        bert_matmul(l, t, sd, ss, hd, hs, hd, hs, 1.f, m[B_S], m[B_V], m[B_CTX]) ||
        bert_ip(l, bf16, n, hidden, hidden, 0, m[B_CTX], m[B_A], m[B_X]) ||
        bert_layer_norm(l, bf16, n, hidden, 1e-12f, m[B_A], m[B_H], m[B_G1], m[B_B1]) ||
        bert_ip(l, bf16, n, hidden, inter, 1, m[B_H], m[B_I], NULL) ||
        bert_ip(l, bf16, n, inter, hidden, 0, m[B_I], m[B_O], m[B_H]) ||
        bert_layer_norm(l, bf16, n, hidden, 1e-12f, m[B_O], m[B_Y], m[B_G2], m[B_B2]))
        goto fail;
    return l;
fail:
    bert_free(l);
    return NULL;
}

/* Runs the layer on `threads` OpenMP threads; 0 on success. */
int tpp_dnnl_bert_run(tpp_dnnl_bert *l, int threads) {
    if (omp_set_num_threads) omp_set_num_threads(threads);
    int rc = 0;
    for (int i = 0; i < l->nsteps && !rc; i++)
        rc = dnnl_primitive_execute(l->prim[i], stream, l->nargs[i], l->args[i]) != dnnl_success;
    rc = rc || dnnl_stream_wait(stream) != dnnl_success;
    if (omp_set_num_threads) omp_set_num_threads(1);
    return rc;
}

/* The implementations of the steps, space-separated, in order. */
const char *tpp_dnnl_bert_impl(const tpp_dnnl_bert *l) { return l->impl; }
