//! The row-wise driver of equation passes that fold: one warp per row (8 warps a block, a grid
//! stride over rows), running every pass of a group on its row in turn. The lanes of a warp
//! walk the row 32 columns at a time (consecutive lanes, consecutive columns: coalesced), so
//! the column loop and the row loop are the same for every lane of a warp and warp-wide
//! instructions are safe in them. An element is computed by the same lane in every pass, so
//! what a pass stores per element the next one reads back without synchronisation; what lane
//! 0 stores per row is published to the warp by `bar.warp.sync` between passes.
//!
//! - **Once per kernel:** the programs' constants and seed halves.
//! - **Once per row:** the ops [`Assignment::of_rows`] hoists (loads of column vectors and
//!   scalars, what is computed from them, the stores of per-row outputs — by lane 0 only).
//! - **Every element:** the rest. Lanes past the row's end skip it.
//! - **Row accumulators** ([`crate::lower::MicroOp::Accumulate`]): each lane folds its
//!   elements, then five butterfly shuffles fold the warp and lane 0 stores the row's value.
//! - **Column reductions** (a scratch row the program reads, folds and writes back): each
//!   block folds its rows into a shared-memory copy of the row (shared atomics), and after the
//!   last row folds that copy into the scratch row with one global atomic per column. Rows too
//!   wide for shared memory fold straight into the scratch row. Sums use `red.add.f32`;
//!   the NaN-propagating max and min a compare-and-swap loop. The order of the folds varies
//!   from run to run, so a sum may differ in its last bits between runs.
//! - **Bitmask output:** the warp's 32 bits of a step come from one `vote.ballot`, and the
//!   lanes at multiples of 8 store whole bytes.

use super::eltwise::{MaskSpec, PortSpec};
use super::equation::identity;
use super::microops::{self, load_f32, store_f32, Ports, Registers};
use super::ptx::{
    f32_imm, module, Declined, KernelBuilder, Launch, Pred, PtxKernel, Target, R32, R64,
};
use crate::isa::{Broadcast, DType};
use crate::lower::regalloc::{invariant_def, Assignment};
use crate::lower::{Fold, Port, Program};

/// Warps (rows in flight) per block.
pub const WARPS: u32 = 8;
const THREADS: u32 = 32 * WARPS;
/// Most blocks of a launch (the grid strides over the rows past them).
const MAX_BLOCKS: usize = 4096;
/// Largest shared-memory copy of the column reductions (bytes): more needs an opt-in.
const MAX_STAGING: usize = 48 * 1024;

/// One pass of a row-wise kernel.
#[derive(Clone, Debug)]
pub struct RowPass<'a> {
    /// The pass's program.
    pub program: &'a Program,
    /// Its operands (`Port::Buf(n)` is `ports[n]`; their argument offsets name the kernel's
    /// operand table, which the passes of one kernel share).
    pub ports: Vec<PortSpec>,
    /// Row accumulators: fold and operand (an f32 column vector) of each.
    pub accs: Vec<(Fold, u16)>,
    /// Column reductions: operand (an f32 row vector the program loads, folds and stores)
    /// and fold of each.
    pub colred: Vec<(u16, Fold)>,
    /// The bitmask the program reads.
    pub mask_in: Option<MaskSpec>,
    /// The bitmask the program writes.
    pub mask_out: Option<MaskSpec>,
}

/// A row-wise kernel: passes that every warp runs in turn on its row (a group of the plan:
/// a pass reads only what earlier passes computed for the same row).
#[derive(Clone, Debug)]
pub struct RowKernelSpec<'a> {
    /// The kernel's name.
    pub name: String,
    /// Rows of the space.
    pub rows: usize,
    /// Columns of the space.
    pub cols: usize,
    /// The passes, in order.
    pub passes: Vec<RowPass<'a>>,
    /// Byte offset of the u64 seed in the argument struct.
    pub seed_offset: usize,
    /// Size of the argument struct.
    pub arg_bytes: usize,
}

impl RowKernelSpec<'_> {
    fn colreds(&self) -> usize {
        self.passes.iter().map(|p| p.colred.len()).sum()
    }
}

/// Bytes of the shared-memory copy of the column reductions (0: they fold into global memory).
pub fn staging_bytes(spec: &RowKernelSpec) -> usize {
    let bytes = spec.colreds() * spec.cols * 4;
    if bytes <= MAX_STAGING {
        bytes
    } else {
        0
    }
}

