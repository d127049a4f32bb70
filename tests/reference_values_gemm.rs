//! The reference GEMM / BRGEMM against hand-computed values: small explicit inputs, expected
//! outputs worked out by hand, poisoned outputs so that an unwritten element fails.

mod common;

use common::values::{reference, N};
use tpp::{
    bf16, Activation, BatchReduce, BiasBroadcast, DType, GemmCall, GemmDesc, GemmInputs, In,
};

const POISON_I32: i32 = 0x5A5A_5A5A;

fn bf(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

fn single<'a>(a: impl Into<In<'a>>, b: impl Into<In<'a>>) -> GemmInputs<'a> {
    GemmInputs::Single {
        a: a.into(),
        b: b.into(),
    }
}

// The 2×3×4 case used below:
// A = [[ 1, 2, 3, 4], [-1, 0.5, 2, -2]]      (m × k)
// B = [[1, 0, 2], [0, 1, -1], [3, 1, 0], [-1, 2, 1]]   (k × n)
// A·B = [[6, 13, 4], [7, -1.5, -4.5]]
const A: [f32; 8] = [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -2.0];
const AT: [f32; 8] = [1.0, -1.0, 2.0, 0.5, 3.0, 2.0, 4.0, -2.0];
const B: [f32; 12] = [1.0, 0.0, 2.0, 0.0, 1.0, -1.0, 3.0, 1.0, 0.0, -1.0, 2.0, 1.0];
const BT: [f32; 12] = [1.0, 0.0, 3.0, -1.0, 0.0, 1.0, 1.0, 2.0, 2.0, -1.0, 0.0, 1.0];
const AB: [f32; 6] = [6.0, 13.0, 4.0, 7.0, -1.5, -4.5];

#[test]
fn gemm_f32_plain() {
    let k = reference(GemmDesc::new(2, 3, 4, DType::F32).beta(0.0));
    let mut c = [f32::NAN; 6];
    k.call(&A[..], &B[..], &mut c[..]).unwrap();
    assert_eq!(c, AB);
}

#[test]
fn gemm_f32_transposes() {
    let mut c = [f32::NAN; 6];
    reference(GemmDesc::new(2, 3, 4, DType::F32).beta(0.0).trans_a())
        .call(&AT[..], &B[..], &mut c[..])
        .unwrap();
    assert_eq!(c, AB, "trans_a");
    let mut c = [f32::NAN; 6];
    reference(GemmDesc::new(2, 3, 4, DType::F32).beta(0.0).trans_b())
        .call(&A[..], &BT[..], &mut c[..])
        .unwrap();
    assert_eq!(c, AB, "trans_b");
    let mut c = [f32::NAN; 6];
    reference(
        GemmDesc::new(2, 3, 4, DType::F32)
            .beta(0.0)
            .trans_a()
            .trans_b(),
    )
    .call(&AT[..], &BT[..], &mut c[..])
    .unwrap();
    assert_eq!(c, AB, "trans_a + trans_b");
}

#[test]
fn gemm_alpha_beta() {
    // beta = 0 over NaN: C is never read.
    let mut c = [f32::NAN; 6];
    reference(GemmDesc::new(2, 3, 4, DType::F32).alpha(2.0).beta(0.0))
        .call(&A[..], &B[..], &mut c[..])
        .unwrap();
    assert_eq!(c, [12.0, 26.0, 8.0, 14.0, -3.0, -9.0]);
    // beta = 1 accumulates.
    let mut c = [1.0f32; 6];
    reference(GemmDesc::new(2, 3, 4, DType::F32))
        .call(&A[..], &B[..], &mut c[..])
        .unwrap();
    assert_eq!(c, [7.0, 14.0, 5.0, 8.0, -0.5, -3.5]);
    // General alpha and beta: 0.5·AB − 2·C.
    let mut c = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    reference(GemmDesc::new(2, 3, 4, DType::F32).alpha(0.5).beta(-2.0))
        .call(&A[..], &B[..], &mut c[..])
        .unwrap();
    assert_eq!(c, [1.0, 2.5, -4.0, -4.5, -10.75, -14.25]);
}

#[test]
fn gemm_f64_keeps_f64_precision() {
    let a: Vec<f64> = A.iter().map(|&x| x as f64).collect();
    let b: Vec<f64> = B.iter().map(|&x| x as f64).collect();
    let mut c = [f64::NAN; 6];
    reference(GemmDesc::new(2, 3, 4, DType::F64).beta(0.0))
        .call(&a[..], &b[..], &mut c[..])
        .unwrap();
    assert_eq!(c, [6.0, 13.0, 4.0, 7.0, -1.5, -4.5]);
    // 2^20·1 + 1·2^-20 needs 41 significant bits: exact in f64, lost in f32.
    let (big, small) = (2f64.powi(20), 2f64.powi(-20));
    let mut c = [f64::NAN; 1];
    reference(GemmDesc::new(1, 1, 2, DType::F64).beta(0.0))
        .call(&[big, 1.0][..], &[1.0, small][..], &mut c[..])
        .unwrap();
    assert_eq!(c[0], 1_048_576.000_000_953_7);
    assert_eq!(c[0], big + small);
}

#[test]
fn gemm_bf16_vnni2_b() {
    // VNNI2 of B (k × n = 4 × 3, ldb = 3): (k, n) at (k/2)·6 + 2n + k%2.
    // Packed row 0 = [B00 B10 B01 B11 B02 B12], packed row 1 = [B20 B30 B21 B31 B22 B32].
    let b_vnni = bf(&[1.0, 0.0, 0.0, 1.0, 2.0, -1.0, 3.0, -1.0, 1.0, 2.0, 0.0, 1.0]);
    let a = bf(&A);
    let mut c = [f32::NAN; 6];
    reference(GemmDesc::new(2, 3, 4, DType::BF16).beta(0.0).vnni_b())
        .call(&a[..], &b_vnni[..], &mut c[..])
        .unwrap();
    assert_eq!(c, AB);
    // Row-major bf16 B with bf16 output gives the same values.
    let mut c = [bf16::NAN; 6];
    reference(
        GemmDesc::new(2, 3, 4, DType::BF16)
            .beta(0.0)
            .output(DType::BF16),
    )
    .call(&a[..], &bf(&B)[..], &mut c[..])
    .unwrap();
    assert_eq!(c.map(f32::from), AB);
}

#[test]
fn gemm_u8_i8_vnni4_b() {
    // A (u8, 2 × 4): values above 127 must be read as unsigned.
    let a: [u8; 8] = [200, 1, 2, 3, 255, 255, 0, 10];
    // B (i8, 4 × 2) = [[1, -1], [2, -128], [127, 3], [-5, 4]];
    // VNNI4 (ldb = 2): (k, n) at (k/4)·8 + 4n + k%4 = [B00 B10 B20 B30 B01 B11 B21 B31].
    let b: [i8; 8] = [1, 2, 127, -5, -1, -128, 3, 4];
    let mut c = [POISON_I32; 4];
    reference(
        GemmDesc::new(2, 2, 4, DType::U8)
            .inputs(DType::U8, DType::I8)
            .beta(0.0)
            .vnni_b(),
    )
    .call(&a[..], &b[..], &mut c[..])
    .unwrap();
    // 200+2+254-15, -200-128+6+12, 255+510+0-50, -255-32640+0+40
    assert_eq!(c, [441, -310, 715, -32855]);
}

#[test]
fn gemm_int8_wraps_around() {
    // Σ = 4·255·127 = 129540 and 4·255·(−128) = −130560 added to C near the i32 limits.
    let a = [255u8; 4];
    let b: [i8; 8] = [127, 127, 127, 127, -128, -128, -128, -128]; // VNNI4, n = 2
    let mut c = [i32::MAX - 100, i32::MIN + 5];
    reference(
        GemmDesc::new(1, 2, 4, DType::U8)
            .inputs(DType::U8, DType::I8)
            .vnni_b(),
    )
    .call(&a[..], &b[..], &mut c[..])
    .unwrap();
    assert_eq!(c, [-2_147_354_209, 2_147_353_093]);
}

#[test]
fn gemm_c_in_vnni2_layout() {
    // f32 inputs, bf16 C in VNNI2: C(i, j) = A_i·B_j with A = [1, 2, 3, 1 + 2^-8], B = [1, 0.5].
    // C = [[1, .5], [2, 1], [3, 1.5], [1.00390625, 0.501953125]]; both of the last row are
    // bf16 ties that round to even (1.0 and 0.5).
    // VNNI2 (ldc = 2): (i, j) at (i/2)·4 + 2j + i%2.
    let a = [1.0f32, 2.0, 3.0, 1.0 + 1.0 / 256.0];
    let b = [1.0f32, 0.5];
    let mut c = [bf16::NAN; 8];
    reference(
        GemmDesc::new(4, 2, 1, DType::F32)
            .beta(0.0)
            .output(DType::BF16)
            .vnni_c(),
    )
    .call(&a[..], &b[..], &mut c[..])
    .unwrap();
    assert_eq!(c.map(f32::from), [1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 1.5, 0.5]);
}

// Batch-reduce operands, 2 × 2 each:
// A0 = [[1, 2], [3, 4]], A1 = [[0, 1], [1, 0]], A2 = 2·I
// B0 = I, B1 = [[1, 2], [3, 4]], B2 = [[1, 1], [1, 1]]
// A0·B0 = [[1, 2], [3, 4]], A1·B1 = [[3, 4], [1, 2]], A2·B2 = [[2, 2], [2, 2]],
// A2·B1 = [[2, 4], [6, 8]], A0·B2 = [[3, 3], [7, 7]].
/// A0, A1, A2 at a stride of 6 elements (2 NaN elements between matrices).
const A_STRIDED: [f32; 16] = [
    1.0, 2.0, 3.0, 4.0, N, N, 0.0, 1.0, 1.0, 0.0, N, N, 2.0, 0.0, 0.0, 2.0,
];
/// B0, B1, B2 at a stride of 5 elements.
const B_STRIDED: [f32; 14] = [
    1.0, 0.0, 0.0, 1.0, N, 1.0, 2.0, 3.0, 4.0, N, 1.0, 1.0, 1.0, 1.0,
];

#[test]
fn brgemm_stride() {
    let k = reference(GemmDesc::new(2, 2, 2, DType::F32).batch(BatchReduce::Stride { a: 6, b: 5 }));
    let mut c = [1.0f32; 4];
    k.call_strided(&A_STRIDED[..], &B_STRIDED[..], &mut c[..], 3)
        .unwrap();
    assert_eq!(c, [7.0, 9.0, 7.0, 9.0]); // 1 + (A0B0 + A1B1 + A2B2)
    let mut c = [1.0f32; 4];
    k.call_strided(&A_STRIDED[..], &B_STRIDED[..], &mut c[..], 2)
        .unwrap();
    assert_eq!(c, [5.0, 7.0, 5.0, 7.0]); // 1 + (A0B0 + A1B1)
    let mut c = [1.0f32; 4];
    k.call(&A_STRIDED[..], &B_STRIDED[..], &mut c[..]).unwrap();
    assert_eq!(c, [2.0, 3.0, 4.0, 5.0]); // a single pair: 1 + A0B0
}

#[test]
fn brgemm_offsets() {
    let k = reference(
        GemmDesc::new(2, 2, 2, DType::F32)
            .beta(0.0)
            .batch(BatchReduce::Offsets),
    );
    let (a_off, b_off) = ([12u64, 0, 12], [10u64, 0, 5]); // A2B2 + A0B0 + A2B1
    let mut c = [f32::NAN; 4];
    k.run(GemmCall::new(
        GemmInputs::Offsets {
            a: (&A_STRIDED[..]).into(),
            b: (&B_STRIDED[..]).into(),
            a_offsets: &a_off,
            b_offsets: &b_off,
        },
        &mut c[..],
    ))
    .unwrap();
    assert_eq!(c, [5.0, 8.0, 11.0, 14.0]);
}

#[test]
fn brgemm_addresses() {
    let (a0, a1) = ([1.0f32, 2.0, 3.0, 4.0], [0.0f32, 1.0, 1.0, 0.0]);
    let (b1, b2) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32; 4]);
    let a_list = [In::from(&a1[..]), In::from(&a0[..])];
    let b_list = [In::from(&b1[..]), In::from(&b2[..])];
    let mut c = [f32::NAN; 4];
    reference(
        GemmDesc::new(2, 2, 2, DType::F32)
            .beta(0.0)
            .batch(BatchReduce::Addresses),
    )
    .run(GemmCall::new(
        GemmInputs::Addresses {
            a: &a_list,
            b: &b_list,
        },
        &mut c[..],
    ))
    .unwrap();
    assert_eq!(c, [6.0, 7.0, 8.0, 9.0]); // A1B1 + A0B2
}

