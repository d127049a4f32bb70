//! Dispatch cost: a cached dispatch (goal < 20 ns), and 8 threads dispatching the same 1,000
//! descriptors concurrently (each key must end up with exactly one kernel); for equations, a
//! cached dispatch (goal < 50 ns) and the dispatch of a new one (goal < 200 µs: validation,
//! lowering and the JIT of every pass).
//!
//! `cargo bench --bench dispatch`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use tpp::{DType, GemmDesc, UnaryDesc, UnaryOp};

fn descriptors(count: usize, salt: usize) -> Vec<GemmDesc> {
    // Distinct shapes: the salt moves every run of the concurrent bench onto fresh keys, so
    // each iteration measures real misses racing one another, then hits.
    (0..count)
        .map(|i| {
            let m = 1 + i % 40;
            let n = 1 + (i / 40) % 25;
            let k = 1 + i / 1000 + salt;
            GemmDesc::new(m, n, k, DType::F32).beta(0.0)
        })
        .collect()
}

fn cached(c: &mut Criterion) {
    let gemm = GemmDesc::new(64, 64, 64, DType::BF16).vnni_b().beta(0.0);
    gemm.dispatch().unwrap();
    c.bench_function("dispatch/cached_gemm", |b| {
        b.iter(|| black_box(black_box(&gemm).dispatch().unwrap()))
    });
    let relu = UnaryDesc::new(UnaryOp::Relu { mask: true }, 64, 64, DType::F32);
    relu.dispatch().unwrap();
    c.bench_function("dispatch/cached_unary", |b| {
        b.iter(|| black_box(black_box(&relu).dispatch().unwrap()))
    });
}

fn equations(c: &mut Criterion) {
    let ln = tpp::equations::layer_norm(4096, 1024, DType::BF16, 1e-5);
    ln.dispatch().unwrap();
    c.bench_function("dispatch/cached_equation_layer_norm", |b| {
        b.iter(|| black_box(black_box(&ln).dispatch().unwrap()))
    });
    // A structure never seen before on every iteration (eps differs).
    let mut eps = 1e-3f32;
    c.bench_function("dispatch/new_equation_layer_norm", |b| {
        b.iter(|| {
            eps = f32::from_bits(eps.to_bits() + 1);
            black_box(
                tpp::equations::layer_norm(512, 768, DType::F32, eps)
                    .dispatch()
                    .unwrap(),
            )
        })
    });
}

/// 8 threads × the same 1,000 descriptors, all at once, on keys never seen before.
fn concurrent(c: &mut Criterion) {
    const THREADS: usize = 8;
    const KEYS: usize = 1000;
    let mut salt = 0;
    c.bench_function("dispatch/8threads_1000keys_cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                salt += 1;
                let descs = descriptors(KEYS, salt * 64);
                let before = tpp::dispatch::kernels_generated();
                let barrier = Barrier::new(THREADS);
                let start = Instant::now();
                let handles: Vec<Vec<tpp::GemmKernel>> = std::thread::scope(|s| {
                    let workers: Vec<_> = (0..THREADS)
                        .map(|t| {
                            let (descs, barrier) = (&descs, &barrier);
                            s.spawn(move || {
                                barrier.wait();
                                // Each thread walks the keys from a different start.
                                (0..KEYS)
                                    .map(|i| descs[(i + t * 125) % KEYS].dispatch().unwrap())
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    workers.into_iter().map(|w| w.join().unwrap()).collect()
                });
                total += start.elapsed();
                let generated = tpp::dispatch::kernels_generated() - before;
                assert_eq!(generated, KEYS as u64, "one kernel per key");
                for t in 1..THREADS {
                    for i in 0..KEYS {
                        let j = (i + t * 125) % KEYS;
                        assert_eq!(
                            handles[t][i], handles[0][j],
                            "threads got different kernels"
                        );
                    }
                }
            }
            total
        })
    });
}

/// 8 threads hitting the cache for the same 1,000 keys (after one warm-up pass).
fn concurrent_hits(c: &mut Criterion) {
    const THREADS: usize = 8;
    let descs = descriptors(1000, 0);
    for d in &descs {
        d.dispatch().unwrap();
    }
    c.bench_function("dispatch/8threads_1000keys_hits", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let descs = &descs;
                    s.spawn(move || {
                        for i in 0..descs.len() {
                            black_box(descs[(i + t * 125) % descs.len()].dispatch().unwrap());
                        }
                    });
                }
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = cached, equations, concurrent, concurrent_hits
}
criterion_main!(benches);