/// The launch geometry: one warp per row, at most `MAX_BLOCKS` blocks.
pub fn launch(spec: &RowKernelSpec) -> Launch {
    Launch {
        grid: (
            spec.rows.div_ceil(WARPS as usize).clamp(1, MAX_BLOCKS) as u32,
            1,
            1,
        ),
        block: (32, WARPS, 1),
        smem_bytes: staging_bytes(spec) as u32,
    }
}

/// `[addr] = fold([addr], v)` atomically, in `space` (`shared` or `global`).
fn atomic_fold(k: &mut KernelBuilder, space: &str, fold: Fold, addr: R64, v: R32) {
    if fold == Fold::Sum {
        k.inst(format!("red.{space}.add.f32 [{addr}], {v}"));
        return;
    }
    // Compare and swap until no other thread changed the value in between.
    let (old, new, seen) = (k.r32(), k.r32(), k.r32());
    let again = k.pred();
    let op = if fold == Fold::Max { "max" } else { "min" };
    k.inst(format!("ld.{space}.b32 {old}, [{addr}]"));
    let top = k.label();
    k.place(top);
    k.inst(format!("{op}.NaN.f32 {new}, {old}, {v}"));
    k.inst(format!(
        "atom.{space}.cas.b32 {seen}, [{addr}], {old}, {new}"
    ));
    k.inst(format!("setp.ne.b32 {again}, {seen}, {old}"));
    k.inst(format!("mov.b32 {old}, {seen}"));
    k.branch_if(again, false, top);
}

/// The combination of two partial folds.
fn combine(k: &mut KernelBuilder, fold: Fold, acc: R32, other: R32) {
    match fold {
        Fold::Sum => k.inst(format!("add.rn.f32 {acc}, {acc}, {other}")),
        Fold::Max => k.inst(format!("max.NaN.f32 {acc}, {acc}, {other}")),
        Fold::Min => k.inst(format!("min.NaN.f32 {acc}, {acc}, {other}")),
    }
}

/// Which part of the kernel the program's ops are being emitted into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the rows: constants and seeds.
    Kernel,
    /// At a row's start.
    Row,
    /// For one element.
    Element,
}

/// The per-row state and the element being computed, as the program's ports see them.
struct Rows<'s> {
    spec: &'s RowPass<'s>,
    cols: usize,
    /// Index of the pass's first column reduction among the kernel's.
    colred_base: usize,
    phase: Phase,
    /// Each operand's base address.
    bases: Vec<R64>,
    /// Each full-matrix operand's address at the row's first element; each column vector's
    /// address at the row.
    row_addr: Vec<Option<R64>>,
    row: R32,
    col: R32,
    lane0: Pred,
    accs: Vec<R32>,
    /// Shared-memory base of the column reductions' copy (None: global atomics).
    staging: Option<R64>,
    mask_in: Option<R64>,
    mask_bit: Option<R32>,
    seeds: [Option<R32>; 2],
}

impl Rows<'_> {
    fn operand(&self, port: Port) -> Result<(usize, PortSpec), Declined> {
        let Port::Buf(n) = port else {
            return Err(Declined(format!(
                "equation passes use Port::Buf, not {port:?}"
            )));
        };
        let spec =
            self.spec.ports.get(n as usize).ok_or_else(|| {
                Declined(format!("program uses operand {n}, which the pass lacks"))
            })?;
        Ok((n as usize, *spec))
    }

    fn address(&mut self, k: &mut KernelBuilder, n: usize, p: PortSpec) -> Result<R64, Declined> {
        let size = p.dtype.size() as u32;
        match (p.broadcast, self.phase) {
            (Broadcast::Scalar, _) => Ok(self.bases[n]),
            (Broadcast::Col, _) => {
                self.row_addr[n].ok_or_else(|| Declined(format!("operand {n} has no row address")))
            }
            (Broadcast::Row, Phase::Element) => Ok(k.address(self.bases[n], self.col, size)),
            (Broadcast::None, Phase::Element) => {
                let base = self.row_addr[n]
                    .ok_or_else(|| Declined(format!("operand {n} has no row address")))?;
                Ok(k.address(base, self.col, size))
            }
            (shape, _) => Err(Declined(format!(
                "operand {n} ({shape:?}) is read outside the column loop"
            ))),
        }
    }

    fn colred(&self, n: usize) -> Option<(usize, Fold)> {
        self.spec
            .colred
            .iter()
            .position(|&(m, _)| m as usize == n)
            .map(|i| (self.colred_base + i, self.spec.colred[i].1))
    }
}

