//! Descriptor validation at dispatch: one targeted test per rule of every family, each naming
//! the exact field the error must report (the fuzz is in `validation_fuzz.rs`).

use std::fmt::Debug;
use tpp::isa::MAX_DIM;
use tpp::*;

use Broadcast::{Col, Row, Scalar};
use DType::{BF16, F16, F32, F64, I32, I8, U8};
use Layout::{RowMajor, Vnni2, Vnni4};

/// `"family.field"` of the error `dispatch` returns, or `"ok"`.
fn verdict<D: Descriptor>(d: D) -> String {
    match tpp::dispatch(&d) {
        Ok(_) => "ok".into(),
        Err(Error::InvalidDescriptor { family, field, .. }) => format!("{family}.{field}"),
        Err(e) => format!("not an InvalidDescriptor: {e}"),
    }
}

/// The `allowed` text of the error `dispatch` returns.
fn allowed<D: Descriptor>(d: D) -> String {
    match tpp::dispatch(&d) {
        Err(Error::InvalidDescriptor { allowed, .. }) => allowed,
        r => panic!("expected InvalidDescriptor, got {:?}", r.map(drop)),
    }
}

/// Each descriptor must get its verdict.
#[track_caller]
fn expect<D: Descriptor + Debug>(cases: &[(D, &str)]) {
    for (d, want) in cases {
        assert_eq!(verdict(*d), *want, "{d:?}");
    }
}

/// `d` with one change.
fn set<D>(mut d: D, f: impl FnOnce(&mut D)) -> D {
    f(&mut d);
    d
}

/// Zero and oversized values of each size field (set by `with`) are rejected by name.
fn bad_sizes<D: Descriptor>(family: &str, fields: &[&str], with: impl Fn(&str, usize) -> D) {
    for field in fields {
        for v in [0, MAX_DIM + 1, usize::MAX] {
            assert_eq!(verdict(with(field, v)), format!("{family}.{field}"), "{v}");
        }
    }
}

// ---- GEMM -----------------------------------------------------------------------------------

fn g() -> GemmDesc {
    GemmDesc::new(4, 6, 8, F32)
}

#[test]
fn gemm_sizes() {
    bad_sizes("gemm", &["m", "n", "k"], |f, v| match f {
        "m" => set(g(), |d| d.m = v),
        "n" => set(g(), |d| d.n = v),
        _ => set(g(), |d| d.k = v),
    });
    // MAX_DIM itself is a size (dispatch touches no memory).
    expect(&[(g(), "ok"), (GemmDesc::new(MAX_DIM, 1, 1, F32), "ok")]);
}

#[test]
fn gemm_leading_dimensions() {
    let ta = GemmDesc::new(9, 6, 3, F32).trans_a(); // A is 3 × 9: lda >= m
    let tb = GemmDesc::new(4, 9, 3, F32).trans_b(); // B is 9 × 3: ldb >= k
    let vb = GemmDesc::new(4, 6, 8, BF16).vnni_b(); // VNNI B: ldb >= n (logical columns)
    expect(&[
        (g().ld(7, 6, 6), "gemm.lda"),
        (g().ld(8, 5, 6), "gemm.ldb"),
        (g().ld(8, 6, 5), "gemm.ldc"),
        (g().ld(MAX_DIM + 1, 6, 6), "gemm.lda"),
        (g().ld(8, usize::MAX, 6), "gemm.ldb"),
        (g().ld(8, 6, MAX_DIM + 1), "gemm.ldc"),
        (ta, "ok"),
        (set(ta, |d| d.lda = 8), "gemm.lda"),
        (tb, "ok"),
        (set(tb, |d| d.ldb = 2), "gemm.ldb"),
        (vb, "ok"),
        (set(vb, |d| d.ldb = 5), "gemm.ldb"),
    ]);
    assert!(allowed(g().ld(7, 6, 6)).contains(">= k"));
    assert!(allowed(set(ta, |d| d.lda = 8)).contains(">= m"));
    assert!(allowed(set(tb, |d| d.ldb = 2)).contains(">= k"));
}

