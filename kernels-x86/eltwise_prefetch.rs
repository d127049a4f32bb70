//! Software prefetch in program kernels: a pass that computes on a row block already in L2
//! pulls the next block of an input from memory meanwhile, so that the memory and the
//! arithmetic overlap instead of taking turns.

use super::{Declined, Gen, Loc};

/// Bytes one prefetch brings in (a cache line).
const LINE: usize = 64;

impl Gen<'_> {
    /// Prefetches the lines of the prefetch-only ports that start in the vector at lanes
    /// `col + e ..` of the current row (so each line of a row is asked for once, whatever the
    /// port's dtype): into L2 for the inputs a later pass reads, for writing (`prefetchw`,
    /// into L1 owned) for the outputs a later pass stores. A port left on the stack by
    /// register pressure is skipped: reloading its pointer would cost more than the prefetch
    /// saves.
    pub(super) fn prefetch(&mut self, e: usize) -> Result<(), Declined> {
        for (p, loc) in self.ports.clone() {
            let Loc::Reg(reg) = loc else { continue };
            let write = self.spec.extra.prefetch_write.contains(&p.port);
            if !write && !self.spec.extra.prefetch.contains(&p.port) {
                continue;
            }
            let size = p.dtype.size();
            let lanes_bytes = super::LANES * size;
            // The lines that start within this vector's bytes.
            let first = (e * size).div_ceil(LINE) * LINE;
            let mut at = first;
            while at < e * size + lanes_bytes {
                let line = self.elem(reg, size, at / size);
                if write {
                    self.a.prefetchw(line)?;
                } else {
                    self.a.prefetcht1(line)?;
                }
                at += LINE;
            }
        }
        Ok(())
    }
}