impl Ports for Rows<'_> {
    fn load(&mut self, k: &mut KernelBuilder, port: Port, dst: R32) -> Result<(), Declined> {
        let (n, p) = self.operand(port)?;
        if let Some((_, fold)) = self.colred(n) {
            // The program folds the element into the value it loads and stores the result
            // back: load the identity here, and fold atomically in `store`.
            k.inst(format!("mov.b32 {dst}, {}", f32_imm(identity(fold))));
            return Ok(());
        }
        let addr = self.address(k, n, p)?;
        load_f32(k, p.dtype, addr, dst)
    }

    fn store(&mut self, k: &mut KernelBuilder, port: Port, src: R32) -> Result<(), Declined> {
        let (n, p) = self.operand(port)?;
        if let Some((i, fold)) = self.colred(n) {
            if self.phase != Phase::Element || p.dtype != DType::F32 {
                return Err(Declined(format!(
                    "column reduction {n} outside the columns"
                )));
            }
            match self.staging {
                Some(smem) => {
                    // smem + (i·cols + col)·4
                    let at = k.r32();
                    k.inst(format!("add.u32 {at}, {}, {}", self.col, i * self.cols));
                    let a = k.address(smem, at, 4);
                    atomic_fold(k, "shared", fold, a, src);
                }
                None => {
                    let a = k.address(self.bases[n], self.col, 4);
                    atomic_fold(k, "global", fold, a, src);
                }
            }
            return Ok(());
        }
        match (p.broadcast, self.phase) {
            (Broadcast::None | Broadcast::Row, Phase::Element) => {
                let addr = self.address(k, n, p)?;
                store_f32(k, p.dtype, addr, src)
            }
            (Broadcast::Col | Broadcast::Scalar, Phase::Row) => {
                // Every lane holds the row's value: lane 0 stores it.
                let skip = k.label();
                k.branch_if(self.lane0, true, skip);
                let addr = self.address(k, n, p)?;
                store_f32(k, p.dtype, addr, src)?;
                k.place(skip);
                Ok(())
            }
            (shape, _) => Err(Declined(format!(
                "operand {n} ({shape:?}) is stored where its value is not the row's"
            ))),
        }
    }

    fn load_mask(&mut self, k: &mut KernelBuilder, dst: Pred) -> Result<(), Declined> {
        let (Some(base), Some(m)) = (self.mask_in, self.spec.mask_in) else {
            return Err(Declined("program reads a mask the pass lacks".into()));
        };
        // Bit row·ld_bits + col, in byte (row·ld_bits + col)/8 (ld_bits is a multiple of 8).
        let (byte, bit) = (k.r32(), k.r32());
        k.inst(format!("shr.u32 {byte}, {}, 3", self.col));
        let idx = k.r64();
        k.inst(format!(
            "mul.wide.u32 {idx}, {}, {}",
            self.row,
            m.ld_bits / 8
        ));
        let a = k.address(base, byte, 1);
        k.inst(format!("add.u64 {a}, {a}, {idx}"));
        let v = k.r32();
        k.inst(format!("ld.global.u8 {v}, [{a}]"));
        k.inst(format!("and.b32 {bit}, {}, 7", self.col));
        k.inst(format!("shr.u32 {v}, {v}, {bit}"));
        k.inst(format!("and.b32 {v}, {v}, 1"));
        k.inst(format!("setp.ne.u32 {dst}, {v}, 0"));
        Ok(())
    }

    fn store_mask(&mut self, k: &mut KernelBuilder, src: Pred) -> Result<(), Declined> {
        let bit = self
            .mask_bit
            .ok_or_else(|| Declined("program writes a mask the pass lacks".into()))?;
        k.inst(format!("selp.b32 {bit}, 1, 0, {src}"));
        Ok(())
    }

    fn position(&mut self, k: &mut KernelBuilder) -> Result<R32, Declined> {
        let r = k.r32();
        k.inst(format!(
            "mad.lo.u32 {r}, {}, {}, {}",
            self.row, self.cols as u32, self.col
        ));
        Ok(r)
    }

    fn seed(&mut self, _k: &mut KernelBuilder, high: bool) -> Result<R32, Declined> {
        self.seeds[high as usize].ok_or_else(|| Declined("the seed is not loaded".into()))
    }

    fn accumulate(&mut self, k: &mut KernelBuilder, acc: u16, src: R32) -> Result<(), Declined> {
        let (fold, _) = *self
            .spec
            .accs
            .get(acc as usize)
            .ok_or_else(|| Declined(format!("row accumulator {acc} is not declared")))?;
        combine(k, fold, self.accs[acc as usize], src);
        Ok(())
    }
}

