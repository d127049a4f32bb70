//! Equation kernels: dispatch (cache keyed by the equation's structure), the driver that runs
//! a plan's passes over row blocks with the kernel's own scratch, and the safe and raw calls.

use crate::backend::Backend;
use crate::dispatch::{caps, env};
use crate::error::{Error, Result};
use crate::exec::{Exec, In, KernelInfo, Out};
use crate::isa::{Broadcast, DType, EqOutputKind, Equation};
use crate::lower::equation::{plan_within, Buf, Pass, PassPort, Plan, Space};
use crate::lower::Fold;
use rustc_hash::FxBuildHasher;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, RwLock};

/// The argument struct of one pass kernel (a micro-op program over `rows` rows).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProgramArgs {
    /// Pointer to the table of port pointers (`Port::Buf(n)` is entry `n`), each at the
    /// block's first row.
    pub ports: *const *mut c_void,
    /// Rows of this block.
    pub rows: u64,
    /// Position `i·cols` of the block's first element (dropout).
    pub position: u64,
    /// The call's seed (dropout).
    pub seed: u64,
    /// The mask input at the block's first row.
    pub mask_in: *const u8,
    /// The mask output at the block's first row.
    pub mask_out: *mut u8,
}

/// What a backend is asked to generate for one pass.
#[derive(Clone, Copy, Debug)]
pub struct ProgramSpec<'a> {
    /// The pass (program, ports, accumulators, masks).
    pub pass: &'a Pass,
    /// Columns of its space (0 for a pass over rows only).
    pub cols: usize,
    /// Store whole vectors of the full-matrix outputs with non-temporal stores (the caller
    /// guarantees their rows are 64-byte aligned, unless `peel`).
    pub stream: bool,
    /// With `stream`: the streamed outputs' rows may start anywhere (element-aligned, all at
    /// the same element phase); the kernel peels a masked head off each row to reach the
    /// vector boundary. A backend that cannot returns `None` for this spec.
    pub peel: bool,
    /// Full-matrix inputs to prefetch while the pass runs: the next row block's, so that
    /// their reads from memory overlap this pass's computation. Their pointers follow the
    /// pass's ports in the table, at the row one block below the pass's first row; a backend
    /// may ignore them.
    pub prefetch: &'a [PassPort],
}

/// The argument struct of an equation kernel (the C ABI's `tpp_equation_args`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EquationArgs {
    /// One pointer per value input, in declaration order.
    pub inputs: *const *const c_void,
    /// One pointer per output, in declaration order (a mask output's bitmask included).
    pub outputs: *const *mut c_void,
    /// The mask input (null when the equation reads none).
    pub mask_in: *const u8,
    /// Seed of the dropout nodes.
    pub seed: u64,
}

/// A pass's streaming-store variant.
struct Streaming {
    kernel: Box<dyn Exec<ProgramArgs>>,
    /// It peels a head off each row, so rows at any one element phase suit it.
    peels: bool,
}

enum Runner {
    /// The reference backend's node-by-node evaluation.
    Reference,
    /// JIT pass kernels, one per pass of the plan.
    Passes {
        plan: Plan,
        kernels: Vec<Box<dyn Exec<ProgramArgs>>>,
        /// For outputs larger than the caches: each pass that writes a full-matrix output
        /// again, with streaming stores: used when the output rows are 64-byte aligned, or
        /// by any rows at one phase when the kernel peels (the flag).
        streaming: Vec<Option<Streaming>>,
        /// Per pass, the inputs whose next row block it prefetches (see [`prefetches`]).
        prefetch: Vec<Vec<PassPort>>,
        /// Which outputs are full matrices (the ones streaming stores write).
        full: Vec<bool>,
        block_rows: usize,
    },
}

struct Inner {
    eq: Equation,
    info: KernelInfo,
    runner: Runner,
}

/// A dispatched equation: `Copy`, `Send + Sync`, alive for the rest of the process.
#[derive(Clone, Copy)]
pub struct EquationKernel {
    inner: &'static Inner,
}

