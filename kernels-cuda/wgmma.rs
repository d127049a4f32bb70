//! sm_90a warpgroup MMA (`wgmma.mma_async`, PTX ISA 8.0, `.target sm_90a` only): the atoms,
//! the shared-memory matrix descriptor, and a one-block tile kernel (`C[64×n] = A[64×k]·Bᵀ`,
//! bf16 or f16 in, f32 out) that the tests run on the PTX interpreter and assemble with ptxas.
//! The GEMM family built on these atoms, fed by TMA with the 128-byte swizzle, is
//! [`super::gemm_wgmma`]; the tile kernel here stays as the smallest check of the atoms and
//! of the no-swizzle descriptor.
//!
//! **What is implemented, from the PTX ISA manual** (section "Asynchronous Warpgroup Level
//! Matrix Multiply-Accumulate Instructions", subsections "Matrix Descriptor Format", "Shared
//! Memory Matrix Layout" and "Register Fragments" for `.m64nNk16`):
//! - *Core matrices.* Without swizzling an operand in shared memory is a grid of 8 × 16-byte
//!   core matrices (8 rows of 8 bf16/f16, each row 16 contiguous bytes, the 8 rows 128
//!   contiguous bytes). Both operands are K-major here (the transpose immediates are 0): A is
//!   M×K and B is N×K, K contiguous within a core matrix's row.
//! - *Descriptor* (64 bits): bits 0–13 the start address >> 4, 16–29 the leading-dimension
//!   byte offset >> 4 (LBO: between core matrices adjacent in K), 32–45 the stride-dimension
//!   byte offset >> 4 (SBO: between core matrices adjacent in M or N), 49–51 the base offset
//!   (0), 62–63 the swizzle mode (0: none). Element (r, c) of an operand is at
//!   `start + (r/8)·SBO + (c/8)·LBO + (r%8)·16 + (c%8)·2`.
//! - *Accumulator fragment* (f32, n/2 registers per thread): for thread t of the warpgroup,
//!   warp w = t/32, lane l, register v: row = 16w + l/4 + 8·((v/2) mod 2), column
//!   = 8·(v/4) + 2·(l mod 4) + (v mod 2).
//! - *Order:* the operands are written by ordinary stores, so `fence.proxy.async.shared::cta`
//!   makes them visible to the asynchronous proxy before the barrier; then `wgmma.fence`, the
//!   `mma_async` of each k16 step (the first with scale-d false: D = A·B), `commit_group`,
//!   `wait_group 0`.
//!
//! The interpreter of the tests implements the same reading independently (descriptor decode,
//! core-matrix addressing, fragment layout); a real GPU has not checked it.

use super::ptx::{module, Declined, KernelBuilder, Launch, PtxKernel, Target, F32, R32, R64};
use crate::isa::DType;
use std::mem::{offset_of, size_of};

/// Core matrices adjacent in K are this many bytes apart (they are stored back to back).
pub const LBO: u64 = 128;

/// The constant fields of a no-swizzle descriptor with `sbo` (the start address is added at
/// run time, shifted right by 4 into bits 0–13).
pub fn descriptor_fields(lbo: u64, sbo: u64) -> u64 {
    ((lbo >> 4) & 0x3FFF) << 16 | ((sbo >> 4) & 0x3FFF) << 32
}

/// The argument struct of the tile kernel: device addresses of A (64×k row-major), B (n×k
/// row-major, i.e. Bᵀ of a k×n B) and C (64×n row-major f32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WgmmaTileArgs {
    /// A.
    pub a: u64,
    /// B (stored n×k).
    pub b: u64,
    /// C.
    pub c: u64,
}

/// Threads of a warpgroup.
pub const WARPGROUP: u32 = 128;

