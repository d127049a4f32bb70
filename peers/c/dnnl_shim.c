/* A thin C shim over oneDNN's C API for the eltwise and equation benches: build a primitive
 * once for a shape, then run it on caller memory. Every function returns NULL / non-zero on
 * failure. */
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>

/* The most memories a primitive here binds (layer normalization: src, dst, mean, variance,
 * scale, shift). */
#define TPP_DNNL_MAX_ARGS 6

typedef struct {
    dnnl_primitive_t prim;
    int n;
    int ids[TPP_DNNL_MAX_ARGS];
    dnnl_memory_t mem[TPP_DNNL_MAX_ARGS];
} tpp_dnnl_op;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* tpp's kernels run on the calling thread: make oneDNN's OpenMP runtime do the same, so the
 * comparison is one core against one core. Weak: resolved from oneDNN's own libgomp. */
#pragma weak omp_set_num_threads
extern void omp_set_num_threads(int);

/* Set once a bench has chosen the OpenMP threads of primitive creation itself. */
int tpp_dnnl_threads_chosen;

/* Sets the calling thread's OpenMP thread count. oneDNN plans a primitive's parallel split
 * when the primitive is created, so a bench creates it with the count it will run it on (a
 * primitive created for 1 thread and run on 2 was measured at its 1-thread speed). */
void tpp_dnnl_set_threads(int n) {
    tpp_dnnl_threads_chosen = 1;
    if (omp_set_num_threads) omp_set_num_threads(n);
}

static int init(void) {
    if (engine) return 0;
    if (omp_set_num_threads && !tpp_dnnl_threads_chosen) omp_set_num_threads(1);
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return -1;
    return dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success;
}

static dnnl_data_type_t dtype(int bf16) { return bf16 ? dnnl_bf16 : dnnl_f32; }

static void md2(dnnl_memory_desc_t *md, int bf16, long r, long c, long sr, long sc) {
    dnnl_dims_t dims = {r, c}, strides = {sr, sc};
    dnnl_memory_desc_init_by_strides(md, 2, dims, dtype(bf16), strides);
}

static tpp_dnnl_op *build(dnnl_primitive_desc_t pd, int n, const int *ids, const dnnl_memory_desc_t **mds) {
    tpp_dnnl_op *op = n <= TPP_DNNL_MAX_ARGS ? calloc(1, sizeof *op) : NULL;
    if (!op) {
        dnnl_primitive_desc_destroy(pd);
        return NULL;
    }
    op->n = n;
    if (dnnl_primitive_create(&op->prim, pd) != dnnl_success) goto fail;
    for (int i = 0; i < n; i++) {
        op->ids[i] = ids[i];
        if (dnnl_memory_create(&op->mem[i], mds[i], engine, DNNL_MEMORY_NONE) != dnnl_success) goto fail;
    }
    dnnl_primitive_desc_destroy(pd);
    return op;
fail:
    dnnl_primitive_desc_destroy(pd);
    free(op);
    return NULL;
}

/* alg: 0 relu, 1 gelu (tanh), 2 exp, 3 logistic (sigmoid). */
tpp_dnnl_op *tpp_dnnl_eltwise(int alg, int bf16, long rows, long cols) {
    static const dnnl_alg_kind_t algs[] = {dnnl_eltwise_relu, dnnl_eltwise_gelu_tanh, dnnl_eltwise_exp, dnnl_eltwise_logistic};
    if (init() || alg < 0 || alg > 3) return NULL;
    dnnl_memory_desc_t md;
    md2(&md, bf16, rows, cols, cols, 1);
    dnnl_eltwise_desc_t desc;
    if (dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, algs[alg], &md, 0.f, 0.f) != dnnl_success) return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success) return NULL;
    const int ids[] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[] = {&md, &md};
    return build(pd, 2, ids, mds);
}

/* dst = src0 + src1, src1 a row of `cols` broadcast down the rows. */
tpp_dnnl_op *tpp_dnnl_add_row(int bf16, long rows, long cols) {
    if (init()) return NULL;
    dnnl_memory_desc_t a, b;
    md2(&a, bf16, rows, cols, cols, 1);
    md2(&b, bf16, 1, cols, cols, 1);
    dnnl_binary_desc_t desc;
    if (dnnl_binary_desc_init(&desc, dnnl_binary_add, &a, &b, &a) != dnnl_success) return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success) return NULL;
    const int ids[] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[] = {&a, &b, &a};
    return build(pd, 3, ids, mds);
}