#[test]
fn gemm_extents_overflowing_isize() {
    let stride = |a, b| g().batch(BatchReduce::Stride { a, b });
    let cases = [
        (GemmDesc::new(MAX_DIM, 1, MAX_DIM, F32), "gemm.lda"),
        (GemmDesc::new(1, MAX_DIM, MAX_DIM, F32), "gemm.ldb"),
        (GemmDesc::new(MAX_DIM, MAX_DIM, 1, F64), "gemm.ldc"),
        (stride(usize::MAX / 2, 0), "gemm.batch.stride_a"),
        (stride(0, usize::MAX), "gemm.batch.stride_b"),
    ];
    expect(&cases);
    for (d, _) in cases {
        assert!(allowed(d).contains("isize"), "{d:?}");
    }
    expect(&[(stride(1 << 40, 1 << 40), "ok")]);
}

#[test]
fn gemm_dtype_combinations() {
    #[rustfmt::skip]
    let table = [
        (F32, BF16, F32, F32, "b_dtype"), (BF16, F32, F32, F32, "b_dtype"),
        (F16, BF16, F32, F32, "b_dtype"), (I8, F32, I32, I32, "b_dtype"),
        (I8, I8, F32, I32, "c_dtype"), (U8, I8, I8, I32, "c_dtype"),
        (U8, I8, I32, F32, "compute_dtype"), (F32, F32, F32, F64, "compute_dtype"),
        (F32, F32, F32, BF16, "compute_dtype"), (F64, F64, F64, F32, "compute_dtype"),
        (F64, F64, F32, F64, "c_dtype"), (F32, F32, I32, F32, "c_dtype"),
        (F32, F32, F64, F32, "c_dtype"), (BF16, BF16, F16, F32, "c_dtype"),
        (F16, F16, BF16, F32, "c_dtype"), (I32, I32, I32, I32, "a_dtype"),
        (F64, F64, F64, F64, "ok"), (F32, F32, BF16, F32, "ok"), (F32, F32, F16, F32, "ok"),
        (BF16, BF16, BF16, F32, "ok"), (F16, F16, F16, F32, "ok"),
        (U8, I8, I32, I32, "ok"), (I8, U8, I32, I32, "ok"),
    ];
    for (a, b, c, comp, field) in table {
        let d = set(g(), |d| {
            (d.a_dtype, d.b_dtype, d.c_dtype, d.compute_dtype) = (a, b, c, comp)
        });
        let want = if field == "ok" {
            "ok".into()
        } else {
            format!("gemm.{field}")
        };
        assert_eq!(verdict(d), want, "{d:?}");
    }
}

#[test]
fn gemm_vnni_layouts() {
    let b = |dt, layout| set(GemmDesc::new(4, 6, 8, dt), |d| d.b_layout = layout);
    let c16 = GemmDesc::new(4, 6, 8, BF16).output(BF16).vnni_c();
    expect(&[
        (b(BF16, Vnni2), "ok"),
        (b(F16, Vnni2), "ok"),
        (b(I8, Vnni4), "ok"),
        (b(F32, Vnni2), "gemm.b_layout"),
        (b(F64, Vnni4), "gemm.b_layout"),
        (b(BF16, Vnni4), "gemm.b_layout"),
        (b(U8, Vnni2), "gemm.b_layout"),
        (set(b(BF16, Vnni2), |d| d.trans_b = true), "gemm.trans_b"),
        (GemmDesc::new(4, 6, 7, BF16).vnni_b(), "gemm.k"),
        (GemmDesc::new(4, 6, 6, I8).vnni_b(), "gemm.k"),
        (GemmDesc::new(4, 6, 12, I8).vnni_b(), "ok"),
        (c16, "ok"),
        (set(c16, |d| d.m = 5), "gemm.m"),
        (GemmDesc::new(4, 6, 8, BF16).vnni_c(), "gemm.c_layout"), // f32 C
        (set(c16, |d| d.c_layout = Vnni4), "gemm.c_layout"),
    ]);
}

