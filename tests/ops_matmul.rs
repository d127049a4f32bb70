//! The large GEMM against a plain f64 triple loop written here (independent of every kernel):
//! random shapes across the block edges (48 rows, 64 columns, 64-deep k blocks and their
//! chunks), both storage orders, every transpose, alpha and beta, padded leading dimensions,
//! f32, f64 and bf16 inputs, on one and on two threads. C starts as NaN when beta = 0, and the
//! padding of C must keep its bits.

mod common;

use proptest::prelude::*;
use tpp::bf16;
use tpp::ops::{matmul, Matmul, MatmulElem, Order};

/// A small deterministic generator.
struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
    }
}

trait Elem: MatmulElem {
    fn from(v: f64) -> Self;
    fn to(self) -> f64;
    fn c_from(v: f64) -> Self::C;
    fn c_to(c: Self::C) -> f64;
    fn c_bits(c: Self::C) -> u64;
    /// Relative tolerance of the accumulation type.
    const TOL: f64;
}
impl Elem for f32 {
    fn from(v: f64) -> Self {
        v as f32
    }
    fn to(self) -> f64 {
        self as f64
    }
    fn c_from(v: f64) -> f32 {
        v as f32
    }
    fn c_to(c: f32) -> f64 {
        c as f64
    }
    fn c_bits(c: f32) -> u64 {
        c.to_bits() as u64
    }
    const TOL: f64 = 2e-6;
}
impl Elem for f64 {
    fn from(v: f64) -> Self {
        v
    }
    fn to(self) -> f64 {
        self
    }
    fn c_from(v: f64) -> f64 {
        v
    }
    fn c_to(c: f64) -> f64 {
        c
    }
    fn c_bits(c: f64) -> u64 {
        c.to_bits()
    }
    const TOL: f64 = 1e-14;
}
impl Elem for bf16 {
    fn from(v: f64) -> Self {
        bf16::from_f64(v)
    }
    fn to(self) -> f64 {
        self.to_f64()
    }
    fn c_from(v: f64) -> f32 {
        v as f32
    }
    fn c_to(c: f32) -> f64 {
        c as f64
    }
    fn c_bits(c: f32) -> u64 {
        c.to_bits() as u64
    }
    const TOL: f64 = 2e-6;
}

/// Element `(i, j)` of an `r × c` logical operand stored (maybe transposed) in `order`.
fn at(order: Order, trans: bool, ld: usize, i: usize, j: usize) -> usize {
    let (i, j) = if trans { (j, i) } else { (i, j) };
    match order {
        Order::RowMajor => i * ld + j,
        Order::ColMajor => i + j * ld,
    }
}

fn span(order: Order, rows: usize, cols: usize, ld: usize) -> usize {
    match order {
        Order::RowMajor => rows.saturating_sub(1) * ld + cols,
        Order::ColMajor => cols.saturating_sub(1) * ld + rows,
    }
}

fn check<T: Elem>(p: Matmul, seed: u64) -> Result<(), String> {
    check_as::<T>(p, seed, |x| x)
}

