//! The 2D loop driver of the elementwise kernels: a thread takes one element, or, when the
//! program reads or writes a bitmask, a chunk of [`CHUNK`] consecutive columns of one row (so
//! that each thread owns whole bytes of the mask and never races on one); the x dimension of the grid walks the chunks of a row and the y
//! dimension walks the rows with a grid stride. The program runs once per element of the
//! chunk; elements past `cols` are skipped. Outputs may alias inputs: every element is loaded
//! before it is stored, by the thread that stores it.

use super::microops::{self, Ports};
use super::ptx::{module, Declined, KernelBuilder, Launch, Pred, PtxKernel, Target, R32, R64};
use super::vector::{self, VEC};
use crate::isa::{Broadcast, DType};
use crate::lower::{MicroOp, Port, Program};

/// Columns one thread computes when the program touches a bitmask (one byte of it).
pub const CHUNK: usize = 8;

/// Columns per thread for `program`: a mask byte's worth when it reads or writes a mask,
/// else one, so that the lanes of a warp load consecutive elements (coalesced).
pub fn chunk_of(program: &Program) -> usize {
    let masks = program
        .ops
        .iter()
        .any(|o| matches!(o, MicroOp::LoadMask { .. } | MicroOp::StoreMask { .. }));
    if masks {
        CHUNK
    } else {
        1
    }
}

/// Whether the kernel of `spec` takes [`VEC`] columns per thread with vector loads and stores:
/// no bitmask, every operand f32/bf16/f16, every full matrix's rows a whole number of vectors
/// apart (`ld` a multiple of `VEC`), a row of at least one vector, and some operand that is a
/// full matrix or a row vector. Whether the operands' addresses are aligned is checked at
/// run time (the scalar path takes misaligned calls and the row's ragged end).
pub fn vectorised(spec: &EltwiseSpec) -> bool {
    chunk_of(spec.program) == 1
        && spec.cols >= VEC
        && spec.ports.iter().all(|p| {
            vector::vectorisable(p.dtype)
                && (p.broadcast != Broadcast::None || p.ld.is_multiple_of(VEC))
        })
        && spec
            .ports
            .iter()
            .any(|p| matches!(p.broadcast, Broadcast::None | Broadcast::Row))
}
/// Threads per block.
pub const THREADS: u32 = 256;
/// Largest y extent of a grid.
const MAX_GRID_Y: usize = 65_535;

/// One operand of the kernel as the loops see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Which program port it is.
    pub port: Port,
    /// Its dtype (f32, bf16 or f16).
    pub dtype: DType,
    /// How it covers the space.
    pub broadcast: Broadcast,
    /// Its leading dimension (elements).
    pub ld: usize,
    /// Byte offset of its device pointer in the argument struct.
    pub arg_offset: usize,
}

/// A bitmask operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskSpec {
    /// Byte offset of its device pointer in the argument struct.
    pub arg_offset: usize,
    /// Its leading dimension in bits (a multiple of 8).
    pub ld_bits: usize,
}

/// Everything the generator needs besides the program.
#[derive(Clone, Debug)]
pub struct EltwiseSpec<'a> {
    /// The kernel's name.
    pub name: String,
    /// The lowered program.
    pub program: &'a Program,
    /// Rows of the space.
    pub rows: usize,
    /// Columns of the space.
    pub cols: usize,
    /// The program's ports.
    pub ports: Vec<PortSpec>,
    /// The bitmask `LoadMask` reads.
    pub mask_in: Option<MaskSpec>,
    /// The bitmask `StoreMask` writes.
    pub mask_out: Option<MaskSpec>,
    /// Byte offset of the u64 seed in the argument struct (for `Seed`).
    pub seed_offset: Option<usize>,
    /// Size of the argument struct.
    pub arg_bytes: usize,
}

/// The launch geometry of a `rows × cols` space: blocks of [`THREADS`] threads shaped to the
/// row width (narrow rows put several rows in one block).
pub fn launch(rows: usize, cols: usize, chunk: usize) -> Launch {
    let chunks = cols.div_ceil(chunk).max(1);
    let bx = chunks.next_multiple_of(32).min(THREADS as usize);
    let by = THREADS as usize / bx;
    let gx = chunks.div_ceil(bx);
    let gy = rows.div_ceil(by).clamp(1, MAX_GRID_Y);
    Launch {
        grid: (gx as u32, gy as u32, 1),
        block: (bx as u32, by as u32, 1),
        smem_bytes: 0,
    }
}

/// The per-row state of one operand.
struct Operand {
    spec: PortSpec,
    /// Address of the operand's element `(i, j0)` (or of the broadcast element).
    row: R64,
}