/* Sums per row (dst rows × 1) or per column (dst 1 × cols). */
tpp_dnnl_op *tpp_dnnl_reduce_sum(int bf16, long rows, long cols, int per_row) {
    if (init()) return NULL;
    dnnl_memory_desc_t src, dst;
    md2(&src, bf16, rows, cols, cols, 1);
    if (per_row) md2(&dst, bf16, rows, 1, 1, 1); else md2(&dst, bf16, 1, cols, cols, 1);
    dnnl_reduction_desc_t desc;
    if (dnnl_reduction_desc_init(&desc, dnnl_reduction_sum, &src, &dst, 0.f, 0.f) != dnnl_success) return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success) return NULL;
    const int ids[] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[] = {&src, &dst};
    return build(pd, 2, ids, mds);
}

/* A rows × cols row-major matrix to its transpose (a reorder to column-major). */
tpp_dnnl_op *tpp_dnnl_transpose(int bf16, long rows, long cols) {
    if (init()) return NULL;
    dnnl_memory_desc_t src, dst;
    md2(&src, bf16, rows, cols, cols, 1);
    md2(&dst, bf16, rows, cols, 1, rows);
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, &src, engine, &dst, engine, NULL) != dnnl_success) return NULL;
    const int ids[] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    const dnnl_memory_desc_t *mds[] = {&src, &dst};
    return build(pd, 2, ids, mds);
}

/* A dense vector of `n` f32 (statistics, scale and shift). */
static void md1(dnnl_memory_desc_t *md, long n) {
    dnnl_dims_t dims = {n};
    dnnl_memory_desc_init_by_tag(md, 1, dims, dnnl_f32, dnnl_a);
}

/* Layer normalization of each row of a rows × cols matrix with f32 scale (gamma) and shift
 * (beta) per column; forward training, so that it writes each row's mean and variance (f32),
 * as tpp's layer_norm writes mean and rstd. Memories: src, dst, mean, variance, scale, shift. */
tpp_dnnl_op *tpp_dnnl_layer_norm(int bf16, long rows, long cols, float eps) {
    if (init()) return NULL;
    dnnl_memory_desc_t data, stat, ss;
    md2(&data, bf16, rows, cols, cols, 1);
    md1(&stat, rows);
    md1(&ss, cols);
    dnnl_layer_normalization_desc_t desc;
    if (dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, &stat, eps,
                                                   dnnl_use_scale | dnnl_use_shift) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success) return NULL;
    const int ids[] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_SCALE, DNNL_ARG_SHIFT};
    const dnnl_memory_desc_t *mds[] = {&data, &data, &stat, &stat, &ss, &ss};
    return build(pd, 6, ids, mds);
}

/* Softmax of each row of a rows × cols matrix (the accurate one: max subtracted). oneDNN 2.6
 * has the v2 descriptor, which takes distinct src and dst descriptors. Memories: src, dst. */
tpp_dnnl_op *tpp_dnnl_softmax(int bf16, long rows, long cols) {
    if (init()) return NULL;
    dnnl_memory_desc_t md;
    md2(&md, bf16, rows, cols, cols, 1);
    dnnl_softmax_v2_desc_t desc;
    if (dnnl_softmax_v2_forward_desc_init(&desc, dnnl_forward_inference, dnnl_softmax_accurate, &md, &md, 1) !=
        dnnl_success)
        return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success) return NULL;
    const int ids[] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[] = {&md, &md};
    return build(pd, 2, ids, mds);
}

/* gelu_tanh(x + bias): a binary add of an f32 row (one value per column) with an eltwise
 * post-op, oneDNN's way to fuse a bias and an activation. Memories: x, bias, dst. */
tpp_dnnl_op *tpp_dnnl_bias_gelu(int bf16, long rows, long cols) {
    if (init()) return NULL;
    dnnl_memory_desc_t x, bias;
    md2(&x, bf16, rows, cols, cols, 1);
    md2(&bias, 0, 1, cols, cols, 1);
    dnnl_binary_desc_t desc;
    if (dnnl_binary_desc_init(&desc, dnnl_binary_add, &x, &bias, &x) != dnnl_success) return NULL;
    dnnl_post_ops_t po;
    dnnl_primitive_attr_t attr;
    if (dnnl_post_ops_create(&po) != dnnl_success) return NULL;
    int ok = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_tanh, 0.f, 0.f) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    dnnl_primitive_desc_t pd;
    if (ok) {
        ok = dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success;
        dnnl_primitive_attr_destroy(attr);
    }
    dnnl_post_ops_destroy(po);
    if (!ok) return NULL;
    const int ids[] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[] = {&x, &bias, &x};
    return build(pd, 3, ids, mds);
}

/* swish(a)·b (SiLU gate): an eltwise swish (alpha 1) with a binary multiply post-op reading b.
 * Memories: a, b, dst. */
