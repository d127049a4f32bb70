//! The safe calls check every operand against the descriptor before a kernel runs: each test
//! hands one operand that is too short, of the wrong dtype, missing or superfluous, and
//! expects `InvalidOperand` naming it (with the output left untouched), while the exact
//! minimum extents the descriptor documents are accepted.

use tpp::isa::bitmask;
use tpp::*;

use DType::{BF16, F32, I8, U8};

/// Asserts `r` is `InvalidOperand` naming `operand`; returns the problem text.
#[track_caller]
fn refused(r: tpp::Result<()>, operand: &str) -> String {
    match r {
        Err(Error::InvalidOperand {
            operand: o,
            problem,
        }) => {
            assert_eq!(o, operand, "wrong operand named; problem: {problem}");
            problem
        }
        other => panic!("expected InvalidOperand {{ {operand} }}, got {other:?}"),
    }
}

/// `n` small distinct integers (exact in every float dtype and in f32 sums).
fn vals(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 7) as f32 - 3.0).collect()
}

fn i(s: &[f32]) -> In<'_> {
    s.into()
}

/// A sentinel that no kernel here computes.
const POISON: f32 = 12345.0;

/// Dense `m × n` product of row-major `a` (`lda`) and `b` (`ldb`), accumulated into `acc`.
fn matmul_acc(
    acc: &mut [f32],
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
) {
    for i in 0..m {
        for j in 0..n {
            acc[i * n + j] += (0..k).map(|p| a[i * lda + p] * b[p * ldb + j]).sum::<f32>();
        }
    }
}

/// Asserts that C (leading dimension `ldc`) holds `want` (dense `m × n`) and that every other
/// element (row padding and the tail) still holds `POISON`.
#[track_caller]
fn assert_c(c: &[f32], want: &[f32], n: usize, ldc: usize) {
    for (idx, &v) in c.iter().enumerate() {
        let (i, j) = (idx / ldc, idx % ldc);
        match want.get(i * n + j) {
            Some(&w) if j < n => assert_eq!(v, w, "C({i}, {j})"),
            _ => assert_eq!(v, POISON, "element {idx} outside C was written"),
        }
    }
}

// ---- GEMM -----------------------------------------------------------------------------------

#[test]
fn gemm_exact_extents_accepted_one_short_refused() {
    let d = GemmDesc::new(3, 4, 5, F32).ld(7, 6, 9).beta(0.0);
    // (rows - 1)·ld + cols, not rows·ld.
    assert_eq!(
        (d.a_len(), d.b_len(), d.c_len()),
        (2 * 7 + 5, 4 * 6 + 4, 2 * 9 + 4)
    );
    let k = d.dispatch().unwrap();
    let (a, b) = (vals(d.a_len()), vals(d.b_len()));
    let mut c = vec![POISON; d.c_len() + 3];
    let c_len = d.c_len();
    refused(k.call(&a[..18], &b[..], &mut c[..c_len]), "a");
    refused(k.call(&a[..], &b[..27], &mut c[..c_len]), "b");
    refused(k.call(&a[..], &b[..], &mut c[..c_len - 1]), "c");
    assert!(c.iter().all(|&x| x == POISON), "a refused call wrote C");
    k.call(&a[..], &b[..], &mut c[..c_len]).unwrap();
    let mut want = vec![0.0; 12];
    matmul_acc(&mut want, (3, 4, 5), &a, 7, &b, 6);
    assert_c(&c, &want, 4, 9);
}

#[test]
fn gemm_exact_extents_of_transposed_and_vnni_operands() {
    // (descriptor, A, B, C lengths it documents)
    let cases = [
        (
            GemmDesc::new(3, 4, 5, F32).trans_a().ld(4, 4, 4),
            4 * 4 + 3,
            4 * 4 + 4,
            2 * 4 + 4,
        ),
        (
            GemmDesc::new(3, 4, 5, F32).trans_b().ld(5, 6, 4),
            2 * 5 + 5,
            3 * 6 + 5,
            2 * 4 + 4,
        ),
        // VNNI2 B of k = 4, n = 3, ldb = 5: 2 packed rows of 2·ldb, the last 2·n long.
        (
            GemmDesc::new(2, 3, 4, BF16).vnni_b().ld(4, 5, 3),
            4 + 4,
            2 * 5 + 2 * 3,
            3 + 3,
        ),
        // VNNI2 C of m = 4, n = 3, ldc = 5.
        (
            GemmDesc::new(4, 3, 2, BF16)
                .output(BF16)
                .vnni_c()
                .ld(2, 3, 5),
            3 * 2 + 2,
            3 + 3,
            2 * 5 + 2 * 3,
        ),
    ];
    for (d, a_len, b_len, c_len) in cases {
        assert_eq!(
            (d.a_len(), d.b_len(), d.c_len()),
            (a_len, b_len, c_len),
            "{d:?}"
        );
        let k = d.dispatch().unwrap();
        let (a, b) = (vec![bf16::ONE; a_len], vec![bf16::ONE; b_len]);
        let (af, bf) = (vec![1.0f32; a_len], vec![1.0f32; b_len]);
        let run = |da: usize, db: usize, dc: usize| {
            if d.a_dtype == F32 {
                let mut c = vec![0.0f32; c_len - dc];
                k.call(&af[..a_len - da], &bf[..b_len - db], &mut c[..])
            } else if d.c_dtype == BF16 {
                let mut c = vec![bf16::ZERO; c_len - dc];
                k.call(&a[..a_len - da], &b[..b_len - db], &mut c[..])
            } else {
                let mut c = vec![0.0f32; c_len - dc];
                k.call(&a[..a_len - da], &b[..b_len - db], &mut c[..])
            }
        };
        run(0, 0, 0).unwrap();
        refused(run(1, 0, 0), "a");
        refused(run(0, 1, 0), "b");
        refused(run(0, 0, 1), "c");
    }
}

