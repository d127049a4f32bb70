//! Instruction atoms: one function per PTX instruction form the generators use, named for
//! exactly what it does (after CUTLASS's `SM80_16x8x16_F32BF16BF16F32_TN`). The fragment
//! layouts they assume are written down once, here.
//!
//! Notation: lane `l`, group `g = l / 4`, thread-in-group `t = l % 4`.
//! - `mma.m16n8k16` A (16×16, row): reg `i` holds row `g + 8·(i & 1)`, k `2t..2t+1 + 8·(i >> 1)`.
//! - `mma.m16n8k16` B (16×8, col): reg `i` holds k `2t..2t+1 + 8·i`, column `g`.
//! - C/D (16×8, f32 or s32): reg `i` holds row `g + 8·(i >> 1)`, column `2t + (i & 1)`.
//! - `m16n8k32` (int8) has the same pattern with 4 bytes per register (k `4t..4t+3 + 16·…`);
//!   `m16n8k8` (tf32) holds one value per register: A row `g + 8·(i & 1)`, k `t + 4·(i >> 1)`;
//!   B k `t + 4·i`.
//! - `ldmatrix.x4` fills register `j` of every lane from 8×8 b16 matrix `j`, whose row
//!   addresses lanes `8j..8j+7` supply: with lane `l` pointing at row `l % 16`, byte column
//!   `16·(l / 16)` of a k-contiguous 16×(16 bytes·2) tile, the registers are exactly the A
//!   fragment above (for bf16/f16 and, byte for byte, for int8).

use super::ptx::{KernelBuilder, Pred, F32, R32, R64};

/// Signedness of an 8-bit operand of the integer `mma`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int8 {
    /// `.s8`
    S8,
    /// `.u8`
    U8,
}

impl Int8 {
    fn ptx(self) -> &'static str {
        match self {
            Int8::S8 => "s8",
            Int8::U8 => "u8",
        }
    }
}

fn list<T: std::fmt::Display>(regs: &[T]) -> String {
    let v: Vec<String> = regs.iter().map(|r| r.to_string()).collect();
    format!("{{{}}}", v.join(", "))
}

impl KernelBuilder {
    /// `D = A·B + C`, 16×8×16, bf16 inputs, f32 accumulators (sm_80).
    pub fn mma_m16n8k16_f32_bf16_bf16_f32(
        &mut self,
        d: [F32; 4],
        a: [R32; 4],
        b: [R32; 2],
        c: [F32; 4],
    ) {
        self.inst(format!(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {}, {}, {}, {}",
            list(&d),
            list(&a),
            list(&b),
            list(&c)
        ));
    }

    /// `D = A·B + C`, 16×8×16, f16 inputs, f32 accumulators (sm_80).
    pub fn mma_m16n8k16_f32_f16_f16_f32(
        &mut self,
        d: [F32; 4],
        a: [R32; 4],
        b: [R32; 2],
        c: [F32; 4],
    ) {
        self.inst(format!(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {}, {}, {}, {}",
            list(&d),
            list(&a),
            list(&b),
            list(&c)
        ));
    }

    /// `D = A·B + C`, 16×8×8, tf32 inputs (f32 bits rounded by [`Self::cvt_rna_tf32_f32`]),
    /// f32 accumulators (sm_80).
    pub fn mma_m16n8k8_f32_tf32_tf32_f32(
        &mut self,
        d: [F32; 4],
        a: [R32; 4],
        b: [R32; 2],
        c: [F32; 4],
    ) {
        self.inst(format!(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {}, {}, {}, {}",
            list(&d),
            list(&a),
            list(&b),
            list(&c)
        ));
    }

    /// `D = A·B + C`, 16×8×32, 8-bit integer inputs of the given signedness, s32
    /// accumulators that wrap around (sm_80).
    #[allow(clippy::too_many_arguments)]
    pub fn mma_m16n8k32_s32_int8_int8_s32(
        &mut self,
        a_type: Int8,
        b_type: Int8,
        d: [R32; 4],
        a: [R32; 4],
        b: [R32; 2],
        c: [R32; 4],
    ) {
        self.inst(format!(
            "mma.sync.aligned.m16n8k32.row.col.s32.{}.{}.s32 {}, {}, {}, {}",
            a_type.ptx(),
            b_type.ptx(),
            list(&d),
            list(&a),
            list(&b),
            list(&c)
        ));
    }

