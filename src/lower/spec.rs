//! What an eltwise code generator is given, for every JIT backend alike: the program, its
//! operands (ports, bitmasks, seed) and, for equation passes, the extras (port table, run-time
//! rows, accumulators, streaming, prefetch).

use crate::isa::{Broadcast, DType};
use crate::lower::{Fold, Port, Program};

/// One operand of the kernel as the loops see it.
#[derive(Clone, Copy, Debug)]
pub struct PortSpec {
    /// Which program port it is.
    pub port: Port,
    /// Its dtype (f32, bf16 or f16).
    pub dtype: DType,
    /// How it covers the space.
    pub broadcast: Broadcast,
    /// Its leading dimension (elements).
    pub ld: usize,
    /// Byte offset of its pointer in the argument struct.
    pub arg_offset: usize,
}

/// A bitmask operand.
#[derive(Clone, Copy, Debug)]
pub struct MaskSpec {
    /// Byte offset of its pointer in the argument struct.
    pub arg_offset: usize,
    /// Its leading dimension in bits (a multiple of 8).
    pub ld_bits: usize,
}

/// Everything the generator needs besides the program.
#[derive(Clone, Debug)]
pub struct EltwiseSpec<'a> {
    /// The lowered program.
    pub program: &'a Program,
    /// Rows of the space.
    pub rows: usize,
    /// Columns of the space.
    pub cols: usize,
    /// The program's ports.
    pub ports: Vec<PortSpec>,
    /// The bitmask `LoadMask` reads.
    pub mask_in: Option<MaskSpec>,
    /// The bitmask `StoreMask` writes.
    pub mask_out: Option<MaskSpec>,
    /// Byte offset of the u64 seed in the argument struct (for `Seed`).
    pub seed_offset: Option<usize>,
    /// What program kernels (equation passes) add to the fixed-operand kernels.
    pub extra: ProgramExtras,
}

/// The parts of a spec only program kernels use: a table of port pointers, a run-time row
/// count and position, and row accumulators.
#[derive(Clone, Debug, Default)]
pub struct ProgramExtras {
    /// Byte offset of a pointer to the table of port pointers; each port's `arg_offset` is
    /// then its byte offset in that table.
    pub ptr_table: Option<usize>,
    /// Byte offset of the u64 row count (instead of `rows`).
    pub rows_offset: Option<usize>,
    /// Byte offset of the u64 position of the first row's first element (`Position`).
    pub position_offset: Option<usize>,
    /// The row accumulators: fold and the f32 column-vector port each row's result goes to.
    pub accs: Vec<(Fold, Port)>,
    /// Full-matrix ports whose whole vectors are stored with non-temporal stores (outputs too
    /// large for the caches, whose rows the caller guarantees 64-byte aligned): no read for
    /// ownership, so the output costs its bytes once.
    pub stream: Vec<Port>,
    /// Full-matrix ports that are only prefetched into L2 (the next row block of an input a
    /// later pass reads from memory), one prefetch per 64 bytes of their rows.
    pub prefetch: Vec<Port>,
    /// Full-matrix ports that are only prefetched for writing (this row block of an output a
    /// later pass stores), one prefetch per 64 bytes of their rows.
    pub prefetch_write: Vec<Port>,
}