/// [`check`] against a reference whose inputs pass through `input` first (bf16 rounding for
/// a reduced-precision product).
fn check_as<T: Elem>(p: Matmul, seed: u64, input: fn(f64) -> f64) -> Result<(), String> {
    let mut rng = Rng(seed);
    let (ar, ac) = if p.trans_a { (p.k, p.m) } else { (p.m, p.k) };
    let (br, bc) = if p.trans_b { (p.n, p.k) } else { (p.k, p.n) };
    let a: Vec<T> = (0..span(p.order, ar, ac, p.lda))
        .map(|_| T::from(rng.f()))
        .collect();
    let b: Vec<T> = (0..span(p.order, br, bc, p.ldb))
        .map(|_| T::from(rng.f()))
        .collect();
    let clen = span(p.order, p.m, p.n, p.ldc);
    let c0: Vec<T::C> = (0..clen)
        .map(|_| {
            if p.beta == 0.0 {
                T::c_from(f64::NAN)
            } else {
                T::c_from(rng.f())
            }
        })
        .collect();
    let mut c = c0.clone();
    matmul(&p, &a, &b, &mut c).map_err(|e| e.to_string())?;
    let mut inside = vec![false; clen];
    for i in 0..p.m {
        for j in 0..p.n {
            let (mut sum, mut mag) = (0.0, 0.0);
            for q in 0..p.k {
                let x = input(a[at(p.order, p.trans_a, p.lda, i, q)].to())
                    * input(b[at(p.order, p.trans_b, p.ldb, q, j)].to());
                sum += x;
                mag += x.abs();
            }
            let ci = at(p.order, false, p.ldc, i, j);
            inside[ci] = true;
            let prior = if p.beta == 0.0 {
                0.0
            } else {
                p.beta * T::c_to(c0[ci])
            };
            let want = p.alpha * sum + prior;
            let got = T::c_to(c[ci]);
            let tol =
                T::TOL * (p.k as f64).sqrt().max(1.0) * (p.alpha.abs() * mag + prior.abs()) + 1e-30;
            if (got - want).abs().is_nan() || (got - want).abs() > tol {
                return Err(format!("C({i},{j}) = {got}, want {want} (tol {tol})"));
            }
        }
    }
    for (n, &ins) in inside.iter().enumerate() {
        if !ins && T::c_bits(c[n]) != T::c_bits(c0[n]) {
            return Err(format!("C padding element {n} was written"));
        }
    }
    Ok(())
}

fn problem() -> impl Strategy<Value = (Matmul, u8, bool, u64)> {
    let dim = prop_oneof![1usize..=5, 40usize..=70, 90usize..=140, Just(193usize)];
    (
        (
            dim.clone(),
            dim.clone(),
            prop_oneof![1usize..=8, 60usize..=70, 120usize..=140, Just(1100usize)],
        ),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (
            prop::sample::select(vec![1.0, -0.5, 2.0]),
            prop::sample::select(vec![0.0, 1.0, 0.75]),
        ),
        (0usize..3, 0u8..3, any::<bool>(), any::<u64>()),
    )
        .prop_map(
            |((m, n, k), (col, ta, tb), (alpha, beta), (pad, dt, two, seed))| {
                let mut p = Matmul::new(m, n, k);
                if col {
                    p = p.col_major();
                }
                if ta {
                    p = p.trans_a();
                }
                if tb {
                    p = p.trans_b();
                }
                p = p.scalars(alpha, beta);
                p = p.ld(p.lda + pad, p.ldb + 2 * pad, p.ldc + pad);
                (p, dt, two, seed)
            },
        )
}

fn run(p: Matmul, dt: u8, two: bool, seed: u64) -> Result<(), String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(if two { 2 } else { 1 })
        .build()
        .unwrap();
    pool.install(|| match dt {
        0 => check::<f32>(p, seed),
        1 => check::<f64>(p, seed),
        _ => check::<bf16>(p, seed),
    })
}

proptest! {
    #![proptest_config(common::scale::config(48))]
    #[test]
    fn matmul_matches_a_plain_loop((p, dt, two, seed) in problem()) {
        run(p, dt, two, seed).map_err(|e| TestCaseError::fail(format!("{p:?} dtype {dt}: {e}")))?;
    }
}

/// Degenerate shapes and scalars: empty C, k = 0 and alpha = 0 (C = beta·C, not reading A or
/// B), beta = 0 over NaN.
#[test]
fn degenerate_shapes() {
    for (m, n, k) in [(0, 5, 3), (4, 0, 3), (3, 4, 0), (1, 1, 1)] {
        for (alpha, beta) in [(1.0, 0.0), (0.0, 0.5), (0.0, 0.0), (2.0, 1.0)] {
            let p = Matmul::new(m, n, k).scalars(alpha, beta);
            check::<f32>(p, 3).unwrap();
            check::<f64>(p.col_major(), 4).unwrap();
        }
    }
}