#[test]
fn gemm_int8_restrictions() {
    let d = GemmDesc::new(4, 6, 8, I8).inputs(U8, I8);
    let relu = Activation::Relu { mask: false };
    expect(&[
        (d.beta(0.0), "ok"),
        (d.beta(1.0), "ok"),
        (d.alpha(2.0), "gemm.alpha"),
        (d.alpha(f64::NAN), "gemm.alpha"),
        (d.beta(0.5), "gemm.beta"),
        (d.beta(-1.0), "gemm.beta"),
        (d.beta(f64::INFINITY), "gemm.beta"),
        (d.bias(BiasBroadcast::Row, F32), "gemm.epilogue"),
        (d.activation(relu), "gemm.epilogue"),
        (d.activation(Activation::Gelu), "gemm.epilogue"),
    ]);
}

#[test]
fn gemm_scalars_and_epilogue() {
    let mut cases = vec![
        (g().alpha(-0.5).beta(0.25), "ok"),
        (g().activation(Activation::Elu { alpha: -2.0 }), "ok"),
        (g().bias(BiasBroadcast::Col, F64), "ok"),
    ];
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        cases.extend([(g().alpha(v), "gemm.alpha"), (g().beta(v), "gemm.beta")]);
    }
    for alpha in [f32::NAN, f32::INFINITY] {
        for act in [Activation::LeakyRelu { alpha }, Activation::Elu { alpha }] {
            cases.push((g().activation(act), "gemm.epilogue.activation.alpha"));
        }
    }
    for dt in [I32, I8, U8] {
        cases.push((g().bias(BiasBroadcast::Col, dt), "gemm.epilogue.bias.dtype"));
    }
    expect(&cases);
}

#[test]
fn gemm_relu_mask_ld() {
    let relu = |n, mask_ld, mask| {
        let d = GemmDesc::new(3, n, 4, F32).activation(Activation::Relu { mask });
        set(d, |d| d.epilogue.mask_ld = mask_ld)
    };
    let mut cases = vec![(relu(6, 8, true), "ok"), (relu(6, 24, true), "ok")];
    for (n, ld) in [(6, 12), (6, 0), (10, 8), (10, 15), (6, MAX_DIM + 1)] {
        cases.push((relu(n, ld, true), "gemm.epilogue.mask_ld"));
    }
    cases.push((relu(6, 3, false), "ok")); // ignored without a mask
    expect(&cases);
    let d = GemmDesc::new(3, 10, 4, F32).activation(Activation::Relu { mask: true });
    assert_eq!(d.epilogue.mask_ld, 16);
}

#[test]
fn huge_valid_gemm_dispatches() {
    // Every extent fits isize (A 2^60, B 2^62, C 2^62 bytes), but 2·m·n·k ≈ 2^92.
    let d = GemmDesc::new(1 << 29, MAX_DIM, MAX_DIM, I8);
    assert!(d.validate().is_ok());
    let flops = d.dispatch().expect("a valid descriptor dispatches").flops();
    assert!(
        flops >= 2 * d.m as u64 * d.n as u64,
        "flops wrapped to {flops}"
    );
}

#[test]
fn constructors_leave_out_of_range_sizes_to_validation() {
    let huge = usize::MAX;
    let relu = Activation::Relu { mask: true };
    let cmp = BinaryOp::Compare(CmpOp::Lt);
    expect(&[(
        TernaryDesc::new(TernaryOp::MulAdd, 2, huge, F32),
        "ternary.cols",
    )]);
    expect(&[(UnaryDesc::new(UnaryOp::Exp, 2, huge, F32), "unary.cols")]);
    expect(&[(BinaryDesc::new(cmp, 2, huge, F32), "binary.cols")]);
    expect(&[(GemmDesc::new(2, huge, 2, F32).activation(relu), "gemm.n")]);
}

// ---- Unary ----------------------------------------------------------------------------------

fn un(op: UnaryOp) -> UnaryDesc {
    UnaryDesc::new(op, 5, 6, F32)
}
const RELU: UnaryOp = UnaryOp::Relu { mask: false };
const PACK2: UnaryOp = UnaryOp::VnniPack { layout: Vnni2 };

#[test]
fn unary_sizes_and_extents() {
    bad_sizes("unary", &["rows", "cols"], |f, v| match f {
        "rows" => set(un(RELU), |d| d.rows = v),
        _ => set(un(RELU), |d| d.cols = v),
    });
    let big = |op| UnaryDesc::new(op, MAX_DIM, MAX_DIM, F32);
    expect(&[
        (big(RELU), "unary.ld_in"),
        (big(UnaryOp::Zero), "unary.ld_out"),
    ]);
    assert!(allowed(big(RELU)).contains("isize"));
    assert!(allowed(big(UnaryOp::Zero)).contains("isize"));
}

