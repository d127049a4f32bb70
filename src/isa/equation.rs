//! Equations: a DAG of elementwise unary, binary and ternary ops and row/column reductions over
//! 2D operands, dispatched as one descriptor and run as one fused kernel (LIBXSMM's matrix
//! equations; CUTLASS's epilogue visitor trees).
//!
//! **Shapes.** An equation has one iteration space, `rows × cols`. Every value in it has a
//! shape given as a [`Broadcast`]: `None` (a full `rows × cols` matrix), `Row` (one value per
//! column, the same down every row), `Col` (one value per row) or `Scalar`. Elementwise ops
//! broadcast their operands against each other (`Row` with `Col` gives a full matrix); a
//! reduction folds a full matrix to one value per row ([`ReduceAxis::PerRow`], shape `Col`) or
//! per column ([`ReduceAxis::PerCol`], shape `Row`), and its result may be used again in the
//! same equation, broadcast back (a layer norm subtracts its row mean).
//!
//! **Building.** [`Equation::new`] starts an empty DAG; [`Equation::input`] declares the next
//! input (its call-time position is the order of declaration), every op method returns an
//! [`Expr`] naming the new node, and [`Equation::output`] marks a node as the next output. A node
//! may feed any number of later nodes, so the graph is a DAG, and cycles cannot be built (a
//! node only names earlier ones). Nothing is checked while building; [`Equation::validate`]
//! (run by dispatch) reports the first problem as a typed error naming the node.
//!
//! **Semantics.** Inputs are converted exactly to f32, every node computes in f32 with the
//! formula of the same op as a single TPP (see [`UnaryOp`], [`BinaryOp`], [`TernaryOp`],
//! [`ReduceOp`]), and outputs round to their dtype (nearest even). A node whose op writes a
//! bitmask (relu with mask, dropout) or a comparison yields a mask through
//! [`Equation::mask_of`] / [`Equation::compare`]; at most one mask may be read
//! ([`Equation::mask_input`]) and one written ([`Equation::mask_output`]) per equation.
//! Dropout draws from the call's seed and the element's position `i·cols + j` in the space.

use crate::error::{Error, Result};
use crate::isa::matrix::MAX_DIM;
use crate::isa::{BinaryOp, Broadcast, CmpOp, DType, ReduceAxis, ReduceOp, TernaryOp, UnaryOp};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// A node of an [`Equation`] (what its building methods return).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expr(pub(crate) u32);

impl Expr {
    /// The node's index in its equation.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EqOp {
    /// Input `n` (call-time position among the value inputs).
    Input(u16),
    /// Mask input `n` (call-time position among the mask inputs).
    MaskInput(u16),
    /// An f32 constant (its bits), shape `Scalar`.
    Const(u32),
    /// An elementwise unary op: operand `x`, then `aux` (the forward input) for backward ops
    /// that read it, or the mask for those that read one.
    Unary(UnaryOp),
    /// An elementwise binary op (a comparison yields a mask).
    Binary(BinaryOp),
    /// An elementwise ternary op; `Select` takes the mask first, then the two values.
    Ternary(TernaryOp),
    /// A reduction of a full matrix along the axis.
    Reduce(ReduceOp, ReduceAxis),
    /// The bitmask written by a relu-with-mask or dropout node (`x > 0` / kept).
    MaskOf,
}

/// One node: its op and the nodes it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// What it computes.
    pub op: EqOp,
    /// Operand nodes (`args[..arity]`).
    pub args: [u32; 3],
    /// Number of operands.
    pub arity: u8,
}

impl Node {
    /// The operand nodes.
    pub fn operands(&self) -> &[u32] {
        &self.args[..self.arity as usize]
    }
}

/// A value input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EqInput {
    /// f32, bf16 or f16.
    pub dtype: DType,
    /// How it covers the space.
    pub shape: Broadcast,
    /// Leading dimension (elements) of a full matrix; ignored for vectors and scalars.
    pub ld: usize,
}