#[test]
fn brgemm_batch_zero_is_beta_c_plus_epilogue() {
    // beta = 1, row bias [10, 20], relu: C = relu(C + bias), the product contributes nothing.
    let base = |batch| {
        GemmDesc::new(2, 2, 2, DType::F32)
            .alpha(2.0)
            .batch(batch)
            .bias(BiasBroadcast::Row, DType::F32)
            .activation(Activation::Relu { mask: false })
    };
    let bias = [10.0f32, 20.0];
    let want = [11.0f32, 0.0, 13.0, 24.0];
    let prior = [1.0f32, -50.0, 3.0, 4.0];

    let mut c = prior;
    let k = reference(base(BatchReduce::Stride { a: 6, b: 5 }));
    let inputs = GemmInputs::Strided {
        a: (&A_STRIDED[..]).into(),
        b: (&B_STRIDED[..]).into(),
        batch: 0,
    };
    k.run(GemmCall::new(inputs, &mut c[..]).bias(&bias[..]))
        .unwrap();
    assert_eq!(c, want, "stride");

    let mut c = prior;
    let inputs = GemmInputs::Offsets {
        a: (&A_STRIDED[..]).into(),
        b: (&B_STRIDED[..]).into(),
        a_offsets: &[],
        b_offsets: &[],
    };
    reference(base(BatchReduce::Offsets))
        .run(GemmCall::new(inputs, &mut c[..]).bias(&bias[..]))
        .unwrap();
    assert_eq!(c, want, "offsets");

    let mut c = prior;
    let inputs = GemmInputs::Addresses { a: &[], b: &[] };
    reference(base(BatchReduce::Addresses))
        .run(GemmCall::new(inputs, &mut c[..]).bias(&bias[..]))
        .unwrap();
    assert_eq!(c, want, "addresses");

    // beta = 0 with a NaN C: C = relu(column bias).
    let mut c = [f32::NAN; 4];
    let d = GemmDesc::new(2, 2, 2, DType::F32)
        .beta(0.0)
        .batch(BatchReduce::Stride { a: 6, b: 5 })
        .bias(BiasBroadcast::Col, DType::F32)
        .activation(Activation::Relu { mask: false });
    let inputs = GemmInputs::Strided {
        a: (&A_STRIDED[..]).into(),
        b: (&B_STRIDED[..]).into(),
        batch: 0,
    };
    reference(d)
        .run(GemmCall::new(inputs, &mut c[..]).bias(&[-1.0f32, 2.0][..]))
        .unwrap();
    assert_eq!(c, [0.0, 0.0, 2.0, 2.0], "beta 0");
}

