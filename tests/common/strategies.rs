//! Proptest strategies for descriptors of every family: sizes of 1, odd sizes, sizes around
//! the vector widths (8, 16, 32, 64 lanes), leading dimensions above the minimum, every
//! dtype combination the ISA allows, and every flag. Invalid combinations are filtered out
//! by the descriptor's own validation, so a strategy never hands a test an invalid descriptor.

use proptest::prelude::*;
use proptest::sample::select;
use tpp::*;

/// A size: mostly small, often exactly around a vector width.
pub fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1usize..=20,
        2 => select(vec![1usize, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65]),
    ]
}

/// Extra leading-dimension padding: mostly none.
pub fn pad() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0usize), 1 => 1usize..=9]
}

pub fn float_dtype() -> impl Strategy<Value = DType> {
    select(vec![DType::F64, DType::F32, DType::BF16, DType::F16])
}

pub fn any_dtype() -> impl Strategy<Value = DType> {
    select(DType::ALL.to_vec())
}

pub fn broadcast() -> impl Strategy<Value = Broadcast> {
    prop_oneof![
        3 => Just(Broadcast::None),
        1 => select(vec![Broadcast::Row, Broadcast::Col, Broadcast::Scalar]),
    ]
}

/// The compute dtype for data of `dt`: f64 data may compute in f32 or f64.
fn compute_for(dt: DType, wide: bool) -> DType {
    if dt == DType::F64 && wide {
        DType::F64
    } else {
        DType::F32
    }
}

pub fn activation() -> impl Strategy<Value = Activation> {
    select(vec![
        Activation::None,
        Activation::Relu { mask: false },
        Activation::Relu { mask: true },
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Elu { alpha: 0.8 },
        Activation::Gelu,
        Activation::GeluErf,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Silu,
    ])
}

/// GEMM / BRGEMM descriptors.
pub fn gemm() -> impl Strategy<Value = GemmDesc> {
    let types = select(vec![
        (DType::F64, DType::F64, DType::F64),
        (DType::F32, DType::F32, DType::F32),
        (DType::F32, DType::F32, DType::BF16),
        (DType::BF16, DType::BF16, DType::F32),
        (DType::BF16, DType::BF16, DType::BF16),
        (DType::F16, DType::F16, DType::F32),
        (DType::F16, DType::F16, DType::F16),
        (DType::U8, DType::I8, DType::I32),
        (DType::I8, DType::I8, DType::I32),
        (DType::I8, DType::U8, DType::I32),
        (DType::U8, DType::U8, DType::I32),
    ]);
    let shape = (dim(), dim(), dim(), pad(), pad(), pad());
    let flags = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    let scalars = (select(vec![1.0, 0.5, -1.25]), select(vec![0.0, 1.0, -0.75]));
    let batch = (0usize..4, pad(), pad());
    let epilogue = (
        prop::option::of((
            select(vec![BiasBroadcast::Row, BiasBroadcast::Col]),
            float_dtype(),
        )),
        activation(),
        pad(),
    );
    (types, shape, flags, scalars, batch, epilogue)
        .prop_map(
            |(
                (a, b, c),
                (m, n, k, pa, pb, pc),
                (ta, tb, vnni, cvnni),
                (alpha, beta),
                (bk, sa, sb),
                (bias, act, pm),
            )| {
                let int8 = a.is_int8();
                let mut d = GemmDesc::new(m, n, k, a).inputs(a, b).output(c);
                if vnni && (int8 || b.size() == 2) {
                    d = d.vnni_b();
                    d.k = k.next_multiple_of(d.b_layout.factor());
                    d.lda = d.k;
                } else {
                    if ta {
                        d = d.trans_a();
                    }
                    if tb {
                        d = d.trans_b();
                    }
                }
                if cvnni && c.size() == 2 {
                    d = d.vnni_c();
                    d.m = m.next_multiple_of(2);
                    if d.trans_a {
                        d.lda = d.m;
                    }
                }
                d.lda += pa;
                d.ldb += pb;
                d.ldc += pc;
                if int8 {
                    d.beta = if beta == 0.0 { 0.0 } else { 1.0 };
                } else {
                    d = d.alpha(alpha).beta(beta);
                    if let Some((bc, bt)) = bias {
                        d = d.bias(bc, bt);
                    }
                    d = d.activation(act);
                    d.epilogue.mask_ld += 8 * (pm % 2);
                }
                d.batch = match bk {
                    0 => BatchReduce::None,
                    1 => BatchReduce::Stride {
                        a: d.a_len() + sa,
                        b: d.b_len() + sb,
                    },
                    2 => BatchReduce::Offsets,
                    _ => BatchReduce::Addresses,
                };
                d
            },
        )
        .prop_filter("valid gemm", |d| d.validate().is_ok())
}

