//! Which GEMM path and which block tiling a descriptor gets: host logic, unit-tested.
//!
//! Paths: bf16/f16 on `mma.m16n8k16`, int8 on `mma.m16n8k32`, f32 on `mma.m16n8k8` tf32 when
//! the caller opts in, else f32 FMA (SIMT). Block tiles are `bm × bn` with `bk` spanning 64
//! bytes of k (32 bf16, 64 int8, 16 tf32), split over `warps_m × warps_n` warps.

use crate::isa::{DType, GemmDesc, Layout};

/// The inner product a kernel is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmaPath {
    /// bf16 × bf16 → f32 (`mma.m16n8k16…bf16`).
    Bf16,
    /// f16 × f16 → f32 (`mma.m16n8k16…f16`).
    F16,
    /// f32 × f32 rounded to tf32 → f32 (`mma.m16n8k8…tf32`), only on request.
    Tf32,
    /// 8-bit integers → s32 (`mma.m16n8k32`).
    Int8,
    /// f32 × f32 → f32 with `fma.rn.f32` (no tensor cores, full precision).
    SimtF32,
}

impl MmaPath {
    /// The path for `d`, or why there is none.
    pub fn of(d: &GemmDesc, tf32: bool) -> Result<MmaPath, String> {
        match (d.a_dtype, d.b_dtype) {
            (DType::BF16, DType::BF16) => Ok(MmaPath::Bf16),
            (DType::F16, DType::F16) => Ok(MmaPath::F16),
            (DType::F32, DType::F32) if tf32 => Ok(MmaPath::Tf32),
            (DType::F32, DType::F32) => Ok(MmaPath::SimtF32),
            (a, b) if a.is_int8() && b.is_int8() => Ok(MmaPath::Int8),
            (a, b) => Err(format!("no device GEMM for {a} × {b}")),
        }
    }

    /// Bytes of one A/B element.
    pub fn elem_bytes(self) -> usize {
        match self {
            MmaPath::Bf16 | MmaPath::F16 => 2,
            MmaPath::Tf32 | MmaPath::SimtF32 => 4,
            MmaPath::Int8 => 1,
        }
    }

    /// k of one `mma` (16, 8 or 32).
    pub fn k_step(self) -> usize {
        match self {
            MmaPath::Bf16 | MmaPath::F16 => 16,
            MmaPath::Tf32 | MmaPath::SimtF32 => 8,
            MmaPath::Int8 => 32,
        }
    }
}

/// A block tiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Rows of C per block.
    pub bm: usize,
    /// Columns of C per block.
    pub bn: usize,
    /// k per pipeline stage.
    pub bk: usize,
    /// Warps along m.
    pub warps_m: usize,
    /// Warps along n.
    pub warps_n: usize,
    /// `cp.async` pipeline depth (tiles in flight + the one being computed).
    pub stages: usize,
}

/// Bytes of k a stage spans (two 32-byte `ldmatrix` columns).
pub const BK_BYTES: usize = 64;
/// Padding after every shared-memory row: keeps rows 16-byte aligned for `ldmatrix` and
/// `cp.async` while shifting consecutive rows by four banks (no conflicts between them).
pub const ROW_PAD: usize = 16;

impl Tiling {
    /// Threads per block.
    pub fn threads(&self) -> usize {
        32 * self.warps_m * self.warps_n
    }
    /// Rows of C per warp.
    pub fn warp_m(&self) -> usize {
        self.bm / self.warps_m
    }
    /// Columns of C per warp.
    pub fn warp_n(&self) -> usize {
        self.bn / self.warps_n
    }
    /// Blocks of the grid (x over n, y over m).
    pub fn grid(&self, m: usize, n: usize) -> (u32, u32) {
        (n.div_ceil(self.bn) as u32, m.div_ceil(self.bm) as u32)
    }

