//! The matrix-multiply-accumulate k loop of the NEON GEMM (FEAT_BF16 `bfmmla`, FEAT_I8MM
//! `smmla`/`ummla`/`usmmla`), on the same VNNI B layouts and 6×16 tiles as the dot products.
//!
//! One MMLA multiplies a 2×g block of A (two rows of g consecutive k in one q register: g = 4
//! bf16 or 8 int8) by a g×2 block of B (two columns of g k) into a 2×2 tile of C held in one
//! accumulator (`[c00, c01, c10, c11]`): 16 (bf16) or 32 (int8) multiply-accumulates, twice
//! the dot products' 8 and 16. The operands need rearranging:
//! - A: row `2p` of the group is an 8-byte `ldr d` and row `2p + 1` an `ld1 {v.d}[1]` into
//!   the same register (`v0..v2`, one per row pair), both post-incremented;
//! - B: a group is two VNNI row groups (4 consecutive columns of each are one q register:
//!   column j's k pair / quad per 32-bit lane); `zip1`/`zip2 .4s` of the two make the
//!   operands of columns (j, j+1) and (j+2, j+3). `v3..v7` hold loads and operands;
//! - C: row pair p, column pair q in `v(8 + 8p + q)`: the same 24 registers as the dot
//!   kernels' rows × vectors, so after the reduction [`Gen::untile_mmla`] permutes the 2×2
//!   tiles into row vectors (`uzp1`/`uzp2`) and the common scaling, stores and epilogue run
//!   unchanged.
//!
//! A full trip of the k loop (two groups, 8 bf16 or 16 int8 k) of a 6×16 tile is 48 MMLA,
//! 12 A loads, 8 B pair loads, 16 zips and the loop's 2: 55.8% multiply-accumulate
//! instructions but 17.9 bf16 FLOPs (35.7 int8 operations) per instruction against the dot
//! kernels' 13.8 (27.7) at 86.5%. That edge is what decides where MMLA is used (see
//! [`MMLA_MIN_ROWS`]); `tests/neon_density.rs` counts both and checks the rule.
//!
//! Leftover k (half a group: k mod g = g/2, since VNNI B makes k a multiple of g/2) load A
//! as `ldr s` + `ld1 {v.s}[2]` and pair B's one row group with zeros, so the missing half of
//! both operands is 0 (a zero times a finite or infinite B value would not be, which is why
//! B's half is zeroed rather than read).

use super::super::asm::*;
use super::super::convert;
use super::super::raw;
use super::{Arith, DotI8, Gen};
use crate::isa::DType;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

/// The matrix multiply of a tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mmla {
    /// `bfmmla` (FEAT_BF16): bf16 × bf16 → f32.
    Bfmmla,
    /// `smmla` (FEAT_I8MM): i8 × i8 → i32.
    Smmla,
    /// `ummla` (FEAT_I8MM): u8 × u8 → i32.
    Ummla,
    /// `usmmla` (FEAT_I8MM) with A (u8) as the unsigned operand: u8 A × i8 B.
    UsmmlaUnsignedA,
    /// `usmmla` with B (u8) as the unsigned operand: i8 A × u8 B. The operands swap, so each
    /// accumulator holds its 2×2 tile transposed (`[c00, c10, c01, c11]`).
    UsmmlaSignedA,
}

/// Rows from which a tile uses MMLA rather than the dot product of the same B layout.
///
/// The rule comes from the useful multiply-accumulates per k-loop instruction (no hardware
/// was available to time them): a row pair costs one A register whatever its height, and each
/// B operand costs a load share and a zip for 2 columns against the dot products' one load
/// for 4 columns, so MMLA needs enough row pairs sharing each B operand to pay for the
/// rearranging (and an odd row count wastes half of the last pair's work). Counted by
/// `tests/neon_density.rs` in bf16 FLOPs per instruction on 16 columns, MMLA against the
/// dot: 1 row 5.8 / 9.8, 3 rows 12.0 / 12.8, 4 rows 15.5 / 13.3, 6 rows 17.9 / 13.8; int8 and
/// 8-column tiles change at the same height. The test checks the rule against the counts.
pub const MMLA_MIN_ROWS: usize = 4;

