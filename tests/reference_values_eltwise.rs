//! The reference binary, ternary and reduce TPPs against hand-computed values: small explicit
//! inputs, expected outputs worked out by hand, and poisoned outputs so that an unwritten
//! element fails.

mod common;

use common::values::{reference, same, N, SENTINEL};
use tpp::{
    BinaryDesc, BinaryOp, Broadcast, CmpOp, DType, ReduceAxis, ReduceDesc, ReduceOp, TernaryDesc,
    TernaryOp,
};

// ---------------------------------------------------------------- binary

#[test]
fn binary_arithmetic_and_nan() {
    let a = [1.0f32, 2.0, 3.0, -4.0, 6.0, N];
    let b = [2.0f32, -2.0, 0.5, -4.0, N, 1.0];
    let cases: [(BinaryOp, [f32; 6]); 6] = [
        (BinaryOp::Add, [3.0, 0.0, 3.5, -8.0, N, N]),
        (BinaryOp::Sub, [-1.0, 4.0, 2.5, 0.0, N, N]),
        (BinaryOp::Mul, [2.0, -4.0, 1.5, 16.0, N, N]),
        (BinaryOp::Div, [0.5, -1.0, 6.0, 1.0, N, N]),
        (BinaryOp::Max, [2.0, 2.0, 3.0, -4.0, N, N]),
        (BinaryOp::Min, [1.0, -2.0, 0.5, -4.0, N, N]),
    ];
    for (op, want) in cases {
        let mut y = [SENTINEL; 6];
        reference(BinaryDesc::new(op, 2, 3, DType::F32))
            .call(&a[..], &b[..], &mut y[..])
            .unwrap();
        same(&y, &want, op.name());
    }
    // f64 division keeps f64 precision: 1/3.
    let mut y = [f64::NAN; 1];
    reference(BinaryDesc::new(BinaryOp::Div, 1, 1, DType::F64))
        .call(&[1.0f64][..], &[3.0f64][..], &mut y[..])
        .unwrap();
    assert_eq!(y[0], 0.333_333_333_333_333_3);
}

#[test]
fn binary_muladd_accumulates_into_out() {
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let b = [5.0f32, -6.0, 0.5, 2.0];
    let mut out = [1.0f32, 1.0, -1.0, 0.25];
    reference(BinaryDesc::new(BinaryOp::MulAdd, 2, 2, DType::F32))
        .call(&a[..], &b[..], &mut out[..])
        .unwrap();
    assert_eq!(out, [6.0, -11.0, 0.5, 8.25]);
}

#[test]
fn binary_compare_bitmasks() {
    // a vs b over 2 × 3; NaN compares false except for Ne.
    let a = [1.0f32, 2.0, 3.0, N, 5.0, -1.0];
    let b = [2.0f32, 2.0, 2.0, 0.0, N, -1.0];
    let cases = [
        (CmpOp::Gt, [0b100u8, 0b000]),
        (CmpOp::Ge, [0b110, 0b100]),
        (CmpOp::Lt, [0b001, 0b000]),
        (CmpOp::Le, [0b011, 0b100]),
        (CmpOp::Eq, [0b010, 0b100]),
        (CmpOp::Ne, [0b101, 0b011]),
    ];
    for (c, [r0, r1]) in cases {
        let d = BinaryDesc::new(BinaryOp::Compare(c), 2, 3, DType::F32);
        for fill in [0x00u8, 0xFF] {
            let mut m = [fill; 3]; // ld 8 bits: one byte a row, padding bits cleared
            reference(d).call(&a[..], &b[..], &mut m[..]).unwrap();
            assert_eq!(m, [r0, r1, fill], "{c:?}, ld 8, fill {fill:#x}");
            // ld 16: the second byte of each row holds no bit of the row and is untouched.
            let mut m = [fill; 4];
            reference(d.ld(3, 3, 16))
                .call(&a[..], &b[..], &mut m[..])
                .unwrap();
            assert_eq!(m, [r0, fill, r1, fill], "{c:?}, ld 16, fill {fill:#x}");
        }
    }
}