    /// The tensor-core tiling for `d` on `path`: 128×128 blocks of 8 warps when the grid
    /// still has enough blocks to fill a large GPU (≥ 64 of them), else 64×64 blocks of 4
    /// warps, whose grid is four times larger.
    pub fn choose(d: &GemmDesc, path: MmaPath) -> Tiling {
        let bk = BK_BYTES / path.elem_bytes();
        if path == MmaPath::SimtF32 {
            return Tiling {
                bm: 64,
                bn: 64,
                bk: 16,
                warps_m: 2,
                warps_n: 4,
                stages: 2,
            };
        }
        let big = Tiling {
            bm: 128,
            bn: 128,
            bk,
            warps_m: 2,
            warps_n: 4,
            stages: 3,
        };
        let (gx, gy) = big.grid(d.m, d.n);
        if d.m >= 128 && d.n >= 128 && gx as usize * gy as usize >= 64 {
            big
        } else {
            Tiling {
                bm: 64,
                bn: 64,
                bk,
                warps_m: 2,
                warps_n: 2,
                stages: 3,
            }
        }
    }
}

/// How one operand tile sits in shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmemTile {
    /// k is the contiguous dimension (rows are m or n); else rows are k.
    pub k_inner: bool,
    /// Rows of the tile.
    pub rows: usize,
    /// Bytes of one row, padding included.
    pub row_bytes: usize,
    /// Elements of one row (without padding).
    pub row_elems: usize,
}

impl SmemTile {
    /// The tile of an operand spanning `mn` (bm or bn) × `bk`, with `es`-byte elements.
    pub fn new(k_inner: bool, mn: usize, bk: usize, es: usize) -> SmemTile {
        let (rows, row_elems) = if k_inner { (mn, bk) } else { (bk, mn) };
        SmemTile {
            k_inner,
            rows,
            row_bytes: row_elems * es + ROW_PAD,
            row_elems,
        }
    }
    /// Bytes of the tile.
    pub fn bytes(&self) -> usize {
        self.rows * self.row_bytes
    }
}

/// Where each operand lives in shared memory, and whether `cp.async` can fill it directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The path.
    pub path: MmaPath,
    /// The tiling.
    pub tiling: Tiling,
    /// A's tile.
    pub a: SmemTile,
    /// B's tile.
    pub b: SmemTile,
    /// A can be copied 16 bytes at a time as stored (row-major, 16-byte aligned rows).
    pub a_vector: bool,
    /// B likewise.
    pub b_vector: bool,
}

impl Plan {
    /// The plan for `d`.
    pub fn of(d: &GemmDesc, tf32: bool) -> Result<Plan, String> {
        let path = MmaPath::of(d, tf32)?;
        let tiling = Tiling::choose(d, path);
        let es = path.elem_bytes();
        let simt = path == MmaPath::SimtF32;
        // As stored: A is k-inner unless transposed; B is k-inner only when transposed.
        let a_stored_k_inner = !d.trans_a;
        let b_stored_k_inner = d.trans_b;
        // Int8 fragments need k-inner tiles (`ldmatrix.trans` moves 16-bit elements only);
        // VNNI B is regrouped by the scalar loader, k-inner too. The SIMT path reads k-outer
        // tiles (a thread reads a row of m or n values per k).
        let a_k_inner = if simt {
            false
        } else {
            a_stored_k_inner || path == MmaPath::Int8
        };
        let b_k_inner = if simt {
            false
        } else {
            b_stored_k_inner || path == MmaPath::Int8 || d.b_layout != Layout::RowMajor
        };
        let aligned = |ld: usize, stride: Option<usize>| {
            (ld * es).is_multiple_of(16) && stride.is_none_or(|s| (s * es).is_multiple_of(16))
        };
        let (sa, sb) = match d.batch {
            crate::isa::BatchReduce::Stride { a, b } => (Some(a), Some(b)),
            _ => (None, None),
        };
        let a_vector = !simt && a_k_inner == a_stored_k_inner && aligned(d.lda, sa);
        let b_vector = !simt
            && b_k_inner == b_stored_k_inner
            && d.b_layout == Layout::RowMajor
            && aligned(d.ldb, sb);
        Ok(Plan {
            path,
            tiling,
            a: SmemTile::new(a_k_inner, tiling.bm, tiling.bk, es),
            b: SmemTile::new(b_k_inner, tiling.bn, tiling.bk, es),
            a_vector,
            b_vector,
        })
    }