/// What an output receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EqOutputKind {
    /// A value node, rounded to `dtype`; a full matrix is written with leading dimension `ld`,
    /// a `Row`/`Col` vector densely, a scalar as one element.
    Value {
        /// f32, bf16 or f16.
        dtype: DType,
        /// Leading dimension of a full matrix (ignored otherwise).
        ld: usize,
    },
    /// A mask node, as a bitmask with `ld_bits` bits per row (see [`crate::isa::bitmask`]).
    Mask {
        /// Bits per row: a multiple of 8, at least `cols`.
        ld_bits: usize,
    },
}

/// An output: a node and how it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EqOutput {
    /// The node written.
    pub node: Expr,
    /// How.
    pub kind: EqOutputKind,
}

/// The kind of value a node yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A value of the shape.
    Value(Broadcast),
    /// A full-shape bitmask.
    Mask,
}

/// An equation: the descriptor of a fused DAG (see the module docs). Structurally identical
/// equations (same space, inputs, nodes in the same order, outputs) are equal and share one
/// kernel in the cache.
#[derive(Clone, Debug)]
pub struct Equation {
    rows: usize,
    cols: usize,
    inputs: Vec<EqInput>,
    mask_inputs: Vec<usize>,
    nodes: Vec<Node>,
    outputs: Vec<EqOutput>,
    /// A hash of everything above, folded in as the equation is built, so that a cached
    /// dispatch hashes one word instead of the whole DAG.
    key: u64,
    /// The kernel automatic dispatch returned for this equation as it stands (cleared by
    /// every change), so dispatching the same equation again costs one load.
    pub(crate) kernel: OnceLock<crate::exec::EquationKernel>,
}

impl PartialEq for Equation {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
            && (self.rows, self.cols) == (o.rows, o.cols)
            && self.inputs == o.inputs
            && self.mask_inputs == o.mask_inputs
            && self.nodes == o.nodes
            && self.outputs == o.outputs
    }
}
impl Eq for Equation {}

impl Hash for Equation {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.key);
    }
}

/// Folds a part of the structure into the running key.
fn fold(key: u64, part: impl Hash) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    key.hash(&mut h);
    part.hash(&mut h);
    h.finish()
}

fn err(field: &'static str, value: impl fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("equation", field, value, allowed)
}

impl Equation {
    /// An empty equation over a `rows × cols` space.
    pub fn new(rows: usize, cols: usize) -> Equation {
        Equation {
            rows,
            cols,
            inputs: Vec::new(),
            mask_inputs: Vec::new(),
            nodes: Vec::new(),
            outputs: Vec::new(),
            key: fold(0, (rows, cols)),
            kernel: OnceLock::new(),
        }
    }

    fn push(&mut self, op: EqOp, args: &[Expr]) -> Expr {
        let mut a = [0u32; 3];
        for (slot, e) in a.iter_mut().zip(args) {
            *slot = e.0;
        }
        let node = Node {
            op,
            args: a,
            arity: args.len() as u8,
        };
        self.key = fold(self.key, node);
        self.kernel.take();
        self.nodes.push(node);
        Expr(self.nodes.len() as u32 - 1)
    }

    /// Declares the next value input: a full matrix (`ld = cols`) or a broadcast vector or
    /// scalar of `dtype`.
    pub fn input(&mut self, dtype: DType, shape: Broadcast) -> Expr {
        let cols = self.cols;
        self.input_ld(dtype, shape, cols)
    }

    /// Declares the next value input with its own leading dimension.
    pub fn input_ld(&mut self, dtype: DType, shape: Broadcast, ld: usize) -> Expr {
        let input = EqInput { dtype, shape, ld };
        self.key = fold(self.key, input);
        self.kernel.take();
        self.inputs.push(input);
        let n = self.inputs.len() - 1;
        self.push(EqOp::Input(n.min(u16::MAX as usize) as u16), &[])
    }

    /// Declares the next mask input (a full-shape bitmask of `ld_bits` bits per row).
    pub fn mask_input(&mut self, ld_bits: usize) -> Expr {
        self.key = fold(self.key, ("mask", ld_bits));
        self.kernel.take();
        self.mask_inputs.push(ld_bits);
        let n = self.mask_inputs.len() - 1;
        self.push(EqOp::MaskInput(n.min(u16::MAX as usize) as u16), &[])
    }

    /// An f32 constant (shape `Scalar`).
    pub fn constant(&mut self, value: f32) -> Expr {
        self.push(EqOp::Const(value.to_bits()), &[])
    }