impl std::fmt::Debug for EquationKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EquationKernel")
            .field("name", &self.inner.info.name)
            .field("backend", &self.inner.info.backend)
            .finish()
    }
}

impl PartialEq for EquationKernel {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.inner, other.inner)
    }
}
impl Eq for EquationKernel {}

type AutoMap = HashMap<Equation, EquationKernel, FxBuildHasher>;
type ForcedMap = HashMap<(&'static str, Equation), EquationKernel, FxBuildHasher>;
static AUTO: RwLock<Option<AutoMap>> = RwLock::new(None);
static FORCED: Mutex<Option<ForcedMap>> = Mutex::new(None);

// The cache keys hold an `Equation`, whose memo of its kernel is interior mutability that its
// `Hash` and `Eq` ignore (they see only the structure and its folded key).
#[allow(clippy::mutable_key_type)]
impl Equation {
    /// Validates the equation and returns its kernel (cached by structure).
    pub fn dispatch(&self) -> Result<EquationKernel> {
        if let Some(k) = self.kernel.get() {
            return Ok(*k);
        }
        if let Some(map) = AUTO.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if let Some(k) = map.get(self) {
                let _ = self.kernel.set(*k);
                return Ok(*k);
            }
        }
        self.validate()?;
        let mut guard = AUTO.write().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::default);
        if let Some(k) = map.get(self) {
            return Ok(*k);
        }
        let k = generate_auto(self);
        map.insert(self.clone(), k);
        let _ = self.kernel.set(k);
        Ok(k)
    }

    /// The kernel generated by the backend called `backend` (cached separately), or
    /// [`Error::Unsupported`] when it cannot generate every pass.
    pub fn dispatch_on(&self, backend: &str) -> Result<EquationKernel> {
        self.validate()?;
        let b = crate::dispatch::find(backend).ok_or_else(|| Error::Unsupported {
            backend: "dispatch",
            kernel: format!("equation on unknown backend `{backend}`"),
        })?;
        let mut guard = FORCED.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::default);
        if let Some(k) = map.get(&(b.name(), self.clone())) {
            return Ok(*k);
        }
        let k = generate_on(b, self).ok_or_else(|| Error::Unsupported {
            backend: b.name(),
            kernel: self.name(b.name()),
        })?;
        map.insert((b.name(), self.clone()), k);
        Ok(k)
    }
}

fn generate_auto(eq: &Equation) -> EquationKernel {
    let mut order = crate::dispatch::backends();
    if let Some(target) = &env::settings().target {
        if let Some(b) = crate::dispatch::find(target) {
            order = vec![b, crate::dispatch::reference()];
        }
    }
    for b in order {
        if let Some(k) = generate_on(b, eq) {
            env::log(|| format!("dispatch {} -> {}", k.name(), k.backend()));
            return k;
        }
    }
    unreachable!("the reference backend evaluates every valid equation")
}

fn generate_on(backend: &'static dyn Backend, eq: &Equation) -> Option<EquationKernel> {
    let runner = if backend.is_reference() {
        Runner::Reference
    } else {
        let plan = plan_within(eq, backend.program_registers())?;
        let big = full_output_bytes(eq) > stream_threshold();
        let block_rows = block_rows(eq, &plan);
        let prefetch = if block_rows < eq.rows() && prefetch_enabled() {
            prefetches(&plan)
        } else {
            vec![Vec::new(); plan.passes.len()]
        };
        let mut kernels = Vec::new();
        let mut streaming = Vec::new();
        for (pass, prefetch) in plan.passes.iter().zip(&prefetch) {
            let cols = if pass.space == Space::Rows {
                0
            } else {
                eq.cols()
            };
            let spec = ProgramSpec {
                pass,
                cols,
                stream: false,
                peel: false,
                prefetch,
            };
            kernels.push(backend.program(&spec)?);
            let streams = big && pass.ports.iter().any(|p| p.streams());
            // The peeling variant where the backend has one, else the aligned-only one.
            let variant = |peel| {
                let spec = ProgramSpec {
                    stream: true,
                    peel,
                    ..spec
                };
                backend.program(&spec).map(|kernel| Streaming {
                    kernel,
                    peels: peel,
                })
            };
            streaming.push(if streams {
                variant(true).or_else(|| variant(false))
            } else {
                None
            });
        }
        Runner::Passes {
            plan,
            kernels,
            streaming,
            prefetch,
            full: full_outputs(eq),
            block_rows,
        }
    };
    let code_size = match &runner {
        Runner::Reference => 0,
        Runner::Passes { kernels, .. } => kernels.iter().map(|k| k.code_size()).sum(),
    };
    let info = KernelInfo {
        backend: backend.name(),
        name: eq.name(backend.name()),
        flops: 0,
        is_reference: backend.is_reference(),
        code_size,
    };
    let inner = Box::leak(Box::new(Inner {
        eq: eq.clone(),
        info,
        runner,
    }));
    Some(EquationKernel { inner })
}

