//! GEMM cases and their runners (tpp and every peer), shared by the GEMM bench and the
//! showcase: operands, interleaved timing, and the summary table.

use super::peers::{self, Peak, Shape};
use std::time::Instant;
use tpp::exec::GemmArgs;
use tpp::kernels_x86::amx::TileDot;
use tpp::*;

/// The element type of a case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    F32,
    /// bf16 A and VNNI2 B, f32 C.
    Bf16,
    /// u8 A and VNNI4 i8 B, i32 C.
    Int8,
}

pub struct Case {
    pub label: String,
    pub kind: Kind,
    pub s: Shape,
}

/// The AMX tile kernel's code for the case (none off x86-64).
fn amx_code(c: &Case) -> Option<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    return tpp::backend::amx::generate_code(&desc(c)).ok();
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = c;
        None
    }
}

/// Whether AMX tiles are usable in this process (never off x86-64: the benches then compare
/// the other kernels only).
fn amx_usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    return tpp::backend::amx::usable();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

impl Case {
    pub fn flops(&self) -> f64 {
        2.0 * (self.s.m * self.s.n * self.s.k * self.s.batch.max(1)) as f64
    }
    /// The instruction the case is bound by: the tile unit's where tpp's kernels run on AMX.
    pub fn peak(&self) -> Bound {
        let tiles = amx_usable();
        let caps = tpp::dispatch::caps::x86();
        match self.kind {
            Kind::F32 => Bound::Vector(Peak::Fma32),
            Kind::Bf16 if tiles && caps.amx_bf16 => Bound::Tile(TileDot::Bf16),
            Kind::Bf16 => Bound::Vector(Peak::DotBf16),
            Kind::Int8 if tiles && caps.amx_int8 => Bound::Tile(TileDot::Int8 {
                a_signed: false,
                b_signed: true,
            }),
            Kind::Int8 => Bound::Vector(Peak::DotU8I8),
        }
    }
}

/// What a case's percent of peak refers to: a vector multiply's register-only loop (from the
/// peers crate) or the AMX tile unit's (tpp's own loop: the peers crate knows nothing of tpp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bound {
    Vector(Peak),
    Tile(TileDot),
}

impl Bound {
    /// Whether this CPU (and process) can run the instruction.
    pub fn available(self) -> bool {
        match self {
            Bound::Vector(p) => p.available(),
            Bound::Tile(dot) => {
                let c = tpp::dispatch::caps::x86();
                let unit = match dot {
                    TileDot::Bf16 => c.amx_bf16,
                    TileDot::Int8 { .. } => c.amx_int8,
                };
                unit && amx_usable()
            }
        }
    }
    /// Its register-only rate in this run, operations per second.
    pub fn measure(self) -> f64 {
        match self {
            Bound::Vector(p) => peers::peak(p),
            #[cfg(target_arch = "x86_64")]
            Bound::Tile(dot) => tpp::backend::amx::measure_peak(dot).unwrap_or(f64::NAN),
            #[cfg(not(target_arch = "x86_64"))]
            Bound::Tile(_) => f64::NAN,
        }
    }
}

/// Operands of a case: `batch.max(1)` packed A and B, one C (raw bits for bf16).
pub struct Buffers {
    a32: Vec<f32>,
    b32: Vec<f32>,
    a16: Vec<u16>,
    b16: Vec<u16>,
    c: Vec<f32>,
}