struct Element<'s> {
    ops: &'s [Operand],
    e: usize,
    /// Vector path: the chunk's elements of each port loaded by one vector access.
    preloaded: &'s [(Port, [R32; VEC])],
    /// Vector path: the values stored to full-matrix and row ports, stored by one vector
    /// access after the chunk's last element (port, element, value).
    deferred: Option<&'s mut Vec<(Port, usize, R32)>>,
    mask_byte_in: Option<R32>,
    mask_bits_out: Option<R32>,
    position: Option<R32>,
    seeds: [Option<R32>; 2],
}

impl Ports for Element<'_> {
    fn load(&mut self, k: &mut KernelBuilder, port: Port, dst: R32) -> Result<(), Declined> {
        if let Some((_, v)) = self.preloaded.iter().find(|p| p.0 == port) {
            k.inst(format!("mov.b32 {dst}, {}", v[self.e]));
            return Ok(());
        }
        let op = self.operand(port)?;
        let addr = self.address(k, op);
        microops::load_f32(k, op.spec.dtype, addr, dst)
    }
    fn store(&mut self, k: &mut KernelBuilder, port: Port, src: R32) -> Result<(), Declined> {
        let shape = self.operand(port)?.spec.broadcast;
        if let Some(d) = self.deferred.as_mut() {
            if matches!(shape, Broadcast::None | Broadcast::Row) {
                d.push((port, self.e, src));
                return Ok(());
            }
        }
        let op = self.operand(port)?;
        let addr = self.address(k, op);
        microops::store_f32(k, op.spec.dtype, addr, src)
    }
    fn load_mask(&mut self, k: &mut KernelBuilder, dst: Pred) -> Result<(), Declined> {
        let byte = self
            .mask_byte_in
            .ok_or_else(|| Declined("program reads a mask the spec lacks".into()))?;
        let t = k.r32();
        k.inst(format!("and.b32 {t}, {byte}, {}", 1u32 << self.e));
        k.inst(format!("setp.ne.u32 {dst}, {t}, 0"));
        Ok(())
    }
    fn store_mask(&mut self, k: &mut KernelBuilder, src: Pred) -> Result<(), Declined> {
        let bits = self
            .mask_bits_out
            .ok_or_else(|| Declined("program writes a mask the spec lacks".into()))?;
        let t = k.r32();
        k.inst(format!("selp.b32 {t}, {}, 0, {src}", 1u32 << self.e));
        k.inst(format!("or.b32 {bits}, {bits}, {t}"));
        Ok(())
    }
    fn position(&mut self, k: &mut KernelBuilder) -> Result<R32, Declined> {
        let base = self
            .position
            .ok_or_else(|| Declined("position not prepared".into()))?;
        let r = k.r32();
        k.inst(format!("add.u32 {r}, {base}, {}", self.e));
        Ok(r)
    }
    fn seed(&mut self, _k: &mut KernelBuilder, high: bool) -> Result<R32, Declined> {
        self.seeds[high as usize]
            .ok_or_else(|| Declined("program reads a seed the spec lacks".into()))
    }
}

impl Element<'_> {
    fn operand(&self, port: Port) -> Result<&Operand, Declined> {
        self.ops
            .iter()
            .find(|o| o.spec.port == port)
            .ok_or_else(|| Declined(format!("program uses {port:?}, which the spec lacks")))
    }

    fn address(&self, k: &mut KernelBuilder, op: &Operand) -> R64 {
        match op.spec.broadcast {
            Broadcast::None | Broadcast::Row if self.e > 0 => {
                let r = k.r64();
                let step = self.e * op.spec.dtype.size();
                k.inst(format!("add.u64 {r}, {}, {step}", op.row));
                r
            }
            _ => op.row,
        }
    }
}

fn uses(p: &Program, f: fn(&MicroOp) -> bool) -> bool {
    p.ops.iter().any(f)
}