/// Bad leading dimensions and short slices are errors, not UB.
#[test]
fn invalid_problems_are_errors() {
    let p = Matmul::new(4, 4, 4).ld(3, 4, 4);
    let (a, b, mut c) = (vec![0f32; 64], vec![0f32; 64], vec![0f32; 64]);
    assert!(matmul(&p, &a, &b, &mut c).is_err());
    let p = Matmul::new(4, 4, 4);
    assert!(matmul(&p, &a[..15], &b, &mut c).is_err());
    assert!(matmul(&p, &a, &b, &mut c[..15]).is_err());
    assert!(matmul(&p.scalars(f64::NAN, 0.0), &a, &b, &mut c).is_err());
}

/// Few rows of C (at most two row blocks): each task copies (row-major f32/f64 B) or packs
/// (transposed B) the B chunk of its columns just before using it, rather than all of B up
/// front; row- and column-major (the latter swaps the operands, so its n is the row-major
/// problem's m), transposed B, alpha and beta, padded leading dimensions, partial k blocks,
/// chunks of several k blocks, and column groups of a page of B's row with a narrower last.
#[test]
fn few_rows_pack_b_by_chunks() {
    for (m, n, k) in [
        (1, 300, 100),
        (64, 130, 257),
        (96, 70, 64),
        (97, 65, 129),
        (48, 2100, 300),
        (7, 1500, 700),
    ] {
        for (alpha, beta) in [(1.0, 0.0), (-1.5, 0.75), (0.5, 1.0)] {
            let p = Matmul::new(m, n, k).scalars(alpha, beta);
            check::<f32>(p, 5).unwrap();
            check::<f64>(p.ld(k + 3, n + 5, n + 1), 6).unwrap();
            check::<f32>(Matmul::new(n, m, k).col_major().scalars(alpha, beta), 7).unwrap();
            check::<f32>(p.trans_b(), 8).unwrap();
        }
    }
}

/// `Precision::Bf16`: where AMX-BF16 runs, the f32 product equals one of the bf16-rounded
/// inputs (to f32 accumulation); elsewhere it stays in full precision. f64 inputs refuse it.
#[test]
fn bf16_precision_only_when_asked() {
    use tpp::ops::Precision;
    #[cfg(target_arch = "x86_64")]
    let tiles = tpp::backend::amx::bf16_ready();
    #[cfg(not(target_arch = "x86_64"))]
    let tiles = false;
    let to_bf16 = |x: f64| tpp::isa::bf16_from_f64(x).to_f64();
    for (m, n, k) in [(1, 1, 1), (33, 70, 65), (130, 64, 200), (64, 300, 130)] {
        for (alpha, beta) in [(1.0, 0.0), (-1.5, 0.75)] {
            let p = Matmul::new(m, n, k)
                .scalars(alpha, beta)
                .precision(Precision::Bf16);
            let r = if tiles {
                check_as::<f32>(p, 9, to_bf16)
            } else {
                check::<f32>(p, 9)
            };
            r.unwrap_or_else(|e| panic!("{p:?}: {e}"));
            check_as::<f32>(
                p.col_major().trans_b(),
                10,
                if tiles { to_bf16 } else { |x| x },
            )
            .unwrap();
            // Asked for nothing, nothing is rounded.
            check::<f32>(p.precision(Precision::Full), 11).unwrap();
        }
    }
    let p = Matmul::new(4, 4, 4).precision(Precision::Bf16);
    let (a, b, mut c) = (vec![1f64; 16], vec![1f64; 16], vec![0f64; 16]);
    let e = matmul(&p, &a, &b, &mut c).unwrap_err().to_string();
    assert!(e.contains("precision"), "{e}");
}
