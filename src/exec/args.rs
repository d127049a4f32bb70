//! The kernel ABIs: one `#[repr(C)]` argument struct per family. A generated kernel is
//! `extern "C" fn(*const XxxArgs)`; adding a field at the end never changes the calling
//! convention. Unused pointers may be null. Offsets count elements, not bytes.

use std::ffi::c_void;
use std::ptr;

/// Arguments of a GEMM / BRGEMM kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct GemmArgs {
    /// A (base of the batch), or for `BatchReduce::Addresses` a `*const *const` array of
    /// `batch` A pointers.
    pub a: *const c_void,
    /// B, as for `a`.
    pub b: *const c_void,
    /// C (read when beta ≠ 0, always written).
    pub c: *mut c_void,
    /// `BatchReduce::Offsets`: `batch` element offsets of A_i from `a`.
    pub a_offsets: *const u64,
    /// `BatchReduce::Offsets`: `batch` element offsets of B_i from `b`.
    pub b_offsets: *const u64,
    /// Run-time batch count for the batch-reduce forms (ignored by plain GEMM). 0 reduces
    /// nothing: C becomes `beta·C` followed by the epilogue.
    pub batch: u64,
    /// Bias vector of the epilogue.
    pub bias: *const c_void,
    /// Relu bitmask written by the epilogue.
    pub relu_mask: *mut u8,
    /// A hint, never dereferenced (any address, or null for none): bytes to pull into L2
    /// while the kernel runs, one 64-byte line per trip of its k loop, in increasing addresses
    /// from here. Typically the next call's B: a loop over output blocks then reads this
    /// call's B from L2 while the next one's arrives from memory, instead of waiting for it
    /// at the next call's first tile (LIBXSMM's prefetch pointers are the prior art). The
    /// AVX-512 kernels with a general-purpose register to spare follow it; the others ignore it.
    pub prefetch: *const c_void,
}

impl Default for GemmArgs {
    fn default() -> Self {
        GemmArgs {
            a: ptr::null(),
            b: ptr::null(),
            c: ptr::null_mut(),
            a_offsets: ptr::null(),
            b_offsets: ptr::null(),
            batch: 1,
            bias: ptr::null(),
            relu_mask: ptr::null_mut(),
            prefetch: ptr::null(),
        }
    }
}

/// Arguments of a unary kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UnaryArgs {
    /// The input (`dy` for backward ops); unused by `Zero`.
    pub input: *const c_void,
    /// The forward input `x` of backward ops.
    pub aux: *const c_void,
    /// Bitmask read by mask-based backward ops.
    pub mask_in: *const u8,
    /// The output.
    pub output: *mut c_void,
    /// Bitmask written by relu-with-mask and dropout.
    pub mask_out: *mut u8,
    /// Index array of gathers and scatters (`rows` or `cols` entries).
    pub indices: *const u64,
    /// Dropout seed.
    pub seed: u64,
}

impl Default for UnaryArgs {
    fn default() -> Self {
        UnaryArgs {
            input: ptr::null(),
            aux: ptr::null(),
            mask_in: ptr::null(),
            output: ptr::null_mut(),
            mask_out: ptr::null_mut(),
            indices: ptr::null(),
            seed: 0,
        }
    }
}

/// Arguments of a binary kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BinaryArgs {
    /// First input.
    pub in0: *const c_void,
    /// Second input.
    pub in1: *const c_void,
    /// Output (bitmask bytes for comparisons).
    pub output: *mut c_void,
}

/// Arguments of a ternary kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TernaryArgs {
    /// First input.
    pub in0: *const c_void,
    /// Second input.
    pub in1: *const c_void,
    /// Third input (unused by `Select`).
    pub in2: *const c_void,
    /// Condition bitmask of `Select`.
    pub mask: *const u8,
    /// Output.
    pub output: *mut c_void,
}

/// Arguments of a reduce kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReduceArgs {
    /// Input matrix.
    pub input: *const c_void,
    /// Output vector (read too when accumulating).
    pub output: *mut c_void,
}

/// The argument struct of an epilogue kernel (an eltwise kernel over one C tile): `acc` is
/// the f32 scratch tile, `bias` already offset to the tile, `c` the tile of C, `mask` the
/// tile's first mask byte.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EpilogueArgs {
    /// The scaled accumulators, f32, `ld` = the full tile width.
    pub acc: *const f32,
    /// The bias at the tile's first row or column.
    pub bias: *const c_void,
    /// C at the tile's first element.
    pub c: *mut c_void,
    /// The relu mask at the tile's first element (its column is a multiple of 8).
    pub mask: *mut u8,
}