#[test]
fn gemm_wrong_dtype_slices() {
    let k = GemmDesc::new(2, 3, 4, F32).beta(0.0).dispatch().unwrap();
    let (a, b) = (vec![1.0f32; 8], vec![1.0f32; 12]);
    let mut c = [POISON; 6];
    let problem = refused(k.call(&vec![1.0f64; 8][..], &b[..], &mut c[..]), "a");
    assert!(
        problem.contains("f64") && problem.contains("f32"),
        "{problem}"
    );
    refused(k.call(&a[..], &vec![bf16::ONE; 12][..], &mut c[..]), "b");
    refused(k.call(&a[..], &b[..], &mut vec![f16::ZERO; 6][..]), "c");
    refused(k.call(&vec![1i8; 8][..], &b[..], &mut c[..]), "a");
    assert!(c.iter().all(|&x| x == POISON));
    let k8 = GemmDesc::new(2, 3, 4, I8)
        .inputs(U8, I8)
        .dispatch()
        .unwrap();
    let mut ci = vec![0i32; 6];
    refused(
        k8.call(&vec![1i8; 8][..], &vec![1i8; 12][..], &mut ci[..]),
        "a",
    ); // wants u8
    k8.call(&vec![1u8; 8][..], &vec![1i8; 12][..], &mut ci[..])
        .unwrap();
    assert_eq!(ci, [4; 6]);
}

#[test]
fn gemm_bias_operand() {
    let d = GemmDesc::new(3, 4, 2, F32).beta(0.0);
    let (a, b) = (vals(6), vals(8));
    let run = |d: GemmDesc, bias: Option<In>, c: &mut [f32]| {
        let inputs = GemmInputs::Single {
            a: (&a[..]).into(),
            b: (&b[..]).into(),
        };
        let mut call = GemmCall::new(inputs, c);
        call.bias = bias;
        d.dispatch().unwrap().run(call)
    };
    let mut c = vec![POISON; 12];
    let row = d.bias(BiasBroadcast::Row, F32); // n = 4 values
    let col = d.bias(BiasBroadcast::Col, F32); // m = 3 values
    refused(run(row, Some((&[1.0f32; 3][..]).into()), &mut c), "bias");
    refused(run(row, Some((&[1.0f64; 4][..]).into()), &mut c), "bias");
    let problem = refused(run(row, None, &mut c), "bias");
    assert!(problem.contains("pass it"), "{problem}");
    refused(run(col, Some((&[1.0f32; 2][..]).into()), &mut c), "bias");
    let problem = refused(run(d, Some((&[1.0f32; 4][..]).into()), &mut c), "bias");
    assert!(problem.contains("does not use it"), "{problem}");
    assert!(c.iter().all(|&x| x == POISON));
    run(col, Some((&[10.0f32, 20.0, 30.0][..]).into()), &mut c).unwrap();
    let mut want = vec![0.0; 12];
    matmul_acc(&mut want, (3, 4, 2), &a, 2, &b, 4);
    for (i, w) in want.iter_mut().enumerate() {
        *w += 10.0 * (i / 4 + 1) as f32;
    }
    assert_eq!(c, want);
}