#[test]
fn unary_leading_dimensions() {
    use UnaryOp::*;
    let unpack = un(VnniUnpack { layout: Vnni4 });
    expect(&[
        (un(RELU).ld(5, 6), "unary.ld_in"),
        (un(RELU).ld(6, 5), "unary.ld_out"),
        (un(RELU).ld(MAX_DIM + 1, 6), "unary.ld_in"),
        (un(Exp).ld(6, usize::MAX), "unary.ld_out"),
        // Transpose writes cols × rows: ld_out >= rows (5), not cols (6).
        (un(Transpose).ld(6, 5), "ok"),
        (un(Transpose).ld(6, 4), "unary.ld_out"),
        (un(Transpose).ld(5, 5), "unary.ld_in"),
        (un(PACK2), "ok"),
        (un(PACK2).ld(6, 5), "unary.ld_out"),
        (unpack, "ok"),
        (unpack.ld(5, 6), "unary.ld_in"),
        // Column gathers read rows of width ld_in (any ld_in >= 1); scatters mirror them.
        (un(GatherCols).ld(1, 6), "ok"),
        (un(GatherCols).ld(0, 6), "unary.ld_in"),
        (un(GatherCols).ld(6, 5), "unary.ld_out"),
        (un(ScatterCols).ld(6, 1), "ok"),
        (un(ScatterCols).ld(6, 0), "unary.ld_out"),
        (un(ScatterCols).ld(5, 9), "unary.ld_in"),
        (un(GatherRows).ld(5, 6), "unary.ld_in"),
        (un(ScatterRows).ld(6, 5), "unary.ld_out"),
        // ld_in is unused (and unchecked) for a broadcast input or an op without input.
        (un(RELU).ld(0, 6).broadcast(Row), "ok"),
        (un(Zero).ld(0, 6), "ok"),
        (un(Zero).ld(6, 0), "unary.ld_out"),
    ]);
    assert!(allowed(un(Transpose).ld(6, 4)).contains(">= rows"));
}

#[test]
fn unary_mask_ld() {
    use UnaryOp::*;
    let with = |op, cols, ld| set(UnaryDesc::new(op, 3, cols, F32), |d| d.mask_ld = ld);
    let relu_bwd = ReluBackward { mask: false };
    let mut cases = vec![(with(RELU, 6, 3), "ok"), (with(relu_bwd, 6, 3), "ok")];
    let (p, mask) = (0.5, true);
    for op in [
        Relu { mask },
        ReluBackward { mask },
        Dropout { p },
        DropoutBackward { p },
    ] {
        cases.push((with(op, 10, 16), "ok"));
        for (cols, ld) in [(6, 12), (6, 0), (10, 8), (10, 17), (6, MAX_DIM + 1)] {
            cases.push((with(op, cols, ld), "unary.mask_ld"));
        }
    }
    expect(&cases);
}

#[test]
fn unary_dtypes() {
    use UnaryOp::*;
    let d = |op, i, c, o| un(op).dtypes(i, c, o);
    expect(&[
        (d(RELU, I8, F32, F32), "unary.in_dtype"),
        (d(Exp, U8, F32, F32), "unary.in_dtype"),
        (d(Sqrt, I32, F32, F32), "unary.in_dtype"),
        (d(TanhBackward, F32, F32, I32), "unary.out_dtype"),
        (d(RELU, F32, BF16, F32), "unary.compute_dtype"),
        (d(RELU, F16, F16, F16), "unary.compute_dtype"),
        (d(Identity, F32, I32, F32), "unary.compute_dtype"),
        (d(RELU, BF16, F32, F16), "ok"),
        (d(Identity, I8, F32, F32), "ok"),
        (d(Identity, F32, F32, I8), "ok"),
        // Layout transforms never convert, but take any dtype.
        (d(Transpose, F32, F32, BF16), "unary.out_dtype"),
        (d(PACK2, BF16, F32, F32), "unary.out_dtype"),
        (d(GatherRows, I8, F32, U8), "unary.out_dtype"),
        (d(Transpose, I8, F32, I8), "ok"),
        (d(Transpose, I8, I32, I8), "unary.compute_dtype"),
        (un(VnniPack { layout: RowMajor }), "unary.op.layout"),
        (un(VnniUnpack { layout: RowMajor }), "unary.op.layout"),
    ]);
}

