//! The large GEMM (`tpp::ops::matmul`, BRGEMM composition) against OpenBLAS, BLIS and oneDNN's
//! matmul (Debian's libopenblas-dev, libblis-dev, libdnnl-dev) and the `gemm` crate, on 1 and 2
//! threads, interleaved in one process, with the FMA peak measured in the same run.
//!
//! `cargo bench --bench gemm_large` (a filter such as `-- 1024` runs fewer cases). Square f32
//! and bf16 from 256 to 4096 and skinny f32 shapes; row-major, C = A·B. oneDNN gets its weights
//! (B) prepacked; bf16 is compared with oneDNN only (the BLAS libraries have no bf16 GEMM).

use std::time::Instant;
use tpp::bf16;
use tpp::ops::{matmul, Matmul};

use tpp_peers::gemm as peers;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    F32,
    Bf16,
}

struct Case {
    label: String,
    kind: Kind,
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
}

fn cases() -> Vec<Case> {
    let mut v = vec![];
    for threads in [1, 2] {
        for kind in [Kind::F32, Kind::Bf16] {
            for s in [256, 512, 1024, 2048, 4096] {
                let t = if kind == Kind::F32 { "f32" } else { "bf16" };
                v.push(Case {
                    label: format!("{t}/{s}³/{threads}t"),
                    kind,
                    m: s,
                    n: s,
                    k: s,
                    threads,
                });
            }
        }
        for (m, n, k) in [(4096, 64, 4096), (64, 4096, 4096), (4096, 4096, 64)] {
            v.push(Case {
                label: format!("f32/{m}x{n}x{k}/{threads}t"),
                kind: Kind::F32,
                m,
                n,
                k,
                threads,
            });
        }
    }
    v
}

type BlisThreads = unsafe extern "C" fn(i64);
/// CBLAS's `cblas_sgemm`, as the OpenBLAS peer has it.
use peers::Sgemm as Cblas;

/// BLIS, loaded at run time (its own handle, as for OpenBLAS).
struct Blis {
    set_threads: BlisThreads,
    sgemm: Cblas,
}

fn blis() -> Option<&'static Blis> {
    static LIB: std::sync::OnceLock<Option<Blis>> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        // BLIS's auto-detection picks its AVX2 kernels on this CPU; its AVX-512 ones are "skx".
        if std::env::var_os("BLIS_ARCH_TYPE").is_none() {
            std::env::set_var("BLIS_ARCH_TYPE", "skx");
        }
        for name in [c"libblis.so.4", c"libblis.so"] {
            // SAFETY: dlopen/dlsym with NUL-terminated names; the symbols have these signatures.
            unsafe {
                let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if h.is_null() {
                    continue;
                }
                let set = libc::dlsym(h, c"bli_thread_set_num_threads".as_ptr());
                let gemm = libc::dlsym(h, c"cblas_sgemm".as_ptr());
                if set.is_null() || gemm.is_null() {
                    continue;
                }
                return Some(Blis {
                    set_threads: std::mem::transmute::<*mut std::ffi::c_void, BlisThreads>(set),
                    sgemm: std::mem::transmute::<*mut std::ffi::c_void, Cblas>(gemm),
                });
            }
        }
        None
    })
    .as_ref()
}

use tpp_peers::dnnl;

type Run = Box<dyn FnMut()>;

fn fill(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2_654_435_761) ^ seed) >> 9) as f32 / (1 << 23) as f32 - 0.5
        })
        .collect()
}

