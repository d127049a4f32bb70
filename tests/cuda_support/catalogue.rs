//! Every kernel family of the CUDA generator, as descriptors: each unary, binary, ternary and
//! reduce op, every layout transform at every element size, and GEMMs of every path, batch
//! form, transpose, layout, epilogue and tile size. The ptxas test assembles them all; the GPU
//! differential test runs them.

use tpp::isa::Layout;
use tpp::{
    Activation, BatchReduce, BiasBroadcast, BinaryDesc, BinaryOp, Broadcast, CmpOp, DType,
    GemmDesc, ReduceAxis, ReduceDesc, ReduceOp, TernaryDesc, TernaryOp, UnaryDesc, UnaryOp,
};

/// Every elementwise unary op (the arithmetic ones and the layout transforms).
pub fn unary_ops() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![
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
            alpha: 0.1,
            mask: true,
        },
        LeakyReluBackward {
            alpha: 0.1,
            mask: false,
        },
        Elu { alpha: 0.7 },
        EluBackward { alpha: 0.7 },
        Silu,
        SiluBackward,
        Dropout { p: 0.25 },
        DropoutBackward { p: 0.25 },
    ]
}

/// Layout transforms.
pub fn transform_ops() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![
        Transpose,
        VnniPack {
            layout: Layout::Vnni2,
        },
        VnniUnpack {
            layout: Layout::Vnni2,
        },
        VnniPack {
            layout: Layout::Vnni4,
        },
        VnniUnpack {
            layout: Layout::Vnni4,
        },
        GatherRows,
        GatherCols,
        ScatterRows,
        ScatterCols,
    ]
}

/// Unary descriptors: every arithmetic op in f32 and bf16→f32 on a ragged shape, a few
/// broadcasts and f16, and every transform and raw copy at every element size.
pub fn unaries() -> Vec<UnaryDesc> {
    let mut v = vec![];
    for op in unary_ops() {
        v.push(UnaryDesc::new(op, 13, 37, DType::F32));
        v.push(UnaryDesc::new(op, 7, 64, DType::BF16).dtypes(DType::BF16, DType::F32, DType::BF16));
    }
    v.push(UnaryDesc::new(UnaryOp::Gelu, 9, 20, DType::F16));
    // Vector loads and stores (rows a whole number of vectors apart), each dtype.
    for dt in [DType::F32, DType::BF16, DType::F16] {
        v.push(UnaryDesc::new(UnaryOp::Exp, 9, 37, dt).ld(40, 44));
    }
    for b in [Broadcast::Row, Broadcast::Col, Broadcast::Scalar] {
        v.push(UnaryDesc::new(UnaryOp::Exp, 9, 20, DType::F32).broadcast(b));
        v.push(UnaryDesc::new(UnaryOp::Identity, 9, 20, DType::F32).broadcast(b));
    }
    v.push(UnaryDesc::new(UnaryOp::Identity, 9, 20, DType::F32).dtypes(
        DType::F32,
        DType::F32,
        DType::BF16,
    ));
    for dt in [DType::F64, DType::F32, DType::BF16, DType::I8] {
        for op in transform_ops() {
            let vnni_ok = match op {
                UnaryOp::VnniPack { layout } | UnaryOp::VnniUnpack { layout } => {
                    (layout == Layout::Vnni2) == (dt.size() == 2)
                }
                _ => true,
            };
            if vnni_ok {
                v.push(UnaryDesc::new(op, 10, 12, dt));
            }
        }
        v.push(UnaryDesc::new(UnaryOp::Zero, 5, 7, dt));
    }
    v
}

/// Binary descriptors: every op and comparison, with broadcasts and mixed dtypes.
pub fn binaries() -> Vec<BinaryDesc> {
    let mut ops = vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::MulAdd,
    ];
    for c in [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ] {
        ops.push(BinaryOp::Compare(c));
    }
    let mut v = vec![];
    for op in ops {
        v.push(BinaryDesc::new(op, 11, 21, DType::F32));
        v.push(BinaryDesc::new(op, 4, 16, DType::BF16).broadcast(Broadcast::Row, Broadcast::Col));
    }
    v
}

