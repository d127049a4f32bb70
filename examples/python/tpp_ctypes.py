#!/usr/bin/env python3
"""tpp from Python through its C API (ctypes + numpy): dispatch a GEMM, a relu and a row sum,
run the large GEMM, check each against numpy, and show an error message.

    cargo build --release && python3 examples/python/tpp_ctypes.py

TPP_LIB names the library (default: target/release/libtpp.so). The structs below mirror
include/tpp.h field for field.
"""
import ctypes as C
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.environ.get("TPP_LIB", os.path.join(HERE, "..", "..", "target", "release", "libtpp.so"))
tpp = C.CDLL(LIB)

TPP_OK, TPP_ERR_INVALID_ARGUMENT, TPP_ERR_INVALID_DESCRIPTOR = 0, 1, 2
TPP_DTYPE_F32 = 1
TPP_UNARY_RELU = 18
TPP_REDUCE_SUM, TPP_AXIS_PER_ROW = 0, 0


class GemmDesc(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("m", "n", "k", "lda", "ldb", "ldc")] + [
        (n, C.c_int32)
        for n in ("a_dtype", "b_dtype", "c_dtype", "compute_dtype", "trans_a", "trans_b",
                  "b_layout", "c_layout")
    ] + [("alpha", C.c_double), ("beta", C.c_double), ("batch", C.c_int32), ("bias", C.c_int32),
         ("stride_a", C.c_int64), ("stride_b", C.c_int64), ("bias_dtype", C.c_int32),
         ("activation", C.c_int32), ("mask_ld", C.c_int64), ("activation_alpha", C.c_float)]


class GemmArgs(C.Structure):
    _fields_ = [("a", C.c_void_p), ("b", C.c_void_p), ("c", C.c_void_p),
                ("a_offsets", C.c_void_p), ("b_offsets", C.c_void_p), ("batch", C.c_uint64),
                ("bias", C.c_void_p), ("relu_mask", C.c_void_p)]


class UnaryDesc(C.Structure):
    _fields_ = [("op", C.c_int32), ("mask", C.c_int32), ("param", C.c_float),
                ("layout", C.c_int32), ("rows", C.c_int64), ("cols", C.c_int64),
                ("ld_in", C.c_int64), ("ld_out", C.c_int64), ("in_dtype", C.c_int32),
                ("compute_dtype", C.c_int32), ("out_dtype", C.c_int32), ("broadcast", C.c_int32),
                ("mask_ld", C.c_int64)]


class UnaryArgs(C.Structure):
    _fields_ = [("input", C.c_void_p), ("aux", C.c_void_p), ("mask_in", C.c_void_p),
                ("output", C.c_void_p), ("mask_out", C.c_void_p), ("indices", C.c_void_p),
                ("seed", C.c_uint64)]


class ReduceDesc(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("op", "axis", "in_dtype", "compute_dtype", "out_dtype",
                                         "accumulate")] + [
        (n, C.c_int64) for n in ("rows", "cols", "ld_in")]


class ReduceArgs(C.Structure):
    _fields_ = [("input", C.c_void_p), ("output", C.c_void_p)]


class KernelInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("backend", C.c_char_p), ("flops", C.c_uint64),
                ("code_size", C.c_uint64), ("is_reference", C.c_int32), ("family", C.c_int32)]


class MatmulDesc(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("col_major", "trans_a", "trans_b", "dtype")] + [
        (n, C.c_int64) for n in ("m", "n", "k", "lda", "ldb", "ldc")] + [
        ("alpha", C.c_double), ("beta", C.c_double), ("bf16_compute", C.c_int32)]


tpp.tpp_last_error.restype = C.c_char_p
tpp.tpp_version.restype = C.c_char_p
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, "| last error:", tpp.tpp_last_error().decode())


def ptr(a):
    return a.ctypes.data_as(C.c_void_p)


def kernel_name(k):
    info = KernelInfo()
    check(tpp.tpp_kernel_get_info(k, C.byref(info)) == TPP_OK, "kernel info")
    return f"{info.name.decode()} on {info.backend.decode()}"


rng = np.random.default_rng(7)
print("tpp", tpp.tpp_version().decode())

