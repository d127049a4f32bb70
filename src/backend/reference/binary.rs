//! Reference binary and ternary ops.

use super::elem::{clear_row_padding, load, round_to, store};
use super::math::{max_nan, min_nan};
use crate::exec::{BinaryArgs, Exec, TernaryArgs};
use crate::isa::{bitmask, BinaryDesc, BinaryOp, TernaryDesc, TernaryOp};

pub(super) struct RefBinary(pub BinaryDesc);

impl Exec<BinaryArgs> for RefBinary {
    unsafe fn run(&self, args: &BinaryArgs) {
        let d = &self.0;
        let comp = d.compute_dtype;
        for i in 0..d.rows {
            for j in 0..d.cols {
                let a = round_to(
                    comp,
                    load(args.in0, d.in0_dtype, d.broadcast0.offset(i, j, d.ld_in0)),
                );
                let b = round_to(
                    comp,
                    load(args.in1, d.in1_dtype, d.broadcast1.offset(i, j, d.ld_in1)),
                );
                let o = i * d.ld_out + j;
                let y = match d.op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div => a / b,
                    BinaryOp::Max => max_nan(a, b),
                    BinaryOp::Min => min_nan(a, b),
                    BinaryOp::MulAdd => round_to(comp, load(args.output, d.out_dtype, o)) + a * b,
                    BinaryOp::Compare(c) => {
                        let bytes = bitmask::bytes(d.rows, d.cols, d.ld_out);
                        let mask = std::slice::from_raw_parts_mut(args.output.cast::<u8>(), bytes);
                        bitmask::set(mask, i, j, d.ld_out, c.eval(a, b));
                        continue;
                    }
                };
                store(args.output, d.out_dtype, o, round_to(comp, y));
            }
        }
        if d.op.is_compare() {
            clear_row_padding(args.output.cast(), d.rows, d.cols, d.ld_out);
        }
    }
}

pub(super) struct RefTernary(pub TernaryDesc);

impl Exec<TernaryArgs> for RefTernary {
    unsafe fn run(&self, args: &TernaryArgs) {
        let d = &self.0;
        let comp = d.compute_dtype;
        let ptrs = [args.in0, args.in1, args.in2];
        let mask_bytes = bitmask::bytes(d.rows, d.cols, d.mask_ld);
        for i in 0..d.rows {
            for j in 0..d.cols {
                let x = |n: usize| {
                    let off = d.broadcasts[n].offset(i, j, d.ld_in[n]);
                    round_to(comp, load(ptrs[n], d.in_dtypes[n], off))
                };
                let y = match d.op {
                    TernaryOp::MulAdd => x(0) * x(1) + x(2),
                    TernaryOp::NMulAdd => x(2) - x(0) * x(1),
                    TernaryOp::Select => {
                        let mask = std::slice::from_raw_parts(args.mask, mask_bytes);
                        if bitmask::get(mask, i, j, d.mask_ld) {
                            x(0)
                        } else {
                            x(1)
                        }
                    }
                };
                store(
                    args.output,
                    d.out_dtype,
                    i * d.ld_out + j,
                    round_to(comp, y),
                );
            }
        }
    }
}
