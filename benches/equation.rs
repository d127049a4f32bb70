//! The ready-made equations against their peers, in one process, one thread each: the same
//! chain as separate tpp kernels with temporaries (the unfused chain, `peers/equation_chains.rs`),
//! the copy of the same bytes (the bandwidth ceiling: a memcpy moving as many bytes as the
//! equation reads and writes, [`Equation::bytes`]), and oneDNN's layer normalization, softmax
//! and eltwise/binary primitives with post-ops where it has the equation.
//!
//! Criterion measures each implementation; the summary at the end is from interleaved runs in
//! the same process (medians): GB/s of the operand bytes, percent of the copy, fused over
//! unfused, tpp over oneDNN, and the largest difference of each peer's outputs from tpp's
//! (relative to the output's largest magnitude), so that a ratio is never between different
//! computations.
//!
//! `cargo bench --bench equation` (add a filter, e.g. `-- 'layer_norm|softmax/'`, to run fewer
//! cases)

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::ffi::c_void;
use std::time::Instant;
use tpp::*;
use tpp_peers::{dnnl, Aligned};

#[path = "peers/equation_chains.rs"]
mod chains;
use chains::{Chain, Unfused};

/// The dropout seed of every run (fused and unfused draw the same mask from it).
const SEED: u64 = 0x5eed;
/// Epsilon of the norms.
const EPS: f32 = 1e-5;
/// Dropout probability.
const P: f32 = 0.1;

/// The ready-made equations.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Which {
    LayerNorm,
    LayerNormBackward,
    RmsNorm,
    RmsNormBackward,
    Softmax,
    SoftmaxBackward,
    BiasGelu,
    DropoutResidual,
    SiluGate,
    AdamW,
    SgdMomentum,
}