/// Generates the kernel.
pub fn generate(spec: &EltwiseSpec, target: Target) -> Result<PtxKernel, Declined> {
    let vectorised = vectorised(spec);
    let chunk = if vectorised {
        VEC
    } else {
        chunk_of(spec.program)
    };
    let launch = launch(spec.rows, spec.cols, chunk);
    let mut k = KernelBuilder::new(&spec.name, spec.arg_bytes, THREADS);
    let chunks = spec.cols.div_ceil(chunk);
    let exit = k.label();

    // Which chunk and which first row.
    let (tx, ntx, cx) = (
        k.special("%tid.x"),
        k.special("%ntid.x"),
        k.special("%ctaid.x"),
    );
    let (ty, nty, cy, ncy) = (
        k.special("%tid.y"),
        k.special("%ntid.y"),
        k.special("%ctaid.y"),
        k.special("%nctaid.y"),
    );
    let chunk_index = k.r32();
    k.inst(format!("mad.lo.u32 {chunk_index}, {cx}, {ntx}, {tx}"));
    let out_of_range = k.pred();
    k.inst(format!(
        "setp.ge.u32 {out_of_range}, {chunk_index}, {chunks}"
    ));
    k.branch_if(out_of_range, false, exit);
    let j0 = k.r32();
    k.inst(format!("mul.lo.u32 {j0}, {chunk_index}, {chunk}"));
    let row = k.r32();
    k.inst(format!("mad.lo.u32 {row}, {cy}, {nty}, {ty}"));
    let row_step = k.r32();
    k.inst(format!("mul.lo.u32 {row_step}, {ncy}, {nty}"));

    // Base pointers and seeds, once.
    let bases: Vec<(PortSpec, R64)> = spec
        .ports
        .iter()
        .map(|p| (*p, k.arg_u64(p.arg_offset)))
        .collect();
    let needs_mask_in = uses(spec.program, |o| matches!(o, MicroOp::LoadMask { .. }));
    let needs_mask_out = uses(spec.program, |o| matches!(o, MicroOp::StoreMask { .. }));
    let mask_in = match (spec.mask_in, needs_mask_in) {
        (Some(m), true) => Some((m, k.arg_u64(m.arg_offset))),
        (None, true) => return Err(Declined("program reads a mask the spec lacks".into())),
        _ => None,
    };
    let mask_out = match (spec.mask_out, needs_mask_out) {
        (Some(m), true) => Some((m, k.arg_u64(m.arg_offset))),
        (None, true) => return Err(Declined("program writes a mask the spec lacks".into())),
        _ => None,
    };
    let mut seeds = [None, None];
    if uses(spec.program, |o| matches!(o, MicroOp::Seed { .. })) {
        let off = spec
            .seed_offset
            .ok_or_else(|| Declined("program reads a seed the spec lacks".into()))?;
        seeds = [Some(k.arg_u32(off)), Some(k.arg_u32(off + 4))];
    }
    let needs_position = uses(spec.program, |o| matches!(o, MicroOp::Position { .. }));
    // Vector accesses need every full-matrix and row operand aligned to a vector.
    let aligned = if vectorised {
        let all = k.pred();
        k.inst(format!("setp.eq.u32 {all}, 0, 0"));
        for (p, base) in bases.iter().filter(|(p, _)| p.broadcast != Broadcast::Col) {
            if p.broadcast == Broadcast::Scalar {
                continue;
            }
            let (t, q) = (k.r64(), k.pred());
            k.inst(format!("and.b64 {t}, {base}, {}", VEC * p.dtype.size() - 1));
            k.inst(format!("setp.eq.u64 {q}, {t}, 0"));
            k.inst(format!("and.pred {all}, {all}, {q}"));
        }
        Some(all)
    } else {
        None
    };

    // Rows.
    let top = k.label();
    k.place(top);
    let done = k.pred();
    k.inst(format!("setp.ge.u32 {done}, {row}, {}", spec.rows));
    k.branch_if(done, false, exit);
    let ops: Vec<Operand> = bases
        .iter()
        .map(|&(p, base)| {
            let size = p.dtype.size() as u32;
            let addr = match p.broadcast {
                Broadcast::None => {
                    let idx = k.r64();
                    k.inst(format!("mul.wide.u32 {idx}, {row}, {}", p.ld));
                    let j = k.r64();
                    k.inst(format!("cvt.u64.u32 {j}, {j0}"));
                    k.inst(format!("add.u64 {idx}, {idx}, {j}"));
                    k.address64(base, idx, size as u64)
                }
                Broadcast::Row => k.address(base, j0, size),
                Broadcast::Col => k.address(base, row, size),
                Broadcast::Scalar => base,
            };
            Operand { spec: p, row: addr }
        })
        .collect();
    let mask_byte_address = |k: &mut KernelBuilder, m: MaskSpec, base: R64| {
        // (row·ld_bits + j0) / 8, with ld_bits and j0 multiples of 8.
        let idx = k.r64();
        k.inst(format!("mul.wide.u32 {idx}, {row}, {}", m.ld_bits / 8));
        let c = k.r32();
        k.inst(format!("shr.u32 {c}, {j0}, 3"));
        let c64 = k.r64();
        k.inst(format!("cvt.u64.u32 {c64}, {c}"));
        k.inst(format!("add.u64 {idx}, {idx}, {c64}"));
        k.inst(format!("add.u64 {idx}, {idx}, {base}"));
        idx
    };
    let mask_byte_in = mask_in.map(|(m, base)| {
        let a = mask_byte_address(&mut k, m, base);
        let b = k.r32();
        k.inst(format!("ld.global.u8 {b}, [{a}]"));
        b
    });
    let mask_out_addr = mask_out.map(|(m, base)| mask_byte_address(&mut k, m, base));
    let mask_bits_out = mask_out.map(|_| k.imm32(0));
    let position = if needs_position {
        let p = k.r32();
        k.inst(format!("mad.lo.u32 {p}, {row}, {}, {j0}", spec.cols as u32));
        Some(p)
    } else {
        None
    };
    // Whole aligned chunks take the vector path; the rest (a ragged row's end, misaligned
    // operands) the scalar one.
    let chunk_done = k.label();
    if let Some(aligned) = aligned {
        let (end, whole) = (k.r32(), k.pred());
        k.inst(format!("add.u32 {end}, {j0}, {VEC}"));
        k.inst(format!("setp.le.u32 {whole}, {end}, {}", spec.cols));
        k.inst(format!("and.pred {whole}, {whole}, {aligned}"));
        let scalar = k.label();
        k.branch_if(whole, true, scalar);
        vector_chunk(&mut k, spec, &ops, position, seeds)?;
        k.branch(chunk_done);
        k.place(scalar);
    }
    // Whether the chunk may run past the row's end (the last chunk of a ragged row, or any
    // chunk that the vector path left to this one).
    let ragged = !spec.cols.is_multiple_of(chunk) || vectorised;
    for e in 0..chunk {
        let skip = k.label();
        if ragged && e > 0 {
            let past = k.pred();
            let j = k.r32();
            k.inst(format!("add.u32 {j}, {j0}, {e}"));
            k.inst(format!("setp.ge.u32 {past}, {j}, {}", spec.cols));
            k.branch_if(past, false, skip);
        }
        let mut el = Element {
            ops: &ops,
            e,
            preloaded: &[],
            deferred: None,
            mask_byte_in,
            mask_bits_out,
            position,
            seeds,
        };
        microops::emit(&mut k, spec.program, &mut el)?;
        k.place(skip);
    }
    k.place(chunk_done);
    if let (Some(addr), Some(bits)) = (mask_out_addr, mask_bits_out) {
        k.inst(format!("st.global.u8 [{addr}], {bits}"));
    }
    k.inst(format!("add.u32 {row}, {row}, {row_step}"));
    k.branch(top);
    k.place(exit);
    Ok(PtxKernel {
        name: spec.name.clone(),
        ptx: module(target, k.finish()),
        launch,
        target,
    })
}

