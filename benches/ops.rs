//! The operators against oneDNN 2.6 (Debian's libdnnl-dev): every ResNet-50 v1.5 convolution
//! layer shape (batch 1 and batch = threads), BERT-base linear layers and attention at sequence
//! 128 and 512, f32 and bf16, on 1 and 2 threads, interleaved in one process, with the FMA and
//! `vdpbf16ps` peaks measured in the same run. oneDNN runs with every tensor in the layout it
//! prefers (format `any`), tpp on its blocked layouts: layout conversion is outside both
//! timings. Both run on 64-byte-aligned operands (oneDNN allocates its own so; tpp's are
//! `tpp_peers::Aligned`, as a framework's allocator would give). oneDNN uses OpenMP: the shim sets its thread count to tpp's rayon pool size per
//! call. Attention has no oneDNN 2.6 primitive, and the shim builds no backward primitive:
//! those are reported against the FMA peak alone.
//!
//! The whole BERT-base encoder layer (`bert_layer`) runs against the same layer composed from
//! oneDNN primitives (no dropout: oneDNN 2.6 has none), the two timed interleaved.
//!
//! Run the 2-thread rows with `OMP_WAIT_POLICY=passive`: by default libgomp's idle worker
//! spins after each oneDNN call (it reads the variable at load, so the bench cannot set it),
//! taking the second core from the rayon thread that runs tpp next (measured: the BERT layer
//! at sequence 128 on 2 threads ran 0.50× oneDNN with spinning, 0.89× without).
//!
//! `cargo bench --bench ops` (a filter such as `-- res3` or `-- bert` runs fewer cases;
//! `TPP_BENCH_REPS=n` sets the timed repetitions, median reported).

use std::ffi::CStr;
use std::time::Instant;
use tpp::bf16;
use tpp::ops::{
    Attention, AttentionOptions, BertLayer, BertOptions, BertWeights, Conv2d, ConvOptions,
    ConvShape, Linear, LinearOptions, OpElem,
};
use tpp::Activation;
use tpp_peers::dnnl;
use tpp_peers::gemm::{peak, Peak};
use tpp_peers::Aligned;

/// ResNet-50 v1.5 convolutions: (name, C, H=W, K, R=S, stride, pad) of each distinct layer
/// (the 3×3 stride lives in the bottleneck's second conv in v1.5).
const RESNET50: &[(&str, usize, usize, usize, usize, usize, usize)] = &[
    ("conv1", 3, 224, 64, 7, 2, 3),
    ("res2a_branch1", 64, 56, 256, 1, 1, 0),
    ("res2a_branch2a", 64, 56, 64, 1, 1, 0),
    ("res2_branch2b", 64, 56, 64, 3, 1, 1),
    ("res2_branch2c", 64, 56, 256, 1, 1, 0),
    ("res2_branch2a", 256, 56, 64, 1, 1, 0),
    ("res3a_branch1", 256, 56, 512, 1, 2, 0),
    ("res3a_branch2a", 256, 56, 128, 1, 1, 0),
    ("res3a_branch2b", 128, 56, 128, 3, 2, 1),
    ("res3_branch2b", 128, 28, 128, 3, 1, 1),
    ("res3_branch2c", 128, 28, 512, 1, 1, 0),
    ("res3_branch2a", 512, 28, 128, 1, 1, 0),
    ("res4a_branch1", 512, 28, 1024, 1, 2, 0),
    ("res4a_branch2a", 512, 28, 256, 1, 1, 0),
    ("res4a_branch2b", 256, 28, 256, 3, 2, 1),
    ("res4_branch2b", 256, 14, 256, 3, 1, 1),
    ("res4_branch2c", 256, 14, 1024, 1, 1, 0),
    ("res4_branch2a", 1024, 14, 256, 1, 1, 0),
    ("res5a_branch1", 1024, 14, 2048, 1, 2, 0),
    ("res5a_branch2a", 1024, 14, 512, 1, 1, 0),
    ("res5a_branch2b", 512, 14, 512, 3, 2, 1),
    ("res5_branch2b", 512, 7, 512, 3, 1, 1),
    ("res5_branch2c", 512, 7, 2048, 1, 1, 0),
    ("res5_branch2a", 2048, 7, 512, 1, 1, 0),
];

