//! Fuzz of descriptor validation: garbage descriptors of every family never make dispatch
//! panic, agree with `validate()`, and the valid small ones run through the safe calls on
//! buffers of exactly the documented extents.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tpp::exec::Family;
use tpp::isa::{matrix_len, MAX_DIM};
use tpp::*;

use Broadcast::{Col, Row, Scalar};
use DType::{BF16, F16, F32, F64, I32, I8, U8};
use Layout::{RowMajor, Vnni2, Vnni4};

/// `d` with one change.
fn set<D>(mut d: D, f: impl FnOnce(&mut D)) -> D {
    f(&mut d);
    d
}

// ---- Fuzz -----------------------------------------------------------------------------------
// Garbage descriptors of every family never make dispatch panic; the valid small ones run
// through the safe calls on buffers of exactly the documented extents, and must be accepted.

const SMALL: usize = 64;
const HUGE: [usize; 3] = [MAX_DIM, MAX_DIM + 1, usize::MAX];

/// Draws garbage from proptest's words (so that failures shrink), then from a hash of them.
struct Draw(Vec<u64>, usize);

impl Draw {
    fn word(&mut self) -> u64 {
        self.1 += 1;
        let hashed = (self.0[0] ^ self.1 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0
            .get(self.1 - 1)
            .copied()
            .unwrap_or(hashed ^ hashed >> 29)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.word() % n.max(1) as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    /// Mostly small, sometimes 0, huge, above MAX_DIM or any usize.
    fn size(&mut self) -> usize {
        match self.below(40) {
            0..=32 => 1 + self.below(12),
            33..=35 => 13 + self.below(SMALL - 12),
            36 => 0,
            37 => self.pick(&HUGE),
            38 => 65 + self.below(MAX_DIM - 64),
            _ => self.word() as usize,
        }
    }
    /// Mostly the minimum the other fields need plus some slack, else garbage.
    fn ld(&mut self, min: usize) -> usize {
        match self.below(18) {
            0..=13 => min.saturating_add(self.below(7)),
            14 | 15 => self.below(SMALL + 1),
            16 => self.pick(&HUGE),
            _ => self.word() as usize,
        }
    }
    fn mask_ld(&mut self, cols: usize) -> usize {
        match (self.below(8), cols.checked_next_multiple_of(8)) {
            (0..=6, Some(m)) => m.saturating_add(8 * self.below(3)),
            _ => self.ld(cols),
        }
    }
    fn dtype(&mut self) -> DType {
        self.pick(&DType::ALL)
    }
    fn float(&mut self) -> DType {
        self.pick(&[F64, F32, BF16, F16])
    }
    /// (in, compute, out): mostly one float dtype, sometimes any three dtypes.
    fn eltwise_dtypes(&mut self) -> (DType, DType, DType) {
        let (d, c, e) = (self.float(), self.pick(&[F32, F64]), self.float());
        match self.below(5) {
            0..=2 => (d, c, d),
            3 => (d, c, e),
            _ => (self.dtype(), self.dtype(), self.dtype()),
        }
    }
    fn scalar(&mut self) -> f64 {
        let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, -0.0];
        match self.below(24) {
            0..=11 => 1.0,
            12..=15 => 0.0,
            16..=19 => self.below(17) as f64 / 2.0 - 4.0,
            20 => self.pick(&special),
            _ => f64::from_bits(self.word()),
        }
    }
    fn param(&mut self) -> f32 {
        match self.below(6) {
            0..=3 => self.below(21) as f32 / 10.0 - 1.0,
            4 => self.pick(&[1.0, 1.5, -1e-30, f32::NAN, f32::INFINITY, f32::NEG_INFINITY]),
            _ => f32::from_bits(self.word() as u32),
        }
    }
    fn broadcast(&mut self) -> Broadcast {
        [Broadcast::None, Row, Col, Scalar][self.below(6).saturating_sub(2)]
    }
    /// A non-zero value: ±0.25..=2 for floats, ±1..=4 for integers.
    fn nonzero(&mut self, float: bool) -> f64 {
        let magnitude = [(1 + self.below(4)) as f64, (1 + self.below(8)) as f64 / 4.0];
        [1.0, -1.0][self.below(2)] * magnitude[float as usize]
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.word() as u8).collect()
    }
}