impl KernelBuilder {
    /// `wgmma.fence.sync.aligned`: orders register accesses before the warpgroup's MMAs.
    pub fn wgmma_fence(&mut self) {
        self.inst("wgmma.fence.sync.aligned");
    }
    /// `wgmma.commit_group.sync.aligned`.
    pub fn wgmma_commit_group(&mut self) {
        self.inst("wgmma.commit_group.sync.aligned");
    }
    /// `wgmma.wait_group.sync.aligned pending`.
    pub fn wgmma_wait_group(&mut self, pending: u32) {
        self.inst(format!("wgmma.wait_group.sync.aligned {pending}"));
    }
    /// `wgmma.mma_async.sync.aligned.m64nNk16.f32.{bf16,f16}` with both operands from shared
    /// memory, `D = A·B + (scale_d ? D : 0)`; the transpose immediates `(trans_a, trans_b)`
    /// read A M-major (m contiguous in shared memory) and B N-major (16-bit types only), K-major
    /// otherwise.
    pub fn wgmma_m64nnk16_f32_ss(
        &mut self,
        input: DType,
        d: &[F32],
        (desc_a, desc_b): (R64, R64),
        scale_d: super::ptx::Pred,
        (trans_a, trans_b): (bool, bool),
    ) {
        let t = if input == DType::BF16 { "bf16" } else { "f16" };
        let regs: Vec<String> = d.iter().map(|r| r.to_string()).collect();
        self.inst(format!(
            "wgmma.mma_async.sync.aligned.m64n{}k16.f32.{t}.{t} {{{}}}, {desc_a}, {desc_b}, {scale_d}, 1, 1, {}, {}",
            2 * d.len(),
            regs.join(", "),
            trans_a as u32,
            trans_b as u32
        ));
    }
}

/// The tile kernel `C[64×n] = A[64×k]·Bᵀ` for `n` a multiple of 8 up to 256 and `k` a
/// multiple of 16: one warpgroup, operands staged in shared memory in the core-matrix layout.
pub fn tile_kernel(input: DType, n: usize, k: usize) -> Result<PtxKernel, Declined> {
    if !matches!(input, DType::BF16 | DType::F16)
        || n == 0
        || n > 256
        || !n.is_multiple_of(8)
        || k == 0
        || !k.is_multiple_of(16)
    {
        return Err(Declined(format!(
            "wgmma tile {input} 64x{n}x{k}: bf16/f16, n a multiple of 8 up to 256, k of 16"
        )));
    }
    let m = 64usize;
    let name = format!("wgmma_tile_sm90a_{input}_m64n{n}k{k}");
    let mut kb = KernelBuilder::new(&name, size_of::<WgmmaTileArgs>(), WARPGROUP);
    kb.use_dynamic_smem();
    let a = kb.arg_u64(offset_of!(WgmmaTileArgs, a));
    let b = kb.arg_u64(offset_of!(WgmmaTileArgs, b));
    let c = kb.arg_u64(offset_of!(WgmmaTileArgs, c));
    let tid = kb.special("%tid.x");
    let smem = kb.r32();
    kb.inst(format!("mov.u32 {smem}, smem"));
    // A at smem, B after it; SBO: a row of core matrices spans all of k.
    let sbo = (k / 8) as u64 * LBO;
    let a_bytes = (m * k * 2) as u32;
    for (src, rows, off) in [(a, m, 0u32), (b, n, a_bytes)] {
        stage(&mut kb, src, smem, off, rows, k, tid, sbo);
    }
    kb.inst("fence.proxy.async.shared::cta");
    kb.inst("bar.sync 0");
    let desc = |kb: &mut KernelBuilder, off: u32| -> R64 {
        let (t, d) = (kb.r32(), kb.r64());
        kb.inst(format!("add.u32 {t}, {smem}, {off}"));
        kb.inst(format!("shr.u32 {t}, {t}, 4"));
        kb.inst(format!("and.b32 {t}, {t}, 0x3FFF"));
        kb.inst(format!("cvt.u64.u32 {d}, {t}"));
        kb.inst(format!("or.b64 {d}, {d}, {}", descriptor_fields(LBO, sbo)));
        d
    };
    let acc: Vec<F32> = (0..n / 2).map(|_| kb.f32()).collect();
    let (first, rest) = (kb.pred(), kb.pred());
    kb.inst(format!("setp.ne.u32 {first}, 0, 0"));
    kb.inst(format!("setp.eq.u32 {rest}, 0, 0"));
    kb.wgmma_fence();
    for s in 0..k / 16 {
        // Step s uses the core-matrix columns 2s and 2s+1: 2·LBO bytes further along K.
        let step = (2 * s as u64 * LBO) as u32;
        let da = desc(&mut kb, step);
        let db = desc(&mut kb, a_bytes + step);
        let scale_d = if s == 0 { first } else { rest };
        kb.wgmma_m64nnk16_f32_ss(input, &acc, (da, db), scale_d, (false, false));
    }
    kb.wgmma_commit_group();
    kb.wgmma_wait_group(0);
    // The accumulator fragment to C.
    let (warp, lane) = (kb.r32(), kb.r32());
    kb.inst(format!("shr.u32 {warp}, {tid}, 5"));
    kb.inst(format!("and.b32 {lane}, {tid}, 31"));
    let (g, t4) = (kb.r32(), kb.r32());
    kb.inst(format!("shr.u32 {g}, {lane}, 2"));
    kb.inst(format!("and.b32 {t4}, {lane}, 3"));
    let row0 = kb.r32();
    kb.inst(format!("mad.lo.u32 {row0}, {warp}, 16, {g}"));
    let col0 = kb.r32();
    kb.inst(format!("shl.b32 {col0}, {t4}, 1"));
    for (v, &r) in acc.iter().enumerate() {
        let (row, col): (R32, R32) = (kb.r32(), kb.r32());
        kb.inst(format!("add.u32 {row}, {row0}, {}", 8 * ((v / 2) % 2)));
        kb.inst(format!("add.u32 {col}, {col0}, {}", 8 * (v / 4) + v % 2));
        let at = super::grid::element_address(&mut kb, c, row, n, col, 4);
        kb.inst(format!("st.global.f32 [{at}], {r}"));
    }
    Ok(PtxKernel {
        name,
        ptx: module(Target::Sm90a, kb.finish()),
        launch: Launch {
            grid: (1, 1, 1),
            block: (WARPGROUP, 1, 1),
            smem_bytes: ((m + n) * k * 2) as u32,
        },
        target: Target::Sm90a,
    })
}

