//! The row-wise driver of equation passes that fold: one warp per row (8 warps a block, a grid
//! stride over rows). The lanes of a warp walk the row 32 columns at a time (consecutive
//! lanes, consecutive columns: coalesced), so the column loop and the row loop are the same
//! for every lane of a warp and warp-wide instructions are safe in them.
//!
//! - **Once per kernel:** the program's constants and seed halves.
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

/// What the row-wise driver needs besides the program.
#[derive(Clone, Debug)]
pub struct RowPassSpec<'a> {
    /// The kernel's name.
    pub name: String,
    /// The pass's program.
    pub program: &'a Program,
    /// Rows of the space.
    pub rows: usize,
    /// Columns of the space.
    pub cols: usize,
    /// The operands (`Port::Buf(n)` is `ports[n]`).
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
    /// Byte offset of the u64 seed in the argument struct.
    pub seed_offset: usize,
    /// Size of the argument struct.
    pub arg_bytes: usize,
}

/// Bytes of the shared-memory copy of the column reductions (0: they fold into global memory).
pub fn staging_bytes(spec: &RowPassSpec) -> usize {
    let bytes = spec.colred.len() * spec.cols * 4;
    if bytes <= MAX_STAGING {
        bytes
    } else {
        0
    }
}

/// The launch geometry: one warp per row, at most [`MAX_BLOCKS`] blocks.
pub fn launch(spec: &RowPassSpec) -> Launch {
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
    spec: &'s RowPassSpec<'s>,
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
            .map(|i| (i, self.spec.colred[i].1))
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
                    k.inst(format!(
                        "add.u32 {at}, {}, {}",
                        self.col,
                        i * self.spec.cols
                    ));
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
            self.row, self.spec.cols as u32, self.col
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

/// Generates the pass kernel.
pub fn generate(spec: &RowPassSpec, target: Target) -> Result<PtxKernel, Declined> {
    let program = spec.program;
    let per_row = |p: Port| match p {
        Port::Buf(n) => spec
            .ports
            .get(n as usize)
            .is_some_and(|q| matches!(q.broadcast, Broadcast::Col | Broadcast::Scalar)),
        _ => false,
    };
    let asg = Assignment::of_rows(program, &per_row);
    let uses = |f: fn(&crate::lower::MicroOp) -> bool| program.ops.iter().any(f);
    use crate::lower::MicroOp as M;
    let reads_mask = uses(|o| matches!(o, M::LoadMask { .. }));
    let writes_mask = uses(|o| matches!(o, M::StoreMask { .. }));
    let reads_seed = uses(|o| matches!(o, M::Seed { .. }));

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
    let bases: Vec<R64> = spec.ports.iter().map(|p| k.arg_u64(p.arg_offset)).collect();
    let mask_in = match (spec.mask_in, reads_mask) {
        (Some(m), true) => Some(k.arg_u64(m.arg_offset)),
        (None, true) => return Err(Declined("program reads a mask the pass lacks".into())),
        _ => None,
    };
    let mask_out = match (spec.mask_out, writes_mask) {
        (Some(m), true) => Some((m, k.arg_u64(m.arg_offset))),
        (None, true) => return Err(Declined("program writes a mask the pass lacks".into())),
        _ => None,
    };
    let seeds = if reads_seed {
        [
            Some(k.arg_u32(spec.seed_offset)),
            Some(k.arg_u32(spec.seed_offset + 4)),
        ]
    } else {
        [None, None]
    };

    // The shared copy of the column reductions starts at the identities.
    let smem = if staging > 0 {
        let s = k.r64();
        k.inst(format!("mov.u64 {s}, smem"));
        for (i, &(_, fold)) in spec.colred.iter().enumerate() {
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

    let (row, col) = (k.r32(), k.r32());
    let mut rows = Rows {
        spec,
        phase: Phase::Kernel,
        bases: bases.clone(),
        row_addr: vec![None; spec.ports.len()],
        row,
        col,
        lane0,
        accs: Vec::new(),
        staging: smem,
        mask_in,
        mask_bit: mask_out.map(|_| k.r32()),
        seeds,
    };
    let mut regs = Registers::for_program(program);
    let invariant = |i: usize| invariant_def(&program.ops[i]).is_some();
    microops::emit_selected(&mut k, program, &mut rows, &mut regs, &invariant)?;

    k.inst(format!("mad.lo.u32 {row}, {cta}, {WARPS}, {warp}"));
    let row_step = k.r32();
    k.inst(format!("mul.lo.u32 {row_step}, {ncta}, {WARPS}"));
    let (row_top, rows_done) = (k.label(), k.label());
    k.place(row_top);
    let done = k.pred();
    k.inst(format!("setp.ge.u32 {done}, {row}, {}", spec.rows));
    k.branch_if(done, false, rows_done);

    // The row's start: operand addresses, accumulators, hoisted ops.
    for (n, p) in spec.ports.iter().enumerate() {
        let size = p.dtype.size() as u64;
        rows.row_addr[n] = match p.broadcast {
            Broadcast::None => {
                let off = k.r64();
                k.inst(format!("mul.wide.u32 {off}, {row}, {}", p.ld as u64 * size));
                let a = k.r64();
                k.inst(format!("add.u64 {a}, {}, {off}", bases[n]));
                Some(a)
            }
            Broadcast::Col => Some(k.address(bases[n], row, size as u32)),
            _ => None,
        };
    }
    rows.accs = spec
        .accs
        .iter()
        .map(|&(fold, _)| {
            let r = k.r32();
            k.inst(format!("mov.b32 {r}, {}", f32_imm(identity(fold))));
            r
        })
        .collect();
    rows.phase = Phase::Row;
    let row_op = |i: usize| asg.row_op[i];
    microops::emit_selected(&mut k, program, &mut rows, &mut regs, &row_op)?;

    // The columns, 32 at a time.
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
    if let Some(bit) = rows.mask_bit {
        k.inst(format!("mov.u32 {bit}, 0"));
    }
    let skip = k.label();
    k.branch_if(inactive, false, skip);
    rows.phase = Phase::Element;
    let element = |i: usize| !asg.row_op[i] && !invariant(i);
    microops::emit_selected(&mut k, program, &mut rows, &mut regs, &element)?;
    k.place(skip);
    if let (Some((m, base)), Some(bit)) = (mask_out, rows.mask_bit) {
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
    for (n, (&(fold, port), &acc)) in spec.accs.iter().zip(&rows.accs).enumerate() {
        for m in [16, 8, 4, 2, 1] {
            let o = k.r32();
            k.shfl_sync_bfly_b32(o, acc, m);
            combine(&mut k, fold, acc, o);
        }
        let p = spec
            .ports
            .get(port as usize)
            .ok_or_else(|| Declined(format!("accumulator {n} stores to a missing operand")))?;
        let a = rows.row_addr[port as usize]
            .filter(|_| p.broadcast == Broadcast::Col)
            .ok_or_else(|| Declined(format!("accumulator {n} needs a column vector")))?;
        let skip = k.label();
        k.branch_if(lane0, true, skip);
        store_f32(&mut k, p.dtype, a, acc)?;
        k.place(skip);
    }
    k.inst(format!("add.u32 {row}, {row}, {row_step}"));
    k.branch(row_top);
    k.place(rows_done);

    // The block's column folds into the scratch rows.
    if let Some(s) = smem {
        k.inst("bar.sync 0");
        for (i, &(n, fold)) in spec.colred.iter().enumerate() {
            let base = bases[n as usize];
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