#[test]
fn gemm_relu_mask_operand() {
    let (m, n) = (3, 10);
    let d = GemmDesc::new(m, n, 2, F32).beta(0.0);
    let with_mask = d.activation(Activation::Relu { mask: true });
    assert_eq!(with_mask.epilogue.mask_ld, 16);
    let need = bitmask::bytes(m, n, 16); // (2·16 + 10) bits
    assert_eq!(need, 6);
    let (a, b) = (vals(2 * m), vals(2 * n));
    let run = |d: GemmDesc, mask: Option<&mut [u8]>, c: &mut [f32]| {
        let inputs = GemmInputs::Single {
            a: (&a[..]).into(),
            b: (&b[..]).into(),
        };
        let mut call = GemmCall::new(inputs, c);
        call.relu_mask = mask;
        d.dispatch().unwrap().run(call)
    };
    let mut c = vec![POISON; m * n];
    refused(run(with_mask, None, &mut c), "relu_mask");
    refused(run(with_mask, Some(&mut [0u8; 5]), &mut c), "relu_mask");
    let relu = d.activation(Activation::Relu { mask: false });
    let problem = refused(run(relu, Some(&mut [0u8; 6]), &mut c), "relu_mask");
    assert!(problem.contains("does not use it"), "{problem}");
    assert!(c.iter().all(|&x| x == POISON));
    let mut mask = [0u8; 6];
    run(with_mask, Some(&mut mask), &mut c).unwrap();
    for i in 0..m {
        for j in 0..n {
            assert_eq!(
                bitmask::get(&mask, i, j, 16),
                c[i * n + j] > 0.0,
                "({i}, {j})"
            );
        }
    }
}

#[test]
fn gemm_batch_form_must_match_the_descriptor() {
    let plain = GemmDesc::new(2, 2, 2, F32);
    let stride = plain.batch(BatchReduce::Stride { a: 4, b: 4 });
    let offs = plain.batch(BatchReduce::Offsets);
    let addrs = plain.batch(BatchReduce::Addresses);
    let (a, b) = (vals(4), vals(4));
    let (x, y): (In, In) = ((&a[..]).into(), (&b[..]).into());
    let (list_a, list_b) = ([x], [y]);
    let forms = [
        GemmInputs::Single { a: x, b: y },
        GemmInputs::Strided {
            a: x,
            b: y,
            batch: 1,
        },
        GemmInputs::Offsets {
            a: x,
            b: y,
            a_offsets: &[0],
            b_offsets: &[0],
        },
        GemmInputs::Addresses {
            a: &list_a,
            b: &list_b,
        },
    ];
    // Which form each descriptor takes (Single also serves a stride batch-reduce of 1).
    for (d, ok) in [
        (plain, [true, false, false, false]),
        (stride, [true, true, false, false]),
        (offs, [false, false, true, false]),
        (addrs, [false, false, false, true]),
    ] {
        let k = d.dispatch().unwrap();
        for (inputs, ok) in forms.iter().zip(ok) {
            let mut c = vec![0.0f32; 4];
            let r = k.run(GemmCall::new(*inputs, &mut c[..]));
            if ok {
                r.unwrap();
            } else {
                let problem = refused(r, "inputs");
                assert!(problem.contains("does not match"), "{problem}");
                assert_eq!(c, [0.0; 4]);
            }
        }
    }
}

#[test]
fn brgemm_stride_extents() {
    let (sa, sb) = (10, 15);
    let d = GemmDesc::new(2, 3, 4, F32)
        .beta(0.0)
        .batch(BatchReduce::Stride { a: sa, b: sb });
    let k = d.dispatch().unwrap();
    assert_eq!((d.a_len(), d.b_len()), (8, 12));
    // The last of 3 matrices ends at 2·stride + len.
    let (a, b) = (vals(2 * sa + 8), vals(2 * sb + 12));
    let mut c = vec![POISON; 6];
    refused(
        k.call_strided(&a[..a.len() - 1], &b[..], &mut c[..], 3),
        "a",
    );
    refused(
        k.call_strided(&a[..], &b[..b.len() - 1], &mut c[..], 3),
        "b",
    );
    assert!(c.iter().all(|&x| x == POISON));
    k.call_strided(&a[..], &b[..], &mut c[..], 3).unwrap();
    let mut want = vec![0.0; 6];
    for i in 0..3 {
        matmul_acc(&mut want, (2, 3, 4), &a[i * sa..], 4, &b[i * sb..], 3);
    }
    assert_eq!(c, want);
    // Two matrices need less; none need nothing and leave beta·C = 0.
    k.call_strided(&a[..sa + 8], &b[..sb + 12], &mut c[..], 2)
        .unwrap();
    k.call_strided(&[0.0f32; 0][..], &[0.0f32; 0][..], &mut c[..], 0)
        .unwrap();
    assert_eq!(c, [0.0; 6]);
}

