//! Lowerings of the elementwise unary, binary and ternary ops, and of the GEMM epilogue, to
//! micro-op programs.
//!
//! Each returns `None` for what is not elementwise arithmetic on f32 compute (layout
//! transforms, integer or f64 data, f64 compute): those stay with dedicated generators or the
//! reference backend.

use super::approx;
use super::program::{BinOp, Builder, IntOp, Port, Program, UnOp, K, V};
use crate::isa::{
    dropout, Activation, BinaryDesc, BinaryOp, CmpOp, DType, Epilogue, TernaryDesc, TernaryOp,
    UnaryDesc, UnaryOp,
};

/// The dtypes a micro-op port carries: the f32-convertible ones.
pub fn port_dtype_ok(d: DType) -> bool {
    matches!(d, DType::F32 | DType::BF16 | DType::F16)
}

/// `fmix32` of [`crate::isa::dropout`], lane-wise.
fn fmix32(b: &mut Builder, h: V) -> V {
    let (m1, m2) = (b.bits(0x85eb_ca6b), b.bits(0xc2b2_ae35));
    let s = b.shr(h, 16);
    let h = b.int(IntOp::Xor, h, s);
    let h = b.int(IntOp::Mul, h, m1);
    let s = b.shr(h, 13);
    let h = b.int(IntOp::Xor, h, s);
    let h = b.int(IntOp::Mul, h, m2);
    let s = b.shr(h, 16);
    b.int(IntOp::Xor, h, s)
}

/// A forward activation of `x` — the one implementation that the unary ops and the GEMM
/// epilogue share — and, for the relu family, the predicate `x > 0` (the mask bits).
pub fn activation(b: &mut Builder, act: Activation, x: V) -> (V, Option<K>) {
    let zero = b.constant(0.0);
    match act {
        Activation::None => (x, None),
        Activation::Tanh => (approx::tanh(b, x), None),
        Activation::Sigmoid => (approx::sigmoid(b, x), None),
        Activation::Gelu => (approx::gelu_tanh(b, x), None),
        Activation::GeluErf => (approx::gelu_erf(b, x), None),
        Activation::Silu => {
            // Clamped so that −∞ gives the limit −0 (σ(−200) is 0 in f32), not ∞·0.
            let lo = b.constant(-200.0);
            let xc = b.bin(BinOp::Max, x, lo);
            let s = approx::sigmoid(b, xc);
            (b.mul(xc, s), None)
        }
        Activation::Relu { .. } => {
            let k = b.cmp(CmpOp::Gt, x, zero);
            (b.bin(BinOp::Max, x, zero), Some(k))
        }
        Activation::LeakyRelu { alpha } => {
            let k = b.cmp(CmpOp::Gt, x, zero);
            let a = b.constant(alpha);
            let ax = b.mul(x, a);
            (b.select(k, x, ax), Some(k))
        }
        Activation::Elu { alpha } => {
            let k = b.cmp(CmpOp::Gt, x, zero);
            let e = approx::expm1(b, x);
            let a = b.constant(alpha);
            let ae = b.mul(e, a);
            // NaN fails `x > 0` and propagates through expm1.
            (b.select(k, x, ae), None)
        }
    }
}

/// The GEMM epilogue as a program over C: `In0` holds the accumulated
/// `alpha·Σ A·B + beta·C` (f32), `In1` the bias (with its broadcast), `Out` is C; the relu
/// mask goes to the output mask. JIT GEMM microkernels run it on their accumulators before
/// the stores; run as an eltwise kernel it finishes a GEMM computed without epilogue.
pub fn epilogue(ep: &Epilogue) -> Option<Program> {
    let mut b = Builder::new();
    let acc = b.load(Port::In0);
    epilogue_on(b, acc, ep)
}

/// The GEMM epilogue preceded by the scaling, for microkernels whose accumulators never sit
/// in vector registers (AMX tiles): `In0` holds the plain `Σ A·B` (f32), C is read from `Out`
/// when `beta ≠ 0`, and `alpha·acc + beta·C` (rounded as the AVX-512 kernels round it: a
/// product, then one fused multiply-add) goes through [`epilogue`].
pub fn gemm_finish(ep: &Epilogue, alpha: f32, beta: f32) -> Option<Program> {
    let mut b = Builder::new();
    let mut acc = b.load(Port::In0);
    if alpha != 1.0 {
        let a = b.constant(alpha);
        acc = b.mul(acc, a);
    }
    if beta != 0.0 {
        let c = b.load(Port::Out);
        acc = if beta == 1.0 {
            b.add(acc, c)
        } else {
            let s = b.constant(beta);
            b.fma(c, s, acc)
        };
    }
    epilogue_on(b, acc, ep)
}

fn epilogue_on(mut b: Builder, acc: V, ep: &Epilogue) -> Option<Program> {
    let x = match ep.bias {
        Some(bias) if port_dtype_ok(bias.dtype) => {
            let v = b.load(Port::In1);
            b.add(acc, v)
        }
        Some(_) => return None,
        None => acc,
    };
    let (y, positive) = activation(&mut b, ep.activation, x);
    if ep.activation.writes_mask() {
        b.store_mask(positive?);
    }
    b.store(y, Port::Out);
    Some(b.finish())
}

