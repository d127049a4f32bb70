//! The unfused peers of the equation bench: each ready-made equation written again as the chain
//! of separate tpp kernels (unary, binary, ternary and reduce dispatches) a user without
//! equations would write, with a temporary between every two kernels. Full-matrix temporaries
//! have the activations' dtype (as eager frameworks keep them); row statistics, scalars and
//! the optimizer states are f32, as in the equations.
//!
//! A [`Chain`] is built against an equation's interface (its inputs' and outputs' dtypes and
//! shapes, never its nodes) with the same verbs as [`Equation`], so each chain below reads like
//! the equation it mirrors. [`Chain::finish`] dispatches one kernel per step.

use super::{Aligned, Data};
use std::mem;
use tpp::*;

/// A value of a chain: an input, a constant or the result of a step.
#[derive(Clone, Copy, Debug)]
pub struct V(usize);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Value(Broadcast),
    Mask,
}

/// Where a value lives at run time.
#[derive(Clone, Copy, Debug)]
enum Loc {
    Input(usize),
    Output(usize),
    Temp,
    Const(f32),
}

#[derive(Clone, Copy, Debug)]
struct Val {
    kind: Kind,
    dtype: DType,
    loc: Loc,
}

#[derive(Clone, Copy, Debug)]
enum StepOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Ternary(TernaryOp),
    Reduce(ReduceOp, ReduceAxis),
    /// Dropout writes a value and a mask.
    Dropout(f32),
}

#[derive(Debug)]
struct Step {
    op: StepOp,
    args: Vec<V>,
    out: V,
    mask: Option<V>,
}

/// A chain under construction (see the module docs).
pub struct Chain {
    rows: usize,
    cols: usize,
    act: DType,
    inputs: Vec<EqInput>,
    outputs: Vec<EqOutput>,
    vals: Vec<Val>,
    steps: Vec<Step>,
}

fn join(a: Broadcast, b: Broadcast) -> Broadcast {
    use Broadcast::*;
    match (a, b) {
        (None, _) | (_, None) | (Row, Col) | (Col, Row) => None,
        (Row, _) | (_, Row) => Row,
        (Col, _) | (_, Col) => Col,
        (Scalar, Scalar) => Scalar,
    }
}

