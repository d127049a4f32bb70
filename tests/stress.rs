//! Stress: 8 threads for a bounded time (`TPP_STRESS_MS`, default 3000 ms; every thread also
//! does a minimum of work), each dispatching a mix of new descriptors of every family (a shared
//! list of random ones from the test strategies, walked by all threads in the same order so
//! that they race on each new key) and cached ones, calling every kernel and checking it
//! against the reference backend with the differential harness; through the C ABI, dispatching,
//! calling and releasing handles (and using released ones, which must fail); and running the
//! large GEMM on one shared rayon pool from several threads at once, checked against the
//! reference GEMM.
//!
//! Then: every key got exactly one kernel (every thread saw the same kernel for it, and the
//! process generated exactly one kernel per new key, counted by `kernels_generated`), and the
//! C ABI's live handle count is back where it started. Data races on the lock-free tables
//! would show as wrong kernels, wrong results or crashes here; the tables' own unit tests also
//! run under Miri (see the README).

mod common;

use common::buffers::Rng;
use common::harness::{self, AUTO};
use common::{strategies, tolerance};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::{HashMap, HashSet};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};
use tpp::exec::{BinaryArgs, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use tpp::ffi::*;
use tpp::ops::{matmul, Matmul};
use tpp::*;

const THREADS: usize = 8;
/// Steps every thread takes however short the time limit.
const MIN_STEPS: usize = 20;

/// A descriptor of any family (its canonical form is its key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Desc {
    Gemm(GemmDesc),
    Unary(UnaryDesc),
    Binary(BinaryDesc),
    Ternary(TernaryDesc),
    Reduce(ReduceDesc),
}

/// A kernel of any family; equal when it is the same kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AnyKernel {
    Gemm(GemmKernel),
    Unary(UnaryKernel),
    Binary(BinaryKernel),
    Ternary(TernaryKernel),
    Reduce(ReduceKernel),
}

impl Desc {
    fn key(&self) -> Desc {
        match self {
            Desc::Gemm(d) => Desc::Gemm(d.canonical()),
            Desc::Unary(d) => Desc::Unary(d.canonical()),
            Desc::Binary(d) => Desc::Binary(d.canonical()),
            Desc::Ternary(d) => Desc::Ternary(d.canonical()),
            Desc::Reduce(d) => Desc::Reduce(d.canonical()),
        }
    }

    fn family(&self) -> usize {
        match self {
            Desc::Gemm(_) => 0,
            Desc::Unary(_) => 1,
            Desc::Binary(_) => 2,
            Desc::Ternary(_) => 3,
            Desc::Reduce(_) => 4,
        }
    }

    /// Automatic dispatch: the cache's lock-free hot path, or generation on a miss.
    fn dispatch(&self) -> AnyKernel {
        let r = match self {
            Desc::Gemm(d) => d.dispatch().map(AnyKernel::Gemm),
            Desc::Unary(d) => d.dispatch().map(AnyKernel::Unary),
            Desc::Binary(d) => d.dispatch().map(AnyKernel::Binary),
            Desc::Ternary(d) => d.dispatch().map(AnyKernel::Ternary),
            Desc::Reduce(d) => d.dispatch().map(AnyKernel::Reduce),
        };
        r.unwrap_or_else(|e| panic!("{self:?}: {e}"))
    }

    fn is_cached(&self) -> bool {
        match self {
            Desc::Gemm(d) => tpp::dispatch::cached(d).is_some(),
            Desc::Unary(d) => tpp::dispatch::cached(d).is_some(),
            Desc::Binary(d) => tpp::dispatch::cached(d).is_some(),
            Desc::Ternary(d) => tpp::dispatch::cached(d).is_some(),
            Desc::Reduce(d) => tpp::dispatch::cached(d).is_some(),
        }
    }