/// Full-matrix outputs larger than this many bytes get streaming-store variants:
/// `TPP_STREAM_BYTES`, or half the L3 (read at each new dispatch, which takes far longer).
fn stream_threshold() -> usize {
    std::env::var("TPP_STREAM_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(caps::caches().l3 / 2)
}

/// `TPP_EQ_PREFETCH=0` turns the next-block prefetch off (to measure what it brings).
fn prefetch_enabled() -> bool {
    std::env::var("TPP_EQ_PREFETCH").map_or(true, |v| v.trim() != "0")
}

/// Where the rows of a call's full-matrix outputs start, as streaming stores see them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum StreamRows {
    /// Every row of every one 64-byte aligned: any streaming variant.
    Aligned,
    /// Element-aligned, every row of every output at the same element phase modulo a vector
    /// (16 elements): the peeling variants.
    Phased,
    /// Neither: ordinary stores.
    Anywhere,
}

fn stream_rows(eq: &Equation, outputs: &[*mut c_void], full: &[bool]) -> StreamRows {
    let mut aligned = true;
    let mut phase: Option<(usize, usize)> = None;
    for ((o, &p), &f) in eq.outputs().iter().zip(outputs).zip(full) {
        let EqOutputKind::Value { dtype, ld } = o.kind else {
            continue;
        };
        if !f {
            continue;
        }
        let (p, size) = (p as usize, dtype.size());
        aligned &= p.is_multiple_of(64) && (ld * size).is_multiple_of(64);
        if !p.is_multiple_of(size) {
            return StreamRows::Anywhere;
        }
        let this = ((p / size) % 16, ld % 16);
        if *phase.get_or_insert(this) != this {
            return StreamRows::Anywhere;
        }
    }
    match (aligned, phase) {
        (true, _) => StreamRows::Aligned,
        (false, Some(_)) => StreamRows::Phased,
        (false, None) => StreamRows::Anywhere,
    }
}

/// Which outputs are full matrices.
fn full_outputs(eq: &Equation) -> Vec<bool> {
    eq.outputs()
        .iter()
        .map(|o| {
            matches!(
                eq.kind_of(o.node),
                Ok(crate::isa::ValueKind::Value(Broadcast::None))
            )
        })
        .collect()
}

/// Bytes of the full-matrix value outputs.
fn full_output_bytes(eq: &Equation) -> usize {
    eq.outputs()
        .iter()
        .map(|o| match (o.kind, eq.kind_of(o.node)) {
            (
                EqOutputKind::Value { dtype, ld },
                Ok(crate::isa::ValueKind::Value(Broadcast::None)),
            ) => eq.rows() * ld * dtype.size(),
            _ => 0,
        })
        .sum()
}