pub fn buffers(s: Shape) -> Buffers {
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

pub type Run = Box<dyn Fn(&mut Buffers)>;

/// The descriptor of a case.
fn desc(c: &Case) -> GemmDesc {
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
    d
}

/// tpp's kernel for the case: the automatic choice, or the one of `backend`.
pub fn tpp_runner(c: &Case, backend: Option<&str>) -> Run {
    let d = desc(c);
    let k = match backend {
        None => d.dispatch(),
        Some(b) => dispatch_on(&d, b),
    }
    .expect("valid descriptor");
    if k.is_reference() {
        println!("note: {} runs on the reference backend", k.name());
    }
    kernel_runner(c, move |args| {
        // SAFETY: the buffers hold `batch` packed operands of the descriptor's shape.
        unsafe { k.call_raw(args) }
    })
}

/// The AMX tile kernel of the case whatever its size (the automatic choice stops at the
/// cross-over), where tiles are usable.
pub fn tiles_runner(c: &Case) -> Option<Run> {
    if !amx_usable() {
        return None;
    }
    let code = amx_code(c)?;
    let code = tpp::exec::arena::install(&code).ok()?;
    // SAFETY: the tile generator emits a complete `extern "C" fn(*const GemmArgs)`, and tiles
    // are usable in this process.
    let f = unsafe {
        std::mem::transmute::<*const u8, unsafe extern "C" fn(*const GemmArgs)>(code.ptr())
    };
    Some(kernel_runner(c, move |args| {
        // SAFETY: as for `tpp_runner`.
        unsafe { f(args) }
    }))
}

/// A runner calling `call` on the case's operands.
fn kernel_runner(c: &Case, call: impl Fn(&GemmArgs) + 'static) -> Run {
    let s = c.s;
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
        call(&args)
    })
}

pub fn runners(c: &Case) -> Vec<(String, Run)> {
    let s = c.s;
    let mut v: Vec<(String, Run)> = vec![("tpp".into(), tpp_runner(c, None))];
    // tpp's own alternatives (shown, never counted as peers): the AVX-512 dot products and,
    // for the cross-over cases, the tile kernel below the size where dispatch picks it.
    if matches!(c.peak(), Bound::Tile(_)) {
        v.push(("tpp-avx512".into(), tpp_runner(c, Some("avx512"))));
        if c.label.starts_with("crossover/") {
            if let Some(r) = tiles_runner(c) {
                v.push(("tpp-amx".into(), r));
            }
        }
    }
    match c.kind {
        Kind::F32 => {
            if let Some(x) = super::peers::xsmm_f32(s) {
                v.push((
                    "libxsmm".into(),
                    Box::new(move |b: &mut Buffers| {
                        super::peers::xsmm_f32_run(x, s, &b.a32, &b.b32, &mut b.c)
                    }),
                ));
            }
            if super::peers::openblas().is_some() {
                v.push((
                    "openblas".into(),
                    Box::new(move |b: &mut Buffers| {
                        super::peers::openblas_f32(s, &b.a32, &b.b32, &mut b.c);
                    }),
                ));
            }
            v.push((
                "gemm-crate".into(),
                Box::new(move |b: &mut Buffers| {
                    super::peers::gemm_crate_f32(s, &b.a32, &b.b32, &mut b.c)
                }),
            ));
        }
        // LIBXSMM 1.17's int8 GEMM needs its own flag set; tpp is measured against the peak.
        Kind::Int8 => {}
        Kind::Bf16 => {
            if let Some(x) = super::peers::xsmm_bf16(s) {
                v.push((
                    "libxsmm".into(),
                    Box::new(move |b: &mut Buffers| {
                        super::peers::xsmm_bf16_run(x, s, &b.a16, &b.b16, &mut b.c)
                    }),
                ));
            }
            if let Some(r) = onednn_bf16(s) {
                v.push(("onednn-matmul".into(), r));
            }
        }
    }
    v
}

