//! The per-element check of a GEMM's C that the CUDA tests share: the epilogue applied to the
//! expected value, then the value and the relu mask compared.

use tpp::isa::bitmask;
use tpp::{Activation, BiasBroadcast, GemmDesc};

/// `want` (alpha·Σ + beta·C) at `(i, j)` with `d`'s epilogue applied: the bias (`bias(n)` is
/// element `n` of its vector, broadcast over rows or columns) and the relu.
pub fn with_epilogue(
    d: &GemmDesc,
    (i, j): (usize, usize),
    mut want: f64,
    bias: impl Fn(usize) -> f64,
) -> f64 {
    if let Some(b) = d.epilogue.bias {
        want += bias(if b.broadcast == BiasBroadcast::Row {
            j
        } else {
            i
        });
    }
    if let Activation::Relu { .. } = d.epilogue.activation {
        want = want.max(0.0);
    }
    want
}

/// Asserts that C(i, j) is `want` within `tol`, and the relu mask bit where the epilogue
/// writes a mask (`mask`: the mask output).
pub fn assert_element(
    d: &GemmDesc,
    name: &str,
    (i, j): (usize, usize),
    (got, want, tol): (f64, f64, f64),
    mask: &[u8],
) {
    assert!(
        (got - want).abs() <= tol,
        "{name}: C({i}, {j}) = {got}, want {want}"
    );
    if d.epilogue.activation.writes_mask() {
        assert_eq!(
            bitmask::get(mask, i, j, d.epilogue.mask_ld),
            want > 0.0,
            "{name}: mask({i}, {j})"
        );
    }
}