/// The unary op as a program.
pub fn unary(d: &UnaryDesc) -> Option<Program> {
    use UnaryOp::*;
    // A same-dtype copy must keep every bit (NaN payloads, bf16 subnormals), which the f32
    // round trip through the vector registers does not: it stays a data-movement kernel.
    let same_dtype_copy = d.op == Identity && d.in_dtype == d.out_dtype;
    if d.op.is_layout_transform()
        || same_dtype_copy
        || d.compute_dtype != DType::F32
        || !port_dtype_ok(d.in_dtype)
        || !port_dtype_ok(d.out_dtype)
    {
        return None;
    }
    let mut b = Builder::new();
    let x = if d.op.reads_input() {
        b.load(Port::In0)
    } else {
        b.constant(0.0)
    };
    let aux = if d.op.reads_aux() {
        Some(b.load(Port::Aux))
    } else {
        None
    };
    let mask = if d.op.reads_mask() {
        Some(b.load_mask())
    } else {
        None
    };
    let (y, mask_out) = unary_on(&mut b, d.op, x, aux, mask)?;
    if let Some(k) = mask_out {
        b.store_mask(k);
    }
    b.store(y, Port::Out);
    Some(b.finish())
}

/// An elementwise unary op on registers: `x` (0 for `Zero`), `aux` (the forward input of the
/// backward ops that read it) and `mask` (the forward mask of those that read one). Returns the
/// result and, for the ops that write one, the mask. The one lowering of every unary op: the
/// unary TPPs and the equations both use it.
pub fn unary_on(
    b: &mut Builder,
    op: UnaryOp,
    x: V,
    aux: Option<V>,
    mask: Option<K>,
) -> Option<(V, Option<K>)> {
    use UnaryOp::*;
    let zero = b.constant(0.0);
    let one = b.constant(1.0);
    let mut mask_out = None;
    let y = match op {
        Identity => x,
        Zero => zero,
        Negate => b.un(UnOp::Neg, x),
        Abs => b.un(UnOp::Abs, x),
        Square => b.mul(x, x),
        Sqrt => b.un(UnOp::Sqrt, x),
        Reciprocal => b.div(one, x),
        Rsqrt => {
            let s = b.un(UnOp::Sqrt, x);
            b.div(one, s)
        }
        Increment => b.add(x, one),
        Exp => approx::exp(b, x),
        Tanh | Sigmoid | Gelu | GeluErf | Silu | Relu { .. } | LeakyRelu { .. } | Elu { .. } => {
            let act = match op {
                Tanh => Activation::Tanh,
                Sigmoid => Activation::Sigmoid,
                Gelu => Activation::Gelu,
                GeluErf => Activation::GeluErf,
                Silu => Activation::Silu,
                Relu { mask } => Activation::Relu { mask },
                LeakyRelu { alpha, .. } => Activation::LeakyRelu { alpha },
                Elu { alpha } => Activation::Elu { alpha },
                _ => unreachable!("matched above"),
            };
            let (y, positive) = activation(b, act, x);
            if op.writes_mask() {
                mask_out = Some(positive?);
            }
            y
        }
        ReluBackward { mask: m } | LeakyReluBackward { mask: m, .. } => {
            let k = match (m, aux, mask) {
                (true, _, Some(k)) => k,
                (false, Some(a), _) => b.cmp(CmpOp::Gt, a, zero),
                _ => return None,
            };
            let neg = match op {
                LeakyReluBackward { alpha, .. } => {
                    let a = b.constant(alpha);
                    b.mul(x, a)
                }
                _ => zero,
            };
            b.select(k, x, neg)
        }
        EluBackward { alpha } => {
            let a = aux?;
            let k = b.cmp(CmpOp::Gt, a, zero);
            let e = approx::exp(b, a);
            let al = b.constant(alpha);
            let ae = b.mul(e, al);
            let neg = b.mul(x, ae);
            b.select(k, x, neg)
        }
        TanhBackward => {
            let t = approx::tanh(b, aux?);
            let g = b.fnma(t, t, one);
            b.mul(x, g)
        }
        SigmoidBackward => {
            let s = approx::sigmoid(b, aux?);
            let c = b.sub(one, s);
            let g = b.mul(s, c);
            b.mul(x, g)
        }
        SiluBackward => {
            // Clamped to ±200 so that ±∞ give the limits 1 and 0, not ∞·0.
            let (lo, hi) = (b.constant(-200.0), b.constant(200.0));
            let a = b.bin(BinOp::Max, aux?, lo);
            let a = b.bin(BinOp::Min, a, hi);
            let s = approx::sigmoid(b, a);
            let c = b.sub(one, s);
            let t = b.fma(a, c, one);
            let g = b.mul(s, t);
            b.mul(x, g)
        }
        GeluBackward => {
            let g = approx::gelu_tanh_grad(b, aux?);
            b.mul(x, g)
        }
        GeluErfBackward => {
            let g = approx::gelu_erf_grad(b, aux?);
            b.mul(x, g)
        }
        Dropout { p } | DropoutBackward { p } => {
            let scale = b.constant((1.0 / (1.0 - p as f64)) as f32);
            let keep = if let Dropout { .. } = op {
                let pos = b.position();
                let (k0, k1) = (b.seed(false), b.seed(true));
                let h = b.int(IntOp::Xor, pos, k0);
                let h = fmix32(b, h);
                let h = b.int(IntOp::Xor, h, k1);
                let h = fmix32(b, h);
                let t = b.bits(dropout::threshold(p));
                let keep = b.uge(h, t);
                mask_out = Some(keep);
                keep
            } else {
                mask?
            };
            let s = b.mul(x, scale);
            b.select(keep, s, zero)
        }
        _ => return None,
    };
    Some((y, mask_out))
}

