//! Data-movement kernels, bit for bit at every element size: same-dtype copies (with
//! broadcasts), zero fill, transpose, VNNI pack/unpack, and gathers and scatters of rows and
//! columns. An index out of range is skipped (the device cannot report it, and must not
//! touch memory it was not given); the safe host calls check host-visible indices first.

use super::grid::{self, element_address, move_element, store_zero};
use super::ptx::{module, Declined, KernelBuilder, PtxKernel, Target, R32, R64};
use crate::exec::UnaryArgs;
use crate::isa::{Broadcast, Layout, UnaryDesc, UnaryOp};
use std::mem::{offset_of, size_of};

/// The kernel of a layout transform, same-dtype copy or zero fill; `None` for other ops.
pub fn generate(d: &UnaryDesc, name: &str, target: Target) -> Option<Result<PtxKernel, Declined>> {
    let same_copy = d.op == UnaryOp::Identity && d.in_dtype == d.out_dtype;
    if !(d.op.is_layout_transform() || same_copy || d.op == UnaryOp::Zero) {
        return None;
    }
    let threads = grid::BLOCK.0 * grid::BLOCK.1;
    let mut k = KernelBuilder::new(name, size_of::<UnaryArgs>(), threads);
    let input = k.arg_u64(offset_of!(UnaryArgs, input));
    let output = k.arg_u64(offset_of!(UnaryArgs, output));
    let indices = k.arg_u64(offset_of!(UnaryArgs, indices));
    let s = d.in_dtype.size();
    let (r, c, li, lo) = (d.rows, d.cols, d.ld_in, d.ld_out);
    // (ny, nx) of the thread space, per op.
    let (ny, nx) = match d.op {
        UnaryOp::Transpose => (c, r),
        UnaryOp::VnniPack { layout } => (r.next_multiple_of(layout.factor()), c),
        UnaryOp::ScatterRows => (1, c),
        UnaryOp::ScatterCols => (r, 1),
        _ => (r, c),
    };
    let body = |k: &mut KernelBuilder, y: R32, x: R32| -> Result<(), Declined> {
        match d.op {
            UnaryOp::Zero => {
                // No input: the output's own element size (the input dtype may differ).
                let os = d.out_dtype.size();
                let to = element_address(k, output, y, lo, x, os);
                store_zero(k, os, to);
            }
            UnaryOp::Identity => {
                let from = match d.broadcast {
                    Broadcast::None => element_address(k, input, y, li, x, s),
                    Broadcast::Row => k.address(input, x, s as u32),
                    Broadcast::Col => k.address(input, y, s as u32),
                    Broadcast::Scalar => input,
                };
                let to = element_address(k, output, y, lo, x, s);
                move_element(k, s, from, to);
            }
            UnaryOp::Transpose => {
                // y = output row (an input column), x = output column (an input row): the
                // stores of a warp are contiguous.
                let from = element_address(k, input, x, li, y, s);
                let to = element_address(k, output, y, lo, x, s);
                move_element(k, s, from, to);
            }
            UnaryOp::VnniPack { layout } | UnaryOp::VnniUnpack { layout } => {
                let v = layout.factor();
                let vnni = vnni_address(
                    k,
                    y,
                    x,
                    v,
                    if matches!(d.op, UnaryOp::VnniPack { .. }) {
                        lo
                    } else {
                        li
                    },
                    s,
                    layout,
                );
                if let UnaryOp::VnniPack { .. } = d.op {
                    let to = k.address64(output, vnni, s as u64);
                    // Rows past `rows` are the zero padding of the last group.
                    let pad = k.pred();
                    k.inst(format!("setp.ge.u32 {pad}, {y}, {r}"));
                    let (copy, end) = (k.label(), k.label());
                    k.branch_if(pad, true, copy);
                    store_zero(k, s, to);
                    k.branch(end);
                    k.place(copy);
                    let from = element_address(k, input, y, li, x, s);
                    move_element(k, s, from, to);
                    k.place(end);
                } else {
                    let from = k.address64(input, vnni, s as u64);
                    let to = element_address(k, output, y, lo, x, s);
                    move_element(k, s, from, to);
                }
            }
            UnaryOp::GatherRows | UnaryOp::GatherCols => {
                let which = if d.op == UnaryOp::GatherRows { y } else { x };
                let skip = k.label();
                let idx = index(
                    k,
                    indices,
                    which,
                    if d.op == UnaryOp::GatherRows {
                        None
                    } else {
                        Some(li)
                    },
                    skip,
                );
                let from = if d.op == UnaryOp::GatherRows {
                    // in(idx[i], j)
                    let off = k.r64();
                    k.inst(format!("mul.lo.u64 {off}, {idx}, {li}"));
                    let x64 = k.r64();
                    k.inst(format!("cvt.u64.u32 {x64}, {x}"));
                    k.inst(format!("add.u64 {off}, {off}, {x64}"));
                    k.address64(input, off, s as u64)
                } else {
                    let off = k.r64();
                    k.inst(format!("mul.wide.u32 {off}, {y}, {li}"));
                    k.inst(format!("add.u64 {off}, {off}, {idx}"));
                    k.address64(input, off, s as u64)
                };
                let to = element_address(k, output, y, lo, x, s);
                move_element(k, s, from, to);
                k.place(skip);
            }
            UnaryOp::ScatterRows | UnaryOp::ScatterCols => {
                // One thread walks the scattered index in order, so that with repeated
                // indices the highest wins, as the ISA defines.
                let rows_dir = d.op == UnaryOp::ScatterRows;
                let i = k.imm32(0);
                let (top, next, end) = (k.label(), k.label(), k.label());
                k.place(top);
                let done = k.pred();
                k.inst(format!(
                    "setp.ge.u32 {done}, {i}, {}",
                    if rows_dir { r } else { c }
                ));
                k.branch_if(done, false, end);
                let idx = index(k, indices, i, if rows_dir { None } else { Some(lo) }, next);
                let (row, col) = if rows_dir { (i, x) } else { (y, i) };
                let from = element_address(k, input, row, li, col, s);
                let off = k.r64();
                if rows_dir {
                    k.inst(format!("mul.lo.u64 {off}, {idx}, {lo}"));
                    let x64 = k.r64();
                    k.inst(format!("cvt.u64.u32 {x64}, {x}"));
                    k.inst(format!("add.u64 {off}, {off}, {x64}"));
                } else {
                    k.inst(format!("mul.wide.u32 {off}, {y}, {lo}"));
                    k.inst(format!("add.u64 {off}, {off}, {idx}"));
                }
                let to = k.address64(output, off, s as u64);
                move_element(k, s, from, to);
                k.place(next);
                k.inst(format!("add.u32 {i}, {i}, 1"));
                k.branch(top);
                k.place(end);
            }
            _ => unreachable!("filtered above"),
        }
        Ok(())
    };
    if let Err(e) = grid::for_each(&mut k, ny, nx, body) {
        return Some(Err(e));
    }
    Some(Ok(PtxKernel {
        name: name.to_string(),
        ptx: module(target, k.finish()),
        launch: grid::launch(ny, nx),
        target,
    }))
}

