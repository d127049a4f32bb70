//! The row-level parts of the NEON program kernels: what a row's start computes once (the
//! accumulators' identities, the values constant along the row, the elements of column-vector
//! outputs) and the row accumulators, folded across lanes and stored at the row's end.
//!
//! Max and min propagate NaN as the micro-op contract demands: `fmax`/`fmin` (and their
//! across-lanes forms) return NaN when either input is NaN, unlike `fmaxnm`/`fminnm`.

use super::Declined;
use super::{Gen, LANES, S};
use crate::kernels_arm::asm::{dup_imm32, mov_imm32, V};
use crate::lower::Fold;
use dynasmrt::{dynasm, DynasmApi};

/// The fold's identity, as f32 bits.
fn identity(fold: Fold) -> u32 {
    match fold {
        Fold::Sum => 0,
        Fold::Max => f32::NEG_INFINITY.to_bits(),
        Fold::Min => f32::INFINITY.to_bits(),
    }
}

impl Gen<'_> {
    /// Start of a row: the accumulators take their identities and the per-row values are
    /// computed (stores to column vectors write the row's element).
    pub(super) fn row_start(&mut self) -> Result<(), Declined> {
        for (n, (fold, _)) in self.spec.extra.accs.clone().into_iter().enumerate() {
            for copy in 0..self.unroll {
                let a = self.acc(n as u16, copy);
                dup_imm32(&mut self.a, a, identity(fold), self.tmp[0]);
            }
        }
        let spec = self.spec;
        for (i, op) in spec.program.ops.iter().enumerate() {
            if self.asg.row_op[i] {
                self.op(op, 0, 0, LANES)?;
            }
        }
        Ok(())
    }

    /// End of a row: each accumulator's copies, then its lanes, are folded, and lane 0 is
    /// stored to the accumulator's column vector.
    pub(super) fn row_end(&mut self) -> Result<(), Declined> {
        for (n, (fold, port)) in self.spec.extra.accs.clone().into_iter().enumerate() {
            let a0 = self.acc(n as u16, 0);
            for copy in 1..self.unroll {
                let c = self.acc(n as u16, copy);
                self.fold(fold, a0, a0, c);
            }
            let r = a0.0;
            match fold {
                Fold::Sum => dynasm!(self.a ; .arch aarch64
                    ; faddp V(r).S4, V(r).S4, V(r).S4
                    ; faddp V(r).S4, V(r).S4, V(r).S4),
                Fold::Max => dynasm!(self.a ; .arch aarch64 ; fmaxv S(r), V(r).S4),
                Fold::Min => dynasm!(self.a ; .arch aarch64 ; fminv S(r), V(r).S4),
            }
            let (_, base) = self.port(port)?;
            dynasm!(self.a ; .arch aarch64 ; str S(r), [X(base.0)]);
        }
        Ok(())
    }

    /// Folds the `lanes` active lanes of `x` into accumulator `acc` (the inactive lanes of a
    /// row's last, partial vector take the fold's identity first).
    pub(super) fn accumulate(&mut self, fold: Fold, acc: V, x: V, lanes: usize) {
        if lanes == LANES {
            self.fold(fold, acc, acc, x);
            return;
        }
        let (s, t) = (S[0].0, self.tmp[0]);
        mov_imm32(&mut self.a, t, identity(fold));
        dynasm!(self.a ; .arch aarch64 ; mov V(s).B16, V(x.0).B16);
        for lane in lanes..LANES {
            dynasm!(self.a ; .arch aarch64 ; ins V(s).S[lane as u32], W(t.0));
        }
        self.fold(fold, acc, acc, S[0]);
    }

    /// `d = x ⊕ y` lane-wise for the fold.
    fn fold(&mut self, fold: Fold, d: V, x: V, y: V) {
        let (d, x, y) = (d.0, x.0, y.0);
        match fold {
            Fold::Sum => dynasm!(self.a ; .arch aarch64 ; fadd V(d).S4, V(x).S4, V(y).S4),
            Fold::Max => dynasm!(self.a ; .arch aarch64 ; fmax V(d).S4, V(x).S4, V(y).S4),
            Fold::Min => dynasm!(self.a ; .arch aarch64 ; fmin V(d).S4, V(x).S4, V(y).S4),
        }
    }
}