/// One whole, aligned chunk: the operands it loads by vector accesses, the program once per
/// element, then the stores by vector accesses.
fn vector_chunk(
    k: &mut KernelBuilder,
    spec: &EltwiseSpec,
    ops: &[Operand],
    position: Option<R32>,
    seeds: [Option<R32>; 2],
) -> Result<(), Declined> {
    let vector_op = |port: Port| {
        ops.iter().find(|o| {
            o.spec.port == port && matches!(o.spec.broadcast, Broadcast::None | Broadcast::Row)
        })
    };
    let mut preloaded: Vec<(Port, [R32; VEC])> = Vec::new();
    for op in &spec.program.ops {
        if let MicroOp::Load { port, .. } = *op {
            if let (Some(o), false) = (vector_op(port), preloaded.iter().any(|p| p.0 == port)) {
                preloaded.push((port, vector::load(k, o.spec.dtype, o.row)?));
            }
        }
    }
    let mut deferred = Vec::new();
    for e in 0..VEC {
        let mut el = Element {
            ops,
            e,
            preloaded: &preloaded,
            deferred: Some(&mut deferred),
            mask_byte_in: None,
            mask_bits_out: None,
            position,
            seeds,
        };
        microops::emit(k, spec.program, &mut el)?;
    }
    let mut stored: Vec<Port> = Vec::new();
    for &(port, _, _) in &deferred {
        if stored.contains(&port) {
            continue;
        }
        stored.push(port);
        let o = vector_op(port).ok_or_else(|| Declined(format!("{port:?} is not a vector")))?;
        let mut vals = [None; VEC];
        // The last value stored to each element.
        for &(_, e, v) in deferred.iter().filter(|d| d.0 == port) {
            vals[e] = Some(v);
        }
        let vals = vals.map(|v| v.ok_or_else(|| Declined(format!("{port:?}: a lane unstored"))));
        let [a, b, c, d] = vals;
        vector::store(k, o.spec.dtype, o.row, [a?, b?, c?, d?])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_rows_share_a_block_and_wide_rows_span_blocks() {
        let l = launch(1000, 8, CHUNK);
        assert_eq!(l.block, (32, 8, 1));
        assert_eq!(l.grid, (1, 125, 1));
        let l = launch(3, 10_000, CHUNK);
        assert_eq!(l.block, (256, 1, 1));
        assert_eq!(l.grid, (5, 3, 1));
        assert_eq!(
            launch(1 << 20, 64, CHUNK).grid.1,
            MAX_GRID_Y as u32,
            "rows past the grid loop"
        );
        assert_eq!(l.threads(), THREADS);
    }
}
