//! The CUDA kernels against cuBLAS / cuBLASLt in the same process (feature `cuda`):
//! bf16 GEMM 1024³–8192³, BRGEMM (vs one cuBLAS GEMM of the same flops), GEMM + bias + gelu
//! fused (vs cuBLASLt's GELU_BIAS epilogue), and an eltwise op and equations (layer norm
//! forward and backward, softmax) against the device-to-device copy bandwidth measured in the
//! same run. Prints the driver version first; without a
//! driver or a GPU it says so and exits 0.
//!
//! `cargo bench --features cuda --bench cuda` (build here with `--no-run`, run where a GPU is).

use cudarc::cublas::{result as blas, sys as blas_sys, CudaBlas};
use cudarc::cublaslt::{Activation as LtActivation, CudaBlasLT, Matmul, MatmulConfig};
use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
use std::ffi::c_void;
use tpp::cuda::{self, Device};
use tpp::exec::{GemmArgs, UnaryArgs};
use tpp::{Activation, BatchReduce, BiasBroadcast, DType, GemmDesc, UnaryDesc, UnaryOp};

/// Milliseconds per call of `f`, timed with events over `iters` calls after a warm-up.
fn time(dev: &Device, iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    dev.synchronize().unwrap();
    let s = dev.stream();
    let start = s
        .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .unwrap();
    for _ in 0..iters {
        f();
    }
    let end = s
        .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .unwrap();
    end.synchronize().unwrap();
    start.elapsed_ms(&end).unwrap() as f64 / iters as f64
}

fn addr<T>(dev: &Device, s: &CudaSlice<T>) -> *mut c_void {
    s.device_ptr(dev.stream()).0 as usize as *mut c_void
}

fn bf16_slice(dev: &Device, len: usize, seed: u32) -> CudaSlice<half::bf16> {
    let host: Vec<half::bf16> = (0..len)
        .map(|i| {
            half::bf16::from_f32(
                ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5,
            )
        })
        .collect();
    dev.stream().clone_htod(&host).unwrap()
}

