//! NEON reductions with f32 compute: per column (4 columns per vector, folding down the rows)
//! and per row (4 elements per vector along the row, then a horizontal fold: `faddp` for
//! sums, `fmaxv`/`fminv` for the extremes, which propagate NaN as the contract asks). Inputs
//! and outputs are f32, bf16 or f16; partial vectors are loaded element-exactly. For the
//! extremes a row's tail elements are folded in one at a time (each broadcast over the lanes,
//! so no neutral fill is needed); for sums the zero-filled partial load is neutral.

use super::asm::*;
use super::convert::{self, Bf16Round};
use crate::isa::{ReduceAxis, ReduceDesc, ReduceOp};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

/// Byte offsets of the input and output pointers in the argument struct.
#[derive(Clone, Copy, Debug)]
pub struct ReduceArgsLayout {
    /// The input matrix.
    pub input: usize,
    /// The output vector.
    pub output: usize,
}

const X_IN: V = V(0);
const SUM: V = V(1);
const SQ: V = V(2);
const EXT: V = V(3);
const PRIOR: V = V(4);
const STORE_SCRATCH: [V; 3] = [V(5), V(6), V(7)];

struct Gen<'a> {
    a: Ops,
    d: &'a ReduceDesc,
    bf16: Bf16Round,
    input: X,
    output: X,
    p: X,
    count: X,
    outer: X,
    t0: X,
}

