//! The CBLAS entry points' results against a naive loop in f64: `cblas_sgemm`,
//! `cblas_dgemm`, `cblas_sbgemm` (bf16 inputs, f32 accumulation) and the grouped batches, over
//! both layouts, every transpose pair, padded leading dimensions, alpha and beta including the
//! quick-return and non-finite cases, and batches whose products share memory (which must
//! behave as the loop of single calls they stand for). Error exits are in `cblas_errors.rs`
//! (they need a program's own handlers).
#![cfg(feature = "blas")]

use std::ptr::{null, null_mut};
use tpp::bf16;
use tpp::ffi::cblas::{cblas_dgemm, cblas_sbgemm, cblas_sgemm};
use tpp::ffi::cblas_batch::{cblas_dgemm_batch, cblas_sbgemm_batch, cblas_sgemm_batch};

const ROW: i32 = 101;
const COL: i32 = 102;
const TRANS: [i32; 3] = [111, 112, 113];

/// A GEMM problem in CBLAS terms.
#[derive(Clone, Copy, Debug)]
struct Problem {
    layout: i32,
    ta: i32,
    tb: i32,
    m: usize,
    n: usize,
    k: usize,
    /// Padding added to each leading dimension.
    pad: usize,
    alpha: f64,
    beta: f64,
}

impl Problem {
    /// Rows and columns of A, B and C as stored.
    fn stored(&self) -> [(usize, usize); 3] {
        let t = |x: i32| x != 111;
        let a = if t(self.ta) {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        };
        let b = if t(self.tb) {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        };
        [a, b, (self.m, self.n)]
    }
    /// Leading dimensions (at least 1, as BLAS requires).
    fn lds(&self) -> [usize; 3] {
        self.stored().map(|(r, c)| {
            let inner = if self.layout == ROW { c } else { r };
            inner.max(1) + self.pad
        })
    }
    /// Elements of each stored operand.
    fn lens(&self) -> [usize; 3] {
        let lds = self.lds();
        let mut out = [0; 3];
        for (i, &(r, c)) in self.stored().iter().enumerate() {
            let outer = if self.layout == ROW { r } else { c };
            out[i] = outer.max(1) * lds[i];
        }
        out
    }
    /// Element `(i, j)` of a stored operand with leading dimension `ld`.
    fn at(&self, i: usize, j: usize, ld: usize) -> usize {
        if self.layout == ROW {
            i * ld + j
        } else {
            i + j * ld
        }
    }
    /// `alpha·op(A)·op(B) + beta·C` and the magnitude `|alpha|·Σ|a·b| + |beta·c|` per element.
    fn naive(&self, a: &[f64], b: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let [lda, ldb, ldc] = self.lds();
        let (mut out, mut mag) = (c.to_vec(), vec![0.0; c.len()]);
        for i in 0..self.m {
            for j in 0..self.n {
                let (mut s, mut g) = (0.0, 0.0);
                for q in 0..self.k {
                    let x = if self.ta == 111 {
                        a[self.at(i, q, lda)]
                    } else {
                        a[self.at(q, i, lda)]
                    };
                    let y = if self.tb == 111 {
                        b[self.at(q, j, ldb)]
                    } else {
                        b[self.at(j, q, ldb)]
                    };
                    s += x * y;
                    g += (x * y).abs();
                }
                let e = self.at(i, j, ldc);
                // BLAS: beta = 0 ignores C (NaN included); alpha = 0 ignores A and B.
                let prior = if self.beta == 0.0 {
                    0.0
                } else {
                    self.beta * c[e]
                };
                let prod = if self.alpha == 0.0 {
                    0.0
                } else {
                    self.alpha * s
                };
                out[e] = prod + prior;
                mag[e] = self.alpha.abs() * g + prior.abs();
            }
        }
        (out, mag)
    }
}

/// SplitMix64 values in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    fn fill(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.unit()).collect()
    }
}