/// Rows per block: the full-matrix bytes a row touches in any group, times the block, fit
/// half of L2 (the other half takes the next block's prefetched inputs and the rest).
/// `TPP_EQ_BLOCK_ROWS` sets it instead (tests use it to run many blocks on small shapes).
fn block_rows(eq: &Equation, plan: &Plan) -> usize {
    if let Some(n) = std::env::var("TPP_EQ_BLOCK_ROWS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return n.clamp(1, eq.rows().max(1));
    }
    let mut per_row = 0usize;
    let groups = plan.passes.iter().map(|p| p.group).max().unwrap_or(0) + 1;
    for g in 0..groups {
        let mut bufs: Vec<(Buf, usize)> = Vec::new();
        for p in plan.passes.iter().filter(|p| p.group == g) {
            for port in p.ports.iter().filter(|q| q.shape == Broadcast::None) {
                if !bufs.iter().any(|b| b.0 == port.buf) {
                    bufs.push((port.buf, eq.cols() * port.dtype.size()));
                }
            }
        }
        per_row = per_row.max(bufs.iter().map(|b| b.1).sum());
    }
    let budget = caps::caches().l2 / 2;
    (budget / per_row.max(1)).clamp(1, eq.rows())
}

/// Which pass prefetches what: in each group of several passes over rows, the group's first
/// pass reads its full-matrix inputs from memory and the later ones work on the block in L2,
/// leaving the memory idle; the later pass with the most micro-ops (the one with the most
/// computation to hide the reads behind) prefetches the next block of those inputs.
fn prefetches(plan: &Plan) -> Vec<Vec<PassPort>> {
    let mut out = vec![Vec::new(); plan.passes.len()];
    let mut p = 0;
    while p < plan.passes.len() {
        let group = plan.passes[p].group;
        let end = p + plan.passes[p..]
            .iter()
            .take_while(|q| q.group == group)
            .count();
        let heaviest = (p + 1..end)
            .filter(|&q| plan.passes[q].space == Space::Full)
            .max_by_key(|&q| plan.passes[q].program.ops.len());
        if let (Some(q), false) = (heaviest, plan.passes[p].space == Space::Cols) {
            let mut inputs: Vec<PassPort> = Vec::new();
            for port in &plan.passes[p].ports {
                let streamed = matches!(port.buf, Buf::Input(_)) && port.shape == Broadcast::None;
                if streamed && !inputs.iter().any(|i| i.buf == port.buf) {
                    inputs.push(*port);
                }
            }
            out[q] = inputs;
        }
        p = end;
    }
    out
}

