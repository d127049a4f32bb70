//! AMX vocabulary: typed tile registers, the `ldtilecfg` operand (palette 1), and the tile
//! dot products. Encoding stays with iced-x86; this only names things.

use super::asm::{assemble, assembler};
use iced_x86::code_asm::*;

/// A tile register, `tmm0..tmm7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tmm(pub u8);

const TMMS: [AsmRegisterTmm; 8] = [tmm0, tmm1, tmm2, tmm3, tmm4, tmm5, tmm6, tmm7];

impl Tmm {
    /// As an operand.
    pub fn t(self) -> AsmRegisterTmm {
        TMMS[self.0 as usize]
    }
}

/// Rows of a tile (palette 1).
pub const TILE_ROWS: usize = 16;
/// Bytes of a tile row (palette 1).
pub const TILE_ROW_BYTES: usize = 64;

/// The 64-byte memory operand of `ldtilecfg` for palette 1: per tile, its rows and bytes per
/// row; a tile left at 0 × 0 is unconfigured (using it faults), which the kernels never do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileConfig {
    shapes: [(u8, u16); 8],
}

impl TileConfig {
    /// Configures tile `t` as `rows × colsb` bytes.
    pub fn set(&mut self, t: Tmm, rows: usize, colsb: usize) {
        assert!(
            (1..=TILE_ROWS).contains(&rows) && (1..=TILE_ROW_BYTES).contains(&colsb),
            "tile shape {rows} × {colsb} B outside palette 1"
        );
        self.shapes[t.0 as usize] = (rows as u8, colsb as u16);
    }

    /// Rows and bytes per row of tile `t` (0 × 0 when unconfigured).
    pub fn shape(&self, t: Tmm) -> (usize, usize) {
        let (r, c) = self.shapes[t.0 as usize];
        (r as usize, c as usize)
    }

    /// The operand bytes: palette id at 0, start row at 1, `colsb` as little-endian u16 at
    /// `16 + 2t`, `rows` at `48 + t` (Intel SDM, "LDTILECFG").
    pub fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0] = 1;
        for (t, &(rows, colsb)) in self.shapes.iter().enumerate() {
            b[16 + 2 * t..18 + 2 * t].copy_from_slice(&colsb.to_le_bytes());
            b[48 + t] = rows;
        }
        b
    }
}

/// A tile dot product: how the bytes of A and B are read, and what C accumulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileDot {
    /// `tdpbf16ps`: bf16 pairs, f32 C.
    Bf16,
    /// `tdpbssd`, `tdpbsud`, `tdpbusd`, `tdpbuud`: int8 quads, i32 C.
    Int8 {
        /// A holds i8 (else u8).
        a_signed: bool,
        /// B holds i8 (else u8).
        b_signed: bool,
    },
}

impl TileDot {
    /// Bytes of one element of A and B.
    pub fn elem_bytes(self) -> usize {
        match self {
            TileDot::Bf16 => 2,
            TileDot::Int8 { .. } => 1,
        }
    }
    /// k elements per 32-bit group (the VNNI factor of B).
    pub fn group(self) -> usize {
        match self {
            TileDot::Bf16 => 2,
            TileDot::Int8 { .. } => 4,
        }
    }
    /// Emits `c += a · b`.
    pub fn emit(self, asm: &mut CodeAssembler, c: Tmm, a: Tmm, b: Tmm) -> Result<(), IcedError> {
        let (c, a, b) = (c.t(), a.t(), b.t());
        match self {
            TileDot::Bf16 => asm.tdpbf16ps(c, a, b),
            TileDot::Int8 {
                a_signed: true,
                b_signed: true,
            } => asm.tdpbssd(c, a, b),
            TileDot::Int8 {
                a_signed: true,
                b_signed: false,
            } => asm.tdpbsud(c, a, b),
            TileDot::Int8 {
                a_signed: false,
                b_signed: true,
            } => asm.tdpbusd(c, a, b),
            TileDot::Int8 {
                a_signed: false,
                b_signed: false,
            } => asm.tdpbuud(c, a, b),
        }
    }
}

/// A register-only loop of `dot` for measuring the tile unit's peak: `extern "C"
/// fn(iters: u64)` running `4·iters` dot products of full 16 × 64-byte tiles into four
/// independent accumulators (`tmm0..3` from `tmm4..7`), with no memory traffic.
pub fn peak_loop(dot: TileDot) -> Result<Vec<u8>, IcedError> {
    let mut a = assembler()?;
    let mut cfg = TileConfig::default();
    let k_rows = 64 / 4;
    for t in 0..8 {
        cfg.set(
            Tmm(t),
            if t >= 6 { k_rows } else { TILE_ROWS },
            TILE_ROW_BYTES,
        );
    }
    let mut data = a.create_label();
    let mut top = a.create_label();
    let mut done = a.create_label();
    a.ldtilecfg(ptr(data))?;
    for t in 0..8 {
        a.tilezero(Tmm(t).t())?;
    }
    a.test(rdi, rdi)?;
    a.jz(done)?;
    a.set_label(&mut top)?;
    for (c, x, y) in [(0, 4, 6), (1, 4, 7), (2, 5, 6), (3, 5, 7)] {
        dot.emit(&mut a, Tmm(c), Tmm(x), Tmm(y))?;
    }
    a.dec(rdi)?;
    a.jnz(top)?;
    a.set_label(&mut done)?;
    a.tilerelease()?;
    a.ret()?;
    a.set_label(&mut data)?;
    a.db(&cfg.bytes())?;
    assemble(&mut a)
}

/// Operations (2 per multiply-add) of one full-tile dot product: 16 × 16 × 32 bf16 pairs'
/// worth, or 16 × 16 × 64 int8 products.
pub fn ops_per_dot(dot: TileDot) -> f64 {
    2.0 * 16.0 * 16.0 * (TILE_ROW_BYTES / dot.elem_bytes()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bytes_follow_the_sdm_layout() {
        let mut c = TileConfig::default();
        c.set(Tmm(0), 16, 64);
        c.set(Tmm(7), 3, 12);
        let b = c.bytes();
        assert_eq!(b[0], 1);
        assert_eq!(&b[16..18], &[64, 0]);
        assert_eq!(&b[30..32], &[12, 0]);
        assert_eq!(b[48], 16);
        assert_eq!(b[55], 3);
        assert_eq!(b.iter().filter(|&&x| x != 0).count(), 5);
    }
}
