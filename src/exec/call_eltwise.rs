//! Safe calls of unary, binary, ternary and reduce kernels.

use super::operand::{check_mask, presence, In, Out};
use super::{BinaryArgs, Kernel, ReduceArgs, TernaryArgs, UnaryArgs};
use crate::dispatch::{Binary, Reduce, Ternary, Unary};
use crate::error::{Error, Result};
use crate::isa::{bitmask, matrix_len, Broadcast, TernaryOp, UnaryOp};
use std::ptr;

/// All operands of one unary call; which are needed depends on the op (see [`UnaryOp`]).
#[derive(Debug)]
pub struct UnaryCall<'a> {
    /// The input (`dy` for backward ops); `None` only for `Zero`.
    pub input: Option<In<'a>>,
    /// The forward input `x` of backward ops.
    pub aux: Option<In<'a>>,
    /// The bitmask that mask-based backward ops read.
    pub mask_in: Option<&'a [u8]>,
    /// The output.
    pub output: Out<'a>,
    /// The bitmask that relu-with-mask and dropout write.
    pub mask_out: Option<&'a mut [u8]>,
    /// Index array of gathers and scatters.
    pub indices: Option<&'a [u64]>,
    /// Dropout seed.
    pub seed: u64,
}

impl<'a> UnaryCall<'a> {
    /// A call reading `input` and writing `output`.
    pub fn new(input: impl Into<In<'a>>, output: impl Into<Out<'a>>) -> Self {
        UnaryCall {
            input: Some(input.into()),
            ..UnaryCall::output_only(output)
        }
    }
    /// A call with no input (`Zero`).
    pub fn output_only(output: impl Into<Out<'a>>) -> Self {
        UnaryCall {
            input: None,
            aux: None,
            mask_in: None,
            output: output.into(),
            mask_out: None,
            indices: None,
            seed: 0,
        }
    }
    /// Adds the forward input of a backward op.
    pub fn aux(mut self, x: impl Into<In<'a>>) -> Self {
        self.aux = Some(x.into());
        self
    }
    /// Adds the mask a backward op reads.
    pub fn mask_in(mut self, mask: &'a [u8]) -> Self {
        self.mask_in = Some(mask);
        self
    }
    /// Adds the mask output.
    pub fn mask_out(mut self, mask: &'a mut [u8]) -> Self {
        self.mask_out = Some(mask);
        self
    }
    /// Adds the index array.
    pub fn indices(mut self, idx: &'a [u64]) -> Self {
        self.indices = Some(idx);
        self
    }
    /// Sets the dropout seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Largest index + 1 (0 for none), after checking there are `count` of them.
fn index_bound(idx: &[u64], count: usize) -> Result<usize> {
    if idx.len() < count {
        return Err(Error::operand(
            "indices",
            format!("holds {} indices, the op needs {count}", idx.len()),
        ));
    }
    idx[..count].iter().try_fold(0usize, |m, &i| {
        usize::try_from(i)
            .ok()
            .filter(|&i| i <= crate::isa::MAX_DIM)
            .map(|i| m.max(i + 1))
            .ok_or_else(|| Error::operand("indices", format!("index {i} is out of range")))
    })
}

impl Kernel<Unary> {
    /// `output = op(input)` for ops that need no other operand.
    pub fn call<'a>(&self, input: impl Into<In<'a>>, output: impl Into<Out<'a>>) -> Result<()> {
        self.run(UnaryCall::new(input, output))
    }