#[test]
fn brgemm_stride_batch_overflow() {
    let big = 1 << 40;
    for (stride, operand) in [((big, 0), "a"), ((0, big), "b")] {
        let d = GemmDesc::new(2, 2, 2, F32).batch(BatchReduce::Stride {
            a: stride.0,
            b: stride.1,
        });
        let k = d.dispatch().unwrap();
        let mut c = [POISON; 4];
        let r = k.call_strided(&vals(4)[..], &vals(4)[..], &mut c[..], usize::MAX / 2);
        let problem = refused(r, operand);
        assert!(problem.contains("overflows"), "{problem}");
        assert!(c.iter().all(|&x| x == POISON));
    }
}

#[test]
fn brgemm_offsets() {
    let d = GemmDesc::new(2, 3, 4, F32)
        .beta(0.0)
        .batch(BatchReduce::Offsets);
    let k = d.dispatch().unwrap();
    let (a, b) = (vals(30), vals(40));
    let run = |a: &[f32], b: &[f32], ao: &[u64], bo: &[u64], c: &mut [f32]| {
        let inputs = GemmInputs::Offsets {
            a: a.into(),
            b: b.into(),
            a_offsets: ao,
            b_offsets: bo,
        };
        k.run(GemmCall::new(inputs, c))
    };
    let mut c = vec![POISON; 6];
    let problem = refused(run(&a, &b, &[0, 5], &[0, 6, 7], &mut c), "b_offsets");
    assert!(problem.contains('3') && problem.contains('2'), "{problem}");
    // A_1 at 22 needs 22 + 8 = 30 elements, B_1 at 28 needs 28 + 12 = 40.
    refused(run(&a[..29], &b, &[0, 22], &[0, 28], &mut c), "a");
    refused(run(&a, &b[..39], &[0, 22], &[0, 28], &mut c), "b");
    refused(run(&a, &b, &[23, 0], &[0, 0], &mut c), "a");
    let problem = refused(run(&a, &b, &[u64::MAX, 0], &[0, 0], &mut c), "a_offsets");
    assert!(problem.contains("overflows"), "{problem}");
    refused(
        run(&a, &b, &[0, 0], &[0, u64::MAX - 3], &mut c),
        "b_offsets",
    );
    assert!(c.iter().all(|&x| x == POISON));
    run(&a, &b, &[0, 22], &[0, 28], &mut c).unwrap();
    let mut want = vec![0.0; 6];
    matmul_acc(&mut want, (2, 3, 4), &a, 4, &b, 3);
    matmul_acc(&mut want, (2, 3, 4), &a[22..], 4, &b[28..], 3);
    assert_eq!(c, want);
}

#[test]
fn brgemm_addresses() {
    let k = GemmDesc::new(2, 3, 4, F32)
        .beta(0.0)
        .batch(BatchReduce::Addresses)
        .dispatch()
        .unwrap();
    let (a0, a1, b0, b1) = (
        vals(8),
        vals(9)[1..].to_vec(),
        vals(12),
        vals(13)[1..].to_vec(),
    );
    let (short_a, short_b, wrong) = (vals(7), vals(11), vec![1.0f64; 8]);
    let run =
        |a: &[In], b: &[In], c: &mut [f32]| k.run(GemmCall::new(GemmInputs::Addresses { a, b }, c));
    let mut c = vec![POISON; 6];
    let problem = refused(run(&[i(&a0), i(&a1)], &[i(&b0)], &mut c), "b");
    assert!(problem.contains("1 B matrices for 2 A"), "{problem}");
    refused(
        run(&[i(&a0), i(&short_a)], &[i(&b0), i(&b1)], &mut c),
        "a[i]",
    );
    refused(
        run(&[i(&a0), i(&a1)], &[i(&short_b), i(&b1)], &mut c),
        "b[i]",
    );
    refused(
        run(&[i(&a0), (&wrong[..]).into()], &[i(&b0), i(&b1)], &mut c),
        "a[i]",
    );
    assert!(c.iter().all(|&x| x == POISON));
    run(&[i(&a0), i(&a1)], &[i(&b0), i(&b1)], &mut c).unwrap();
    let mut want = vec![0.0; 6];
    matmul_acc(&mut want, (2, 3, 4), &a0, 4, &b0, 3);
    matmul_acc(&mut want, (2, 3, 4), &a1, 4, &b1, 3);
    assert_eq!(c, want);
    run(&[], &[], &mut c).unwrap(); // batch 0: C = beta·C
    assert_eq!(c, [0.0; 6]);
}

// ---- Unary ----------------------------------------------------------------------------------

const RELU: UnaryOp = UnaryOp::Relu { mask: false };

