//! What the operators share below their loops: the element types they run on, pointers that
//! rayon tasks share (each task writes its own part), and raw calls of eltwise kernels.

use crate::exec::{BinaryArgs, ReduceArgs, UnaryArgs};
use crate::isa::Element;
use crate::{BinaryKernel, ReduceKernel, UnaryKernel};
use half::bf16;

/// An element type of the operators: f32, or bf16 with f32 accumulation.
pub trait OpElem: Element + Default + PartialEq + std::fmt::Debug {
    /// The value as f32.
    fn to_f32(self) -> f32;
    /// `x` rounded to this type (nearest even).
    fn from_f32(x: f32) -> Self;
    /// Whether GEMM B operands of this type are packed in VNNI2.
    const VNNI2: bool = Self::DTYPE.size() == 2;
}

impl OpElem for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(x: f32) -> f32 {
        x
    }
}

impl OpElem for bf16 {
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(x: f32) -> bf16 {
        bf16::from_f32(x)
    }
}

/// A pointer that rayon tasks share; each task touches its own elements.
#[derive(Debug)]
pub(crate) struct Shared<T>(pub *mut T);
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: the operators hand disjoint parts of the memory to each task.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub fn of(s: &[T]) -> Shared<T> {
        Shared(s.as_ptr().cast_mut())
    }
    pub fn of_mut(s: &mut [T]) -> Shared<T> {
        Shared(s.as_mut_ptr())
    }
    /// The element `at` on (a method, so closures capture the wrapper, not the raw field).
    ///
    /// # Safety
    /// `at` lies inside the allocation.
    #[inline(always)]
    pub unsafe fn at(&self, at: usize) -> *mut T {
        self.0.add(at)
    }
}

/// `out = op(input)` on raw pointers.
///
/// # Safety
/// The pointers must cover the kernel's extents.
#[inline]
pub(crate) unsafe fn unary<A, B>(k: &UnaryKernel, input: *const A, output: *mut B) {
    let args = UnaryArgs {
        input: input.cast(),
        output: output.cast(),
        ..UnaryArgs::default()
    };
    k.call_raw(&args);
}

/// A backward unary op reading `dy` and the forward input `x`.
///
/// # Safety
/// The pointers must cover the kernel's extents.
#[inline]
pub(crate) unsafe fn unary_aux<A, X, B>(
    k: &UnaryKernel,
    dy: *const A,
    x: *const X,
    output: *mut B,
) {
    let args = UnaryArgs {
        input: dy.cast(),
        aux: x.cast(),
        output: output.cast(),
        ..UnaryArgs::default()
    };
    k.call_raw(&args);
}

/// `out = in0 ⊙ in1` on raw pointers.
///
/// # Safety
/// The pointers must cover the kernel's extents.
#[inline]
pub(crate) unsafe fn binary<A, B, C>(k: &BinaryKernel, in0: *const A, in1: *const B, out: *mut C) {
    let args = BinaryArgs {
        in0: in0.cast(),
        in1: in1.cast(),
        output: out.cast(),
    };
    k.call_raw(&args);
}

/// A reduction on raw pointers.
///
/// # Safety
/// The pointers must cover the kernel's extents.
#[inline]
pub(crate) unsafe fn reduce<A, B>(k: &ReduceKernel, input: *const A, out: *mut B) {
    let args = ReduceArgs {
        input: input.cast(),
        output: out.cast(),
    };
    k.call_raw(&args);
}

/// Checks that an operand slice holds at least `need` elements.
pub(crate) fn check_len(operand: &'static str, have: usize, need: usize) -> crate::Result<()> {
    if have < need {
        return Err(crate::Error::operand(
            operand,
            format!("holds {have} elements, the operator needs {need}"),
        ));
    }
    Ok(())
}

/// An error unless the caller gives a bias (or its gradient) exactly when the plan has one.
pub(crate) fn check_bias_given(
    operand: &'static str,
    planned: bool,
    given: bool,
) -> crate::Result<()> {
    if planned == given {
        return Ok(());
    }
    Err(crate::Error::operand(
        operand,
        format!(
            "the plan {} a bias",
            if planned { "needs" } else { "has no" }
        ),
    ))
}

/// The product of `parts` when a tensor of that many elements (of at most 8 bytes) can exist:
/// sizes from callers (the C API among them) must never wrap around in the index arithmetic.
pub(crate) fn fits(
    family: &'static str,
    what: &'static str,
    parts: &[usize],
) -> crate::Result<usize> {
    parts
        .iter()
        .try_fold(1usize, |acc, &p| acc.checked_mul(p))
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| {
            crate::Error::desc(
                family,
                what,
                format!("{parts:?}"),
                "a tensor that fits in memory",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::check_bias_given;

    #[test]
    fn a_bias_is_given_exactly_when_planned() {
        assert!(check_bias_given("bias", true, true).is_ok());
        assert!(check_bias_given("bias", false, false).is_ok());
        for (planned, word) in [(true, "needs"), (false, "has no")] {
            let e = check_bias_given("db", planned, !planned).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("db") && text.contains(word), "{text}");
        }
    }
}
