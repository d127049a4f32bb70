//! The main job: dispatch real TPP kernels, run them, and print what they achieve, timed
//! interleaved in the same run (this machine is shared and noisy, so only same-run ratios mean
//! much): GEMM and batch-reduce GEMM next to LIBXSMM, OpenBLAS and the `gemm` crate and the
//! register-only peak of the multiply instruction; the large GEMM next to OpenBLAS; a BERT-base
//! encoder layer next to the same layer composed from oneDNN primitives (or, without oneDNN,
//! from tpp's own operators one step at a time, unfused); eltwise
//! kernels next to a plain Rust loop and a copy of the same bytes (the bandwidth ceiling).
//!
//! `cargo run --release --example showcase`

use std::hint::black_box;
use std::time::Instant;
use tpp::*;

#[path = "../benches/peers/gemm_cases.rs"]
mod cases;
use tpp_peers::gemm as peers;

/// The headline GEMM cases of `cargo bench --bench gemm`.
fn gemm_table() {
    use cases::{Case, Kind};
    use peers::Shape;
    let shape = |m, n, k, batch| Shape { m, n, k, batch };
    let list = [
        ("gemm/32x32x32/f32", Kind::F32, shape(32, 32, 32, 0)),
        ("gemm/80x80x80/f32", Kind::F32, shape(80, 80, 80, 0)),
        ("brgemm/64x64x64x16/f32", Kind::F32, shape(64, 64, 64, 16)),
        ("resnet50/3x3conv/w56/f32", Kind::F32, shape(56, 64, 64, 9)),
        ("brgemm/64x64x64x16/bf16", Kind::Bf16, shape(64, 64, 64, 16)),
        ("brgemm/64x64x64x16/u8i8", Kind::Int8, shape(64, 64, 64, 16)),
    ];
    let mut rows = vec![];
    for (label, kind, s) in list {
        let c = Case {
            label: label.into(),
            kind,
            s,
        };
        let p = c.peak();
        if !p.available() {
            println!("skip {label}: this CPU lacks {p:?}");
            continue;
        }
        rows.push(cases::measure(&c, p.measure()));
    }
    cases::print_summary(&rows);
}

/// The large GEMM (BRGEMM composition, `tpp::ops::matmul`) on one thread next to OpenBLAS.
fn large_gemm() {
    let n = 1024;
    let (a, b) = (values(n * n, 11), values(n * n, 12));
    let (mut c, mut cb) = (vec![0f32; n * n], vec![0f32; n * n]);
    let p = tpp::ops::Matmul::new(n, n, n);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut tpp_run = || pool.install(|| tpp::ops::matmul(&p, &a, &b, &mut c).unwrap());
    let flops = 2.0 * (n * n * n) as f64;
    let (t, peer) = match peers::openblas() {
        Some(ob) => {
            ob.threads(1);
            let t = race(
                5,
                &mut [&mut tpp_run, &mut || {
                    ob.sgemm((n, n, n), (false, false), &a, &b, 0.0, &mut cb)
                }],
            );
            (t, "openblas")
        }
        None => (race(5, &mut [&mut tpp_run]), "-"),
    };
    let gf: Vec<f64> = t.iter().map(|t| flops / t / 1e9).collect();
    match gf.get(1) {
        Some(&g) => println!(
            "large GEMM 1024³ f32, 1 thread: tpp {:.1} GF/s, {peer} {g:.1} GF/s ({:.2}x)",
            gf[0],
            gf[0] / g
        ),
        None => println!(
            "large GEMM 1024³ f32, 1 thread: tpp {:.1} GF/s (OpenBLAS not found: apt-get install libopenblas-dev)",
            gf[0]
        ),
    }
}

