//! Safe calls of GEMM kernels: every slice is checked against the descriptor first.

use super::operand::{check_mask, presence, In, Out};
use super::{GemmArgs, Kernel};
use crate::dispatch::Gemm;
use crate::error::{Error, Result};
use crate::isa::{bitmask, BatchReduce, BiasBroadcast};
use std::ffi::c_void;

/// How the A and B operands of one call are given; it must match the descriptor's
/// [`BatchReduce`].
#[derive(Clone, Copy, Debug)]
pub enum GemmInputs<'a> {
    /// Plain GEMM (also a stride batch-reduce with batch 1).
    Single {
        /// A.
        a: In<'a>,
        /// B.
        b: In<'a>,
    },
    /// Batch-reduce by stride over `batch` pairs.
    Strided {
        /// The first A; the others follow at the descriptor's stride.
        a: In<'a>,
        /// The first B.
        b: In<'a>,
        /// Number of pairs (0 is allowed: C becomes beta·C plus the epilogue).
        batch: usize,
    },
    /// Batch-reduce by element offsets (one pair per offset).
    Offsets {
        /// Base of every A_i.
        a: In<'a>,
        /// Base of every B_i.
        b: In<'a>,
        /// Element offsets of A_i.
        a_offsets: &'a [u64],
        /// Element offsets of B_i (same count).
        b_offsets: &'a [u64],
    },
    /// Batch-reduce over lists of matrices (one pair per entry).
    Addresses {
        /// The A_i.
        a: &'a [In<'a>],
        /// The B_i (same count).
        b: &'a [In<'a>],
    },
}

/// All operands of one GEMM call.
#[derive(Debug)]
pub struct GemmCall<'a> {
    /// A and B.
    pub inputs: GemmInputs<'a>,
    /// C.
    pub c: Out<'a>,
    /// The bias vector, when the epilogue has one.
    pub bias: Option<In<'a>>,
    /// The relu bitmask output, when the epilogue writes one.
    pub relu_mask: Option<&'a mut [u8]>,
    /// Data to pull into L2 meanwhile (see [`GemmArgs::prefetch`]): only its address is used.
    pub prefetch: Option<In<'a>>,
}

impl<'a> GemmCall<'a> {
    /// A call with the given inputs and C, no bias, no mask.
    pub fn new(inputs: GemmInputs<'a>, c: impl Into<Out<'a>>) -> Self {
        GemmCall {
            inputs,
            c: c.into(),
            bias: None,
            relu_mask: None,
            prefetch: None,
        }
    }
    /// Adds the bias vector.
    pub fn bias(mut self, bias: impl Into<In<'a>>) -> Self {
        self.bias = Some(bias.into());
        self
    }
    /// Adds the relu mask output.
    pub fn relu_mask(mut self, mask: &'a mut [u8]) -> Self {
        self.relu_mask = Some(mask);
        self
    }
    /// Asks the kernel to pull `data` (typically the next call's B) into L2 while it runs, as
    /// far as its k loop reaches (see [`GemmArgs::prefetch`]): a hint that never changes the
    /// result.
    pub fn prefetch(mut self, data: impl Into<In<'a>>) -> Self {
        self.prefetch = Some(data.into());
        self
    }
}

fn need(count: usize, stride: usize, one: usize, what: &'static str) -> Result<usize> {
    if count == 0 {
        return Ok(0);
    }
    (count - 1)
        .checked_mul(stride)
        .and_then(|x| x.checked_add(one))
        .ok_or_else(|| Error::operand(what, format!("batch {count} × stride {stride} overflows")))
}

