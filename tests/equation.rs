//! Equations: random DAGs and the ready-made equations on every JIT backend against the
//! reference evaluation (with its error bounds), hand-computed cases, typed errors for
//! invalid equations, and the cache.

mod common;

use common::buffers::{Buf, Rng};
use common::eq_harness::{check, operands, random_equation, ready_made};
use common::harness::jit_backends;
use common::scale;
use proptest::prelude::*;
use tpp::*;

/// Every JIT backend's kernel (or `None` where it declines) and the automatic one.
fn kernels(eq: &Equation) -> Vec<EquationKernel> {
    let mut ks: Vec<EquationKernel> = jit_backends()
        .into_iter()
        .filter_map(|b| eq.dispatch_on(b).ok())
        .collect();
    ks.push(
        eq.dispatch_on("reference")
            .expect("the reference takes every equation"),
    );
    ks
}

/// The JIT backend that must generate every pass of `eq` here, if any: `avx512` (it declines
/// only on CPUs without AVX-512, or without AVX512-BF16 for bf16 stores), or `neon` on
/// aarch64 (bf16 stores round with integer instructions where FEAT_BF16 is missing).
#[cfg(target_arch = "x86_64")]
fn jit_must_take(eq: &Equation) -> Option<&'static str> {
    let c = tpp::dispatch::caps::x86();
    let bf16_out = eq.outputs().iter().any(|o| {
        matches!(
            o.kind,
            EqOutputKind::Value {
                dtype: DType::BF16,
                ..
            }
        )
    });
    (c.avx512 && (c.avx512_bf16 || !bf16_out)).then_some("avx512")
}
#[cfg(target_arch = "aarch64")]
fn jit_must_take(_: &Equation) -> Option<&'static str> {
    tpp::dispatch::caps::arm().asimd.then_some("neon")
}
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn jit_must_take(_: &Equation) -> Option<&'static str> {
    None
}

fn check_all(eq: &Equation, seed: u64, lo: f64, hi: f64) -> std::result::Result<usize, String> {
    let ops = operands(eq, seed, lo, hi);
    if let Some(b) = jit_must_take(eq) {
        if let Err(e) = eq.dispatch_on(b) {
            return Err(format!("{b} declined: {e}"));
        }
    }
    let ks = kernels(eq);
    for k in &ks {
        check(k, &ops, seed).map_err(|e| format!("{} ({}): {e}", k.name(), k.backend()))?;
    }
    Ok(ks.iter().filter(|k| !k.is_reference()).count())
}

const DTYPES: [DType; 3] = [DType::F32, DType::BF16, DType::F16];

proptest! {
    #![proptest_config(scale::config(96))]

    /// Random DAGs over shapes with every remainder of the vector width.
    #[test]
    fn random_equations_match_the_reference(
        rows in 1usize..24,
        cols in prop_oneof![1usize..40, 60usize..140],
        seed in any::<u64>(),
    ) {
        let eq = random_equation(rows, cols, seed);
        eq.validate().map_err(|e| TestCaseError::fail(format!("{e}: {eq:?}")))?;
        check_all(&eq, seed, -2.0, 2.0).map_err(|e| TestCaseError::fail(format!("{e}\n{eq:?}")))?;
    }
}

/// Every ready-made equation, each dtype, shapes with remainders.
#[test]
fn ready_made_equations_match_the_reference() {
    let mut jit = 0;
    for &(rows, cols) in &[(1, 1), (3, 17), (7, 64), (5, 100), (33, 257)] {
        for dt in DTYPES {
            for (n, (eq, (lo, hi))) in ready_made(rows, cols, dt).iter().enumerate() {
                let seed = (rows * 1000 + cols * 10 + n) as u64;
                jit += check_all(eq, seed, *lo, *hi)
                    .unwrap_or_else(|e| panic!("ready-made {n} {rows}x{cols} {dt:?}: {e}"));
            }
        }
    }
    eprintln!("ready-made equations: {jit} JIT kernels compared");
}

/// A pass over rows only (the online softmax's statistics: new maximum, rescaling factor, new
/// sum) runs on groups of 16 rows side by side, then row by row for the rest: row counts
/// below, at and past multiples of 16, each dtype of `P`, against the reference.
#[test]
fn passes_over_rows_only_match_the_reference() {
    let mut across = 0;
    for rows in [5, 16, 37, 70] {
        for dt in DTYPES {
            let eq = equations::online_softmax(rows, 77, 80, dt);
            check_all(&eq, rows as u64, -3.0, 3.0)
                .unwrap_or_else(|e| panic!("{rows} rows, {dt:?}: {e}"));
            across += kernels(&eq)
                .iter()
                .map(|k| k.passes_across_rows())
                .sum::<usize>();
        }
    }
    // Whichever JIT backend must take these equations here (AVX-512 or NEON) has the
    // across-rows variant.
    if jit_must_take(&equations::online_softmax(16, 77, 80, DType::F32)).is_some() {
        assert!(across > 0, "no pass ran across rows");
    }
}

