//! Cache-key hashing of descriptors. A dispatch hit hashes the descriptor once, so the hash
//! folds the fields into a handful of words (lossy, which only risks a collision; equality
//! stays exact) instead of feeding every field to the hasher one by one.

use std::hash::Hasher;

/// Folds three sizes into one word.
#[inline]
pub(crate) fn pack3(a: usize, b: usize, c: usize) -> u64 {
    a as u64 ^ (b as u64).rotate_left(21) ^ (c as u64).rotate_left(42)
}

/// Packs up to eight small codes (dtypes, layouts, flags) into one word.
#[inline]
pub(crate) fn codes<const N: usize>(c: [u8; N]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..N].copy_from_slice(&c);
    u64::from_le_bytes(bytes)
}

/// Writes the words as one: each is multiplied by its own odd constant and the products are
/// xor-ed, so the multiplies run in parallel instead of as one dependent chain.
#[inline]
pub(crate) fn write<H: Hasher, const N: usize>(state: &mut H, words: [u64; N]) {
    const K: [u64; 8] = [
        0x9e37_79b9_7f4a_7c15,
        0xc2b2_ae3d_27d4_eb4f,
        0x1656_67b1_9e37_79f9,
        0x85eb_ca77_c2b2_ae63,
        0x27d4_eb2f_1656_67c5,
        0xff51_afd7_ed55_8ccd,
        0xc4ce_b9fe_1a85_ec53,
        0x8764_3d1b_a2c5_3ef1,
    ];
    let mut mixed = 0u64;
    for (i, w) in words.into_iter().enumerate() {
        mixed ^= (w ^ w >> 29).wrapping_mul(K[i % K.len()]);
    }
    state.write_u64(mixed);
}

/// A u128 count clamped to u64 (flop and byte counts of absurd but valid shapes).
pub(crate) fn saturate(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}