/// Element index of logical `(row, col)` in a VNNI-`v` matrix with leading dimension `ld`.
fn vnni_address(
    k: &mut KernelBuilder,
    row: R32,
    col: R32,
    v: usize,
    ld: usize,
    _s: usize,
    _l: Layout,
) -> R64 {
    let (g, rem) = (k.r32(), k.r32());
    k.inst(format!("div.u32 {g}, {row}, {v}"));
    k.inst(format!("rem.u32 {rem}, {row}, {v}"));
    let idx = k.r64();
    k.inst(format!("mul.wide.u32 {idx}, {g}, {}", ld * v));
    let inner = k.r32();
    k.inst(format!("mad.lo.u32 {inner}, {col}, {v}, {rem}"));
    let i64 = k.r64();
    k.inst(format!("cvt.u64.u32 {i64}, {inner}"));
    k.inst(format!("add.u64 {idx}, {idx}, {i64}"));
    idx
}

/// Loads `indices[at]`; branches to `skip` when `bound` is given and the index reaches it
/// (row indices are bounded by the caller's allocation, which only the host knows).
fn index(
    k: &mut KernelBuilder,
    indices: R64,
    at: R32,
    bound: Option<usize>,
    skip: super::ptx::Label,
) -> R64 {
    let a = k.address(indices, at, 8);
    let idx = k.r64();
    k.inst(format!("ld.global.u64 {idx}, [{a}]"));
    if let Some(b) = bound {
        let p = k.pred();
        k.inst(format!("setp.ge.u64 {p}, {idx}, {b}"));
        k.branch_if(p, false, skip);
    }
    idx
}