/// The element types, with their rounding of test data and the relative error bound of one
/// accumulation step (bf16 inputs are exact once rounded; they accumulate in f32).
trait Elem: Copy {
    type C: Copy;
    const EPS: f64;
    fn from(x: f64) -> Self;
    fn to(self) -> f64;
    fn c_from(x: f64) -> Self::C;
    fn c_to(c: Self::C) -> f64;
}
impl Elem for f32 {
    type C = f32;
    const EPS: f64 = f32::EPSILON as f64;
    fn from(x: f64) -> f32 {
        x as f32
    }
    fn to(self) -> f64 {
        self as f64
    }
    fn c_from(x: f64) -> f32 {
        x as f32
    }
    fn c_to(c: f32) -> f64 {
        c as f64
    }
}
impl Elem for f64 {
    type C = f64;
    const EPS: f64 = f64::EPSILON;
    fn from(x: f64) -> f64 {
        x
    }
    fn to(self) -> f64 {
        self
    }
    fn c_from(x: f64) -> f64 {
        x
    }
    fn c_to(c: f64) -> f64 {
        c
    }
}
impl Elem for bf16 {
    type C = f32;
    const EPS: f64 = f32::EPSILON as f64;
    fn from(x: f64) -> bf16 {
        bf16::from_f64(x)
    }
    fn to(self) -> f64 {
        self.to_f64()
    }
    fn c_from(x: f64) -> f32 {
        x as f32
    }
    fn c_to(c: f32) -> f64 {
        c as f64
    }
}

/// Operands of a problem: A, B in `T`, C in `T::C`, and their f64 values.
struct Operands<T: Elem> {
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T::C>,
    want: Vec<f64>,
    mag: Vec<f64>,
}

fn operands<T: Elem>(p: &Problem, rng: &mut Rng) -> Operands<T> {
    let [la, lb, lc] = p.lens();
    let a: Vec<T> = rng.fill(la).into_iter().map(T::from).collect();
    let b: Vec<T> = rng.fill(lb).into_iter().map(T::from).collect();
    let c: Vec<T::C> = rng.fill(lc).into_iter().map(T::c_from).collect();
    let (av, bv): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|x| x.to()).collect(),
        b.iter().map(|x| x.to()).collect(),
    );
    let cv: Vec<f64> = c.iter().map(|&x| T::c_to(x)).collect();
    let (want, mag) = p.naive(&av, &bv, &cv);
    Operands { a, b, c, want, mag }
}

/// `|d| <= tol`, false for a NaN `d`.
fn within(d: f64, tol: f64) -> bool {
    d.abs() <= tol
}

/// Every element of C within the accumulation bound (elements outside the `m × n` block kept).
fn check<T: Elem>(p: &Problem, what: &str, got: &[T::C], want: &[f64], mag: &[f64]) {
    let tol = |mag: f64| 4.0 * (p.k as f64 + 2.0) * T::EPS * mag + 1e-30;
    let bad: Vec<String> = got
        .iter()
        .zip(want.iter().zip(mag))
        .enumerate()
        .filter(|&(_, (&g, (&w, &m)))| !within(T::c_to(g) - w, tol(m)))
        .take(5)
        .map(|(i, (&g, (&w, _)))| format!("[{i}] {} vs {w}", T::c_to(g)))
        .collect();
    assert!(bad.is_empty(), "{what} {p:?}: {bad:?}");
}

/// Shapes through the small and the blocked paths, with and without padding.
fn problems(rng: &mut Rng) -> Vec<Problem> {
    let mut out = vec![];
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (17, 9, 33),
        (64, 48, 80),
        (130, 70, 257),
    ];
    for (s, &(m, n, k)) in shapes.iter().enumerate() {
        for layout in [ROW, COL] {
            for &ta in &TRANS {
                for &tb in &TRANS {
                    let scalars = [(1.0, 0.0), (-0.5, 2.0), (0.0, 0.5), (2.0, 1.0)];
                    let (alpha, beta) = scalars[(rng.next() % 4) as usize];
                    out.push(Problem {
                        layout,
                        ta,
                        tb,
                        m,
                        n,
                        k,
                        pad: (s + ta as usize) % 3,
                        alpha,
                        beta,
                    });
                }
            }
        }
    }
    out
}

type Single<T> = unsafe extern "C" fn(
    i32,
    i32,
    i32,
    i32,
    i32,
    i32,
    <T as Scalar>::S,
    *const <T as Scalar>::In,
    i32,
    *const <T as Scalar>::In,
    i32,
    <T as Scalar>::S,
    *mut <T as Elem>::C,
    i32,
);

