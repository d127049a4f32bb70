//! GEMM and BRGEMM against their peers, in one process: LIBXSMM (Debian's libxsmm-dev),
//! OpenBLAS (libopenblas-dev, one thread) and the `gemm` crate with its AVX-512 kernels, next to
//! the register-only peak of the multiply instruction measured in the same run.
//!
//! `cargo bench --bench gemm` (a filter such as `-- 'small|brgemm'` runs fewer cases). The
//! summary at the end comes from interleaved repetitions: GFLOP/s (median), ratio to the best
//! peer, percent of the same-run peak. Kernels are called through their raw pointer ABIs
//! (`call_raw` for tpp), as LIBXSMM is, so per-call checks do not blur the small sizes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Instant;
use tpp::exec::GemmArgs;
use tpp::*;

#[path = "peers/gemm.rs"]
mod peers;
use peers::{Peak, Shape};

/// The element type of a case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    F32,
    /// bf16 A and VNNI2 B, f32 C.
    Bf16,
    /// u8 A and VNNI4 i8 B, i32 C.
    Int8,
}

struct Case {
    label: String,
    kind: Kind,
    s: Shape,
}

impl Case {
    fn flops(&self) -> f64 {
        2.0 * (self.s.m * self.s.n * self.s.k * self.s.batch.max(1)) as f64
    }
    fn peak(&self) -> Peak {
        match self.kind {
            Kind::F32 => Peak::Fma32,
            Kind::Bf16 => Peak::DotBf16,
            Kind::Int8 => Peak::DotU8I8,
        }
    }
}

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
    v
}

/// Operands of a case: `batch.max(1)` packed A and B, one C (raw bits for bf16).
struct Buffers {
    a32: Vec<f32>,
    b32: Vec<f32>,
    a16: Vec<u16>,
    b16: Vec<u16>,
    c: Vec<f32>,
}

fn buffers(s: Shape) -> Buffers {
    let count = s.batch.max(1);
    let fill = |n: usize, seed: u32| -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = ((i as u32).wrapping_mul(2_654_435_761) ^ seed) >> 9;
                v as f32 / (1u32 << 23) as f32 - 0.5
            })
            .collect()
    };
    let a32 = fill(count * s.m * s.k, 1);
    let b32 = fill(count * s.k * s.n, 2);
    let bits = |v: &[f32]| v.iter().map(|x| (x.to_bits() >> 16) as u16).collect();
    Buffers {
        a16: bits(&a32),
        b16: bits(&b32),
        a32,
        b32,
        c: vec![0.0; s.m * s.n],
    }
}

type Run = Box<dyn Fn(&mut Buffers)>;

fn tpp_runner(c: &Case) -> Run {
    let s = c.s;
    let mut d = match c.kind {
        Kind::F32 => GemmDesc::new(s.m, s.n, s.k, DType::F32),
        Kind::Bf16 => GemmDesc::new(s.m, s.n, s.k, DType::BF16).vnni_b(),
        Kind::Int8 => GemmDesc::new(s.m, s.n, s.k, DType::U8)
            .inputs(DType::U8, DType::I8)
            .vnni_b(),
    };
    if s.batch > 0 {
        d = d.batch(BatchReduce::Stride {
            a: s.m * s.k,
            b: s.k * s.n,
        });
    }
    let k = d.dispatch().expect("valid descriptor");
    if k.is_reference() {
        println!("note: {} runs on the reference backend", k.name());
    }
    let kind = c.kind;
    Box::new(move |b: &mut Buffers| {
        // int8 operands reuse the bf16 buffers' bytes (twice the elements the case needs).
        let (pa, pb) = match kind {
            Kind::F32 => (b.a32.as_ptr().cast(), b.b32.as_ptr().cast()),
            Kind::Bf16 | Kind::Int8 => (b.a16.as_ptr().cast(), b.b16.as_ptr().cast()),
        };
        let args = GemmArgs {
            a: pa,
            b: pb,
            c: b.c.as_mut_ptr().cast(),
            batch: s.batch as u64,
            ..GemmArgs::default()
        };
        // SAFETY: the buffers hold `batch` packed operands of the descriptor's shape.
        unsafe { k.call_raw(&args) }
    })
}

