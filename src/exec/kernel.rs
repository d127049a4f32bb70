//! Kernel handles: what dispatch returns and what callers keep.

use crate::backend::Backend;
use crate::dispatch::Cache;
use crate::error::Result;
use std::fmt;
use std::hash::Hash;

/// Something that runs a generated kernel: a JIT function pointer, a CUDA function, or the
/// reference backend's Rust code. Backends implement it once per kernel family.
pub trait Exec<A>: Send + Sync {
    /// Runs the kernel on one argument struct.
    ///
    /// # Safety
    /// Every pointer in `args` must be valid for the reads and writes that the descriptor the
    /// kernel was generated from implies (see the family's safe call for the exact extents),
    /// and outputs must not overlap inputs except where the ISA allows aliasing.
    unsafe fn run(&self, args: &A);

    /// Bytes of machine code behind the kernel (0 for the reference backend).
    fn code_size(&self) -> usize {
        0
    }
}

/// A primitive family: ties a descriptor type to its argument struct, its backend hook and its
/// cache. Implemented by the marker types [`Gemm`](crate::Gemm), [`Unary`](crate::Unary),
/// [`Binary`](crate::Binary), [`Ternary`](crate::Ternary) and [`Reduce`](crate::Reduce).
pub trait Family: Sized + Send + Sync + 'static {
    /// The descriptor.
    type Desc: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static;
    /// The `#[repr(C)]` argument struct of the kernel ABI.
    type Args;
    /// `gemm`, `unary`, ...
    const NAME: &'static str;
    /// Checks the descriptor against the ISA.
    fn validate(d: &Self::Desc) -> Result<()>;
    /// Normalises fields that do not change the kernel.
    fn canonical(d: &Self::Desc) -> Self::Desc;
    /// Descriptive kernel name for `backend`.
    fn kernel_name(d: &Self::Desc, backend: &str) -> String;
    /// Nominal flops of one call (per batch member for BRGEMM).
    fn flops(d: &Self::Desc) -> u64;
    /// Asks `backend` for a kernel; `None` when it does not support the descriptor.
    fn generate(backend: &dyn Backend, d: &Self::Desc) -> Option<Box<dyn Exec<Self::Args>>>;
    /// The process-wide kernel cache of this family.
    fn cache() -> &'static Cache<Self>;
}

/// What a kernel is and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    /// Name of the backend that generated it (`reference`, `avx512`, ...).
    pub backend: &'static str,
    /// Descriptive name, e.g. `gemm_reference_f32_m64n64k64_beta1`.
    pub name: String,
    /// Nominal flops of one call (per batch member for BRGEMM).
    pub flops: u64,
    /// True when the portable reference backend runs it (no JIT backend claimed it).
    pub is_reference: bool,
    /// Bytes of generated machine code (0 for the reference backend).
    pub code_size: usize,
}

pub(crate) struct KernelInner<F: Family> {
    pub desc: F::Desc,
    pub info: KernelInfo,
    pub exec: Box<dyn Exec<F::Args>>,
}

/// A dispatched kernel: `Copy`, `Send + Sync`, and alive for the rest of the process (kernels
/// live in the process-wide registry, as in LIBXSMM; dispatching the same descriptor again
/// returns the same handle).
pub struct Kernel<F: Family> {
    pub(crate) inner: &'static KernelInner<F>,
}

impl<F: Family> Clone for Kernel<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F: Family> Copy for Kernel<F> {}

impl<F: Family> PartialEq for Kernel<F> {
    /// Two handles are equal when they are the same kernel.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.inner, other.inner)
    }
}
impl<F: Family> Eq for Kernel<F> {}

impl<F: Family> fmt::Debug for Kernel<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("name", &self.inner.info.name)
            .field("backend", &self.inner.info.backend)
            .finish()
    }
}

impl<F: Family> Kernel<F> {
    pub(crate) fn new(backend: &dyn Backend, desc: F::Desc, exec: Box<dyn Exec<F::Args>>) -> Self {
        let info = KernelInfo {
            backend: backend.name(),
            name: F::kernel_name(&desc, backend.name()),
            flops: F::flops(&desc),
            is_reference: backend.is_reference(),
            code_size: exec.code_size(),
        };
        Kernel {
            inner: Box::leak(Box::new(KernelInner { desc, info, exec })),
        }
    }

    /// The descriptor the kernel was generated from (canonical form).
    pub fn desc(&self) -> &F::Desc {
        &self.inner.desc
    }
    /// Where the kernel came from and what it is.
    pub fn info(&self) -> &KernelInfo {
        &self.inner.info
    }
    /// Name of the backend that generated it.
    pub fn backend(&self) -> &'static str {
        self.inner.info.backend
    }
    /// Descriptive name.
    pub fn name(&self) -> &str {
        &self.inner.info.name
    }
    /// Nominal flops of one call (per batch member for BRGEMM).
    pub fn flops(&self) -> u64 {
        self.inner.info.flops
    }
    /// True when the portable reference backend runs it.
    pub fn is_reference(&self) -> bool {
        self.inner.info.is_reference
    }

    /// Calls the kernel through its raw ABI, with no checks.
    ///
    /// # Safety
    /// See [`Exec::run`]: every pointer in `args` must be valid for the extents the descriptor
    /// implies (the safe calls of each family document and check them).
    #[inline]
    pub unsafe fn call_raw(&self, args: &F::Args) {
        self.inner.exec.run(args)
    }
}