/// Layer norm by hand: rows of known mean and variance.
#[test]
fn layer_norm_by_hand() {
    let eq = equations::layer_norm(2, 4, DType::F32, 0.0);
    let k = eq.dispatch().unwrap();
    let x = [1.0f32, 2.0, 3.0, 4.0, -2.0, -2.0, 2.0, 2.0];
    let (gamma, beta) = ([1.0f32, 2.0, 1.0, 1.0], [0.0f32, 0.0, 0.0, 10.0]);
    let (mut y, mut mean, mut rstd) = ([0.0f32; 8], [0.0f32; 2], [0.0f32; 2]);
    k.call(
        &[(&x[..]).into(), (&gamma[..]).into(), (&beta[..]).into()],
        &mut [
            (&mut y[..]).into(),
            (&mut mean[..]).into(),
            (&mut rstd[..]).into(),
        ],
    )
    .unwrap();
    // Row 0: mean 2.5, variance 1.25; row 1: mean 0, variance 4.
    let r0 = 1.0 / 1.25f32.sqrt();
    assert!(
        (mean[0] - 2.5).abs() < 1e-6 && mean[1].abs() < 1e-6,
        "{mean:?}"
    );
    assert!(
        (rstd[0] - r0).abs() < 1e-6 && (rstd[1] - 0.5).abs() < 1e-6,
        "{rstd:?}"
    );
    let want = [
        -1.5 * r0,
        -r0,
        0.5 * r0,
        1.5 * r0 + 10.0,
        -1.0,
        -2.0,
        1.0,
        11.0,
    ];
    for (g, w) in y.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{y:?} vs {want:?}");
    }
}

/// Softmax rows sum to one and survive large inputs (the max is subtracted).
#[test]
fn softmax_is_stable() {
    let eq = equations::softmax(1, 3, DType::F32);
    let k = eq.dispatch().unwrap();
    let x = [1000.0f32, 1001.0, 1002.0];
    let mut y = [0.0f32; 3];
    k.call(&[(&x[..]).into()], &mut [(&mut y[..]).into()])
        .unwrap();
    let e = [(-2.0f64).exp(), (-1.0f64).exp(), 1.0];
    let s: f64 = e.iter().sum();
    for (g, w) in y.iter().zip(e) {
        assert!((*g as f64 - w / s).abs() < 1e-6, "{y:?}");
    }
}

/// The optimizer steps may update their state in place through the raw call.
#[test]
fn adamw_updates_in_place() {
    let (rows, cols) = (3, 37);
    let eq = equations::adamw(rows, cols, DType::F32);
    for k in kernels(&eq) {
        for (i, o) in [(0, 0), (2, 1), (3, 2)] {
            assert!(k.may_alias(i, o), "{}: input {i} / output {o}", k.backend());
        }
        assert!(!k.may_alias(4, 0), "a scalar cannot hold a matrix");
        let n = rows * cols;
        let mut rng = Rng(7);
        let mut theta: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let g: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let mut m: Vec<f32> = (0..n).map(|_| rng.uniform(-0.1, 0.1) as f32).collect();
        let mut v: Vec<f32> = (0..n).map(|_| rng.uniform(0.0, 0.1) as f32).collect();
        let hyper = [
            1e-3f32,
            0.9,
            0.999,
            1e-8,
            0.01,
            1.0 / (1.0 - 0.9),
            1.0 / (1.0 - 0.999),
        ];
        // Expected from the separate-buffer call.
        let (mut t2, mut m2, mut v2) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        let mut ins: Vec<In> = vec![(&theta).into(), (&g).into(), (&m).into(), (&v).into()];
        ins.extend(hyper.iter().map(|h| In::from(std::slice::from_ref(h))));
        k.call(
            &ins,
            &mut [(&mut t2).into(), (&mut m2).into(), (&mut v2).into()],
        )
        .unwrap();
        let hp: Vec<*const std::ffi::c_void> =
            hyper.iter().map(|h| (h as *const f32).cast()).collect();
        let mut inp: Vec<*const std::ffi::c_void> = vec![
            theta.as_ptr().cast(),
            g.as_ptr().cast(),
            m.as_ptr().cast(),
            v.as_ptr().cast(),
        ];
        inp.extend(hp);
        let outp: Vec<*mut std::ffi::c_void> = vec![
            theta.as_mut_ptr().cast(),
            m.as_mut_ptr().cast(),
            v.as_mut_ptr().cast(),
        ];
        let args = EquationArgs {
            inputs: inp.as_ptr(),
            outputs: outp.as_ptr(),
            mask_in: std::ptr::null(),
            seed: 0,
        };
        // SAFETY: every buffer holds rows × cols f32; outputs alias only the inputs
        // `may_alias` allows.
        unsafe { k.call_raw(&args) };
        assert_eq!((theta, m, v), (t2, m2, v2), "{}", k.backend());
    }
}

