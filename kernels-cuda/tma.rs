//! sm_90 asynchronous copies: the tensor memory accelerator (TMA, `cp.async.bulk.tensor`) and
//! the transaction-counting `mbarrier` it completes, as instruction atoms, plus the
//! description of a tiled tensor map ([`TensorMapSpec`]) that the host encodes (with the
//! driver's `cuTensorMapEncodeTiled`, see `crate::cuda`) and the tests describe to the PTX
//! interpreter in a format of their own (the real 128-byte encoding is the driver's, opaque).
//!
//! **From the PTX ISA** (sections "mbarrier" and "cp.async.bulk.tensor"):
//! - An mbarrier is 8 bytes of shared memory with a *pending arrival count*, a
//!   *transaction count* and a *phase*. `mbarrier.init [b], n` starts phase 0 expecting `n`
//!   arrivals. `arrive.expect_tx [b], bytes` adds `bytes` to the transaction count and
//!   arrives; each TMA copy naming `[b]` subtracts the bytes it wrote when they land
//!   (`complete_tx::bytes`). When both counts reach zero the phase completes: the phase
//!   number advances and the arrival count is reloaded.
//! - `try_wait.parity [b], P` is true once the phase of parity `P` has completed, i.e. while
//!   the current phase's parity differs from `P`. So a fresh barrier (phase 0) passes a wait
//!   for parity 1 at once: a producer's first pass over an empty ring does not block.
//! - `cp.async.bulk.tensor.Nd.shared::cluster.global.tile.mbarrier::complete_tx::bytes
//!   [dst], [map, {c0, .., cN-1}], [b]` copies the box of the map at coordinates `c` (element
//!   units, innermost first, signed) into shared memory at `dst`, writing zeros for the
//!   elements outside the tensor's dimensions; the transaction bytes are always the whole
//!   box. With the 128-byte swizzle the box's inner extent is 128 bytes and the 16-byte chunk
//!   `j` of the box row at shared address `a` lands at chunk `j ^ ((a >> 7) & 7)`: the XOR of
//!   address bits 4–6 with bits 7–9 (so `dst` is kept 1024-byte aligned and the pattern
//!   repeats every 8 rows, as the wgmma descriptor's swizzle mode reads it).
//! - The map operand is a generic address of the map; a kernel parameter's address is taken
//!   with `mov` and converted with `cvta.param` (PTX 7.7).

use super::ptx::{KernelBuilder, Pred, R32, R64};
use crate::isa::DType;

/// Bytes of a tensor map (the `CUtensorMap` of the driver API); it must be 64-byte aligned.
pub const TENSOR_MAP_BYTES: usize = 128;

/// The storage of one tensor map inside a kernel's argument struct: 128 opaque bytes,
/// 64-byte aligned (the kernel declares its `.param` `.align 64`).
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorMapBytes(pub [u8; TENSOR_MAP_BYTES]);

impl Default for TensorMapBytes {
    fn default() -> Self {
        TensorMapBytes([0; TENSOR_MAP_BYTES])
    }
}

/// Bytes of one swizzle row: the box's inner extent with the 128-byte swizzle.
pub const SWIZZLE_BYTES: usize = 128;
/// Bytes after which the 128-byte swizzle pattern repeats (8 rows): tiles start on it.
pub const SWIZZLE_ATOM: usize = 1024;

/// A tiled tensor map: what `cuTensorMapEncodeTiled` is given (dimension 0 innermost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorMapSpec {
    /// Element type (bf16 or f16: 2 bytes).
    pub dtype: DType,
    /// Dimensions used (2 or 3).
    pub rank: usize,
    /// Global address of element (0, 0, 0); 16-byte aligned.
    pub address: u64,
    /// Elements along each dimension (the tensor's true extent: reads past it are zeros).
    pub dims: [u64; 3],
    /// Bytes between consecutive indices of dimensions 1 and 2 (multiples of 16).
    pub strides: [u64; 2],
    /// The box (elements) one copy moves.
    pub box_dims: [u32; 3],
}

impl TensorMapSpec {
    /// Bytes one copy of the box writes (and completes on its barrier).
    pub fn box_bytes(&self) -> usize {
        self.box_dims[..self.rank]
            .iter()
            .map(|&b| b as usize)
            .product::<usize>()
            * self.dtype.size()
    }

    /// Why the driver would refuse this map, checked before calling it (the driver's
    /// documented limits: 16-byte aligned address, strides multiples of 16 below 2^40,
    /// dimensions in 1..=2^32, box extents in 1..=256 with the inner one 128 bytes for the
    /// 128-byte swizzle).
    pub fn check(&self) -> Result<(), String> {
        if !self.address.is_multiple_of(16) {
            return Err(format!(
                "tensor map base {:#x} is not 16-byte aligned",
                self.address
            ));
        }
        for &s in &self.strides[..self.rank - 1] {
            if !s.is_multiple_of(16) || s >= 1 << 40 || s == 0 {
                return Err(format!(
                    "tensor map stride {s} bytes: not a non-zero multiple of 16 below 2^40"
                ));
            }
        }
        for &d in &self.dims[..self.rank] {
            if d == 0 || d > 1 << 32 {
                return Err(format!("tensor map dimension {d} outside 1..=2^32"));
            }
        }
        for &b in &self.box_dims[..self.rank] {
            if b == 0 || b > 256 {
                return Err(format!("tensor map box extent {b} outside 1..=256"));
            }
        }
        if self.box_dims[0] as usize * self.dtype.size() != SWIZZLE_BYTES {
            return Err("the 128-byte swizzle needs a 128-byte inner box".into());
        }
        Ok(())
    }
}

