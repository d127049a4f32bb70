//! The five primitive families, tied to their descriptors, kernel ABIs and caches.

use super::Cache;
use crate::backend::Backend;
use crate::error::Result;
use crate::exec::{BinaryArgs, Exec, Family, GemmArgs, Kernel, ReduceArgs, TernaryArgs, UnaryArgs};
use crate::isa::{BinaryDesc, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};
use std::sync::OnceLock;

/// A descriptor of some family: what [`super::dispatch`] accepts.
pub trait Descriptor: Copy {
    /// The family it describes.
    type Family: Family<Desc = Self>;
}

macro_rules! family {
    ($(#[$doc:meta])* $fam:ident, $desc:ty, $args:ty, $name:literal, $method:ident) => {
        $(#[$doc])*
        pub struct $fam;

        impl Family for $fam {
            type Desc = $desc;
            type Args = $args;
            const NAME: &'static str = $name;
            fn validate(d: &$desc) -> Result<()> {
                d.validate()
            }
            fn canonical(d: &$desc) -> $desc {
                d.canonical()
            }
            fn kernel_name(d: &$desc, backend: &str) -> String {
                d.kernel_name(backend)
            }
            fn flops(d: &$desc) -> u64 {
                d.flops()
            }
            fn generate(b: &dyn Backend, d: &$desc) -> Option<Box<dyn Exec<$args>>> {
                b.$method(d)
            }
            #[inline]
            fn cache() -> &'static Cache<Self> {
                static CACHE: OnceLock<Cache<$fam>> = OnceLock::new();
                CACHE.get_or_init(Cache::default)
            }
        }

        impl Descriptor for $desc {
            type Family = $fam;
        }

        impl $desc {
            /// Validates the descriptor and returns its (cached) kernel.
            #[inline]
            pub fn dispatch(&self) -> Result<Kernel<$fam>> {
                super::dispatch(self)
            }
        }
    };
}

family!(
    /// GEMM and batch-reduce GEMM ([`GemmDesc`], [`GemmArgs`]).
    Gemm, GemmDesc, GemmArgs, "gemm", gemm
);
family!(
    /// Unary ops ([`UnaryDesc`], [`UnaryArgs`]).
    Unary, UnaryDesc, UnaryArgs, "unary", unary
);
family!(
    /// Binary ops ([`BinaryDesc`], [`BinaryArgs`]).
    Binary, BinaryDesc, BinaryArgs, "binary", binary
);
family!(
    /// Ternary ops ([`TernaryDesc`], [`TernaryArgs`]).
    Ternary, TernaryDesc, TernaryArgs, "ternary", ternary
);
family!(
    /// Reductions ([`ReduceDesc`], [`ReduceArgs`]).
    Reduce, ReduceDesc, ReduceArgs, "reduce", reduce
);