macro_rules! buf {
    ($($v:ident: $t:ty = $conv:expr),*) => {
        /// A buffer of any dtype.
        enum Buf { $($v(Vec<$t>)),* }
        impl Buf {
            /// `len` non-zero random elements of `dt`.
            fn random(dt: DType, len: usize, g: &mut Draw) -> Buf {
                match dt {
                    $(DType::$v => {
                        let conv: fn(f64) -> $t = $conv;
                        Buf::$v((0..len).map(|_| conv(g.nonzero(dt.is_float()))).collect())
                    })*
                }
            }
            fn input(&self) -> In<'_> {
                match self { $(Buf::$v(v) => v.into()),* }
            }
            fn output(&mut self) -> Out<'_> {
                match self { $(Buf::$v(v) => v.into()),* }
            }
        }
    };
}
buf!(F64: f64 = |x| x, F32: f32 = |x| x as f32, BF16: bf16 = bf16::from_f64,
     F16: f16 = f16::from_f64, I32: i32 = |x| x as i32, I8: i8 = |x| x as i8,
     U8: u8 = |x| x.abs() as u8);

/// What became of one fuzz case.
#[derive(Clone, Copy)]
enum Outcome {
    Rejected,
    Ran,
    TooBig,
}

/// Dispatches `d` (recording it in `what` first, for the failure message). The result must
/// agree with `validate`, and an error must be `InvalidDescriptor` of the right family. Ends
/// the case early unless `d` is valid and every one of `sizes` is small enough to run.
fn dispatch_case<D: Descriptor + Debug>(
    d: D,
    sizes: &[usize],
    what: &mut String,
) -> std::result::Result<Kernel<D::Family>, Outcome> {
    *what = format!("{d:?}");
    let name = D::Family::NAME;
    match (tpp::dispatch(&d), D::Family::validate(&d)) {
        (Ok(_), Ok(())) if sizes.iter().any(|&x| x > SMALL) => Err(Outcome::TooBig),
        (Ok(k), Ok(())) => Ok(k),
        (Err(e), Err(v)) if e == v => match e {
            Error::InvalidDescriptor { family, .. } if family == name => Err(Outcome::Rejected),
            e => panic!("not an InvalidDescriptor of {name}: {e}"),
        },
        (r, v) => panic!("dispatch gave {:?} but validate {v:?}", r.map(drop)),
    }
}

/// A case either runs (`Ok`) or ends early with its outcome.
type Case = std::result::Result<(), Outcome>;

/// Runs `check` on 256 garbage draws (times `TPP_PROPTEST_SCALE`); asserts that both sides (rejected, ran) were exercised.
fn fuzz(name: &str, check: impl Fn(&mut Draw, &mut String) -> Case) {
    let config = Config {
        failure_persistence: None,
        ..common::scale::config(256)
    };
    let counts = Cell::new([0usize; 3]);
    let words = proptest::collection::vec(any::<u64>(), 48);
    let result = TestRunner::new(config).run(&words, |words| {
        let (mut what, mut g) = (String::new(), Draw(words, 0));
        let r = catch_unwind(AssertUnwindSafe(|| check(&mut g, &mut what)));
        let r = r.map_err(|_| TestCaseError::fail(format!("panicked on {what}")))?;
        let outcome = r.map_or_else(|o| o, |()| Outcome::Ran);
        let mut c = counts.get();
        c[outcome as usize] += 1;
        counts.set(c);
        Ok(())
    });
    result.unwrap_or_else(|e| panic!("{name}: {e}"));
    let [rejected, ran, big] = counts.get();
    eprintln!("{name}: {rejected} rejected, {ran} ran, {big} valid but too big to run");
    assert!(rejected >= 25 && ran >= 10, "{name}: unbalanced");
}