/// Structurally identical equations share a kernel; different ones do not.
#[test]
fn identical_structure_shares_one_kernel() {
    let a = equations::layer_norm(64, 96, DType::BF16, 1e-5)
        .dispatch()
        .unwrap();
    let b = equations::layer_norm(64, 96, DType::BF16, 1e-5)
        .dispatch()
        .unwrap();
    let c = equations::layer_norm(64, 96, DType::BF16, 1e-6)
        .dispatch()
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// Invalid equations are typed errors naming what is wrong.
#[test]
fn invalid_equations_are_typed_errors() {
    let field = |eq: &Equation| match eq.validate() {
        Err(Error::InvalidDescriptor { field, value, .. }) => (field, value),
        other => panic!("expected an invalid-descriptor error, got {other:?}"),
    };
    // No output.
    let mut eq = Equation::new(4, 4);
    eq.input(DType::F32, Broadcast::None);
    assert_eq!(field(&eq).0, "outputs");
    // A node of another equation.
    let mut other = Equation::new(4, 4);
    let x = other.input(DType::F32, Broadcast::None);
    let y = other.unary(UnaryOp::Exp, x);
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    let z = eq.add(a, y);
    eq.output(z, DType::F32);
    assert_eq!(field(&eq).0, "node.operand");
    // A reduction of a vector, a mask used as a value, a value as a mask.
    let mut eq = Equation::new(4, 4);
    let r = eq.input(DType::F32, Broadcast::Row);
    let s = eq.reduce(ReduceOp::Sum, ReduceAxis::PerRow, r);
    eq.output(s, DType::F32);
    assert!(
        field(&eq).1.contains("reduction of a Row"),
        "{:?}",
        field(&eq)
    );
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    let k = eq.compare(CmpOp::Gt, a, a);
    let e = eq.unary(UnaryOp::Exp, k);
    eq.output(e, DType::F32);
    assert_eq!(field(&eq).0, "node.operand");
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    let s = eq.select(a, a, a);
    eq.output(s, DType::F32);
    assert_eq!(field(&eq).0, "node.operand");
    // Bad dtypes and leading dimensions.
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::I32, Broadcast::None);
    eq.output(a, DType::F32);
    assert_eq!(field(&eq).0, "input.dtype");
    let mut eq = Equation::new(4, 4);
    let a = eq.input_ld(DType::F32, Broadcast::None, 3);
    eq.output(a, DType::F32);
    assert_eq!(field(&eq).0, "input.ld");
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    eq.output_ld(a, DType::F64, 4);
    assert_eq!(field(&eq).0, "output.dtype");
    // A layout transform is not an equation node; mask_of needs a mask writer.
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    let t = eq.unary(UnaryOp::Transpose, a);
    eq.output(t, DType::F32);
    assert_eq!(field(&eq).0, "node.op");
    let mut eq = Equation::new(4, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    let m = eq.mask_of(a);
    eq.mask_output(m, 8);
    assert_eq!(field(&eq).0, "node.operand");
    // Empty space; dispatch reports the same error.
    let mut eq = Equation::new(0, 4);
    let a = eq.input(DType::F32, Broadcast::None);
    eq.output(a, DType::F32);
    assert_eq!(field(&eq).0, "rows");
    assert!(eq.dispatch().is_err());
}

/// Safe calls check operand counts, dtypes and lengths.
#[test]
fn calls_check_their_operands() {
    let k = equations::softmax(4, 8, DType::F32).dispatch().unwrap();
    let x = vec![0.0f32; 32];
    let mut y = vec![0.0f32; 31];
    let e = k.call(&[(&x).into()], &mut [(&mut y).into()]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidOperand {
                operand: "outputs",
                ..
            }
        ),
        "{e}"
    );
    let mut y = vec![0.0f64; 32];
    assert!(k.call(&[(&x).into()], &mut [(&mut y).into()]).is_err());
    let mut y = vec![0.0f32; 32];
    assert!(k.call(&[], &mut [(&mut y).into()]).is_err());
    let b = Buf::F32(vec![0.0; 32]);
    assert!(k.call(&[b.input()], &mut [(&mut y).into()]).is_ok());
}

