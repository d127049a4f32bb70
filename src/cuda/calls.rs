//! The checked calls: every operand's device, dtype and length is checked against the
//! descriptor (and every host-side index and offset against its operand) before the launch,
//! so a safe call never lets a kernel touch memory it was not given.

use super::buffer::DeviceOperand;
use super::kernel::DeviceKernel;
use crate::error::{Error, Result};
use crate::exec::{BinaryArgs, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use crate::isa::{
    bitmask, matrix_len, BatchReduce, BiasBroadcast, BinaryDesc, DType, GemmDesc, ReduceDesc,
    TernaryDesc, TernaryOp, UnaryDesc, UnaryOp,
};
use std::ffi::c_void;

/// Checks one operand: its device, its dtype, and that it holds at least `need` elements.
fn check(
    op: &dyn DeviceOperand,
    name: &'static str,
    dtype: DType,
    need: usize,
    ordinal: usize,
) -> Result<()> {
    if op.ordinal() != ordinal {
        return Err(Error::operand(
            name,
            format!(
                "lives on device {}, the kernel on device {ordinal}",
                op.ordinal()
            ),
        ));
    }
    if op.dtype() != dtype {
        return Err(Error::operand(
            name,
            format!("is {}, the descriptor says {dtype}", op.dtype()),
        ));
    }
    if op.len() < need {
        return Err(Error::operand(
            name,
            format!("holds {} elements, the descriptor needs {need}", op.len()),
        ));
    }
    Ok(())
}

fn need<T>(op: Option<T>, name: &'static str, why: &str) -> Result<T> {
    op.ok_or_else(|| Error::operand(name, format!("is required by {why}")))
}

fn ptr(op: &dyn DeviceOperand) -> *const c_void {
    op.device_address() as usize as *const c_void
}

fn ptr_mut(op: &mut dyn DeviceOperand) -> *mut c_void {
    op.device_address() as usize as *mut c_void
}

/// The operands of a device GEMM / BRGEMM call.
pub struct GemmOperands<'a> {
    /// A (the base of the batch for the stride and offset forms).
    pub a: &'a dyn DeviceOperand,
    /// B.
    pub b: &'a dyn DeviceOperand,
    /// C.
    pub c: &'a mut dyn DeviceOperand,
    /// The epilogue's bias.
    pub bias: Option<&'a dyn DeviceOperand>,
    /// The relu mask the epilogue writes (u8).
    pub relu_mask: Option<&'a mut dyn DeviceOperand>,
    /// Batch count of the batch-reduce forms.
    pub batch: usize,
    /// Element offsets of A_i and B_i (offset form), checked here and uploaded.
    pub offsets: Option<(&'a [u64], &'a [u64])>,
}

impl<'a> GemmOperands<'a> {
    /// `C = op(A)·op(B)` (batch 1, no epilogue operand).
    pub fn new(
        a: &'a dyn DeviceOperand,
        b: &'a dyn DeviceOperand,
        c: &'a mut dyn DeviceOperand,
    ) -> Self {
        GemmOperands {
            a,
            b,
            c,
            bias: None,
            relu_mask: None,
            batch: 1,
            offsets: None,
        }
    }
    /// Adds the bias.
    pub fn bias(mut self, bias: &'a dyn DeviceOperand) -> Self {
        self.bias = Some(bias);
        self
    }
    /// Adds the relu mask output.
    pub fn relu_mask(mut self, mask: &'a mut dyn DeviceOperand) -> Self {
        self.relu_mask = Some(mask);
        self
    }
    /// Sets the batch count.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }
    /// Sets the offset arrays (and the batch count to their length).
    pub fn offsets(mut self, a: &'a [u64], b: &'a [u64]) -> Self {
        self.batch = a.len();
        self.offsets = Some((a, b));
        self
    }
}

/// Largest member extent an offset array reaches: `max(offset) + len`, after checking there
/// are `count` offsets.
fn offset_extent(offsets: &[u64], count: usize, len: usize, name: &'static str) -> Result<usize> {
    if offsets.len() < count {
        return Err(Error::operand(
            name,
            format!("holds {} offsets, the batch is {count}", offsets.len()),
        ));
    }
    let max = offsets[..count].iter().copied().max().unwrap_or(0);
    usize::try_from(max)
        .ok()
        .and_then(|m| m.checked_add(len))
        .ok_or_else(|| Error::operand(name, format!("offset {max} is out of range")))
}