/// How an element type appears in the C signatures.
trait Scalar: Elem {
    type S: Copy;
    type In;
    fn s(x: f64) -> Self::S;
}
impl Scalar for f32 {
    type S = f32;
    type In = f32;
    fn s(x: f64) -> f32 {
        x as f32
    }
}
impl Scalar for f64 {
    type S = f64;
    type In = f64;
    fn s(x: f64) -> f64 {
        x
    }
}
impl Scalar for bf16 {
    type S = f32;
    type In = u16;
    fn s(x: f64) -> f32 {
        x as f32
    }
}

unsafe fn call_single<T: Scalar>(f: Single<T>, p: &Problem, o: &mut Operands<T>) {
    let [lda, ldb, ldc] = p.lds().map(|x| x as i32);
    f(
        p.layout,
        p.ta,
        p.tb,
        p.m as i32,
        p.n as i32,
        p.k as i32,
        T::s(p.alpha),
        o.a.as_ptr().cast(),
        lda,
        o.b.as_ptr().cast(),
        ldb,
        T::s(p.beta),
        o.c.as_mut_ptr(),
        ldc,
    );
}

fn single_calls_match<T: Scalar>(f: Single<T>, what: &str, seed: u64) {
    let mut rng = Rng(seed);
    for p in problems(&mut rng) {
        let mut o = operands::<T>(&p, &mut rng);
        unsafe { call_single(f, &p, &mut o) };
        check::<T>(&p, what, &o.c, &o.want, &o.mag);
    }
}

#[test]
fn cblas_sgemm_matches_the_naive_loop() {
    single_calls_match::<f32>(cblas_sgemm, "cblas_sgemm", 1);
}

#[test]
fn cblas_dgemm_matches_the_naive_loop() {
    single_calls_match::<f64>(cblas_dgemm, "cblas_dgemm", 2);
}

#[test]
fn cblas_sbgemm_matches_the_naive_loop() {
    single_calls_match::<bf16>(cblas_sbgemm, "cblas_sbgemm", 3);
}

/// bf16 bits as OpenBLAS passes them: `cblas_sbgemm` reads them as bf16, not as integers.
#[test]
fn cblas_sbgemm_takes_bf16_bits() {
    let a: [u16; 2] = [0x3fc0, 0x4000]; // 1.5, 2.0
    let b: [u16; 2] = [0xc000, 0x3e80]; // -2.0, 0.25
    let mut c = [0.0f32];
    unsafe {
        cblas_sbgemm(
            ROW,
            111,
            111,
            1,
            1,
            2,
            1.0,
            a.as_ptr(),
            2,
            b.as_ptr(),
            1,
            0.0,
            c.as_mut_ptr(),
            1,
        )
    };
    assert_eq!(c[0], -2.5);
}

/// The reference quick returns and its alpha = 0 branch: nothing read or written when there is
/// nothing to do (null operands, NaN C), C scaled without reading A or B when alpha = 0, and
/// non-finite scalars propagated.
#[test]
fn quick_returns_and_non_finite_scalars() {
    let mut c = [f32::NAN; 4];
    unsafe {
        cblas_sbgemm(
            ROW,
            111,
            111,
            2,
            2,
            3,
            0.0,
            null(),
            3,
            null(),
            2,
            1.0,
            c.as_mut_ptr(),
            2,
        );
        assert!(
            c.iter().all(|x| x.is_nan()),
            "alpha = 0, beta = 1 touched C"
        );
        cblas_sbgemm(
            COL,
            112,
            111,
            2,
            2,
            0,
            1.0,
            null(),
            1,
            null(),
            1,
            1.0,
            c.as_mut_ptr(),
            2,
        );
        assert!(c.iter().all(|x| x.is_nan()), "k = 0, beta = 1 touched C");
        cblas_sbgemm(
            ROW,
            111,
            111,
            0,
            2,
            3,
            1.0,
            null(),
            3,
            null(),
            2,
            0.0,
            null_mut(),
            2,
        );
        cblas_sbgemm(
            ROW,
            111,
            111,
            2,
            2,
            3,
            0.0,
            null(),
            3,
            null(),
            2,
            0.0,
            c.as_mut_ptr(),
            2,
        );
        assert_eq!(
            c, [0.0; 4],
            "alpha = 0, beta = 0 must zero C without reading it"
        );
        let mut d = [1.0f32; 4];
        cblas_sbgemm(
            ROW,
            111,
            111,
            2,
            2,
            3,
            0.0,
            null(),
            3,
            null(),
            2,
            3.0,
            d.as_mut_ptr(),
            2,
        );
        assert_eq!(d, [3.0; 4]);
        // k = 0 with an infinite alpha: the reference scales C and reads nothing.
        cblas_sgemm(
            ROW,
            111,
            111,
            2,
            2,
            0,
            f32::INFINITY,
            null(),
            1,
            null(),
            2,
            2.0,
            d.as_mut_ptr(),
            2,
        );
        assert_eq!(d, [6.0; 4]);
        let (a, b) = ([bf16::ONE; 6], [bf16::ONE; 6]);
        cblas_sbgemm(
            ROW,
            111,
            111,
            2,
            2,
            3,
            f32::INFINITY,
            a.as_ptr().cast(),
            3,
            b.as_ptr().cast(),
            2,
            0.0,
            d.as_mut_ptr(),
            2,
        );
        assert!(d.iter().all(|x| x.is_infinite()), "{d:?}");
    }
}