#[test]
fn binary_broadcasts() {
    use Broadcast::{Col, None as Full, Row, Scalar};
    let m = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
    let row = [10.0f32, 20.0, 30.0];
    let col = [100.0f32, 200.0];
    type Case<'a> = (
        BinaryOp,
        Broadcast,
        &'a [f32],
        Broadcast,
        &'a [f32],
        [f32; 6],
    );
    let cases: [Case; 6] = [
        (
            BinaryOp::Add,
            Row,
            &row,
            Full,
            &m,
            [11.0, 22.0, 33.0, 14.0, 25.0, 36.0],
        ),
        (
            BinaryOp::Sub,
            Full,
            &m,
            Col,
            &col,
            [-99.0, -98.0, -97.0, -196.0, -195.0, -194.0],
        ),
        (
            BinaryOp::Mul,
            Full,
            &m,
            Scalar,
            &[3.0],
            [3.0, 6.0, 9.0, 12.0, 15.0, 18.0],
        ),
        (
            BinaryOp::Div,
            Scalar,
            &[12.0],
            Row,
            &[1.0, 2.0, 3.0],
            [12.0, 6.0, 4.0, 12.0, 6.0, 4.0],
        ),
        (
            BinaryOp::Sub,
            Col,
            &col,
            Row,
            &row,
            [90.0, 80.0, 70.0, 190.0, 180.0, 170.0],
        ),
        (
            BinaryOp::Max,
            Full,
            &m,
            Row,
            &[2.0, 2.0, 5.0],
            [2.0, 2.0, 5.0, 4.0, 5.0, 6.0],
        ),
    ];
    for (op, b0, x0, b1, x1, want) in cases {
        let mut y = [SENTINEL; 6];
        reference(BinaryDesc::new(op, 2, 3, DType::F32).broadcast(b0, b1))
            .call(x0, x1, &mut y[..])
            .unwrap();
        same(&y, &want, &format!("{} {b0:?} {b1:?}", op.name()));
    }
    let mut mask = [0xFFu8; 2];
    reference(
        BinaryDesc::new(BinaryOp::Compare(CmpOp::Gt), 2, 3, DType::F32).broadcast(Full, Scalar),
    )
    .call(&m[..], &[2.5f32][..], &mut mask[..])
    .unwrap();
    assert_eq!(mask, [0b100, 0b111]);
}

// ---------------------------------------------------------------- ternary

#[test]
fn ternary_muladd_nmuladd_select() {
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let b = [5.0f32, 6.0, 7.0, 8.0];
    let c = [0.5f32, -1.0, 2.0, 3.0];
    let mut y = [N; 4];
    reference(TernaryDesc::new(TernaryOp::MulAdd, 2, 2, DType::F32))
        .call(&a[..], &b[..], &c[..], &mut y[..])
        .unwrap();
    assert_eq!(y, [5.5, 11.0, 23.0, 35.0]);
    let mut y = [N; 4];
    reference(TernaryDesc::new(TernaryOp::NMulAdd, 2, 2, DType::F32))
        .call(&a[..], &b[..], &c[..], &mut y[..])
        .unwrap();
    assert_eq!(y, [-4.5, -13.0, -19.0, -29.0]);
    // Broadcasts: a·b + row c; scalar a · b + column c.
    let mut y = [N; 4];
    reference(
        TernaryDesc::new(TernaryOp::MulAdd, 2, 2, DType::F32).broadcast([
            Broadcast::None,
            Broadcast::None,
            Broadcast::Row,
        ]),
    )
    .call(&a[..], &b[..], &[10.0f32, 20.0][..], &mut y[..])
    .unwrap();
    assert_eq!(y, [15.0, 32.0, 31.0, 52.0]);
    let mut y = [N; 4];
    reference(
        TernaryDesc::new(TernaryOp::NMulAdd, 2, 2, DType::F32).broadcast([
            Broadcast::Scalar,
            Broadcast::None,
            Broadcast::Col,
        ]),
    )
    .call(&[2.0f32][..], &b[..], &[100.0f32, 200.0][..], &mut y[..])
    .unwrap();
    assert_eq!(y, [90.0, 88.0, 186.0, 184.0]);
    // Select over 2 × 3: mask rows 0b101 and 0b010; b broadcast as a scalar.
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [-1.0f32, -2.0, -3.0, -4.0, -5.0, -6.0];
    let mask = [0b101u8, 0b010];
    let mut y = [N; 6];
    reference(TernaryDesc::new(TernaryOp::Select, 2, 3, DType::F32))
        .select(&mask, &a[..], &b[..], &mut y[..])
        .unwrap();
    assert_eq!(y, [1.0, -2.0, 3.0, -4.0, 5.0, -6.0]);
    let mut y = [N; 6];
    reference(
        TernaryDesc::new(TernaryOp::Select, 2, 3, DType::F32).broadcast([
            Broadcast::None,
            Broadcast::Scalar,
            Broadcast::None,
        ]),
    )
    .select(&mask, &a[..], &[0.0f32][..], &mut y[..])
    .unwrap();
    assert_eq!(y, [1.0, 0.0, 3.0, 0.0, 5.0, 0.0]);
}