#[test]
fn unary_op_parameters() {
    use UnaryOp::*;
    let mut cases = vec![];
    for alpha in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mask = false;
        let leaky = [LeakyRelu { alpha, mask }, LeakyReluBackward { alpha, mask }];
        for op in leaky
            .into_iter()
            .chain([Elu { alpha }, EluBackward { alpha }])
        {
            cases.push((un(op), "unary.op.alpha"));
        }
    }
    for p in [1.0, 1.5, -0.1, -1e-30, f32::NAN, f32::INFINITY] {
        cases.push((un(Dropout { p }), "unary.op.p"));
        cases.push((un(DropoutBackward { p }), "unary.op.p"));
    }
    for p in [0.0, 0.5, 0.999_999] {
        cases.push((un(Dropout { p }), "ok"));
    }
    expect(&cases);
    assert!(allowed(un(Dropout { p: 1.0 })).contains("0 <= p < 1"));
}

#[test]
fn unary_broadcast() {
    use UnaryOp::*;
    let mut cases = vec![
        (un(Identity).broadcast(Scalar), "ok"),
        (un(RELU).broadcast(Row), "ok"),
    ];
    // Layout transforms, Zero, and backward ops that read the forward input.
    let relu_bwd = ReluBackward { mask: false };
    for op in [
        Transpose,
        GatherRows,
        ScatterCols,
        PACK2,
        Zero,
        TanhBackward,
        relu_bwd,
    ] {
        for b in [Row, Col, Scalar] {
            cases.push((un(op).broadcast(b), "unary.broadcast"));
        }
    }
    expect(&cases);
}

// ---- Binary, ternary, reduce ----------------------------------------------------------------

#[test]
fn binary_rules() {
    let add = BinaryDesc::new(BinaryOp::Add, 5, 6, F32);
    bad_sizes("binary", &["rows", "cols"], |f, v| match f {
        "rows" => set(add, |d| d.rows = v),
        _ => set(add, |d| d.cols = v),
    });
    let big = BinaryDesc::new(BinaryOp::Mul, MAX_DIM, MAX_DIM, F32);
    let cmp = BinaryDesc::new(BinaryOp::Compare(CmpOp::Ge), 5, 6, F32);
    assert_eq!((cmp.ld_out, cmp.out_dtype), (8, U8));
    let dt = |d: BinaryDesc, a, b, c, o| d.dtypes(a, b, c, o);
    expect(&[
        (add, "ok"),
        (add.ld(5, 6, 6), "binary.ld_in0"),
        (add.ld(6, 5, 6), "binary.ld_in1"),
        (add.ld(6, 6, 5), "binary.ld_out"),
        (add.ld(6, MAX_DIM + 1, 6), "binary.ld_in1"),
        (add.ld(0, 0, 6).broadcast(Row, Scalar), "ok"),
        (big, "binary.ld_in0"),
        (big.broadcast(Col, Broadcast::None), "binary.ld_in1"),
        (big.broadcast(Col, Row), "binary.ld_out"),
        (dt(add, I8, F32, F32, F32), "binary.in0_dtype"),
        (dt(add, F32, I32, F32, F32), "binary.in1_dtype"),
        (dt(add, F32, F32, BF16, F32), "binary.compute_dtype"),
        (dt(add, F32, F32, F32, U8), "binary.out_dtype"),
        (dt(add, BF16, F16, F64, F32), "ok"),
        // Comparisons write a u8 bitmask whose ld_out (bits) is a multiple of 8.
        (cmp, "ok"),
        (dt(cmp, F32, F32, F32, F32), "binary.out_dtype"),
        (dt(cmp, I8, F32, F32, U8), "binary.in0_dtype"),
        (cmp.ld(6, 6, 6), "binary.ld_out"),
        (cmp.ld(6, 6, 12), "binary.ld_out"),
        (cmp.ld(6, 6, 16), "ok"),
    ]);
    assert!(allowed(big.broadcast(Col, Row)).contains("isize"));
    assert!(allowed(dt(cmp, F32, F32, F32, F32)).contains("u8"));
}

