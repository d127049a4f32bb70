//! Reductions in f32: per column one thread per column walks the rows (a warp reads
//! consecutive columns, so every load is coalesced); per row one warp per row strides over
//! the columns and folds its 32 partial results with butterfly shuffles. NaN propagates
//! through max/min (`max.NaN`).

use super::microops::{load_f32, store_f32};
use super::ptx::{f32_imm, module, Declined, KernelBuilder, Launch, PtxKernel, Target, R32, R64};
use crate::exec::ReduceArgs;
use crate::isa::{DType, ReduceAxis, ReduceDesc, ReduceOp};
use std::mem::{offset_of, size_of};

const THREADS: u32 = 256;
const WARPS: u32 = THREADS / 32;
const MAX_GRID: usize = 65_535;

/// The folds a reduction keeps (two for `SumAndSumSq`).
fn folds(op: ReduceOp) -> &'static [ReduceOp] {
    match op {
        ReduceOp::SumAndSumSq => &[ReduceOp::Sum, ReduceOp::SumSq],
        ReduceOp::Sum => &[ReduceOp::Sum],
        ReduceOp::Max => &[ReduceOp::Max],
        ReduceOp::Min => &[ReduceOp::Min],
        ReduceOp::AbsMax => &[ReduceOp::AbsMax],
        ReduceOp::SumSq => &[ReduceOp::SumSq],
    }
}

fn identity(op: ReduceOp) -> f32 {
    match op {
        ReduceOp::Max => f32::NEG_INFINITY,
        ReduceOp::Min => f32::INFINITY,
        _ => 0.0,
    }
}

/// `acc = acc ⊕ x` for one fold (`x` is the element, not yet squared or made absolute).
fn fold_element(k: &mut KernelBuilder, op: ReduceOp, acc: R32, x: R32) {
    match op {
        ReduceOp::Sum => k.inst(format!("add.rn.f32 {acc}, {acc}, {x}")),
        ReduceOp::SumSq => k.inst(format!("fma.rn.f32 {acc}, {x}, {x}, {acc}")),
        ReduceOp::Max => k.inst(format!("max.NaN.f32 {acc}, {acc}, {x}")),
        ReduceOp::Min => k.inst(format!("min.NaN.f32 {acc}, {acc}, {x}")),
        ReduceOp::AbsMax => {
            let a = k.r32();
            k.inst(format!("and.b32 {a}, {x}, 0x7FFFFFFF"));
            k.inst(format!("max.NaN.f32 {acc}, {acc}, {a}"));
        }
        ReduceOp::SumAndSumSq => unreachable!("split by folds()"),
    }
}

/// `acc = acc ⊕ partial` for two partial results of one fold.
fn combine(k: &mut KernelBuilder, op: ReduceOp, acc: R32, partial: R32) {
    match op {
        ReduceOp::Sum | ReduceOp::SumSq => k.inst(format!("add.rn.f32 {acc}, {acc}, {partial}")),
        ReduceOp::Max | ReduceOp::AbsMax => k.inst(format!("max.NaN.f32 {acc}, {acc}, {partial}")),
        ReduceOp::Min => k.inst(format!("min.NaN.f32 {acc}, {acc}, {partial}")),
        ReduceOp::SumAndSumSq => unreachable!("split by folds()"),
    }
}

/// The launch geometry.
pub fn launch(d: &ReduceDesc) -> Launch {
    let (grid, block) = match d.axis {
        ReduceAxis::PerCol => (d.cols.div_ceil(THREADS as usize), (THREADS, 1, 1)),
        ReduceAxis::PerRow => (d.rows.div_ceil(WARPS as usize), (32, WARPS, 1)),
    };
    Launch {
        grid: (grid.clamp(1, MAX_GRID) as u32, 1, 1),
        block,
        smem_bytes: 0,
    }
}

