//! The main job: dispatch real TPP kernels, run them, and print what they achieve next to a
//! plain Rust loop doing the same work and, for memory-bound ops, a copy of the same bytes
//! (the bandwidth ceiling), all timed interleaved in the same run: this machine is shared and
//! noisy, so only same-run ratios mean much.
//!
//! `cargo run --release --example showcase`

use std::hint::black_box;
use std::time::Instant;
use tpp::*;

/// Median seconds per call of each closure, timed round-robin.
fn race(reps: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    fs.iter_mut().for_each(|f| f());
    let mut t = vec![Vec::with_capacity(reps); fs.len()];
    for _ in 0..reps {
        for (f, t) in fs.iter_mut().zip(&mut t) {
            let s = Instant::now();
            f();
            t.push(s.elapsed().as_secs_f64());
        }
    }
    t.iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

struct Row {
    name: String,
    backend: &'static str,
    unit: &'static str,
    /// tpp, the plain loop, and the copy (memory-bound ops), in units per second.
    rates: Vec<f64>,
}

fn row<F: tpp::exec::Family>(k: &Kernel<F>, unit: &'static str, work: f64, t: &[f64]) -> Row {
    Row {
        name: k.name().to_string(),
        backend: k.backend(),
        unit,
        rates: t.iter().map(|t| work / t / 1e9).collect(),
    }
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    // A cheap deterministic spread of values in [-2, 2).
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 22) as f32
                - 2.0
        })
        .collect()
}

fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + (0.797_884_6 * (v + 0.044_715 * v * v * v)).tanh())
}

fn main() -> tpp::Result<()> {
    let backends: Vec<_> = tpp::dispatch::backends().iter().map(|b| b.name()).collect();
    println!(
        "tpp showcase: backends in dispatch order: {}\n",
        backends.join(", ")
    );
    let mut rows = Vec::new();

    // GEMM: C = A·B, f32, 128³, against a plain i-k-j loop.
    let n = 128;
    let gemm = GemmDesc::new(n, n, n, DType::F32).beta(0.0).dispatch()?;
    let (a, b) = (values(n * n, 1), values(n * n, 2));
    let (mut c, mut cp) = (vec![0f32; n * n], vec![0f32; n * n]);
    let t = race(
        7,
        &mut [&mut || gemm.call(&a, &b, &mut c).unwrap(), &mut || {
            for i in 0..n {
                let row = &mut cp[i * n..(i + 1) * n];
                row.fill(0.0);
                for p in 0..n {
                    let aip = a[i * n + p];
                    for (cj, bj) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                        *cj += aip * bj;
                    }
                }
            }
            black_box(&cp);
        }],
    );
    let worst = c
        .iter()
        .zip(&cp)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-3,
        "gemm disagrees with the plain loop by {worst}"
    );
    rows.push(row(&gemm, "GFLOP/s", gemm.flops() as f64, &t));

    // Eltwise on 1024 × 1024 f32.
    let (r, cols) = (1024, 1024);
    let x = values(r * cols, 3);
    let bias = values(cols, 4);
    let (mut y, mut yp, mut yc) = (
        vec![0f32; r * cols],
        vec![0f32; r * cols],
        vec![0f32; r * cols],
    );
    let mut copy = |_: ()| {
        yc.copy_from_slice(&x);
        black_box(&yc);
    };

    let relu = UnaryDesc::new(UnaryOp::Relu { mask: false }, r, cols, DType::F32).dispatch()?;
    let t = race(
        15,
        &mut [
            &mut || relu.call(&x, &mut y).unwrap(),
            &mut || {
                yp.iter_mut().zip(&x).for_each(|(o, &v)| *o = v.max(0.0));
                black_box(&yp);
            },
            &mut || copy(()),
        ],
    );
    rows.push(row(&relu, "GB/s", relu.desc().bytes() as f64, &t));

    let gelu_k = UnaryDesc::new(UnaryOp::Gelu, r, cols, DType::F32).dispatch()?;
    let t = race(
        7,
        &mut [
            &mut || gelu_k.call(&x, &mut y).unwrap(),
            &mut || {
                yp.iter_mut().zip(&x).for_each(|(o, &v)| *o = gelu(v));
                black_box(&yp);
            },
            &mut || copy(()),
        ],
    );
    rows.push(row(&gelu_k, "GB/s", gelu_k.desc().bytes() as f64, &t));

    let add = BinaryDesc::new(BinaryOp::Add, r, cols, DType::F32)
        .broadcast(Broadcast::None, Broadcast::Row)
        .dispatch()?;
    let t = race(
        15,
        &mut [
            &mut || add.call(&x, &bias, &mut y).unwrap(),
            &mut || {
                for (orow, xrow) in yp.chunks_mut(cols).zip(x.chunks(cols)) {
                    orow.iter_mut()
                        .zip(xrow.iter().zip(&bias))
                        .for_each(|(o, (&v, &b))| *o = v + b);
                }
                black_box(&yp);
            },
            &mut || copy(()),
        ],
    );
    rows.push(row(&add, "GB/s", add.desc().bytes() as f64, &t));

    let sum = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerRow, r, cols, DType::F32).dispatch()?;
    let (mut s, mut sp) = (vec![0f32; r], vec![0f32; r]);
    let t = race(
        15,
        &mut [&mut || sum.call(&x, &mut s).unwrap(), &mut || {
            sp.iter_mut()
                .zip(x.chunks(cols))
                .for_each(|(o, row)| *o = row.iter().sum());
            black_box(&sp);
        }],
    );
    rows.push(row(&sum, "GB/s", sum.desc().bytes() as f64, &t));

    let tr = UnaryDesc::new(UnaryOp::Transpose, r, cols, DType::F32).dispatch()?;
    let t = race(
        5,
        &mut [
            &mut || tr.call(&x, &mut y).unwrap(),
            &mut || {
                for i in 0..r {
                    for j in 0..cols {
                        yp[j * r + i] = x[i * cols + j];
                    }
                }
                black_box(&yp);
            },
            &mut || copy(()),
        ],
    );
    rows.push(row(&tr, "GB/s", tr.desc().bytes() as f64, &t));

    println!(
        "{:<44} {:>9} {:>8} {:>9} {:>11} {:>9} {:>8} {:>7}",
        "kernel", "backend", "unit", "tpp", "plain loop", "copy", "vs loop", "% copy"
    );
    for r in &rows {
        let copy = r
            .rates
            .get(2)
            .map_or("-".to_string(), |c| format!("{c:.1}"));
        let pct = r.rates.get(2).map_or("-".to_string(), |c| {
            format!("{:.0}%", 100.0 * r.rates[0] / c)
        });
        println!(
            "{:<44} {:>9} {:>8} {:>9.1} {:>11.1} {:>9} {:>7.2}x {:>7}",
            r.name,
            r.backend,
            r.unit,
            r.rates[0],
            r.rates[1],
            copy,
            r.rates[0] / r.rates[1],
            pct
        );
    }
    println!(
        "\nGEMM in GFLOP/s, the rest in GB/s of operand traffic (bytes read + written; the copy"
    );
    println!(
        "moves the same bytes). Kernels on `reference` compute each element from its formula in"
    );
    println!("f64 (the oracle); `avx512` kernels are JIT-compiled. `cargo bench --bench eltwise` adds oneDNN.");
    Ok(())
}