# GEMM: C = A·B (beta 0: C starts as NaN and must not be read).
m, n, k = 33, 70, 29
a = rng.standard_normal((m, k), dtype=np.float32)
b = rng.standard_normal((k, n), dtype=np.float32)
c = np.full((m, n), np.nan, dtype=np.float32)
d = GemmDesc()
check(tpp.tpp_gemm_desc_init(C.byref(d), m, n, k, TPP_DTYPE_F32) == TPP_OK, "gemm init")
d.beta = 0.0
kern = C.c_void_p()
check(tpp.tpp_gemm_dispatch(C.byref(d), C.byref(kern)) == TPP_OK, "gemm dispatch")
args = GemmArgs(a=ptr(a), b=ptr(b), c=ptr(c), batch=1)
check(tpp.tpp_gemm_call(kern, C.byref(args)) == TPP_OK, "gemm call")
check(np.allclose(c, a @ b, rtol=1e-5, atol=1e-5), "gemm against numpy")
print("gemm:", kernel_name(kern))
tpp.tpp_kernel_release(kern)

# relu, and a per-row sum.
x = rng.standard_normal((19, 45), dtype=np.float32)
y = np.empty_like(x)
u = UnaryDesc()
check(tpp.tpp_unary_desc_init(C.byref(u), TPP_UNARY_RELU, 19, 45, TPP_DTYPE_F32) == TPP_OK, "relu init")
check(tpp.tpp_unary_dispatch(C.byref(u), C.byref(kern)) == TPP_OK, "relu dispatch")
check(tpp.tpp_unary_call(kern, C.byref(UnaryArgs(input=ptr(x), output=ptr(y)))) == TPP_OK, "relu call")
check(np.array_equal(y, np.maximum(x, 0)), "relu against numpy")
print("relu:", kernel_name(kern))
tpp.tpp_kernel_release(kern)
s = np.empty(19, dtype=np.float32)
r = ReduceDesc()
check(tpp.tpp_reduce_desc_init(C.byref(r), TPP_REDUCE_SUM, TPP_AXIS_PER_ROW, 19, 45, TPP_DTYPE_F32) == TPP_OK, "reduce init")
check(tpp.tpp_reduce_dispatch(C.byref(r), C.byref(kern)) == TPP_OK, "reduce dispatch")
check(tpp.tpp_reduce_call(kern, C.byref(ReduceArgs(input=ptr(x), output=ptr(s)))) == TPP_OK, "reduce call")
check(np.allclose(s, x.sum(axis=1), rtol=1e-5, atol=1e-5), "row sums against numpy")
tpp.tpp_kernel_release(kern)

# The large GEMM, column-major with a transposed A, alpha and beta (as numpy's Fortran order).
m, n, k = 130, 97, 150
at = np.asfortranarray(rng.standard_normal((k, m)))  # op(A) = atᵀ
bb = np.asfortranarray(rng.standard_normal((k, n)))
cc = np.asfortranarray(rng.standard_normal((m, n)))
want = 0.5 * at.T @ bb + 2.0 * cc
md = MatmulDesc(col_major=1, trans_a=1, trans_b=0, dtype=0, m=m, n=n, k=k, lda=k, ldb=k, ldc=m,
                alpha=0.5, beta=2.0)
check(tpp.tpp_matmul(C.byref(md), ptr(at), ptr(bb), ptr(cc)) == TPP_OK, "matmul f64")
check(np.allclose(cc, want, rtol=1e-12, atol=1e-12), "matmul against numpy")

# Errors are statuses with messages, never crashes.
check(tpp.tpp_gemm_desc_init(C.byref(d), -1, 4, 4, TPP_DTYPE_F32) == TPP_ERR_INVALID_ARGUMENT, "negative m")
print("negative m:", tpp.tpp_last_error().decode())
tpp.tpp_gemm_desc_init(C.byref(d), 4, 4, 4, TPP_DTYPE_F32)
d.ldb = 1
check(tpp.tpp_gemm_dispatch(C.byref(d), C.byref(kern)) == TPP_ERR_INVALID_DESCRIPTOR, "ldb < n")
print("ldb < n:", tpp.tpp_last_error().decode())

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