impl Kernel<Gemm> {
    /// `C = op(A)·op(B)` (with the descriptor's alpha, beta and epilogue) for a plain GEMM
    /// without bias or mask operands.
    pub fn call<'a>(
        &self,
        a: impl Into<In<'a>>,
        b: impl Into<In<'a>>,
        c: impl Into<Out<'a>>,
    ) -> Result<()> {
        let inputs = GemmInputs::Single {
            a: a.into(),
            b: b.into(),
        };
        self.run(GemmCall::new(inputs, c))
    }

    /// A stride batch-reduce over `batch` pairs, without bias or mask operands.
    pub fn call_strided<'a>(
        &self,
        a: impl Into<In<'a>>,
        b: impl Into<In<'a>>,
        c: impl Into<Out<'a>>,
        batch: usize,
    ) -> Result<()> {
        let inputs = GemmInputs::Strided {
            a: a.into(),
            b: b.into(),
            batch,
        };
        self.run(GemmCall::new(inputs, c))
    }

    /// The general safe call: checks every operand (dtype, length, batch form, offsets,
    /// epilogue operands) and runs the kernel.
    pub fn run(&self, call: GemmCall<'_>) -> Result<()> {
        let d = self.desc();
        let (a_len, b_len) = (d.a_len(), d.b_len());
        let mut args = GemmArgs::default();
        let mut addresses: Vec<*const c_void> = Vec::new();
        let wrong_form = |form: &str| {
            Error::operand(
                "inputs",
                format!(
                    "the descriptor's batch form is {:?}; {form} does not match it",
                    d.batch
                ),
            )
        };
        match (call.inputs, d.batch) {
            (GemmInputs::Single { a, b }, BatchReduce::None | BatchReduce::Stride { .. }) => {
                args.a = a.check("a", d.a_dtype, a_len)?;
                args.b = b.check("b", d.b_dtype, b_len)?;
                args.batch = 1;
            }
            (GemmInputs::Strided { a, b, batch }, BatchReduce::Stride { a: sa, b: sb }) => {
                args.a = a.check("a", d.a_dtype, need(batch, sa, a_len, "a")?)?;
                args.b = b.check("b", d.b_dtype, need(batch, sb, b_len, "b")?)?;
                args.batch = batch as u64;
            }
            (
                GemmInputs::Offsets {
                    a,
                    b,
                    a_offsets,
                    b_offsets,
                },
                BatchReduce::Offsets,
            ) => {
                if a_offsets.len() != b_offsets.len() {
                    return Err(Error::operand(
                        "b_offsets",
                        format!(
                            "{} offsets for {} A offsets",
                            b_offsets.len(),
                            a_offsets.len()
                        ),
                    ));
                }
                let max_end = |offs: &[u64], one: usize, what| -> Result<usize> {
                    offs.iter().try_fold(0usize, |m, &o| {
                        usize::try_from(o)
                            .ok()
                            .and_then(|o| o.checked_add(one))
                            .map(|e| m.max(e))
                            .ok_or_else(|| Error::operand(what, format!("offset {o} overflows")))
                    })
                };
                args.a = a.check("a", d.a_dtype, max_end(a_offsets, a_len, "a_offsets")?)?;
                args.b = b.check("b", d.b_dtype, max_end(b_offsets, b_len, "b_offsets")?)?;
                args.a_offsets = a_offsets.as_ptr();
                args.b_offsets = b_offsets.as_ptr();
                args.batch = a_offsets.len() as u64;
            }
            (GemmInputs::Addresses { a, b }, BatchReduce::Addresses) => {
                if a.len() != b.len() {
                    return Err(Error::operand(
                        "b",
                        format!("{} B matrices for {} A matrices", b.len(), a.len()),
                    ));
                }
                addresses.reserve(2 * a.len());
                for x in a {
                    addresses.push(x.check("a[i]", d.a_dtype, a_len)?);
                }
                for x in b {
                    addresses.push(x.check("b[i]", d.b_dtype, b_len)?);
                }
                args.a = addresses.as_ptr().cast();
                args.b = addresses[a.len()..].as_ptr().cast();
                args.batch = a.len() as u64;
            }
            (GemmInputs::Single { .. }, _) => return Err(wrong_form("GemmInputs::Single")),
            (GemmInputs::Strided { .. }, _) => return Err(wrong_form("GemmInputs::Strided")),
            (GemmInputs::Offsets { .. }, _) => return Err(wrong_form("GemmInputs::Offsets")),
            (GemmInputs::Addresses { .. }, _) => return Err(wrong_form("GemmInputs::Addresses")),
        }
        args.c = call.c.check("c", d.c_dtype, d.c_len())?;
        let given = presence("bias", d.epilogue.bias.is_some(), call.bias, "the epilogue")?;
        if let (Some(x), Some(bias)) = (given, d.epilogue.bias) {
            let n = match bias.broadcast {
                BiasBroadcast::Row => d.n,
                BiasBroadcast::Col => d.m,
            };
            args.bias = x.check("bias", bias.dtype, n)?;
        }
        let writes_mask = d.epilogue.activation.writes_mask();
        if let Some(mask) = presence("relu_mask", writes_mask, call.relu_mask, "the epilogue")? {
            check_mask(
                "relu_mask",
                mask.len(),
                bitmask::bytes(d.m, d.n, d.epilogue.mask_ld),
            )?;
            args.relu_mask = mask.as_mut_ptr();
        }
        if let Some(p) = call.prefetch {
            args.prefetch = p.as_ptr();
        }
        // SAFETY: every pointer was checked above against the extents the descriptor implies.
        unsafe { self.call_raw(&args) };
        Ok(())
    }
}