type Batch<T> = unsafe extern "C" fn(
    i32,
    *const i32,
    *const i32,
    *const i32,
    *const i32,
    *const i32,
    *const <T as Scalar>::S,
    *const *const <T as Scalar>::In,
    *const i32,
    *const *const <T as Scalar>::In,
    *const i32,
    *const <T as Scalar>::S,
    *const *mut <T as Elem>::C,
    *const i32,
    i32,
    *const i32,
);

/// Groups of problems of one layout as a batch call.
struct BatchArgs<T: Scalar> {
    layout: i32,
    groups: Vec<Problem>,
    sizes: Vec<i32>,
    a: Vec<*const T::In>,
    b: Vec<*const T::In>,
    c: Vec<*mut T::C>,
}

impl<T: Scalar> BatchArgs<T> {
    unsafe fn call(&self, f: Batch<T>) {
        let g = &self.groups;
        let col = |h: &dyn Fn(&Problem) -> i32| g.iter().map(h).collect::<Vec<i32>>();
        let (ta, tb) = (col(&|p| p.ta), col(&|p| p.tb));
        let (m, n, k) = (
            col(&|p| p.m as i32),
            col(&|p| p.n as i32),
            col(&|p| p.k as i32),
        );
        let (lda, ldb, ldc) = (
            col(&|p| p.lds()[0] as i32),
            col(&|p| p.lds()[1] as i32),
            col(&|p| p.lds()[2] as i32),
        );
        let alpha: Vec<T::S> = g.iter().map(|p| T::s(p.alpha)).collect();
        let beta: Vec<T::S> = g.iter().map(|p| T::s(p.beta)).collect();
        f(
            self.layout,
            ta.as_ptr(),
            tb.as_ptr(),
            m.as_ptr(),
            n.as_ptr(),
            k.as_ptr(),
            alpha.as_ptr(),
            self.a.as_ptr(),
            lda.as_ptr(),
            self.b.as_ptr(),
            ldb.as_ptr(),
            beta.as_ptr(),
            self.c.as_ptr(),
            ldc.as_ptr(),
            g.len() as i32,
            self.sizes.as_ptr(),
        );
    }
}

