//! Loads and stores of 4 f32 lanes from and to f32, bf16 and f16 memory (and of 2 raw f64
//! lanes, for the f64 GEMM; other 4-byte dtypes move as raw f32 lanes), whole or partial
//! (the tail of a row: 1–3 lanes, with nothing read or written past them), and broadcasts.
//!
//! Widening is exact: bf16 → f32 is a 16-bit shift (`shll`), f16 → f32 is `fcvtl`. Narrowing
//! rounds to nearest even: f16 by `fcvtn` (base ARMv8, a raw word: dynasm only has its
//! f64 → f32 form), bf16 by `bfcvtn` where FEAT_BF16 is present and otherwise by the integer
//! sequence `(x + 0x7fff + (x >> 16 & 1)) >> 16` with NaNs made quiet instead.

use super::asm::{dup_imm32, word, Ops, V, X};
use super::raw;
use crate::isa::DType;
use dynasmrt::{dynasm, DynasmApi};

/// Widens the low 4 halves of `v` (as loaded) to f32 in place (f32: nothing to do).
pub fn widen(a: &mut Ops, v: V, dtype: DType) {
    match dtype {
        DType::BF16 => dynasm!(a ; .arch aarch64 ; shll V(v.0).S4, V(v.0).H4, #16),
        DType::F16 => dynasm!(a ; .arch aarch64 ; fcvtl V(v.0).S4, V(v.0).H4),
        _ => {}
    }
}

/// `d` = `lanes` (1..=4) elements at `base + off` bytes, widened to f32 (inactive lanes 0).
/// `tmp` is clobbered.
pub fn load(a: &mut Ops, d: V, dtype: DType, base: X, off: u32, lanes: usize, tmp: X) {
    let (r, b) = (d.0, base.0);
    match (dtype.size(), lanes) {
        (4, 4) => dynasm!(a ; .arch aarch64 ; ldr Q(r), [X(b), #off]),
        (4, 3) => dynasm!(a ; .arch aarch64
            ; ldr D(r), [X(b), #off]
            ; ldr W(tmp.0), [X(b), #off + 8]
            ; ins V(r).S[2], W(tmp.0)),
        (4, 2) => dynasm!(a ; .arch aarch64 ; ldr D(r), [X(b), #off]),
        (4, _) => dynasm!(a ; .arch aarch64 ; ldr S(r), [X(b), #off]),
        (8, 1) => dynasm!(a ; .arch aarch64 ; ldr D(r), [X(b), #off]),
        (8, _) => dynasm!(a ; .arch aarch64 ; ldr Q(r), [X(b), #off]),
        (_, 4) => dynasm!(a ; .arch aarch64 ; ldr D(r), [X(b), #off]),
        (_, 3) => dynasm!(a ; .arch aarch64
            ; ldr S(r), [X(b), #off]
            ; ldrh W(tmp.0), [X(b), #off + 4]
            ; ins V(r).H[2], W(tmp.0)),
        (_, 2) => dynasm!(a ; .arch aarch64 ; ldr S(r), [X(b), #off]),
        (_, _) => dynasm!(a ; .arch aarch64 ; ldr H(r), [X(b), #off]),
    }
    widen(a, d, dtype);
}

/// `d` = the element at `base`, widened to f32, in every lane.
pub fn broadcast(a: &mut Ops, d: V, dtype: DType, base: X) {
    if dtype.size() == 4 {
        dynasm!(a ; .arch aarch64 ; ld1r {V(d.0).S4 * 1}, [X(base.0)]);
    } else {
        dynasm!(a ; .arch aarch64 ; ld1r {V(d.0).H4 * 1}, [X(base.0)]);
        widen(a, d, dtype);
    }
}

/// How a store narrows f32 to bf16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Round {
    /// `bfcvtn` (FEAT_BF16).
    Instruction,
    /// The integer round-to-nearest-even sequence (any ARMv8).
    Integer,
}

/// Scratch vector registers a store may clobber (three for the integer bf16 rounding).
pub type StoreScratch = [V; 3];

/// Stores `lanes` (1..=4) lanes of `s` to `base + off` as `dtype`. `s` is left intact; `tmp`
/// and the scratch registers are clobbered.
#[allow(clippy::too_many_arguments)]
pub fn store(
    a: &mut Ops,
    s: V,
    dtype: DType,
    base: X,
    off: u32,
    lanes: usize,
    tmp: X,
    scratch: StoreScratch,
    bf16: Bf16Round,
) {
    let n = narrow(a, s, dtype, tmp, scratch, bf16);
    let (r, b) = (n.0, base.0);
    match (dtype.size(), lanes) {
        (4, 4) => dynasm!(a ; .arch aarch64 ; str Q(r), [X(b), #off]),
        (4, 3) => dynasm!(a ; .arch aarch64
            ; str D(r), [X(b), #off]
            ; umov W(tmp.0), V(r).S[2]
            ; str W(tmp.0), [X(b), #off + 8]),
        (4, 2) => dynasm!(a ; .arch aarch64 ; str D(r), [X(b), #off]),
        (4, _) => dynasm!(a ; .arch aarch64 ; str S(r), [X(b), #off]),
        (8, 1) => dynasm!(a ; .arch aarch64 ; str D(r), [X(b), #off]),
        (8, _) => dynasm!(a ; .arch aarch64 ; str Q(r), [X(b), #off]),
        (_, 4) => dynasm!(a ; .arch aarch64 ; str D(r), [X(b), #off]),
        (_, 3) => dynasm!(a ; .arch aarch64
            ; str S(r), [X(b), #off]
            ; umov W(tmp.0), V(r).H[2]
            ; strh W(tmp.0), [X(b), #off + 4]),
        (_, 2) => dynasm!(a ; .arch aarch64 ; str S(r), [X(b), #off]),
        (_, _) => dynasm!(a ; .arch aarch64 ; str H(r), [X(b), #off]),
    }
}

/// The register holding `s` as `dtype` lanes: `s` itself, or `scratch[0]` narrowed to
/// bf16/f16 (its low 8 bytes).
fn narrow(a: &mut Ops, s: V, dtype: DType, tmp: X, scratch: StoreScratch, bf16: Bf16Round) -> V {
    match dtype {
        DType::F16 => {
            word(a, raw::fcvtn_f16(scratch[0], s));
            scratch[0]
        }
        DType::BF16 if bf16 == Bf16Round::Instruction => {
            word(a, raw::bfcvtn(scratch[0], s));
            scratch[0]
        }
        DType::BF16 => {
            round_bf16_integer(a, scratch[0], s, [scratch[1], scratch[2]], tmp);
            scratch[0]
        }
        _ => s,
    }
}

/// Stores all 4 lanes of `s` to `base + off` as `dtype` (f32, bf16 or f16) with a
/// non-temporal pair store (`stnp`: the line is not read for ownership nor kept in the
/// caches), its two halves split through `scratch[1]`. `off` is a multiple of 8 (f32) or
/// 4 (bf16, f16) below 256. The caller orders these stores before returning (`dmb`).
#[allow(clippy::too_many_arguments)]
pub fn store_nontemporal(
    a: &mut Ops,
    s: V,
    dtype: DType,
    base: X,
    off: u32,
    tmp: X,
    scratch: StoreScratch,
    bf16: Bf16Round,
) {
    let n = narrow(a, s, dtype, tmp, scratch, bf16);
    let (r, h, b, off) = (n.0, scratch[1].0, base.0, off as i32);
    if dtype.size() == 4 {
        dynasm!(a ; .arch aarch64
            ; dup D(h), V(r).D[1]
            ; stnp D(r), D(h), [X(b), #off]);
    } else {
        dynasm!(a ; .arch aarch64
            ; dup S(h), V(r).S[1]
            ; stnp S(r), S(h), [X(b), #off]);
    }
}

/// `d.4h` = `s.4s` rounded to bf16 (nearest even; a NaN stays a NaN, made quiet) with
/// integer instructions only. `t` and `tmp` are clobbered.
fn round_bf16_integer(a: &mut Ops, d: V, s: V, t: [V; 2], tmp: X) {
    let (d, s, t0, t1) = (d.0, s.0, t[0].0, t[1].0);
    // t0 = s + 0x7fff + ((s >> 16) & 1)
    dynasm!(a ; .arch aarch64
        ; ushr V(t0).S4, V(s).S4, #16
        ; movi V(t1).S4, #1
        ; and V(t0).B16, V(t0).B16, V(t1).B16
        ; add V(t0).S4, V(t0).S4, V(s).S4
    );
    dup_imm32(a, t[1], 0x7fff, tmp);
    dynasm!(a ; .arch aarch64
        ; add V(t0).S4, V(t0).S4, V(t1).S4
        // NaN lanes (s != s): the quiet bit set instead of rounding (which could carry
        // into the exponent and make an infinity).
        ; fcmeq V(t1).S4, V(s).S4, V(s).S4
        ; bif V(t0).B16, V(s).B16, V(t1).B16
    );
    dup_imm32(a, t[1], 0x0040_0000, tmp);
    dynasm!(a ; .arch aarch64
        ; fcmeq V(d).S4, V(s).S4, V(s).S4
        ; bic V(t1).B16, V(t1).B16, V(d).B16
        ; orr V(t0).B16, V(t0).B16, V(t1).B16
        ; shrn V(d).H4, V(t0).S4, #16
    );
}