const ALL: [Which; 11] = [
    Which::LayerNorm,
    Which::LayerNormBackward,
    Which::RmsNorm,
    Which::RmsNormBackward,
    Which::Softmax,
    Which::SoftmaxBackward,
    Which::BiasGelu,
    Which::DropoutResidual,
    Which::SiluGate,
    Which::AdamW,
    Which::SgdMomentum,
];

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::LayerNorm => "layer_norm",
            Which::LayerNormBackward => "layer_norm_bwd",
            Which::RmsNorm => "rms_norm",
            Which::RmsNormBackward => "rms_norm_bwd",
            Which::Softmax => "softmax",
            Which::SoftmaxBackward => "softmax_bwd",
            Which::BiasGelu => "bias_gelu",
            Which::DropoutResidual => "dropout_residual",
            Which::SiluGate => "silu_gate",
            Which::AdamW => "adamw",
            Which::SgdMomentum => "sgd_momentum",
        }
    }

    /// The equation; `dt` is the activations' dtype (the gradient's for the optimizers).
    fn equation(self, rows: usize, cols: usize, dt: DType) -> Equation {
        use tpp::equations as e;
        match self {
            Which::LayerNorm => e::layer_norm(rows, cols, dt, EPS),
            Which::LayerNormBackward => e::layer_norm_backward(rows, cols, dt),
            Which::RmsNorm => e::rms_norm(rows, cols, dt, EPS),
            Which::RmsNormBackward => e::rms_norm_backward(rows, cols, dt),
            Which::Softmax => e::softmax(rows, cols, dt),
            Which::SoftmaxBackward => e::softmax_backward(rows, cols, dt),
            Which::BiasGelu => e::bias_activation(rows, cols, dt, UnaryOp::Gelu),
            Which::DropoutResidual => e::dropout_residual(rows, cols, dt, P),
            Which::SiluGate => e::silu_gate(rows, cols, dt),
            Which::AdamW => e::adamw(rows, cols, dt),
            Which::SgdMomentum => e::sgd_momentum(rows, cols, dt),
        }
    }

    /// The unfused chain of separate kernels; full-matrix temporaries are activations of `dt`
    /// (f32 for the optimizers, whose state is f32).
    fn chain(self, eq: &Equation, dt: DType) -> Result<Unfused> {
        let act = match self {
            Which::AdamW | Which::SgdMomentum => DType::F32,
            _ => dt,
        };
        let mut c = Chain::new(eq, act);
        match self {
            Which::LayerNorm => chains::layer_norm(&mut c, EPS),
            Which::LayerNormBackward => chains::layer_norm_backward(&mut c),
            Which::RmsNorm => chains::rms_norm(&mut c, EPS),
            Which::RmsNormBackward => chains::rms_norm_backward(&mut c),
            Which::Softmax => chains::softmax(&mut c),
            Which::SoftmaxBackward => chains::softmax_backward(&mut c),
            Which::BiasGelu => chains::bias_activation(&mut c, UnaryOp::Gelu),
            Which::DropoutResidual => chains::dropout_residual(&mut c, P),
            Which::SiluGate => chains::silu_gate(&mut c),
            Which::AdamW => chains::adamw(&mut c),
            Which::SgdMomentum => chains::sgd_momentum(&mut c),
        }
        c.finish()
    }

    /// The range of each input's values, in call order (`lo == hi`: that value): realistic
    /// magnitudes, positive where the formula needs it (rstd, the second moment).
    fn ranges(self) -> Vec<(f32, f32)> {
        let (x, unit, pos) = ((-2.0, 2.0), (-1.0, 1.0), (0.5, 1.5));
        match self {
            Which::LayerNorm => vec![x, pos, (-0.5, 0.5)],
            Which::LayerNormBackward => vec![unit, x, (-0.1, 0.1), pos, pos],
            Which::RmsNorm => vec![x, pos],
            Which::RmsNormBackward => vec![unit, x, pos, pos],
            Which::Softmax => vec![(-4.0, 4.0)],
            Which::SoftmaxBackward => vec![unit, (0.0, 0.01)],
            Which::BiasGelu => vec![(-4.0, 4.0), unit],
            Which::DropoutResidual => vec![x, x],
            Which::SiluGate => vec![(-4.0, 4.0), x],
            Which::AdamW => {
                let (b1, b2) = (0.9f32, 0.999f32);
                let s = |v: f32| (v, v);
                vec![
                    unit,
                    unit,
                    (-0.1, 0.1),
                    (0.0, 0.01),
                    s(1e-3),
                    s(b1),
                    s(b2),
                    s(1e-8),
                    s(0.01),
                    s(1.0 / (1.0 - b1.powi(10))),
                    s(1.0 / (1.0 - b2.powi(10))),
                ]
            }
            Which::SgdMomentum => vec![
                unit,
                unit,
                (-0.1, 0.1),
                (0.01, 0.01),
                (0.9, 0.9),
                (1e-4, 1e-4),
            ],
        }
    }
}

/// An operand of any dtype the equations use.
enum Data {
    F32(Aligned<f32>),
    BF16(Aligned<bf16>),
    U8(Aligned<u8>),
}

impl Default for Data {
    fn default() -> Self {
        Data::U8(Aligned::new(std::iter::empty(), 0, 0))
    }
}

impl Data {
    fn zeros(dt: DType, len: usize) -> Data {
        match dt {
            DType::F32 => Data::F32(Aligned::new(std::iter::repeat_n(0.0, len), len, 0.0)),
            DType::BF16 => Data::BF16(Aligned::new(
                std::iter::repeat_n(bf16::ZERO, len),
                len,
                bf16::ZERO,
            )),
            DType::U8 => Data::U8(Aligned::new(std::iter::repeat_n(0, len), len, 0)),
            _ => panic!("no {dt:?} operands here"),
        }
    }