impl KernelBuilder {
    /// `mbarrier.init.shared::cta.b64 [bar], count`.
    pub fn mbarrier_init(&mut self, bar: R32, count: u32) {
        self.inst(format!("mbarrier.init.shared::cta.b64 [{bar}], {count}"));
    }

    /// Makes initialised barriers visible to the other threads and to the asynchronous proxy
    /// (the TMA unit completes transactions on them).
    pub fn mbarrier_init_fence(&mut self) {
        self.inst("fence.mbarrier_init.release.cluster");
        self.inst("fence.proxy.async.shared::cta");
    }

    /// `mbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], bytes`: this thread arrives and the
    /// phase also waits for `bytes` of transactions.
    pub fn mbarrier_arrive_expect_tx(&mut self, bar: R32, bytes: usize) {
        self.inst(format!(
            "mbarrier.arrive.expect_tx.shared::cta.b64 _, [{bar}], {bytes}"
        ));
    }

    /// `mbarrier.arrive.shared::cta.b64 _, [bar]`.
    pub fn mbarrier_arrive(&mut self, bar: R32) {
        self.inst(format!("mbarrier.arrive.shared::cta.b64 _, [{bar}]"));
    }

    /// Spins until the phase of parity `parity` (a register holding 0 or 1) of `bar` has
    /// completed (`mbarrier.try_wait.parity`, which may itself suspend for a while).
    pub fn mbarrier_wait_parity(&mut self, bar: R32, parity: R32) {
        let (top, done): (_, Pred) = (self.label(), self.pred());
        self.place(top);
        self.inst(format!(
            "mbarrier.try_wait.parity.shared::cta.b64 {done}, [{bar}], {parity}"
        ));
        self.branch_if(done, true, top);
    }

    /// The generic address of the tensor map at byte `offset` of the argument struct.
    pub fn param_tensor_map(&mut self, offset: usize) -> R64 {
        let (p, g) = (self.r64(), self.r64());
        self.inst(format!("mov.u64 {p}, args"));
        if offset != 0 {
            self.inst(format!("add.u64 {p}, {p}, {offset}"));
        }
        self.inst(format!("cvta.param.u64 {g}, {p}"));
        g
    }

    /// One TMA copy of the box of `map` at `coords` (innermost first) into shared memory at
    /// `dst`, completing its bytes on `bar`.
    pub fn tma_load(&mut self, dst: R32, map: R64, coords: &[R32], bar: R32) {
        let c: Vec<String> = coords.iter().map(|r| r.to_string()).collect();
        self.inst(format!(
            "cp.async.bulk.tensor.{}d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [{dst}], [{map}, {{{}}}], [{bar}]",
            coords.len(),
            c.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_limits_are_checked_before_the_driver_sees_them() {
        let mut m = TensorMapSpec {
            dtype: DType::BF16,
            rank: 2,
            address: 0x1000,
            dims: [100, 70, 1],
            strides: [256, 0],
            box_dims: [64, 128, 1],
        };
        assert_eq!(m.check(), Ok(()));
        assert_eq!(m.box_bytes(), 64 * 128 * 2);
        m.strides[0] = 200;
        assert!(m.check().is_err(), "stride not a multiple of 16");
        m.strides[0] = 256;
        m.address += 8;
        assert!(m.check().is_err(), "misaligned base");
        m.address -= 8;
        m.box_dims[0] = 32;
        assert!(m.check().is_err(), "inner box not 128 bytes");
        assert_eq!(std::mem::align_of::<TensorMapBytes>(), 64);
        assert_eq!(std::mem::size_of::<TensorMapBytes>(), 128);
    }

    #[test]
    fn atoms_spell_the_instruction_they_are_named_for() {
        let mut k = KernelBuilder::new("k", 8, 32);
        let (bar, dst, par) = (k.r32(), k.r32(), k.r32());
        k.mbarrier_init(bar, 256);
        k.mbarrier_arrive_expect_tx(bar, 4096);
        k.mbarrier_wait_parity(bar, par);
        let map = k.param_tensor_map(128);
        let c = [k.r32(), k.r32(), k.r32()];
        k.tma_load(dst, map, &c, bar);
        let text = k.finish();
        assert!(text.contains("mbarrier.init.shared::cta.b64 [%r0], 256;"));
        assert!(text.contains("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%r0], 4096;"));
        assert!(text.contains("mbarrier.try_wait.parity.shared::cta.b64 %p0, [%r0], %r2;"));
        assert!(text.contains("cvta.param.u64 %rd1, %rd0;"));
        assert!(text.contains("cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r1], [%rd1, {%r3, %r4, %r5}], [%r0];"));
    }
}
