//! Global → shared loads of one GEMM operand tile, for one pipeline stage.
//!
//! - **Vector**: 16-byte `cp.async` copies of rows as stored, zero-filling what lies past the
//!   matrix (the `src-size` operand), so any m, n, k works without branches. Needs rows that
//!   start 16-byte aligned; the kernel checks the batch member's base at run time and falls
//!   back to the scalar form for that tile.
//! - **Scalar**: one element per load, in any storage order (transposed, VNNI) into any tile
//!   orientation; elements past the matrix are stored as 0. Synchronous, so the data is
//!   visible after the stage's barrier like the `cp.async` data is.

use super::gemm_tiling::SmemTile;
use super::ptx::{KernelBuilder, R32, R64};
use crate::isa::Layout;

/// How an operand is stored in global memory, as `mn × k` logically (A: m × k, B: n × k).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Element `(mn, k)` at `mn·ld + k`.
    KInner,
    /// Element `(mn, k)` at `k·ld + mn`.
    KOuter,
    /// B in VNNI-`v` layout: element `(n, k)` at `(k / v)·(ld·v) + n·v + k % v`.
    Vnni(usize),
}

impl Storage {
    /// The storage of B for a layout and transpose flag.
    pub fn of_b(layout: Layout, trans_b: bool) -> Storage {
        match (layout, trans_b) {
            (Layout::RowMajor, true) => Storage::KInner,
            (Layout::RowMajor, false) => Storage::KOuter,
            (l, _) => Storage::Vnni(l.factor()),
        }
    }
}

/// One operand's load, fixed at generation.
#[derive(Clone, Copy, Debug)]
pub struct OperandLoad {
    /// Its shared-memory tile.
    pub tile: SmemTile,
    /// Its storage.
    pub storage: Storage,
    /// Leading dimension (elements).
    pub ld: usize,
    /// Bytes per element.
    pub es: usize,
    /// m (for A) or n (for B).
    pub mn_limit: usize,
    /// k.
    pub k_limit: usize,
    /// Byte offset of the tile inside a stage.
    pub stage_offset: usize,
}

/// Per-thread values shared by every load.
#[derive(Clone, Copy, Debug)]
pub struct Thread {
    /// `%tid.x`.
    pub tid: R32,
    /// Threads per block.
    pub threads: usize,
}

impl OperandLoad {
    /// Issues the `cp.async` copies of the tile at block offset `mn0` (rows of C or columns)
    /// and `k0` into the stage at shared address `stage` (the caller commits the group).
    pub fn vector(
        &self,
        k: &mut KernelBuilder,
        th: Thread,
        base: R64,
        mn0: R32,
        k0: R32,
        stage: R32,
    ) {
        let t = self.tile;
        let per_chunk = 16 / self.es;
        let cpr = t.row_elems / per_chunk;
        assert!(th.threads.is_multiple_of(cpr) && (t.rows * cpr).is_multiple_of(th.threads));
        let rows_per_pass = th.threads / cpr;
        let (lrow, lchunk) = (k.r32(), k.r32());
        k.inst(format!("div.u32 {lrow}, {}, {cpr}", th.tid));
        k.inst(format!("rem.u32 {lchunk}, {}, {cpr}", th.tid));
        let lcol = k.r32();
        k.inst(format!("mul.lo.u32 {lcol}, {lchunk}, {per_chunk}"));
        let smem = k.r32();
        k.inst(format!(
            "mad.lo.u32 {smem}, {lrow}, {}, {stage}",
            t.row_bytes
        ));
        k.inst(format!("mad.lo.u32 {smem}, {lchunk}, 16, {smem}"));
        k.inst(format!("add.u32 {smem}, {smem}, {}", self.stage_offset));
        let (row0, col0, rlim, clim) = if t.k_inner {
            (mn0, k0, self.mn_limit, self.k_limit)
        } else {
            (k0, mn0, self.k_limit, self.mn_limit)
        };
        let gcol = k.r32();
        k.inst(format!("add.u32 {gcol}, {col0}, {lcol}"));
        // Elements of the chunk inside the matrix: clamp(clim − gcol, 0, per_chunk).
        let valid = k.r32();
        k.inst(format!("sub.s32 {valid}, {clim}, {gcol}"));
        k.inst(format!("max.s32 {valid}, {valid}, 0"));
        k.inst(format!("min.s32 {valid}, {valid}, {per_chunk}"));
        for pass in 0..t.rows * cpr / th.threads {
            let grow = k.r32();
            k.inst(format!("add.u32 {grow}, {row0}, {lrow}"));
            if pass > 0 {
                k.inst(format!("add.u32 {grow}, {grow}, {}", pass * rows_per_pass));
            }
            let inside = k.pred();
            k.inst(format!("setp.lt.u32 {inside}, {grow}, {rlim}"));
            let bytes = k.r32();
            k.inst(format!("selp.b32 {bytes}, {valid}, 0, {inside}"));
            k.inst(format!("mul.lo.u32 {bytes}, {bytes}, {}", self.es));
            let live = k.pred();
            k.inst(format!("setp.ne.u32 {live}, {bytes}, 0"));
            // Nothing is read for 0 bytes, but the address stays inside the operand anyway.
            let idx = k.r64();
            k.inst(format!("mul.wide.u32 {idx}, {grow}, {}", self.ld));
            let c64 = k.r64();
            k.inst(format!("cvt.u64.u32 {c64}, {gcol}"));
            k.inst(format!("add.u64 {idx}, {idx}, {c64}"));
            let addr = k.address64(base, idx, self.es as u64);
            k.inst(format!("selp.b64 {addr}, {addr}, {base}, {live}"));
            let s = k.r32();
            k.inst(format!(
                "add.u32 {s}, {smem}, {}",
                pass * rows_per_pass * t.row_bytes
            ));
            k.cp_async_cg_shared_global_16(s, addr, bytes);
        }
    }