impl DeviceKernel<GemmDesc> {
    /// Checks every operand against the descriptor and queues the GEMM.
    pub fn call(&self, ops: GemmOperands) -> Result<()> {
        let d = self.desc;
        let dev = self.device.ordinal();
        let count = if d.batch == BatchReduce::None {
            1
        } else {
            ops.batch
        };
        // The kernel counts (member, k tile) pairs in 31 bits.
        if count.saturating_mul(d.k.div_ceil(8)) > i32::MAX as usize {
            return Err(Error::operand(
                "batch",
                format!("{count} members of k = {} is too many", d.k),
            ));
        }
        let (a_len, b_len) = (d.a_len(), d.b_len());
        let (a_need, b_need, mut offsets) = match d.batch {
            BatchReduce::None => (a_len, b_len, None),
            BatchReduce::Stride { a, b } => match count {
                0 => (0, 0, None),
                n => ((n - 1) * a + a_len, (n - 1) * b + b_len, None),
            },
            BatchReduce::Offsets => {
                let (ao, bo) = need(ops.offsets, "offsets", "the offset batch form")?;
                (
                    offset_extent(ao, count, a_len, "a_offsets")?,
                    offset_extent(bo, count, b_len, "b_offsets")?,
                    Some((ao, bo)),
                )
            }
            BatchReduce::Addresses => {
                return Err(Error::operand(
                    "batch",
                    "address arrays cannot be checked on the host: use call_raw",
                ))
            }
        };
        check(ops.a, "a", d.a_dtype, a_need, dev)?;
        check(ops.b, "b", d.b_dtype, b_need, dev)?;
        check(ops.c, "c", d.c_dtype, d.c_len(), dev)?;
        let mut args = GemmArgs {
            batch: count as u64,
            ..GemmArgs::default()
        };
        if let Some(bias) = d.epilogue.bias {
            let b = need(ops.bias, "bias", "the epilogue")?;
            let n = match bias.broadcast {
                BiasBroadcast::Row => d.n,
                BiasBroadcast::Col => d.m,
            };
            check(b, "bias", bias.dtype, n, dev)?;
            args.bias = ptr(b);
        }
        if d.epilogue.activation.writes_mask() {
            let m = ops
                .relu_mask
                .ok_or_else(|| Error::operand("relu_mask", "is required by the epilogue"))?;
            check(
                m,
                "relu_mask",
                DType::U8,
                bitmask::bytes(d.m, d.n, d.epilogue.mask_ld),
                dev,
            )?;
            args.relu_mask = ptr_mut(m) as *mut u8;
        }
        // The offset arrays travel to the device; the buffers are freed in stream order.
        let uploaded = match offsets.take() {
            Some((ao, bo)) => {
                let (a, a_addr) = self.device.upload_u64(&ao[..count])?;
                let (b, b_addr) = self.device.upload_u64(&bo[..count])?;
                args.a_offsets = a_addr as usize as *const u64;
                args.b_offsets = b_addr as usize as *const u64;
                Some((a, b))
            }
            None => None,
        };
        args.a = ptr(ops.a);
        args.b = ptr(ops.b);
        args.c = ptr_mut(ops.c);
        // SAFETY: every pointer was checked above to cover what the descriptor touches.
        let r = unsafe { self.launch_gemm(args) };
        drop(uploaded);
        r
    }
}

/// The operands of a device unary call (which ones an op needs: [`UnaryOp`]).
pub struct UnaryOperands<'a> {
    /// The input (`dy` of backward ops).
    pub input: Option<&'a dyn DeviceOperand>,
    /// The forward input of backward ops.
    pub aux: Option<&'a dyn DeviceOperand>,
    /// The mask backward ops read (u8).
    pub mask_in: Option<&'a dyn DeviceOperand>,
    /// The output.
    pub output: &'a mut dyn DeviceOperand,
    /// The mask relu and dropout write (u8).
    pub mask_out: Option<&'a mut dyn DeviceOperand>,
    /// Gather/scatter indices (host; checked and uploaded).
    pub indices: Option<&'a [u64]>,
    /// Dropout seed.
    pub seed: u64,
}