fn runners(c: &Case) -> Vec<(String, Run)> {
    let (m, n, k, t) = (c.m, c.n, c.k, c.threads);
    let pool = std::sync::Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap(),
    );
    let a = fill(m * k, 1);
    let b = fill(k * n, 2);
    let mut v: Vec<(String, Run)> = vec![];
    let p = Matmul::new(m, n, k);
    match c.kind {
        Kind::F32 => {
            let (aa, bb, mut cc) = (a.clone(), b.clone(), vec![0f32; m * n]);
            let pl = pool.clone();
            v.push((
                "tpp".into(),
                Box::new(move || pl.install(|| matmul(&p, &aa, &bb, &mut cc).unwrap())),
            ));
            if let Some(ob) = peers::openblas() {
                let (aa, bb, mut cc) = (a.clone(), b.clone(), vec![0f32; m * n]);
                v.push((
                    "openblas".into(),
                    Box::new(move || {
                        ob.threads(t);
                        ob.sgemm((m, n, k), (false, false), &aa, &bb, 0.0, &mut cc);
                    }),
                ));
            }
            if let Some(bl) = blis() {
                let (aa, bb, mut cc) = (a.clone(), b.clone(), vec![0f32; m * n]);
                v.push((
                    "blis".into(),
                    Box::new(move || {
                        // SAFETY: packed row-major operands of the case's shape.
                        unsafe {
                            (bl.set_threads)(t as i64);
                            (bl.sgemm)(
                                101,
                                111,
                                111,
                                m as i32,
                                n as i32,
                                k as i32,
                                1.0,
                                aa.as_ptr(),
                                k as i32,
                                bb.as_ptr(),
                                n as i32,
                                0.0,
                                cc.as_mut_ptr(),
                                n as i32,
                            );
                        }
                    }),
                ));
            }
            let (aa, bb, mut cc) = (a.clone(), b.clone(), vec![0f32; m * n]);
            let par = if t == 1 {
                gemm::Parallelism::None
            } else {
                gemm::Parallelism::Rayon(t)
            };
            let pl = pool.clone();
            v.push((
                "gemm-crate".into(),
                Box::new(move || {
                    // SAFETY: packed row-major operands (column stride 1).
                    pl.install(|| unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            cc.as_mut_ptr(),
                            1,
                            n as isize,
                            false,
                            aa.as_ptr(),
                            1,
                            k as isize,
                            bb.as_ptr(),
                            1,
                            n as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            par,
                        )
                    })
                }),
            ));
        }
        Kind::Bf16 => {
            let to16 = |v: &[f32]| v.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>();
            let (aa, bb, mut cc) = (to16(&a), to16(&b), vec![0f32; m * n]);
            let pl = pool.clone();
            v.push((
                "tpp".into(),
                Box::new(move || pl.install(|| matmul(&p, &aa, &bb, &mut cc).unwrap())),
            ));
        }
    }
    {
        let bf = i32::from(c.kind == Kind::Bf16);
        let (a16, b16): (Vec<u16>, Vec<u16>) = (
            a.iter().map(|x| (x.to_bits() >> 16) as u16).collect(),
            b.iter().map(|x| (x.to_bits() >> 16) as u16).collect(),
        );
        let bptr = if bf == 1 {
            b16.as_ptr().cast()
        } else {
            b.as_ptr().cast()
        };
        // SAFETY: B holds k × n elements of the dtype; oneDNN copies it into its layout.
        let mm = dnnl::with_threads(t, || unsafe {
            dnnl::tpp_dnnl_matmul(bf, m as i64, n as i64, k as i64, bptr)
        });
        if !mm.is_null() {
            let mut cc = vec![0f32; m * n];
            let a32 = a.clone();
            v.push((
                "onednn".into(),
                Box::new(move || {
                    let ap = if bf == 1 {
                        a16.as_ptr().cast()
                    } else {
                        a32.as_ptr().cast()
                    };
                    // SAFETY: A holds m × k elements, C m × n.
                    let rc =
                        unsafe { dnnl::tpp_dnnl_matmul_run(mm, ap, cc.as_mut_ptr(), t as i32) };
                    assert_eq!(rc, 0, "oneDNN matmul failed");
                }),
            ));
        }
    }
    v
}