    /// The automatically dispatched kernel against the reference, on random operands.
    fn check(&self, seed: u64) {
        let r = match self {
            Desc::Gemm(d) => harness::check_gemm(AUTO, d, seed),
            Desc::Unary(d) => harness::check_unary(AUTO, d, seed),
            Desc::Binary(d) => harness::check_binary(AUTO, d, seed),
            Desc::Ternary(d) => harness::check_ternary(AUTO, d, seed),
            Desc::Reduce(d) => harness::check_reduce(AUTO, d, seed),
        };
        if let Err(e) = r {
            panic!("{self:?} (seed {seed}): {e}");
        }
    }
}

/// `n` random descriptors of every family in turn, from the test strategies.
fn random_descriptors(n: usize) -> Vec<Desc> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[0x5e; 32]),
    );
    fn draw<S: Strategy>(s: S, runner: &mut TestRunner) -> S::Value {
        s.new_tree(runner).expect("the strategy draws").current()
    }
    (0..n)
        .map(|i| match i % 5 {
            0 => Desc::Gemm(draw(strategies::gemm(), &mut runner)),
            1 => Desc::Unary(draw(strategies::unary(), &mut runner)),
            2 => Desc::Binary(draw(strategies::binary(), &mut runner)),
            3 => Desc::Ternary(draw(strategies::ternary(), &mut runner)),
            _ => Desc::Reduce(draw(strategies::reduce(), &mut runner)),
        })
        .collect()
}

/// A few fixed descriptors every thread dispatches over and over: cached after the first.
fn hot_descriptors() -> Vec<Desc> {
    vec![
        Desc::Gemm(GemmDesc::new(16, 24, 8, DType::F32).beta(0.0)),
        Desc::Gemm(GemmDesc::new(5, 7, 9, DType::BF16)),
        Desc::Unary(UnaryDesc::new(
            UnaryOp::Relu { mask: false },
            8,
            16,
            DType::F32,
        )),
        Desc::Unary(UnaryDesc::new(UnaryOp::Exp, 3, 33, DType::F32)),
        Desc::Binary(BinaryDesc::new(BinaryOp::Add, 8, 16, DType::F32)),
        Desc::Ternary(TernaryDesc::new(TernaryOp::MulAdd, 8, 16, DType::F32)),
        Desc::Reduce(ReduceDesc::new(
            ReduceOp::Sum,
            ReduceAxis::PerRow,
            8,
            16,
            DType::F32,
        )),
    ]
}

/// One large GEMM problem, with its inputs and the reference result.
struct MatmulCase {
    shape: (usize, usize, usize),
    a: Vec<f32>,
    b: Vec<f32>,
    want: Vec<f32>,
    /// Σ|a||b| per element: what the rounding error is relative to.
    magnitude: Vec<f64>,
}

impl MatmulCase {
    /// Sizes above the strategies' (at most 65), so that the reference GEMM kernel made here
    /// is no key of the stress run.
    fn new((m, n, k): (usize, usize, usize), seed: u64) -> MatmulCase {
        let mut rng = Rng(seed);
        let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-2.0, 2.0) as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-2.0, 2.0) as f32).collect();
        let mut want = vec![f32::NAN; m * n];
        let reference = dispatch_on(&GemmDesc::new(m, n, k, DType::F32).beta(0.0), "reference")
            .expect("the reference GEMM");
        reference.call(&a[..], &b[..], &mut want[..]).unwrap();
        let magnitude = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..k)
                    .map(|p| (a[i * k + p] as f64 * b[p * n + j] as f64).abs())
                    .sum()
            })
            .collect();
        MatmulCase {
            shape: (m, n, k),
            a,
            b,
            want,
            magnitude,
        }
    }

    fn run_and_check(&self, pool: &rayon::ThreadPool) {
        let (m, n, k) = self.shape;
        let mut c = vec![f32::NAN; m * n];
        pool.install(|| matmul(&Matmul::new(m, n, k), &self.a, &self.b, &mut c))
            .expect("matmul");
        let tol = tolerance::Tol {
            rel: tolerance::of(DType::F32).rel + (k as f64 + 3.0) * DType::F32.epsilon(),
            abs: f32::MIN_POSITIVE as f64,
        };
        for (i, (&got, &want)) in c.iter().zip(&self.want).enumerate() {
            assert!(
                tolerance::close(got as f64, want as f64, self.magnitude[i], tol),
                "matmul {m}x{n}x{k} [{i}]: got {got}, want {want}"
            );
        }
    }
}

