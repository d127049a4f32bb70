//! What a GEMM microkernel multiplies with (`Arith`) and how its register tiles cover C
//! (`Blocking`): the choices made per descriptor before any code is emitted.

use crate::dispatch::caps::Vendor;
use crate::isa::{BatchReduce, DType, GemmDesc};

/// How a microkernel multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// `vfmadd231ps` on f32 lanes; A and B (f32, bf16 or f16, row-major) widen on load.
    Fma32,
    /// `vfmadd231pd` on f64 lanes.
    Fma64,
    /// `vdpbf16ps` on a VNNI2 bf16 B: two k per instruction.
    DotBf16,
    /// `vpdpbusd` on u8 A and a VNNI4 i8 B: four k per instruction, i32 lanes.
    DotU8I8,
    /// `vpdpbusd` on i8 A made u8 by `a + 128` (a xor of the sign bits) and a VNNI4 i8 B,
    /// less `128·Σₖ B` per column, which a second `vpdpbusd` of 128s against B accumulates.
    DotI8I8,
}

impl Arith {
    /// Lanes of one accumulator.
    pub fn lanes(self) -> usize {
        if self == Arith::Fma64 {
            8
        } else {
            16
        }
    }
    /// k per multiply step.
    pub(crate) fn k_step(self) -> usize {
        match self {
            Arith::Fma32 | Arith::Fma64 => 1,
            Arith::DotBf16 => 2,
            Arith::DotU8I8 | Arith::DotI8I8 => 4,
        }
    }
}

/// Register blocking of a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of a full tile.
    pub rows: usize,
    /// Vectors of a full tile.
    pub vectors: usize,
    /// Lanes per vector.
    pub lanes: usize,
    /// k steps per trip of the k loop.
    pub unroll: usize,
    /// Accumulator sets that alternate over k (2 for tiles too small to hide the multiply's
    /// latency with one chain per accumulator).
    pub sets: usize,
}

impl Blocking {
    /// The tile shape for `d` on a core of `vendor`: as many vectors as the row needs up to 4
    /// (5 when that covers it), then as many rows as the remaining registers hold, balanced
    /// over the row blocks.
    ///
    /// Except on Intel cores for an f32 batch-reduce of few rows (7 to 14 for n ≥ 32): there
    /// the batch's B matrices stream from L2 once per row block, and one tall tile of
    /// 2 vectors × all the rows reads them once where wide tiles would take two or three row
    /// blocks. Not for more rows: a tall tile then reads A twice (once per column block) and
    /// feeds each A line to half as many multiplies, which costs most when A comes cold from
    /// L3, as a conv's input does between layers. Xeon (model 207), 1 thread, ratio to oneDNN
    /// with the two interleaved, tall → wide: 1×1 convs at 56×56 (m = 64) 0.74× → 0.88–0.97×,
    /// 3×3 at 56×56 (m = 56) 0.77× → 0.83×, 28×28 (m = 28) level, and 14×14 (m = 14)
    /// 0.77× → 0.72×; BRGEMM 64³×16 against LIBXSMM in one run level (0.87–0.97× tall,
    /// 0.99–1.01× wide). Not when A's rows lie a multiple of 4 KiB apart: twice as many rows
    /// would then share too few L1 sets (the large GEMM's A read in place measured 7% slower
    /// so).
    pub fn of(d: &GemmDesc, arith: Arith, vendor: Vendor) -> Blocking {
        let lanes = arith.lanes();
        let nv = d.n.div_ceil(lanes);
        let wide = match nv {
            0..=5 => nv.max(1),
            _ if nv.is_multiple_of(3) && !nv.is_multiple_of(4) => 3,
            _ => 4,
        };
        // zmm0..: accumulators; then `vectors` B registers and one broadcast register.
        // DotI8I8 also keeps its column corrections and the 128s in registers.
        let max_rows_of = |vectors: usize| {
            let spare = if arith == Arith::DotI8I8 {
                1 + 2 * vectors
            } else {
                1 + vectors
            };
            ((32 - spare) / vectors).min(24)
        };
        // Xeon (model 207), BRGEMM m×64×64×9 in the conv's access pattern, min of 300 runs:
        // m = 7 from 68% (two wide row blocks) to 88% of the FMA peak as one tall block;
        // m = 5, 6 stay at 90–100% wide, where tall fell to 70–80%.
        let a_row_bytes = d.lda * d.a_dtype.size();
        let tall = vendor == Vendor::Intel
            && arith == Arith::Fma32
            && d.a_dtype == DType::F32
            && d.batch != BatchReduce::None
            && !d.trans_a
            && nv >= 2
            && d.m > max_rows_of(wide)
            && d.m <= max_rows_of(2)
            && !a_row_bytes.is_multiple_of(4096);
        let vectors = if tall { 2 } else { wide };
        let max_rows = max_rows_of(vectors);
        // A divisor of m one short of the most rows makes one tile shape (half the code to
        // generate); else the row blocks are balanced. Fewer rows than that cost more than
        // the edge tile saves: Xeon (model 207), BRGEMM 64³×16 in one process, min of 100
        // runs, 2×8 tiles (8 | 64) at 86–89% of the FMA peak against 95–96% for 2×13.
        let rows = (max_rows.saturating_sub(1).max(1)..=max_rows.min(d.m))
            .rev()
            .find(|&r| d.m.is_multiple_of(r))
            .unwrap_or_else(|| d.m.div_ceil(d.m.div_ceil(max_rows)));
        // Enough independent multiplies per k step for two pipes of 4-cycle latency; a short
        // unroll when the step is long keeps the code (and the generation time) small.
        let chains = rows * vectors;
        Blocking {
            rows,
            vectors,
            lanes,
            unroll: if chains >= 16 { 2 } else { 4 },
            sets: if chains <= 4 && d.k >= 2 * arith.k_step() {
                2
            } else {
                1
            },
        }
    }

