//! The random stream of dropout: counter-based, so a mask depends only on the seed and the
//! element's position, never on the backend, the blocking or the thread count.
//!
//! For element `(i, j)` of a `rows × cols` dropout, the counter is `c = (i·cols + j) mod 2³²`
//! and the 64-bit seed splits into `k0` (low half) and `k1` (high half). The draw is
//! `u = fmix32(fmix32(c ^ k0) ^ k1)`, with MurmurHash3's 32-bit finaliser `fmix32`. The element
//! is **kept** when `u >= threshold(p)`, where `threshold(p) = round(p · 2³²)` (saturated to
//! `u32::MAX`), so the keep probability is `1 − p` to within 2⁻³². Only 32-bit multiplies,
//! shifts and xors are needed, which every SIMD ISA has. Operators that tile a larger tensor
//! derive a per-tile seed (e.g. by hashing the tile origin into it).

/// MurmurHash3's 32-bit finaliser: a bijection with full avalanche.
#[inline]
pub const fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The 32-bit draw for `counter` under `seed`.
#[inline]
pub const fn draw(seed: u64, counter: u32) -> u32 {
    fmix32(fmix32(counter ^ seed as u32) ^ (seed >> 32) as u32)
}

/// The keep threshold for drop probability `p` (`0 <= p < 1`).
pub fn threshold(p: f32) -> u32 {
    let t = (p as f64 * 4_294_967_296.0).round();
    if t >= u32::MAX as f64 {
        u32::MAX
    } else {
        t as u32
    }
}

/// Whether element `(i, j)` of a `cols`-wide dropout is kept.
#[inline]
pub fn keep(seed: u64, threshold: u32, i: usize, j: usize, cols: usize) -> bool {
    draw(seed, (i * cols + j) as u32) >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmix32_matches_known_values() {
        // MurmurHash3 fmix32 reference values.
        assert_eq!(fmix32(0), 0);
        assert_eq!(fmix32(1), 0x514e_28b7);
    }

    #[test]
    fn keep_rate_tracks_p() {
        for p in [0.0f32, 0.1, 0.5, 0.9] {
            let t = threshold(p);
            let n = 200_000;
            let kept = (0..n).filter(|&c| keep(42, t, 0, c, n)).count();
            let rate = kept as f64 / n as f64;
            assert!((rate - (1.0 - p as f64)).abs() < 0.01, "p={p} rate={rate}");
        }
    }
}
