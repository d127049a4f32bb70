//! The reference unary TPPs against hand-computed values: small explicit inputs, expected
//! outputs worked out by hand (transcendentals from Python's `math` module), and poisoned
//! outputs so that an unwritten element fails.

mod common;

use common::values::{reference, same, N, SENTINEL};
use tpp::{bf16, f16, Broadcast, DType, Layout, UnaryCall, UnaryDesc, UnaryOp};

/// Within `rel` relative (or absolute, near zero) error.
fn close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * w.abs().max(1.0),
            "{what}[{i}]: got {g:e}, want {w:e}"
        );
    }
}

// ---------------------------------------------------------------- unary: copies, conversion

#[test]
fn copy_f32_to_bf16_rounds_to_nearest_even() {
    let u = 1.0f32 / 256.0; // half a bf16 ulp at 1
    let x = [
        1.0 + u,        // a tie, to even 1.0
        1.0 + 3.0 * u,  // a tie, to even 1 + 4u
        -(1.0 + u),     // → −1.0
        1.0 + u + 1e-6, // just above the tie → 1 + 2u
        f32::MAX,       // rounds up past the largest bf16 → +inf
        3.0,
    ];
    let mut y = [bf16::from_f32(-99.0); 7]; // ld_out 4: element 3 is padding
    reference(
        UnaryDesc::new(UnaryOp::Identity, 2, 3, DType::F32)
            .dtypes(DType::F32, DType::F32, DType::BF16)
            .ld(3, 4),
    )
    .call(&x[..], &mut y[..])
    .unwrap();
    let want = [
        1.0,
        1.0 + 4.0 * u,
        -1.0,
        -99.0,
        1.0 + 2.0 * u,
        f32::INFINITY,
        3.0,
    ];
    same(&y.map(f32::from), &want, "bf16");

    // f16: 10 mantissa bits; 65520 is the tie between 65504 (odd) and 65536 (→ inf).
    let h = 1.0f32 / 2048.0; // half an f16 ulp at 1
    let x = [1.0 + h, 1.0 + 3.0 * h, 65520.0, 65519.0, N, -2.5];
    let mut y = [f16::from_f32(-99.0); 6];
    reference(UnaryDesc::new(UnaryOp::Identity, 1, 6, DType::F32).dtypes(
        DType::F32,
        DType::F32,
        DType::F16,
    ))
    .call(&x[..], &mut y[..])
    .unwrap();
    let want = [1.0, 1.0 + 4.0 * h, f32::INFINITY, 65504.0, N, -2.5];
    same(&y.map(f32::from), &want, "f16");
}

#[test]
fn copy_f32_to_int_saturates_and_maps_nan_to_zero() {
    let x = [
        2.5f32,
        3.5,
        -2.5,
        1000.0,
        -1000.0,
        N,
        f32::INFINITY,
        f32::NEG_INFINITY,
        127.5,
        -128.5,
        0.49,
        -0.5,
    ];
    let mut y = [99i8; 12];
    reference(UnaryDesc::new(UnaryOp::Identity, 3, 4, DType::F32).dtypes(
        DType::F32,
        DType::F32,
        DType::I8,
    ))
    .call(&x[..], &mut y[..])
    .unwrap();
    assert_eq!(y, [2, 4, -2, 127, -128, 0, 127, -128, 127, -128, 0, 0]);

    let x = [-3.0f32, 255.5, 254.5, 0.5];
    let mut y = [99u8; 4];
    reference(UnaryDesc::new(UnaryOp::Identity, 1, 4, DType::F32).dtypes(
        DType::F32,
        DType::F32,
        DType::U8,
    ))
    .call(&x[..], &mut y[..])
    .unwrap();
    assert_eq!(y, [0, 255, 254, 0]);
}

#[test]
fn zero_writes_only_the_matrix() {
    let mut y = [N; 7]; // 2 × 3 with ld 4
    reference(UnaryDesc::new(UnaryOp::Zero, 2, 3, DType::F32).ld(3, 4))
        .run(UnaryCall::output_only(&mut y[..]))
        .unwrap();
    same(&y, &[0.0, 0.0, 0.0, N, 0.0, 0.0, 0.0], "zero");
}