/// Dispatches one descriptor of each family through the C ABI, calls each handle on random
/// data and checks the result against the same kernel called from Rust (bit for bit: the
/// handle must be that kernel), then releases the handles and checks that a released handle
/// is refused. Returns the descriptors dispatched (their keys join the count).
fn c_abi_round(rng: &mut Rng) -> Vec<Desc> {
    let (rows, cols) = (8, 16);
    let data = |rng: &mut Rng, n: usize| -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-3.0, 3.0) as f32).collect()
    };
    let (x, y, z) = (data(rng, 128), data(rng, 128), data(rng, 128));
    let mut handles = vec![];
    let mut descs = vec![];
    // SAFETY: every descriptor and argument struct is valid; operands hold the 8 × 16
    // elements (16 × 8 for the GEMM's B) the descriptors imply.
    unsafe {
        let ok = |st: tpp_status| assert_eq!(st, TPP_OK, "{:?}", last_error());
        // GEMM 8 × 16 × 8.
        let mut g = std::mem::zeroed::<tpp_gemm_desc>();
        ok(tpp_gemm_desc_init(&mut g, 8, 16, 8, TPP_DTYPE_F32));
        g.beta = 0.0;
        let mut h = std::ptr::null_mut();
        ok(tpp_gemm_dispatch(&g, &mut h));
        let rust = GemmDesc::new(8, 16, 8, DType::F32).beta(0.0);
        let (mut got, mut want) = (vec![0f32; 128], vec![0f32; 128]);
        let args = GemmArgs {
            a: x.as_ptr().cast(),
            b: y.as_ptr().cast(),
            c: got.as_mut_ptr().cast(),
            ..GemmArgs::default()
        };
        ok(tpp_gemm_call(h, &args));
        rust.dispatch()
            .unwrap()
            .call(&x[..64], &y[..], &mut want[..])
            .unwrap();
        assert_bits(&got, &want, "C GEMM");
        handles.push(h);
        descs.push(Desc::Gemm(rust));
        // Unary relu, binary add, ternary muladd, reduce sum over 8 × 16.
        let mut u = std::mem::zeroed::<tpp_unary_desc>();
        ok(tpp_unary_desc_init(
            &mut u,
            TPP_UNARY_RELU,
            rows,
            cols,
            TPP_DTYPE_F32,
        ));
        let mut h = std::ptr::null_mut();
        ok(tpp_unary_dispatch(&u, &mut h));
        let args = UnaryArgs {
            input: x.as_ptr().cast(),
            output: got.as_mut_ptr().cast(),
            ..UnaryArgs::default()
        };
        ok(tpp_unary_call(h, &args));
        let rust = UnaryDesc::new(UnaryOp::Relu { mask: false }, 8, 16, DType::F32);
        rust.dispatch()
            .unwrap()
            .call(&x[..], &mut want[..])
            .unwrap();
        assert_bits(&got, &want, "C relu");
        handles.push(h);
        descs.push(Desc::Unary(rust));
        let mut b = std::mem::zeroed::<tpp_binary_desc>();
        ok(tpp_binary_desc_init(
            &mut b,
            TPP_BINARY_ADD,
            rows,
            cols,
            TPP_DTYPE_F32,
        ));
        let mut h = std::ptr::null_mut();
        ok(tpp_binary_dispatch(&b, &mut h));
        let args = BinaryArgs {
            in0: x.as_ptr().cast(),
            in1: y.as_ptr().cast(),
            output: got.as_mut_ptr().cast(),
        };
        ok(tpp_binary_call(h, &args));
        let rust = BinaryDesc::new(BinaryOp::Add, 8, 16, DType::F32);
        let k = rust.dispatch().unwrap();
        k.call(&x[..], &y[..], &mut want[..]).unwrap();
        assert_bits(&got, &want, "C add");
        handles.push(h);
        descs.push(Desc::Binary(rust));
        let mut t = std::mem::zeroed::<tpp_ternary_desc>();
        ok(tpp_ternary_desc_init(
            &mut t,
            TPP_TERNARY_MULADD,
            rows,
            cols,
            TPP_DTYPE_F32,
        ));
        let mut h = std::ptr::null_mut();
        ok(tpp_ternary_dispatch(&t, &mut h));
        let args = TernaryArgs {
            in0: x.as_ptr().cast(),
            in1: y.as_ptr().cast(),
            in2: z.as_ptr().cast(),
            mask: std::ptr::null(),
            output: got.as_mut_ptr().cast(),
        };
        ok(tpp_ternary_call(h, &args));
        let rust = TernaryDesc::new(TernaryOp::MulAdd, 8, 16, DType::F32);
        let k = rust.dispatch().unwrap();
        k.call(&x[..], &y[..], &z[..], &mut want[..]).unwrap();
        assert_bits(&got, &want, "C muladd");
        handles.push(h);
        descs.push(Desc::Ternary(rust));
        let mut r = std::mem::zeroed::<tpp_reduce_desc>();
        ok(tpp_reduce_desc_init(
            &mut r,
            TPP_REDUCE_SUM,
            TPP_AXIS_PER_ROW,
            rows,
            cols,
            TPP_DTYPE_F32,
        ));
        let mut h = std::ptr::null_mut();
        ok(tpp_reduce_dispatch(&r, &mut h));
        let args = ReduceArgs {
            input: x.as_ptr().cast(),
            output: got.as_mut_ptr().cast(),
        };
        ok(tpp_reduce_call(h, &args));
        let rust = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerRow, 8, 16, DType::F32);
        rust.dispatch()
            .unwrap()
            .call(&x[..], &mut want[..8])
            .unwrap();
        assert_bits(&got[..8], &want[..8], "C reduce");
        handles.push(h);
        descs.push(Desc::Reduce(rust));
        // The handles' info names the kernels; then release them, and a released one (its slot
        // possibly reused by another thread already) must be refused.
        for (h, d) in handles.iter().zip(&descs) {
            let mut info = std::mem::zeroed::<tpp_kernel_info>();
            ok(tpp_kernel_get_info(*h, &mut info));
            assert_eq!(info.family as usize, d.family());
            ok(tpp_kernel_release(*h));
        }
        let stale = handles[rng.below(handles.len())];
        let args = ReduceArgs {
            input: x.as_ptr().cast(),
            output: got.as_mut_ptr().cast(),
        };
        assert_eq!(tpp_reduce_call(stale, &args), TPP_ERR_INVALID_ARGUMENT);
        assert_eq!(tpp_kernel_release(stale), TPP_ERR_INVALID_ARGUMENT);
    }
    descs
}

