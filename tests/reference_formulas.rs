//! The reference backend against formulas written again, independently, in this file: for
//! random descriptors from the shared strategies, each output element is recomputed here in
//! f64 straight from the ISA's documented definition and index layout.

mod common;

use common::buffers::{Buf, Rng};
use common::{strategies, tolerance};
use proptest::prelude::*;
use std::result::Result;
use tpp::isa::matrix_len;
use tpp::*;

fn erf(x: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 is too coarse; integrate exp(-t²) with Simpson's rule instead.
    let n = 2000;
    let h = x / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(x);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn act(a: Activation, x: f64) -> f64 {
    match a {
        Activation::None => x,
        Activation::Relu { .. } => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        Activation::LeakyRelu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha as f64 * x
            }
        }
        Activation::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha as f64 * x.exp_m1()
            }
        }
        Activation::Gelu => {
            0.5 * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
        }
        Activation::GeluErf => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
        Activation::Sigmoid => sig(x),
        Activation::Tanh => x.tanh(),
        Activation::Silu => x * sig(x),
    }
}

/// Rounds through the compute type and then the output type, as the ISA specifies.
fn round(x: f64, compute: DType, out: DType) -> f64 {
    let c = Buf::from_fn(compute, 1, |_| x).get(0);
    Buf::from_fn(out, 1, |_| c).get(0)
}