// ---------------------------------------------------------------- unary: math

#[test]
fn pointwise_math_f64() {
    let e = std::f64::consts::E;
    let cases: [(UnaryOp, [f64; 4], [f64; 4]); 10] = [
        (
            UnaryOp::Negate,
            [1.5, -2.0, 0.0, 7.0],
            [-1.5, 2.0, 0.0, -7.0],
        ),
        (UnaryOp::Abs, [-3.0, 2.0, -0.25, 0.0], [3.0, 2.0, 0.25, 0.0]),
        (
            UnaryOp::Square,
            [-3.0, 1.5, 0.1, 4.0],
            [9.0, 2.25, 0.010_000_000_000_000_002, 16.0],
        ),
        (
            UnaryOp::Sqrt,
            [4.0, 2.0, 0.25, 9.0],
            [2.0, std::f64::consts::SQRT_2, 0.5, 3.0],
        ),
        (
            UnaryOp::Reciprocal,
            [4.0, -2.0, 0.5, 8.0],
            [0.25, -0.5, 2.0, 0.125],
        ),
        (
            UnaryOp::Rsqrt,
            [4.0, 16.0, 0.25, 2.0],
            [0.5, 0.25, 2.0, std::f64::consts::FRAC_1_SQRT_2],
        ),
        (
            UnaryOp::Increment,
            [-1.0, 0.5, 2.0, -3.5],
            [0.0, 1.5, 3.0, -2.5],
        ),
        (
            UnaryOp::Exp,
            [1.0, -1.0, 0.5, 2.0],
            [
                e,
                0.367_879_441_171_442_33,
                1.648_721_270_700_128_2,
                7.389_056_098_930_65,
            ],
        ),
        (
            UnaryOp::Tanh,
            [0.5, -1.0, 2.0, 0.0],
            [
                0.462_117_157_260_009_74,
                -0.761_594_155_955_764_9,
                0.964_027_580_075_816_9,
                0.0,
            ],
        ),
        (
            UnaryOp::Sigmoid,
            [0.0, -1.0, 0.5, 2.0],
            [
                0.5,
                0.268_941_421_369_995_1,
                0.622_459_331_201_854_6,
                0.880_797_077_977_882_3,
            ],
        ),
    ];
    for (op, x, want) in cases {
        let mut y = [f64::NAN; 4];
        reference(UnaryDesc::new(op, 2, 2, DType::F64))
            .call(&x[..], &mut y[..])
            .unwrap();
        close(&y, &want, 1e-15, op.name());
    }
    // Edge values: 1/0 = inf, sqrt(−1) = NaN, NaN propagates.
    let mut y = [0.0f32; 3];
    reference(UnaryDesc::new(UnaryOp::Reciprocal, 1, 3, DType::F32))
        .call(&[0.0f32, -0.0, N][..], &mut y[..])
        .unwrap();
    same(
        &y,
        &[f32::INFINITY, f32::NEG_INFINITY, N],
        "reciprocal edges",
    );
    reference(UnaryDesc::new(UnaryOp::Sqrt, 1, 3, DType::F32))
        .call(&[-1.0f32, 0.0, N][..], &mut y[..])
        .unwrap();
    same(&y, &[N, 0.0, N], "sqrt edges");
}

#[test]
fn pointwise_math_f32_rounds_once() {
    // f32 in, f32 out: the exact value rounded to f32.
    let x = [1.0f32, -1.0, 0.5, 2.0];
    let mut y = [N; 4];
    reference(UnaryDesc::new(UnaryOp::Exp, 2, 2, DType::F32))
        .call(&x[..], &mut y[..])
        .unwrap();
    // The f32 values nearest e, e^-1, e^0.5, e^2.
    assert_eq!(y, [2.718_281_7, 0.367_879_45, 1.648_721_2, 7.389_056]);
}

