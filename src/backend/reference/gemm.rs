//! Reference GEMM / BRGEMM: the formula, element by element, accumulated in f64.

use super::elem::{clear_row_padding, load, round_to, store};
use super::math::activation;
use crate::exec::{Exec, GemmArgs};
use crate::isa::{bitmask, BatchReduce, BiasBroadcast, GemmDesc, Layout};
use std::ffi::c_void;

pub(super) struct RefGemm(pub GemmDesc);

impl RefGemm {
    /// Pointers to `A_i` and `B_i`.
    unsafe fn operands(&self, args: &GemmArgs, i: usize) -> (*const c_void, *const c_void) {
        let d = &self.0;
        let step = |p: *const c_void, elems: usize, size: usize| -> *const c_void {
            p.cast::<u8>().add(elems * size).cast()
        };
        let (sa, sb) = (d.a_dtype.size(), d.b_dtype.size());
        match d.batch {
            BatchReduce::None => (args.a, args.b),
            BatchReduce::Stride { a, b } => (step(args.a, i * a, sa), step(args.b, i * b, sb)),
            BatchReduce::Offsets => (
                step(args.a, *args.a_offsets.add(i) as usize, sa),
                step(args.b, *args.b_offsets.add(i) as usize, sb),
            ),
            BatchReduce::Addresses => (
                *args.a.cast::<*const c_void>().add(i),
                *args.b.cast::<*const c_void>().add(i),
            ),
        }
    }
}

impl Exec<GemmArgs> for RefGemm {
    unsafe fn run(&self, args: &GemmArgs) {
        let d = &self.0;
        let (m, n, k) = (d.m, d.n, d.k);
        let batch = match d.batch {
            BatchReduce::None => 1,
            _ => args.batch as usize,
        };
        // Σ_i op(A_i)·op(B_i), one row of C at a time (so the scratch is n values, not m·n),
        // exact for int8 and nearly so for floats.
        let mut acc = vec![0.0f64; n];
        for i in 0..m {
            acc.fill(0.0);
            for bi in 0..batch {
                let (pa, pb) = self.operands(args, bi);
                for p in 0..k {
                    let a_idx = if d.trans_a {
                        p * d.lda + i
                    } else {
                        i * d.lda + p
                    };
                    let a = load(pa, d.a_dtype, a_idx);
                    for (j, acc) in acc.iter_mut().enumerate() {
                        let b_idx = match d.b_layout {
                            Layout::RowMajor if d.trans_b => j * d.ldb + p,
                            layout => layout.offset(p, j, d.ldb),
                        };
                        *acc += a * load(pb, d.b_dtype, b_idx);
                    }
                }
            }
            for (j, &sum) in acc.iter().enumerate() {
                let c_idx = d.c_layout.offset(i, j, d.ldc);
                let v = if d.is_int8() {
                    // i32 accumulation wraps around, as VNNI and AMX do.
                    let prior = if d.beta != 0.0 {
                        load(args.c, d.c_dtype, c_idx) as i64
                    } else {
                        0
                    };
                    (sum as i64).wrapping_add(prior) as i32 as f64
                } else {
                    let mut v = d.alpha * sum;
                    if d.beta != 0.0 {
                        v += d.beta * load(args.c, d.c_dtype, c_idx);
                    }
                    if let Some(bias) = d.epilogue.bias {
                        let bi = match bias.broadcast {
                            BiasBroadcast::Row => j,
                            BiasBroadcast::Col => i,
                        };
                        v += load(args.bias, bias.dtype, bi);
                    }
                    round_to(d.compute_dtype, activation(d.epilogue.activation, v))
                };
                if d.epilogue.activation.writes_mask() {
                    let mask = std::slice::from_raw_parts_mut(
                        args.relu_mask,
                        bitmask::bytes(m, n, d.epilogue.mask_ld),
                    );
                    bitmask::set(mask, i, j, d.epilogue.mask_ld, v > 0.0);
                }
                store(args.c, d.c_dtype, c_idx, v);
            }
        }
        if d.epilogue.activation.writes_mask() {
            clear_row_padding(args.relu_mask, m, n, d.epilogue.mask_ld);
        }
    }
}