    /// An elementwise unary op of `x` (for backward ops, see [`Equation::unary_bwd`]).
    pub fn unary(&mut self, op: UnaryOp, x: Expr) -> Expr {
        self.push(EqOp::Unary(op), &[x])
    }

    /// A backward unary op: `grad` and the forward input `aux` (ops that read it) or the
    /// forward mask (`mask: true` relu variants, dropout backward).
    pub fn unary_bwd(&mut self, op: UnaryOp, grad: Expr, aux_or_mask: Expr) -> Expr {
        self.push(EqOp::Unary(op), &[grad, aux_or_mask])
    }

    /// An elementwise binary op (`MulAdd`, which accumulates into its output, is the ternary
    /// [`TernaryOp::MulAdd`] here).
    pub fn binary(&mut self, op: BinaryOp, a: Expr, b: Expr) -> Expr {
        self.push(EqOp::Binary(op), &[a, b])
    }

    /// `a + b`.
    pub fn add(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinaryOp::Add, a, b)
    }
    /// `a − b`.
    pub fn sub(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinaryOp::Sub, a, b)
    }
    /// `a · b`.
    pub fn mul(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinaryOp::Mul, a, b)
    }
    /// `a / b`.
    pub fn div(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinaryOp::Div, a, b)
    }
    /// `max(a, b)`.
    pub fn max(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinaryOp::Max, a, b)
    }
    /// The mask `a op b`.
    pub fn compare(&mut self, op: CmpOp, a: Expr, b: Expr) -> Expr {
        self.binary(BinaryOp::Compare(op), a, b)
    }

    /// An elementwise ternary op: `MulAdd`/`NMulAdd` of values `a·b ± c`; for `Select` use
    /// [`Equation::select`].
    pub fn ternary(&mut self, op: TernaryOp, a: Expr, b: Expr, c: Expr) -> Expr {
        self.push(EqOp::Ternary(op), &[a, b, c])
    }

    /// `mask ? a : b`.
    pub fn select(&mut self, mask: Expr, a: Expr, b: Expr) -> Expr {
        self.push(EqOp::Ternary(TernaryOp::Select), &[mask, a, b])
    }

    /// A reduction of the full matrix `x` along `axis`.
    pub fn reduce(&mut self, op: ReduceOp, axis: ReduceAxis, x: Expr) -> Expr {
        self.push(EqOp::Reduce(op, axis), &[x])
    }

    /// The bitmask a relu-with-mask, leaky-relu-with-mask or dropout node writes.
    pub fn mask_of(&mut self, x: Expr) -> Expr {
        self.push(EqOp::MaskOf, &[x])
    }

    /// Marks `node` as the next output, written as `dtype` (a full matrix with `ld = cols`).
    pub fn output(&mut self, node: Expr, dtype: DType) -> &mut Self {
        let cols = self.cols;
        self.output_ld(node, dtype, cols)
    }

    /// Marks `node` as the next output with its own leading dimension.
    pub fn output_ld(&mut self, node: Expr, dtype: DType, ld: usize) -> &mut Self {
        let out = EqOutput {
            node,
            kind: EqOutputKind::Value { dtype, ld },
        };
        self.key = fold(self.key, out);
        self.kernel.take();
        self.outputs.push(out);
        self
    }

    /// Marks the mask node `node` as the next output, a bitmask of `ld_bits` bits per row.
    pub fn mask_output(&mut self, node: Expr, ld_bits: usize) -> &mut Self {
        let out = EqOutput {
            node,
            kind: EqOutputKind::Mask { ld_bits },
        };
        self.key = fold(self.key, out);
        self.kernel.take();
        self.outputs.push(out);
        self
    }

    /// Rows of the space.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns of the space.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The value inputs, in call order.
    pub fn inputs(&self) -> &[EqInput] {
        &self.inputs
    }
    /// The mask inputs' bits per row, in call order.
    pub fn mask_inputs(&self) -> &[usize] {
        &self.mask_inputs
    }
    /// The nodes, in build order (operands before the nodes that read them).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    /// The outputs, in call order.
    pub fn outputs(&self) -> &[EqOutput] {
        &self.outputs
    }

    /// Elements buffer of shape `shape` with leading dimension `ld` must hold.
    pub fn extent(&self, shape: Broadcast, ld: usize) -> usize {
        shape.len(self.rows, self.cols, ld)
    }

    /// Bytes each input must hold.
    pub fn input_len(&self, n: usize) -> usize {
        let i = self.inputs[n];
        self.extent(i.shape, i.ld)
    }

    /// Elements (or bytes of bitmask) output `n` must hold; needs a validated equation.
    pub fn output_len(&self, n: usize) -> usize {
        let o = self.outputs[n];
        match o.kind {
            EqOutputKind::Value { ld, .. } => match self.kind_of(o.node) {
                Ok(ValueKind::Value(s)) => self.extent(s, ld),
                _ => 0,
            },
            EqOutputKind::Mask { ld_bits } => {
                crate::isa::bitmask::bytes(self.rows, self.cols, ld_bits)
            }
        }
    }

    /// Bytes of a mask input.
    pub fn mask_input_len(&self, n: usize) -> usize {
        crate::isa::bitmask::bytes(self.rows, self.cols, self.mask_inputs[n])
    }

    /// Bytes the equation reads and writes once (its operands): the floor any kernel pays.
    pub fn bytes(&self) -> u64 {
        let mut total = 0u64;
        for (n, i) in self.inputs.iter().enumerate() {
            total += (self.input_len(n) * i.dtype.size()) as u64;
        }
        for n in 0..self.mask_inputs.len() {
            total += self.mask_input_len(n) as u64;
        }
        for (n, o) in self.outputs.iter().enumerate() {
            total += match o.kind {
                EqOutputKind::Value { dtype, .. } => (self.output_len(n) * dtype.size()) as u64,
                EqOutputKind::Mask { .. } => self.output_len(n) as u64,
            };
        }
        total
    }

    /// The kind and shape of node `e` (operands must be valid: see [`Equation::validate`]).
    pub fn kind_of(&self, e: Expr) -> Result<ValueKind> {
        let kinds = self.kinds()?;
        Ok(kinds[e.index()])
    }

    /// Checks the whole equation; the error names the node or field at fault.
    pub fn validate(&self) -> Result<()> {
        self.kinds().map(|_| ())
    }

    /// Validates and returns every node's kind.
    pub fn kinds(&self) -> Result<Vec<ValueKind>> {
        let (rows, cols) = (self.rows, self.cols);
        if rows == 0 || rows > MAX_DIM {
            return Err(err("rows", rows, format!("1..={MAX_DIM}")));
        }
        if cols == 0 || cols > MAX_DIM {
            return Err(err("cols", cols, format!("1..={MAX_DIM}")));
        }
        if self.nodes.len() > u32::MAX as usize / 2 || self.inputs.len() > u16::MAX as usize {
            return Err(err("nodes", self.nodes.len(), "fewer than 65536 inputs"));
        }
        for (n, i) in self.inputs.iter().enumerate() {
            if !matches!(i.dtype, DType::F32 | DType::BF16 | DType::F16) {
                return Err(err(
                    "input.dtype",
                    format!("input {n}: {:?}", i.dtype),
                    "f32, bf16 or f16",
                ));
            }
            if i.shape == Broadcast::None && (i.ld < cols || i.ld > MAX_DIM) {
                return Err(err(
                    "input.ld",
                    format!("input {n}: {}", i.ld),
                    format!("cols ({cols}) ..= {MAX_DIM}"),
                ));
            }
        }
        for (n, &ld) in self.mask_inputs.iter().enumerate() {
            if ld < cols || ld % 8 != 0 || ld > MAX_DIM {
                return Err(err(
                    "mask_input.ld_bits",
                    format!("mask input {n}: {ld}"),
                    format!("a multiple of 8, at least cols ({cols})"),
                ));
            }
        }
        if self.mask_inputs.len() > 1 {
            return Err(err(
                "mask_inputs",
                self.mask_inputs.len(),
                "at most one mask input per equation",
            ));
        }
        let mut kinds: Vec<ValueKind> = Vec::with_capacity(self.nodes.len());
        for (n, node) in self.nodes.iter().enumerate() {
            let what = |detail: String| format!("node {n} ({}): {detail}", op_name(node.op));
            for &a in node.operands() {
                if a as usize >= n {
                    return Err(err(
                        "node.operand",
                        what(format!("reads node {a}")),
                        "only nodes built before it, in the same equation",
                    ));
                }
            }
            let arg = |k: usize| kinds[node.args[k] as usize];
            let value = |k: usize| -> Result<Broadcast> {
                match arg(k) {
                    ValueKind::Value(s) => Ok(s),
                    ValueKind::Mask => Err(err(
                        "node.operand",
                        what(format!("operand {k} is a mask")),
                        "a value here (masks feed select, masked backward ops and mask outputs)",
                    )),
                }
            };
            let mask = |k: usize| -> Result<()> {
                match arg(k) {
                    ValueKind::Mask => Ok(()),
                    ValueKind::Value(_) => Err(err(
                        "node.operand",
                        what(format!("operand {k} is a value")),
                        "a mask (a mask input, a comparison or mask_of)",
                    )),
                }
            };
            let arity = |want: usize| -> Result<()> {
                if node.arity as usize == want {
                    Ok(())
                } else {
                    Err(err(
                        "node.operands",
                        what(format!("{} operands", node.arity)),
                        format!("{want}"),
                    ))
                }
            };
            let kind = match node.op {
                EqOp::Input(i) => {
                    let i = self.inputs.get(i as usize).ok_or_else(|| {
                        err("node.input", what(format!("input {i}")), "a declared input")
                    })?;
                    ValueKind::Value(i.shape)
                }
                EqOp::MaskInput(i) => {
                    if i as usize >= self.mask_inputs.len() {
                        return Err(err(
                            "node.input",
                            what(format!("mask input {i}")),
                            "a declared mask input",
                        ));
                    }
                    ValueKind::Mask
                }
                EqOp::Const(_) => ValueKind::Value(Broadcast::Scalar),
                EqOp::Unary(op) => {
                    if op.is_layout_transform() {
                        return Err(err(
                            "node.op",
                            what(op.name().into()),
                            "an elementwise op (layout transforms run as their own unary TPPs)",
                        ));
                    }
                    if op.reads_aux() {
                        arity(2)?;
                        ValueKind::Value(join(value(0)?, value(1)?))
                    } else if op.reads_mask() {
                        arity(2)?;
                        mask(1)?;
                        value(0)?;
                        ValueKind::Value(Broadcast::None)
                    } else {
                        arity(1)?;
                        let s = value(0)?;
                        if matches!(op, UnaryOp::Dropout { .. }) && s != Broadcast::None {
                            return Err(err(
                                "node.operand",
                                what(format!("dropout of a {s:?} value")),
                                "dropout of a full matrix (it draws per element)",
                            ));
                        }
                        if op.writes_mask() {
                            ValueKind::Value(Broadcast::None)
                        } else {
                            ValueKind::Value(s)
                        }
                    }
                }
                EqOp::Binary(op) => {
                    arity(2)?;
                    let s = join(value(0)?, value(1)?);
                    match op {
                        BinaryOp::MulAdd => {
                            return Err(err(
                                "node.op",
                                what("muladd".into()),
                                "ternary MulAdd (binary MulAdd accumulates into its output)",
                            ))
                        }
                        BinaryOp::Compare(_) => ValueKind::Mask,
                        _ => ValueKind::Value(s),
                    }
                }
                EqOp::Ternary(op) => {
                    arity(3)?;
                    if op == TernaryOp::Select {
                        mask(0)?;
                        join(value(1)?, value(2)?);
                        ValueKind::Value(Broadcast::None)
                    } else {
                        ValueKind::Value(join(join(value(0)?, value(1)?), value(2)?))
                    }
                }
                EqOp::Reduce(op, axis) => {
                    arity(1)?;
                    if op == ReduceOp::SumAndSumSq {
                        return Err(err(
                            "node.op",
                            what("sum_sumsq".into()),
                            "sum, max, min, absmax or sumsq (build Σx and Σx² as two nodes)",
                        ));
                    }
                    let s = value(0)?;
                    if s != Broadcast::None {
                        return Err(err(
                            "node.operand",
                            what(format!("reduction of a {s:?} value")),
                            "a reduction of a full matrix",
                        ));
                    }
                    ValueKind::Value(match axis {
                        ReduceAxis::PerRow => Broadcast::Col,
                        ReduceAxis::PerCol => Broadcast::Row,
                    })
                }
                EqOp::MaskOf => {
                    arity(1)?;
                    let src = self.nodes[node.args[0] as usize].op;
                    let writes = matches!(src, EqOp::Unary(u) if u.writes_mask());
                    if !writes {
                        return Err(err(
                            "node.operand",
                            what(format!("mask of {}", op_name(src))),
                            "a relu/leaky relu with mask: true, or a dropout node",
                        ));
                    }
                    ValueKind::Mask
                }
            };
            kinds.push(kind);
        }
        if self.outputs.is_empty() {
            return Err(err("outputs", 0, "at least one output"));
        }
        let mut mask_outputs = 0;
        for (n, o) in self.outputs.iter().enumerate() {
            let kind = *kinds.get(o.node.index()).ok_or_else(|| {
                err(
                    "output.node",
                    format!("output {n}: node {}", o.node.0),
                    "a node of this equation",
                )
            })?;
            match (o.kind, kind) {
                (EqOutputKind::Value { dtype, ld }, ValueKind::Value(s)) => {
                    if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
                        return Err(err(
                            "output.dtype",
                            format!("output {n}: {dtype:?}"),
                            "f32, bf16 or f16",
                        ));
                    }
                    if s == Broadcast::None && (ld < cols || ld > MAX_DIM) {
                        return Err(err(
                            "output.ld",
                            format!("output {n}: {ld}"),
                            format!("cols ({cols}) ..= {MAX_DIM}"),
                        ));
                    }
                }
                (EqOutputKind::Mask { ld_bits }, ValueKind::Mask) => {
                    mask_outputs += 1;
                    if ld_bits < cols || ld_bits % 8 != 0 || ld_bits > MAX_DIM {
                        return Err(err(
                            "output.ld_bits",
                            format!("output {n}: {ld_bits}"),
                            format!("a multiple of 8, at least cols ({cols})"),
                        ));
                    }
                }
                (EqOutputKind::Value { .. }, ValueKind::Mask) => {
                    return Err(err(
                        "output.kind",
                        format!("output {n}: node {} is a mask", o.node.0),
                        "mask_output for mask nodes",
                    ))
                }
                (EqOutputKind::Mask { .. }, ValueKind::Value(_)) => {
                    return Err(err(
                        "output.kind",
                        format!("output {n}: node {} is a value", o.node.0),
                        "output for value nodes",
                    ))
                }
            }
        }
        if mask_outputs > 1 {
            return Err(err(
                "outputs",
                format!("{mask_outputs} mask outputs"),
                "at most one mask output per equation",
            ));
        }
        Ok(kinds)
    }

    /// Short structural name for kernel names: space, node and output counts.
    pub fn name(&self, backend: &str) -> String {
        format!(
            "equation_{backend}_{}x{}_{}in_{}nodes_{}out",
            self.rows,
            self.cols,
            self.inputs.len(),
            self.nodes.len(),
            self.outputs.len()
        )
    }
}

/// The shape of an elementwise op's result.
pub fn join(a: Broadcast, b: Broadcast) -> Broadcast {
    use Broadcast::*;
    match (a, b) {
        (None, _) | (_, None) | (Row, Col) | (Col, Row) => None,
        (Row, _) | (_, Row) => Row,
        (Col, _) | (_, Col) => Col,
        (Scalar, Scalar) => Scalar,
    }
}

/// Lower-case name of an op, for messages.
pub fn op_name(op: EqOp) -> String {
    match op {
        EqOp::Input(i) => format!("input {i}"),
        EqOp::MaskInput(i) => format!("mask input {i}"),
        EqOp::Const(b) => format!("constant {}", f32::from_bits(b)),
        EqOp::Unary(u) => u.name().to_string(),
        EqOp::Binary(b) => b.name().to_string(),
        EqOp::Ternary(t) => t.name().to_string(),
        EqOp::Reduce(r, ReduceAxis::PerRow) => format!("{} per row", r.name()),
        EqOp::Reduce(r, ReduceAxis::PerCol) => format!("{} per column", r.name()),
        EqOp::MaskOf => "mask_of".to_string(),
    }
}
