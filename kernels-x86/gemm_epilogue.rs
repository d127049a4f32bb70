//! The two ways an AVX-512 GEMM tile leaves its accumulators: on the registers themselves
//! (bias, relu and the narrowing store, the epilogues that fit in the few vector registers the
//! reduction leaves free), or through the f32 scratch tile and a call into the epilogue kernel
//! of the shared lowering (every other activation, the relu mask; the AMX kernels always).
//!
//! The register form runs the same instructions, in the same order, as the lowered program
//! (`add(acc, bias)`, `max(0, x)` with the constant first so that NaN propagates, the shared
//! narrowing store), so both give the same bits. It saves the scratch round trip and the call:
//! Xeon (model 207), BRGEMM m64·n64·k64 with row bias + relu, back to back, 141–146 GFLOP/s
//! through the call against 157–162 without any epilogue.

use super::asm::*;
use super::convert;
use super::gemm::Arith;
use crate::exec::{EpilogueArgs, GemmArgs};
use crate::isa::{Activation, Bias, BiasBroadcast, DType, GemmDesc};
use iced_x86::code_asm::*;
use std::mem::offset_of;

/// Whether `d`'s epilogue runs on the accumulator registers: f32 accumulators, a bias of a
/// port dtype (or none), no activation or relu without a mask, and f32, bf16 or f16 C.
pub fn fits_in_registers(d: &GemmDesc, arith: Arith) -> bool {
    let ep = &d.epilogue;
    matches!(arith, Arith::Fma32 | Arith::DotBf16)
        && ep
            .bias
            .is_none_or(|b| matches!(b.dtype, DType::F32 | DType::BF16 | DType::F16))
        && matches!(
            ep.activation,
            Activation::None | Activation::Relu { mask: false }
        )
        && matches!(d.c_dtype, DType::F32 | DType::BF16 | DType::F16)
}

/// A finished tile of accumulators, as the register epilogue sees it.
pub(super) struct AccTile<'a> {
    pub rows: usize,
    /// Vectors per row, and the active lanes of the last one (0: all 16).
    pub nv: usize,
    pub tail: usize,
    /// The opmask of the tail lanes (set when `tail > 0`).
    pub tail_k: Kreg,
    /// Accumulator `(row, vector)`.
    pub acc: &'a dyn Fn(usize, usize) -> Zmm,
    /// `nv + 1` vector registers free once the reduction is done (the B vectors and the
    /// broadcast register).
    pub free: &'a [Zmm],
}

/// Applies `d`'s epilogue (for which [`fits_in_registers`] holds) to the scaled accumulators
/// and stores them to C at `r.ctile`.
pub(super) fn in_registers(
    a: &mut CodeAssembler,
    d: &GemmDesc,
    tile: &AccTile,
    r: &EpilogueRegs,
) -> AsmResult<()> {
    let ep = &d.epilogue;
    let (nv, tail) = (tile.nv, tile.tail);
    let active = |v: usize| (tail > 0 && v + 1 == nv).then_some(tile.tail_k);
    let (zero, bias_regs) = (tile.free[nv], &tile.free[..nv]);
    let relu = ep.activation != Activation::None;
    if relu {
        a.vpxord(zero.z(), zero.z(), zero.z())?;
    }
    if let Some(b) = ep.bias {
        bias_at_tile(a, b, r)?;
        if b.broadcast == BiasBroadcast::Row {
            for (v, &reg) in bias_regs.iter().enumerate() {
                let at = ptr(r.t.q() + (v * 16 * b.dtype.size()) as i32);
                convert::load(a, reg, b.dtype, at, active(v))?;
            }
        }
    }
    let csz = d.c_dtype.size();
    for row in 0..tile.rows {
        if let Some(b) = ep.bias {
            if b.broadcast == BiasBroadcast::Col {
                let at = ptr(r.t.q() + (row * b.dtype.size()) as i32);
                convert::broadcast(a, bias_regs[0], b.dtype, at)?;
            }
        }
        for v in 0..nv {
            let acc = (tile.acc)(row, v);
            if let Some(b) = ep.bias {
                let bv = match b.broadcast {
                    BiasBroadcast::Row => bias_regs[v],
                    BiasBroadcast::Col => bias_regs[0],
                };
                a.vaddps(acc.z(), acc.z(), bv.z())?;
            }
            if relu {
                a.vmaxps(acc.z(), zero.z(), acc.z())?;
            }
            let at = ptr(r.ctile.q() + ((row * d.ldc + v * 16) * csz) as i32);
            // The narrowing may use the accumulator itself: it is dead after its store.
            convert::store(a, acc, d.c_dtype, at, active(v), acc)?;
        }
    }
    Ok(())
}