    /// Columns of a full tile.
    pub fn cols(&self) -> usize {
        self.vectors * self.lanes
    }

    /// The row blocks of an `m`-row C: `(count, rows)`, the taller first.
    pub fn row_blocks(&self, m: usize) -> Vec<(usize, usize)> {
        row_blocks(m, self.rows)
    }

    /// Every tile shape `(rows, cols)` an `m × n` kernel visits.
    pub fn tiles(&self, m: usize, n: usize) -> Vec<(usize, usize)> {
        let c = self.cols();
        let widths = [
            (n >= c).then_some(c),
            (!n.is_multiple_of(c)).then_some(n % c),
        ];
        let heights = self.row_blocks(m);
        widths
            .into_iter()
            .flatten()
            .flat_map(|w| heights.iter().map(move |&(_, h)| (h, w)))
            .collect()
    }
}

/// The blocks of `m` rows under tiles of at most `r` rows: `(count, rows)`, the taller first,
/// balanced so that no block is more than one row shorter than another. A short edge block
/// runs far below the full tiles' rate (its few rows share each B load): Xeon (model 207),
/// BRGEMM m×64×64 over 9 taps in the conv's access pattern, min of 400 runs against m = 54
/// (9 × 6) in the same process: m = 56 (9 × 6 + 2 → 6 × 6 + 4 × 5) 0.94 → 0.96, m = 26
/// (4 × 6 + 2 → 2 × 6 + 3 × 5) 0.88 → 0.92.
pub fn row_blocks(m: usize, r: usize) -> Vec<(usize, usize)> {
    let blocks = m.div_ceil(r.max(1));
    if blocks == 0 {
        return vec![];
    }
    let (base, extra) = (m / blocks, m % blocks);
    [(extra, base + 1), (blocks - extra, base)]
        .into_iter()
        .filter(|&(count, _)| count > 0)
        .collect()
}

/// Every shape `(rows, cols)` that tiles of `r × c` (full ones, then the edges) take over an
/// `m × n` matrix.
pub fn tile_shapes(m: usize, n: usize, r: usize, c: usize) -> Vec<(usize, usize)> {
    let heights = [
        (m >= r).then_some(r),
        (!m.is_multiple_of(r)).then_some(m % r),
    ];
    let widths = [
        (n >= c).then_some(c),
        (!n.is_multiple_of(c)).then_some(n % c),
    ];
    widths
        .into_iter()
        .flatten()
        .flat_map(|w| heights.into_iter().flatten().map(move |h| (h, w)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::row_blocks;

    #[test]
    fn row_blocks_are_balanced_and_cover_m() {
        assert_eq!(row_blocks(56, 6), [(6, 6), (4, 5)]);
        assert_eq!(row_blocks(54, 6), [(9, 6)]);
        assert_eq!(row_blocks(4, 6), [(1, 4)]);
        assert_eq!(row_blocks(0, 6), []);
        for m in 1..200 {
            for r in 1..25 {
                let b = row_blocks(m, r);
                assert_eq!(b.iter().map(|&(c, h)| c * h).sum::<usize>(), m);
                assert!(b.iter().all(|&(_, h)| h >= 1 && h <= r));
                assert!(b.len() == 1 || b[0].1 == b[1].1 + 1);
            }
        }
    }
}