/// Thread pools that spin after a call steal the core from whatever runs next on a 2-core
/// machine: OpenMP (oneDNN) and OpenBLAS read their waiting policies at load time, so the bench
/// re-runs itself with them set to sleep (and pauses between implementations besides).
fn quiet_thread_pools() {
    if std::env::var_os("TPP_BENCH_CHILD").is_some() {
        return;
    }
    let st = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("TPP_BENCH_CHILD", "1")
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .env("OPENBLAS_THREAD_TIMEOUT", "4")
        .status()
        .expect("re-runs the bench");
    std::process::exit(st.code().unwrap_or(1));
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches once as tests: the large cases would take
        // minutes in a debug build.
        println!("gemm_large: run it with `cargo bench --bench gemm_large`");
        return;
    }
    quiet_thread_pools();
    assert!(
        tpp::dispatch::caps::x86().avx512,
        "the large-GEMM bench compares AVX-512 code"
    );
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let peak1 = peers::peak(peers::Peak::Fma32);
    // bf16 is measured against the unit tpp's kernels use: AMX tiles where usable.
    #[cfg(target_arch = "x86_64")]
    let tile_peak = tpp::backend::amx::measure_peak(tpp::kernels_x86::amx::TileDot::Bf16);
    #[cfg(not(target_arch = "x86_64"))]
    let tile_peak: Option<f64> = None;
    let peak_bf = if let Some(p) = tile_peak {
        p
    } else if peers::Peak::DotBf16.available() {
        peers::peak(peers::Peak::DotBf16)
    } else {
        peak1
    };
    println!(
        "{:<26} {:>9} {:>26} {:>7} {:>7}  [every implementation, GFLOP/s]",
        "case", "tpp GF/s", "best peer (GF/s)", "ratio", "% peak"
    );
    for c in cases() {
        if !filter.is_empty() && !filter.iter().any(|f| c.label.contains(f.as_str())) {
            continue;
        }
        let mut rs = runners(&c);
        let flops = 2.0 * (c.m * c.n * c.k) as f64;
        // Warm up (kernels, packing buffers, page faults), then interleave.
        rs.iter_mut().for_each(|(_, f)| f());
        let reps = if flops > 5e10 {
            3
        } else if flops > 5e9 {
            5
        } else {
            15
        };
        let mut t = vec![vec![]; rs.len()];
        for _ in 0..reps {
            for (i, (_, f)) in rs.iter_mut().enumerate() {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let s = Instant::now();
                f();
                t[i].push(s.elapsed().as_secs_f64());
            }
        }
        let gf: Vec<f64> = t
            .iter_mut()
            .map(|v| {
                v.sort_by(f64::total_cmp);
                flops / v[v.len() / 2] / 1e9
            })
            .collect();
        let peak = if c.kind == Kind::F32 { peak1 } else { peak_bf } * c.threads as f64;
        let names: Vec<String> = rs.iter().map(|r| r.0.clone()).collect();
        let best = (1..names.len()).max_by(|&a, &b| gf[a].total_cmp(&gf[b]));
        let (peer, ratio) = match best {
            Some(i) => (
                format!("{} ({:.1})", names[i], gf[i]),
                format!("{:.2}x", gf[0] / gf[i]),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<26} {:>9.1} {:>26} {:>7} {:>6.0}%  [{}]",
            c.label,
            gf[0],
            peer,
            ratio,
            100.0 * gf[0] * 1e9 / peak,
            names
                .iter()
                .zip(&gf)
                .map(|(n, g)| format!("{n} {g:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "\n(tpp GFLOP/s, best peer, ratio, % of the same-run register-only peak × threads: f32 {:.1}, bf16 {:.1} GFLOP/s per core)",
        peak1 / 1e9,
        peak_bf / 1e9
    );
    if peers::openblas().is_none() {
        println!("OpenBLAS not found: apt-get install libopenblas-dev");
    }
    if blis().is_none() {
        println!("BLIS not found: apt-get install libblis-dev");
    }
    if !tpp_peers::HAVE_DNNL {
        println!("oneDNN not found: apt-get install libdnnl-dev and rebuild");
    }
}