/// BERT-base linear layers: (name, in, out) over `seq` tokens.
const BERT_LINEAR: &[(&str, usize, usize)] = &[
    ("qkv", 768, 2304),
    ("attn_out", 768, 768),
    ("ffn_up", 768, 3072),
    ("ffn_down", 3072, 768),
];

fn reps() -> usize {
    std::env::var("TPP_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

/// Median seconds of `f` over the repetitions (after one warm-up call).
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps())
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

struct Row {
    label: String,
    flops: f64,
    tpp: f64,
    dnnl: Option<(f64, String)>,
    peak: f64,
}

impl Row {
    fn print(&self) {
        let g = |t: f64| self.flops / t / 1e9;
        let (peer, ratio, imp) = match &self.dnnl {
            Some((t, imp)) => (
                format!("{:8.1}", g(*t)),
                format!("{:5.2}x", t / self.tpp),
                imp.as_str(),
            ),
            None => ("       -".into(), "    -".into(), ""),
        };
        println!(
            "{:<34} {:8.1} {peer} {ratio} {:5.1}%  {imp}",
            self.label,
            g(self.tpp),
            100.0 * g(self.tpp) * 1e9 / self.peak
        );
    }
}

fn header(what: &str) {
    println!(
        "\n{what}\n{:<34} {:>8} {:>8} {:>6} {:>6}  oneDNN impl",
        "case", "tpp GF/s", "oneDNN", "ratio", "%peak"
    );
}

/// tpp's run and oneDNN's forward primitive from `make` (where it builds one), timed
/// interleaved: medians of tpp, and of oneDNN with the implementation it picked.
fn timed_with_dnnl(
    tpp: impl FnMut(),
    make: impl FnOnce() -> *mut std::ffi::c_void,
    threads: usize,
) -> (f64, Option<(f64, String)>) {
    let p = dnnl::with_threads(threads, make);
    if p.is_null() {
        return (time(tpp), None);
    }
    // SAFETY: a primitive of the shim, run on its own memory.
    let imp = unsafe { CStr::from_ptr(dnnl::tpp_dnnl_fwd_impl(p)) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: as above.
    let dnnl = || assert_eq!(unsafe { dnnl::tpp_dnnl_fwd_run(p, threads as i32) }, 0);
    let (t, d) = time_interleaved(tpp, dnnl);
    (t, Some((d, imp)))
}

fn conv_row<T: OpElem>(
    name: &str,
    (c, hw, k, rs, stride, pad): (usize, usize, usize, usize, usize, usize),
    n: usize,
    threads: usize,
    peak: f64,
) -> Row {
    let shape = ConvShape {
        n,
        c,
        h: hw,
        w: hw,
        k,
        r: rs,
        s: rs,
    };
    let opts = ConvOptions {
        stride: (stride, stride),
        padding: (pad, pad),
        bias: true,
        activation: Activation::Relu { mask: false },
        ..ConvOptions::default()
    };
    let conv = Conv2d::<T>::new(shape, opts).expect("a valid layer");
    let x = Aligned::filled(T::from_f32(0.5), conv.input_layout().len());
    let w = Aligned::filled(T::from_f32(0.01), conv.weight_layout().len());
    let b = vec![0.1f32; k];
    let mut y = Aligned::filled(T::default(), conv.output_layout().len());
    let bf = (T::DTYPE.size() == 2) as i32;
    let d = |v: usize| v as i64;
    // SAFETY: the shim builds its own memories.
    let (tpp, dnnl) = timed_with_dnnl(
        || {
            conv.forward(x.get(), w.get(), Some(&b), y.get_mut())
                .unwrap()
        },
        || unsafe {
            dnnl::tpp_dnnl_conv(
                bf,
                d(n),
                d(c),
                d(hw),
                d(hw),
                d(k),
                d(rs),
                d(rs),
                d(stride),
                d(pad),
                1,
            )
        },
        threads,
    );
    Row {
        label: format!("{name}/n{n}/{}/{threads}t", T::DTYPE),
        flops: conv.flops() as f64,
        tpp,
        dnnl,
        peak,
    }
}

fn linear_row<T: OpElem>(
    name: &str,
    seq: usize,
    (c, k): (usize, usize),
    threads: usize,
    peak: f64,
) -> Row {
    let opts = LinearOptions {
        bias: true,
        activation: if name == "ffn_up" {
            Activation::Relu { mask: false }
        } else {
            Activation::None
        },
        ..LinearOptions::default()
    };
    let lin = Linear::<T>::new(seq, c, k, opts).expect("a valid layer");
    let x = Aligned::filled(T::from_f32(0.5), seq * c);
    let w = Aligned::filled(T::from_f32(0.01), lin.weight_layout().len());
    let b = vec![0.1f32; k];
    let mut y = Aligned::filled(T::default(), seq * k);
    let relu = (name == "ffn_up") as i32;
    let bf = (T::DTYPE.size() == 2) as i32;
    // SAFETY: the shim builds its own memories.
    let (tpp, dnnl) = timed_with_dnnl(
        || {
            lin.forward(x.get(), w.get(), Some(&b), y.get_mut())
                .unwrap()
        },
        || unsafe { dnnl::tpp_dnnl_inner_product(bf, seq as i64, c as i64, k as i64, relu) },
        threads,
    );
    Row {
        label: format!("bert_{name}/s{seq}/{}/{threads}t", T::DTYPE),
        flops: lin.flops() as f64,
        tpp,
        dnnl,
        peak,
    }
}

fn attention_row<T: OpElem>(seq: usize, threads: usize, peak: f64) -> Row {
    let att = Attention::<T>::new(AttentionOptions::new(1, 12, seq, 64)).expect("a valid shape");
    let (lq, lkv) = att.lens();
    let q = Aligned::filled(T::from_f32(0.1), lq);
    let kv = Aligned::filled(T::from_f32(0.1), lkv);
    let mut o = Aligned::filled(T::default(), lq);
    let tpp = time(|| {
        att.forward(q.get(), kv.get(), kv.get(), None, o.get_mut())
            .unwrap()
    });
    Row {
        label: format!("bert_attention/s{seq}/h12/{}/{threads}t", T::DTYPE),
        flops: att.flops() as f64,
        tpp,
        dnnl: None,
        peak,
    }
}

/// Median seconds of `a` and of `b`, their repetitions interleaved (a, b, a, b, ...) so that
/// both see the same machine state (clock, other load) over the run.
fn time_interleaved(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    a();
    b();
    let mut ts: (Vec<f64>, Vec<f64>) = (vec![], vec![]);
    for _ in 0..reps() {
        let s = Instant::now();
        a();
        ts.0.push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        b();
        ts.1.push(s.elapsed().as_secs_f64());
    }
    let med = |mut t: Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    (med(ts.0), med(ts.1))
}

/// A whole BERT-base encoder layer forward (batch 1, inference: no dropout, no padding)
/// against the same layer composed from oneDNN primitives (inner products with bias / GELU /
/// residual post-ops, batched matmuls, softmax, layer norms), timed interleaved.
fn bert_layer_row<T: OpElem>(seq: usize, threads: usize, peak: f64) -> Row {
    let o = BertOptions::base(1, seq);
    let (h, im) = (o.hidden, o.intermediate);
    let mut layer = BertLayer::<T>::new(o).expect("a valid layer");
    let sq = vec![T::from_f32(0.02); h * h];
    let (up, down) = (
        vec![T::from_f32(0.02); im * h],
        vec![T::from_f32(0.02); h * im],
    );
    let (bh, bi, ones) = (vec![0.1f32; h], vec![0.1f32; im], vec![1.0f32; h]);
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
        .expect("weights of the right sizes");
    let x = Aligned::new(
        (0..layer.len()).map(|i| T::from_f32(((i % 97) as f32 - 48.0) / 48.0)),
        layer.len(),
        T::default(),
    );
    let mut y = Aligned::filled(T::default(), layer.len());
    let bf = (T::DTYPE.size() == 2) as i32;
    // SAFETY: the shim builds its own memories.
    let peer = dnnl::with_threads(threads, || unsafe {
        dnnl::tpp_dnnl_bert_layer(bf, 1, seq as i64, h as i64, 12, im as i64)
    });
    let (tpp, dnnl) = if peer.is_null() {
        (
            time(|| layer.run(x.get(), None, y.get_mut()).unwrap()),
            None,
        )
    } else {
        // SAFETY: a layer of the shim, run on its own memory.
        let imp = unsafe { CStr::from_ptr(dnnl::tpp_dnnl_bert_impl(peer)) }
            .to_string_lossy()
            .into_owned();
        let (t, d) = time_interleaved(
            || layer.run(x.get(), None, y.get_mut()).unwrap(),
            // SAFETY: as above.
            || assert_eq!(unsafe { dnnl::tpp_dnnl_bert_run(peer, threads as i32) }, 0),
        );
        (t, Some((d, imp)))
    };
    Row {
        label: format!("bert_layer/s{seq}/{}/{threads}t", T::DTYPE),
        flops: layer.flops() as f64,
        tpp,
        dnnl,
        peak,
    }
}

/// The backward passes of a convolution layer (tpp only: the oneDNN shim has no backward
/// primitives), against the FMA peak.
fn conv_backward_rows(
    name: &str,
    (c, hw, k, rs, stride, pad): (usize, usize, usize, usize, usize, usize),
    n: usize,
    threads: usize,
    peak: f64,
) -> [Row; 2] {
    let shape = ConvShape {
        n,
        c,
        h: hw,
        w: hw,
        k,
        r: rs,
        s: rs,
    };
    let opts = ConvOptions {
        stride: (stride, stride),
        padding: (pad, pad),
        bias: true,
        ..ConvOptions::default()
    };
    let conv = Conv2d::<f32>::new(shape, opts).expect("a valid layer");
    let x = Aligned::filled(0.5f32, conv.input_layout().len());
    let w = Aligned::filled(0.01f32, conv.weight_layout().len());
    let dy = Aligned::filled(0.1f32, conv.output_layout().len());
    let mut dx = Aligned::filled(0f32, conv.input_layout().len());
    let mut dw = Aligned::filled(0f32, conv.weight_grad_layout().len());
    let mut db = vec![0f32; k];
    let data = time(|| conv.backward_data(dy.get(), w.get(), dx.get_mut()).unwrap());
    let weights = time(|| {
        conv.backward_weights(x.get(), dy.get(), dw.get_mut(), Some(&mut db))
            .unwrap()
    });
    let row = |what: &str, t: f64| Row {
        label: format!("{name}/{what}/n{n}/f32/{threads}t"),
        flops: conv.flops() as f64,
        tpp: t,
        dnnl: None,
        peak,
    };
    [row("bwd_data", data), row("bwd_weights", weights)]
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted =
        |label: &str| filter.is_empty() || filter.iter().any(|f| label.contains(f.as_str()));
    if !Peak::Fma32.available() {
        println!("ops bench: needs AVX-512 (the peak loops and the JIT kernels); skipped");
        return;
    }
    if !tpp_peers::HAVE_DNNL {
        println!("oneDNN not found at build time (apt-get install libdnnl-dev): tpp alone");
    } else if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        println!("note: OMP_WAIT_POLICY unset: oneDNN's idle OpenMP thread spins and slows the 2-thread tpp rows (set it to passive)");
    }
    let fma = peak(Peak::Fma32);
    let dot = if Peak::DotBf16.available() {
        peak(Peak::DotBf16)
    } else {
        fma
    };
    println!(
        "same-run peaks per core: FMA f32 {:.1} GFLOP/s, vdpbf16ps {:.1} GFLOP/s",
        fma / 1e9,
        dot / 1e9
    );
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        let (pf, pb) = (fma * threads as f64, dot * threads as f64);
        pool.install(|| {
            header(&format!(
                "ResNet-50 v1.5 convolutions, forward + bias + relu, {threads} thread(s)"
            ));
            let mut ratios = vec![];
            for &(name, c, hw, k, rs, st, pad) in RESNET50 {
                for n in [1, threads.max(2)] {
                    for bf in [false, true] {
                        let label = format!("{name}/n{n}/{}", if bf { "bf16" } else { "f32" });
                        if !wanted(&label) {
                            continue;
                        }
                        let row = if bf {
                            conv_row::<bf16>(name, (c, hw, k, rs, st, pad), n, threads, pb)
                        } else {
                            conv_row::<f32>(name, (c, hw, k, rs, st, pad), n, threads, pf)
                        };
                        row.print();
                        if let Some((t, _)) = &row.dnnl {
                            ratios.push(((t / row.tpp).ln(), bf));
                        }
                    }
                }
            }
            for bf in [false, true] {
                let r: Vec<f64> = ratios.iter().filter(|x| x.1 == bf).map(|x| x.0).collect();
                if !r.is_empty() {
                    println!(
                        "geomean tpp/oneDNN speed ratio, {}: {:.2}x over {} layers",
                        if bf { "bf16" } else { "f32" },
                        (r.iter().sum::<f64>() / r.len() as f64).exp(),
                        r.len()
                    );
                }
            }
            header(&format!(
                "Convolution backward passes (f32), {threads} thread(s)"
            ));
            for &(name, c, hw, k, rs, st, pad) in RESNET50 {
                let picked = [
                    "res2_branch2b",
                    "res3a_branch2b",
                    "res4_branch2c",
                    "res5_branch2b",
                ];
                if picked.contains(&name) && wanted(&format!("{name}/bwd")) {
                    for row in conv_backward_rows(
                        name,
                        (c, hw, k, rs, st, pad),
                        threads.max(2),
                        threads,
                        pf,
                    ) {
                        row.print();
                    }
                }
            }
            header(&format!(
                "BERT-base linear layers and attention, {threads} thread(s)"
            ));
            for seq in [128, 512] {
                for &(name, c, k) in BERT_LINEAR {
                    for bf in [false, true] {
                        let label =
                            format!("bert_{name}/s{seq}/{}", if bf { "bf16" } else { "f32" });
                        if wanted(&label) {
                            let row = if bf {
                                linear_row::<bf16>(name, seq, (c, k), threads, pb)
                            } else {
                                linear_row::<f32>(name, seq, (c, k), threads, pf)
                            };
                            row.print();
                        }
                    }
                }
                for bf in [false, true] {
                    let label = format!("bert_layer/s{seq}/{}", if bf { "bf16" } else { "f32" });
                    if wanted(&label) {
                        let row = if bf {
                            bert_layer_row::<bf16>(seq, threads, pb)
                        } else {
                            bert_layer_row::<f32>(seq, threads, pf)
                        };
                        row.print();
                    }
                }
                for bf in [false, true] {
                    let label =
                        format!("bert_attention/s{seq}/{}", if bf { "bf16" } else { "f32" });
                    if wanted(&label) {
                        let row = if bf {
                            attention_row::<bf16>(seq, threads, pb)
                        } else {
                            attention_row::<f32>(seq, threads, pf)
                        };
                        row.print();
                    }
                }
            }
        });
    }
}