/// oneDNN's bf16 matmul (AMX where the CPU has it, picked by oneDNN itself) on the same flops
/// as the case: `m × n × (k·batch)`, one call, B prepacked as oneDNN wants it. (A batch-reduce
/// is that product with A and B cut into `batch` blocks; oneDNN has no BRGEMM in its API.)
fn onednn_bf16(s: Shape) -> Option<Run> {
    use tpp_peers::dnnl;
    if !tpp_peers::HAVE_DNNL {
        return None;
    }
    let kk = s.k * s.batch.max(1);
    let b = vec![0x3f80u16; kk * s.n];
    // SAFETY: B holds kk × n bf16; oneDNN copies it into its own layout.
    let mm =
        unsafe { dnnl::tpp_dnnl_matmul(1, s.m as i64, s.n as i64, kk as i64, b.as_ptr().cast()) };
    if mm.is_null() {
        return None;
    }
    let a = vec![0x3f80u16; s.m * kk];
    let c = std::cell::RefCell::new(vec![0f32; s.m * s.n]);
    Some(Box::new(move |_: &mut Buffers| {
        let cp = c.borrow_mut().as_mut_ptr();
        // SAFETY: A holds m × kk bf16, C m × n f32.
        let rc = unsafe { dnnl::tpp_dnnl_matmul_run(mm, a.as_ptr().cast(), cp, 1) };
        assert_eq!(rc, 0, "oneDNN matmul failed");
    }))
}

/// Median seconds of one call of each runner, from interleaved repetitions.
pub fn interleaved(rs: &[(String, Run)], bufs: &mut Buffers, flops: f64) -> Vec<f64> {
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

/// One measured case: the implementations' names, their GFLOP/s and the same-run peak.
pub struct Row {
    pub label: String,
    pub who: Vec<String>,
    pub gflops: Vec<f64>,
    pub peak: f64,
}

/// Times every implementation of `c` interleaved (`peak`: the instruction's same-run rate).
pub fn measure(c: &Case, peak: f64) -> Row {
    let mut bufs = buffers(c.s);
    let rs = runners(c);
    let secs = interleaved(&rs, &mut bufs, c.flops());
    // tpp's row names the backend its kernel came from (`tpp:amx`, `tpp:avx512`).
    let backend = desc(c).dispatch().map(|k| k.backend()).unwrap_or("?");
    Row {
        label: c.label.clone(),
        who: rs
            .iter()
            .map(|r| match r.0.as_str() {
                "tpp" => format!("tpp:{backend}"),
                w => w.to_string(),
            })
            .collect(),
        gflops: secs.iter().map(|s| c.flops() / s / 1e9).collect(),
        peak,
    }
}

/// Prints the table: GFLOP/s, the best peer, the ratio to it, percent of the peak.
pub fn print_summary(rows: &[Row]) {
    if !peers::HAVE_XSMM {
        println!(
            "LIBXSMM not found: install Debian's libxsmm-dev (and libopenblas-dev) and rebuild"
        );
    } else if let Some(t) = peers::xsmm_target() {
        println!("LIBXSMM code path on this CPU: {t}");
    }
    if peers::openblas().is_none() {
        println!("OpenBLAS not found: install Debian's libopenblas-dev and rebuild");
    }
    println!(
        "{:<28} {:>10} {:>26} {:>7} {:>7}",
        "case", "tpp GF/s", "best peer (GF/s)", "ratio", "% peak"
    );
    for r in rows {
        let best = (1..r.who.len())
            .filter(|&i| !r.who[i].starts_with("tpp"))
            .max_by(|&a, &b| r.gflops[a].total_cmp(&r.gflops[b]));
        let (peer, ratio) = match best {
            Some(i) => (
                format!("{} ({:.1})", r.who[i], r.gflops[i]),
                format!("{:.2}x", r.gflops[0] / r.gflops[i]),
            ),
            None => ("-".into(), "-".into()),
        };
        let all: Vec<String> = (r.who.iter().zip(&r.gflops))
            .map(|(w, g)| format!("{w} {g:.1}"))
            .collect();
        println!(
            "{:<28} {:>10.1} {:>26} {:>7} {:>6.0}%  [{}]",
            r.label,
            r.gflops[0],
            peer,
            ratio,
            100.0 * r.gflops[0] * 1e9 / r.peak,
            all.join(", ")
        );
    }
}
