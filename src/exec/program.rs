//! What a backend is given for one pass of an equation ([`ProgramSpec`]), the argument
//! struct its kernel is called with ([`ProgramArgs`]), and the generator spec every CPU
//! backend builds from the two ([`ProgramSpec::eltwise_spec`]).

use crate::lower::equation::{Pass, PassPort};
use crate::lower::spec::{EltwiseSpec, MaskSpec, PortSpec, ProgramExtras};
use crate::lower::Port;
use std::ffi::c_void;
use std::mem::offset_of;

/// The argument struct of one pass kernel (a micro-op program over `rows` rows).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProgramArgs {
    /// Pointer to the table of port pointers (`Port::Buf(n)` is entry `n`), each at the
    /// block's first row.
    pub ports: *const *mut c_void,
    /// Rows of this block.
    pub rows: u64,
    /// Position `i·cols` of the block's first element (dropout).
    pub position: u64,
    /// The call's seed (dropout).
    pub seed: u64,
    /// The mask input at the block's first row.
    pub mask_in: *const u8,
    /// The mask output at the block's first row.
    pub mask_out: *mut u8,
}

/// What a backend is asked to generate for one pass.
#[derive(Clone, Copy, Debug)]
pub struct ProgramSpec<'a> {
    /// The pass (program, ports, accumulators, masks).
    pub pass: &'a Pass,
    /// Columns of its space (0 for a pass over rows only).
    pub cols: usize,
    /// Store whole vectors of the full-matrix outputs with non-temporal stores (the caller
    /// guarantees their rows are 64-byte aligned).
    pub stream: bool,
    /// What to prefetch while the pass runs (see [`Prefetch`]); a backend may ignore it.
    pub prefetch: &'a Prefetch,
}

/// The prefetch-only ports of a pass. Their pointers follow the pass's own ports in the
/// table: first `read`, then `write`.
#[derive(Clone, Debug, Default)]
pub struct Prefetch {
    /// Full-matrix inputs, at the row one block below the pass's first row: the next block's,
    /// which a later pass of the group reads from memory, so that those reads overlap this
    /// pass's computation.
    pub read: Vec<PassPort>,
    /// Full-matrix outputs at the pass's own rows, which a later pass of the group stores:
    /// their reads for ownership then overlap this pass's reads instead of following them.
    pub write: Vec<PassPort>,
}

impl Prefetch {
    /// Whether the pass prefetches nothing.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty()
    }
}

impl ProgramSpec<'_> {
    /// The generator spec of this pass, reading its operands through [`ProgramArgs`]: port
    /// `n` is entry `n` of the pointer table, the row count and position are run-time, and
    /// the accumulators, streamed outputs and masks are the pass's. With `prefetch`, the
    /// prefetch-only ports follow the pass's own in the table (a backend that does not
    /// prefetch leaves them out, so that they take no register).
    pub fn eltwise_spec(&self, prefetch: bool) -> EltwiseSpec<'_> {
        let pass = self.pass;
        let none = Prefetch::default();
        let pf = if prefetch { self.prefetch } else { &none };
        let (first_read, first_write) = (pass.ports.len(), pass.ports.len() + pf.read.len());
        let ports = pass
            .ports
            .iter()
            .chain(&pf.read)
            .chain(&pf.write)
            .enumerate()
            .map(|(n, p)| PortSpec {
                port: Port::Buf(n as u16),
                dtype: p.dtype,
                broadcast: p.shape,
                ld: p.ld,
                arg_offset: 8 * n,
            })
            .collect();
        let mask = |bits: Option<usize>, arg_offset| {
            bits.map(|ld_bits| MaskSpec {
                arg_offset,
                ld_bits,
            })
        };
        EltwiseSpec {
            program: &pass.program,
            rows: 1,
            cols: self.cols,
            ports,
            mask_in: mask(pass.mask_in, offset_of!(ProgramArgs, mask_in)),
            mask_out: mask(pass.mask_out, offset_of!(ProgramArgs, mask_out)),
            seed_offset: Some(offset_of!(ProgramArgs, seed)),
            extra: ProgramExtras {
                ptr_table: Some(offset_of!(ProgramArgs, ports)),
                rows_offset: Some(offset_of!(ProgramArgs, rows)),
                position_offset: Some(offset_of!(ProgramArgs, position)),
                accs: pass
                    .accs
                    .iter()
                    .map(|&(fold, port)| (fold, Port::Buf(port)))
                    .collect(),
                stream: pass
                    .ports
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| self.stream && p.streams())
                    .map(|(n, _)| Port::Buf(n as u16))
                    .collect(),
                prefetch: (first_read..first_write)
                    .map(|n| Port::Buf(n as u16))
                    .collect(),
                prefetch_write: (first_write..first_write + pf.write.len())
                    .map(|n| Port::Buf(n as u16))
                    .collect(),
            },
        }
    }

    /// The kernel's name: `equation_pass_<backend>_<cols>cols_<ops>ops[_stream]`.
    pub fn kernel_name(&self, backend: &str) -> String {
        format!(
            "equation_pass_{backend}_{}cols_{}ops{}",
            self.cols,
            self.pass.program.ops.len(),
            if self.stream { "_stream" } else { "" }
        )
    }
}