/// Every unary op, with representative parameters.
pub fn unary_op() -> impl Strategy<Value = UnaryOp> {
    use UnaryOp::*;
    select(vec![
        Identity,
        Zero,
        Negate,
        Abs,
        Square,
        Sqrt,
        Reciprocal,
        Rsqrt,
        Increment,
        Exp,
        Tanh,
        TanhBackward,
        Sigmoid,
        SigmoidBackward,
        Gelu,
        GeluBackward,
        GeluErf,
        GeluErfBackward,
        Relu { mask: false },
        Relu { mask: true },
        ReluBackward { mask: false },
        ReluBackward { mask: true },
        LeakyRelu {
            alpha: 0.2,
            mask: false,
        },
        LeakyRelu {
            alpha: 0.2,
            mask: true,
        },
        LeakyReluBackward {
            alpha: 0.2,
            mask: false,
        },
        LeakyReluBackward {
            alpha: 0.2,
            mask: true,
        },
        Elu { alpha: 1.0 },
        EluBackward { alpha: 1.0 },
        Silu,
        SiluBackward,
        Dropout { p: 0.3 },
        DropoutBackward { p: 0.3 },
        Transpose,
        VnniPack {
            layout: Layout::Vnni2,
        },
        VnniPack {
            layout: Layout::Vnni4,
        },
        VnniUnpack {
            layout: Layout::Vnni2,
        },
        VnniUnpack {
            layout: Layout::Vnni4,
        },
        GatherRows,
        GatherCols,
        ScatterRows,
        ScatterCols,
    ])
}

/// Unary descriptors.
pub fn unary() -> impl Strategy<Value = UnaryDesc> {
    (
        unary_op(),
        dim(),
        dim(),
        pad(),
        pad(),
        (any_dtype(), float_dtype(), float_dtype()),
        any::<bool>(),
        broadcast(),
    )
        .prop_map(|(op, rows, cols, pi, po, (any_in, fin, fout), wide, bc)| {
            let mut d = UnaryDesc::new(op, rows, cols, DType::F32);
            let (input, output) = if op.is_layout_transform() {
                (any_in, any_in)
            } else if op == UnaryOp::Identity {
                (any_in, if wide { fout } else { any_in })
            } else {
                (fin, fout)
            };
            let wide = wide && (input == DType::F64 || output == DType::F64);
            d = d.dtypes(input, compute_for(DType::F64, wide), output);
            if !(op.is_layout_transform() || op == UnaryOp::Zero || op.reads_aux()) {
                d.broadcast = bc;
            }
            if op == UnaryOp::GatherCols {
                d.ld_in = 1 + pi * 4; // source rows may be narrower or wider than the output
            } else {
                d.ld_in += pi;
            }
            if op == UnaryOp::ScatterCols {
                d.ld_out = d.cols + po;
            } else {
                d.ld_out += po;
            }
            d.mask_ld += 8 * (pi % 2);
            d
        })
        .prop_filter("valid unary", |d| d.validate().is_ok())
}