tpp_dnnl_op *tpp_dnnl_silu_gate(int bf16, long rows, long cols) {
    if (init()) return NULL;
    dnnl_memory_desc_t md;
    md2(&md, bf16, rows, cols, cols, 1);
    dnnl_eltwise_desc_t desc;
    if (dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, dnnl_eltwise_swish, &md, 1.f, 0.f) !=
        dnnl_success)
        return NULL;
    dnnl_post_ops_t po;
    dnnl_primitive_attr_t attr;
    if (dnnl_post_ops_create(&po) != dnnl_success) return NULL;
    int ok = dnnl_post_ops_append_binary(po, dnnl_binary_mul, &md) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    dnnl_primitive_desc_t pd;
    if (ok) {
        ok = dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success;
        dnnl_primitive_attr_destroy(attr);
    }
    dnnl_post_ops_destroy(po);
    if (!ok) return NULL;
    const int ids[] = {DNNL_ARG_SRC, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[] = {&md, &md, &md};
    return build(pd, 3, ids, mds);
}

/* oneDNN's name for the implementation it picked ("jit:avx512_core", "ref:any", ...); owned by
 * the primitive. */
const char *tpp_dnnl_impl(tpp_dnnl_op *op) {
    const_dnnl_primitive_desc_t pd;
    const char *name = NULL;
    if (dnnl_primitive_get_primitive_desc(op->prim, &pd) != dnnl_success ||
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success)
        return NULL;
    return name;
}

/* Runs `op` with its memories bound to p[0..n) (in the order of the constructor). */
int tpp_dnnl_run_n(tpp_dnnl_op *op, void *const *p) {
    dnnl_exec_arg_t args[TPP_DNNL_MAX_ARGS];
    for (int i = 0; i < op->n; i++) {
        if (dnnl_memory_set_data_handle(op->mem[i], p[i]) != dnnl_success) return -1;
        args[i].arg = op->ids[i];
        args[i].memory = op->mem[i];
    }
    if (dnnl_primitive_execute(op->prim, stream, op->n, args) != dnnl_success) return -1;
    return dnnl_stream_wait(stream) != dnnl_success;
}

/* Runs a primitive of at most three memories. */
int tpp_dnnl_run(tpp_dnnl_op *op, void *p0, void *p1, void *p2) {
    void *p[TPP_DNNL_MAX_ARGS] = {p0, p1, p2};
    return op->n <= 3 ? tpp_dnnl_run_n(op, p) : -1;
}

/* oneDNN's matmul for the large-GEMM bench: row-major C(m×n) = A(m×k)·B(k×n), f32 or bf16
 * inputs with f32 C. B is the "weights": reordered once into the layout the primitive prefers
 * (prepacked, as frameworks keep their weights). */
typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} tpp_dnnl_mm;

tpp_dnnl_mm *tpp_dnnl_matmul(int bf16, long m, long n, long k, const void *b_data) {
    if (init()) return NULL;
    dnnl_memory_desc_t a_md, b_md, b_any, c_md;
    dnnl_dims_t ad = {m, k}, bd = {k, n}, cd = {m, n};
    dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dtype(bf16), dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dtype(bf16), dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b_any, 2, bd, dtype(bf16), dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &a_md, &b_any, NULL, &c_md) != dnnl_success) return NULL;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success) return NULL;
    tpp_dnnl_mm *mm = calloc(1, sizeof *mm);
    const dnnl_memory_desc_t *packed = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t user_b;
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    int ok = mm && dnnl_primitive_create(&mm->prim, pd) == dnnl_success &&
             dnnl_memory_create(&mm->a, &a_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_memory_create(&mm->c, &c_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_memory_create(&mm->b, packed, engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
             dnnl_memory_create(&user_b, &b_md, engine, (void *)b_data) == dnnl_success &&
             dnnl_reorder_primitive_desc_create(&rpd, &b_md, engine, packed, engine, NULL) ==
                 dnnl_success &&
             dnnl_primitive_create(&reorder, rpd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user_b}, {DNNL_ARG_TO, mm->b}};
        ok = dnnl_primitive_execute(reorder, stream, 2, args) == dnnl_success &&
             dnnl_stream_wait(stream) == dnnl_success;
        dnnl_primitive_destroy(reorder);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(user_b);
    }
    dnnl_primitive_desc_destroy(pd);
    if (!ok) {
        free(mm);
        return NULL;
    }
    return mm;
}

/* Runs the matmul on `threads` OpenMP threads; 0 on success. */
int tpp_dnnl_matmul_run(tpp_dnnl_mm *mm, const void *a, float *c, int threads) {
    if (omp_set_num_threads) omp_set_num_threads(threads);
    dnnl_memory_set_data_handle(mm->a, (void *)a);
    dnnl_memory_set_data_handle(mm->c, c);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->b}, {DNNL_ARG_DST, mm->c}};
    int rc = dnnl_primitive_execute(mm->prim, stream, 3, args) != dnnl_success ||
             dnnl_stream_wait(stream) != dnnl_success;
    if (omp_set_num_threads) omp_set_num_threads(1);
    return rc;
}
