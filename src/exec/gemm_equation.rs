//! A GEMM / BRGEMM whose epilogue is any elementwise equation rooted at the accumulator
//! (DESIGN §1: "a GEMM epilogue is an equation rooted at the accumulator"): the product goes
//! to an f32 tile in the calling thread's scratch, which stays in cache, and the equation's
//! kernel runs over it with its other operands, as the fixed epilogues of the AVX-512 and AMX
//! GEMMs do with their scratch tiles. Bias + GELU + residual add + bf16 cast, for example, is
//! one equation and one call.

use super::{EquationKernel, GemmCall, GemmInputs, In, Kernel, Out};
use crate::dispatch::Gemm;
use crate::error::{Error, Result};
use crate::isa::{Activation, Broadcast, DType, EqInput, Equation, GemmDesc, Layout};
use std::cell::RefCell;

/// A GEMM with an equation epilogue (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct GemmEquationKernel {
    gemm: Kernel<Gemm>,
    eq: EquationKernel,
}

thread_local! {
    /// Each thread's accumulator tiles.
    static ACC: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: &str) -> Error {
    Error::desc("gemm_equation", field, value, allowed)
}

impl GemmDesc {
    /// This GEMM with `eq` as its epilogue. `eq` runs over the `m × n` product: its input 0 is
    /// the accumulator, declared as an f32 full matrix with `ld = n`
    /// (`eq.input(DType::F32, Broadcast::None)` on an `Equation::new(m, n)`), and its other
    /// inputs and its outputs are the call's. The GEMM itself must produce a plain product:
    /// f32 accumulation (f32, bf16 or f16 inputs), row-major C, `beta = 0` (read C as an
    /// equation input instead) and no fixed epilogue; its `alpha` and batch form are kept.
    pub fn dispatch_with_equation(&self, eq: &Equation) -> Result<GemmEquationKernel> {
        if self.beta != 0.0 {
            return Err(bad("beta", self.beta, "0 (pass C as an equation input)"));
        }
        let ep = self.epilogue;
        if ep.bias.is_some() || ep.activation != Activation::None {
            return Err(bad(
                "epilogue",
                "a fixed epilogue",
                "none (the equation is the epilogue)",
            ));
        }
        if self.c_layout != Layout::RowMajor || self.compute_dtype != DType::F32 {
            return Err(bad(
                "c",
                format!(
                    "{:?} C with {:?} compute",
                    self.c_layout, self.compute_dtype
                ),
                "row-major C with f32 accumulation (f32, bf16 or f16 inputs)",
            ));
        }
        if (eq.rows(), eq.cols()) != (self.m, self.n) {
            return Err(bad(
                "equation.space",
                format!("{}×{}", eq.rows(), eq.cols()),
                &format!("the product's m × n = {}×{}", self.m, self.n),
            ));
        }
        let acc = EqInput {
            dtype: DType::F32,
            shape: Broadcast::None,
            ld: self.n,
        };
        if eq.inputs().first() != Some(&acc) {
            return Err(bad(
                "equation.input0",
                format!("{:?}", eq.inputs().first()),
                "the accumulator: f32, full matrix, ld = n",
            ));
        }
        let mut d = *self;
        d.c_dtype = DType::F32;
        d.ldc = self.n;
        Ok(GemmEquationKernel {
            gemm: d.dispatch()?,
            eq: eq.dispatch()?,
        })
    }
}

impl GemmEquationKernel {
    /// The GEMM that computes the accumulator.
    pub fn gemm(&self) -> Kernel<Gemm> {
        self.gemm
    }
    /// The equation that finishes it.
    pub fn equation(&self) -> EquationKernel {
        self.eq
    }

    /// Runs the product and then the equation: `inputs` holds the equation's inputs after
    /// the accumulator (input 1 onwards), `outputs` all of its outputs; `seed` feeds its
    /// dropout nodes. Every operand is checked.
    pub fn run(
        &self,
        ab: GemmInputs<'_>,
        inputs: &[In],
        mask_in: Option<&[u8]>,
        outputs: &mut [Out],
        seed: u64,
    ) -> Result<()> {
        let d = self.gemm.desc();
        let len = d.m * d.n;
        ACC.with(|acc| {
            let mut own = Vec::new();
            let mut guard = acc.try_borrow_mut();
            let tile: &mut Vec<f32> = match guard.as_mut() {
                Ok(t) => t,
                Err(_) => &mut own,
            };
            if tile.len() < len {
                tile.resize(len, 0.0);
            }
            self.gemm.run(GemmCall::new(ab, &mut tile[..len]))?;
            let mut all: Vec<In> = Vec::with_capacity(inputs.len() + 1);
            all.push(In::from(&tile[..len]));
            all.extend_from_slice(inputs);
            self.eq.call_with(&all, mask_in, outputs, seed)
        })
    }
}