#[test]
fn gelu_tanh_and_erf_with_backward() {
    let x = [-1.5f64, -0.5, 1.0, 2.0];
    let dy = [2.0f64, -1.0, 1.0, 0.5];
    let table: [(UnaryOp, [f64; 4]); 2] = [
        (
            UnaryOp::Gelu,
            [
                -0.100_428_423_019_767_07,
                -0.154_285_990_174_856_06,
                0.841_191_990_608_276_8,
                1.954_597_694_087_775,
            ],
        ),
        (
            UnaryOp::GeluErf,
            [
                -0.100_210_801_903_287_13,
                -0.154_268_769_362_993_44,
                0.841_344_746_068_542_9,
                1.954_499_736_103_641_6,
            ],
        ),
    ];
    for (op, want) in table {
        let mut y = [f64::NAN; 4];
        reference(UnaryDesc::new(op, 1, 4, DType::F64))
            .call(&x[..], &mut y[..])
            .unwrap();
        close(&y, &want, 1e-14, op.name());
    }
    // Derivatives at the same points, times dy.
    let grads: [(UnaryOp, [f64; 4]); 2] = [
        (
            UnaryOp::GeluBackward,
            [
                -0.127_710_793_151_433_1,
                0.132_630_096_465_357_64,
                1.082_964_083_845_782_6,
                1.086_099_256_623_618_3,
            ],
        ),
        (
            UnaryOp::GeluErfBackward,
            [
                -0.127_469_192_229_979_54,
                0.132_504_875_343_837_12,
                1.083_315_470_587_686_4,
                1.085_231_801_078_197,
            ],
        ),
    ];
    for (op, g) in grads {
        let mut dx = [f64::NAN; 4];
        reference(UnaryDesc::new(op, 1, 4, DType::F64))
            .run(UnaryCall::new(&dy[..], &mut dx[..]).aux(&x[..]))
            .unwrap();
        let want: Vec<f64> = g.iter().zip(&dy).map(|(g, d)| g * d).collect();
        close(&dx, &want, 1e-14, op.name());
    }
}

#[test]
fn tanh_sigmoid_silu_backward_and_silu() {
    let x = [-1.0f64, 0.5, 2.0];
    let dy = [1.0f64, 2.0, -1.0];
    let mut y = [f64::NAN; 3];
    reference(UnaryDesc::new(UnaryOp::Silu, 1, 3, DType::F64))
        .call(&x[..], &mut y[..])
        .unwrap();
    close(
        &y,
        &[
            -0.268_941_421_369_995_1,
            0.311_229_665_600_927_3,
            1.761_594_155_955_764_6,
        ],
        1e-15,
        "silu",
    );
    let table: [(UnaryOp, [f64; 3]); 3] = [
        (
            UnaryOp::SiluBackward,
            [
                0.072_329_488_128_513_25,
                0.739_961_187_302_651_9,
                1.090_784_248_784_895_5,
            ],
        ),
        (
            UnaryOp::TanhBackward,
            [
                0.419_974_341_614_026_14,
                0.786_447_732_965_927_4,
                0.070_650_824_853_164_43,
            ],
        ),
        (
            UnaryOp::SigmoidBackward,
            [
                0.196_611_933_241_481_85,
                0.235_003_712_201_594_5,
                0.104_993_585_403_506_62,
            ],
        ),
    ];
    for (op, g) in table {
        let mut dx = [f64::NAN; 3];
        reference(UnaryDesc::new(op, 1, 3, DType::F64))
            .run(UnaryCall::new(&dy[..], &mut dx[..]).aux(&x[..]))
            .unwrap();
        let want: Vec<f64> = g.iter().zip(&dy).map(|(g, d)| g * d).collect();
        close(&dx, &want, 1e-14, op.name());
    }
}

// ---------------------------------------------------------------- unary: relu family, masks

/// 2 × 5 input: positives at (0, 2), (0, 4), (1, 0), (1, 2), (1, 4); NaN and zeros are not.
const RX: [f32; 10] = [-1.0, 0.0, 2.0, N, 3.0, 4.0, -5.0, 0.5, -0.0, 1e-30];