#[test]
fn ternary_rules() {
    let fma = TernaryDesc::new(TernaryOp::MulAdd, 5, 6, F32);
    let sel = TernaryDesc::new(TernaryOp::Select, 5, 6, F32);
    bad_sizes("ternary", &["rows", "cols"], |f, v| match f {
        "rows" => set(fma, |d| d.rows = v),
        _ => set(sel, |d| d.cols = v),
    });
    let big = TernaryDesc::new(TernaryOp::NMulAdd, MAX_DIM, MAX_DIM, F32);
    let mut cases = vec![
        (fma, "ok"),
        (sel, "ok"),
        (set(fma, |d| d.ld_out = 5), "ternary.ld_out"),
        (set(fma, |d| d.compute_dtype = F16), "ternary.compute_dtype"),
        (set(fma, |d| d.out_dtype = I32), "ternary.out_dtype"),
        (big.broadcast([Row; 3]), "ternary.ld_out"),
        // Select reads no in2 but a mask; MulAdd has no mask.
        (set(sel, |d| (d.ld_in[2], d.in_dtypes[2]) = (0, I8)), "ok"),
        (set(sel, |d| d.mask_ld = 0), "ternary.mask_ld"),
        (set(sel, |d| d.mask_ld = 12), "ternary.mask_ld"),
        (set(fma, |d| d.mask_ld = 0), "ok"),
    ];
    let ld = ["ternary.ld_in[0]", "ternary.ld_in[1]", "ternary.ld_in[2]"];
    let dt = [
        "ternary.in_dtypes[0]",
        "ternary.in_dtypes[1]",
        "ternary.in_dtypes[2]",
    ];
    for i in 0..3 {
        let short = set(fma, |d| d.ld_in[i] = 5);
        cases.push((short, ld[i]));
        cases.push((set(fma, |d| d.in_dtypes[i] = I8), dt[i]));
        cases.push((set(short, |d| d.broadcasts[i] = Col), "ok")); // no ld when broadcast
    }
    expect(&cases);
}

#[test]
fn reduce_rules() {
    let d = ReduceDesc::new(ReduceOp::SumAndSumSq, ReduceAxis::PerCol, 5, 6, BF16);
    bad_sizes("reduce", &["rows", "cols"], |f, v| match f {
        "rows" => set(d, |d| d.rows = v),
        _ => set(d, |d| d.cols = v),
    });
    let big = ReduceDesc::new(ReduceOp::Max, ReduceAxis::PerRow, MAX_DIM, MAX_DIM, F32);
    expect(&[
        (d, "ok"),
        (set(d, |d| d.ld_in = 5), "reduce.ld_in"),
        (set(d, |d| d.ld_in = MAX_DIM + 1), "reduce.ld_in"),
        (set(d, |d| d.in_dtype = I8), "reduce.in_dtype"),
        (set(d, |d| d.compute_dtype = BF16), "reduce.compute_dtype"),
        (set(d, |d| d.out_dtype = I32), "reduce.out_dtype"),
        (big, "reduce.ld_in"),
    ]);
    assert!(allowed(big).contains("isize"));
}

#[test]
fn error_display_names_field_value_and_allowed() {
    fn message<D: Descriptor>(d: D) -> String {
        tpp::dispatch(&d).unwrap_err().to_string()
    }
    let s = message(g().ld(3, 6, 6));
    for part in ["invalid gemm", "lda = 3", ">= k", &MAX_DIM.to_string()] {
        assert!(s.contains(part), "{s:?} lacks {part:?}");
    }
    let s = message(un(UnaryOp::Dropout { p: 1.0 }));
    for part in ["invalid unary", "op.p = 1", "0 <= p < 1"] {
        assert!(s.contains(part), "{s:?} lacks {part:?}");
    }
    let s = message(GemmDesc::new(4, 6, 8, BF16).vnni_c());
    assert!(s.contains("c_layout") && s.contains("bf16 or f16"), "{s}");
}