impl Chain {
    /// A chain with the inputs and outputs of `eq`; full-matrix temporaries of dtype `act`.
    pub fn new(eq: &Equation, act: DType) -> Chain {
        Chain {
            rows: eq.rows(),
            cols: eq.cols(),
            act,
            inputs: eq.inputs().to_vec(),
            outputs: eq.outputs().to_vec(),
            vals: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Columns of the space.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn val(&mut self, kind: Kind, dtype: DType, loc: Loc) -> V {
        self.vals.push(Val { kind, dtype, loc });
        V(self.vals.len() - 1)
    }

    fn shape(&self, v: V) -> Broadcast {
        match self.vals[v.0].kind {
            Kind::Value(s) => s,
            Kind::Mask => panic!("a mask where a value is needed"),
        }
    }

    /// A temporary of `shape`: the activations' dtype for a full matrix, f32 otherwise.
    fn temp(&mut self, shape: Broadcast) -> V {
        let dtype = if shape == Broadcast::None {
            self.act
        } else {
            DType::F32
        };
        self.val(Kind::Value(shape), dtype, Loc::Temp)
    }

    fn step(&mut self, op: StepOp, args: &[V], shape: Broadcast) -> V {
        let out = self.temp(shape);
        self.steps.push(Step {
            op,
            args: args.to_vec(),
            out,
            mask: None,
        });
        out
    }

    /// Input `n` of the equation.
    pub fn input(&mut self, n: usize) -> V {
        let i = self.inputs[n];
        self.val(Kind::Value(i.shape), i.dtype, Loc::Input(n))
    }
    /// An f32 scalar.
    pub fn constant(&mut self, c: f32) -> V {
        self.val(Kind::Value(Broadcast::Scalar), DType::F32, Loc::Const(c))
    }
    /// A unary kernel.
    pub fn unary(&mut self, op: UnaryOp, x: V) -> V {
        let s = self.shape(x);
        self.step(StepOp::Unary(op), &[x], s)
    }
    /// A binary kernel.
    pub fn binary(&mut self, op: BinaryOp, a: V, b: V) -> V {
        let s = join(self.shape(a), self.shape(b));
        self.step(StepOp::Binary(op), &[a, b], s)
    }
    /// `a + b`.
    pub fn add(&mut self, a: V, b: V) -> V {
        self.binary(BinaryOp::Add, a, b)
    }
    /// `a − b`.
    pub fn sub(&mut self, a: V, b: V) -> V {
        self.binary(BinaryOp::Sub, a, b)
    }
    /// `a · b`.
    pub fn mul(&mut self, a: V, b: V) -> V {
        self.binary(BinaryOp::Mul, a, b)
    }
    /// `a / b`.
    pub fn div(&mut self, a: V, b: V) -> V {
        self.binary(BinaryOp::Div, a, b)
    }
    /// A ternary kernel (`MulAdd` / `NMulAdd`).
    pub fn ternary(&mut self, op: TernaryOp, a: V, b: V, c: V) -> V {
        let s = join(join(self.shape(a), self.shape(b)), self.shape(c));
        self.step(StepOp::Ternary(op), &[a, b, c], s)
    }
    /// A reduce kernel of a full matrix.
    pub fn reduce(&mut self, op: ReduceOp, axis: ReduceAxis, x: V) -> V {
        let s = match axis {
            ReduceAxis::PerRow => Broadcast::Col,
            ReduceAxis::PerCol => Broadcast::Row,
        };
        self.step(StepOp::Reduce(op, axis), &[x], s)
    }
    /// A dropout kernel: the kept values and the keep mask.
    pub fn dropout(&mut self, p: f32, x: V) -> (V, V) {
        let out = self.temp(Broadcast::None);
        let mask = self.val(Kind::Mask, DType::U8, Loc::Temp);
        self.steps.push(Step {
            op: StepOp::Dropout(p),
            args: vec![x],
            out,
            mask: Some(mask),
        });
        (out, mask)
    }
    /// Writes `v` straight into output `n` (its last kernel takes the output's dtype).
    pub fn output(&mut self, v: V, n: usize) -> &mut Self {
        let val = &mut self.vals[v.0];
        assert!(
            matches!(val.loc, Loc::Temp),
            "only a step's result is an output"
        );
        val.loc = Loc::Output(n);
        if let EqOutputKind::Value { dtype, .. } = self.outputs[n].kind {
            val.dtype = dtype;
        }
        self
    }

    /// The space and the operands' broadcasts of an elementwise step whose result has shape
    /// `out`: a full matrix runs over `rows × cols`; a column (row) vector over `1 × rows`
    /// (`1 × cols`), where a vector operand of that shape is a plain row and a scalar stays a
    /// scalar.
    fn space(&self, out: Broadcast, args: &[V]) -> (usize, usize, Vec<Broadcast>) {
        let (r, c) = match out {
            Broadcast::None => (self.rows, self.cols),
            Broadcast::Col => (1, self.rows),
            Broadcast::Row => (1, self.cols),
            Broadcast::Scalar => (1, 1),
        };
        let b = args
            .iter()
            .map(|&a| match (out, self.shape(a)) {
                (Broadcast::None, s) => s,
                (_, Broadcast::Scalar) => Broadcast::Scalar,
                _ => Broadcast::None,
            })
            .collect();
        (r, c, b)
    }

    /// Dispatches every step; a step no JIT backend takes is named in `Unfused::reference`.
    pub fn finish(self) -> Result<Unfused> {
        let (rows, cols) = (self.rows, self.cols);
        let mut slots: Vec<Slot> = Vec::new();
        let mut temps = Vec::new();
        let mut consts = Vec::new();
        for v in &self.vals {
            slots.push(match v.loc {
                Loc::Input(i) => Slot::Input(i),
                Loc::Output(o) => Slot::Output(o),
                Loc::Const(c) => {
                    consts.push(Data::F32(Aligned::new(std::iter::once(c), 1, 0.0)));
                    Slot::Const(consts.len() - 1)
                }
                Loc::Temp => {
                    let len = match v.kind {
                        Kind::Value(s) => s.len(rows, cols, cols),
                        Kind::Mask => bitmask::bytes(rows, cols, bitmask::default_ld(cols)),
                    };
                    temps.push(Data::zeros(v.dtype, len));
                    Slot::Temp(temps.len() - 1)
                }
            });
        }
        let mut kernels = Vec::new();
        let mut reference = Vec::new();
        for s in &self.steps {
            let dt = |v: V| self.vals[v.0].dtype;
            let out = self.shape(s.out);
            let (r, c, b) = self.space(out, &s.args);
            let od = dt(s.out);
            let f32_ = DType::F32;
            let k = match s.op {
                StepOp::Unary(op) => Kern::Unary(
                    UnaryDesc::new(op, r, c, od)
                        .dtypes(dt(s.args[0]), f32_, od)
                        .broadcast(b[0])
                        .dispatch()?,
                ),
                StepOp::Dropout(p) => Kern::Dropout(
                    UnaryDesc::new(UnaryOp::Dropout { p }, r, c, od)
                        .dtypes(dt(s.args[0]), f32_, od)
                        .dispatch()?,
                ),
                StepOp::Binary(op) => Kern::Binary(
                    BinaryDesc::new(op, r, c, od)
                        .broadcast(b[0], b[1])
                        .dtypes(dt(s.args[0]), dt(s.args[1]), f32_, od)
                        .dispatch()?,
                ),
                StepOp::Ternary(op) => {
                    let mut d = TernaryDesc::new(op, r, c, od).broadcast([b[0], b[1], b[2]]);
                    d.in_dtypes = [dt(s.args[0]), dt(s.args[1]), dt(s.args[2])];
                    d.compute_dtype = f32_;
                    Kern::Ternary(d.dispatch()?)
                }
                StepOp::Reduce(op, axis) => {
                    let mut d = ReduceDesc::new(op, axis, rows, cols, dt(s.args[0]));
                    d.out_dtype = od;
                    d.compute_dtype = f32_;
                    Kern::Reduce(d.dispatch()?)
                }
            };
            if k.is_reference() {
                reference.push(k.name());
            }
            kernels.push(Ready {
                kern: k,
                args: s.args.iter().map(|a| slots[a.0]).collect(),
                out: slots[s.out.0],
                mask: s.mask.map(|m| slots[m.0]),
            });
        }
        Ok(Unfused {
            steps: kernels,
            temps,
            consts,
            reference,
        })
    }
}

/// Storage of a value at run time.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Input(usize),
    Output(usize),
    Temp(usize),
    Const(usize),
}

enum Kern {
    Unary(UnaryKernel),
    Dropout(UnaryKernel),
    Binary(BinaryKernel),
    Ternary(TernaryKernel),
    Reduce(ReduceKernel),
}

impl Kern {
    fn info(&self) -> &KernelInfo {
        match self {
            Kern::Unary(k) | Kern::Dropout(k) => k.info(),
            Kern::Binary(k) => k.info(),
            Kern::Ternary(k) => k.info(),
            Kern::Reduce(k) => k.info(),
        }
    }
    fn is_reference(&self) -> bool {
        self.info().is_reference
    }
    fn name(&self) -> String {
        self.info().name.clone()
    }
}

struct Ready {
    kern: Kern,
    args: Vec<Slot>,
    out: Slot,
    mask: Option<Slot>,
}

/// A dispatched chain: its kernels, in order, and the temporaries between them.
pub struct Unfused {
    steps: Vec<Ready>,
    temps: Vec<Data>,
    consts: Vec<Data>,
    /// Steps that run on the reference backend (no JIT backend took them).
    pub reference: Vec<String>,
}

impl Unfused {
    /// Number of kernels one run calls.
    pub fn kernels(&self) -> usize {
        self.steps.len()
    }