/// cuBLAS bf16 × bf16 → f32 (compute f32) of row-major `C[m×n] = A[m×k]·B[k×n]`, as the
/// column-major `Cᵀ = Bᵀ·Aᵀ`.
fn cublas_bf16(
    blas_h: &CudaBlas,
    dev: &Device,
    (m, n, k): (usize, usize, usize),
    a: &CudaSlice<half::bf16>,
    b: &CudaSlice<half::bf16>,
    c: &mut CudaSlice<f32>,
) {
    let (alpha, beta) = (1f32, 0f32);
    let cp = c.device_ptr_mut(dev.stream()).0 as usize as *mut c_void;
    unsafe {
        blas::gemm_ex(
            *blas_h.handle(),
            blas_sys::cublasOperation_t::CUBLAS_OP_N,
            blas_sys::cublasOperation_t::CUBLAS_OP_N,
            n as i32,
            m as i32,
            k as i32,
            &alpha as *const f32 as *const c_void,
            addr(dev, b),
            blas_sys::cudaDataType::CUDA_R_16BF,
            n as i32,
            addr(dev, a),
            blas_sys::cudaDataType::CUDA_R_16BF,
            k as i32,
            &beta as *const f32 as *const c_void,
            cp,
            blas_sys::cudaDataType::CUDA_R_32F,
            n as i32,
            blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
        .unwrap();
    }
}

fn gemm_cases(dev: &Device, blas_h: &CudaBlas) {
    println!("\n## bf16 GEMM (bf16 in, f32 out, f32 accumulate), row-major, beta 0");
    println!(
        "{:>6} {:>12} {:>12} {:>8}",
        "n", "tpp TFLOP/s", "cuBLAS", "ratio"
    );
    for n in [1024usize, 2048, 4096, 8192] {
        let d = GemmDesc::new(n, n, n, DType::BF16).beta(0.0);
        let k = dev.gemm(&d, Default::default()).unwrap();
        let (a, b) = (bf16_slice(dev, n * n, 1), bf16_slice(dev, n * n, 2));
        let mut c = dev.stream().alloc_zeros::<f32>(n * n).unwrap();
        let args = GemmArgs {
            a: addr(dev, &a),
            b: addr(dev, &b),
            c: addr(dev, &c),
            ..GemmArgs::default()
        };
        let iters = if n >= 4096 { 10 } else { 50 };
        let flops = 2.0 * (n as f64).powi(3);
        let t_tpp = time(dev, iters, || unsafe { k.call_raw(&args).unwrap() });
        let t_blas = time(dev, iters, || {
            cublas_bf16(blas_h, dev, (n, n, n), &a, &b, &mut c)
        });
        let (x, y) = (flops / t_tpp / 1e9, flops / t_blas / 1e9);
        println!("{n:>6} {x:>12.1} {y:>12.1} {:>8.2}", x / y);
    }
}

fn brgemm_case(dev: &Device, blas_h: &CudaBlas) {
    let (m, n, k, batch) = (1024usize, 1024, 128, 32);
    println!(
        "\n## bf16 BRGEMM {m}×{n}×{k}, batch {batch} (stride) vs one cuBLAS GEMM with k = {}",
        k * batch
    );
    let d = GemmDesc::new(m, n, k, DType::BF16)
        .beta(0.0)
        .batch(BatchReduce::Stride { a: m * k, b: k * n });
    let kern = dev.gemm(&d, Default::default()).unwrap();
    let (a, b) = (
        bf16_slice(dev, m * k * batch, 3),
        bf16_slice(dev, k * n * batch, 4),
    );
    let mut c = dev.stream().alloc_zeros::<f32>(m * n).unwrap();
    let args = GemmArgs {
        a: addr(dev, &a),
        b: addr(dev, &b),
        c: addr(dev, &c),
        batch: batch as u64,
        ..GemmArgs::default()
    };
    let flops = 2.0 * (m * n * k * batch) as f64;
    let t_tpp = time(dev, 20, || unsafe { kern.call_raw(&args).unwrap() });
    // The same flops as one product: A is m × (k·batch), B is (k·batch) × n.
    let t_blas = time(dev, 20, || {
        cublas_bf16(blas_h, dev, (m, n, k * batch), &a, &b, &mut c)
    });
    let (x, y) = (flops / t_tpp / 1e9, flops / t_blas / 1e9);
    println!(
        "tpp {x:.1} TFLOP/s, cuBLAS {y:.1} TFLOP/s, ratio {:.2}",
        x / y
    );
}

fn fused_case(dev: &Device) {
    let n = 4096usize;
    println!(
        "\n## bf16 GEMM {n}³ + bias + gelu (tanh), bf16 out: tpp epilogue vs cuBLASLt GELU_BIAS"
    );
    let d = GemmDesc::new(n, n, n, DType::BF16)
        .beta(0.0)
        .output(DType::BF16)
        .bias(BiasBroadcast::Row, DType::BF16)
        .activation(Activation::Gelu);
    let kern = dev.gemm(&d, Default::default()).unwrap();
    let (a, b, bias) = (
        bf16_slice(dev, n * n, 5),
        bf16_slice(dev, n * n, 6),
        bf16_slice(dev, n, 7),
    );
    let mut c = dev.stream().alloc_zeros::<half::bf16>(n * n).unwrap();
    let args = GemmArgs {
        a: addr(dev, &a),
        b: addr(dev, &b),
        c: addr(dev, &c),
        bias: addr(dev, &bias),
        ..GemmArgs::default()
    };
    let lt = CudaBlasLT::new(dev.stream().clone()).unwrap();
    let cfg = MatmulConfig {
        transa: false,
        transb: false,
        transc: false,
        m: n as u64,
        n: n as u64,
        k: n as u64,
        alpha: 1.0,
        lda: n as i64,
        ldb: n as i64,
        beta: 0.0,
        ldc: n as i64,
        stride_a: None,
        stride_b: None,
        stride_c: None,
        stride_bias: None,
        batch_size: None,
    };
    let flops = 2.0 * (n as f64).powi(3);
    let t_tpp = time(dev, 10, || unsafe { kern.call_raw(&args).unwrap() });
    // Column-major Cᵀ = Bᵀ·Aᵀ: pass B first; the bias runs along Cᵀ's rows = C's columns.
    let t_lt = time(dev, 10, || unsafe {
        lt.matmul(cfg, &b, &a, &mut c, Some(&bias), Some(&LtActivation::Gelu))
            .unwrap()
    });
    let (x, y) = (flops / t_tpp / 1e9, flops / t_lt / 1e9);
    println!(
        "tpp {x:.1} TFLOP/s, cuBLASLt {y:.1} TFLOP/s, ratio {:.2}",
        x / y
    );
}

fn eltwise_case(dev: &Device) {
    let (rows, cols) = (1usize << 14, 1usize << 14); // 2^28 elements
    println!("\n## eltwise f32 relu on 2^28 elements vs device copy bandwidth (same run)");
    let x = dev.stream().alloc_zeros::<f32>(rows * cols).unwrap();
    let mut y = dev.stream().alloc_zeros::<f32>(rows * cols).unwrap();
    let bytes = 2.0 * 4.0 * (rows * cols) as f64;
    let t_copy = time(dev, 10, || dev.stream().memcpy_dtod(&x, &mut y).unwrap());
    let relu = dev
        .unary(&UnaryDesc::new(
            UnaryOp::Relu { mask: false },
            rows,
            cols,
            DType::F32,
        ))
        .unwrap();
    let args = UnaryArgs {
        input: addr(dev, &x),
        output: addr(dev, &y),
        ..UnaryArgs::default()
    };
    let t_relu = time(dev, 10, || unsafe { relu.call_raw(&args).unwrap() });
    let (gc, gr) = (bytes / t_copy / 1e6, bytes / t_relu / 1e6);
    println!(
        "copy {gc:.0} GB/s, relu {gr:.0} GB/s, {:.0}% of copy",
        100.0 * gr / gc
    );
}

/// One equation case: name, equation, input and output addresses, bytes per element moved.
type EquationCase = (&'static str, tpp::Equation, Vec<u64>, Vec<u64>, f64);

/// Equations against the copy bandwidth of the same run: the bytes an equation must move at
/// least (its full-matrix inputs read once, its outputs written once) over its time.
fn equation_cases(dev: &Device) {
    let (rows, cols) = (16_384usize, 4096usize);
    println!("\n## equations, bf16 {rows}x{cols}, vs device copy bandwidth (same run)");
    let n = rows * cols;
    let x = bf16_slice(dev, n, 1);
    let dy = bf16_slice(dev, n, 2);
    let mut y = dev.stream().alloc_zeros::<half::bf16>(n).unwrap();
    let t_copy = time(dev, 10, || dev.stream().memcpy_dtod(&x, &mut y).unwrap());
    let copy_gbs = 4.0 * n as f64 / t_copy / 1e6;
    println!("copy {copy_gbs:.0} GB/s");
    let ones = dev.stream().clone_htod(&vec![1f32; cols]).unwrap();
    let zeros = dev.stream().alloc_zeros::<f32>(cols).unwrap();
    let stats = dev.stream().alloc_zeros::<f32>(2 * rows).unwrap();
    let grads = dev.stream().alloc_zeros::<f32>(2 * cols).unwrap();
    let a = |p: *mut c_void| p as u64;
    let (mean, rstd) = (a(addr(dev, &stats)), a(addr(dev, &stats)) + 4 * rows as u64);
    let (dgamma, dbeta) = (a(addr(dev, &grads)), a(addr(dev, &grads)) + 4 * cols as u64);
    let (xa, dya, ya) = (a(addr(dev, &x)), a(addr(dev, &dy)), a(addr(dev, &y)));
    let (one, zero) = (a(addr(dev, &ones)), a(addr(dev, &zeros)));
    let cases: Vec<EquationCase> = vec![
        (
            "layer norm",
            tpp::equations::layer_norm(rows, cols, DType::BF16, 1e-5),
            vec![xa, one, zero],
            vec![ya, mean, rstd],
            4.0,
        ),
        (
            "layer norm backward",
            tpp::equations::layer_norm_backward(rows, cols, DType::BF16),
            vec![dya, xa, mean, rstd, one],
            vec![ya, dgamma, dbeta],
            6.0,
        ),
        (
            "softmax",
            tpp::equations::softmax(rows, cols, DType::BF16),
            vec![xa],
            vec![ya],
            4.0,
        ),
    ];
    for (what, eq, ins, outs, bytes_per_element) in cases {
        let k = dev.equation(&eq).unwrap();
        // SAFETY: every buffer above covers the equation's extents.
        let t = time(dev, 10, || unsafe {
            k.call_raw(&ins, 0, &outs, 0).unwrap()
        });
        let gbs = bytes_per_element * n as f64 / t / 1e6;
        println!(
            "{what:20} {t:8.3} ms, {gbs:5.0} GB/s of its minimum traffic, {:3.0}% of copy ({} launches)",
            100.0 * gbs / copy_gbs,
            k.launches()
        );
    }
}

fn main() {
    match cuda::driver_version() {
        Ok((major, minor)) => println!("CUDA driver: CUDA {major}.{minor}"),
        Err(e) => {
            println!("SKIPPED: {e}: the CUDA bench needs a driver and a GPU");
            return;
        }
    }
    let dev = match Device::new(0) {
        Ok(d) => d,
        Err(e) => {
            println!("SKIPPED: {e}");
            return;
        }
    };
    println!(
        "device 0: {} (sm_{}{}), kernels for {}",
        dev.name(),
        dev.capability().0,
        dev.capability().1,
        dev.target().sm()
    );
    eltwise_case(&dev);
    equation_cases(&dev);
    // cudarc panics on a missing library: look before the first cuBLAS call.
    // SAFETY: only tries to dlopen the libraries.
    if !unsafe {
        cudarc::cublas::sys::is_culib_present() && cudarc::cublaslt::sys::is_culib_present()
    } {
        println!("SKIPPED the GEMM cases: no cuBLAS / cuBLASLt library (libcublas.so.13, libcublasLt.so.13) to compare with");
        return;
    }
    let blas_h = CudaBlas::new(dev.stream().clone()).expect("cuBLAS handle");
    gemm_cases(&dev, &blas_h);
    brgemm_case(&dev, &blas_h);
    fused_case(&dev);
}