/// Binary descriptors.
pub fn binary() -> impl Strategy<Value = BinaryDesc> {
    let ops = select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::MulAdd,
        BinaryOp::Compare(CmpOp::Gt),
        BinaryOp::Compare(CmpOp::Ge),
        BinaryOp::Compare(CmpOp::Lt),
        BinaryOp::Compare(CmpOp::Le),
        BinaryOp::Compare(CmpOp::Eq),
        BinaryOp::Compare(CmpOp::Ne),
    ]);
    (
        ops,
        dim(),
        dim(),
        (pad(), pad(), pad()),
        (float_dtype(), float_dtype(), float_dtype()),
        any::<bool>(),
        (broadcast(), broadcast()),
    )
        .prop_map(
            |(op, rows, cols, (p0, p1, po), (d0, d1, dout), wide, (b0, b1))| {
                let mut d = BinaryDesc::new(op, rows, cols, d0).broadcast(b0, b1);
                d.in1_dtype = d1;
                if !op.is_compare() {
                    d.out_dtype = dout;
                }
                d.compute_dtype =
                    compute_for(DType::F64, wide && [d0, d1, dout].contains(&DType::F64));
                d.ld_in0 += p0;
                d.ld_in1 += p1;
                d.ld_out += if op.is_compare() { 8 * (po % 2) } else { po };
                d
            },
        )
        .prop_filter("valid binary", |d| d.validate().is_ok())
}

/// Ternary descriptors.
pub fn ternary() -> impl Strategy<Value = TernaryDesc> {
    let ops = select(vec![
        TernaryOp::MulAdd,
        TernaryOp::NMulAdd,
        TernaryOp::Select,
    ]);
    (
        ops,
        dim(),
        dim(),
        (pad(), pad(), pad(), pad()),
        (float_dtype(), float_dtype(), float_dtype(), float_dtype()),
        (broadcast(), broadcast(), broadcast()),
    )
        .prop_map(
            |(op, rows, cols, (p0, p1, p2, po), (d0, d1, d2, dout), (b0, b1, b2))| {
                let mut d = TernaryDesc::new(op, rows, cols, d0).broadcast([b0, b1, b2]);
                d.in_dtypes = [d0, d1, d2];
                d.out_dtype = dout;
                d.ld_in = [cols + p0, cols + p1, cols + p2];
                d.ld_out += po;
                d.mask_ld += 8 * (po % 2);
                d
            },
        )
        .prop_filter("valid ternary", |d| d.validate().is_ok())
}

/// Reduce descriptors.
pub fn reduce() -> impl Strategy<Value = ReduceDesc> {
    let ops = select(vec![
        ReduceOp::Sum,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::AbsMax,
        ReduceOp::SumSq,
        ReduceOp::SumAndSumSq,
    ]);
    let axes = select(vec![ReduceAxis::PerRow, ReduceAxis::PerCol]);
    (
        ops,
        axes,
        dim(),
        dim(),
        pad(),
        (float_dtype(), float_dtype()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(op, axis, rows, cols, p, (din, dout), wide, acc)| {
            let mut d = ReduceDesc::new(op, axis, rows, cols, din);
            d.out_dtype = dout;
            d.compute_dtype = compute_for(
                DType::F64,
                wide && (din == DType::F64 || dout == DType::F64),
            );
            d.ld_in += p;
            d.accumulate = acc;
            d
        })
        .prop_filter("valid reduce", |d| d.validate().is_ok())
}

/// Layout-transform descriptors only (transposes and VNNI packs are rare in `unary()`).
pub fn layout_transform() -> impl Strategy<Value = UnaryDesc> {
    use UnaryOp::*;
    let ops = select(vec![
        Transpose,
        VnniPack {
            layout: Layout::Vnni2,
        },
        VnniPack {
            layout: Layout::Vnni4,
        },
        VnniUnpack {
            layout: Layout::Vnni2,
        },
        VnniUnpack {
            layout: Layout::Vnni4,
        },
        GatherRows,
        GatherCols,
        ScatterRows,
        ScatterCols,
    ]);
    (ops, dim(), dim(), pad(), pad(), any_dtype())
        .prop_map(|(op, rows, cols, pi, po, dt)| {
            let mut d = UnaryDesc::new(op, rows, cols, dt);
            if op == GatherCols {
                d.ld_in = 1 + pi * 4; // source rows may be narrower or wider than the output
            } else {
                d.ld_in += pi;
            }
            d.ld_out += po;
            d
        })
        .prop_filter("valid transform", |d| d.validate().is_ok())
}
