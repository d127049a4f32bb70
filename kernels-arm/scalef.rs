//! `Scalef` (`a · 2^floor(b)` with x86 `vscalefps` semantics), which NEON has no instruction
//! for: built from integer exponent arithmetic so that the result is rounded once.
//!
//! `n = floor(b)` is taken as a saturating integer and clamped to `[-378, 381]` (beyond it every
//! finite `a` gives 0 or ∞ anyway), then split as `n = e1 + e2 + e3` with
//! `e3 = clamp(n, -126, 127)` and `e1 = clamp(n - e3, -126, 127)`, each factor `2^e` a normal
//! f32 built as `(e + 127) << 23`. The product is formed as `((a·2^e1)·2^e2)·2^e3`: for
//! `n ≥ 0` every step is exact until it overflows to ∞; for `n < 0` the steps before the last
//! are exact whenever the true result is at least `2^-252` (so only the last one rounds), and
//! below that every rounding gives the same 0. Non-finite `b` follows the x86 table through
//! `a · max(b, 0)`: NaN for NaN `b`, `a·∞` for `+∞` (NaN for `a = 0`), `a·0` for `−∞`
//! (NaN for `a = ∞`).

use super::asm::{dup_imm32, Ops, V, X};
use dynasmrt::{dynasm, DynasmApi};

/// `d = scalef(a, b)`; the four scratch registers and `tmp` are clobbered, `d` is written
/// last (so it may be `a` or `b`).
pub fn emit(ops: &mut Ops, d: V, a: V, b: V, s: [V; 4], tmp: X) {
    let (s0, s1, s2, s3) = (s[0].0, s[1].0, s[2].0, s[3].0);
    let (a, b) = (a.0, b.0);
    dynasm!(ops ; .arch aarch64 ; fcvtms V(s0).S4, V(b).S4);
    dup_imm32(ops, s[1], 381, tmp);
    dynasm!(ops ; .arch aarch64 ; smin V(s0).S4, V(s0).S4, V(s1).S4);
    dup_imm32(ops, s[1], (-378i32) as u32, tmp);
    dynasm!(ops ; .arch aarch64 ; smax V(s0).S4, V(s0).S4, V(s1).S4);
    dup_imm32(ops, s[1], 127, tmp);
    dup_imm32(ops, s[2], (-126i32) as u32, tmp);
    dynasm!(ops ; .arch aarch64
        // e3, and the rest n - e3
        ; smin V(s3).S4, V(s0).S4, V(s1).S4
        ; smax V(s3).S4, V(s3).S4, V(s2).S4
        ; sub V(s0).S4, V(s0).S4, V(s3).S4
        // e1 (into s1), and e2 = rest - e1 (into s0)
        ; smin V(s1).S4, V(s0).S4, V(s1).S4
        ; smax V(s1).S4, V(s1).S4, V(s2).S4
        ; sub V(s0).S4, V(s0).S4, V(s1).S4
    );
    // The factors: (e + 127) << 23.
    dup_imm32(ops, s[2], 127, tmp);
    dynasm!(ops ; .arch aarch64
        ; add V(s1).S4, V(s1).S4, V(s2).S4
        ; shl V(s1).S4, V(s1).S4, #23
        ; add V(s0).S4, V(s0).S4, V(s2).S4
        ; shl V(s0).S4, V(s0).S4, #23
        ; add V(s3).S4, V(s3).S4, V(s2).S4
        ; shl V(s3).S4, V(s3).S4, #23
        ; fmul V(s1).S4, V(a).S4, V(s1).S4
        ; fmul V(s1).S4, V(s1).S4, V(s0).S4
        ; fmul V(s1).S4, V(s1).S4, V(s3).S4
        // Non-finite b: a · max(b, 0).
        ; movi V(s2).D2, #0
        ; fmax V(s0).S4, V(b).S4, V(s2).S4
        ; fmul V(s0).S4, V(a).S4, V(s0).S4
    );
    dup_imm32(ops, s[2], 0x7f80_0000, tmp);
    dynasm!(ops ; .arch aarch64
        // finite b: |∞| > |b| (false for NaN)
        ; facgt V(s2).S4, V(s2).S4, V(b).S4
        ; bsl V(s2).B16, V(s1).B16, V(s0).B16
        ; mov V(d.0).B16, V(s2).B16
    );
}