    /// `len` values spread over `[lo, hi]` by a multiplicative hash of the index.
    fn fill(dt: DType, len: usize, (lo, hi): (f32, f32), seed: u32) -> Data {
        let v = (0..len).map(move |i| {
            let h = ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) >> 8;
            lo + (hi - lo) * (h as f32 / (1u32 << 24) as f32)
        });
        match dt {
            DType::F32 => Data::F32(Aligned::new(v, len, 0.0)),
            DType::BF16 => Data::BF16(Aligned::new(v.map(bf16::from_f32), len, bf16::ZERO)),
            _ => panic!("no {dt:?} inputs here"),
        }
    }

    fn as_in(&self) -> In<'_> {
        match self {
            Data::F32(v) => v.get().into(),
            Data::BF16(v) => v.get().into(),
            Data::U8(v) => v.get().into(),
        }
    }

    fn as_out(&mut self) -> Out<'_> {
        match self {
            Data::F32(v) => v.get_mut().into(),
            Data::BF16(v) => v.get_mut().into(),
            Data::U8(v) => v.get_mut().into(),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Data::U8(v) => v.get_mut(),
            _ => panic!("a bitmask is a u8 operand"),
        }
    }

    /// The address, for oneDNN (which reads through it for inputs).
    fn ptr(&self) -> *mut c_void {
        match self {
            Data::F32(v) => v.get().as_ptr() as *mut c_void,
            Data::BF16(v) => v.get().as_ptr() as *mut c_void,
            Data::U8(v) => v.get().as_ptr() as *mut c_void,
        }
    }

    fn to_f32(&self) -> Vec<f32> {
        match self {
            Data::F32(v) => v.get().to_vec(),
            Data::BF16(v) => v.get().iter().map(|x| x.to_f32()).collect(),
            Data::U8(v) => v.get().iter().map(|&x| x as f32).collect(),
        }
    }
}

/// An equation's operands, in call order; every implementation reads and writes these.
struct Operands {
    inputs: Vec<Data>,
    outputs: Vec<Data>,
}

fn operands(w: Which, eq: &Equation) -> Operands {
    let ranges = w.ranges();
    let inputs = eq
        .inputs()
        .iter()
        .enumerate()
        .map(|(n, i)| Data::fill(i.dtype, eq.input_len(n), ranges[n], n as u32 + 1))
        .collect();
    let outputs = eq
        .outputs()
        .iter()
        .enumerate()
        .map(|(n, o)| match o.kind {
            EqOutputKind::Value { dtype, .. } => Data::zeros(dtype, eq.output_len(n)),
            EqOutputKind::Mask { .. } => Data::zeros(DType::U8, eq.output_len(n)),
        })
        .collect();
    Operands { inputs, outputs }
}

/// One run of an implementation over the operands.
type Run = Box<dyn FnMut(&mut Operands)>;

/// A named implementation, and the outputs it writes that are comparable with tpp's.
struct Runner {
    who: &'static str,
    run: Run,
    checked: Vec<usize>,
}

#[derive(Clone, Copy)]
struct Case {
    w: Which,
    rows: usize,
    cols: usize,
    dt: DType,
}

impl Case {
    fn name(&self) -> String {
        format!("{}/{}x{}/{}", self.w.name(), self.rows, self.cols, self.dt).to_lowercase()
    }
    /// The equation and dtype, without the size.
    fn kind(&self) -> String {
        format!("{}/{}", self.w.name(), self.dt.to_string().to_lowercase())
    }
}

fn cases() -> Vec<Case> {
    let mut v = vec![];
    for (rows, cols) in [(512, 512), (4096, 1024)] {
        for dt in [DType::F32, DType::BF16] {
            for w in ALL {
                v.push(Case { w, rows, cols, dt });
            }
        }
    }
    v
}