    /// Loads the tile element by element (zero outside the matrix) into the stage.
    pub fn scalar(
        &self,
        k: &mut KernelBuilder,
        th: Thread,
        base: R64,
        mn0: R32,
        k0: R32,
        stage: R32,
    ) {
        let t = self.tile;
        let cel = t.row_elems;
        assert!(th.threads.is_multiple_of(cel) && (t.rows * cel).is_multiple_of(th.threads));
        let rows_per_pass = th.threads / cel;
        let (lrow, lcol) = (k.r32(), k.r32());
        k.inst(format!("div.u32 {lrow}, {}, {cel}", th.tid));
        k.inst(format!("rem.u32 {lcol}, {}, {cel}", th.tid));
        let (ty, sz) = match self.es {
            1 => ("u8", 1),
            2 => ("u16", 2),
            _ => ("b32", 4),
        };
        for pass in 0..t.rows * cel / th.threads {
            let row = k.r32();
            k.inst(format!("add.u32 {row}, {lrow}, {}", pass * rows_per_pass));
            let (mn, kk) = if t.k_inner { (row, lcol) } else { (lcol, row) };
            let (gmn, gk) = (k.r32(), k.r32());
            k.inst(format!("add.u32 {gmn}, {mn0}, {mn}"));
            k.inst(format!("add.u32 {gk}, {k0}, {kk}"));
            let (p, q) = (k.pred(), k.pred());
            k.inst(format!("setp.lt.u32 {p}, {gmn}, {}", self.mn_limit));
            k.inst(format!("setp.lt.u32 {q}, {gk}, {}", self.k_limit));
            k.inst(format!("and.pred {p}, {p}, {q}"));
            let idx = k.r64();
            match self.storage {
                Storage::KInner => {
                    k.inst(format!("mul.wide.u32 {idx}, {gmn}, {}", self.ld));
                    let c = k.r64();
                    k.inst(format!("cvt.u64.u32 {c}, {gk}"));
                    k.inst(format!("add.u64 {idx}, {idx}, {c}"));
                }
                Storage::KOuter => {
                    k.inst(format!("mul.wide.u32 {idx}, {gk}, {}", self.ld));
                    let c = k.r64();
                    k.inst(format!("cvt.u64.u32 {c}, {gmn}"));
                    k.inst(format!("add.u64 {idx}, {idx}, {c}"));
                }
                Storage::Vnni(v) => {
                    let (g, r, inner) = (k.r32(), k.r32(), k.r32());
                    k.inst(format!("div.u32 {g}, {gk}, {v}"));
                    k.inst(format!("rem.u32 {r}, {gk}, {v}"));
                    k.inst(format!("mul.wide.u32 {idx}, {g}, {}", self.ld * v));
                    k.inst(format!("mad.lo.u32 {inner}, {gmn}, {v}, {r}"));
                    let c = k.r64();
                    k.inst(format!("cvt.u64.u32 {c}, {inner}"));
                    k.inst(format!("add.u64 {idx}, {idx}, {c}"));
                }
            }
            let addr = k.address64(base, idx, self.es as u64);
            let v = k.imm32(0);
            k.inst_if(p, false, format!("ld.global.{ty} {v}, [{addr}]"));
            let s = k.r32();
            k.inst(format!("mad.lo.u32 {s}, {row}, {}, {stage}", t.row_bytes));
            k.inst(format!("mad.lo.u32 {s}, {lcol}, {sz}, {s}"));
            let st = if sz == 4 { "b32" } else { ty };
            k.inst(format!("st.shared.{st} [{s}+{}], {v}", self.stage_offset));
        }
    }
}