/// A batch of independent products in several groups per layout (one group empty, one a
/// quick return with null matrices), each product checked against its naive loop.
fn batches_match<T: Scalar>(f: Batch<T>, what: &str, seed: u64) {
    let mut rng = Rng(seed);
    let all = problems(&mut rng);
    for layout in [ROW, COL] {
        let groups: Vec<Problem> = all
            .iter()
            .filter(|p| p.layout == layout && p.m * p.n * p.k < 20_000)
            .step_by(3)
            .copied()
            .collect();
        let sizes: Vec<i32> = (0..groups.len()).map(|i| [2, 1, 0, 3][i % 4]).collect();
        let mut ops: Vec<(Problem, Operands<T>)> = vec![];
        for (p, &s) in groups.iter().zip(&sizes) {
            for _ in 0..s {
                ops.push((*p, operands::<T>(p, &mut rng)));
            }
        }
        let mut args = BatchArgs::<T> {
            layout,
            groups: groups.clone(),
            sizes: sizes.clone(),
            a: ops.iter().map(|(_, o)| o.a.as_ptr().cast()).collect(),
            b: ops.iter().map(|(_, o)| o.b.as_ptr().cast()).collect(),
            c: ops.iter_mut().map(|(_, o)| o.c.as_mut_ptr()).collect(),
        };
        // A trailing quick-return group: alpha 0, beta 1, null matrices.
        let quick = Problem {
            alpha: 0.0,
            beta: 1.0,
            ..groups[0]
        };
        args.groups.push(quick);
        args.sizes.push(2);
        args.a.extend([null(); 2]);
        args.b.extend([null(); 2]);
        args.c.extend([null_mut(); 2]);
        unsafe { args.call(f) };
        for (p, o) in &ops {
            check::<T>(p, what, &o.c, &o.want, &o.mag);
        }
    }
}

#[test]
fn cblas_sgemm_batch_matches_the_naive_loop() {
    batches_match::<f32>(cblas_sgemm_batch, "cblas_sgemm_batch", 4);
}

#[test]
fn cblas_dgemm_batch_matches_the_naive_loop() {
    batches_match::<f64>(cblas_dgemm_batch, "cblas_dgemm_batch", 5);
}

#[test]
fn cblas_sbgemm_batch_matches_the_naive_loop() {
    batches_match::<bf16>(cblas_sbgemm_batch, "cblas_sbgemm_batch", 6);
}

/// Products that share memory run as the loop of single calls: two products accumulating
/// into one C (beta = 1), and a product reading the C an earlier one wrote as its A.
#[test]
fn overlapping_products_run_in_batch_order() {
    let (m, n, k) = (40usize, 24usize, 56usize);
    let mut rng = Rng(7);
    let p = Problem {
        layout: ROW,
        ta: 111,
        tb: 111,
        m,
        n,
        k,
        pad: 0,
        alpha: 1.0,
        beta: 1.0,
    };
    let a1: Vec<f64> = rng.fill(m * k);
    let a2: Vec<f64> = rng.fill(m * k);
    let b: Vec<f64> = rng.fill(k * n);
    let c0: Vec<f64> = rng.fill(m * n);
    // Both into the same C: C0 + A1·B + A2·B.
    let (once, mag1) = p.naive(&a1, &b, &c0);
    let (want, mag2) = p.naive(&a2, &b, &once);
    let mag: Vec<f64> = mag1.iter().zip(&mag2).map(|(x, y)| x + y).collect();
    let mut c = c0.clone();
    let args = BatchArgs::<f64> {
        layout: ROW,
        groups: vec![p],
        sizes: vec![2],
        a: vec![a1.as_ptr(), a2.as_ptr()],
        b: vec![b.as_ptr(), b.as_ptr()],
        c: vec![c.as_mut_ptr(), c.as_mut_ptr()],
    };
    unsafe { args.call(cblas_dgemm_batch) };
    check::<f64>(&p, "shared C", &c, &want, &mag);

    // Product 2 reads product 1's C (m × m, square so that it fits as an A).
    let q = Problem {
        n: m,
        k,
        beta: 0.0,
        ..p
    };
    let r = Problem {
        k: m,
        beta: 0.0,
        ..p
    };
    let bq: Vec<f64> = rng.fill(k * m);
    let (first, _) = q.naive(&a1, &bq, &vec![0.0; m * m]);
    let (want, mag) = r.naive(&first, &b, &vec![0.0; m * n]);
    let (mut c1, mut c2) = (vec![f64::NAN; m * m], vec![f64::NAN; m * n]);
    let args = BatchArgs::<f64> {
        layout: ROW,
        groups: vec![q, r],
        sizes: vec![1, 1],
        a: vec![a1.as_ptr(), c1.as_ptr()],
        b: vec![bq.as_ptr(), b.as_ptr()],
        c: vec![c1.as_mut_ptr(), c2.as_mut_ptr()],
    };
    unsafe { args.call(cblas_dgemm_batch) };
    let mag: Vec<f64> = mag.iter().map(|x| x * (k as f64)).collect();
    check::<f64>(&r, "chained", &c2, &want, &mag);
}