/// Generates the reduction (f32 compute over f32/bf16/f16 data).
pub fn generate(d: &ReduceDesc, name: &str, target: Target) -> Result<PtxKernel, Declined> {
    let ok = |t: DType| matches!(t, DType::F32 | DType::BF16 | DType::F16);
    if d.compute_dtype != DType::F32 || !ok(d.in_dtype) || !ok(d.out_dtype) {
        return Err(Declined(format!(
            "reduce with {} → {} in {}: f32 compute over f32/bf16/f16 only",
            d.in_dtype, d.out_dtype, d.compute_dtype
        )));
    }
    let mut k = KernelBuilder::new(name, size_of::<ReduceArgs>(), THREADS);
    let input = k.arg_u64(offset_of!(ReduceArgs, input));
    let output = k.arg_u64(offset_of!(ReduceArgs, output));
    let (isz, osz) = (d.in_dtype.size() as u32, d.out_dtype.size());
    let exit = k.label();
    let per_row = d.axis == ReduceAxis::PerRow;
    // `out_index` is this thread's output (a column or a row); `lane` strides the other way.
    let (out_index, stride_start, stride_step, outer_step) = if per_row {
        let (lane, wy, cx, ncx) = (
            k.special("%tid.x"),
            k.special("%tid.y"),
            k.special("%ctaid.x"),
            k.special("%nctaid.x"),
        );
        let row = k.r32();
        k.inst(format!("mad.lo.u32 {row}, {cx}, {WARPS}, {wy}"));
        let step = k.r32();
        k.inst(format!("mul.lo.u32 {step}, {ncx}, {WARPS}"));
        (row, lane, 32u32, step)
    } else {
        let (tx, cx, ncx) = (
            k.special("%tid.x"),
            k.special("%ctaid.x"),
            k.special("%nctaid.x"),
        );
        let col = k.r32();
        k.inst(format!("mad.lo.u32 {col}, {cx}, {THREADS}, {tx}"));
        let step = k.r32();
        k.inst(format!("mul.lo.u32 {step}, {ncx}, {THREADS}"));
        let zero = k.imm32(0);
        (col, zero, 1u32, step)
    };
    let (count, span) = if per_row {
        (d.rows, d.cols)
    } else {
        (d.cols, d.rows)
    };
    let top = k.label();
    k.place(top);
    let done = k.pred();
    k.inst(format!("setp.ge.u32 {done}, {out_index}, {count}"));
    // Whole warps leave together in the per-row form (the shuffles need every lane).
    k.branch_if(done, false, exit);
    let fs = folds(d.op);
    let accs: Vec<R32> = fs
        .iter()
        .map(|&f| {
            let r = k.r32();
            k.inst(format!("mov.b32 {r}, {}", f32_imm(identity(f))));
            r
        })
        .collect();
    // Inner loop over the reduced dimension.
    let t = k.r32();
    k.inst(format!("mov.u32 {t}, {stride_start}"));
    let (inner, inner_end) = (k.label(), k.label());
    k.place(inner);
    let end = k.pred();
    k.inst(format!("setp.ge.u32 {end}, {t}, {span}"));
    k.branch_if(end, false, inner_end);
    let (row, col) = if per_row {
        (out_index, t)
    } else {
        (t, out_index)
    };
    let addr = element(&mut k, input, row, d.ld_in, col, isz);
    let x = k.r32();
    load_f32(&mut k, d.in_dtype, addr, x)?;
    for (&f, &acc) in fs.iter().zip(&accs) {
        fold_element(&mut k, f, acc, x);
    }
    k.inst(format!("add.u32 {t}, {t}, {stride_step}"));
    k.branch(inner);
    k.place(inner_end);
    if per_row {
        for (&f, &acc) in fs.iter().zip(&accs) {
            for m in [16, 8, 4, 2, 1] {
                let o = k.r32();
                k.shfl_sync_bfly_b32(o, acc, m);
                combine(&mut k, f, acc, o);
            }
        }
    }
    let skip_store = k.label();
    if per_row {
        let lane0 = k.pred();
        k.inst(format!("setp.ne.u32 {lane0}, {stride_start}, 0"));
        k.branch_if(lane0, false, skip_store);
    }
    for (n, (&f, &acc)) in fs.iter().zip(&accs).enumerate() {
        let at = k.r32();
        k.inst(format!("add.u32 {at}, {out_index}, {}", n * count));
        let a = k.address(output, at, osz as u32);
        if d.accumulate {
            let prior = k.r32();
            load_f32(&mut k, d.out_dtype, a, prior)?;
            combine(&mut k, f, acc, prior);
        }
        store_f32(&mut k, d.out_dtype, a, acc)?;
    }
    k.place(skip_store);
    k.inst(format!("add.u32 {out_index}, {out_index}, {outer_step}"));
    k.branch(top);
    k.place(exit);
    Ok(PtxKernel {
        name: name.to_string(),
        ptx: module(target, k.finish()),
        launch: launch(d),
        target,
    })
}

fn element(k: &mut KernelBuilder, base: R64, row: R32, ld: usize, col: R32, size: u32) -> R64 {
    super::grid::element_address(k, base, row, ld, col, size as usize)
}