impl<'a> UnaryOperands<'a> {
    /// `output = op(input)`.
    pub fn new(input: &'a dyn DeviceOperand, output: &'a mut dyn DeviceOperand) -> Self {
        UnaryOperands {
            input: Some(input),
            aux: None,
            mask_in: None,
            output,
            mask_out: None,
            indices: None,
            seed: 0,
        }
    }
}

impl DeviceKernel<UnaryDesc> {
    /// Checks every operand against the descriptor and queues the op.
    pub fn call(&self, ops: UnaryOperands) -> Result<()> {
        let d = self.desc;
        let dev = self.device.ordinal();
        let op = d.op;
        let what = "this op";
        let mut args = UnaryArgs {
            seed: ops.seed,
            ..UnaryArgs::default()
        };
        let mut in_need = d.in_len();
        let mut out_need = d.out_len();
        let mut uploaded = None;
        if op.reads_indices() {
            let idx = need(ops.indices, "indices", what)?;
            let count = match op {
                UnaryOp::GatherRows | UnaryOp::ScatterRows => d.rows,
                _ => d.cols,
            };
            if idx.len() < count {
                return Err(Error::operand(
                    "indices",
                    format!("holds {} indices, the op needs {count}", idx.len()),
                ));
            }
            let bound = idx[..count]
                .iter()
                .copied()
                .max()
                .map_or(0, |m| m.saturating_add(1));
            let bound = usize::try_from(bound).unwrap_or(usize::MAX);
            match op {
                UnaryOp::GatherRows => in_need = matrix_len(bound, d.cols, d.ld_in),
                UnaryOp::ScatterRows => out_need = matrix_len(bound, d.cols, d.ld_out),
                UnaryOp::GatherCols if bound > d.ld_in => {
                    return Err(Error::operand(
                        "indices",
                        format!("index {} is not below ld_in {}", bound - 1, d.ld_in),
                    ))
                }
                UnaryOp::ScatterCols if bound > d.ld_out => {
                    return Err(Error::operand(
                        "indices",
                        format!("index {} is not below ld_out {}", bound - 1, d.ld_out),
                    ))
                }
                _ => {}
            }
            let (buf, addr) = self.device.upload_u64(&idx[..count])?;
            args.indices = addr as usize as *const u64;
            uploaded = Some(buf);
        }
        if op.reads_input() {
            let i = need(ops.input, "input", what)?;
            check(i, "input", d.in_dtype, in_need, dev)?;
            args.input = ptr(i);
        }
        if op.reads_aux() {
            let a = need(ops.aux, "aux", what)?;
            check(a, "aux", d.in_dtype, d.in_len(), dev)?;
            args.aux = ptr(a);
        }
        let mask_bytes = bitmask::bytes(d.rows, d.cols, d.mask_ld);
        if op.reads_mask() {
            let m = need(ops.mask_in, "mask_in", what)?;
            check(m, "mask_in", DType::U8, mask_bytes, dev)?;
            args.mask_in = ptr(m) as *const u8;
        }
        if op.writes_mask() {
            let m = ops
                .mask_out
                .ok_or_else(|| Error::operand("mask_out", "is required by this op"))?;
            check(m, "mask_out", DType::U8, mask_bytes, dev)?;
            args.mask_out = ptr_mut(m) as *mut u8;
        }
        check(ops.output, "output", d.out_dtype, out_need, dev)?;
        args.output = ptr_mut(ops.output);
        // SAFETY: every pointer the op touches was checked above.
        let r = unsafe { self.launch_args(&args) };
        drop(uploaded);
        r
    }
}

/// The operands of a device binary call (comparisons write a u8 bitmask to `output`).
pub struct BinaryOperands<'a> {
    /// First input.
    pub in0: &'a dyn DeviceOperand,
    /// Second input.
    pub in1: &'a dyn DeviceOperand,
    /// Output.
    pub output: &'a mut dyn DeviceOperand,
}

impl DeviceKernel<BinaryDesc> {
    /// Checks every operand against the descriptor and queues the op.
    pub fn call(&self, ops: BinaryOperands) -> Result<()> {
        let d = self.desc;
        let dev = self.device.ordinal();
        check(ops.in0, "in0", d.in0_dtype, d.in0_len(), dev)?;
        check(ops.in1, "in1", d.in1_dtype, d.in1_len(), dev)?;
        let out_dtype = if d.op.is_compare() {
            DType::U8
        } else {
            d.out_dtype
        };
        check(ops.output, "output", out_dtype, d.out_len(), dev)?;
        let args = BinaryArgs {
            in0: ptr(ops.in0),
            in1: ptr(ops.in1),
            output: ptr_mut(ops.output),
        };
        // SAFETY: checked above.
        unsafe { self.launch_args(&args) }
    }
}

