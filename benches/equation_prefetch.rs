//! What the next-row-block prefetch of equation passes brings: each multi-pass ready-made
//! equation at 4096×1024 (16 MiB a matrix, far past L2) with and without it, interleaved in
//! one process (the `avx512` kernel has it; the automatic one is dispatched with
//! `TPP_EQ_PREFETCH=0`), medians of 31 calls each, one thread.
//!
//! `cargo bench --bench equation_prefetch`

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
        Aligned(unsafe { alloc_zeroed(layout) }.cast(), layout)
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.0.cast(), self.1) }
    }
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
        println!("no AVX-512 on {}: the prefetch is an avx512 feature", cpu());
        return;
    }
    let (rows, cols) = (4096, 1024);
    let cases = [
        (
            "layer_norm",
            equations::layer_norm(rows, cols, DType::F32, 1e-5),
        ),
        (
            "layer_norm_bwd",
            equations::layer_norm_backward(rows, cols, DType::F32),
        ),
        (
            "rms_norm_bwd",
            equations::rms_norm_backward(rows, cols, DType::F32),
        ),
        ("softmax", equations::softmax(rows, cols, DType::F32)),
        (
            "softmax_bwd",
            equations::softmax_backward(rows, cols, DType::F32),
        ),
    ];
    println!("CPU: {}; {rows}x{cols} f32, one thread", cpu());
    println!(
        "{:16} {:>12} {:>12} {:>8}",
        "case", "without ms", "with ms", "with×"
    );
    for (name, eq) in &cases {
        std::env::set_var("TPP_EQ_PREFETCH", "0");
        let without = eq.dispatch().expect("valid equation");
        std::env::remove_var("TPP_EQ_PREFETCH");
        let with = eq
            .dispatch_on("avx512")
            .expect("avx512 takes the ready-made equations");
        let ins: Vec<Aligned> = eq
            .inputs()
            .iter()
            .map(|_| Aligned::new(rows * cols))
            .collect();
        for b in &ins {
            for i in 0..rows * cols {
                // SAFETY: in bounds of the buffer.
                unsafe { *b.0.add(i) = ((i * 7919) % 1000) as f32 / 1000.0 + 0.5 };
            }
        }
        let outs: Vec<Aligned> = eq
            .outputs()
            .iter()
            .map(|_| Aligned::new(rows * cols))
            .collect();
        let in_ptrs: Vec<*const c_void> = ins.iter().map(|b| b.0 as *const c_void).collect();
        let out_ptrs: Vec<*mut c_void> = outs.iter().map(|b| b.0 as *mut c_void).collect();
        let args = EquationArgs {
            inputs: in_ptrs.as_ptr(),
            outputs: out_ptrs.as_ptr(),
            mask_in: std::ptr::null(),
            seed: 1,
        };
        let (mut t0, mut t1) = (Vec::new(), Vec::new());
        for _ in 0..31 {
            for (k, t) in [(&without, &mut t0), (&with, &mut t1)] {
                let s = Instant::now();
                // SAFETY: every operand is a full rows×cols f32 matrix (vectors fit inside).
                unsafe { k.call_raw(&args) };
                t.push(s.elapsed().as_secs_f64());
            }
        }
        let (a, b) = (median(t0), median(t1));
        println!(
            "{name:16} {:>12.3} {:>12.3} {:>7.2}x   ({} of {} passes prefetch)",
            a * 1e3,
            b * 1e3,
            a / b,
            with.prefetching_passes(),
            with.passes()
        );
    }
}
