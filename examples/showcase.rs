//! The main job: dispatch real TPP kernels, run them, and print what they achieve next to a
//! plain Rust loop doing the same work, measured interleaved in the same run (this machine is
//! shared and noisy, so only same-run ratios mean much).
//!
//! `cargo run --release --example showcase`

use std::hint::black_box;
use std::time::Instant;
use tpp::*;

/// Median seconds per call of `f`, and of `g`, timed alternately.
fn race(reps: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    f();
    g();
    let (mut tf, mut tg) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for _ in 0..reps {
        let t = Instant::now();
        f();
        tf.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        g();
        tg.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut tf), median(&mut tg))
}

struct Row {
    name: String,
    backend: &'static str,
    unit: &'static str,
    ours: f64,
    plain: f64,
}

fn row<F: tpp::exec::Family>(
    k: &Kernel<F>,
    unit: &'static str,
    work: f64,
    (t, tp): (f64, f64),
) -> Row {
    Row {
        name: k.name().to_string(),
        backend: k.backend(),
        unit,
        ours: work / t / 1e9,
        plain: work / tp / 1e9,
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

fn main() -> tpp::Result<()> {
    let backends: Vec<_> = tpp::dispatch::backends().iter().map(|b| b.name()).collect();
    println!(
        "tpp showcase — backends in dispatch order: {}",
        backends.join(", ")
    );
    println!(
        "(each figure is the median of interleaved runs; 'plain' is a straightforward Rust loop)\n"
    );
    let mut rows = Vec::new();

    // GEMM: C = A·B, f32, 128³.
    let n = 128;
    let gemm = GemmDesc::new(n, n, n, DType::F32).beta(0.0).dispatch()?;
    let (a, b) = (values(n * n, 1), values(n * n, 2));
    let (mut c, mut cp) = (vec![0f32; n * n], vec![0f32; n * n]);
    let times = race(
        7,
        || gemm.call(&a, &b, &mut c).unwrap(),
        || {
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
        },
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
    rows.push(row(&gemm, "GFLOP/s", gemm.flops() as f64, times));

    // Eltwise on 1024 × 1024 f32: relu, gelu, add with a row broadcast, per-row sum, transpose.
    let (r, cdim) = (1024, 1024);
    let x = values(r * cdim, 3);
    let bias = values(cdim, 4);
    let (mut y, mut yp) = (vec![0f32; r * cdim], vec![0f32; r * cdim]);
    let bytes = (2 * r * cdim * 4) as f64;

    let relu = UnaryDesc::new(UnaryOp::Relu { mask: false }, r, cdim, DType::F32).dispatch()?;
    let t = race(
        9,
        || relu.call(&x, &mut y).unwrap(),
        || {
            yp.iter_mut().zip(&x).for_each(|(o, &v)| *o = v.max(0.0));
            black_box(&yp);
        },
    );
    rows.push(row(&relu, "GB/s", bytes, t));

    let gelu = UnaryDesc::new(UnaryOp::Gelu, r, cdim, DType::F32).dispatch()?;
    let t = race(
        5,
        || gelu.call(&x, &mut y).unwrap(),
        || {
            yp.iter_mut().zip(&x).for_each(|(o, &v)| {
                *o = 0.5 * v * (1.0 + (0.797_884_6 * (v + 0.044_715 * v * v * v)).tanh())
            });
            black_box(&yp);
        },
    );
    rows.push(row(&gelu, "GB/s", bytes, t));

    let add = BinaryDesc::new(BinaryOp::Add, r, cdim, DType::F32)
        .broadcast(Broadcast::None, Broadcast::Row)
        .dispatch()?;
    let t = race(
        9,
        || add.call(&x, &bias, &mut y).unwrap(),
        || {
            for (orow, xrow) in yp.chunks_mut(cdim).zip(x.chunks(cdim)) {
                orow.iter_mut()
                    .zip(xrow.iter().zip(&bias))
                    .for_each(|(o, (&v, &b))| *o = v + b);
            }
            black_box(&yp);
        },
    );
    rows.push(row(&add, "GB/s", bytes, t));

    let sum = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerRow, r, cdim, DType::F32).dispatch()?;
    let (mut s, mut sp) = (vec![0f32; r], vec![0f32; r]);
    let t = race(
        9,
        || sum.call(&x, &mut s).unwrap(),
        || {
            sp.iter_mut()
                .zip(x.chunks(cdim))
                .for_each(|(o, row)| *o = row.iter().sum());
            black_box(&sp);
        },
    );
    rows.push(row(&sum, "GB/s", (r * cdim * 4) as f64, t));

    let tr = UnaryDesc::new(UnaryOp::Transpose, r, cdim, DType::F32).dispatch()?;
    let t = race(
        5,
        || tr.call(&x, &mut y).unwrap(),
        || {
            for i in 0..r {
                for j in 0..cdim {
                    yp[j * r + i] = x[i * cdim + j];
                }
            }
            black_box(&yp);
        },
    );
    rows.push(row(&tr, "GB/s", bytes, t));

    println!(
        "{:<44} {:>10} {:>9} {:>9} {:>8}",
        "kernel", "backend", "tpp", "plain", "ratio"
    );
    for r in &rows {
        println!(
            "{:<44} {:>10} {:>6.2} {:<2} {:>6.2} {:<2} {:>7.2}x",
            r.name,
            r.backend,
            r.ours,
            if r.unit == "GB/s" { "GB" } else { "GF" },
            r.plain,
            if r.unit == "GB/s" { "GB" } else { "GF" },
            r.ours / r.plain
        );
    }
    println!(
        "\nGB = GB/s of operand traffic, GF = GFLOP/s. Kernels from the reference backend compute"
    );
    println!("every element from its formula in f64 (the oracle); JIT backends replace them as they land.");
    Ok(())
}