/// An equation whose values cannot all live in registers: the lowering spills some to scratch
/// and the JIT still takes it (and agrees with the reference).
#[test]
fn register_pressure_spills_to_scratch() {
    let (rows, cols) = (9, 70);
    let mut eq = Equation::new(rows, cols);
    let x = eq.input(DType::F32, Broadcast::None);
    let y = eq.input(DType::BF16, Broadcast::None);
    let vals: Vec<Expr> = (0..40)
        .map(|i| {
            let c = eq.constant(0.05 * i as f32);
            let s = eq.add(x, c);
            let t = eq.unary(UnaryOp::Tanh, s);
            eq.mul(t, y)
        })
        .collect();
    // Two chains over all of them keep every value live until the end.
    let (mut sum, mut prod) = (vals[0], vals[0]);
    for &v in &vals[1..] {
        sum = eq.add(sum, v);
    }
    for &v in vals[1..].iter().rev() {
        prod = eq.max(prod, v);
    }
    let z = eq.mul(sum, prod);
    eq.output(z, DType::F32);
    let n = check_all(&eq, 5, -1.0, 1.0).unwrap();
    if let Some(b) = jit_must_take(&eq) {
        assert_eq!(n, 1);
        assert!(
            eq.dispatch_on(b).unwrap().passes() > 1,
            "expected a spill pass"
        );
    }
}

/// Predicates and values live at once: `n` transcendental values read by two chains in
/// opposite orders (all live between them), each value a select on one of `k` compares
/// (live until the last value that reads them).
fn values_and_predicates_live(n: usize, k: usize) -> Equation {
    let mut eq = Equation::new(5, 37);
    let x = eq.input(DType::F32, Broadcast::None);
    let y = eq.input(DType::F32, Broadcast::None);
    let masks: Vec<Expr> = (0..k)
        .map(|j| {
            let c = eq.constant(0.3 * j as f32 - 0.4);
            eq.compare(CmpOp::Gt, x, c)
        })
        .collect();
    let vals: Vec<Expr> = (0..n)
        .map(|i| {
            let c = eq.constant(0.05 * i as f32);
            let s = eq.add(x, c);
            let t = eq.unary(UnaryOp::Tanh, s);
            eq.select(masks[i % k], t, y)
        })
        .collect();
    let (mut sum, mut max) = (vals[0], vals[n - 1]);
    for i in 1..n {
        sum = eq.add(sum, vals[i]);
        max = eq.max(max, vals[n - 1 - i]);
    }
    let z = eq.mul(sum, max);
    eq.output(z, DType::F32);
    eq
}

/// (vector, predicate) registers each pass of `plan` needs, counted as the lowering does.
fn pass_registers(plan: &tpp::lower::equation::Plan) -> Vec<(u16, u16)> {
    plan.passes
        .iter()
        .map(|pass| {
            let per_row = |p: tpp::lower::Port| match p {
                tpp::lower::Port::Buf(n) => matches!(
                    pass.ports[n as usize].shape,
                    Broadcast::Col | Broadcast::Scalar
                ),
                _ => false,
            };
            let a = tpp::lower::regalloc::Assignment::of_rows(&pass.program, &per_row);
            (
                a.temps + a.per_row + pass.accs.len() as u16,
                a.ktemps + a.k_per_row,
            )
        })
        .collect()
}