#[test]
fn unary_input_and_output_extents() {
    let d = UnaryDesc::new(RELU, 3, 5, F32).ld(8, 6);
    assert_eq!((d.in_len(), d.out_len()), (2 * 8 + 5, 2 * 6 + 5));
    let k = d.dispatch().unwrap();
    let x = vals(21);
    let mut out = [POISON; 17 + 2];
    refused(k.call(&x[..20], &mut out[..17]), "input");
    refused(k.call(&x[..], &mut out[..16]), "output");
    refused(k.call(&vec![1.0f64; 21][..], &mut out[..17]), "input");
    refused(k.call(&x[..], &mut vec![bf16::ZERO; 17][..]), "output");
    assert!(out.iter().all(|&v| v == POISON));
    k.call(&x[..], &mut out[..17]).unwrap();
    for (idx, &v) in out.iter().enumerate() {
        let (i, j) = (idx / 6, idx % 6);
        let want = if j < 5 && i < 3 {
            x[i * 8 + j].max(0.0)
        } else {
            POISON
        };
        assert_eq!(v, want, "element {idx}");
    }
    // A broadcast input holds a row of cols, a column of rows, or one value.
    for (b, len) in [
        (Broadcast::Row, 5),
        (Broadcast::Col, 3),
        (Broadcast::Scalar, 1),
    ] {
        let k = d.broadcast(b).dispatch().unwrap();
        let mut out = [0.0f32; 17];
        refused(k.call(&x[..len - 1], &mut out[..]), "input");
        k.call(&x[..len], &mut out[..]).unwrap();
    }
}

/// Runs `call` on a 2 × 5 f32 `op` with default leading dimensions.
fn unary(op: UnaryOp, call: UnaryCall) -> tpp::Result<()> {
    UnaryDesc::new(op, 2, 5, F32).dispatch().unwrap().run(call)
}

#[test]
fn unary_aux_operand() {
    let (dy, x) = (vals(10), vals(10));
    let mut dx = vec![POISON; 10];
    let tanh_bwd = UnaryDesc::new(UnaryOp::TanhBackward, 2, 5, F32)
        .dispatch()
        .unwrap();
    let problem = refused(tanh_bwd.call(&dy[..], &mut dx[..]), "aux");
    assert!(problem.contains("pass it"), "{problem}");
    refused(
        unary(UnaryOp::TanhBackward, UnaryCall::new(&dy, &mut dx)),
        "aux",
    );
    let short = UnaryCall::new(&dy, &mut dx).aux(&x[..9]);
    refused(unary(UnaryOp::TanhBackward, short), "aux");
    let wrong = UnaryCall::new(&dy, &mut dx).aux(&[bf16::ONE; 10][..]);
    refused(unary(UnaryOp::SiluBackward, wrong), "aux");
    let unused = UnaryCall::new(&dy, &mut dx).aux(&x);
    let problem = refused(unary(RELU, unused), "aux");
    assert!(problem.contains("does not use"), "{problem}");
    assert!(dx.iter().all(|&v| v == POISON));
    unary(UnaryOp::TanhBackward, UnaryCall::new(&dy, &mut dx).aux(&x)).unwrap();
    let want = dy[1] as f64 * (1.0 - (x[1] as f64).tanh().powi(2));
    assert!((dx[1] as f64 - want).abs() < 1e-6, "{} vs {want}", dx[1]);
}

#[test]
fn unary_mask_operands() {
    use UnaryOp::*;
    let x = vals(10);
    let mut out = vec![POISON; 10];
    let need = bitmask::bytes(2, 5, 8); // 13 bits
    assert_eq!(need, 2);
    let (mask, mut mask_out) = ([0xffu8; 2], [0u8; 2]);
    for op in [
        ReluBackward { mask: true },
        LeakyReluBackward {
            alpha: 0.1,
            mask: true,
        },
        DropoutBackward { p: 0.5 },
    ] {
        refused(unary(op, UnaryCall::new(&x, &mut out)), "mask_in");
        refused(
            unary(op, UnaryCall::new(&x, &mut out).mask_in(&mask[..1])),
            "mask_in",
        );
        unary(op, UnaryCall::new(&x, &mut out[..]).mask_in(&mask)).unwrap();
    }
    refused(
        unary(Tanh, UnaryCall::new(&x, &mut out).mask_in(&mask)),
        "mask_in",
    );
    let mut junk = [0u8; 2];
    refused(
        unary(
            ReluBackward { mask: true },
            UnaryCall::new(&x, &mut out)
                .mask_in(&mask)
                .mask_out(&mut junk),
        ),
        "mask_out",
    );
    out.fill(POISON);
    for op in [
        Relu { mask: true },
        LeakyRelu {
            alpha: 0.1,
            mask: true,
        },
        Dropout { p: 0.5 },
    ] {
        refused(unary(op, UnaryCall::new(&x, &mut out)), "mask_out");
        refused(
            unary(
                op,
                UnaryCall::new(&x, &mut out).mask_out(&mut mask_out[..1]),
            ),
            "mask_out",
        );
        refused(
            unary(
                op,
                UnaryCall::new(&x, &mut out)
                    .mask_in(&mask)
                    .mask_out(&mut mask_out),
            ),
            "mask_in",
        );
    }
    refused(
        unary(RELU, UnaryCall::new(&x, &mut out).mask_out(&mut mask_out)),
        "mask_out",
    );
    assert!(out.iter().all(|&v| v == POISON));
    unary(
        Relu { mask: true },
        UnaryCall::new(&x, &mut out).mask_out(&mut mask_out),
    )
    .unwrap();
    for (j, &v) in x.iter().enumerate() {
        assert_eq!(bitmask::get(&mask_out, j / 5, j % 5, 8), v > 0.0);
    }
}