/// The operands of a device ternary call.
pub struct TernaryOperands<'a> {
    /// First input.
    pub in0: &'a dyn DeviceOperand,
    /// Second input.
    pub in1: &'a dyn DeviceOperand,
    /// Third input (not read by `Select`).
    pub in2: Option<&'a dyn DeviceOperand>,
    /// The condition bitmask of `Select` (u8).
    pub mask: Option<&'a dyn DeviceOperand>,
    /// Output.
    pub output: &'a mut dyn DeviceOperand,
}

impl DeviceKernel<TernaryDesc> {
    /// Checks every operand against the descriptor and queues the op.
    pub fn call(&self, ops: TernaryOperands) -> Result<()> {
        let d = self.desc;
        let dev = self.device.ordinal();
        check(ops.in0, "in0", d.in_dtypes[0], d.in_len(0), dev)?;
        check(ops.in1, "in1", d.in_dtypes[1], d.in_len(1), dev)?;
        let mut args = TernaryArgs {
            in0: ptr(ops.in0),
            in1: ptr(ops.in1),
            in2: std::ptr::null(),
            mask: std::ptr::null(),
            output: std::ptr::null_mut(),
        };
        if d.op.inputs() == 3 {
            let i = need(ops.in2, "in2", "this op")?;
            check(i, "in2", d.in_dtypes[2], d.in_len(2), dev)?;
            args.in2 = ptr(i);
        }
        if d.op == TernaryOp::Select {
            let m = need(ops.mask, "mask", "select")?;
            check(
                m,
                "mask",
                DType::U8,
                bitmask::bytes(d.rows, d.cols, d.mask_ld),
                dev,
            )?;
            args.mask = ptr(m) as *const u8;
        }
        check(ops.output, "output", d.out_dtype, d.out_len(), dev)?;
        args.output = ptr_mut(ops.output);
        // SAFETY: checked above.
        unsafe { self.launch_args(&args) }
    }
}

/// The operands of a device reduction.
pub struct ReduceOperands<'a> {
    /// The matrix.
    pub input: &'a dyn DeviceOperand,
    /// The output vector (read too when accumulating).
    pub output: &'a mut dyn DeviceOperand,
}

impl DeviceKernel<ReduceDesc> {
    /// Checks every operand against the descriptor and queues the reduction.
    pub fn call(&self, ops: ReduceOperands) -> Result<()> {
        let d = self.desc;
        let dev = self.device.ordinal();
        check(ops.input, "input", d.in_dtype, d.in_len(), dev)?;
        check(ops.output, "output", d.out_dtype, d.out_len(), dev)?;
        let args = ReduceArgs {
            input: ptr(ops.input),
            output: ptr_mut(ops.output),
        };
        // SAFETY: checked above.
        unsafe { self.launch_args(&args) }
    }
}

impl super::Device {
    /// The whole product `C[m×n] = A[m×k]·B[k×n]` of packed row-major buffers on this device
    /// (C overwritten): the large GEMM of `ops::matmul`, for a device. A device kernel is
    /// specialised on the full shape and its grid covers all of C, so it is one dispatch
    /// (cached) and one launch; `opts.tf32` lets an f32 product use the tensor cores.
    pub fn matmul<TA: crate::isa::Element, TB: crate::isa::Element, TC: crate::isa::Element>(
        &self,
        (m, n, k): (usize, usize, usize),
        a: &super::DeviceBuffer<TA>,
        b: &super::DeviceBuffer<TB>,
        c: &mut super::DeviceBuffer<TC>,
        opts: crate::kernels_cuda::GemmOptions,
    ) -> Result<()> {
        let d = GemmDesc::new(m, n, k, TA::DTYPE)
            .inputs(TA::DTYPE, TB::DTYPE)
            .output(TC::DTYPE)
            .beta(0.0);
        self.gemm(&d, opts)?.call(GemmOperands::new(a, b, c))
    }
}
