//! The reference backend: a direct, readable implementation of every TPP of the ISA, computed
//! from the formulas in f64 (and rounded to the compute and output dtypes where the ISA says
//! so). It shares no lowering with the JIT backends, so it is their independent oracle, and it
//! is the fallback for every descriptor no JIT backend supports.

mod binary;
mod elem;
pub mod equation;
mod gemm;
pub(crate) mod math;
mod reduce;
mod unary;

use super::Backend;
use crate::exec::{BinaryArgs, Exec, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use crate::isa::{BinaryDesc, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};

/// The portable reference backend (supports every valid descriptor).
pub struct Reference;

impl Backend for Reference {
    fn name(&self) -> &'static str {
        "reference"
    }
    fn is_reference(&self) -> bool {
        true
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        Some(Box::new(gemm::RefGemm(*d)))
    }
    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        Some(Box::new(unary::RefUnary(*d)))
    }
    fn binary(&self, d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        Some(Box::new(binary::RefBinary(*d)))
    }
    fn ternary(&self, d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        Some(Box::new(binary::RefTernary(*d)))
    }
    fn reduce(&self, d: &ReduceDesc) -> Option<Box<dyn Exec<ReduceArgs>>> {
        Some(Box::new(reduce::RefReduce(*d)))
    }
}