/// The BERT layer of [`bert_layer`] composed from tpp's operators one step at a time, as a
/// framework without fusion would run it: three Q, K, V products, the attention, the output
/// product, then a residual add and a layer norm as separate passes, the up product, GELU as
/// its own pass, the down product, add, layer norm. What `BertLayer` fuses is the QKV product
/// and the add + norm (and GELU into its product's epilogue).
struct Unfused {
    lin_h: tpp::ops::Linear<f32>,
    lin_up: tpp::ops::Linear<f32>,
    lin_down: tpp::ops::Linear<f32>,
    attn: tpp::ops::Attention<f32>,
    add: BinaryKernel,
    gelu: UnaryKernel,
    norm: EquationKernel,
    /// Packed `[hidden][hidden]` weights (query, key, value, attention output), up, down.
    w: [Vec<f32>; 6],
    bufs: [Vec<f32>; 7],
    inter: [Vec<f32>; 2],
    stats: [Vec<f32>; 2],
}

impl Unfused {
    fn new(n: usize, h: usize, im: usize, mats: [&[f32]; 6]) -> Result<Unfused> {
        use tpp::ops::{Attention, AttentionOptions, Linear, LinearOptions};
        let o = LinearOptions {
            bias: true,
            ..LinearOptions::default()
        };
        let lin_h = Linear::new(n, h, h, o.clone())?;
        let lin_up = Linear::new(n, h, im, o.clone())?;
        let lin_down = Linear::new(n, im, h, o)?;
        let layouts = [
            lin_h.weight_layout(),
            lin_h.weight_layout(),
            lin_h.weight_layout(),
            lin_h.weight_layout(),
            lin_up.weight_layout(),
            lin_down.weight_layout(),
        ];
        let mut w: [Vec<f32>; 6] = Default::default();
        for i in 0..6 {
            w[i] = vec![0.0; layouts[i].len()];
            layouts[i].from_kcrs(mats[i], &mut w[i])?;
        }
        Ok(Unfused {
            attn: Attention::new(AttentionOptions::new(1, 12, n, h / 12))?,
            add: BinaryDesc::new(BinaryOp::Add, n, h, DType::F32).dispatch()?,
            gelu: UnaryDesc::new(UnaryOp::GeluErf, n, im, DType::F32).dispatch()?,
            norm: equations::layer_norm(n, h, DType::F32, 1e-12).dispatch()?,
            lin_h,
            lin_up,
            lin_down,
            w,
            bufs: [(); 7].map(|_| vec![0.0; n * h]),
            inter: [(); 2].map(|_| vec![0.0; n * im]),
            stats: [(); 2].map(|_| vec![0.0; n]),
        })
    }

    /// `y = layer(x)` with the biases `bh` (every hidden-sized one), `bi` and the norms'
    /// `gamma`, `beta`.
    fn run(
        &mut self,
        x: &[f32],
        (bh, bi): (&[f32], &[f32]),
        norm: (&[f32], &[f32]),
        y: &mut [f32],
    ) {
        let [q, k, v, ctx, a, s, hs] = &mut self.bufs;
        let [up, g] = &mut self.inter;
        let [mean, rstd] = &mut self.stats;
        let w = &self.w;
        let ln =
            |k: &EquationKernel, x: &[f32], y: &mut [f32], mean: &mut [f32], rstd: &mut [f32]| {
                let ins = [In::from(x), In::from(norm.0), In::from(norm.1)];
                k.call(&ins, &mut [Out::from(y), Out::from(mean), Out::from(rstd)])
                    .unwrap()
            };
        self.lin_h.forward(x, &w[0], Some(bh), q).unwrap();
        self.lin_h.forward(x, &w[1], Some(bh), k).unwrap();
        self.lin_h.forward(x, &w[2], Some(bh), v).unwrap();
        self.attn.forward(q, k, v, None, ctx).unwrap();
        self.lin_h.forward(ctx, &w[3], Some(bh), a).unwrap();
        self.add.call(&*a, x, &mut *s).unwrap();
        ln(&self.norm, s, hs, mean, rstd);
        self.lin_up.forward(hs, &w[4], Some(bi), up).unwrap();
        self.gelu.call(&*up, &mut *g).unwrap();
        self.lin_down.forward(g, &w[5], Some(bh), a).unwrap();
        self.add.call(&*a, &*hs, &mut *s).unwrap();
        ln(&self.norm, s, y, mean, rstd);
    }
}