/// oneDNN's primitive for the equation, where it has one (same operands, one thread) with an
/// optimised implementation; a note says which implementation it picked, or why none.
fn dnnl_runner(c: &Case, notes: &mut Vec<String>) -> Option<Runner> {
    let (bf, r, k) = (i32::from(c.dt == DType::BF16), c.rows as i64, c.cols as i64);
    // SAFETY: the constructors only read their scalar arguments.
    let op = unsafe {
        match c.w {
            Which::LayerNorm => dnnl::tpp_dnnl_layer_norm(bf, r, k, EPS),
            Which::Softmax => dnnl::tpp_dnnl_softmax(bf, r, k),
            Which::BiasGelu => dnnl::tpp_dnnl_bias_gelu(bf, r, k),
            Which::SiluGate => dnnl::tpp_dnnl_silu_gate(bf, r, k),
            _ => return None,
        }
    };
    if op.is_null() {
        notes.push(format!("{}: oneDNN cannot build its primitive", c.name()));
        return None;
    }
    // SAFETY: `op` is a primitive of the shim; the name lives as long as it.
    let imp = unsafe { dnnl::tpp_dnnl_impl(op) };
    let imp = if imp.is_null() {
        "?".to_string()
    } else {
        // SAFETY: a NUL-terminated string owned by the primitive.
        unsafe { std::ffi::CStr::from_ptr(imp) }
            .to_string_lossy()
            .into_owned()
    };
    if imp.starts_with("ref") {
        // Its reference loops (oneDNN 2.6 runs an eltwise with a binary post-op there, about
        // 100× slower than its JIT kernels): no peer worth a ratio.
        let note = format!(
            "{}: oneDNN picks its reference implementation ({imp}): left out",
            c.kind()
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
        return None;
    }
    let note = format!("{}: oneDNN implementation {imp}", c.kind());
    if !notes.contains(&note) {
        notes.push(note);
    }
    let w = c.w;
    // oneDNN writes the variance where tpp writes rstd: a buffer of its own.
    let mut variance = vec![0f32; c.rows];
    let run = move |o: &mut Operands| {
        let (i, out) = (&o.inputs, &o.outputs);
        let p: Vec<*mut c_void> = match w {
            Which::LayerNorm => vec![
                i[0].ptr(),
                out[0].ptr(),
                out[1].ptr(),
                variance.as_mut_ptr().cast(),
                i[1].ptr(),
                i[2].ptr(),
            ],
            Which::Softmax => vec![i[0].ptr(), out[0].ptr()],
            // bias_gelu (x, bias) and silu_gate (a, b).
            _ => vec![i[0].ptr(), i[1].ptr(), out[0].ptr()],
        };
        // SAFETY: each pointer holds the shape the primitive was built for (the equation's
        // operands of the same case).
        let rc = unsafe { dnnl::tpp_dnnl_run_n(op, p.as_ptr()) };
        assert_eq!(rc, 0, "oneDNN failed");
    };
    let checked = if w == Which::LayerNorm {
        vec![0, 1]
    } else {
        vec![0]
    };
    Some(Runner {
        who: "onednn",
        run: Box::new(run),
        checked,
    })
}

/// Every implementation of a case: tpp first, the copy second, then the peers.
fn runners(c: &Case, eq: &Equation, notes: &mut Vec<String>) -> (Vec<Runner>, usize) {
    let k = eq.dispatch().expect("a ready-made equation dispatches");
    let tpp = move |o: &mut Operands| {
        let ins: Vec<In> = o.inputs.iter().map(Data::as_in).collect();
        let mut outs: Vec<Out> = o.outputs.iter_mut().map(Data::as_out).collect();
        k.call_with(&ins, None, &mut outs, SEED).unwrap();
    };
    let half = (eq.bytes() / 2) as usize;
    let (src, mut dst) = (vec![1u8; half], vec![0u8; half]);
    let copy = move |_: &mut Operands| dst.copy_from_slice(&src);
    let mut v = vec![
        Runner {
            who: "tpp",
            run: Box::new(tpp),
            checked: vec![],
        },
        Runner {
            who: "copy",
            run: Box::new(copy),
            checked: vec![],
        },
    ];
    let mut unfused = c.w.chain(eq, c.dt).expect("every chain step dispatches");
    let kernels = unfused.kernels();
    for r in &unfused.reference {
        notes.push(format!(
            "{}: unfused step {r} runs on the reference backend",
            c.name()
        ));
    }
    v.push(Runner {
        who: "unfused",
        run: Box::new(move |o: &mut Operands| {
            unfused.run(&o.inputs, &mut o.outputs, SEED).unwrap()
        }),
        checked: (0..eq.outputs().len()).collect(),
    });
    v.extend(dnnl_runner(c, notes));
    (v, kernels)
}

/// Largest `|a − b|` over output `n`, relative to the largest `|tpp|` there.
fn rel_diff(tpp: &[f32], other: &[f32]) -> f64 {
    let scale = tpp.iter().fold(0f64, |m, &x| m.max(x.abs() as f64));
    let diff = tpp
        .iter()
        .zip(other)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    if scale > 0.0 {
        diff / scale
    } else {
        diff
    }
}

/// One line of the summary.
struct Row {
    case: Case,
    mb: f64,
    passes: usize,
    /// First dispatch of the equation (µs) and a cached one (ns).
    new_us: f64,
    cached_ns: f64,
    kernels: usize,
    who: Vec<&'static str>,
    gbs: Vec<f64>,
    diffs: Vec<Option<f64>>,
}

fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    #[cfg(target_arch = "x86_64")]
    {
        let c = tpp::dispatch::caps::x86();
        format!(
            "{model} (AVX-512 {}, AVX512-BF16 {}, AMX {})",
            c.avx512, c.avx512_bf16, c.amx_tile
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    model
}

fn bench(crit: &mut Criterion) {
    // Criterion's filter is a regex; alternatives (`a|b`) are all this summary needs.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .flat_map(|a| a.split('|').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let full = std::env::args().any(|a| a == "--bench");
    let mut summary = vec![];
    let mut notes = vec![];
    for c in cases() {
        let name = c.name();
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        // `cargo test --all-targets` runs each bench once: the small cases say enough there.
        if !full && c.rows > 512 {
            continue;
        }
        let eq = c.w.equation(c.rows, c.cols, c.dt);
        let bytes = eq.bytes();
        // Dispatch: a new equation (validation, lowering, JIT) is timed on this one and on
        // four siblings a few rows shorter (distinct cache entries with the same passes), the
        // median of the five; then a cached dispatch of this one, averaged.
        let mut firsts: Vec<f64> = (0..5)
            .map(|d| {
                let e = c.w.equation(c.rows - 4 + d, c.cols, c.dt);
                let t = Instant::now();
                e.dispatch().expect("a ready-made equation dispatches");
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        firsts.sort_by(f64::total_cmp);
        let new_us = firsts[2];
        let passes = eq.dispatch().expect("dispatch").passes();
        let n = 10_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(std::hint::black_box(&eq).dispatch().unwrap());
        }
        let cached_ns = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        let mut ops = operands(c.w, &eq);
        let (mut rs, kernels) = runners(&c, &eq, &mut notes);
        // One run of tpp, then each peer: how far its outputs are from tpp's.
        (rs[0].run)(&mut ops);
        let want: Vec<Vec<f32>> = ops.outputs.iter().map(Data::to_f32).collect();
        let mut diffs = vec![None; rs.len()];
        for (d, r) in diffs.iter_mut().zip(rs.iter_mut()).skip(2) {
            (r.run)(&mut ops);
            let got = r
                .checked
                .iter()
                .map(|&n| rel_diff(&want[n], &ops.outputs[n].to_f32()))
                .fold(0f64, f64::max);
            *d = Some(got);
            // bf16 temporaries (unfused) and bf16 rounding of different orders of operations.
            let tol = if c.dt == DType::BF16 { 5e-2 } else { 2e-3 };
            if got > tol {
                notes.push(format!(
                    "{name}: {}'s outputs differ from tpp's by {got:.1e} of their magnitude",
                    r.who
                ));
            }
        }
        let mut g = crit.benchmark_group(&name);
        g.throughput(Throughput::Bytes(bytes));
        for r in rs.iter_mut() {
            g.bench_function(r.who, |b| b.iter(|| (r.run)(&mut ops)));
        }
        g.finish();
        if full {
            // Interleaved: every repetition runs every implementation once.
            let reps = if c.rows >= 4096 { 11 } else { 51 };
            let mut t = vec![vec![]; rs.len()];
            for _ in 0..reps {
                for (i, r) in rs.iter_mut().enumerate() {
                    let s = Instant::now();
                    (r.run)(&mut ops);
                    t[i].push(s.elapsed().as_secs_f64());
                }
            }
            let gbs = t
                .iter_mut()
                .map(|v| {
                    v.sort_by(f64::total_cmp);
                    bytes as f64 / v[v.len() / 2] / 1e9
                })
                .collect();
            summary.push(Row {
                case: c,
                mb: bytes as f64 / 1e6,
                passes,
                new_us,
                cached_ns,
                kernels,
                who: rs.iter().map(|r| r.who).collect(),
                gbs,
                diffs,
            });
        }
    }
    if full {
        print_summary(&summary);
    }
    for n in &notes {
        println!("note: {n}");
    }
}

fn print_summary(rows: &[Row]) {
    println!("\nCPU: {}; one thread each", cpu());
    if !tpp_peers::HAVE_DNNL {
        println!(
            "oneDNN not found: install Debian's libdnnl-dev and rebuild to compare against it"
        );
    }
    println!(
        "GB/s = the equation's operand bytes (Equation::bytes) / median time of interleaved runs; \
         Δ = largest output difference from tpp, relative to the output's largest magnitude; \
         new µs = a first dispatch (median of five new equations of the case), hit ns = a \
         cached one\n"
    );
    println!(
        "{:<31} {:>6} {:>6} {:>9} {:>7} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7}",
        "case",
        "MB",
        "passes",
        "tpp GB/s",
        "% copy",
        "kernels",
        "unfused",
        "fused×",
        "oneDNN",
        "tpp×",
        "Δ unfus",
        "Δ 1dnn",
        "new µs",
        "hit ns"
    );
    let mut missed = vec![];
    for r in rows {
        let at = |w: &str| r.who.iter().position(|&x| x == w);
        let g = &r.gbs;
        let pct = 100.0 * g[0] / g[1];
        let unf = at("unfused").map(|i| g[i]);
        let dn = at("onednn").map(|i| g[i]);
        let gbs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}x", g[0] / v));
        let diff = |w: &str| {
            at(w)
                .and_then(|i| r.diffs[i])
                .map_or("-".into(), |d| format!("{d:.1e}"))
        };
        println!(
            "{:<31} {:>6.1} {:>6} {:>9.1} {:>6.0}% {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8.0} {:>7.1}",
            r.case.name(),
            r.mb,
            r.passes,
            g[0],
            pct,
            r.kernels,
            gbs(unf),
            ratio(unf),
            gbs(dn),
            ratio(dn),
            diff("unfused"),
            diff("onednn"),
            r.new_us,
            r.cached_ns,
        );
        // The goals, where they apply.
        let big = r.case.rows >= 4096;
        if big && r.case.dt == DType::F32 && pct < 85.0 {
            missed.push(format!(
                "{}: {pct:.0}% of the copy (goal ≥ 85%)",
                r.case.name()
            ));
        }
        if let (true, true, Some(u)) = (big, r.kernels >= 3, unf) {
            if g[0] / u < 2.0 {
                missed.push(format!(
                    "{}: {:.3}× the unfused chain of {} kernels (goal ≥ 2×)",
                    r.case.name(),
                    g[0] / u,
                    r.kernels
                ));
            }
        }
        if let (Which::LayerNorm | Which::Softmax, Some(d)) = (r.case.w, dn) {
            if g[0] / d < 1.5 {
                missed.push(format!(
                    "{}: {:.3}× oneDNN (goal ≥ 1.5×)",
                    r.case.name(),
                    g[0] / d
                ));
            }
        }
    }
    // Dispatch, over all cases: the median and the worst against the goals.
    for (what, goal, unit, get) in [
        (
            "first dispatch",
            200.0,
            "µs",
            (|r: &Row| r.new_us) as fn(&Row) -> f64,
        ),
        ("cached dispatch", 50.0, "ns", |r: &Row| r.cached_ns),
    ] {
        let mut v: Vec<(f64, String)> = rows.iter().map(|r| (get(r), r.case.name())).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let over = v.iter().filter(|x| x.0 >= goal).count();
        let (worst, at) = &v[v.len() - 1];
        let line = format!(
            "{what}: median {:.1} {unit}, worst {worst:.1} {unit} ({at}); {over} of {} cases at or \
             over the goal of {goal} {unit}",
            v[v.len() / 2].0,
            v.len()
        );
        println!("{line}");
        if over > 0 {
            missed.push(line);
        }
    }
    if missed.is_empty() {
        println!("\nEvery performance goal of issue 11 that this bench measures is met.");
    } else {
        println!("\nPerformance goals of issue 11 missed in this run:");
        for m in missed {
            println!("  {m}");
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(100))
        .measurement_time(std::time::Duration::from_millis(300))
        .sample_size(10);
    targets = bench
}
criterion_main!(benches);