fn gemm_desc(g: &mut Draw) -> GemmDesc {
    let (m, n, k) = (g.size(), g.size(), g.size());
    let (a, b, c, comp) = match g.below(6) {
        0 => (F64, F64, F64, F64),
        1 => (F32, F32, g.pick(&[F32, BF16, F16]), F32),
        2 => (BF16, BF16, g.pick(&[F32, BF16]), F32),
        3 => (F16, F16, g.pick(&[F32, F16]), F32),
        4 => (g.pick(&[I8, U8]), g.pick(&[I8, U8]), I32, I32),
        _ => (g.dtype(), g.dtype(), g.dtype(), g.dtype()),
    };
    let (trans_a, trans_b) = (g.below(4) == 0, g.below(4) == 0);
    let natural_vnni = [RowMajor, Vnni4, Vnni2][b.size().min(2)];
    let b_layout = match g.below(9) {
        0..=5 => RowMajor,
        6 | 7 => natural_vnni,
        _ => g.pick(&[RowMajor, Vnni2, Vnni4]),
    };
    let b_cols = [n, k][(trans_b && b_layout == RowMajor) as usize];
    let mut stride = || match g.below(6) {
        0..=3 => g.below(SMALL + 1),
        4 => (1 << 20) + g.below(1 << 40),
        _ => g.word() as usize,
    };
    let stride = BatchReduce::Stride {
        a: stride(),
        b: stride(),
    };
    let batch = match g.below(7) {
        0..=2 => BatchReduce::None,
        3 | 4 => stride,
        5 => BatchReduce::Offsets,
        _ => BatchReduce::Addresses,
    };
    let bias = Bias {
        broadcast: g.pick(&[BiasBroadcast::Row, BiasBroadcast::Col]),
        dtype: g.dtype(),
    };
    let (alpha, mask) = (g.param(), g.below(2) == 0);
    #[rustfmt::skip]
    let activation = g.pick(&[
        Activation::None, Activation::None, Activation::None, Activation::None,
        Activation::None, Activation::None, Activation::None, Activation::None,
        Activation::Relu { mask }, Activation::Relu { mask }, Activation::LeakyRelu { alpha },
        Activation::Elu { alpha }, Activation::Gelu, Activation::GeluErf, Activation::Sigmoid,
        Activation::Tanh, Activation::Silu,
    ]);
    GemmDesc {
        lda: g.ld(if trans_a { m } else { k }),
        ldb: g.ld(b_cols),
        ldc: g.ld(n),
        b_dtype: b,
        c_dtype: c,
        compute_dtype: comp,
        trans_a,
        trans_b,
        b_layout,
        c_layout: [Vnni2, Vnni4, RowMajor][g.below(10).min(2)],
        alpha: g.scalar(),
        beta: g.scalar(),
        batch,
        epilogue: Epilogue {
            bias: (g.below(4) == 0).then_some(bias),
            activation,
            mask_ld: g.mask_ld(n),
        },
        ..GemmDesc::new(m, n, k, a)
    }
}

fn run_gemm(g: &mut Draw, what: &mut String) -> Case {
    let d = gemm_desc(g);
    let (sa, sb) = match d.batch {
        BatchReduce::Stride { a, b } => (a, b),
        _ => (0, 0),
    };
    let sizes = [
        d.m,
        d.n,
        d.k,
        d.lda,
        d.ldb,
        d.ldc,
        d.epilogue.mask_ld,
        sa,
        sb,
    ];
    let kernel = dispatch_case(d, &sizes, what)?;
    let (a_len, b_len, count) = (d.a_len(), d.b_len(), g.below(4));
    let mut c = Buf::random(d.c_dtype, d.c_len(), g);
    let bias = d.epilogue.bias.map(|b| {
        let len = [d.m, d.n][(b.broadcast == BiasBroadcast::Row) as usize];
        Buf::random(b.dtype, len, g)
    });
    let mut mask = vec![0u8; bitmask::bytes(d.m, d.n, d.epilogue.mask_ld)];
    let mut offsets = |one: usize| (0..count).map(|_| g.below(2 * one + 1) as u64).collect();
    let (a_offsets, b_offsets): (Vec<u64>, Vec<u64>) = (offsets(a_len), offsets(b_len));
    // Elements the A (B) slice needs in this batch form.
    let span = |one: usize, stride: usize, offs: &[u64]| match d.batch {
        BatchReduce::None => one,
        BatchReduce::Stride { .. } => count.checked_sub(1).map_or(0, |c| c * stride + one),
        _ => offs.iter().map(|&o| o as usize + one).max().unwrap_or(0),
    };
    let a = Buf::random(d.a_dtype, span(a_len, sa, &a_offsets), g);
    let b = Buf::random(d.b_dtype, span(b_len, sb, &b_offsets), g);
    let mut list = |dt, len| {
        (0..count)
            .map(|_| Buf::random(dt, len, g))
            .collect::<Vec<_>>()
    };
    let (a_list, b_list) = (list(d.a_dtype, a_len), list(d.b_dtype, b_len));
    let a_ins: Vec<In> = a_list.iter().map(Buf::input).collect();
    let b_ins: Vec<In> = b_list.iter().map(Buf::input).collect();
    let (a, b) = (a.input(), b.input());
    let inputs = match d.batch {
        BatchReduce::None => GemmInputs::Single { a, b },
        BatchReduce::Stride { .. } => GemmInputs::Strided { a, b, batch: count },
        BatchReduce::Offsets => {
            let (a_offsets, b_offsets) = (&a_offsets[..], &b_offsets[..]);
            GemmInputs::Offsets {
                a,
                b,
                a_offsets,
                b_offsets,
            }
        }
        BatchReduce::Addresses => GemmInputs::Addresses {
            a: &a_ins,
            b: &b_ins,
        },
    };
    let mut call = GemmCall::new(inputs, c.output());
    call.bias = bias.as_ref().map(Buf::input);
    if d.epilogue.activation.writes_mask() {
        call.relu_mask = Some(&mut mask);
    }
    kernel
        .run(call)
        .map_err(|e| panic!("a valid call refused: {e}"))
}