/// Which tiles of a kernel use MMLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmlaUse {
    /// The instruction.
    pub kind: Mmla,
    /// Tiles of at least this many rows use it; the others the dot product of `Arith`.
    pub min_rows: usize,
}

impl Mmla {
    /// The MMLA of a dot-product multiply (same dtypes, same VNNI B), if it has one.
    pub fn of(arith: Arith) -> Option<Mmla> {
        Some(match arith {
            Arith::DotBf16 => Mmla::Bfmmla,
            Arith::DotI8(DotI8::Sdot) => Mmla::Smmla,
            Arith::DotI8(DotI8::Udot) => Mmla::Ummla,
            Arith::DotI8(DotI8::UnsignedA) => Mmla::UsmmlaUnsignedA,
            Arith::DotI8(DotI8::SignedA) => Mmla::UsmmlaSignedA,
            Arith::Fma32 { .. } | Arith::Fma64 => return None,
        })
    }

    /// `acc += a_pair · b_pairᵀ` (the 2×2 tile of row pair `a`, column pair `b`).
    fn emit(self, ops: &mut Ops, acc: V, a: V, b: V) {
        word(
            ops,
            match self {
                Mmla::Bfmmla => raw::bfmmla(acc, a, b),
                Mmla::Smmla => raw::smmla(acc, a, b),
                Mmla::Ummla => raw::ummla(acc, a, b),
                Mmla::UsmmlaUnsignedA => raw::usmmla(acc, a, b),
                Mmla::UsmmlaSignedA => raw::usmmla(acc, b, a),
            },
        );
    }
}

/// The accumulator of row pair `p`, column pair `q`.
fn acc_pair(p: usize, q: usize) -> V {
    V((8 + 8 * p + q) as u8)
}

/// B registers: the two row groups' loads (`G0`, `G1`: columns 0–3 and 4–7 of a half tile)
/// and the spare that takes the first zip.
const G0: [V; 2] = [V(3), V(4)];
const G1: [V; 2] = [V(5), V(6)];
const SPARE: V = V(7);