fn last_error() -> String {
    // SAFETY: tpp_last_error returns a NUL-terminated string valid until the next call.
    unsafe { std::ffi::CStr::from_ptr(tpp_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what} [{i}]: {g} vs {w}");
    }
}

/// What one thread saw: the kernel of every key it dispatched, and the keys it checked
/// against the reference (each makes one forced reference kernel).
#[derive(Default)]
struct Seen {
    kernels: HashMap<Desc, AnyKernel>,
    checked: HashSet<Desc>,
    steps: usize,
}

impl Seen {
    fn dispatch(&mut self, d: &Desc) {
        let k = d.dispatch();
        let first = *self.kernels.entry(d.key()).or_insert(k);
        assert_eq!(first, k, "{d:?}: a second kernel for one key");
    }
}

#[test]
fn eight_threads_dispatch_call_and_release() {
    let limit = Duration::from_millis(
        std::env::var("TPP_STRESS_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    // The large GEMM's kernels and reference results are made before counting starts.
    let cases: Vec<MatmulCase> = [(97, 130, 70), (66, 200, 129)]
        .into_iter()
        .zip(1..)
        .map(|(s, seed)| MatmulCase::new(s, seed))
        .collect();
    cases.iter().for_each(|c| c.run_and_check(&pool));
    let fresh = random_descriptors(400);
    let hot = hot_descriptors();
    let cached_before: HashSet<Desc> = fresh
        .iter()
        .chain(&hot)
        .filter(|d| d.is_cached())
        .map(Desc::key)
        .collect();
    let generated_before = tpp::dispatch::kernels_generated();
    let live_before = tpp_live_handles();

    let start = Barrier::new(THREADS);
    let seen: Mutex<Vec<Seen>> = Mutex::new(vec![]);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (fresh, hot, cases, pool, start, seen) =
                (&fresh, &hot, &cases, &pool, &start, &seen);
            s.spawn(move || {
                let mut mine = Seen::default();
                let mut rng = Rng(t as u64 + 1);
                start.wait();
                while mine.steps < MIN_STEPS || t0.elapsed() < limit {
                    let i = mine.steps;
                    // The next new descriptor: every thread walks the list in the same order.
                    let d = &fresh[i % fresh.len()];
                    mine.dispatch(d);
                    d.check(rng.next_u64());
                    mine.checked.insert(d.key());
                    // A cached one, checked too.
                    let h = &hot[rng.below(hot.len())];
                    mine.dispatch(h);
                    h.check(rng.next_u64());
                    mine.checked.insert(h.key());
                    // Now and then: the C ABI, and the large GEMM on the shared pool.
                    if i % 4 == t % 4 {
                        for d in c_abi_round(&mut rng) {
                            mine.dispatch(&d);
                        }
                    }
                    if i % 8 == t % 8 {
                        cases[(i + t) % cases.len()].run_and_check(pool);
                    }
                    mine.steps += 1;
                }
                seen.lock().unwrap().push(mine);
            });
        }
    });
    let elapsed = t0.elapsed();
    let seen = seen.into_inner().unwrap();

    // One kernel per key across the threads.
    let mut kernels: HashMap<Desc, AnyKernel> = HashMap::new();
    let mut checked: HashSet<Desc> = HashSet::new();
    for s in &seen {
        for (key, k) in &s.kernels {
            let first = *kernels.entry(*key).or_insert(*k);
            assert_eq!(first, *k, "{key:?}: threads got different kernels");
        }
        checked.extend(s.checked.iter().copied());
    }
    // And the process generated exactly one kernel per new key: one for automatic dispatch,
    // one on the reference for each key the harness checked.
    let new_keys = kernels
        .keys()
        .filter(|k| !cached_before.contains(k))
        .count();
    let generated = tpp::dispatch::kernels_generated() - generated_before;
    assert_eq!(
        generated as usize,
        new_keys + checked.len(),
        "kernels generated vs new keys ({new_keys} automatic, {} on the reference)",
        checked.len()
    );
    let mut families = [0usize; 5];
    kernels.keys().for_each(|k| families[k.family()] += 1);
    assert!(
        families.iter().all(|&n| n > 1),
        "keys per family: {families:?}"
    );
    assert_eq!(tpp_live_handles(), live_before, "C handles leaked");
    let steps: usize = seen.iter().map(|s| s.steps).sum();
    println!(
        "{THREADS} threads, {:.1} s: {steps} steps, {} keys ({families:?} per family), \
         {generated} kernels generated",
        elapsed.as_secs_f64(),
        kernels.len()
    );
}