#[test]
fn fuzz_gemm() {
    fuzz("gemm", run_gemm);
}

fn run_unary(g: &mut Draw, what: &mut String) -> Case {
    use UnaryOp::*;
    let (alpha, p, mask) = (g.param(), g.param(), g.below(2) == 0);
    let layout = g.pick(&[Vnni2, Vnni4, Vnni2, RowMajor]);
    #[rustfmt::skip]
    let op = g.pick(&[
        Identity, Zero, Negate, Abs, Square, Sqrt, Reciprocal, Rsqrt, Increment, Exp, Tanh,
        TanhBackward, Sigmoid, SigmoidBackward, Gelu, GeluBackward, GeluErf, GeluErfBackward,
        Silu, SiluBackward, Transpose, GatherRows, GatherCols, ScatterRows, ScatterCols,
        Relu { mask }, ReluBackward { mask }, LeakyRelu { alpha, mask },
        LeakyReluBackward { alpha, mask }, Elu { alpha }, EluBackward { alpha }, Dropout { p },
        DropoutBackward { p }, VnniPack { layout }, VnniUnpack { layout },
    ]);
    let (rows, cols, (i, c, o)) = (g.size(), g.size(), g.eltwise_dtypes());
    let in_min = [cols, 1][(op == GatherCols) as usize];
    let out_min = match op {
        ScatterCols => 1,
        Transpose => rows,
        _ => cols,
    };
    let (ld_in, ld_out, broadcast, mask_ld) =
        (g.ld(in_min), g.ld(out_min), g.broadcast(), g.mask_ld(cols));
    let d = UnaryDesc {
        op,
        rows,
        cols,
        ld_in,
        ld_out,
        in_dtype: i,
        compute_dtype: c,
        out_dtype: o,
        broadcast,
        mask_ld,
    };
    let kernel = dispatch_case(d, &[rows, cols, ld_in, ld_out, mask_ld], what)?;
    // Row gathers read, and row scatters write, `span` rows; column indices stay below the ld.
    let span = rows + g.below(3);
    let (count, bound) = match op {
        GatherRows | ScatterRows => (rows, span),
        GatherCols => (cols, ld_in),
        _ => (cols, ld_out),
    };
    let indices: Vec<u64> = (0..count).map(|_| g.below(bound) as u64).collect();
    let in_len = [d.in_len(), matrix_len(span, cols, ld_in)][(op == GatherRows) as usize];
    let out_len = [d.out_len(), matrix_len(span, cols, ld_out)][(op == ScatterRows) as usize];
    let input = Buf::random(i, in_len, g);
    let aux = Buf::random(i, matrix_len(rows, cols, ld_in), g);
    let mask_bytes = bitmask::bytes(rows, cols, mask_ld);
    let (mask_in, mut mask_out) = (g.bytes(mask_bytes), g.bytes(mask_bytes));
    let mut out = Buf::random(o, out_len, g);
    let call = UnaryCall {
        input: op.reads_input().then(|| input.input()),
        aux: op.reads_aux().then(|| aux.input()),
        mask_in: op.reads_mask().then_some(&mask_in[..]),
        output: out.output(),
        mask_out: op.writes_mask().then_some(&mut mask_out[..]),
        indices: op.reads_indices().then_some(&indices[..]),
        seed: g.word(),
    };
    kernel
        .run(call)
        .map_err(|e| panic!("a valid call refused: {e}"))
}

#[test]
fn fuzz_unary() {
    fuzz("unary", run_unary);
}