/// A pass's state in the kernel: its ports' registers, its program's registers and hoisting.
struct PassState<'s> {
    rows: Rows<'s>,
    regs: Registers,
    asg: Assignment,
    mask_out: Option<(MaskSpec, R64)>,
}

/// Generates the kernel.
pub fn generate(spec: &RowKernelSpec, target: Target) -> Result<PtxKernel, Declined> {
    use crate::lower::MicroOp as M;
    let mut k = KernelBuilder::new(&spec.name, spec.arg_bytes, THREADS);
    let staging = staging_bytes(spec);
    if staging > 0 {
        k.use_dynamic_smem();
    }
    let (lane, warp, cta, ncta) = (
        k.special("%tid.x"),
        k.special("%tid.y"),
        k.special("%ctaid.x"),
        k.special("%nctaid.x"),
    );
    let tid = k.r32();
    k.inst(format!("mad.lo.u32 {tid}, {warp}, 32, {lane}"));
    let lane0 = k.pred();
    k.inst(format!("setp.eq.u32 {lane0}, {lane}, 0"));
    let reads_seed = spec
        .passes
        .iter()
        .any(|p| p.program.ops.iter().any(|o| matches!(o, M::Seed { .. })));
    let seeds = if reads_seed {
        [
            Some(k.arg_u32(spec.seed_offset)),
            Some(k.arg_u32(spec.seed_offset + 4)),
        ]
    } else {
        [None, None]
    };

    // The shared copy of the column reductions starts at the identities.
    let colred_folds: Vec<Fold> = spec
        .passes
        .iter()
        .flat_map(|p| p.colred.iter().map(|c| c.1))
        .collect();
    let smem = if staging > 0 {
        let s = k.r64();
        k.inst(format!("mov.u64 {s}, smem"));
        for (i, &fold) in colred_folds.iter().enumerate() {
            strided(&mut k, tid, spec.cols, |k, j| {
                let at = k.r32();
                k.inst(format!("add.u32 {at}, {j}, {}", i * spec.cols));
                let a = k.address(s, at, 4);
                k.inst(format!("st.shared.b32 [{a}], {}", f32_imm(identity(fold))));
            });
        }
        k.inst("bar.sync 0");
        Some(s)
    } else {
        None
    };

    // Each pass's operands and loop-invariant values, once.
    let (row, col) = (k.r32(), k.r32());
    let mut states = Vec::with_capacity(spec.passes.len());
    let mut colred_base = 0;
    for pass in &spec.passes {
        let program = pass.program;
        let uses = |f: fn(&M) -> bool| program.ops.iter().any(f);
        let reads_mask = uses(|o| matches!(o, M::LoadMask { .. }));
        let writes_mask = uses(|o| matches!(o, M::StoreMask { .. }));
        let per_row = |p: Port| match p {
            Port::Buf(n) => pass
                .ports
                .get(n as usize)
                .is_some_and(|q| matches!(q.broadcast, Broadcast::Col | Broadcast::Scalar)),
            _ => false,
        };
        let asg = Assignment::of_rows(program, &per_row);
        let bases: Vec<R64> = pass.ports.iter().map(|p| k.arg_u64(p.arg_offset)).collect();
        let mask_in = match (pass.mask_in, reads_mask) {
            (Some(m), true) => Some(k.arg_u64(m.arg_offset)),
            (None, true) => return Err(Declined("program reads a mask the pass lacks".into())),
            _ => None,
        };
        let mask_out = match (pass.mask_out, writes_mask) {
            (Some(m), true) => Some((m, k.arg_u64(m.arg_offset))),
            (None, true) => return Err(Declined("program writes a mask the pass lacks".into())),
            _ => None,
        };
        let mut rows = Rows {
            spec: pass,
            cols: spec.cols,
            colred_base,
            phase: Phase::Kernel,
            bases,
            row_addr: vec![None; pass.ports.len()],
            row,
            col,
            lane0,
            accs: Vec::new(),
            staging: smem,
            mask_in,
            mask_bit: mask_out.map(|_| k.r32()),
            seeds,
        };
        colred_base += pass.colred.len();
        let mut regs = Registers::for_program(program);
        let invariant = |i: usize| invariant_def(&program.ops[i]).is_some();
        microops::emit_selected(&mut k, program, &mut rows, &mut regs, &invariant)?;
        states.push(PassState {
            rows,
            regs,
            asg,
            mask_out,
        });
    }

    k.inst(format!("mad.lo.u32 {row}, {cta}, {WARPS}, {warp}"));
    let row_step = k.r32();
    k.inst(format!("mul.lo.u32 {row_step}, {ncta}, {WARPS}"));
    let (row_top, rows_done) = (k.label(), k.label());
    k.place(row_top);
    let done = k.pred();
    k.inst(format!("setp.ge.u32 {done}, {row}, {}", spec.rows));
    k.branch_if(done, false, rows_done);
    for (q, st) in states.iter_mut().enumerate() {
        if q > 0 {
            // Lane 0 stored the row's folds of the passes before: make them visible to the
            // warp (bar.warp.sync orders memory among the lanes it synchronises).
            k.inst("bar.warp.sync 0xffffffff");
        }
        row_body(&mut k, spec, st, lane)?;
    }
    k.inst(format!("add.u32 {row}, {row}, {row_step}"));
    k.branch(row_top);
    k.place(rows_done);

    // The block's column folds into the scratch rows.
    if let Some(s) = smem {
        k.inst("bar.sync 0");
        let targets = spec.passes.iter().zip(&states).flat_map(|(p, st)| {
            p.colred
                .iter()
                .map(move |&(n, fold)| (st.rows.bases[n as usize], fold))
        });
        for (i, (base, fold)) in targets.enumerate() {
            strided(&mut k, tid, spec.cols, |k, j| {
                let at = k.r32();
                k.inst(format!("add.u32 {at}, {j}, {}", i * spec.cols));
                let a = k.address(s, at, 4);
                let v = k.r32();
                k.inst(format!("ld.shared.b32 {v}, [{a}]"));
                let g = k.address(base, j, 4);
                atomic_fold(k, "global", fold, g, v);
            });
        }
    }
    let launch = launch(spec);
    Ok(PtxKernel {
        name: spec.name.clone(),
        ptx: module(target, k.finish()),
        launch,
        target,
    })
}

