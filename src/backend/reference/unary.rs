//! Reference unary ops: each element computed from its formula in f64.

use super::elem::{clear_row_padding, copy, load, round_to, store};
use super::math::{backward, pointwise};
use crate::exec::{Exec, UnaryArgs};
use crate::isa::{bitmask, dropout, UnaryDesc, UnaryOp};

pub(super) struct RefUnary(pub UnaryDesc);

impl Exec<UnaryArgs> for RefUnary {
    unsafe fn run(&self, args: &UnaryArgs) {
        let d = &self.0;
        if d.op.is_layout_transform() {
            return self.transform(args);
        }
        let (rows, cols) = (d.rows, d.cols);
        let mask_bytes = bitmask::bytes(rows, cols, d.mask_ld);
        let comp = d.compute_dtype;
        let threshold = match d.op {
            UnaryOp::Dropout { p } | UnaryOp::DropoutBackward { p } => dropout::threshold(p),
            _ => 0,
        };
        let keep_scale = match d.op {
            UnaryOp::Dropout { p } | UnaryOp::DropoutBackward { p } => {
                round_to(comp, 1.0 / (1.0 - p as f64))
            }
            _ => 1.0,
        };
        for i in 0..rows {
            for j in 0..cols {
                let out_idx = i * d.ld_out + j;
                if d.op == UnaryOp::Zero {
                    store(args.output, d.out_dtype, out_idx, 0.0);
                    continue;
                }
                let in_idx = d.broadcast.offset(i, j, d.ld_in);
                if d.op == UnaryOp::Identity {
                    // A copy converts directly; the compute type plays no part.
                    if d.in_dtype == d.out_dtype {
                        copy(args.input, in_idx, args.output, out_idx, d.in_dtype);
                    } else {
                        store(
                            args.output,
                            d.out_dtype,
                            out_idx,
                            load(args.input, d.in_dtype, in_idx),
                        );
                    }
                    continue;
                }
                let x = round_to(comp, load(args.input, d.in_dtype, in_idx));
                let aux = if d.op.reads_aux() {
                    round_to(comp, load(args.aux, d.in_dtype, i * d.ld_in + j))
                } else {
                    0.0
                };
                let mask_bit = if d.op.reads_mask() {
                    let mask = std::slice::from_raw_parts(args.mask_in, mask_bytes);
                    bitmask::get(mask, i, j, d.mask_ld)
                } else {
                    false
                };
                let (y, bit) = match d.op {
                    UnaryOp::Relu { .. } | UnaryOp::LeakyRelu { .. } => {
                        (pointwise(d.op, x), x > 0.0)
                    }
                    UnaryOp::Dropout { .. } => {
                        let keep = dropout::keep(args.seed, threshold, i, j, cols);
                        (if keep { x * keep_scale } else { 0.0 }, keep)
                    }
                    UnaryOp::DropoutBackward { .. } => {
                        (if mask_bit { x * keep_scale } else { 0.0 }, false)
                    }
                    UnaryOp::ReluBackward { mask: true } => (if mask_bit { x } else { 0.0 }, false),
                    UnaryOp::LeakyReluBackward { alpha, mask: true } => {
                        (if mask_bit { x } else { x * alpha as f64 }, false)
                    }
                    op if op.reads_aux() => (backward(op, x, aux), false),
                    op => (pointwise(op, x), false),
                };
                if d.op.writes_mask() {
                    let mask = std::slice::from_raw_parts_mut(args.mask_out, mask_bytes);
                    bitmask::set(mask, i, j, d.mask_ld, bit);
                }
                store(args.output, d.out_dtype, out_idx, round_to(comp, y));
            }
        }
        if d.op.writes_mask() {
            clear_row_padding(args.mask_out, rows, cols, d.mask_ld);
        }
    }
}

impl RefUnary {
    /// Layout transforms: element moves, bit for bit.
    unsafe fn transform(&self, args: &UnaryArgs) {
        let d = &self.0;
        let dt = d.in_dtype;
        let (src, dst) = (args.input, args.output);
        let idx = |n: usize| *args.indices.add(n) as usize;
        match d.op {
            UnaryOp::Transpose => {
                for i in 0..d.rows {
                    for j in 0..d.cols {
                        copy(src, i * d.ld_in + j, dst, j * d.ld_out + i, dt);
                    }
                }
            }
            UnaryOp::VnniPack { layout } => {
                let padded = d.rows.next_multiple_of(layout.factor());
                for i in 0..padded {
                    for j in 0..d.cols {
                        let o = layout.offset(i, j, d.ld_out);
                        if i < d.rows {
                            copy(src, i * d.ld_in + j, dst, o, dt);
                        } else {
                            store(dst, dt, o, 0.0);
                        }
                    }
                }
            }
            UnaryOp::VnniUnpack { layout } => {
                for i in 0..d.rows {
                    for j in 0..d.cols {
                        copy(src, layout.offset(i, j, d.ld_in), dst, i * d.ld_out + j, dt);
                    }
                }
            }
            UnaryOp::GatherRows
            | UnaryOp::GatherCols
            | UnaryOp::ScatterRows
            | UnaryOp::ScatterCols => {
                for i in 0..d.rows {
                    for j in 0..d.cols {
                        let (s, o) = match d.op {
                            UnaryOp::GatherRows => (idx(i) * d.ld_in + j, i * d.ld_out + j),
                            UnaryOp::GatherCols => (i * d.ld_in + idx(j), i * d.ld_out + j),
                            UnaryOp::ScatterRows => (i * d.ld_in + j, idx(i) * d.ld_out + j),
                            _ => (i * d.ld_in + j, i * d.ld_out + idx(j)),
                        };
                        copy(src, s, dst, o, dt);
                    }
                }
            }
            op => unreachable!("{op:?} is not a layout transform"),
        }
    }
}