thread_local! {
    /// Each thread's scratch for the equations it runs (grown as needed, never shrunk).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl EquationKernel {
    /// The equation the kernel was generated from.
    pub fn equation(&self) -> &Equation {
        &self.inner.eq
    }
    /// Where it came from and what it is.
    pub fn info(&self) -> &KernelInfo {
        &self.inner.info
    }
    /// The kernel's identity: the address of its process-lifetime record.
    pub(crate) fn addr(&self) -> usize {
        std::ptr::from_ref(self.inner).addr()
    }
    /// Name of the backend that generated it.
    pub fn backend(&self) -> &'static str {
        self.inner.info.backend
    }
    /// Descriptive name.
    pub fn name(&self) -> &str {
        &self.inner.info.name
    }
    /// True when the reference backend evaluates it (no JIT backend generated every pass).
    pub fn is_reference(&self) -> bool {
        self.inner.info.is_reference
    }
    /// Number of passes over the space (1 for a purely elementwise equation; 0 for the
    /// reference).
    pub fn passes(&self) -> usize {
        match &self.inner.runner {
            Runner::Reference => 0,
            Runner::Passes { plan, .. } => plan.passes.len(),
        }
    }

    /// True when every pass that stores a full-matrix output has a streaming-store variant
    /// (outputs larger than `TPP_STREAM_BYTES`, default half the L3) that takes rows at any
    /// element alignment, not only 64-byte aligned ones.
    pub fn streams_unaligned_rows(&self) -> bool {
        match &self.inner.runner {
            Runner::Reference => false,
            Runner::Passes {
                plan, streaming, ..
            } => plan.passes.iter().zip(streaming).all(|(pass, s)| {
                !pass.ports.iter().any(|p| p.streams()) || matches!(s, Some(v) if v.peels)
            }),
        }
    }

    /// Number of passes that prefetch the next row block's inputs while they compute (0 when
    /// the equation fits one block, has one pass per group, or `TPP_EQ_PREFETCH=0`).
    pub fn prefetching_passes(&self) -> usize {
        match &self.inner.runner {
            Runner::Reference => 0,
            Runner::Passes { prefetch, .. } => prefetch.iter().filter(|p| !p.is_empty()).count(),
        }
    }

    /// True when output `output` may share its memory with input `input` in a raw call:
    /// same shape, dtype and leading dimension, and no part of the kernel reads the input
    /// after the output's elements are written.
    pub fn may_alias(&self, input: usize, output: usize) -> bool {
        let eq = &self.inner.eq;
        let (Some(i), Some(o)) = (eq.inputs().get(input), eq.outputs().get(output)) else {
            return false;
        };
        let EqOutputKind::Value { dtype, ld } = o.kind else {
            return false;
        };
        let shape = match eq.kind_of(o.node) {
            Ok(crate::isa::ValueKind::Value(s)) => s,
            _ => return false,
        };
        if i.dtype != dtype || i.shape != shape || (shape == Broadcast::None && i.ld != ld) {
            return false;
        }
        match &self.inner.runner {
            Runner::Reference => true,
            Runner::Passes { plan, .. } => {
                let (ib, ob) = (Buf::Input(input as u16), Buf::Output(output as u16));
                let mut written = false;
                for pass in &plan.passes {
                    let port = |b: Buf| pass.ports.iter().position(|p| p.buf == b);
                    let (ip, op) = (port(ib), port(ob));
                    if written && ip.is_some() {
                        return false;
                    }
                    if let Some(op) = op {
                        // Within the pass every load of the input precedes every store.
                        let mut stored = false;
                        for m in &pass.program.ops {
                            match *m {
                                crate::lower::MicroOp::Store { port, .. }
                                    if port == crate::lower::Port::Buf(op as u16) =>
                                {
                                    stored = true
                                }
                                crate::lower::MicroOp::Load { port, .. }
                                    if stored
                                        && Some(port)
                                            == ip.map(|p| crate::lower::Port::Buf(p as u16)) =>
                                {
                                    return false;
                                }
                                _ => {}
                            }
                        }
                        written = true;
                    }
                }
                true
            }
        }
    }

    /// Runs the equation on typed slices: `inputs` and `outputs` in declaration order, each
    /// checked for dtype and length (a mask output is a `&mut [u8]` bitmask). No mask input;
    /// seed 0.
    pub fn call(&self, inputs: &[In], outputs: &mut [Out]) -> Result<()> {
        self.call_with(inputs, None, outputs, 0)
    }

    /// [`EquationKernel::call`] with the mask input (if the equation reads one) and the seed of
    /// its dropout nodes.
    pub fn call_with(
        &self,
        inputs: &[In],
        mask_in: Option<&[u8]>,
        outputs: &mut [Out],
        seed: u64,
    ) -> Result<()> {
        let eq = &self.inner.eq;
        if inputs.len() != eq.inputs().len() {
            return Err(Error::operand(
                "inputs",
                format!(
                    "{} given, the equation declares {}",
                    inputs.len(),
                    eq.inputs().len()
                ),
            ));
        }
        if outputs.len() != eq.outputs().len() {
            return Err(Error::operand(
                "outputs",
                format!(
                    "{} given, the equation declares {}",
                    outputs.len(),
                    eq.outputs().len()
                ),
            ));
        }
        let mut in_ptrs = Vec::with_capacity(inputs.len());
        for (n, (x, d)) in inputs.iter().zip(eq.inputs()).enumerate() {
            in_ptrs.push(x.check("inputs", d.dtype, eq.input_len(n))?);
        }
        let mut out_ptrs = Vec::with_capacity(outputs.len());
        for (n, (y, d)) in outputs.iter_mut().zip(eq.outputs()).enumerate() {
            let dtype = match d.kind {
                EqOutputKind::Value { dtype, .. } => dtype,
                EqOutputKind::Mask { .. } => DType::U8,
            };
            out_ptrs.push(y.check("outputs", dtype, eq.output_len(n))?);
        }
        let mask_ptr = match (eq.mask_inputs().is_empty(), mask_in) {
            (true, None) => std::ptr::null(),
            (false, Some(m)) => {
                crate::exec::operand::check_mask("mask_in", m.len(), eq.mask_input_len(0))?;
                m.as_ptr()
            }
            (true, Some(_)) => {
                return Err(Error::operand("mask_in", "the equation reads no mask"));
            }
            (false, None) => {
                return Err(Error::operand("mask_in", "the equation reads a mask input"));
            }
        };
        let args = EquationArgs {
            inputs: in_ptrs.as_ptr(),
            outputs: out_ptrs.as_ptr().cast(),
            mask_in: mask_ptr,
            seed,
        };
        // SAFETY: every pointer was checked against the extents the equation implies, and
        // safe slices cannot alias.
        unsafe { self.call_raw(&args) };
        Ok(())
    }

    /// Runs the equation through its raw ABI.
    ///
    /// # Safety
    /// `args.inputs` and `args.outputs` must point to one pointer per input and output, each
    /// valid for the extent [`Equation::input_len`] / [`Equation::output_len`] gives (in
    /// elements of its dtype; bytes for bitmasks), `mask_in` for [`Equation::mask_input_len`]
    /// bytes when the equation reads a mask. Outputs must not overlap inputs or each other,
    /// except an output over an input for which [`EquationKernel::may_alias`] is true.
    pub unsafe fn call_raw(&self, args: &EquationArgs) {
        let eq = &self.inner.eq;
        let inputs = std::slice::from_raw_parts(args.inputs, eq.inputs().len());
        let outputs = std::slice::from_raw_parts(args.outputs, eq.outputs().len());
        match &self.inner.runner {
            Runner::Reference => crate::backend::reference::equation::run(
                eq,
                inputs,
                outputs,
                args.mask_in,
                args.seed,
            ),
            Runner::Passes {
                plan,
                kernels,
                streaming,
                prefetch,
                full,
                block_rows,
            } => {
                let rows = stream_rows(eq, outputs, full);
                let mask_out = eq
                    .outputs()
                    .iter()
                    .position(|o| matches!(o.kind, EqOutputKind::Mask { .. }))
                    .map_or(std::ptr::null_mut(), |n| outputs[n].cast::<u8>());
                let run = Run {
                    eq,
                    plan,
                    kernels,
                    streaming,
                    rows,
                    prefetch,
                    block: *block_rows,
                    inputs,
                    outputs,
                    mask_in: args.mask_in,
                    mask_out,
                    seed: args.seed,
                };
                SCRATCH.with(|s| match s.try_borrow_mut() {
                    Ok(mut s) => run.go(&mut s),
                    // Re-entered from inside a kernel (cannot happen today): own scratch.
                    Err(_) => run.go(&mut Vec::new()),
                });
            }
        }
    }
}