/// `r.t` = the bias at the tile's first column (row broadcast) or row (column broadcast).
fn bias_at_tile(a: &mut CodeAssembler, b: Bias, r: &EpilogueRegs) -> AsmResult<()> {
    let idx = match b.broadcast {
        BiasBroadcast::Row => r.j0,
        BiasBroadcast::Col => r.i0,
    };
    a.imul_3(r.t.q(), idx.q(), b.dtype.size() as i32)?;
    a.add(
        r.t.q(),
        qword_ptr(r.args.q() + offset_of!(GemmArgs, bias) as i32),
    )
}

/// The registers [`call_epilogue`] reads (`args`, `i0`, `j0`, `ctile`) and clobbers (`t`,
/// `t2`).
pub(super) struct EpilogueRegs {
    /// The kernel's [`GemmArgs`].
    pub args: Gpr,
    /// The tile's first row and column.
    pub i0: Gpr,
    pub j0: Gpr,
    /// C at the tile.
    pub ctile: Gpr,
    /// Scratch.
    pub t: Gpr,
    pub t2: Gpr,
}

/// Fills the [`EpilogueArgs`] at `rsp + at` for the tile at `(i0, j0)` whose f32 accumulators
/// are at `rsp + acc_at`, then calls the epilogue kernel at `entry` (rsp must be 16-aligned;
/// the caller-saved registers are lost).
pub(super) fn call_epilogue(
    a: &mut CodeAssembler,
    d: &GemmDesc,
    r: EpilogueRegs,
    acc_at: usize,
    at: usize,
    entry: u64,
) -> AsmResult<()> {
    let at = at as i32;
    a.lea(r.t.q(), ptr(rsp + acc_at as i32))?;
    a.mov(
        qword_ptr(rsp + at + offset_of!(EpilogueArgs, acc) as i32),
        r.t.q(),
    )?;
    a.mov(
        qword_ptr(rsp + at + offset_of!(EpilogueArgs, c) as i32),
        r.ctile.q(),
    )?;
    if let Some(bias) = d.epilogue.bias {
        bias_at_tile(a, bias, &r)?;
        a.mov(
            qword_ptr(rsp + at + offset_of!(EpilogueArgs, bias) as i32),
            r.t.q(),
        )?;
    }
    if d.epilogue.activation.writes_mask() {
        match i32::try_from(d.epilogue.mask_ld / 8) {
            Ok(f) => a.imul_3(r.t.q(), r.i0.q(), f)?,
            Err(_) => {
                a.mov(r.t.q(), (d.epilogue.mask_ld / 8) as u64)?;
                a.imul_2(r.t.q(), r.i0.q())?;
            }
        }
        a.mov(r.t2.q(), r.j0.q())?;
        a.shr(r.t2.q(), 3)?;
        a.add(r.t.q(), r.t2.q())?;
        a.add(
            r.t.q(),
            qword_ptr(r.args.q() + offset_of!(GemmArgs, relu_mask) as i32),
        )?;
        a.mov(
            qword_ptr(rsp + at + offset_of!(EpilogueArgs, mask) as i32),
            r.t.q(),
        )?;
    }
    a.lea(ARG0.q(), ptr(rsp + at))?;
    a.mov(r.t.q(), entry)?;
    a.call(r.t.q())
}