/// Ternary descriptors.
pub fn ternaries() -> Vec<TernaryDesc> {
    [TernaryOp::MulAdd, TernaryOp::NMulAdd, TernaryOp::Select]
        .into_iter()
        .flat_map(|op| {
            [
                TernaryDesc::new(op, 6, 19, DType::F32),
                TernaryDesc::new(op, 6, 32, DType::BF16).broadcast([
                    Broadcast::None,
                    Broadcast::Scalar,
                    Broadcast::Row,
                ]),
            ]
        })
        .collect()
}

/// Reductions: every op, both axes, accumulate and overwrite, f32 and bf16.
pub fn reductions() -> Vec<ReduceDesc> {
    let mut v = vec![];
    for op in [
        ReduceOp::Sum,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::AbsMax,
        ReduceOp::SumSq,
        ReduceOp::SumAndSumSq,
    ] {
        for axis in [ReduceAxis::PerRow, ReduceAxis::PerCol] {
            v.push(ReduceDesc::new(op, axis, 19, 45, DType::F32));
            let mut d = ReduceDesc::new(op, axis, 8, 70, DType::BF16);
            d.accumulate = true;
            v.push(d);
        }
    }
    v
}

/// One GEMM of the catalogue, with whether it asks for tf32.
#[derive(Clone, Copy, Debug)]
pub struct GemmCase {
    /// The descriptor.
    pub desc: GemmDesc,
    /// Rounds f32 inputs to tf32.
    pub tf32: bool,
}

/// GEMMs of every path (bf16, f16, tf32, int8 s8/u8, f32 FMA), tile size, transpose, batch
/// form, layout and epilogue, with ragged m, n, k and unaligned leading dimensions.
pub fn gemms() -> Vec<GemmCase> {
    let mut v = vec![];
    let case = |desc: GemmDesc| GemmCase { desc, tf32: false };
    for dt in [DType::BF16, DType::F16] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut d = GemmDesc::new(70, 45, 50, dt).beta(0.0);
            if ta {
                d = d.trans_a();
            }
            if tb {
                d = d.trans_b();
            }
            v.push(case(d));
        }
        // Large tiles, full alignment (the cp.async path), beta 1 and alpha.
        v.push(case(GemmDesc::new(1024, 1024, 256, dt).alpha(0.5)));
        // Unaligned leading dimensions: element loads.
        v.push(case(GemmDesc::new(33, 17, 9, dt).ld(11, 19, 21).beta(0.0)));
        // Batch forms.
        for batch in [
            BatchReduce::Stride {
                a: 64 * 64,
                b: 64 * 64,
            },
            BatchReduce::Offsets,
            BatchReduce::Addresses,
        ] {
            v.push(case(GemmDesc::new(64, 64, 64, dt).batch(batch)));
        }
        v.push(case(GemmDesc::new(40, 48, 32, dt).vnni_b().beta(0.0)));
        v.push(case(
            GemmDesc::new(40, 48, 32, dt).vnni_c().output(dt).beta(0.0),
        ));
    }
    // Every epilogue activation, with a bias each way, and the bf16 output.
    for act in [
        Activation::None,
        Activation::Relu { mask: true },
        Activation::Relu { mask: false },
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Elu { alpha: 0.7 },
        Activation::Gelu,
        Activation::GeluErf,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Silu,
    ] {
        v.push(case(
            GemmDesc::new(96, 80, 64, DType::BF16)
                .beta(0.0)
                .bias(BiasBroadcast::Row, DType::BF16)
                .activation(act)
                .output(DType::BF16),
        ));
    }
    v.push(case(
        GemmDesc::new(512, 512, 512, DType::BF16)
            .beta(0.0)
            .bias(BiasBroadcast::Col, DType::F32)
            .activation(Activation::Relu { mask: true }),
    ));
    // tf32 and the full-precision f32 path.
    for tf32 in [true, false] {
        for (ta, tb) in [(false, false), (true, true)] {
            let mut d = GemmDesc::new(65, 70, 33, DType::F32).beta(0.0);
            if ta {
                d = d.trans_a();
            }
            if tb {
                d = d.trans_b();
            }
            v.push(GemmCase { desc: d, tf32 });
        }
        v.push(GemmCase {
            desc: GemmDesc::new(1024, 1024, 128, DType::F32)
                .bias(BiasBroadcast::Row, DType::F32)
                .activation(Activation::Gelu),
            tf32,
        });
        v.push(GemmCase {
            desc: GemmDesc::new(64, 64, 32, DType::F32).batch(BatchReduce::Offsets),
            tf32,
        });
    }
    // int8: s8·s8 and u8·s8, B transposed (cp.async), row-major and VNNI4 (element loads).
    for (a, b) in [(DType::I8, DType::I8), (DType::U8, DType::I8)] {
        let d = GemmDesc::new(70, 45, 100, a).inputs(a, b);
        v.push(case(d.trans_b()));
        v.push(case(d.beta(0.0)));
        v.push(case(GemmDesc::new(64, 64, 64, a).inputs(a, b).vnni_b()));
        v.push(case(
            GemmDesc::new(1024, 1024, 256, a).inputs(a, b).trans_b(),
        ));
        v.push(case(
            GemmDesc::new(64, 64, 64, a)
                .inputs(a, b)
                .trans_b()
                .batch(BatchReduce::Stride { a: 4096, b: 4096 }),
        ));
    }
    v
}