    /// `data = op(data)` in place, for ops that read only their input (the ISA allows the
    /// output to alias an input of the same shape, dtype and leading dimension).
    pub fn call_in_place<'a>(&self, data: impl Into<Out<'a>>) -> Result<()> {
        let d = self.desc();
        let op = d.op;
        let input_only = op.reads_input()
            && !(op.reads_aux() || op.reads_mask() || op.writes_mask() || op.reads_indices());
        if !input_only
            || op.is_layout_transform()
            || d.broadcast != Broadcast::None
            || d.in_dtype != d.out_dtype
            || d.ld_in != d.ld_out
        {
            return Err(Error::operand(
                "data",
                "in place needs an elementwise op with no other operand, equal input and output \
                 dtype and ld, and no broadcast",
            ));
        }
        let out = data.into().check("data", d.out_dtype, d.out_len())?;
        let args = UnaryArgs {
            input: out.cast_const(),
            output: out,
            ..UnaryArgs::default()
        };
        // SAFETY: checked above; input and output alias element by element, which every
        // backend supports for elementwise ops.
        unsafe { self.call_raw(&args) };
        Ok(())
    }

    /// The general safe call: checks every operand the op uses (and that no unused one is
    /// passed), including every index of a gather or scatter, then runs the kernel.
    pub fn run(&self, call: UnaryCall<'_>) -> Result<()> {
        let d = self.desc();
        let op = d.op;
        let what = op.name();
        let mut args = UnaryArgs {
            seed: call.seed,
            ..UnaryArgs::default()
        };
        let indices = presence("indices", op.reads_indices(), call.indices, what)?;
        let bound = match indices {
            Some(idx) => {
                let count = if matches!(op, UnaryOp::GatherRows | UnaryOp::ScatterRows) {
                    d.rows
                } else {
                    d.cols
                };
                args.indices = idx.as_ptr();
                index_bound(idx, count)?
            }
            None => 0,
        };
        // Gather/scatter extents follow from the largest index.
        let (in_need, out_need) = match op {
            UnaryOp::GatherRows => (matrix_len(bound, d.cols, d.ld_in), d.out_len()),
            UnaryOp::ScatterRows => (d.in_len(), matrix_len(bound, d.cols, d.ld_out)),
            _ => (d.in_len(), d.out_len()),
        };
        let ld_bound = |ld: usize| {
            if bound > ld {
                Err(Error::operand(
                    "indices",
                    format!("index {} is not below the row width {ld}", bound - 1),
                ))
            } else {
                Ok(())
            }
        };
        match op {
            UnaryOp::GatherCols => ld_bound(d.ld_in)?,
            UnaryOp::ScatterCols => ld_bound(d.ld_out)?,
            _ => {}
        }
        if let Some(x) = presence("input", op.reads_input(), call.input, what)? {
            args.input = x.check("input", d.in_dtype, in_need)?;
        }
        if let Some(x) = presence("aux", op.reads_aux(), call.aux, what)? {
            args.aux = x.check("aux", d.in_dtype, matrix_len(d.rows, d.cols, d.ld_in))?;
        }
        let mask_need = bitmask::bytes(d.rows, d.cols, d.mask_ld);
        if let Some(m) = presence("mask_in", op.reads_mask(), call.mask_in, what)? {
            check_mask("mask_in", m.len(), mask_need)?;
            args.mask_in = m.as_ptr();
        }
        if let Some(m) = presence("mask_out", op.writes_mask(), call.mask_out, what)? {
            check_mask("mask_out", m.len(), mask_need)?;
            args.mask_out = m.as_mut_ptr();
        }
        args.output = call.output.check("output", d.out_dtype, out_need)?;
        // SAFETY: every pointer the op uses was checked against its extent above.
        unsafe { self.call_raw(&args) };
        Ok(())
    }
}

