//! The full-precision f32 GEMM (no tensor cores): 64×64 block tiles, each of the 256
//! threads accumulating a 4×4 patch with `fma.rn.f32`, from k-outer shared tiles read as
//! 16-byte vectors. It shares the loads, the pipeline and the epilogue of [`super::gemm`].

use super::gemm::{Frame, Lanes};
use super::gemm_epilogue::{Elem, Epilogue, Group};
use super::gemm_tiling::Plan;
use super::ptx::{Declined, KernelBuilder, F32, R32};

/// Rows and columns of C per thread.
const PATCH: usize = 4;

/// The thread's patch: row group `ty = tid / (bn/4)`, column group `tx = tid % (bn/4)`.
pub fn lanes(k: &mut KernelBuilder, plan: &Plan, tid: R32) -> Lanes {
    let per_row = plan.tiling.bn / PATCH;
    let (tx, ty) = (k.r32(), k.r32());
    k.inst(format!("rem.u32 {tx}, {tid}, {per_row}"));
    k.inst(format!("div.u32 {ty}, {tid}, {per_row}"));
    let (row0, col0) = (k.r32(), k.r32());
    k.inst(format!("shl.b32 {row0}, {ty}, 2"));
    k.inst(format!("shl.b32 {col0}, {tx}, 2"));
    let (a, b) = (k.r32(), k.r32());
    k.inst(format!("shl.b32 {a}, {row0}, 2"));
    k.inst(format!("shl.b32 {b}, {col0}, 2"));
    Lanes {
        a,
        b,
        g: ty,
        t: tx,
        row0,
        col0,
    }
}

/// `acc[i][j] += A(row0 + i, kk) · B(kk, col0 + j)` over the stage's k.
pub fn compute_stage(k: &mut KernelBuilder, plan: &Plan, lanes: &Lanes, stage: R32, acc: &[F32]) {
    let (a_base, b_base) = (k.r32(), k.r32());
    k.inst(format!("add.u32 {a_base}, {stage}, {}", lanes.a));
    k.inst(format!("add.u32 {b_base}, {stage}, {}", lanes.b));
    let b_stage = plan.a.bytes();
    for kk in 0..plan.tiling.bk {
        let a = [k.f32(), k.f32(), k.f32(), k.f32()];
        let b = [k.f32(), k.f32(), k.f32(), k.f32()];
        k.inst(format!(
            "ld.shared.v4.f32 {{{}, {}, {}, {}}}, [{a_base}+{}]",
            a[0],
            a[1],
            a[2],
            a[3],
            kk * plan.a.row_bytes
        ));
        k.inst(format!(
            "ld.shared.v4.f32 {{{}, {}, {}, {}}}, [{b_base}+{}]",
            b[0],
            b[1],
            b[2],
            b[3],
            b_stage + kk * plan.b.row_bytes
        ));
        for i in 0..PATCH {
            for j in 0..PATCH {
                let c = acc[i * PATCH + j];
                k.inst(format!("fma.rn.f32 {c}, {}, {}, {c}", a[i], b[j]));
            }
        }
    }
}

/// The epilogue: a mask byte spans the patches of two neighbouring lanes (`tx`, `tx ^ 1`).
pub fn epilogue(
    k: &mut KernelBuilder,
    _plan: &Plan,
    lanes: &Lanes,
    frame: &Frame,
    acc: &[F32],
    ep: &Epilogue,
) -> Result<(), Declined> {
    let (row_base, col_base, byte_col, half) = (k.r32(), k.r32(), k.r32(), k.r32());
    k.inst(format!("add.u32 {row_base}, {}, {}", frame.m0, lanes.row0));
    k.inst(format!("add.u32 {col_base}, {}, {}", frame.n0, lanes.col0));
    k.inst(format!("and.b32 {byte_col}, {col_base}, 0xFFFFFFF8"));
    k.inst(format!("and.b32 {half}, {}, 1", lanes.t));
    let writer = k.pred();
    k.inst(format!("setp.eq.u32 {writer}, {half}, 0"));
    let shift = k.r32();
    k.inst(format!("shl.b32 {shift}, {half}, 2"));
    let bits: Vec<R32> = (0..PATCH)
        .map(|j| {
            let b = k.r32();
            k.inst(format!("shl.b32 {b}, {}, {shift}", 1u32 << j));
            b
        })
        .collect();
    for i in 0..PATCH {
        let row = k.r32();
        k.inst(format!("add.u32 {row}, {row_base}, {i}"));
        let elems = (0..PATCH)
            .map(|j| {
                let col = k.r32();
                k.inst(format!("add.u32 {col}, {col_base}, {j}"));
                let v = k.r32();
                k.inst(format!("mov.b32 {v}, {}", acc[i * PATCH + j]));
                Elem {
                    acc: v,
                    col,
                    bit: bits[j],
                }
            })
            .collect();
        ep.emit(
            k,
            &Group {
                row,
                byte_col,
                elems,
                xors: vec![1],
                writer,
            },
        )?;
    }
    Ok(())
}