#[test]
fn relu_with_mask() {
    let k = reference(UnaryDesc::new(
        UnaryOp::Relu { mask: true },
        2,
        5,
        DType::F32,
    ));
    for fill in [0x00u8, 0xFF] {
        let mut y = [SENTINEL; 10];
        let mut mask = [fill; 3]; // 2 bytes needed (mask_ld 8); the third must stay
        k.run(UnaryCall::new(&RX[..], &mut y[..]).mask_out(&mut mask[..]))
            .unwrap();
        same(
            &y,
            &[0.0, 0.0, 2.0, N, 3.0, 4.0, 0.0, 0.5, 0.0, 1e-30],
            "relu",
        );
        // Padding bits 5..7 of each row byte are cleared.
        assert_eq!(mask, [0b0001_0100, 0b0001_0101, fill], "fill {fill:#x}");
    }
}

#[test]
fn relu_backward_from_mask_and_from_x() {
    let dy = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    let want = [0.0, 0.0, 3.0, 0.0, 5.0, 6.0, 0.0, 8.0, 0.0, 10.0];
    let mask = [0b0001_0100u8, 0b0001_0101];
    let mut dx = [N; 10];
    reference(UnaryDesc::new(
        UnaryOp::ReluBackward { mask: true },
        2,
        5,
        DType::F32,
    ))
    .run(UnaryCall::new(&dy[..], &mut dx[..]).mask_in(&mask[..]))
    .unwrap();
    same(&dx, &want, "relu_bwd mask");
    let mut dx = [N; 10];
    reference(UnaryDesc::new(
        UnaryOp::ReluBackward { mask: false },
        2,
        5,
        DType::F32,
    ))
    .run(UnaryCall::new(&dy[..], &mut dx[..]).aux(&RX[..]))
    .unwrap();
    same(&dx, &want, "relu_bwd x");
}

#[test]
fn leaky_relu_and_backward() {
    let (alpha, x) = (0.25f32, [-2.0f32, 0.0, 3.0, -0.5]);
    let mut y = [N; 4];
    let mut mask = [0xFFu8; 1];
    reference(UnaryDesc::new(
        UnaryOp::LeakyRelu { alpha, mask: true },
        1,
        4,
        DType::F32,
    ))
    .run(UnaryCall::new(&x[..], &mut y[..]).mask_out(&mut mask[..]))
    .unwrap();
    same(&y, &[-0.5, 0.0, 3.0, -0.125], "leaky_relu");
    assert_eq!(mask, [0b0000_0100]);
    // dx = x > 0 ? dy : α·dy (x = 0 takes the α branch).
    let dy = [4.0f32, 8.0, 12.0, 16.0];
    let want = [1.0, 2.0, 12.0, 4.0];
    let mut dx = [N; 4];
    reference(UnaryDesc::new(
        UnaryOp::LeakyReluBackward { alpha, mask: false },
        1,
        4,
        DType::F32,
    ))
    .run(UnaryCall::new(&dy[..], &mut dx[..]).aux(&x[..]))
    .unwrap();
    same(&dx, &want, "leaky_relu_bwd x");
    let mut dx = [N; 4];
    reference(UnaryDesc::new(
        UnaryOp::LeakyReluBackward { alpha, mask: true },
        1,
        4,
        DType::F32,
    ))
    .run(UnaryCall::new(&dy[..], &mut dx[..]).mask_in(&mask[..]))
    .unwrap();
    same(&dx, &want, "leaky_relu_bwd mask");
}

#[test]
fn elu_and_backward() {
    let (alpha, x) = (0.5f32, [-1.0f64, 2.0, 0.0]);
    let mut y = [f64::NAN; 3];
    reference(UnaryDesc::new(UnaryOp::Elu { alpha }, 1, 3, DType::F64))
        .call(&x[..], &mut y[..])
        .unwrap();
    // 0.5·(e^-1 − 1), 2, 0.5·(e^0 − 1)
    close(&y, &[-0.316_060_279_414_278_83, 2.0, 0.0], 1e-15, "elu");
    let dy = [3.0f64, 5.0, 7.0];
    let mut dx = [f64::NAN; 3];
    reference(UnaryDesc::new(
        UnaryOp::EluBackward { alpha },
        1,
        3,
        DType::F64,
    ))
    .run(UnaryCall::new(&dy[..], &mut dx[..]).aux(&x[..]))
    .unwrap();
    // 3·0.5·e^-1, 5, 7·0.5·e^0
    close(&dx, &[0.551_819_161_757_163_5, 5.0, 3.5], 1e-15, "elu_bwd");
}

