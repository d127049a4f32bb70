//! Helpers of the hand-computed reference tests.

use tpp::{dispatch_on, Descriptor, Kernel};

/// A NaN, for expected outputs.
pub const N: f32 = f32::NAN;
/// The poison of f32 outputs that must stay untouched.
pub const SENTINEL: f32 = 777.0;

/// The reference backend's kernel for `d` (asserting it is the reference).
pub fn reference<D: Descriptor>(d: D) -> Kernel<D::Family> {
    let k = dispatch_on(&d, "reference").expect("reference dispatch");
    assert!(k.is_reference());
    k
}

/// Equal, or both NaN.
pub fn same(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}