#[test]
fn unary_zero_reads_no_input() {
    let x = vals(10);
    let mut out = vec![POISON; 10];
    let problem = refused(unary(UnaryOp::Zero, UnaryCall::new(&x, &mut out)), "input");
    assert!(problem.contains("does not use"), "{problem}");
    assert!(out.iter().all(|&v| v == POISON));
    refused(unary(RELU, UnaryCall::output_only(&mut out)), "input");
    unary(UnaryOp::Zero, UnaryCall::output_only(&mut out)).unwrap();
    assert_eq!(out, [0.0; 10]);
}

#[test]
fn gather_and_scatter_indices() {
    use UnaryOp::*;
    // 3 × 4 space; the input (gathers) or output (scatters) holds 5 rows of ld 4.
    let k = |op| UnaryDesc::new(op, 3, 4, F32).dispatch().unwrap();
    let big = vals(20);
    let mut out = vec![POISON; 12];
    let gather = |idx: Option<&[u64]>, out: &mut [f32]| {
        let mut call = UnaryCall::new(&big, out);
        call.indices = idx;
        k(GatherRows).run(call)
    };
    refused(gather(None, &mut out), "indices");
    refused(gather(Some(&[0, 1]), &mut out), "indices"); // too few
    refused(gather(Some(&[0, 5, 1]), &mut out), "input"); // row 5 is past the input
    refused(gather(Some(&[0, u64::MAX, 1]), &mut out), "indices");
    refused(gather(Some(&[0, 1 << 31, 1]), &mut out), "indices"); // > MAX_DIM
    refused(
        k(Relu { mask: false }).run(UnaryCall::new(&big[..12], &mut out).indices(&[0, 1, 2])),
        "indices",
    );
    assert!(out.iter().all(|&v| v == POISON));
    gather(Some(&[4, 0, 4, 9]), &mut out).unwrap(); // an extra index is ignored
    assert_eq!(&out[..4], &big[16..20]);
    assert_eq!(&out[4..8], &big[..4]);

    let x = vals(12);
    let mut wide = vec![POISON; 20];
    let scatter =
        |idx: &[u64], out: &mut [f32]| k(ScatterRows).run(UnaryCall::new(&x, out).indices(idx));
    refused(scatter(&[0, 5, 1], &mut wide), "output");
    refused(scatter(&[0, 4, 1], &mut wide[..19]), "output");
    assert!(wide.iter().all(|&v| v == POISON));
    scatter(&[4, 0, 2], &mut wide).unwrap();
    assert_eq!(&wide[16..20], &x[..4]);
    assert_eq!(&wide[4..8], &[POISON; 4]);

    // Column variants: indices index a row of width ld (6 here), so 6 is out of range.
    let cols = |op| UnaryDesc::new(op, 2, 3, F32).ld(6, 6).dispatch().unwrap();
    let (src, mut dst) = (vals(12), vec![POISON; 12]);
    for op in [GatherCols, ScatterCols] {
        dst.fill(POISON);
        let run =
            |idx: &[u64], dst: &mut [f32]| cols(op).run(UnaryCall::new(&src, dst).indices(idx));
        let problem = refused(run(&[0, 6, 1], &mut dst), "indices");
        assert!(problem.contains("row width 6"), "{problem}");
        refused(run(&[0, 1], &mut dst), "indices");
        assert!(dst.iter().all(|&v| v == POISON));
        run(&[5, 0, 1], &mut dst).unwrap();
    }
    assert_eq!(dst[5], src[0]); // ScatterCols: out(0, 5) = in(0, 0)
}