impl Kernel<Binary> {
    /// `out = in0 ⊙ in1` (for `MulAdd`, `out += in0·in1`; for comparisons `out` is the
    /// bitmask, a `&mut [u8]`).
    pub fn call<'a>(
        &self,
        in0: impl Into<In<'a>>,
        in1: impl Into<In<'a>>,
        out: impl Into<Out<'a>>,
    ) -> Result<()> {
        let d = self.desc();
        let args = BinaryArgs {
            in0: in0.into().check("in0", d.in0_dtype, d.in0_len())?,
            in1: in1.into().check("in1", d.in1_dtype, d.in1_len())?,
            output: out.into().check("out", d.out_dtype, d.out_len())?,
        };
        // SAFETY: checked above.
        unsafe { self.call_raw(&args) };
        Ok(())
    }

    /// `a = a ⊙ in1` in place (`in0` aliases the output).
    pub fn call_in_place<'a>(&self, a: impl Into<Out<'a>>, in1: impl Into<In<'a>>) -> Result<()> {
        let d = self.desc();
        if d.op.is_compare()
            || d.broadcast0 != Broadcast::None
            || d.in0_dtype != d.out_dtype
            || d.ld_in0 != d.ld_out
        {
            return Err(Error::operand(
                "a",
                "in-place needs a non-compare op whose in0 has the output's dtype and ld, no broadcast",
            ));
        }
        let a = a.into();
        let out = a.check("a", d.out_dtype, d.out_len())?;
        let args = BinaryArgs {
            in0: out.cast_const(),
            in1: in1.into().check("in1", d.in1_dtype, d.in1_len())?,
            output: out,
        };
        // SAFETY: checked above; in0 and out alias element by element, which the ISA allows.
        unsafe { self.call_raw(&args) };
        Ok(())
    }
}

impl Kernel<Ternary> {
    /// `out = op(in0, in1, in2)` for `MulAdd` / `NMulAdd`.
    pub fn call<'a>(
        &self,
        in0: impl Into<In<'a>>,
        in1: impl Into<In<'a>>,
        in2: impl Into<In<'a>>,
        out: impl Into<Out<'a>>,
    ) -> Result<()> {
        let d = self.desc();
        if d.op == TernaryOp::Select {
            return Err(Error::operand("in2", "select takes a mask; use `select`"));
        }
        let args = TernaryArgs {
            in0: in0.into().check("in0", d.in_dtypes[0], d.in_len(0))?,
            in1: in1.into().check("in1", d.in_dtypes[1], d.in_len(1))?,
            in2: in2.into().check("in2", d.in_dtypes[2], d.in_len(2))?,
            mask: ptr::null(),
            output: out.into().check("out", d.out_dtype, d.out_len())?,
        };
        // SAFETY: checked above.
        unsafe { self.call_raw(&args) };
        Ok(())
    }

    /// `out = mask ? in0 : in1` for `Select`.
    pub fn select<'a>(
        &self,
        mask: &'a [u8],
        in0: impl Into<In<'a>>,
        in1: impl Into<In<'a>>,
        out: impl Into<Out<'a>>,
    ) -> Result<()> {
        let d = self.desc();
        if d.op != TernaryOp::Select {
            return Err(Error::operand(
                "mask",
                format!("{} takes no mask; use `call`", d.op.name()),
            ));
        }
        check_mask(
            "mask",
            mask.len(),
            bitmask::bytes(d.rows, d.cols, d.mask_ld),
        )?;
        let args = TernaryArgs {
            in0: in0.into().check("in0", d.in_dtypes[0], d.in_len(0))?,
            in1: in1.into().check("in1", d.in_dtypes[1], d.in_len(1))?,
            in2: ptr::null(),
            mask: mask.as_ptr(),
            output: out.into().check("out", d.out_dtype, d.out_len())?,
        };
        // SAFETY: checked above.
        unsafe { self.call_raw(&args) };
        Ok(())
    }
}

impl Kernel<Reduce> {
    /// `out = fold(input)` (or folded into `out` when the descriptor accumulates).
    pub fn call<'a>(&self, input: impl Into<In<'a>>, out: impl Into<Out<'a>>) -> Result<()> {
        let d = self.desc();
        let args = ReduceArgs {
            input: input.into().check("input", d.in_dtype, d.in_len())?,
            output: out.into().check("out", d.out_dtype, d.out_len())?,
        };
        // SAFETY: checked above.
        unsafe { self.call_raw(&args) };
        Ok(())
    }
}
