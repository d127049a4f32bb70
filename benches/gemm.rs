//! GEMM and BRGEMM against their peers, in one process: LIBXSMM (Debian's libxsmm-dev),
//! OpenBLAS (libopenblas-dev, one thread) and the `gemm` crate with its AVX-512 kernels, next to
//! the register-only peak of the multiply instruction measured in the same run.
//!
//! `cargo bench --bench gemm` (a filter such as `-- 'small|brgemm'` runs fewer cases). The
//! summary at the end comes from interleaved repetitions: GFLOP/s (median), ratio to the best
//! peer, percent of the same-run peak. Kernels are called through their raw pointer ABIs
//! (`call_raw` for tpp), as LIBXSMM is, so per-call checks do not blur the small sizes.

use cases::{buffers, runners, Case, Kind};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peers::Shape;
use std::time::Instant;
use tpp::*;

#[path = "peers/gemm_cases.rs"]
mod cases;
use tpp_peers::gemm as peers;

fn cases() -> Vec<Case> {
    let mut v = vec![];
    let shape = |m, n, k, batch| Shape { m, n, k, batch };
    for n in [4, 8, 16, 23, 32, 48, 64, 80] {
        v.push(Case {
            label: format!("small/f32/{n}"),
            kind: Kind::F32,
            s: shape(n, n, n, 0),
        });
    }
    // Batch-reduce: the headline case, then contractions of the TPP paper's workloads
    // (blocked ResNet-50 convolutions: output-pixel rows × 64 output channels, 64 input
    // channels per block, one batch member per filter tap or input block; BERT-large FC
    // layers in 32×32 blocks).
    let brgemm = [
        ("brgemm/64x64x64x16", shape(64, 64, 64, 16)),
        ("resnet50/3x3conv/w56", shape(56, 64, 64, 9)),
        ("resnet50/1x1conv/w28", shape(28, 64, 64, 8)),
        ("bert/fc1024/32x32", shape(32, 32, 32, 32)),
    ];
    for kind in [Kind::F32, Kind::Bf16, Kind::Int8] {
        for (name, s) in brgemm {
            let t = match kind {
                Kind::F32 => "f32",
                Kind::Bf16 => "bf16",
                Kind::Int8 => "u8i8",
            };
            v.push(Case {
                label: format!("{name}/{t}"),
                kind,
                s,
            });
        }
    }
    // Where AMX tiles start to beat the AVX-512 dot products (`tpp-amx` forces the tiles,
    // `tpp-avx512` the vector kernel; `tpp` is what dispatch picks, see `backend/amx.rs`).
    for (m, n, k, batch) in [
        (8, 16, 32, 0),
        (16, 16, 16, 0),
        (16, 16, 32, 0),
        (16, 64, 64, 0),
        (64, 64, 64, 0),
        (16, 16, 32, 8),
        (16, 16, 64, 8),
        (32, 32, 64, 4),
    ] {
        for (kind, t) in [(Kind::Bf16, "bf16"), (Kind::Int8, "u8i8")] {
            v.push(Case {
                label: format!("crossover/{t}/{m}x{n}x{k}x{batch}"),
                kind,
                s: shape(m, n, k, batch),
            });
        }
    }
    v
}

fn bench(crit: &mut Criterion) {
    assert!(
        tpp::dispatch::caps::x86().avx512,
        "the GEMM bench compares AVX-512 kernels: this CPU has no AVX-512"
    );
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .flat_map(|a| a.split('|').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let full = std::env::args().any(|a| a == "--bench");
    let mut rows = vec![];
    let mut peaks = std::collections::HashMap::new();
    for c in cases() {
        if !filter.is_empty() && !filter.iter().any(|f| c.label.contains(f.as_str())) {
            continue;
        }
        if !c.peak().available() {
            println!("skip {}: this CPU lacks the instruction", c.label);
            continue;
        }
        let mut bufs = buffers(c.s);
        let rs = runners(&c);
        let mut g = crit.benchmark_group(&c.label);
        g.throughput(Throughput::Elements(c.flops() as u64));
        for (who, f) in &rs {
            g.bench_function(who.as_str(), |b| b.iter(|| f(&mut bufs)));
        }
        g.finish();
        if full {
            let peak = *peaks.entry(c.peak()).or_insert_with(|| c.peak().measure());
            rows.push(cases::measure(&c, peak));
        }
    }
    if !full {
        return;
    }
    println!();
    cases::print_summary(&rows);
    for (p, v) in &peaks {
        println!(
            "peak {p:?}: {:.1} G/s (register-only loop, this run)",
            v / 1e9
        );
    }
    // The geometric mean over the small sizes of tpp against LIBXSMM.
    let logs: Vec<f64> = rows
        .iter()
        .filter(|r| r.label.starts_with("small/"))
        .filter_map(|r| {
            let x = r.who.iter().position(|w| w == "libxsmm")?;
            Some((r.gflops[0] / r.gflops[x]).ln())
        })
        .collect();
    if !logs.is_empty() {
        let g = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
        println!("small f32 GEMM, geometric mean of tpp / LIBXSMM: {g:.2}x");
    }
    dispatch_costs();
}

/// Generating a new kernel and a cached dispatch (the figures the issue sets goals for).
fn dispatch_costs() {
    let n = 200;
    let t = Instant::now();
    for i in 0..n {
        // A fresh leading dimension makes a fresh descriptor.
        let d = GemmDesc::new(32, 32, 32, DType::F32).ld(32, 32, 1000 + i);
        std::hint::black_box(d.dispatch().unwrap());
    }
    let gen = t.elapsed().as_secs_f64() / n as f64;
    let d = GemmDesc::new(32, 32, 32, DType::F32).ld(32, 32, 1000);
    let reps = 1_000_000;
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(std::hint::black_box(&d).dispatch().unwrap());
    }
    let hit = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "generating a 32×32×32 f32 kernel: {:.1} µs; a cached dispatch: {:.1} ns",
        gen * 1e6,
        hit * 1e9
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(200))
        .measurement_time(std::time::Duration::from_millis(500))
        .sample_size(10);
    targets = bench
}
criterion_main!(benches);