// ---------------------------------------------------------------- unary: broadcast, layout

#[test]
fn identity_broadcasts() {
    let cases: [(Broadcast, &[f32], [f32; 7]); 3] = [
        (
            Broadcast::Row,
            &[1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0, SENTINEL, 1.0, 2.0, 3.0],
        ),
        (
            Broadcast::Col,
            &[7.0, 8.0],
            [7.0, 7.0, 7.0, SENTINEL, 8.0, 8.0, 8.0],
        ),
        (
            Broadcast::Scalar,
            &[5.0],
            [5.0, 5.0, 5.0, SENTINEL, 5.0, 5.0, 5.0],
        ),
    ];
    for (b, x, want) in cases {
        let mut y = [SENTINEL; 7]; // 2 × 3, ld_out 4
        reference(
            UnaryDesc::new(UnaryOp::Identity, 2, 3, DType::F32)
                .ld(3, 4)
                .broadcast(b),
        )
        .call(x, &mut y[..])
        .unwrap();
        same(&y, &want, &format!("{b:?}"));
    }
    // A math op over a broadcast column.
    let mut y = [N; 4];
    reference(UnaryDesc::new(UnaryOp::Negate, 2, 2, DType::F32).broadcast(Broadcast::Col))
        .call(&[1.0f32, -2.0][..], &mut y[..])
        .unwrap();
    same(&y, &[-1.0, -1.0, 2.0, 2.0], "negate col");
}

#[test]
fn transpose_with_wide_output() {
    let payload = f32::from_bits(0x7FC0_1234); // a NaN whose payload must survive
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, payload]; // 2 × 3
    let mut y = [SENTINEL; 8]; // 3 × 2 with ld_out 3
    reference(UnaryDesc::new(UnaryOp::Transpose, 2, 3, DType::F32).ld(3, 3))
        .call(&x[..], &mut y[..])
        .unwrap();
    same(
        &y,
        &[1.0, 4.0, SENTINEL, 2.0, 5.0, SENTINEL, 3.0, N],
        "transpose",
    );
    assert_eq!(y[7].to_bits(), 0x7FC0_1234);
}

#[test]
fn vnni2_pack_and_unpack() {
    // 3 × 2 bf16 → VNNI2 (ld 2): (k, n) at (k/2)·4 + 2n + k%2; row 3 is zero padding.
    let x: Vec<bf16> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .map(bf16::from_f32)
        .to_vec();
    let mut packed = [bf16::NAN; 8];
    reference(UnaryDesc::new(
        UnaryOp::VnniPack {
            layout: Layout::Vnni2,
        },
        3,
        2,
        DType::BF16,
    ))
    .call(&x[..], &mut packed[..])
    .unwrap();
    assert_eq!(
        packed.map(f32::from),
        [1.0, 3.0, 2.0, 4.0, 5.0, 0.0, 6.0, 0.0]
    );
    let mut back = [bf16::NAN; 6];
    reference(UnaryDesc::new(
        UnaryOp::VnniUnpack {
            layout: Layout::Vnni2,
        },
        3,
        2,
        DType::BF16,
    ))
    .call(&packed[..], &mut back[..])
    .unwrap();
    assert_eq!(back.to_vec(), x);
}