fn runners(c: &Case) -> Vec<(String, Run)> {
    let s = c.s;
    let mut v: Vec<(String, Run)> = vec![("tpp".into(), tpp_runner(c))];
    match c.kind {
        Kind::F32 => {
            if let Some(x) = peers::xsmm_f32(s) {
                v.push((
                    "libxsmm".into(),
                    Box::new(move |b: &mut Buffers| {
                        peers::xsmm_f32_run(x, s, &b.a32, &b.b32, &mut b.c)
                    }),
                ));
            }
            if peers::HAVE_OPENBLAS {
                v.push((
                    "openblas".into(),
                    Box::new(move |b: &mut Buffers| {
                        peers::openblas_f32(s, &b.a32, &b.b32, &mut b.c);
                    }),
                ));
            }
            v.push((
                "gemm-crate".into(),
                Box::new(move |b: &mut Buffers| peers::gemm_crate_f32(s, &b.a32, &b.b32, &mut b.c)),
            ));
        }
        // LIBXSMM 1.17's int8 GEMM needs its own flag set; tpp is measured against the peak.
        Kind::Int8 => {}
        Kind::Bf16 => {
            if let Some(x) = peers::xsmm_bf16(s) {
                v.push((
                    "libxsmm".into(),
                    Box::new(move |b: &mut Buffers| {
                        peers::xsmm_bf16_run(x, s, &b.a16, &b.b16, &mut b.c)
                    }),
                ));
            }
        }
    }
    v
}

/// Median seconds of one call of each runner, from interleaved repetitions.
fn interleaved(rs: &[(String, Run)], bufs: &mut Buffers, flops: f64) -> Vec<f64> {
    // Enough calls per sample for ~20 µs, so the clock's resolution does not matter.
    let calls = ((2e-5 * 20e9 / flops) as usize).clamp(1, 100_000);
    let mut t = vec![vec![]; rs.len()];
    for _ in 0..31 {
        for (i, (_, f)) in rs.iter().enumerate() {
            let s = Instant::now();
            for _ in 0..calls {
                f(bufs);
            }
            t[i].push(s.elapsed().as_secs_f64() / calls as f64);
        }
    }
    t.iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

fn bench(crit: &mut Criterion) {
    assert!(
        is_x86_feature_detected!("avx512f"),
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
            let peak = *peaks
                .entry(c.peak())
                .or_insert_with(|| peers::peak(c.peak()));
            let secs = interleaved(&rs, &mut bufs, c.flops());
            let gflops: Vec<f64> = secs.iter().map(|s| c.flops() / s / 1e9).collect();
            rows.push((
                c.label.clone(),
                rs.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                gflops,
                peak,
            ));
        }
    }
    if !full {
        return;
    }
    if !peers::HAVE_XSMM {
        println!(
            "\nLIBXSMM not found: install Debian's libxsmm-dev (and libopenblas-dev) and rebuild"
        );
    } else if let Some(t) = peers::xsmm_target() {
        println!("\nLIBXSMM code path on this CPU: {t}");
    }
    if !peers::HAVE_OPENBLAS {
        println!("OpenBLAS not found: install Debian's libopenblas-dev and rebuild");
    }
    println!(
        "\n{:<28} {:>10} {:>26} {:>7} {:>7}",
        "case", "tpp GF/s", "best peer (GF/s)", "ratio", "% peak"
    );
    let mut log_ratio = vec![];
    for (label, who, gf, peak) in &rows {
        let best = (1..who.len()).max_by(|&a, &b| gf[a].total_cmp(&gf[b]));
        let (peer, ratio) = match best {
            Some(i) => (format!("{} ({:.1})", who[i], gf[i]), gf[0] / gf[i]),
            None => ("-".into(), f64::NAN),
        };
        if label.starts_with("small/") {
            if let Some(x) = who.iter().position(|w| w == "libxsmm") {
                log_ratio.push((gf[0] / gf[x]).ln());
            }
        }
        let ratio = if ratio.is_nan() {
            "-".to_string()
        } else {
            format!("{ratio:.2}x")
        };
        println!(
            "{:<28} {:>10.1} {:>26} {:>7} {:>6.0}%",
            label,
            gf[0],
            peer,
            ratio,
            100.0 * gf[0] * 1e9 / peak
        );
    }
    for (p, v) in &peaks {
        println!(
            "peak {p:?}: {:.1} G/s (register-only loop, this run)",
            v / 1e9
        );
    }
    if !log_ratio.is_empty() {
        let g = (log_ratio.iter().sum::<f64>() / log_ratio.len() as f64).exp();
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
