//! The memory side of equation kernels at 4096×1024 (16 MiB a matrix, far past the caches),
//! interleaved in one process, medians of 31 calls each, one thread:
//! 1. the next-row-block prefetch of multi-pass equations, on and off (the automatic kernel
//!    is dispatched with `TPP_EQ_PREFETCH=0`, the `avx512` one with it);
//! 2. streaming stores: the kernel without streaming variants (`TPP_STREAM_BYTES` past the
//!    output) against the one with them (`TPP_STREAM_BYTES=0`: the default threshold, half
//!    the L3, is not passed by one 16 MiB matrix on a 32 MiB L3), on 64-byte aligned operands,
//!    and that one again on operands 16 bytes off a cache line (as `Vec`s from the Rust
//!    allocator are), where it falls back to ordinary stores.
//!
//! `cargo bench --bench equation_memory`

// The measurements are x86-only (the prefetch is an avx512 feature); the helpers stay shared.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::c_void;
use std::time::Instant;
use tpp::*;

/// A 64-byte aligned f32 buffer (rows stay aligned, so streaming stores apply to both).
struct Aligned(*mut f32, Layout);

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = Layout::from_size_align(len * 4, 64).unwrap();
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc_zeroed(layout) };
        assert!(!p.is_null(), "out of memory for {len} f32");
        Aligned(p.cast(), layout)
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.0.cast(), self.1) }
    }
}

/// Times the kernels on the same operands, interleaved; each kernel's offset is where its
/// operands (inputs and outputs) start, in bytes past a cache line, as `Vec`s from the Rust
/// allocator start 16 bytes past one. Medians in seconds.
fn interleaved(eq: &Equation, kernels: &[(EquationKernel, usize)]) -> Vec<f64> {
    let ins: Vec<Aligned> = (0..eq.inputs().len())
        .map(|n| Aligned::new(eq.input_len(n) + 16))
        .collect();
    for (n, b) in ins.iter().enumerate() {
        let bf16_input = eq.inputs()[n].dtype == DType::BF16;
        for i in 0..eq.input_len(n) {
            let v = ((i * 7919) % 1000) as f32 / 1000.0 + 0.5;
            // SAFETY: in bounds of the buffer (sized for f32 elements). bf16 inputs hold bf16
            // values: f32 bit patterns read as bf16 pairs would include subnormals, which
            // cost a microcode assist per use and made the bf16 rows time those.
            unsafe {
                if bf16_input {
                    *b.0.cast::<bf16>().add(i) = bf16::from_f32(v);
                } else {
                    *b.0.add(i) = v;
                }
            }
        }
    }
    // 16 extra elements: room for an offset of up to 64 bytes.
    let outs: Vec<Aligned> = (0..eq.outputs().len())
        .map(|n| Aligned::new(eq.output_len(n) + 16))
        .collect();
    let mut times = vec![Vec::new(); kernels.len()];
    for _ in 0..31 {
        for ((k, offset), t) in kernels.iter().zip(&mut times) {
            let out_ptrs: Vec<*mut c_void> = outs
                .iter()
                // SAFETY: the offset stays inside the 16 extra elements.
                .map(|b| unsafe { b.0.cast::<u8>().add(*offset) }.cast())
                .collect();
            let in_ptrs: Vec<*const c_void> = ins
                .iter()
                // SAFETY: the offset stays inside the 16 extra elements.
                .map(|b| unsafe { b.0.cast::<u8>().add(*offset) }.cast_const().cast())
                .collect();
            let args = EquationArgs {
                inputs: in_ptrs.as_ptr(),
                outputs: out_ptrs.as_ptr(),
                mask_in: std::ptr::null(),
                seed: 1,
            };
            let s = Instant::now();
            // SAFETY: every operand holds the extent the equation implies.
            unsafe { k.call_raw(&args) };
            t.push(s.elapsed().as_secs_f64());
        }
    }
    times.into_iter().map(median).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The CPU's model name.
fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!(
        "the next-block prefetch is an avx512 feature: nothing to compare on {}",
        cpu()
    );
}

#[cfg(target_arch = "x86_64")]
fn main() {
    if !dispatch::caps::x86().avx512 {
        println!("no AVX-512 on {}: these are avx512 features", cpu());
        return;
    }
    let (rows, cols) = (4096, 1024);
    let f32 = DType::F32;
    println!("CPU: {}; {rows}x{cols}, one thread\n", cpu());
    println!("1. next-row-block prefetch (outputs 64-byte aligned)");
    println!(
        "{:16} {:>12} {:>12} {:>8}",
        "case", "without ms", "with ms", "with×"
    );
    let multi = [
        ("layer_norm", equations::layer_norm(rows, cols, f32, 1e-5)),
        (
            "layer_norm_bwd",
            equations::layer_norm_backward(rows, cols, f32),
        ),
        (
            "rms_norm_bwd",
            equations::rms_norm_backward(rows, cols, f32),
        ),
        ("softmax", equations::softmax(rows, cols, f32)),
        ("softmax_bwd", equations::softmax_backward(rows, cols, f32)),
    ];
    for (name, eq) in &multi {
        std::env::set_var("TPP_EQ_PREFETCH", "0");
        let without = eq.dispatch().expect("valid equation");
        std::env::remove_var("TPP_EQ_PREFETCH");
        let with = eq
            .dispatch_on("avx512")
            .expect("avx512 takes the ready-made equations");
        let t = interleaved(eq, &[(without, 0), (with, 0)]);
        println!(
            "{name:16} {:>12.3} {:>12.3} {:>7.2}x   ({} of {} passes prefetch)",
            t[0] * 1e3,
            t[1] * 1e3,
            t[0] / t[1],
            with.prefetching_passes(),
            with.passes()
        );
    }
    println!("\n2. streaming stores (rows 64-byte aligned) against ordinary stores");
    println!(
        "{:22} {:>13} {:>13} {:>9} {:>16}",
        "case", "ordinary ms", "streaming ms", "stream×", "16 B off, ms"
    );
    for dt in [f32, DType::BF16] {
        let cases = [
            ("layer_norm", equations::layer_norm(rows, cols, dt, 1e-5)),
            ("rms_norm", equations::rms_norm(rows, cols, dt, 1e-6)),
            ("softmax", equations::softmax(rows, cols, dt)),
            (
                "bias_gelu",
                equations::bias_activation(rows, cols, dt, UnaryOp::Gelu),
            ),
            ("silu_gate", equations::silu_gate(rows, cols, dt)),
        ];
        for (name, eq) in &cases {
            std::env::set_var("TPP_STREAM_BYTES", usize::MAX.to_string());
            let ordinary = eq.dispatch().expect("valid equation");
            std::env::set_var("TPP_STREAM_BYTES", "0");
            let streaming = eq
                .dispatch_on("avx512")
                .expect("avx512 takes the ready-made equations");
            std::env::remove_var("TPP_STREAM_BYTES");
            let t = interleaved(eq, &[(ordinary, 0), (streaming, 0), (streaming, 16)]);
            println!(
                "{:22} {:>13.3} {:>13.3} {:>8.2}x {:>16.3}",
                format!("{name}/{dt:?}"),
                t[0] * 1e3,
                t[1] * 1e3,
                t[0] / t[1],
                t[2] * 1e3,
            );
        }
    }
}