#[test]
fn vnni4_pack_and_unpack() {
    // 5 × 2 i8 → VNNI4 with ld 3: (k, n) at (k/4)·12 + 4n + k%4. Column slot n = 2 of each
    // packed row is padding (untouched); rows 5..7 are zero padding.
    let x: [i8; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let s = -77i8;
    let mut packed = [s; 20];
    reference(
        UnaryDesc::new(
            UnaryOp::VnniPack {
                layout: Layout::Vnni4,
            },
            5,
            2,
            DType::I8,
        )
        .ld(2, 3),
    )
    .call(&x[..], &mut packed[..])
    .unwrap();
    assert_eq!(
        packed,
        [1, 3, 5, 7, 2, 4, 6, 8, s, s, s, s, 9, 0, 0, 0, 10, 0, 0, 0]
    );
    let mut back = [s; 10];
    reference(
        UnaryDesc::new(
            UnaryOp::VnniUnpack {
                layout: Layout::Vnni4,
            },
            5,
            2,
            DType::I8,
        )
        .ld(3, 2),
    )
    .call(&packed[..], &mut back[..])
    .unwrap();
    assert_eq!(back, x);
}

#[test]
fn gather_rows_and_cols() {
    // in: 4 × 3, x(r, j) = 10r + j.
    let x: Vec<f32> = (0..12).map(|e| (10 * (e / 3) + e % 3) as f32).collect();
    let mut y = [N; 9];
    reference(UnaryDesc::new(UnaryOp::GatherRows, 3, 3, DType::F32))
        .run(UnaryCall::new(&x[..], &mut y[..]).indices(&[3, 0, 3]))
        .unwrap();
    same(
        &y,
        &[30.0, 31.0, 32.0, 0.0, 1.0, 2.0, 30.0, 31.0, 32.0],
        "gather_rows",
    );
    // Rows of width ld_in = 5; out(i, j) = in(i, idx[j]).
    let x: Vec<f32> = (0..10).map(|e| (10 * (e / 5) + e % 5) as f32).collect();
    let mut y = [N; 6];
    reference(UnaryDesc::new(UnaryOp::GatherCols, 2, 3, DType::F32).ld(5, 3))
        .run(UnaryCall::new(&x[..], &mut y[..]).indices(&[4, 0, 2]))
        .unwrap();
    same(&y, &[4.0, 0.0, 2.0, 14.0, 10.0, 12.0], "gather_cols");
}

#[test]
fn scatter_rows_and_cols() {
    let s = SENTINEL;
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 3 × 2
                                               // out(idx[i], :) = in(i, :); row 2 is hit twice (the higher i wins), rows 1 and 3 never.
                                               // Elements 6 and 7 lie beyond the rows reached.
    let mut y = [s; 8];
    reference(UnaryDesc::new(UnaryOp::ScatterRows, 3, 2, DType::F32))
        .run(UnaryCall::new(&x[..], &mut y[..]).indices(&[2, 0, 2]))
        .unwrap();
    same(&y, &[3.0, 4.0, s, s, 5.0, 6.0, s, s], "scatter_rows");
    // out(i, idx[j]) = in(i, j) with rows of width ld_out = 4; column 1 hit twice.
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
    let mut y = [s; 8];
    reference(UnaryDesc::new(UnaryOp::ScatterCols, 2, 3, DType::F32).ld(3, 4))
        .run(UnaryCall::new(&x[..], &mut y[..]).indices(&[3, 1, 1]))
        .unwrap();
    same(&y, &[s, 3.0, s, 1.0, s, 6.0, s, 4.0], "scatter_cols");
}

// ---------------------------------------------------------------- unary: dropout

/// MurmurHash3's fmix32, written out from its definition.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The documented stream: kept iff fmix32(fmix32(c ^ k0) ^ k1) >= round(p·2³²).
fn kept(seed: u64, p: f64, counter: u32) -> bool {
    let t = (p * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    fmix32(fmix32(counter ^ seed as u32) ^ (seed >> 32) as u32) >= t
}

#[test]
fn fmix32_known_value() {
    assert_eq!(fmix32(1), 0x514e_28b7); // MurmurHash3 reference value
}

#[test]
fn dropout_stream_scale_mask_and_backward() {
    // 4 × 13 (mask_ld 16: two bytes per row, padding bits 13..15), p = 0.5 → scale 2.
    let (rows, cols, p) = (4, 13, 0.5f32);
    let x: Vec<f32> = (1..=52).map(|v| v as f32 * 0.5).collect();
    let k = reference(UnaryDesc::new(
        UnaryOp::Dropout { p },
        rows,
        cols,
        DType::F32,
    ));
    let run = |seed: u64| {
        let mut y = vec![N; 52];
        let mut mask = vec![0xAAu8; 9]; // 8 bytes needed, one spare
        k.run(
            UnaryCall::new(&x[..], &mut y[..])
                .mask_out(&mut mask[..])
                .seed(seed),
        )
        .unwrap();
        (y, mask)
    };
    let s1 = 0x1234_5678_9abc_def0u64;
    let (y1, m1) = run(s1);
    let (y1b, m1b) = run(s1);
    assert_eq!(m1, m1b, "same seed, same mask");
    assert_eq!(y1, y1b, "same seed, same output");
    let (_, m2) = run(42);
    assert_ne!(m1[..8], m2[..8], "another seed, another mask");
    assert_eq!(m1[8], 0xAA, "the spare byte is untouched");
    let mut n_kept = 0;
    for i in 0..rows {
        assert_eq!(m1[2 * i + 1] >> 5, 0, "padding bits of row {i}");
        for j in 0..cols {
            let e = i * cols + j;
            let bit = m1[2 * i + j / 8] >> (j % 8) & 1 == 1;
            assert_eq!(bit, kept(s1, 0.5, e as u32), "mask bit ({i}, {j})");
            assert_eq!(y1[e], if bit { 2.0 * x[e] } else { 0.0 }, "y({i}, {j})");
            n_kept += bit as usize;
        }
    }
    assert!(
        (10..=42).contains(&n_kept),
        "{n_kept} of 52 kept at p = 0.5"
    );
    // Backward: dx = kept ? dy/(1 − p) : 0.
    let dy: Vec<f32> = (0..52).map(|v| 3.0 - v as f32).collect();
    let mut dx = vec![N; 52];
    reference(UnaryDesc::new(
        UnaryOp::DropoutBackward { p },
        rows,
        cols,
        DType::F32,
    ))
    .run(UnaryCall::new(&dy[..], &mut dx[..]).mask_in(&m1[..]))
    .unwrap();
    for e in 0..52 {
        let bit = m1[2 * (e / cols) + (e % cols) / 8] >> ((e % cols) % 8) & 1 == 1;
        assert_eq!(dx[e], if bit { 2.0 * dy[e] } else { 0.0 }, "dx[{e}]");
    }
    // p = 0.75 scales kept elements by 4; p = 0 keeps everything unscaled.
    let mut y = vec![N; 52];
    let mut mask = vec![0u8; 8];
    reference(UnaryDesc::new(
        UnaryOp::Dropout { p: 0.75 },
        rows,
        cols,
        DType::F32,
    ))
    .run(
        UnaryCall::new(&x[..], &mut y[..])
            .mask_out(&mut mask[..])
            .seed(7),
    )
    .unwrap();
    for e in 0..52 {
        let want = if kept(7, 0.75, e as u32) {
            4.0 * x[e]
        } else {
            0.0
        };
        assert_eq!(y[e], want, "p = 0.75, y[{e}]");
    }
    // p = 0.1: 1/(1 − p) is inexact, so kept elements are x/(1 − p) to within an f32 ulp.
    reference(UnaryDesc::new(
        UnaryOp::Dropout { p: 0.1 },
        rows,
        cols,
        DType::F32,
    ))
    .run(
        UnaryCall::new(&x[..], &mut y[..])
            .mask_out(&mut mask[..])
            .seed(7),
    )
    .unwrap();
    for e in 0..52 {
        if kept(7, 0.1f32 as f64, e as u32) {
            let want = x[e] as f64 / (1.0 - 0.1f32 as f64);
            assert!(
                (y[e] as f64 - want).abs() <= want * 1.2e-7,
                "p = 0.1, y[{e}]"
            );
        } else {
            assert_eq!(y[e], 0.0, "p = 0.1, y[{e}]");
        }
    }
    reference(UnaryDesc::new(
        UnaryOp::Dropout { p: 0.0 },
        rows,
        cols,
        DType::F32,
    ))
    .run(
        UnaryCall::new(&x[..], &mut y[..])
            .mask_out(&mut mask[..])
            .seed(7),
    )
    .unwrap();
    assert_eq!(y, x, "p = 0");
    assert_eq!(mask, [0xFF, 0x1F, 0xFF, 0x1F, 0xFF, 0x1F, 0xFF, 0x1F]);
}