/// One pass on the warp's row: operand addresses, accumulators and hoisted ops at the row's
/// start, the columns 32 at a time, then the row's folds.
fn row_body(
    k: &mut KernelBuilder,
    spec: &RowKernelSpec,
    st: &mut PassState,
    lane: R32,
) -> Result<(), Declined> {
    let pass = st.rows.spec;
    let program = pass.program;
    let (row, col, lane0) = (st.rows.row, st.rows.col, st.rows.lane0);
    for (n, p) in pass.ports.iter().enumerate() {
        let size = p.dtype.size() as u64;
        st.rows.row_addr[n] = match p.broadcast {
            Broadcast::None => {
                // row·ld elements (both below 2³¹), then bytes in 64 bits.
                let idx = k.r64();
                k.inst(format!("mul.wide.u32 {idx}, {row}, {}", p.ld));
                Some(k.address64(st.rows.bases[n], idx, size))
            }
            Broadcast::Col => Some(k.address(st.rows.bases[n], row, size as u32)),
            _ => None,
        };
    }
    st.rows.accs = pass
        .accs
        .iter()
        .map(|&(fold, _)| {
            let r = k.r32();
            k.inst(format!("mov.b32 {r}, {}", f32_imm(identity(fold))));
            r
        })
        .collect();
    st.rows.phase = Phase::Row;
    let asg = &st.asg;
    let row_op = |i: usize| asg.row_op[i];
    microops::emit_selected(k, program, &mut st.rows, &mut st.regs, &row_op)?;

    // The columns, 32 at a time (a pass over rows only has nothing to do there).
    let element = |i: usize| !asg.row_op[i] && invariant_def(&program.ops[i]).is_none();
    if !(0..program.ops.len()).any(element) {
        return Ok(());
    }
    let j0 = k.r32();
    k.inst(format!("mov.u32 {j0}, 0"));
    let (col_top, cols_done) = (k.label(), k.label());
    k.place(col_top);
    let past = k.pred();
    k.inst(format!("setp.ge.u32 {past}, {j0}, {}", spec.cols));
    k.branch_if(past, false, cols_done);
    k.inst(format!("add.u32 {col}, {j0}, {lane}"));
    let inactive = k.pred();
    k.inst(format!("setp.ge.u32 {inactive}, {col}, {}", spec.cols));
    if let Some(bit) = st.rows.mask_bit {
        k.inst(format!("mov.u32 {bit}, 0"));
    }
    let skip = k.label();
    k.branch_if(inactive, false, skip);
    st.rows.phase = Phase::Element;
    microops::emit_selected(k, program, &mut st.rows, &mut st.regs, &element)?;
    k.place(skip);
    if let (Some((m, base)), Some(bit)) = (st.mask_out, st.rows.mask_bit) {
        // The warp's 32 bits, then whole bytes from the lanes at multiples of 8.
        let (q, ballot) = (k.pred(), k.r32());
        k.inst(format!("setp.ne.u32 {q}, {bit}, 0"));
        k.inst(format!("vote.sync.ballot.b32 {ballot}, {q}, 0xffffffff"));
        let no_byte = k.label();
        let (odd, t) = (k.pred(), k.r32());
        k.inst(format!("and.b32 {t}, {lane}, 7"));
        k.inst(format!("setp.ne.u32 {odd}, {t}, 0"));
        k.branch_if(odd, false, no_byte);
        k.branch_if(inactive, false, no_byte);
        let byte = k.r32();
        k.inst(format!("shr.u32 {byte}, {ballot}, {lane}"));
        k.inst(format!("and.b32 {byte}, {byte}, 255"));
        let (c8, idx) = (k.r32(), k.r64());
        k.inst(format!("shr.u32 {c8}, {col}, 3"));
        k.inst(format!("mul.wide.u32 {idx}, {row}, {}", m.ld_bits / 8));
        let a = k.address(base, c8, 1);
        k.inst(format!("add.u64 {a}, {a}, {idx}"));
        k.inst(format!("st.global.u8 [{a}], {byte}"));
        k.place(no_byte);
    }
    k.inst(format!("add.u32 {j0}, {j0}, 32"));
    k.branch(col_top);
    k.place(cols_done);

    // The row's folds: the warp's lanes, then lane 0 stores.
    for (n, (&(fold, port), &acc)) in pass.accs.iter().zip(&st.rows.accs).enumerate() {
        for m in [16, 8, 4, 2, 1] {
            let o = k.r32();
            k.shfl_sync_bfly_b32(o, acc, m);
            combine(k, fold, acc, o);
        }
        let p = pass
            .ports
            .get(port as usize)
            .ok_or_else(|| Declined(format!("accumulator {n} stores to a missing operand")))?;
        let a = st.rows.row_addr[port as usize]
            .filter(|_| p.broadcast == Broadcast::Col)
            .ok_or_else(|| Declined(format!("accumulator {n} needs a column vector")))?;
        let skip = k.label();
        k.branch_if(lane0, true, skip);
        store_f32(k, p.dtype, a, acc)?;
        k.place(skip);
    }
    Ok(())
}

/// `body(j)` for `j = tid, tid + THREADS, ... < n`.
fn strided(
    k: &mut KernelBuilder,
    tid: R32,
    n: usize,
    mut body: impl FnMut(&mut KernelBuilder, R32),
) {
    let j = k.r32();
    k.inst(format!("mov.u32 {j}, {tid}"));
    let (top, end) = (k.label(), k.label());
    k.place(top);
    let p = k.pred();
    k.inst(format!("setp.ge.u32 {p}, {j}, {n}"));
    k.branch_if(p, false, end);
    body(k, j);
    k.inst(format!("add.u32 {j}, {j}, {THREADS}"));
    k.branch(top);
    k.place(end);
}