/// One BERT-base encoder layer forward (`tpp::ops::BertLayer`, sequence 128, batch 1, f32,
/// 1 thread) next to the same layer composed from oneDNN primitives, or without oneDNN, next
/// to tpp's unfused composition ([`Unfused`]).
fn bert_layer() {
    use tpp::ops::{BertLayer, BertOptions, BertWeights};
    let seq = 128;
    let o = BertOptions::base(1, seq);
    let (h, im) = (o.hidden, o.intermediate);
    let mut layer = BertLayer::<f32>::new(o).expect("BERT-base is a valid layer");
    let (sq, up, down) = (
        values(h * h, 21)
            .iter()
            .map(|v| v * 0.02)
            .collect::<Vec<_>>(),
        values(im * h, 22)
            .iter()
            .map(|v| v * 0.02)
            .collect::<Vec<_>>(),
        values(h * im, 23)
            .iter()
            .map(|v| v * 0.02)
            .collect::<Vec<_>>(),
    );
    let (bh, bi, ones) = (vec![0.1f32; h], vec![0.1f32; im], vec![1f32; h]);
    layer
        .set_weights(&BertWeights {
            query: (&sq, &bh),
            key: (&sq, &bh),
            value: (&sq, &bh),
            attn_out: (&sq, &bh),
            attn_norm: (&ones, &bh),
            intermediate: (&up, &bi),
            output: (&down, &bh),
            out_norm: (&ones, &bh),
        })
        .expect("weights of the layer's sizes");
    let x = values(layer.len(), 24);
    let mut y = vec![0f32; layer.len()];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let flops = layer.flops() as f64;
    let mut tpp_run = || pool.install(|| layer.run(&x, None, &mut y).unwrap());
    // SAFETY: the shim builds and owns the layer's memories.
    let peer = unsafe { tpp_peers::dnnl::tpp_dnnl_bert_layer(0, 1, seq as i64, 768, 12, 3072) };
    if peer.is_null() {
        let mut unfused = Unfused::new(seq, h, im, [&sq, &sq, &sq, &sq, &up, &down])
            .expect("BERT-base's steps are valid plans");
        let mut y2 = vec![0f32; x.len()];
        let norm = (&ones[..], &bh[..]);
        let mut unfused_run = || pool.install(|| unfused.run(&x, (&bh, &bi), norm, &mut y2));
        let t = race(5, &mut [&mut tpp_run, &mut unfused_run]);
        // Both computed the same layer: a check that the comparison is fair.
        pool.install(|| layer.run(&x, None, &mut y).unwrap());
        pool.install(|| unfused.run(&x, (&bh, &bi), norm, &mut y2));
        let diff = y
            .iter()
            .zip(&y2)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-3, "the unfused composition differs by {diff}");
        println!(
            "BERT-base layer, seq {seq}, f32, 1 thread: tpp {:.1} GF/s, {:.2} ms, tpp unfused composition {:.2} ms ({:.2}x) (oneDNN not found: apt-get install libdnnl-dev)",
            flops / t[0] / 1e9,
            t[0] * 1e3,
            t[1] * 1e3,
            t[1] / t[0]
        );
        return;
    }
    let t = race(
        5,
        // SAFETY: as above.
        &mut [&mut tpp_run, &mut || {
            assert_eq!(unsafe { tpp_peers::dnnl::tpp_dnnl_bert_run(peer, 1) }, 0)
        }],
    );
    println!(
        "BERT-base layer, seq {seq}, f32, 1 thread: tpp {:.2} ms, oneDNN composition {:.2} ms ({:.2}x)",
        t[0] * 1e3,
        t[1] * 1e3,
        t[1] / t[0]
    );
}

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

    if is_x86_feature_detected!("avx512f") {
        gemm_table();
        large_gemm();
        bert_layer();
        println!();
    } else {
        println!("(the GEMM table compares AVX-512 kernels: this CPU has none)\n");
    }

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
    println!("\nGB/s of operand traffic (bytes read + written; the copy moves the same bytes).");
    println!("Kernels on `reference` compute each element from its formula in f64 (the oracle);");
    println!("`avx512` kernels are JIT-compiled. `cargo bench --bench eltwise` adds oneDNN,");
    println!("`cargo bench --bench gemm` every GEMM case.");
    Ok(())
}