/// One call of a pass-based kernel.
struct Run<'a> {
    eq: &'a Equation,
    plan: &'a Plan,
    kernels: &'a [Box<dyn Exec<ProgramArgs>>],
    streaming: &'a [Option<Streaming>],
    /// Which streaming variants the outputs' rows allow.
    rows: StreamRows,
    prefetch: &'a [Vec<PassPort>],
    block: usize,
    inputs: &'a [*const c_void],
    outputs: &'a [*mut c_void],
    mask_in: *const u8,
    mask_out: *mut u8,
    seed: u64,
}

impl Run<'_> {
    unsafe fn go(&self, scratch: &mut Vec<f32>) {
        let (rows, cols) = (self.eq.rows(), self.eq.cols());
        // Scratch layout.
        let mut offsets = Vec::with_capacity(self.plan.scratch.len());
        let mut total = 0usize;
        for s in &self.plan.scratch {
            offsets.push(total);
            total += match s.shape {
                Broadcast::None if s.per_block => self.block * cols,
                Broadcast::None => rows * cols,
                Broadcast::Row => cols,
                Broadcast::Col => rows,
                Broadcast::Scalar => 1,
            };
        }
        if scratch.len() < total {
            scratch.resize(total, 0.0);
        }
        let base = scratch.as_mut_ptr();
        let mut ptrs: Vec<*mut c_void> = Vec::new();
        let mut p = 0;
        while p < self.plan.passes.len() {
            let group = self.plan.passes[p].group;
            let end = p + self.plan.passes[p..]
                .iter()
                .take_while(|q| q.group == group)
                .count();
            for (s, sb) in self.plan.scratch.iter().enumerate() {
                if let (Some(fold), true) = (sb.init, sb.group == group) {
                    let v = match fold {
                        Fold::Sum => 0.0,
                        Fold::Max => f32::NEG_INFINITY,
                        Fold::Min => f32::INFINITY,
                    };
                    scratch[offsets[s]..offsets[s] + cols].fill(v);
                }
            }
            if self.plan.passes[p].space == Space::Cols {
                for q in p..end {
                    self.pass(q, 0, 1, base, &offsets, &mut ptrs);
                }
            } else {
                let mut row0 = 0;
                while row0 < rows {
                    let n = self.block.min(rows - row0);
                    for q in p..end {
                        self.pass(q, row0, n, base, &offsets, &mut ptrs);
                    }
                    row0 += n;
                }
            }
            p = end;
        }
    }

    /// Runs pass `q` on rows `row0..row0 + n`.
    unsafe fn pass(
        &self,
        q: usize,
        row0: usize,
        n: usize,
        base: *mut f32,
        offsets: &[usize],
        ptrs: &mut Vec<*mut c_void>,
    ) {
        let pass = &self.plan.passes[q];
        ptrs.clear();
        for port in &pass.ports {
            let (ptr, per_block): (*mut u8, bool) = match port.buf {
                Buf::Input(i) => (self.inputs[i as usize] as *mut u8, false),
                Buf::Output(o) => (self.outputs[o as usize].cast(), false),
                Buf::Scratch(s) => (
                    base.add(offsets[s as usize]).cast(),
                    self.plan.scratch[s as usize].per_block,
                ),
            };
            let off = match port.shape {
                Broadcast::None if per_block => 0,
                Broadcast::None => row0 * port.ld,
                Broadcast::Col => row0,
                Broadcast::Row | Broadcast::Scalar => 0,
            };
            ptrs.push(ptr.add(off * port.dtype.size()).cast());
        }
        // The next block's first row; the last block touches itself again (no row past the
        // matrix is ever named; a block shorter than this one is prefetched past its end,
        // which prefetch instructions allow: they never fault).
        let next = if row0 + n < self.eq.rows() {
            row0 + n
        } else {
            row0
        };
        for port in &self.prefetch[q] {
            if let Buf::Input(i) = port.buf {
                let at = next * port.ld * port.dtype.size();
                ptrs.push(self.inputs[i as usize].cast::<u8>().add(at) as *mut c_void);
            }
        }
        let mask_at = |bits: Option<usize>| bits.map_or(0, |b| row0 * b / 8);
        let args = ProgramArgs {
            ports: ptrs.as_ptr(),
            rows: n as u64,
            position: (row0 * self.eq.cols()) as u64,
            seed: self.seed,
            mask_in: if self.mask_in.is_null() {
                self.mask_in
            } else {
                self.mask_in.add(mask_at(pass.mask_in))
            },
            mask_out: if self.mask_out.is_null() {
                self.mask_out
            } else {
                self.mask_out.add(mask_at(pass.mask_out))
            },
        };
        match (self.streaming.get(q), self.rows) {
            (Some(Some(v)), StreamRows::Aligned) => v.kernel.run(&args),
            (Some(Some(v)), StreamRows::Phased) if v.peels => v.kernel.run(&args),
            _ => self.kernels[q].run(&args),
        }
    }
}