#[test]
fn gemm_bias_row_and_col() {
    // A = [1, 2] (2 × 1), B = [1, 2, 3] (1 × 3): A·B = [[1, 2, 3], [2, 4, 6]].
    let (a, b) = ([1.0f32, 2.0], [1.0f32, 2.0, 3.0]);
    let d = GemmDesc::new(2, 3, 1, DType::F32).beta(0.0);
    let mut c = [f32::NAN; 6];
    reference(d.bias(BiasBroadcast::Row, DType::F32))
        .run(GemmCall::new(single(&a[..], &b[..]), &mut c[..]).bias(&[10.0f32, 20.0, 30.0][..]))
        .unwrap();
    assert_eq!(c, [11.0, 22.0, 33.0, 12.0, 24.0, 36.0]);
    let mut c = [f32::NAN; 6];
    reference(d.bias(BiasBroadcast::Col, DType::F32))
        .run(GemmCall::new(single(&a[..], &b[..]), &mut c[..]).bias(&[100.0f32, 200.0][..]))
        .unwrap();
    assert_eq!(c, [101.0, 102.0, 103.0, 202.0, 204.0, 206.0]);
    // A bf16 bias on an f32 GEMM, with beta = 1 and the bias added after beta·C.
    let mut c = [1.0f32; 6];
    reference(
        GemmDesc::new(2, 3, 1, DType::F32)
            .alpha(-1.0)
            .bias(BiasBroadcast::Col, DType::BF16),
    )
    .run(GemmCall::new(single(&a[..], &b[..]), &mut c[..]).bias(&bf(&[0.5, -0.25])[..]))
    .unwrap();
    assert_eq!(c, [0.5, -0.5, -1.5, -1.25, -3.25, -5.25]);
}