impl Gen<'_> {
    /// Zeroes the accumulators of a `rows × cols` MMLA tile.
    pub(super) fn zero_mmla(&mut self, rows: usize, cols: usize) {
        for p in 0..rows.div_ceil(2) {
            for q in 0..2 * cols.div_ceil(4) {
                dynasm!(self.a ; .arch aarch64 ; movi V(acc_pair(p, q).0).D2, #0);
            }
        }
    }

    /// The k reduction of one batch member with MMLA (A rows at `arow`, B at `b`).
    pub(super) fn k_loop_mmla(&mut self, rows: usize, cols: usize, kind: Mmla) {
        let d = self.spec.d;
        let kpl = self.spec.arith.k_per_lane();
        let group = 2 * kpl;
        let (b, b2, t0, kc) = (self.r.b, self.r.t1, self.r.t0, self.r.k);
        // The second row group of each pair through its own pointer.
        let row = self.b_row_bytes();
        add_imm(&mut self.a, b2, b, row, t0);
        let groups = d.k / group;
        let pairs = groups / 2;
        if pairs > 0 {
            let top = self.a.new_dynamic_label();
            if pairs > 1 {
                mov_imm(&mut self.a, kc, pairs as u64);
            }
            dynasm!(self.a ; .arch aarch64 ; =>top);
            self.mmla_group(rows, cols, kind);
            self.mmla_group(rows, cols, kind);
            if pairs > 1 {
                dynasm!(self.a ; .arch aarch64
                    ; subs X(kc.0), XSP(kc.0), #1
                    ; b.ne =>top);
            }
        }
        if groups % 2 == 1 {
            self.mmla_group(rows, cols, kind);
        }
        if !d.k.is_multiple_of(group) {
            self.mmla_half_group(rows, cols, kind);
        }
    }

    /// A rows of one group: 8 bytes of each row, row pairs in `v0..v2`.
    fn mmla_load_a(&mut self, rows: usize, bytes: u32) {
        for p in 0..rows.div_ceil(2) {
            let (r0, r) = (self.r.arow[2 * p].0, p as u8);
            if bytes == 8 {
                dynasm!(self.a ; .arch aarch64 ; ldr D(r), [X(r0)], #8);
            } else {
                dynasm!(self.a ; .arch aarch64 ; ldr S(r), [X(r0)], #4);
            }
            if 2 * p + 1 < rows {
                let r1 = self.r.arow[2 * p + 1].0;
                if bytes == 8 {
                    dynasm!(self.a ; .arch aarch64 ; ld1 {V(r).D * 1}[1], [X(r1)], #8);
                } else {
                    dynasm!(self.a ; .arch aarch64 ; ld1 {V(r).S * 1}[2], [X(r1)], #4);
                }
            }
        }
    }

    /// The MMLA of every row pair with the B operand of column pair `q` in `breg`.
    fn mmla_column_pair(&mut self, rows: usize, kind: Mmla, q: usize, breg: V) {
        for p in 0..rows.div_ceil(2) {
            kind.emit(&mut self.a, acc_pair(p, q), V(p as u8), breg);
        }
    }

    /// One group of k (two VNNI row groups of B): `b` and `b2` move two row groups on.
    fn mmla_group(&mut self, rows: usize, cols: usize, kind: Mmla) {
        let d = self.spec.d;
        let (b, b2, t0) = (self.r.b, self.r.t1, self.r.t0);
        let a_bytes = (2 * self.spec.arith.k_per_lane() * d.a_dtype.size()) as u32;
        self.mmla_load_a(rows, a_bytes);
        let row = self.b_row_bytes();
        if cols == self.spec.arith.tile_cols() {
            // Full tile: each half (8 columns) is one `ldp` per row group; the second half's
            // post-increment steps to the next pair of row groups when it fits the immediate.
            let step = 2 * row - 32;
            let post = step <= 1008 && step.is_multiple_of(16);
            for half in 0..2 {
                let (g0, g1) = (G0, G1);
                match (half, post) {
                    (0, _) => dynasm!(self.a ; .arch aarch64
                        ; ldp Q(g0[0].0), Q(g0[1].0), [X(b.0)], #32
                        ; ldp Q(g1[0].0), Q(g1[1].0), [X(b2.0)], #32),
                    (_, true) => {
                        let s = step as i32;
                        dynasm!(self.a ; .arch aarch64
                            ; ldp Q(g0[0].0), Q(g0[1].0), [X(b.0)], #s
                            ; ldp Q(g1[0].0), Q(g1[1].0), [X(b2.0)], #s)
                    }
                    (_, false) => dynasm!(self.a ; .arch aarch64
                        ; ldp Q(g0[0].0), Q(g0[1].0), [X(b.0)]
                        ; ldp Q(g1[0].0), Q(g1[1].0), [X(b2.0)]),
                }
                // Columns 0–1 and 2–3 of the half from the first loads, 4–5 and 6–7 from
                // the second; each zip frees the register the next one writes.
                dynasm!(self.a ; .arch aarch64
                    ; zip1 V(SPARE.0).S4, V(g0[0].0).S4, V(g1[0].0).S4
                    ; zip2 V(g1[0].0).S4, V(g0[0].0).S4, V(g1[0].0).S4
                    ; zip1 V(g0[0].0).S4, V(g0[1].0).S4, V(g1[1].0).S4
                    ; zip2 V(g1[1].0).S4, V(g0[1].0).S4, V(g1[1].0).S4);
                let operands = [SPARE, g1[0], g0[0], g1[1]];
                for (i, breg) in operands.into_iter().enumerate() {
                    self.mmla_column_pair(rows, kind, 4 * half + i, breg);
                }
            }
            if !post {
                add_imm(&mut self.a, b, b, step, t0);
                add_imm(&mut self.a, b2, b2, step, t0);
            }
            return;
        }
        // A narrow tile: 4 columns at a time, the last ones partial (nothing read past n).
        for v in 0..cols.div_ceil(4) {
            let lanes = (cols - 4 * v).min(4);
            let off = (16 * v) as u32;
            convert::load(&mut self.a, G0[0], DType::F32, b, off, lanes, t0);
            convert::load(&mut self.a, G1[0], DType::F32, b2, off, lanes, t0);
            self.mmla_zip_pairs(rows, kind, v, lanes);
        }
        add_imm(&mut self.a, b, b, 2 * row, t0);
        add_imm(&mut self.a, b2, b2, 2 * row, t0);
    }

    /// The operands of columns `4v..4v+lanes` from `G0[0]` and `G1[0]`, multiplied in.
    fn mmla_zip_pairs(&mut self, rows: usize, kind: Mmla, v: usize, lanes: usize) {
        let (g0, g1) = (G0[0].0, G1[0].0);
        dynasm!(self.a ; .arch aarch64
            ; zip1 V(SPARE.0).S4, V(g0).S4, V(g1).S4
            ; zip2 V(g1).S4, V(g0).S4, V(g1).S4);
        self.mmla_column_pair(rows, kind, 2 * v, SPARE);
        if lanes > 2 {
            self.mmla_column_pair(rows, kind, 2 * v + 1, G1[0]);
        }
    }

    /// The leftover half group: one row group of B against zeros, 4 bytes of each A row.
    fn mmla_half_group(&mut self, rows: usize, cols: usize, kind: Mmla) {
        let d = self.spec.d;
        let (b, t0) = (self.r.b, self.r.t0);
        let a_bytes = (self.spec.arith.k_per_lane() * d.a_dtype.size()) as u32;
        self.mmla_load_a(rows, a_bytes);
        for v in 0..cols.div_ceil(4) {
            let lanes = (cols - 4 * v).min(4);
            convert::load(
                &mut self.a,
                G0[0],
                DType::F32,
                b,
                (16 * v) as u32,
                lanes,
                t0,
            );
            dynasm!(self.a ; .arch aarch64 ; movi V(G1[0].0).D2, #0);
            self.mmla_zip_pairs(rows, kind, v, lanes);
        }
    }

    /// Turns the 2×2 tiles of a `rows × cols` MMLA tile into the row vectors the stores
    /// read: row `i`, vector `v` in `acc(i, v)` (`uzp1`/`uzp2 .2d` of two tiles side by
    /// side give their two rows; `.4s` when the tiles are transposed).
    pub(super) fn untile_mmla(&mut self, rows: usize, cols: usize, kind: Mmla) {
        let nv = cols.div_ceil(4);
        for p in 0..rows.div_ceil(2) {
            // Into v0..v7 (free after the reduction), then back to the pair's registers.
            for v in 0..nv {
                let (x, y) = (acc_pair(p, 2 * v).0, acc_pair(p, 2 * v + 1).0);
                let (lo, hi) = (v as u8, (4 + v) as u8);
                if kind == Mmla::UsmmlaSignedA {
                    dynasm!(self.a ; .arch aarch64
                        ; uzp1 V(lo).S4, V(x).S4, V(y).S4
                        ; uzp2 V(hi).S4, V(x).S4, V(y).S4);
                } else {
                    dynasm!(self.a ; .arch aarch64
                        ; uzp1 V(lo).D2, V(x).D2, V(y).D2
                        ; uzp2 V(hi).D2, V(x).D2, V(y).D2);
                }
            }
            for i in (2 * p..rows).take(2) {
                for v in 0..nv {
                    let from = (v + 4 * (i - 2 * p)) as u8;
                    let to = super::acc(i, v).0;
                    dynasm!(self.a ; .arch aarch64 ; mov V(to).B16, V(from).B16);
                }
            }
        }
    }
}