/// Copies a `rows × k` row-major 16-bit operand into shared memory at `smem + off` in the
/// core-matrix layout (one element per thread and step).
#[allow(clippy::too_many_arguments)]
fn stage(
    kb: &mut KernelBuilder,
    src: R64,
    smem: R32,
    off: u32,
    rows: usize,
    k: usize,
    tid: R32,
    sbo: u64,
) {
    let i = kb.r32();
    kb.inst(format!("mov.u32 {i}, {tid}"));
    let (top, end) = (kb.label(), kb.label());
    kb.place(top);
    let done = kb.pred();
    kb.inst(format!("setp.ge.u32 {done}, {i}, {}", rows * k));
    kb.branch_if(done, false, end);
    let (r, c) = (kb.r32(), kb.r32());
    kb.inst(format!("div.u32 {r}, {i}, {k}"));
    kb.inst(format!("rem.u32 {c}, {i}, {k}"));
    let v = kb.r32();
    let g = kb.address(src, i, 2);
    kb.inst(format!("ld.global.u16 {v}, [{g}]"));
    // off + (r/8)·SBO + (c/8)·LBO + (r%8)·16 + (c%8)·2
    let (s, t) = (kb.r32(), kb.r32());
    kb.inst(format!("shr.u32 {t}, {r}, 3"));
    kb.inst(format!("mul.lo.u32 {s}, {t}, {sbo}"));
    kb.inst(format!("shr.u32 {t}, {c}, 3"));
    kb.inst(format!("mad.lo.u32 {s}, {t}, {LBO}, {s}"));
    kb.inst(format!("and.b32 {t}, {r}, 7"));
    kb.inst(format!("mad.lo.u32 {s}, {t}, 16, {s}"));
    kb.inst(format!("and.b32 {t}, {c}, 7"));
    kb.inst(format!("mad.lo.u32 {s}, {t}, 2, {s}"));
    kb.inst(format!("add.u32 {s}, {s}, {off}"));
    kb.inst(format!("add.u32 {s}, {s}, {smem}"));
    kb.inst(format!("st.shared.u16 [{s}], {v}"));
    kb.inst(format!("add.u32 {i}, {i}, {WARPGROUP}"));
    kb.branch(top);
    kb.place(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_fields_sit_where_the_manual_puts_them() {
        let d = descriptor_fields(128, 1024);
        assert_eq!((d >> 16) & 0x3FFF, 8);
        assert_eq!((d >> 32) & 0x3FFF, 64);
        assert_eq!(d >> 62, 0, "no swizzle");
        assert!(tile_kernel(DType::BF16, 64, 32).is_ok());
        assert!(tile_kernel(DType::F32, 64, 32).is_err());
        assert!(tile_kernel(DType::BF16, 12, 32).is_err());
    }
}