/// Generates the kernel (`None` for f64 compute or non-float dtypes, which stay elsewhere).
pub fn generate(d: &ReduceDesc, args: ReduceArgsLayout, bf16: Bf16Round) -> Option<Vec<u8>> {
    use crate::isa::DType::*;
    let float = |t| matches!(t, F32 | BF16 | F16);
    if d.compute_dtype != F32 || !float(d.in_dtype) || !float(d.out_dtype) {
        return None;
    }
    let mut pool = GprPool::default();
    let mut take = || pool.take().expect("six registers");
    let mut g = Gen {
        a: assembler(),
        d,
        bf16,
        input: take(),
        output: take(),
        p: take(),
        count: take(),
        outer: take(),
        t0: take(),
    };
    let (i, o) = (args.input as u32, args.output as u32);
    dynasm!(g.a ; .arch aarch64
        ; ldr X(g.input.0), [x0, #i]
        ; ldr X(g.output.0), [x0, #o]);
    match d.axis {
        ReduceAxis::PerCol => g.per_col(),
        ReduceAxis::PerRow => g.per_row(),
    }
    dynasm!(g.a ; .arch aarch64 ; ret);
    g.a.finalize().ok()
}

impl Gen<'_> {
    fn outputs(&self) -> usize {
        match self.d.axis {
            ReduceAxis::PerRow => self.d.rows,
            ReduceAxis::PerCol => self.d.cols,
        }
    }

    fn reset(&mut self) {
        dynasm!(self.a ; .arch aarch64
            ; movi V(SUM.0).D2, #0
            ; movi V(SQ.0).D2, #0);
        let start = match self.d.op {
            ReduceOp::Max => f32::NEG_INFINITY,
            ReduceOp::Min => f32::INFINITY,
            _ => 0.0,
        };
        dup_imm32(&mut self.a, EXT, start.to_bits(), self.t0);
    }

    /// Folds `X_IN` (all lanes meaningful) into the accumulators.
    fn fold(&mut self) {
        let (x, sum, sq, ext) = (X_IN.0, SUM.0, SQ.0, EXT.0);
        match self.d.op {
            ReduceOp::Sum => dynasm!(self.a ; .arch aarch64 ; fadd V(sum).S4, V(sum).S4, V(x).S4),
            ReduceOp::SumSq => dynasm!(self.a ; .arch aarch64 ; fmla V(sq).S4, V(x).S4, V(x).S4),
            ReduceOp::SumAndSumSq => dynasm!(self.a ; .arch aarch64
                ; fadd V(sum).S4, V(sum).S4, V(x).S4
                ; fmla V(sq).S4, V(x).S4, V(x).S4),
            ReduceOp::Max => dynasm!(self.a ; .arch aarch64 ; fmax V(ext).S4, V(ext).S4, V(x).S4),
            ReduceOp::Min => dynasm!(self.a ; .arch aarch64 ; fmin V(ext).S4, V(ext).S4, V(x).S4),
            ReduceOp::AbsMax => dynasm!(self.a ; .arch aarch64
                ; fabs V(x).S4, V(x).S4
                ; fmax V(ext).S4, V(ext).S4, V(x).S4),
        }
    }

    /// Stores `lanes` results of accumulator `v` at output element `at + index(outer)`
    /// (folding in the prior output when accumulating). `outer` holds the element index.
    fn emit(&mut self, v: V, second: bool, lanes: usize) {
        let d = self.d;
        let size = d.out_dtype.size();
        let (out, t0, outer) = (self.output, self.t0, self.outer);
        let at = if second { self.outputs() } else { 0 };
        let sh = size.trailing_zeros();
        mov_imm(&mut self.a, t0, (at * size) as u64);
        dynasm!(self.a ; .arch aarch64
            ; add X(t0.0), X(out.0), X(t0.0)
            ; add X(t0.0), X(t0.0), X(outer.0), lsl #sh);
        if d.accumulate {
            convert::load(&mut self.a, PRIOR, d.out_dtype, t0, 0, lanes, self.count);
            let (r, p) = (v.0, PRIOR.0);
            match d.op {
                ReduceOp::Max | ReduceOp::AbsMax => {
                    dynasm!(self.a ; .arch aarch64 ; fmax V(r).S4, V(p).S4, V(r).S4)
                }
                ReduceOp::Min => dynasm!(self.a ; .arch aarch64 ; fmin V(r).S4, V(p).S4, V(r).S4),
                _ => dynasm!(self.a ; .arch aarch64 ; fadd V(r).S4, V(p).S4, V(r).S4),
            }
        }
        let tmp = self.count;
        convert::store(
            &mut self.a,
            v,
            d.out_dtype,
            t0,
            0,
            lanes,
            tmp,
            STORE_SCRATCH,
            self.bf16,
        );
    }

    fn emit_all(&mut self, lanes: usize) {
        match self.d.op {
            ReduceOp::Sum => self.emit(SUM, false, lanes),
            ReduceOp::SumSq => self.emit(SQ, false, lanes),
            ReduceOp::SumAndSumSq => {
                self.emit(SUM, false, lanes);
                self.emit(SQ, true, lanes);
            }
            _ => self.emit(EXT, false, lanes),
        }
    }

    /// One vector of columns `outer..outer+lanes`, folded down every row.
    fn column_vector(&mut self, lanes: usize) {
        let d = self.d;
        let size = d.in_dtype.size();
        let (input, p, count, outer, t0) = (self.input, self.p, self.count, self.outer, self.t0);
        self.reset();
        let sh = size.trailing_zeros();
        dynasm!(self.a ; .arch aarch64
            ; add X(p.0), X(input.0), X(outer.0), lsl #sh);
        if d.rows > 0 {
            let top = self.a.new_dynamic_label();
            mov_imm(&mut self.a, count, d.rows as u64);
            dynasm!(self.a ; .arch aarch64 ; =>top);
            convert::load(&mut self.a, X_IN, d.in_dtype, p, 0, lanes, t0);
            self.fold();
            add_imm(&mut self.a, p, p, d.ld_in * size, t0);
            dynasm!(self.a ; .arch aarch64
                ; subs X(count.0), XSP(count.0), #1
                ; b.ne =>top);
        }
        self.emit_all(lanes);
    }

    fn per_col(&mut self) {
        let d = self.d;
        let outer = self.outer;
        dynasm!(self.a ; .arch aarch64 ; movz X(outer.0), #0);
        let full = d.cols / 4;
        if full > 0 {
            // The vector loop counts columns in `outer` (the row loop uses `count`).
            let top = self.a.new_dynamic_label();
            dynasm!(self.a ; .arch aarch64 ; =>top);
            self.column_vector(4);
            let t0 = self.t0;
            mov_imm(&mut self.a, t0, (full * 4) as u64);
            dynasm!(self.a ; .arch aarch64
                ; add XSP(outer.0), XSP(outer.0), #4
                ; cmp X(outer.0), X(t0.0)
                ; b.lo =>top);
        }
        if !d.cols.is_multiple_of(4) {
            self.column_vector(d.cols % 4);
        }
    }

    /// Horizontal fold of an accumulator into its lane 0.
    fn horizontal(&mut self, v: V, sum: bool) {
        let r = v.0;
        if sum {
            dynasm!(self.a ; .arch aarch64
                ; faddp V(r).S4, V(r).S4, V(r).S4
                ; faddp S(r), V(r).S2);
        } else if self.d.op == ReduceOp::Min {
            dynasm!(self.a ; .arch aarch64 ; fminv S(r), V(r).S4);
        } else {
            dynasm!(self.a ; .arch aarch64 ; fmaxv S(r), V(r).S4);
        }
    }

    fn per_row(&mut self) {
        let d = self.d;
        let size = d.in_dtype.size();
        let (input, p, count, outer, t0) = (self.input, self.p, self.count, self.outer, self.t0);
        if d.rows == 0 {
            return;
        }
        let extreme = matches!(d.op, ReduceOp::Max | ReduceOp::Min | ReduceOp::AbsMax);
        dynasm!(self.a ; .arch aarch64 ; movz X(outer.0), #0);
        let top = self.a.new_dynamic_label();
        dynasm!(self.a ; .arch aarch64 ; =>top ; mov X(p.0), X(input.0));
        self.reset();
        let full = d.cols / 4;
        if full > 0 {
            let inner = self.a.new_dynamic_label();
            mov_imm(&mut self.a, count, full as u64);
            dynasm!(self.a ; .arch aarch64 ; =>inner);
            convert::load(&mut self.a, X_IN, d.in_dtype, p, 0, 4, t0);
            self.fold();
            dynasm!(self.a ; .arch aarch64
                ; add XSP(p.0), XSP(p.0), #(4 * size) as u32
                ; subs X(count.0), XSP(count.0), #1
                ; b.ne =>inner);
        }
        let tail = d.cols % 4;
        if extreme {
            for e in 0..tail {
                convert::load(&mut self.a, X_IN, d.in_dtype, p, (e * size) as u32, 1, t0);
                dynasm!(self.a ; .arch aarch64 ; dup V(X_IN.0).S4, V(X_IN.0).S[0]);
                self.fold();
            }
            self.horizontal(EXT, false);
        } else {
            if tail > 0 {
                convert::load(&mut self.a, X_IN, d.in_dtype, p, 0, tail, t0);
                self.fold();
            }
            self.horizontal(SUM, true);
            self.horizontal(SQ, true);
        }
        self.emit_all(1);
        add_imm(&mut self.a, input, input, d.ld_in * size, t0);
        mov_imm(&mut self.a, t0, d.rows as u64);
        dynasm!(self.a ; .arch aarch64
            ; add XSP(outer.0), XSP(outer.0), #1
            ; cmp X(outer.0), X(t0.0)
            ; b.lo =>top);
    }
}
