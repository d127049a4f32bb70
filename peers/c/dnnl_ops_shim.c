/* oneDNN's convolution and inner product for the operator benches (benches/ops.rs): build a
 * forward-inference primitive once for a shape, with every tensor in the layout oneDNN prefers
 * (format tag `any`: its blocked / NHWC layouts, the way frameworks keep prepacked weights and
 * activations between layers), bias and optional ReLU fused; run it on `threads` OpenMP
 * threads. NULL / non-zero on failure. */
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#pragma weak omp_set_num_threads
extern void omp_set_num_threads(int);

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int init(void) {
    if (engine) return 0;
    if (omp_set_num_threads) omp_set_num_threads(1);
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