// ---------------------------------------------------------------- reduce

/// 2 × 3 [[1, −5, 3], [4, 2, −6]] with ld 4 and NaN padding (which must not be read).
const RED: [f32; 7] = [1.0, -5.0, 3.0, N, 4.0, 2.0, -6.0];

fn reduce_run(op: ReduceOp, axis: ReduceAxis, acc: Option<&[f32]>) -> Vec<f32> {
    let mut d = ReduceDesc::new(op, axis, 2, 3, DType::F32);
    d.ld_in = 4;
    d.accumulate = acc.is_some();
    let mut out = match acc {
        Some(prior) => prior.to_vec(),
        None => vec![N; d.out_len()],
    };
    reference(d).call(&RED[..], &mut out[..]).unwrap();
    out
}

#[test]
fn reduce_per_row_and_per_col() {
    use ReduceAxis::{PerCol, PerRow};
    let cases: [(ReduceOp, &[f32], &[f32]); 6] = [
        (ReduceOp::Sum, &[-1.0, 0.0], &[5.0, -3.0, -3.0]),
        (ReduceOp::Max, &[3.0, 4.0], &[4.0, 2.0, 3.0]),
        (ReduceOp::Min, &[-5.0, -6.0], &[1.0, -5.0, -6.0]),
        (ReduceOp::AbsMax, &[5.0, 6.0], &[4.0, 5.0, 6.0]),
        (ReduceOp::SumSq, &[35.0, 56.0], &[17.0, 29.0, 45.0]),
        // Sums first, then sums of squares.
        (
            ReduceOp::SumAndSumSq,
            &[-1.0, 0.0, 35.0, 56.0],
            &[5.0, -3.0, -3.0, 17.0, 29.0, 45.0],
        ),
    ];
    for (op, per_row, per_col) in cases {
        same(
            &reduce_run(op, PerRow, None),
            per_row,
            &format!("{} per row", op.name()),
        );
        same(
            &reduce_run(op, PerCol, None),
            per_col,
            &format!("{} per col", op.name()),
        );
    }
}

#[test]
fn reduce_accumulate_folds_into_prior() {
    use ReduceAxis::{PerCol, PerRow};
    let cases: [(ReduceOp, &[f32], &[f32]); 6] = [
        (ReduceOp::Sum, &[10.0, -10.0], &[9.0, -10.0]),
        (ReduceOp::Max, &[3.5, 1.0], &[3.5, 4.0]),
        (ReduceOp::Min, &[-4.0, -7.0], &[-5.0, -7.0]),
        (ReduceOp::AbsMax, &[7.0, 0.0], &[7.0, 6.0]),
        (ReduceOp::SumSq, &[1.0, 2.0], &[36.0, 58.0]),
        (
            ReduceOp::SumAndSumSq,
            &[1.0, 2.0, 3.0, 4.0],
            &[0.0, 2.0, 38.0, 60.0],
        ),
    ];
    for (op, prior, want) in cases {
        same(
            &reduce_run(op, PerRow, Some(prior)),
            want,
            &format!("{} acc", op.name()),
        );
    }
    same(
        &reduce_run(ReduceOp::SumAndSumSq, PerCol, Some(&[1.0; 6])),
        &[6.0, -2.0, -2.0, 18.0, 30.0, 46.0],
        "sum_sumsq per col acc",
    );
}

#[test]
fn reduce_max_min_propagate_nan() {
    let x = [1.0f32, N, 3.0, 4.0]; // 2 × 2
    for op in [ReduceOp::Max, ReduceOp::Min] {
        let mut out = [SENTINEL; 2];
        reference(ReduceDesc::new(op, ReduceAxis::PerRow, 2, 2, DType::F32))
            .call(&x[..], &mut out[..])
            .unwrap();
        same(
            &out,
            &[N, if op == ReduceOp::Max { 4.0 } else { 3.0 }],
            op.name(),
        );
    }
}