fn run_binary(g: &mut Draw, what: &mut String) -> Case {
    use BinaryOp::*;
    use CmpOp::*;
    let cmp = Compare(g.pick(&[Gt, Ge, Lt, Le, Eq, Ne]));
    let op = g.pick(&[Add, Sub, Mul, Div, Max, Min, MulAdd, cmp, cmp]);
    let (rows, cols, (a, c, o), b) = (g.size(), g.size(), g.eltwise_dtypes(), g.float());
    let compare = op.is_compare();
    let (ld_in0, ld_in1) = (g.ld(cols), g.ld(cols));
    let ld_out = if compare { g.mask_ld(cols) } else { g.ld(cols) };
    let d = BinaryDesc {
        ld_in0,
        ld_in1,
        ld_out,
        out_dtype: if compare && g.below(8) > 0 { U8 } else { o },
        broadcast0: g.broadcast(),
        broadcast1: g.broadcast(),
        ..BinaryDesc::new(op, rows, 1, a).dtypes(a, b, c, o)
    };
    let d = set(d, |d| d.cols = cols);
    let kernel = dispatch_case(d, &[rows, cols, ld_in0, ld_in1, ld_out], what)?;
    let x = Buf::random(a, d.in0_len(), g);
    let y = Buf::random(b, d.in1_len(), g);
    let mut out = Buf::random(d.out_dtype, d.out_len(), g);
    let r = kernel.call(x.input(), y.input(), out.output());
    r.map_err(|e| panic!("a valid call refused: {e}"))
}

#[test]
fn fuzz_binary() {
    fuzz("binary", run_binary);
}

fn run_ternary(g: &mut Draw, what: &mut String) -> Case {
    let op = g.pick(&[TernaryOp::MulAdd, TernaryOp::NMulAdd, TernaryOp::Select]);
    let (rows, cols, (a, c, o)) = (g.size(), g.size(), g.eltwise_dtypes());
    let d = TernaryDesc {
        ld_in: [g.ld(cols), g.ld(cols), g.ld(cols)],
        ld_out: g.ld(cols),
        in_dtypes: [a, g.float(), g.float()],
        compute_dtype: c,
        out_dtype: o,
        broadcasts: [g.broadcast(), g.broadcast(), g.broadcast()],
        mask_ld: g.mask_ld(cols),
        ..TernaryDesc::new(op, rows, 1, a)
    };
    let d = set(d, |d| d.cols = cols);
    let [l0, l1, l2] = d.ld_in;
    let kernel = dispatch_case(d, &[rows, cols, l0, l1, l2, d.ld_out, d.mask_ld], what)?;
    let ins: Vec<Buf> = (0..3)
        .map(|i| Buf::random(d.in_dtypes[i], d.in_len(i), g))
        .collect();
    let mask = g.bytes(bitmask::bytes(rows, cols, d.mask_ld));
    let mut out = Buf::random(o, d.out_len(), g);
    let (x, y, z) = (ins[0].input(), ins[1].input(), ins[2].input());
    let r = match op {
        TernaryOp::Select => kernel.select(&mask, x, y, out.output()),
        _ => kernel.call(x, y, z, out.output()),
    };
    r.map_err(|e| panic!("a valid call refused: {e}"))
}

#[test]
fn fuzz_ternary() {
    fuzz("ternary", run_ternary);
}

fn run_reduce(g: &mut Draw, what: &mut String) -> Case {
    use ReduceOp::*;
    let op = g.pick(&[Sum, Max, Min, AbsMax, SumSq, SumAndSumSq]);
    let axis = g.pick(&[ReduceAxis::PerRow, ReduceAxis::PerCol]);
    let (rows, cols, (i, c, o)) = (g.size(), g.size(), g.eltwise_dtypes());
    let d = ReduceDesc {
        ld_in: g.ld(cols),
        compute_dtype: c,
        out_dtype: o,
        accumulate: g.below(2) == 0,
        ..ReduceDesc::new(op, axis, rows, cols, i)
    };
    let kernel = dispatch_case(d, &[rows, cols, d.ld_in], what)?;
    let input = Buf::random(i, d.in_len(), g);
    let mut out = Buf::random(o, d.out_len(), g);
    let r = kernel.call(input.input(), out.output());
    r.map_err(|e| panic!("a valid call refused: {e}"))
}

#[test]
fn fuzz_reduce() {
    fuzz("reduce", run_reduce);
}
