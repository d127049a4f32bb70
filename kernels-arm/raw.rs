//! Named-field encoders for the ARMv8.2–8.6 vector instructions dynasm 5 lacks: the BF16 and
//! I8MM dot products and matrix multiplies, `bfcvtn`, and the f32 → f16 form of `fcvtn`. Each
//! returns the instruction's 32-bit word; `tests/encoder_golden.rs` compares every one of them,
//! over every register field and lane index, with GNU as.
//!
//! Field names follow the Arm ARM: `Rd` (bits 0–4), `Rn` (5–9), `Rm` (16–20), `Q` (30), and
//! for the by-element forms the lane index split into `H` (bit 11) and `L` (bit 21).

use super::asm::V;

/// `base | Rm << 16 | Rn << 5 | Rd`: the three-register layout of these instructions.
const fn three(base: u32, d: V, n: V, m: V) -> u32 {
    base | (m.0 as u32 & 31) << 16 | (n.0 as u32 & 31) << 5 | (d.0 as u32 & 31)
}

/// A by-element form: lane `index` (0..4) of a 32-bit group of `Vm` as `H:L`.
const fn by_element(base: u32, d: V, n: V, m: V, index: u8) -> u32 {
    let (h, l) = ((index as u32 >> 1) & 1, index as u32 & 1);
    three(base, d, n, m) | h << 11 | l << 21
}

/// `bfdot Vd.4s, Vn.8h, Vm.8h` (FEAT_BF16): each f32 lane += the two bf16 products of its pair.
pub const fn bfdot(d: V, n: V, m: V) -> u32 {
    three(0x6e40_fc00, d, n, m)
}

/// `bfdot Vd.4s, Vn.8h, Vm.2h[index]` (FEAT_BF16): the pair `index` of `Vm` for every lane.
pub const fn bfdot_elem(d: V, n: V, m: V, index: u8) -> u32 {
    by_element(0x4f40_f000, d, n, m, index)
}

/// `bfmmla Vd.4s, Vn.8h, Vm.8h` (FEAT_BF16): the 2×2 f32 tile += (2×4 bf16)·(4×2 bf16)ᵀ.
pub const fn bfmmla(d: V, n: V, m: V) -> u32 {
    three(0x6e40_ec00, d, n, m)
}

/// `smmla Vd.4s, Vn.16b, Vm.16b` (FEAT_I8MM): 2×2 i32 tile += (2×8 s8)·(2×8 s8)ᵀ.
pub const fn smmla(d: V, n: V, m: V) -> u32 {
    three(0x4e80_a400, d, n, m)
}

/// `ummla Vd.4s, Vn.16b, Vm.16b` (FEAT_I8MM): as `smmla` with u8 × u8.
pub const fn ummla(d: V, n: V, m: V) -> u32 {
    three(0x6e80_a400, d, n, m)
}

/// `usmmla Vd.4s, Vn.16b, Vm.16b` (FEAT_I8MM): as `smmla` with u8 (`Vn`) × s8 (`Vm`).
pub const fn usmmla(d: V, n: V, m: V) -> u32 {
    three(0x4e80_ac00, d, n, m)
}

/// `usdot Vd.4s, Vn.16b, Vm.16b` (FEAT_I8MM): each i32 lane += four u8 (`Vn`) × s8 (`Vm`).
pub const fn usdot(d: V, n: V, m: V) -> u32 {
    three(0x4e80_9c00, d, n, m)
}

/// `usdot Vd.4s, Vn.16b, Vm.4b[index]` (FEAT_I8MM): u8 `Vn` × the s8 group `index` of `Vm`.
pub const fn usdot_elem(d: V, n: V, m: V, index: u8) -> u32 {
    by_element(0x4f80_f000, d, n, m, index)
}

/// `sudot Vd.4s, Vn.16b, Vm.4b[index]` (FEAT_I8MM): s8 `Vn` × the u8 group `index` of `Vm`.
pub const fn sudot_elem(d: V, n: V, m: V, index: u8) -> u32 {
    by_element(0x4f00_f000, d, n, m, index)
}

/// `bfcvtn Vd.4h, Vn.4s` (FEAT_BF16): f32 → bf16, round to nearest even, into the low half
/// (the high half is zeroed).
pub const fn bfcvtn(d: V, n: V) -> u32 {
    three(0x0ea1_6800, d, n, V(0))
}

/// `fcvtn Vd.4h, Vn.4s` (base ARMv8): f32 → f16 under FPCR's rounding (nearest even), into
/// the low half (the high half is zeroed).
pub const fn fcvtn_f16(d: V, n: V) -> u32 {
    three(0x0e21_6800, d, n, V(0))
}