#[test]
fn gemm_relu_mask_bytes() {
    // A = [1, -1] (2 × 1), B = one row of 10: row 0 of C is B, row 1 is −B.
    let a = [1.0f32, -1.0];
    let b = [1.0f32, -2.0, 0.0, 3.0, -0.5, 4.0, -1.0, 2.0, f32::NAN, 5.0];
    let mut d = GemmDesc::new(2, 10, 1, DType::F32)
        .beta(0.0)
        .activation(Activation::Relu { mask: true });
    assert_eq!(
        d.epilogue.mask_ld, 16,
        "default mask ld = n rounded up to 8"
    );
    d.epilogue.mask_ld = 24; // 3 bytes per row: the third byte of each row is not the row's
    let k = reference(d);
    for fill in [0x00u8, 0xFF] {
        let mut c = [f32::NAN; 20];
        // bitmask::bytes(2, 10, 24) = ceil(34 / 8) = 5; one spare byte at the end.
        let mut mask = [fill; 6];
        k.run(GemmCall::new(single(&a[..], &b[..]), &mut c[..]).relu_mask(&mut mask[..]))
            .unwrap();
        let (c0, c1) = c.split_at(10);
        assert_eq!(c0[..8], [1.0, 0.0, 0.0, 3.0, 0.0, 4.0, 0.0, 2.0]);
        assert!(c0[8].is_nan(), "relu(NaN) is NaN");
        assert_eq!(c0[9], 5.0);
        assert_eq!(c1[..8], [0.0, 2.0, 0.0, 0.0, 0.5, 0.0, 1.0, 0.0]);
        assert!(c1[8].is_nan());
        assert_eq!(c1[9], 0.0);
        // Row 0: bits 0, 3, 5, 7 | bit 9 (byte 1, bit 1); NaN (bit 8) clear; padding bits 10..15
        // cleared. Row 1 (byte 3): bits 1, 4, 6; byte 4 all clear. Bytes 2 and 5 untouched.
        assert_eq!(mask, [0xA9, 0x02, fill, 0x52, 0x00, fill], "fill {fill:#x}");
    }
}

#[test]
fn gemm_leading_dimensions_leave_padding() {
    // m = n = k = 2, lda = 3, ldb = 4, ldc = 5; A and B padding is NaN (must not be read),
    // C padding is a sentinel (must not be written).
    let a = [1.0f32, 2.0, N, 3.0, 4.0];
    let b = [5.0f32, 6.0, N, N, 7.0, 8.0];
    let mut c = [1.0f32, 1.0, 777.0, 777.0, 777.0, 1.0, 1.0];
    reference(GemmDesc::new(2, 2, 2, DType::F32).ld(3, 4, 5))
        .call(&a[..], &b[..], &mut c[..])
        .unwrap();
    // [[1, 2], [3, 4]]·[[5, 6], [7, 8]] = [[19, 22], [43, 50]], plus 1.
    assert_eq!(c, [20.0, 23.0, 777.0, 777.0, 777.0, 44.0, 51.0]);
}