/// The binary op as a program (comparisons store a mask).
pub fn binary(d: &BinaryDesc) -> Option<Program> {
    if d.compute_dtype != DType::F32
        || !port_dtype_ok(d.in0_dtype)
        || !port_dtype_ok(d.in1_dtype)
        || !(d.op.is_compare() || port_dtype_ok(d.out_dtype))
    {
        return None;
    }
    let mut b = Builder::new();
    let x = b.load(Port::In0);
    let y = b.load(Port::In1);
    let r = match d.op {
        BinaryOp::MulAdd => {
            let o = b.load(Port::Out);
            b.fma(x, y, o)
        }
        BinaryOp::Compare(c) => {
            let k = b.cmp(c, x, y);
            b.store_mask(k);
            return Some(b.finish());
        }
        op => binary_on(&mut b, op, x, y)?,
    };
    b.store(r, Port::Out);
    Some(b.finish())
}

/// An elementwise binary op on registers; `None` for `MulAdd` (it reads its output) and the
/// comparisons (they yield a mask: [`Builder::cmp`]).
pub fn binary_on(b: &mut Builder, op: BinaryOp, x: V, y: V) -> Option<V> {
    Some(match op {
        BinaryOp::Add => b.add(x, y),
        BinaryOp::Sub => b.sub(x, y),
        BinaryOp::Mul => b.mul(x, y),
        BinaryOp::Div => b.div(x, y),
        BinaryOp::Max => b.bin(BinOp::Max, x, y),
        BinaryOp::Min => b.bin(BinOp::Min, x, y),
        BinaryOp::MulAdd | BinaryOp::Compare(_) => return None,
    })
}

/// The ternary op as a program.
pub fn ternary(d: &TernaryDesc) -> Option<Program> {
    let inputs = d.op.inputs();
    if d.compute_dtype != DType::F32
        || !port_dtype_ok(d.out_dtype)
        || !d.in_dtypes[..inputs].iter().all(|&t| port_dtype_ok(t))
    {
        return None;
    }
    let mut b = Builder::new();
    let x = b.load(Port::In0);
    let y = b.load(Port::In1);
    let r = match d.op {
        TernaryOp::MulAdd => {
            let z = b.load(Port::In2);
            b.fma(x, y, z)
        }
        TernaryOp::NMulAdd => {
            let z = b.load(Port::In2);
            b.fnma(x, y, z)
        }
        TernaryOp::Select => {
            let k = b.load_mask();
            b.select(k, x, y)
        }
    };
    b.store(r, Port::Out);
    Some(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::math;
    use crate::isa::{Bias, BiasBroadcast};
    use crate::lower::interp::{run_lane, Lane};

    /// The epilogue program, run lane by lane, against the reference formulas.
    #[test]
    fn epilogue_matches_the_reference_activation() {
        let acts = [
            Activation::None,
            Activation::Relu { mask: true },
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::Elu { alpha: 0.7 },
            Activation::Gelu,
            Activation::GeluErf,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Silu,
        ];
        for act in acts {
            let ep = Epilogue {
                bias: Some(Bias {
                    broadcast: BiasBroadcast::Row,
                    dtype: DType::F32,
                }),
                activation: act,
                mask_ld: 8,
            };
            let p = epilogue(&ep).unwrap();
            for i in -400..=400 {
                let (acc, bias) = (i as f32 * 0.03, 0.125f32);
                let load = move |port: Port| if port == Port::In0 { acc } else { bias };
                let out = run_lane(
                    &p,
                    &Lane {
                        load: &load,
                        mask_in: false,
                        position: 0,
                        seed: 0,
                    },
                );
                let x = (acc + bias) as f64;
                let want = math::activation(act, x);
                let got = out.stores[0].1 as f64;
                let tol = 8.0 * f32::EPSILON as f64 * x.abs().max(want.abs()) + 1e-30;
                assert!(
                    (got - want).abs() <= tol,
                    "{act:?}({x}): got {got}, want {want}"
                );
                if act.writes_mask() {
                    assert_eq!(out.mask_out, Some(x > 0.0));
                }
            }
        }
    }
}