    /// Bytes of one pipeline stage.
    pub fn stage_bytes(&self) -> usize {
        self.a.bytes() + self.b.bytes()
    }

    /// Dynamic shared memory of the kernel.
    pub fn smem_bytes(&self) -> usize {
        self.stage_bytes() * self.tiling.stages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_problems_get_large_tiles_and_small_ones_more_blocks() {
        let d = GemmDesc::new(4096, 4096, 4096, DType::BF16);
        let t = Tiling::choose(&d, MmaPath::Bf16);
        assert_eq!((t.bm, t.bn, t.bk, t.threads()), (128, 128, 32, 256));
        assert_eq!((t.warp_m(), t.warp_n()), (64, 32));
        let d = GemmDesc::new(512, 512, 4096, DType::BF16);
        assert_eq!(
            Tiling::choose(&d, MmaPath::Bf16).bm,
            64,
            "16 big blocks would idle the GPU"
        );
        let d = GemmDesc::new(20, 4096, 64, DType::BF16);
        assert_eq!(Tiling::choose(&d, MmaPath::Bf16).bm, 64);
        let d = GemmDesc::new(4096, 4096, 4096, DType::I8);
        assert_eq!(Tiling::choose(&d, MmaPath::Int8).bk, 64);
    }

    #[test]
    fn paths_follow_the_dtypes_and_tf32_is_opt_in() {
        let d = GemmDesc::new(8, 8, 8, DType::F32);
        assert_eq!(MmaPath::of(&d, false), Ok(MmaPath::SimtF32));
        assert_eq!(MmaPath::of(&d, true), Ok(MmaPath::Tf32));
        let d = GemmDesc::new(8, 8, 8, DType::U8).inputs(DType::U8, DType::I8);
        assert_eq!(MmaPath::of(&d, false), Ok(MmaPath::Int8));
        assert!(MmaPath::of(&GemmDesc::new(8, 8, 8, DType::F64), false).is_err());
    }

    #[test]
    fn cp_async_only_where_rows_are_16_byte_aligned_and_stored_as_read() {
        let d = GemmDesc::new(256, 256, 256, DType::BF16);
        let p = Plan::of(&d, false).unwrap();
        assert!(p.a_vector && p.b_vector);
        assert!(p.a.k_inner && !p.b.k_inner);
        // lda = 100 bf16 = 200 bytes: not a multiple of 16.
        let p = Plan::of(&d.ld(100, 256, 256), false).unwrap();
        assert!(!p.a_vector && p.b_vector);
        // int8 B stored k × n is regrouped k-inner by the scalar loader.
        let p = Plan::of(&GemmDesc::new(64, 64, 64, DType::I8), false).unwrap();
        assert!(p.b.k_inner && !p.b_vector && p.a_vector);
        let p = Plan::of(&GemmDesc::new(64, 64, 64, DType::I8).trans_b(), false).unwrap();
        assert!(p.b_vector);
        // A BRGEMM stride that breaks alignment turns the vector path off.
        let d = GemmDesc::new(64, 64, 64, DType::BF16)
            .batch(crate::isa::BatchReduce::Stride { a: 4100, b: 4096 });
        assert!(!Plan::of(&d, false).unwrap().a_vector);
    }

    #[test]
    fn shared_memory_rows_stay_16_byte_aligned() {
        for dt in [DType::BF16, DType::I8] {
            let d = GemmDesc::new(1024, 1024, 1024, dt);
            let p = Plan::of(&d, false).unwrap();
            for t in [p.a, p.b] {
                assert_eq!(t.row_bytes % 16, 0);
            }
            assert!(p.smem_bytes() <= 227 * 1024);
        }
    }
}