    fn take(&mut self, s: Slot, outputs: &mut [Data]) -> Data {
        match s {
            Slot::Output(o) => mem::take(&mut outputs[o]),
            Slot::Temp(t) => mem::take(&mut self.temps[t]),
            _ => unreachable!("steps write outputs and temporaries only"),
        }
    }

    fn put(&mut self, s: Slot, d: Data, outputs: &mut [Data]) {
        match s {
            Slot::Output(o) => outputs[o] = d,
            Slot::Temp(t) => self.temps[t] = d,
            _ => unreachable!("steps write outputs and temporaries only"),
        }
    }

    /// Runs every kernel on the equation's `inputs` and `outputs` (dropout with `seed`).
    pub fn run(&mut self, inputs: &[Data], outputs: &mut [Data], seed: u64) -> Result<()> {
        for n in 0..self.steps.len() {
            let (out_slot, mask_slot) = (self.steps[n].out, self.steps[n].mask);
            let mut out = self.take(out_slot, outputs);
            let mut mask = mask_slot.map(|m| self.take(m, outputs));
            let st = &self.steps[n];
            let (temps, consts, outs) = (&self.temps, &self.consts, &*outputs);
            let a = |i: usize| match st.args[i] {
                Slot::Input(i) => inputs[i].as_in(),
                Slot::Output(o) => outs[o].as_in(),
                Slot::Temp(t) => temps[t].as_in(),
                Slot::Const(c) => consts[c].as_in(),
            };
            let r = match &st.kern {
                Kern::Unary(k) => k.call(a(0), out.as_out()),
                Kern::Dropout(k) => {
                    let m = mask.as_mut().expect("dropout writes a mask");
                    k.run(
                        UnaryCall::new(a(0), out.as_out())
                            .mask_out(m.bytes_mut())
                            .seed(seed),
                    )
                }
                Kern::Binary(k) => k.call(a(0), a(1), out.as_out()),
                Kern::Ternary(k) => k.call(a(0), a(1), a(2), out.as_out()),
                Kern::Reduce(k) => k.call(a(0), out.as_out()),
            };
            self.put(out_slot, out, outputs);
            if let (Some(s), Some(m)) = (mask_slot, mask) {
                self.put(s, m, outputs);
            }
            r?;
        }
        Ok(())
    }
}

// The chains, one per ready-made equation, each the mirror of its `tpp::equations` function.

fn row_mean(c: &mut Chain, op: ReduceOp, x: V) -> V {
    let s = c.reduce(op, ReduceAxis::PerRow, x);
    let inv = c.constant((1.0 / c.cols() as f64) as f32);
    c.mul(s, inv)
}

/// Layer norm: `y, mean, rstd` from `x, gamma, beta`.
pub fn layer_norm(c: &mut Chain, eps: f32) {
    let (x, gamma, beta) = (c.input(0), c.input(1), c.input(2));
    let mean = row_mean(c, ReduceOp::Sum, x);
    let d = c.sub(x, mean);
    let var = row_mean(c, ReduceOp::SumSq, d);
    let e = c.constant(eps);
    let ve = c.add(var, e);
    let rstd = c.unary(UnaryOp::Rsqrt, ve);
    let xhat = c.mul(d, rstd);
    let y = c.ternary(TernaryOp::MulAdd, xhat, gamma, beta);
    c.output(y, 0).output(mean, 1).output(rstd, 2);
}

/// Layer norm backward: `dx, dgamma, dbeta` from `dy, x, mean, rstd, gamma`.
pub fn layer_norm_backward(c: &mut Chain) {
    let (dy, x, mean, rstd, gamma) = (c.input(0), c.input(1), c.input(2), c.input(3), c.input(4));
    let d = c.sub(x, mean);
    let xhat = c.mul(d, rstd);
    let g = c.mul(dy, gamma);
    let a = row_mean(c, ReduceOp::Sum, g);
    let gx = c.mul(g, xhat);
    let b = row_mean(c, ReduceOp::Sum, gx);
    let ga = c.sub(g, a);
    let t = c.ternary(TernaryOp::NMulAdd, xhat, b, ga);
    let dx = c.mul(t, rstd);
    let dyx = c.mul(dy, xhat);
    let dgamma = c.reduce(ReduceOp::Sum, ReduceAxis::PerCol, dyx);
    let dbeta = c.reduce(ReduceOp::Sum, ReduceAxis::PerCol, dy);
    c.output(dx, 0).output(dgamma, 1).output(dbeta, 2);
}

/// RMS norm: `y, rstd` from `x, gamma`.
pub fn rms_norm(c: &mut Chain, eps: f32) {
    let (x, gamma) = (c.input(0), c.input(1));
    let ms = row_mean(c, ReduceOp::SumSq, x);
    let e = c.constant(eps);
    let ve = c.add(ms, e);
    let rstd = c.unary(UnaryOp::Rsqrt, ve);
    let xr = c.mul(x, rstd);
    let y = c.mul(xr, gamma);
    c.output(y, 0).output(rstd, 1);
}

/// RMS norm backward: `dx, dgamma` from `dy, x, rstd, gamma`.
pub fn rms_norm_backward(c: &mut Chain) {
    let (dy, x, rstd, gamma) = (c.input(0), c.input(1), c.input(2), c.input(3));
    let xhat = c.mul(x, rstd);
    let g = c.mul(dy, gamma);
    let gx = c.mul(g, xhat);
    let b = row_mean(c, ReduceOp::Sum, gx);
    let t = c.ternary(TernaryOp::NMulAdd, xhat, b, g);
    let dx = c.mul(t, rstd);
    let dyx = c.mul(dy, xhat);
    let dgamma = c.reduce(ReduceOp::Sum, ReduceAxis::PerCol, dyx);
    c.output(dx, 0).output(dgamma, 1);
}

/// Softmax: `y` from `x`.
pub fn softmax(c: &mut Chain) {
    let x = c.input(0);
    let m = c.reduce(ReduceOp::Max, ReduceAxis::PerRow, x);
    let d = c.sub(x, m);
    let e = c.unary(UnaryOp::Exp, d);
    let s = c.reduce(ReduceOp::Sum, ReduceAxis::PerRow, e);
    let r = c.unary(UnaryOp::Reciprocal, s);
    let y = c.mul(e, r);
    c.output(y, 0);
}

/// Softmax backward: `dx` from `dy, y`.
pub fn softmax_backward(c: &mut Chain) {
    let (dy, y) = (c.input(0), c.input(1));
    let p = c.mul(dy, y);
    let s = c.reduce(ReduceOp::Sum, ReduceAxis::PerRow, p);
    let t = c.sub(dy, s);
    let dx = c.mul(y, t);
    c.output(dx, 0);
}

/// Bias and activation: `y` from `x, bias`.
pub fn bias_activation(c: &mut Chain, act: UnaryOp) {
    let (x, bias) = (c.input(0), c.input(1));
    let s = c.add(x, bias);
    let y = c.unary(act, s);
    c.output(y, 0);
}

/// Dropout and residual add: `y, mask` from `x, residual`.
pub fn dropout_residual(c: &mut Chain, p: f32) {
    let (x, res) = (c.input(0), c.input(1));
    let (d, mask) = c.dropout(p, x);
    let y = c.add(d, res);
    c.output(y, 0).output(mask, 1);
}

/// SiLU gate: `y` from `a, b`.
pub fn silu_gate(c: &mut Chain) {
    let (a, b) = (c.input(0), c.input(1));
    let s = c.unary(UnaryOp::Silu, a);
    let y = c.mul(s, b);
    c.output(y, 0);
}

/// AdamW: `θ', m', v'` from `θ, g, m, v` and the scalars `lr, β₁, β₂, eps, wd, c₁, c₂`.
pub fn adamw(c: &mut Chain) {
    let (theta, g, m, v) = (c.input(0), c.input(1), c.input(2), c.input(3));
    let [lr, b1, b2, eps, wd, c1, c2] = [4, 5, 6, 7, 8, 9, 10].map(|n| c.input(n));
    let one = c.constant(1.0);
    let ob1 = c.sub(one, b1);
    let ob2 = c.sub(one, b2);
    let gm = c.mul(ob1, g);
    let m2 = c.ternary(TernaryOp::MulAdd, b1, m, gm);
    let gg = c.mul(g, g);
    let gv = c.mul(ob2, gg);
    let v2 = c.ternary(TernaryOp::MulAdd, b2, v, gv);
    let vh = c.mul(v2, c2);
    let sq = c.unary(UnaryOp::Sqrt, vh);
    let den = c.add(sq, eps);
    let mh = c.mul(m2, c1);
    let step = c.div(mh, den);
    let upd = c.ternary(TernaryOp::MulAdd, wd, theta, step);
    let t2 = c.ternary(TernaryOp::NMulAdd, lr, upd, theta);
    c.output(t2, 0).output(m2, 1).output(v2, 2);
}

/// SGD with momentum: `θ', b'` from `θ, g, b` and the scalars `lr, μ, wd`.
pub fn sgd_momentum(c: &mut Chain) {
    let (theta, g, b) = (c.input(0), c.input(1), c.input(2));
    let [lr, mu, wd] = [3, 4, 5].map(|n| c.input(n));
    let gw = c.ternary(TernaryOp::MulAdd, wd, theta, g);
    let b2 = c.ternary(TernaryOp::MulAdd, mu, b, gw);
    let t2 = c.ternary(TernaryOp::NMulAdd, lr, b2, theta);
    c.output(t2, 0).output(b2, 1);
}