#[test]
fn unary_in_place() {
    let k = UnaryDesc::new(RELU, 3, 4, F32).dispatch().unwrap();
    let mut data = vals(12);
    let want: Vec<f32> = data.iter().map(|v| v.max(0.0)).collect();
    refused(k.call_in_place(&mut data[..11]), "data");
    refused(k.call_in_place(&mut vec![1.0f64; 12][..]), "data");
    k.call_in_place(&mut data[..]).unwrap();
    assert_eq!(data, want);
    let refused_in_place = [
        UnaryDesc::new(UnaryOp::Transpose, 4, 4, F32),
        UnaryDesc::new(
            UnaryOp::VnniPack {
                layout: Layout::Vnni2,
            },
            4,
            4,
            F32,
        ),
        UnaryDesc::new(RELU, 3, 4, F32).broadcast(Broadcast::Row),
        UnaryDesc::new(RELU, 3, 4, F32).dtypes(F32, F32, BF16),
        UnaryDesc::new(UnaryOp::Identity, 3, 4, F32).dtypes(BF16, F32, F32),
        UnaryDesc::new(RELU, 3, 4, F32).ld(4, 5),
        UnaryDesc::new(UnaryOp::Relu { mask: true }, 3, 4, F32),
        UnaryDesc::new(UnaryOp::TanhBackward, 3, 4, F32),
        UnaryDesc::new(UnaryOp::Zero, 3, 4, F32),
    ];
    for d in refused_in_place {
        let mut data = vals(24);
        let before = data.clone();
        refused(d.dispatch().unwrap().call_in_place(&mut data[..]), "data");
        assert_eq!(data, before, "{d:?}");
    }
}

// ---- Binary, ternary, reduce ----------------------------------------------------------------

#[test]
fn binary_operand_extents() {
    let d = BinaryDesc::new(BinaryOp::Sub, 3, 5, F32).ld(6, 7, 8);
    assert_eq!((d.in0_len(), d.in1_len(), d.out_len()), (17, 19, 21));
    let k = d.dispatch().unwrap();
    let (a, b) = (vals(17), vals(19));
    let mut out = [POISON; 21];
    refused(k.call(&a[..16], &b[..], &mut out[..]), "in0");
    refused(k.call(&a[..], &b[..18], &mut out[..]), "in1");
    refused(k.call(&a[..], &b[..], &mut out[..20]), "out");
    refused(
        k.call(&vec![bf16::ONE; 17][..], &b[..], &mut out[..]),
        "in0",
    );
    assert!(out.iter().all(|&v| v == POISON));
    k.call(&a[..], &b[..], &mut out[..]).unwrap();
    assert_eq!(out[2 * 8 + 4], a[2 * 6 + 4] - b[2 * 7 + 4]);
    assert_eq!(out[5], POISON); // row padding
    for (bc, len) in [
        (Broadcast::Row, 5),
        (Broadcast::Col, 3),
        (Broadcast::Scalar, 1),
    ] {
        let k = d.broadcast(Broadcast::None, bc).dispatch().unwrap();
        refused(k.call(&a[..], &b[..len - 1], &mut out[..]), "in1");
        k.call(&a[..], &b[..len], &mut out[..]).unwrap();
    }
    // Comparisons write bitmask bytes: 3 rows of 8 bits, the last holding 5, is 3 bytes.
    let cmp = BinaryDesc::new(BinaryOp::Compare(CmpOp::Gt), 3, 5, F32).ld(6, 7, 8);
    let k = cmp.dispatch().unwrap();
    assert_eq!(cmp.out_len(), 3);
    let mut mask = [0xaau8; 3];
    refused(k.call(&a[..], &b[..], &mut mask[..2]), "out");
    refused(k.call(&a[..], &b[..], &mut out[..]), "out"); // f32, not u8
    assert_eq!(mask, [0xaa; 3]);
    k.call(&a[..], &b[..], &mut mask[..]).unwrap();
    assert_eq!(bitmask::get(&mask, 2, 4, 8), a[16] > b[18]);
}

#[test]
fn binary_in_place() {
    let add = BinaryDesc::new(BinaryOp::Add, 2, 3, F32);
    let (mut a, b) = (vals(6), vals(6));
    let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let k = add.dispatch().unwrap();
    refused(k.call_in_place(&mut a[..5], &b[..]), "a");
    refused(k.call_in_place(&mut a[..], &b[..5]), "in1");
    k.call_in_place(&mut a[..], &b[..]).unwrap();
    assert_eq!(a, want);
    let refused_in_place = [
        BinaryDesc::new(BinaryOp::Compare(CmpOp::Lt), 2, 3, F32),
        add.broadcast(Broadcast::Row, Broadcast::None),
        add.dtypes(BF16, F32, F32, F32),
        add.ld(4, 3, 3),
    ];
    for d in refused_in_place {
        let mut a = vals(8);
        refused(d.dispatch().unwrap().call_in_place(&mut a[..], &b[..]), "a");
        assert_eq!(a, vals(8), "{d:?}");
    }
}