    /// Four 8×8 b16 matrices from shared memory into the mma fragment layout (rows as stored).
    pub fn ldmatrix_x4_b16(&mut self, d: [R32; 4], smem_addr: R32) {
        self.inst(format!(
            "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {}, [{smem_addr}]",
            list(&d)
        ));
    }

    /// Four 8×8 b16 matrices from shared memory, each transposed on the way (for operands
    /// stored with k as the outer dimension).
    pub fn ldmatrix_x4_trans_b16(&mut self, d: [R32; 4], smem_addr: R32) {
        self.inst(format!(
            "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {}, [{smem_addr}]",
            list(&d)
        ));
    }

    /// 16 bytes global → shared without passing through registers, zero-filling the bytes
    /// past `src_bytes` (0..=16): the predicated edge of every tile (`.cg`: cached in L2
    /// only, the streaming operands of a GEMM are not reused from L1).
    pub fn cp_async_cg_shared_global_16(&mut self, smem_addr: R32, global: R64, src_bytes: R32) {
        self.inst(format!(
            "cp.async.cg.shared.global [{smem_addr}], [{global}], 16, {src_bytes}"
        ));
    }

    /// Closes the group of `cp.async` issued since the last commit.
    pub fn cp_async_commit_group(&mut self) {
        self.inst("cp.async.commit_group");
    }

    /// Waits until at most `pending` committed groups are still in flight.
    pub fn cp_async_wait_group(&mut self, pending: u32) {
        self.inst(format!("cp.async.wait_group {pending}"));
    }

    /// Block-wide barrier 0 (`__syncthreads`).
    pub fn bar_sync(&mut self) {
        self.inst("bar.sync 0");
    }

    /// f32 bits rounded to tf32 (nearest, ties away: what cuBLAS's TF32 mode does).
    pub fn cvt_rna_tf32_f32(&mut self, d: R32, a: R32) {
        self.inst(format!("cvt.rna.tf32.f32 {d}, {a}"));
    }

    /// `d = a` of the lane `lane ^ mask` (full warp).
    pub fn shfl_sync_bfly_b32(&mut self, d: R32, a: R32, mask: u32) {
        self.inst(format!(
            "shfl.sync.bfly.b32 {d}, {a}, {mask}, 31, 0xffffffff"
        ));
    }

    /// `p = a < b` (unsigned 32-bit).
    pub fn setp_lt_u32(&mut self, p: Pred, a: R32, b: impl std::fmt::Display) {
        self.inst(format!("setp.lt.u32 {p}, {a}, {b}"));
    }

    /// The 32-bit shared-window address of `smem + offset`.
    pub fn smem_address(&mut self, offset: u32) -> R32 {
        let r = self.r32();
        self.inst(format!("mov.u32 {r}, smem"));
        if offset != 0 {
            self.inst(format!("add.u32 {r}, {r}, {offset}"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_spell_the_instruction_they_are_named_for() {
        let mut k = KernelBuilder::new("k", 8, 32);
        let d = [k.f32(), k.f32(), k.f32(), k.f32()];
        let a = [k.r32(), k.r32(), k.r32(), k.r32()];
        let b = [k.r32(), k.r32()];
        k.mma_m16n8k16_f32_bf16_bf16_f32(d, a, b, d);
        k.mma_m16n8k32_s32_int8_int8_s32(Int8::U8, Int8::S8, a, a, b, a);
        let text = k.finish();
        assert!(text.contains(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%f0, %f1, %f2, %f3}, {%r0, %r1, %r2, %r3}, {%r4, %r5}, {%f0, %f1, %f2, %f3};"
        ));
        assert!(text.contains("m16n8k32.row.col.s32.u8.s8.s32"));
    }
}