/// Descriptors for the sm_90a wgmma family (generated directly, any shape): both dtypes,
/// every transpose, the three tile widths, ragged edges, alpha/beta, the stride batch, bias
/// each way with every kind of activation, the relu mask, bf16/f16 and VNNI2 outputs.
pub fn wgmma_gemms() -> Vec<GemmDesc> {
    let mut v = vec![];
    for dt in [DType::BF16, DType::F16] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut d = GemmDesc::new(200, 136, 72, dt).beta(0.0);
            if ta {
                d = d.trans_a();
            }
            if tb {
                d = d.trans_b();
            }
            v.push(d);
        }
        // bn 256 (16384 x 1024) and 128 (2048 x 2048), alpha and beta 1.
        v.push(GemmDesc::new(16384, 1024, 512, dt).alpha(0.5));
        v.push(GemmDesc::new(2048, 2048, 256, dt).trans_b());
        v.push(
            GemmDesc::new(130, 140, 150, dt)
                .ld(152, 144, 141)
                .batch(BatchReduce::Stride {
                    a: 130 * 152,
                    b: 152 * 144,
                })
                .beta(0.5),
        );
        v.push(
            GemmDesc::new(256, 192, 64, dt)
                .vnni_c()
                .output(dt)
                .beta(0.0),
        );
    }
    for act in [
        Activation::Relu { mask: true },
        Activation::Gelu,
        Activation::Silu,
    ] {
        v.push(
            GemmDesc::new(16384, 1024, 256, DType::BF16)
                .beta(0.0)
                .bias(BiasBroadcast::Row, DType::BF16)
                .activation(act)
                .output(DType::BF16),
        );
    }
    v.push(
        GemmDesc::new(300, 260, 128, DType::F16)
            .trans_a()
            .ld(304, 264, 260)
            .bias(BiasBroadcast::Col, DType::F32)
            .activation(Activation::Relu { mask: true }),
    );
    v
}

/// Every ready-made equation in each dtype on a ragged shape, and the norm backward passes on
/// rows too wide for the shared-memory copy of their column reductions.
pub fn equations() -> Vec<tpp::Equation> {
    use tpp::equations as e;
    let mut v = vec![];
    for dt in [DType::F32, DType::BF16, DType::F16] {
        let (rows, cols) = (7, 100);
        v.extend([
            e::layer_norm(rows, cols, dt, 1e-5),
            e::layer_norm_backward(rows, cols, dt),
            e::rms_norm(rows, cols, dt, 1e-6),
            e::rms_norm_backward(rows, cols, dt),
            e::softmax(rows, cols, dt),
            e::softmax_backward(rows, cols, dt),
            e::bias_activation(rows, cols, dt, UnaryOp::Gelu),
            e::bias_activation(rows, cols, dt, UnaryOp::Relu { mask: false }),
            e::dropout_residual(rows, cols, dt, 0.1),
            e::silu_gate(rows, cols, dt),
            e::adamw(rows, cols, dt),
            e::sgd_momentum(rows, cols, dt),
            e::dropout_residual_layer_norm(rows, cols, dt, 0.1, 1e-5),
        ]);
    }
    v.push(e::layer_norm_backward(3, 7000, DType::BF16));
    v.push(e::rms_norm_backward(3, 20_000, DType::F32));
    v
}