#[test]
fn ternary_operands_and_forms() {
    let fma = TernaryDesc::new(TernaryOp::MulAdd, 2, 3, F32);
    let k = fma.dispatch().unwrap();
    let (x, y, z) = (vals(6), vals(7)[1..].to_vec(), vals(8)[2..].to_vec());
    let mut out = vec![POISON; 6];
    refused(k.call(&x[..5], &y[..], &z[..], &mut out[..]), "in0");
    refused(k.call(&x[..], &y[..5], &z[..], &mut out[..]), "in1");
    refused(k.call(&x[..], &y[..], &z[..5], &mut out[..]), "in2");
    refused(k.call(&x[..], &y[..], &z[..], &mut out[..5]), "out");
    refused(k.select(&[0xff], &x[..], &y[..], &mut out[..]), "mask");
    assert!(out.iter().all(|&v| v == POISON));
    k.call(&x[..], &y[..], &z[..], &mut out[..]).unwrap();
    assert_eq!(out[4], x[4] * y[4] + z[4]);
    let sel = TernaryDesc::new(TernaryOp::Select, 2, 3, F32);
    let k = sel.dispatch().unwrap();
    out.fill(POISON);
    refused(k.call(&x[..], &y[..], &z[..], &mut out[..]), "in2");
    refused(k.select(&[0xff], &x[..], &y[..], &mut out[..]), "mask"); // needs 2 bytes
    refused(k.select(&[0xff, 0], &x[..5], &y[..], &mut out[..]), "in0");
    assert!(out.iter().all(|&v| v == POISON));
    k.select(&[0b101, 0b010], &x[..], &y[..], &mut out[..])
        .unwrap();
    assert_eq!(out, [x[0], y[1], x[2], y[3], x[4], y[5]]);
}

#[test]
fn reduce_operand_extents() {
    let d = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerRow, 3, 5, F32);
    let d = ReduceDesc { ld_in: 7, ..d };
    let x = vals(2 * 7 + 5);
    let k = d.dispatch().unwrap();
    let mut out = [POISON; 6];
    refused(k.call(&x[..18], &mut out[..3]), "input");
    refused(k.call(&x[..], &mut out[..2]), "out");
    refused(k.call(&x[..], &mut vec![0.0f64; 3][..]), "out");
    assert!(out.iter().all(|&v| v == POISON));
    k.call(&x[..], &mut out[..3]).unwrap();
    // SumAndSumSq needs 2 × rows outputs: sums, then sums of squares.
    let both = ReduceDesc {
        op: ReduceOp::SumAndSumSq,
        ..d
    }
    .dispatch()
    .unwrap();
    refused(both.call(&x[..], &mut out[..5]), "out");
    both.call(&x[..], &mut out[..]).unwrap();
    let row = &x[14..19];
    assert_eq!(
        (out[2], out[5]),
        (row.iter().sum(), row.iter().map(|v| v * v).sum())
    );
    let per_col = ReduceDesc {
        axis: ReduceAxis::PerCol,
        ..d
    }
    .dispatch()
    .unwrap();
    refused(per_col.call(&x[..], &mut out[..4]), "out");
    per_col.call(&x[..], &mut out[..5]).unwrap();
}

/// The prefetch hint takes any slice (of any dtype or length: only its address is used) and
/// never changes the result, on a kernel whose k loop walks it.
#[test]
fn gemm_prefetch_hint_changes_nothing() {
    let (m, n, k) = (6, 32, 64);
    let d = GemmDesc::new(m, n, k, F32)
        .beta(0.0)
        .batch(BatchReduce::Offsets);
    let kern = d.dispatch().unwrap();
    let (a, b) = (vals(2 * m * k), vals(2 * k * n));
    let next = [0u8; 3];
    let mut got = [vec![POISON; m * n], vec![POISON; m * n]];
    for (i, c) in got.iter_mut().enumerate() {
        let inputs = GemmInputs::Offsets {
            a: (&a[..]).into(),
            b: (&b[..]).into(),
            a_offsets: &[0, (m * k) as u64],
            b_offsets: &[0, (k * n) as u64],
        };
        let call = GemmCall::new(inputs, &mut c[..]);
        let call = if i == 0 {
            call
        } else {
            call.prefetch(&next[..])
        };
        kern.run(call).unwrap();
    }
    let mut want = vec![0.0; m * n];
    matmul_acc(&mut want, (m, n, k), &a, k, &b, n);
    matmul_acc(&mut want, (m, n, k), &a[m * k..], k, &b[k * n..], n);
    assert_eq!(got[0], want);
    assert_eq!(got[1], want);
}