/// The equation lowering plans within the registers each backend reports: an equation whose
/// plan for AVX-512's 24 vector + 5 predicate registers has a pass over NEON's 26 vector
/// registers (predicates are vectors there) is planned with more spills for NEON, every
/// pass of that plan fits, and (on aarch64, under qemu here) the NEON JIT takes it.
#[test]
fn register_budget_is_the_backends() {
    use tpp::lower::equation::{plan_within, RegisterBudget};
    let neon = RegisterBudget {
        vregs: tpp::kernels_arm::eltwise::PROGRAM_VREGS as u16,
        kregs: None,
    };
    // The first of a grid of pressures whose common plan has a pass over NEON's budget.
    let over = (12..=24)
        .flat_map(|n| (2..=5).map(move |k| (n, k)))
        .find_map(|(n, k)| {
            let eq = values_and_predicates_live(n, k);
            let common = plan_within(&eq, RegisterBudget::COMMON).unwrap();
            let need = pass_registers(&common);
            assert!(need.iter().all(|&(v, k)| RegisterBudget::COMMON.fits(v, k)));
            need.iter()
                .any(|&(v, k)| !neon.fits(v, k))
                .then_some((eq, common, need))
        });
    let (eq, common, need) = over.expect("an equation over NEON's budget in the common plan");
    eprintln!("common plan: {need:?}");
    let planned = plan_within(&eq, neon).unwrap();
    let need = pass_registers(&planned);
    assert!(need.iter().all(|&(v, k)| neon.fits(v, k)), "{need:?}");
    assert!(
        planned.scratch.len() > common.scratch.len(),
        "NEON's plan spills more"
    );
    let n = check_all(&eq, 11, -1.0, 1.0).unwrap();
    if let Some(b) = jit_must_take(&eq) {
        assert_eq!(n, 1);
        let k = eq.dispatch_on(b).unwrap();
        let want = if b == "neon" { &planned } else { &common };
        assert_eq!(k.passes(), want.passes.len(), "{b}");
    }
}

/// A BRGEMM with an equation epilogue (bias + GELU + residual add + bf16 cast) against the
/// same product and equation run separately on the reference.
#[test]
fn brgemm_takes_an_equation_epilogue() {
    for &(m, n, k, batch) in &[
        (1, 1, 1, 1),
        (7, 33, 5, 3),
        (32, 48, 64, 2),
        (17, 100, 9, 1),
    ] {
        let mut eq = Equation::new(m, n);
        let acc = eq.input(DType::F32, Broadcast::None);
        let bias = eq.input(DType::F32, Broadcast::Row);
        let res = eq.input(DType::BF16, Broadcast::None);
        let s = eq.add(acc, bias);
        let g = eq.unary(UnaryOp::Gelu, s);
        let y = eq.add(g, res);
        eq.output(y, DType::BF16);
        let d = GemmDesc::new(m, n, k, DType::F32)
            .beta(0.0)
            .batch(BatchReduce::Stride { a: m * k, b: k * n });
        let fused = d.dispatch_with_equation(&eq).unwrap();
        let mut rng = Rng(m as u64 * 31 + n as u64);
        let a: Vec<f32> = (0..m * k * batch)
            .map(|_| rng.uniform(-1.0, 1.0) as f32)
            .collect();
        let b: Vec<f32> = (0..k * n * batch)
            .map(|_| rng.uniform(-1.0, 1.0) as f32)
            .collect();
        let bias_v: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let res_v: Vec<bf16> = (0..m * n)
            .map(|_| bf16::from_f64(rng.uniform(-1.0, 1.0)))
            .collect();
        let mut got = vec![bf16::from_bits(0x7fde); m * n];
        let ab = GemmInputs::Strided {
            a: (&a).into(),
            b: (&b).into(),
            batch,
        };
        fused
            .run(
                ab,
                &[(&bias_v).into(), (&res_v).into()],
                None,
                &mut [(&mut got).into()],
                0,
            )
            .unwrap();
        // The same on the reference, unfused.
        let mut c = vec![0f32; m * n];
        let g = tpp::dispatch_on(&d, "reference").unwrap();
        g.call_strided(&a, &b, &mut c, batch).unwrap();
        let mut want = vec![bf16::ZERO; m * n];
        eq.dispatch_on("reference")
            .unwrap()
            .call(
                &[(&c).into(), (&bias_v).into(), (&res_v).into()],
                &mut [(&mut want).into()],
            )
            .unwrap();
        for (i, (x, w)) in got.iter().zip(&want).enumerate() {
            let (x, w) = (x.to_f64(), w.to_f64());
            assert!(
                (x - w).abs() <= 1e-2 * (1.0 + w.abs()),
                "{m}x{n}x{k}: [{i}] {x} vs {w}"
            );
        }
    }
    // The accumulator must be the equation's first input, and the space the product's.
    let mut eq = Equation::new(4, 4);
    let x = eq.input(DType::BF16, Broadcast::None);
    eq.output(x, DType::F32);
    let d = GemmDesc::new(4, 4, 4, DType::F32).beta(0.0);
    assert!(d.dispatch_with_equation(&eq).is_err());
    let mut eq = Equation::new(4, 5);
    let x = eq.input(DType::F32, Broadcast::None);
    eq.output(x, DType::F32);
    assert!(d.dispatch_with_equation(&eq).is_err());
    assert!(GemmDesc::new(4, 5, 4, DType::F32)
        .beta(1.0)
        .dispatch_with_equation(&eq)
        .is_err());
}