fn check(
    got: f64,
    want: f64,
    mag: f64,
    tol: tolerance::Tol,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(
        tolerance::close(got, want, mag, tol),
        "{what}: got {got}, want {want}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(common::scale::config(384))]

    #[test]
    fn gemm_follows_its_formula(d in strategies::gemm(), seed in any::<u64>()) {
        let k = tpp::dispatch_on(&d, "reference").unwrap();
        let mut rng = Rng(seed);
        let batch = if d.batch == BatchReduce::None { 1 } else { 1 + rng.below(3) };
        // Separate matrices per batch member, stored contiguously for the stride form.
        let step_a = match d.batch { BatchReduce::Stride { a, .. } => a, _ => d.a_len() };
        let step_b = match d.batch { BatchReduce::Stride { b, .. } => b, _ => d.b_len() };
        let a = Buf::random(d.a_dtype, step_a * (batch - 1) + d.a_len(), &mut rng, -2.0, 2.0, false);
        let b = Buf::random(d.b_dtype, step_b * (batch - 1) + d.b_len(), &mut rng, -2.0, 2.0, false);
        let c0 = Buf::random(d.c_dtype, d.c_len(), &mut rng, -2.0, 2.0, false);
        let bias = Buf::random(d.epilogue.bias.map_or(DType::F32, |x| x.dtype), d.m.max(d.n), &mut rng, -1.0, 1.0, false);
        let mut c = c0.clone();
        let mut mask = vec![0u8; bitmask::bytes(d.m, d.n, d.epilogue.mask_ld)];
        let offs_a: Vec<u64> = (0..batch).map(|i| (i * step_a) as u64).collect();
        let offs_b: Vec<u64> = (0..batch).map(|i| (i * step_b) as u64).collect();
        let a_list: Vec<Buf> = (0..batch).map(|i| Buf::from_fn(d.a_dtype, d.a_len(), |e| a.get(i * step_a + e))).collect();
        let b_list: Vec<Buf> = (0..batch).map(|i| Buf::from_fn(d.b_dtype, d.b_len(), |e| b.get(i * step_b + e))).collect();
        let (ai, bi): (Vec<In>, Vec<In>) = (a_list.iter().map(Buf::input).collect(), b_list.iter().map(Buf::input).collect());
        let inputs = match d.batch {
            BatchReduce::None => GemmInputs::Single { a: a.input(), b: b.input() },
            BatchReduce::Stride { .. } => GemmInputs::Strided { a: a.input(), b: b.input(), batch },
            BatchReduce::Offsets => GemmInputs::Offsets { a: a.input(), b: b.input(), a_offsets: &offs_a, b_offsets: &offs_b },
            BatchReduce::Addresses => GemmInputs::Addresses { a: &ai, b: &bi },
        };
        let mut call = GemmCall::new(inputs, c.output());
        if d.epilogue.bias.is_some() {
            call = call.bias(bias.input());
        }
        if d.epilogue.activation.writes_mask() {
            call = call.relu_mask(&mut mask);
        }
        k.run(call).unwrap();

        let v = d.b_layout.factor();
        let tol = tolerance::Tol { rel: tolerance::of(d.c_dtype).rel + 1e-12, abs: tolerance::of(d.c_dtype).abs };
        for i in 0..d.m {
            for j in 0..d.n {
                let (mut acc, mut mag) = (0.0f64, 0.0f64);
                for bt in 0..batch {
                    for p in 0..d.k {
                        let ae = if d.trans_a { p * d.lda + i } else { i * d.lda + p };
                        let be = if v > 1 { (p / v) * d.ldb * v + j * v + p % v }
                            else if d.trans_b { j * d.ldb + p } else { p * d.ldb + j };
                        let prod = a.get(bt * step_a + ae) * b.get(bt * step_b + be);
                        acc += prod;
                        mag += prod.abs();
                    }
                }
                let ce = if d.c_layout == Layout::Vnni2 { (i / 2) * d.ldc * 2 + j * 2 + i % 2 } else { i * d.ldc + j };
                let prior = if d.beta != 0.0 { c0.get(ce) } else { 0.0 };
                let want = if d.is_int8() {
                    (acc as i64).wrapping_add(prior as i64) as i32 as f64
                } else {
                    let bias_v = match d.epilogue.bias {
                        Some(Bias { broadcast: BiasBroadcast::Row, .. }) => bias.get(j),
                        Some(_) => bias.get(i),
                        None => 0.0,
                    };
                    round(act(d.epilogue.activation, d.alpha * acc + d.beta * prior + bias_v), d.compute_dtype, d.c_dtype)
                };
                check(c.get(ce), want, mag + prior.abs() + 1.0, tol, &format!("C({i},{j})"))?;
                if d.epilogue.activation.writes_mask() {
                    prop_assert_eq!(bitmask::get(&mask, i, j, d.epilogue.mask_ld), want > 0.0);
                }
            }
        }
    }

    #[test]
    fn elementwise_unary_follows_its_formula(d in strategies::unary(), seed in any::<u64>()) {
        use UnaryOp::*;
        prop_assume!(!d.op.is_layout_transform() && d.in_dtype.is_float() && d.out_dtype.is_float());
        let k = tpp::dispatch_on(&d, "reference").unwrap();
        let mut rng = Rng(seed);
        let x = Buf::random(d.in_dtype, d.in_len(), &mut rng, -4.0, 4.0, false);
        let aux = Buf::random(d.in_dtype, matrix_len(d.rows, d.cols, d.ld_in), &mut rng, -4.0, 4.0, false);
        let mask_len = bitmask::bytes(d.rows, d.cols, d.mask_ld);
        let mask_in: Vec<u8> = (0..mask_len).map(|_| rng.next_u64() as u8).collect();
        let mut mask_out = vec![0u8; mask_len];
        let mut out = Buf::poison(d.out_dtype, d.out_len());
        let mut call = UnaryCall::output_only(out.output()).seed(seed);
        if d.op.reads_input() { call.input = Some(x.input()); }
        if d.op.reads_aux() { call = call.aux(aux.input()); }
        if d.op.reads_mask() { call = call.mask_in(&mask_in); }
        if d.op.writes_mask() { call = call.mask_out(&mut mask_out); }
        k.run(call).unwrap();
        let tol = tolerance::loosest(&[d.compute_dtype, d.out_dtype]);
        let c = |v: f64| Buf::from_fn(d.compute_dtype, 1, |_| v).get(0);
        for i in 0..d.rows {
            for j in 0..d.cols {
                let xv = c(x.get(d.broadcast.offset(i, j, d.ld_in)));
                let a = c(aux.get(i * d.ld_in + j));
                let bit = bitmask::get(&mask_in, i, j, d.mask_ld);
                let keep = 1.0 / (1.0 - 0.3f32 as f64);
                let want = match d.op {
                    Identity => { let o = Buf::from_fn(d.out_dtype, 1, |_| x.get(d.broadcast.offset(i, j, d.ld_in))); o.get(0) }
                    Zero => 0.0,
                    Negate => -xv, Abs => xv.abs(), Square => xv * xv, Sqrt => xv.sqrt(),
                    Reciprocal => 1.0 / xv, Rsqrt => 1.0 / xv.sqrt(), Increment => xv + 1.0, Exp => xv.exp(),
                    Tanh => act(Activation::Tanh, xv), Sigmoid => act(Activation::Sigmoid, xv),
                    Gelu => act(Activation::Gelu, xv), GeluErf => act(Activation::GeluErf, xv),
                    Silu => act(Activation::Silu, xv), Relu { .. } => act(Activation::Relu { mask: false }, xv),
                    LeakyRelu { alpha, .. } => act(Activation::LeakyRelu { alpha }, xv),
                    Elu { alpha } => act(Activation::Elu { alpha }, xv),
                    // Backward forms by central differences of the forward formulas.
                    TanhBackward | SigmoidBackward | GeluBackward | GeluErfBackward | SiluBackward | EluBackward { .. } => {
                        let f = match d.op {
                            TanhBackward => Activation::Tanh, SigmoidBackward => Activation::Sigmoid,
                            GeluBackward => Activation::Gelu, GeluErfBackward => Activation::GeluErf,
                            SiluBackward => Activation::Silu, _ => Activation::Elu { alpha: 1.0 },
                        };
                        let h = 1e-5;
                        xv * (act(f, a + h) - act(f, a - h)) / (2.0 * h)
                    }
                    ReluBackward { mask: false } => if a > 0.0 { xv } else { 0.0 },
                    ReluBackward { mask: true } => if bit { xv } else { 0.0 },
                    LeakyReluBackward { alpha, mask } => if (mask && bit) || (!mask && a > 0.0) { xv } else { alpha as f64 * xv },
                    Dropout { .. } => {
                        let kept = bitmask::get(&mask_out, i, j, d.mask_ld);
                        if kept { xv * c(keep) } else { 0.0 }
                    }
                    DropoutBackward { .. } => if bit { xv * c(keep) } else { 0.0 },
                    op => unreachable!("{op:?}"),
                };
                let want = if d.op == Identity { want } else { round(want, d.compute_dtype, d.out_dtype) };
                // Finite differences are good to ~1e-7 relative; the quadrature erf above to ~1e-12,
                // which the 1 + erf(x) of GELU amplifies in the negative tail.
                let own_error = match d.op {
                    op if op.reads_aux() => 1e-6,
                    GeluErf => 1e-9,
                    _ => 0.0,
                };
                let t = tolerance::Tol { rel: tol.rel.max(own_error), ..tol };
                check(out.get(i * d.ld_out + j), want, xv.abs(), t, &format!("{}({i},{j}) x={xv}", d.op.name()))?;
                if matches!(d.op, Relu { mask: true } | LeakyRelu { mask: true, .. }) {
                    prop_assert_eq!(bitmask::get(&mask_out, i, j, d.mask_ld), xv > 0.0);
                }
            }
        }
        if let Dropout { p } = d.op {
            // The keep rate follows p (loosely: small matrices).
            let kept = (0..d.rows).flat_map(|i| (0..d.cols).map(move |j| (i, j))).filter(|&(i, j)| bitmask::get(&mask_out, i, j, d.mask_ld)).count();
            let n = (d.rows * d.cols) as f64;
            prop_assert!(n < 200.0 || (kept as f64 / n - (1.0 - p as f64)).abs() < 0.15);
        }
    }

    #[test]
    fn binary_follows_its_formula(d in strategies::binary(), seed in any::<u64>()) {
        let k = tpp::dispatch_on(&d, "reference").unwrap();
        let mut rng = Rng(seed);
        let a = Buf::random(d.in0_dtype, d.in0_len(), &mut rng, -4.0, 4.0, true);
        let b = Buf::random(d.in1_dtype, d.in1_len(), &mut rng, -4.0, 4.0, true);
        let out0 = Buf::random(d.out_dtype, d.out_len(), &mut rng, -4.0, 4.0, false);
        let mut out = out0.clone();
        k.call(a.input(), b.input(), out.output()).unwrap();
        let c = |v: f64| Buf::from_fn(d.compute_dtype, 1, |_| v).get(0);
        let tol = tolerance::loosest(&[d.compute_dtype, d.out_dtype]);
        let mut mask = vec![0u8; d.out_len()];
        if d.op.is_compare() {
            for (i, m) in mask.iter_mut().enumerate() { *m = out.get(i) as u8; }
        }
        for i in 0..d.rows {
            for j in 0..d.cols {
                let x = c(a.get(d.broadcast0.offset(i, j, d.ld_in0)));
                let y = c(b.get(d.broadcast1.offset(i, j, d.ld_in1)));
                let o = i * d.ld_out + j;
                let nan_or = |v: f64| if x.is_nan() || y.is_nan() { f64::NAN } else { v };
                let want = match d.op {
                    BinaryOp::Add => x + y, BinaryOp::Sub => x - y, BinaryOp::Mul => x * y, BinaryOp::Div => x / y,
                    BinaryOp::Max => nan_or(if x > y { x } else { y }), BinaryOp::Min => nan_or(if x < y { x } else { y }),
                    BinaryOp::MulAdd => c(out0.get(o)) + x * y,
                    BinaryOp::Compare(op) => {
                        let t = match op { CmpOp::Gt => x > y, CmpOp::Ge => x >= y, CmpOp::Lt => x < y, CmpOp::Le => x <= y, CmpOp::Eq => x == y, CmpOp::Ne => x != y };
                        prop_assert_eq!(bitmask::get(&mask, i, j, d.ld_out), t, "{:?}({}, {})", op, x, y);
                        continue;
                    }
                };
                check(out.get(o), round(want, d.compute_dtype, d.out_dtype), x.abs() + y.abs(), tol, d.op.name())?;
            }
        }
    }

    #[test]
    fn reduce_follows_its_formula(d in strategies::reduce(), seed in any::<u64>()) {
        let k = tpp::dispatch_on(&d, "reference").unwrap();
        let mut rng = Rng(seed);
        let x = Buf::random(d.in_dtype, d.in_len(), &mut rng, -4.0, 4.0, false);
        let out0 = Buf::random(d.out_dtype, d.out_len(), &mut rng, -4.0, 4.0, false);
        let mut out = out0.clone();
        k.call(x.input(), out.output()).unwrap();
        let c = |v: f64| Buf::from_fn(d.compute_dtype, 1, |_| v).get(0);
        let n = d.out_count();
        let per_row = d.axis == ReduceAxis::PerRow;
        let len = if per_row { d.cols } else { d.rows };
        let tol = tolerance::loosest(&[d.compute_dtype, d.out_dtype]);
        for o in 0..n {
            let vals: Vec<f64> = (0..len).map(|e| c(x.get(if per_row { o * d.ld_in + e } else { e * d.ld_in + o }))).collect();
            let sum: f64 = vals.iter().sum();
            let sq: f64 = vals.iter().map(|v| v * v).sum();
            let mag: f64 = vals.iter().map(|v| v.abs() + v * v).sum::<f64>() + 16.0;
            let fold = |v: f64, idx: usize| -> f64 {
                if !d.accumulate { return v; }
                let p = c(out0.get(idx));
                match d.op { ReduceOp::Max | ReduceOp::AbsMax => p.max(v), ReduceOp::Min => p.min(v), _ => p + v }
            };
            let mut expect = vec![(o, match d.op {
                ReduceOp::Sum | ReduceOp::SumAndSumSq => sum,
                ReduceOp::SumSq => sq,
                ReduceOp::Max => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                ReduceOp::Min => vals.iter().cloned().fold(f64::INFINITY, f64::min),
                ReduceOp::AbsMax => vals.iter().map(|v| v.abs()).fold(0.0, f64::max),
            })];
            if d.op == ReduceOp::SumAndSumSq { expect.push((n + o, sq)); }
            for (idx, v) in expect {
                let want = round(fold(v, idx), d.compute_dtype, d.out_dtype);
                check(out.get(idx), want, mag, tol, &format!("{}[{idx}]", d.op.name()))?;
            }
        }
    }
}
