//! Reference reductions.

use super::elem::{load, round_to, store};
use super::math::{max_nan, min_nan};
use crate::exec::{Exec, ReduceArgs};
use crate::isa::{ReduceAxis, ReduceDesc, ReduceOp};

pub(super) struct RefReduce(pub ReduceDesc);

impl Exec<ReduceArgs> for RefReduce {
    unsafe fn run(&self, args: &ReduceArgs) {
        let d = &self.0;
        let comp = d.compute_dtype;
        let (outer, inner) = match d.axis {
            ReduceAxis::PerRow => (d.rows, d.cols),
            ReduceAxis::PerCol => (d.cols, d.rows),
        };
        for o in 0..outer {
            let (mut sum, mut sumsq) = (0.0f64, 0.0f64);
            let mut ext = match d.op {
                ReduceOp::Max => f64::NEG_INFINITY,
                ReduceOp::Min => f64::INFINITY,
                _ => 0.0,
            };
            for e in 0..inner {
                let idx = match d.axis {
                    ReduceAxis::PerRow => o * d.ld_in + e,
                    ReduceAxis::PerCol => e * d.ld_in + o,
                };
                let x = round_to(comp, load(args.input, d.in_dtype, idx));
                sum += x;
                sumsq += x * x;
                ext = match d.op {
                    ReduceOp::Max => max_nan(ext, x),
                    ReduceOp::Min => min_nan(ext, x),
                    ReduceOp::AbsMax => max_nan(ext, x.abs()),
                    _ => ext,
                };
            }
            let emit = |idx: usize, mut v: f64| {
                if d.accumulate {
                    let prior = round_to(comp, load(args.output, d.out_dtype, idx));
                    v = match d.op {
                        ReduceOp::Max | ReduceOp::AbsMax => max_nan(prior, v),
                        ReduceOp::Min => min_nan(prior, v),
                        _ => prior + v,
                    };
                }
                store(args.output, d.out_dtype, idx, round_to(comp, v));
            };
            match d.op {
                ReduceOp::Sum => emit(o, sum),
                ReduceOp::SumSq => emit(o, sumsq),
                ReduceOp::SumAndSumSq => {
                    emit(o, sum);
                    emit(outer + o, sumsq);
                }
                _ => emit(o, ext),
            }
        }
    }
}
