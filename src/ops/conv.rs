//! 2D convolution as batch-reduce GEMM loops (the TPP paper's direct convolution), on blocked
//! tensors ([`ActLayout`], [`WeightLayout`]).
//!
//! - **Forward**: one BRGEMM per output tile `[qb pixels of a row][bk channels]`, reduced over
//!   the input-channel blocks of the group and the `R×S` filter taps by offsets, every tap a
//!   plain shifted view of the input (rows `stride·bc` apart). Output rows at the top and
//!   bottom leave out the filter rows that would read only the border; where a row is one
//!   f32 tile, its border columns also leave out the filter columns in the border (one
//!   BRGEMM per group of filter columns, over the columns it reaches; `conv_taps`). When no
//!   member then reads the border, the input is read in place; else through a zero-bordered
//!   copy. Bias and activation are the fused epilogue of the row's last BRGEMM. A 1×1
//!   convolution with stride 1 and no padding is a GEMM over the flattened `H·W` pixels; with
//!   a stride, over the flattened pixels of a copy that holds only those it reads (each tile
//!   then reads consecutive rows of A, and the small late-stage images make 64-pixel tiles
//!   instead of one 7- or 14-pixel tile per output row). The copies are kept by the plan
//!   between runs.
//! - **Backward data**: for each output row and tap, `dX_pad[rows at stride] += dY·Wᵀ`, a BRGEMM
//!   over the output-channel blocks into an f32 padded gradient (strided C rows), which then
//!   becomes `dX` (converted, padding dropped). Each task owns one `(image, input block)`
//!   slab, so the accumulations never race.
//! - **Backward weights**: each weight block `[bc][bk]` of each tap is a BRGEMM with a
//!   transposed A (input pixels × channels), reduced over every `(image, output row)` by
//!   offsets, in chunks of rows that fit a quarter of L2. The bias gradient is a column
//!   reduction of `dY`.
//!
//! The backward passes take the gradient of the convolution's output *before* the fused
//! activation (apply the activation's backward unary op first).

use super::conv_taps::{FwdTaps, TapGeometry};
use super::layout::{default_block, ActLayout, WeightLayout};
use super::loops::{spec_or, LoopNest, LoopSpec};
use super::raw::{check_bias_given, check_len, fits, unary, OpElem, Shared};
use super::scratch::Reusable;
use crate::error::{Error, Result};
use crate::exec::GemmArgs;
use crate::isa::{
    Activation, BatchReduce, BiasBroadcast, DType, GemmDesc, ReduceAxis, ReduceDesc, ReduceOp,
    UnaryDesc, UnaryOp,
};
use crate::GemmKernel;
use rayon::prelude::*;
use std::marker::PhantomData;

mod bwd;

/// The sizes of a convolution: `N` images of `C × H × W` convolved with `K` filters of
/// `C/groups × R × S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub k: usize,
    /// Filter height.
    pub r: usize,
    /// Filter width.
    pub s: usize,
}

/// How a convolution strides, pads, dilates, groups and fuses.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvOptions {
    /// Stride (vertical, horizontal).
    pub stride: (usize, usize),
    /// Zero padding on each side (vertical, horizontal).
    pub padding: (usize, usize),
    /// Dilation (vertical, horizontal).
    pub dilation: (usize, usize),
    /// Groups (`C` and `K` divisible by it; `groups = C = K` is depthwise).
    pub groups: usize,
    /// Whether the forward pass adds a per-output-channel f32 bias.
    pub bias: bool,
    /// The activation fused after the bias.
    pub activation: Activation,
    /// Channel blocks `(bc, bk)`; `None` picks [`default_block`] of the channels per group.
    pub blocks: Option<(usize, usize)>,
    /// The forward loop spec over `a` = image, `b` = output block, `c` = output row,
    /// `e` = chunk of the channel reduction (never parallel),
    /// `d` = pixel block of a row (see [`crate::ops::loops`]; the loops are declared without
    /// extra block sizes); `None` takes the default `"ABCde"` (`"ABDce"` for a 1×1 layer whose
    /// pixels form one flattened row; `"ABecd"` when the reduction is chunked), with `A` and
    /// `B` swapped when the weights are larger than one image's input.
    pub loop_spec: Option<String>,
    /// f32 only: split the forward reduction over input-channel blocks into this many chunks
    /// (loop `e`), so that a chunk's weights stay in L2 while every output row of a block
    /// passes; `None` picks enough chunks for half the detected L2 (bf16: always 1, its
    /// partial sums would be rounded in a bf16 output).
    pub channel_chunks: Option<usize>,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            bias: false,
            activation: Activation::None,
            blocks: None,
            loop_spec: None,
            channel_chunks: None,
        }
    }
}

/// How the forward pass walks its input: the input itself (read in place where every batch
/// member stays inside the image) or its zero-bordered copy, or for a strided 1×1 layer a
/// copy of just the pixels it reads.
#[derive(Clone, Copy, Debug)]
struct FwdWalk {
    /// Output tiles: `rows` of `cols` pixels, in blocks of `qb` (one row of `P·Q` pixels when
    /// the pixels the layer reads are consecutive).
    rows: usize,
    cols: usize,
    qb: usize,
    /// Elements from one output pixel's A row to the next's, from one input row to the next,
    /// and from one input-channel slab to the next.
    px: usize,
    row: usize,
    plane: usize,
    /// The padding (top, left) of the walked buffer: (0, 0) for the zero-bordered copy (or an
    /// input without padding), the layer's own for the input read in place.
    pad: (usize, usize),
    /// Whether the input is first copied to `[N][C/bc][P][Q][bc]` (a 1×1 layer with a stride
    /// and no padding), so that the tiles read consecutive pixels: the TPP paper's
    /// "reduce to unit stride".
    subsampled: bool,
}

/// One forward BRGEMM call per pixel block of an output row: the members of one column group
/// ([`FwdTaps`]), or half of them, over the group's columns.
#[derive(Debug)]
struct FwdCall {
    /// The kernel of a full pixel block, and of the ragged last one (walks whose column
    /// groups were not split, the only ones with several blocks per row).
    kernel: GemmKernel,
    ragged: Option<GemmKernel>,
    group: usize,
    part: Part,
}

/// Which of a column group's members (of a chunk of the reduction) a call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    All,
    /// The first half (by a call with beta 0, so every column is written before the trimmed
    /// groups add to theirs) and the second (by the call with the epilogue, so it sees every
    /// column's sum).
    FirstHalf,
    SecondHalf,
}

/// A convolution plan: built once from shapes, dtypes and options (validated, kernels
/// dispatched), then run many times on blocked slices. `T` is f32 or bf16 (f32 accumulation;
/// the output has the input's type).
#[derive(Debug)]
pub struct Conv2d<T: OpElem> {
    shape: ConvShape,
    opts: ConvOptions,
    /// Output height and width.
    p: usize,
    q: usize,
    /// Padded input height and width.
    hp: usize,
    wp: usize,
    /// Whether the pixels are one flattened row (1×1, stride 1, no padding).
    flat: bool,
    /// Pixels per GEMM tile of the backward passes.
    qb: usize,
    /// How the forward pass walks its input.
    walk: FwdWalk,
    input: ActLayout,
    output: ActLayout,
    weights: WeightLayout,
    nest: LoopNest,
    /// The forward BRGEMM calls of a pixel block over one chunk of the channel reduction, in
    /// order, indexed by [`stage`]: whether the chunk is the first (beta 0) and whether it is
    /// the last (the epilogue).
    fwd: [Vec<FwdCall>; 4],
    /// Input-channel blocks per chunk.
    chunk: usize,
    /// Forward batch members over (input block, r, s), per class of output rows.
    taps: FwdTaps,
    /// Kept between runs: the zero-bordered input (its border written once), the backward
    /// pass's f32 padded gradient, and its transposed weights.
    padded_x: Reusable<T>,
    grad_acc: Reusable<f32>,
    weights_t: Reusable<T>,
    _t: PhantomData<T>,
}

/// The index into [`Conv2d::fwd`] of a chunk that is (or is not) the first and the last of
/// the channel reduction.
fn stage(first: bool, last: bool) -> usize {
    2 * first as usize + last as usize
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("conv2d", field, value, allowed)
}

impl<T: OpElem> Conv2d<T> {
    /// Validates the problem and dispatches the forward kernels.
    pub fn new(shape: ConvShape, opts: ConvOptions) -> Result<Conv2d<T>> {
        if !matches!(T::DTYPE, DType::F32 | DType::BF16) {
            return Err(bad("dtype", T::DTYPE, "f32 or bf16"));
        }
        let ConvShape {
            n,
            c,
            h,
            w,
            k,
            r,
            s,
        } = shape;
        for (f, v) in [
            ("stride", opts.stride.0.min(opts.stride.1)),
            ("dilation", opts.dilation.0.min(opts.dilation.1)),
            ("groups", opts.groups),
        ] {
            if v == 0 {
                return Err(bad(f, 0, "at least 1"));
            }
        }
        if opts.activation.writes_mask() {
            return Err(bad(
                "activation",
                "Relu { mask: true }",
                "an activation without a mask output",
            ));
        }
        let g = opts.groups;
        if !c.is_multiple_of(g) || !k.is_multiple_of(g) {
            return Err(bad(
                "groups",
                g,
                format!("a divisor of c = {c} and k = {k}"),
            ));
        }
        // Every size below is bounded first, so the index arithmetic cannot wrap.
        let big = |what, v: Option<usize>| {
            v.filter(|&x| x <= isize::MAX as usize / 8)
                .ok_or_else(|| bad(what, "overflow", "sizes whose tensors fit in memory"))
        };
        let hp = big(
            "padding",
            opts.padding.0.checked_mul(2).and_then(|p| p.checked_add(h)),
        )?;
        let wp = big(
            "padding",
            opts.padding.1.checked_mul(2).and_then(|p| p.checked_add(w)),
        )?;
        let eh = big(
            "dilation",
            opts.dilation
                .0
                .checked_mul(r.max(1) - 1)
                .and_then(|x| x.checked_add(1)),
        )?;
        let ew = big(
            "dilation",
            opts.dilation
                .1
                .checked_mul(s.max(1) - 1)
                .and_then(|x| x.checked_add(1)),
        )?;
        if r == 0 || s == 0 || hp < eh || wp < ew {
            return Err(bad(
                "r/s",
                format!("{r}×{s} dilated to {eh}×{ew}"),
                format!("non-zero and within the padded input {hp}×{wp}"),
            ));
        }
        let (p, q) = ((hp - eh) / opts.stride.0 + 1, (wp - ew) / opts.stride.1 + 1);
        let (bc, bk) = opts.blocks.unwrap_or((
            default_block(c / g, T::DTYPE),
            default_block(k / g, T::DTYPE),
        ));
        if T::VNNI2 && (!bc.is_multiple_of(2) || !bk.is_multiple_of(2)) {
            return Err(bad(
                "blocks",
                format!("({bc}, {bk})"),
                "even block sizes for bf16 (VNNI2 pairs)",
            ));
        }
        let input = ActLayout::new(n, c, h, w, g, bc)?;
        fits("conv2d", "padded input", &[n, input.cb(), hp, wp, bc])?;
        let output = ActLayout::new(n, k, p, q, g, bk)?;
        let weights = WeightLayout::new(k, c, (r, s), g, (bc, bk), T::VNNI2)?;
        let flat = r == 1 && s == 1 && opts.stride == (1, 1) && opts.padding == (0, 0);
        let qb = if flat { (p * q).min(64) } else { q.min(56) };
        let cbg = weights.cbg();
        let subsampled = r == 1 && s == 1 && !flat && opts.padding == (0, 0);
        let walk = FwdWalk {
            rows: if flat || subsampled { 1 } else { p },
            cols: if flat || subsampled { p * q } else { q },
            qb: if flat || subsampled {
                (p * q).min(64)
            } else {
                q.min(56)
            },
            px: if subsampled { bc } else { opts.stride.1 * bc },
            row: wp * bc,
            plane: if subsampled { p * q * bc } else { hp * wp * bc },
            pad: (0, 0),
            subsampled,
        };
        let (rows, cols, fqb) = (walk.rows, walk.cols, walk.qb);
        let chunks = if T::VNNI2 {
            1
        } else {
            let kb_bytes = cbg * r * s * bc * bk * 4;
            let l2 = crate::dispatch::caps::caches().l2.max(1 << 16);
            opts.channel_chunks
                .unwrap_or(kb_bytes.div_ceil(l2 / 2))
                .clamp(1, cbg)
        };
        let chunk = cbg.div_ceil(chunks);
        let chunks = cbg.div_ceil(chunk);
        let loops = [
            LoopSpec::new(0, n, 1),
            LoopSpec::new(0, output.cb(), 1),
            LoopSpec::new(0, rows, 1),
            LoopSpec::new(0, cols, fqb),
            LoopSpec::new(0, chunks, 1),
        ];
        // A flattened 1×1 layer has one "row": its pixel blocks are the parallel work instead.
        // A chunked reduction walks every row of a block under each chunk (weights reused).
        // Where the weights outweigh one image's input (the late, small-image stages), the
        // output blocks go outside the images, so each block's weights serve every image
        // while in cache: Xeon (model 207), batch 2, 1 thread, interleaved with oneDNN,
        // res5a_branch1 0.83× → 0.99× oneDNN, res5_branch2c 0.86× → 0.90×, res5_branch2a
        // 0.74× → 0.77×; res2 layers (small weights, large images) unchanged either way.
        let weights_outer = weights.len() > input.block_len() * input.cb();
        let default = match (rows == 1, chunks > 1, weights_outer) {
            (true, false, false) => "ABDce",
            (true, false, true) => "BADce",
            (false, false, false) => "ABCde",
            (false, false, true) => "BACde",
            (_, true, false) => "ABecd",
            (_, true, true) => "BAecd",
        };
        let spec = spec_or(opts.loop_spec.as_deref(), default);
        if spec.contains('E') {
            return Err(bad(
                "loop_spec",
                spec,
                "the chunk loop `e` sequential (its partial sums accumulate in order)",
            ));
        }
        let nest = LoopNest::new(&loops, spec)?;
        let mut conv = Conv2d {
            shape,
            opts,
            p,
            q,
            hp,
            wp,
            flat,
            qb,
            walk,
            input,
            output,
            weights,
            nest,
            fwd: Default::default(),
            chunk,
            taps: FwdTaps::default(),
            padded_x: Reusable::default(),
            grad_acc: Reusable::default(),
            weights_t: Reusable::default(),
            _t: PhantomData,
        };
        let mut geometry = TapGeometry {
            cbs: cbg,
            r,
            s,
            dilation: conv.opts.dilation,
            stride: conv.opts.stride,
            pad: conv.opts.padding,
            h,
            w,
            row: wp * bc,
            pixel: bc,
            plane: walk.plane,
            rows,
            cols,
            // The trimmed groups add partial sums to the output tile, which must be f32
            // (bf16 would round them); one pixel block per row keeps one kernel per group.
            split_cols: !T::VNNI2 && rows == p && cols == fqb,
        };
        // Where no member reads the border (the rows never do; the columns where they split
        // into groups, or have no border), the walk reads the input itself: no copy to write
        // and read back. Splitting alone gains on 7×7 images only (9.5% of the work trimmed,
        // +7–12%) and costs 1–5% from 28×28 up (each group rereads the row's input); with the
        // copy gone it is level there and the strided layers gain: Xeon (model 207), 1 thread,
        // interleaved with oneDNN, split + in place against unsplit + copy: 3×3 at 56, 28 and
        // 14 pixels level, stride 2 56 → 28 0.78–0.80× → 0.84–0.87×, 28 → 14 0.81× →
        // 0.86–0.88×, 14 → 7 0.69–0.70× → 0.70–0.73×.
        let padded = conv.opts.padding != (0, 0) && rows == p;
        if padded && FwdTaps::in_image(&geometry) {
            conv.walk = FwdWalk {
                row: w * bc,
                plane: input.block_len(),
                pad: conv.opts.padding,
                ..conv.walk
            };
            geometry.row = conv.walk.row;
            geometry.plane = conv.walk.plane;
        }
        conv.taps = FwdTaps::new(&geometry, &weights);
        let edge = cols % fqb;
        // The (first, last) kinds of chunk this reduction has.
        let kinds = (0..chunks).map(|e| (e == 0, e + 1 == chunks));
        let mut kinds: Vec<(bool, bool)> = kinds.collect();
        kinds.dedup();
        for (first, last) in kinds {
            let beta = if first { 0.0 } else { 1.0 };
            let groups = conv.taps.groups();
            let calls = if groups.len() == 1 {
                let ragged = (edge > 0)
                    .then(|| conv.fwd_kernel(edge, beta, last))
                    .transpose()?;
                vec![FwdCall {
                    kernel: conv.fwd_kernel(fqb, beta, last)?,
                    ragged,
                    group: 0,
                    part: Part::All,
                }]
            } else {
                let call = |m, beta, epi, group, part| -> Result<FwdCall> {
                    Ok(FwdCall {
                        kernel: conv.fwd_kernel(m, beta, epi)?,
                        ragged: None,
                        group,
                        part,
                    })
                };
                let mut calls = vec![call(cols, beta, false, 0, Part::FirstHalf)?];
                for (gi, cg) in groups.iter().enumerate().skip(1) {
                    calls.push(call(cg.cols.len(), 1.0, false, gi, Part::All)?);
                }
                calls.push(call(cols, 1.0, last, 0, Part::SecondHalf)?);
                calls
            };
            conv.fwd[stage(first, last)] = calls;
        }
        Ok(conv)
    }

    /// The layout of the input (and of its gradient).
    pub fn input_layout(&self) -> ActLayout {
        self.input
    }
    /// The layout of the output (and of its gradient).
    pub fn output_layout(&self) -> ActLayout {
        self.output
    }
    /// The layout of the weights the forward pass reads (VNNI2 for bf16).
    pub fn weight_layout(&self) -> WeightLayout {
        self.weights
    }
    /// The layout of the weight gradient: the same blocks, f32, never VNNI2.
    pub fn weight_grad_layout(&self) -> WeightLayout {
        WeightLayout {
            vnni2: false,
            ..self.weights
        }
    }
    /// Output height and width.
    pub fn output_size(&self) -> (usize, usize) {
        (self.p, self.q)
    }
    /// The problem.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }
    /// The options.
    pub fn options(&self) -> &ConvOptions {
        &self.opts
    }
    /// Nominal flops of one forward pass: `2·N·K·(C/G)·R·S·P·Q`.
    pub fn flops(&self) -> u64 {
        let s = self.shape;
        2 * (s.n * s.k * (s.c / self.opts.groups) * s.r * s.s * self.p * self.q) as u64
    }

    fn fwd_kernel(&self, m: usize, beta: f64, epilogue: bool) -> Result<GemmKernel> {
        let (bc, bk) = (self.input.bc, self.output.bc);
        let mut d = GemmDesc::new(m, bk, bc, T::DTYPE)
            .ld(self.walk.px, bk, bk)
            .output(T::DTYPE)
            .beta(beta)
            .batch(BatchReduce::Offsets);
        if epilogue {
            d = d.activation(self.opts.activation);
        }
        if self.opts.bias && epilogue {
            d = d.bias(BiasBroadcast::Row, DType::F32);
        }
        if T::VNNI2 {
            d = d.vnni_b();
        }
        d.dispatch()
    }

    /// Runs `body` on the input with its zero border: `x` itself when there is no padding,
    /// else the plan's kept copy, whose interior is rewritten here and whose border stays zero
    /// from its first fill.
    fn with_padded<R>(&self, x: &[T], body: impl FnOnce(&[T]) -> R) -> Result<R> {
        let (ph, pw) = self.opts.padding;
        if (ph, pw) == (0, 0) {
            return Ok(body(x));
        }
        let bc = self.input.bc;
        let (h, w) = (self.shape.h, self.shape.w);
        let plane = self.hp * self.wp * bc;
        let slabs = self.shape.n * self.input.cb();
        // Bands of rows, so that a single slab (one image, one channel block) still splits
        // over the threads.
        let band = h.div_ceil(
            (4 * rayon::current_num_threads())
                .div_ceil(slabs)
                .clamp(1, h),
        );
        let bands = h.div_ceil(band);
        let copy = |rows: usize| {
            UnaryDesc::new(UnaryOp::Identity, rows, w * bc, T::DTYPE)
                .ld(w * bc, self.wp * bc)
                .dispatch()
        };
        let (full, last) = (copy(band)?, copy(h - (bands - 1) * band)?);
        Ok(self.padded_x.with(slabs * plane, |keep, _| {
            let (s, d) = (Shared::of(x), Shared::of_mut(keep));
            (0..slabs * bands).into_par_iter().for_each(|i| {
                let (slab, b) = (i / bands, i % bands);
                let k = if b + 1 == bands { &last } else { &full };
                // SAFETY: band b of slab `slab` of the input, copied inside the border of the
                // same rows of the copy.
                unsafe {
                    unary(
                        k,
                        s.at(slab * self.input.block_len() + b * band * w * bc),
                        d.at(slab * plane + ((ph + b * band) * self.wp + pw) * bc),
                    )
                };
            });
            body(keep)
        }))
    }

    /// `y = act(conv(x, w) + bias)` on blocked tensors (`bias`: `K` f32 values when the plan
    /// has a bias).
    pub fn forward(&self, x: &[T], w: &[T], bias: Option<&[f32]>, y: &mut [T]) -> Result<()> {
        check_len("x", x.len(), self.input.len())?;
        check_len("w", w.len(), self.weights.len())?;
        check_len("y", y.len(), self.output.len())?;
        let bias = self.blocked_bias(bias)?;
        let mut body = |xp: &[T]| self.forward_walk(xp, w, bias.as_deref(), y);
        if self.walk.subsampled {
            self.with_subsampled(x, body)
        } else if self.walk.pad != (0, 0) {
            // Read in place: no member reads the border.
            body(x);
            Ok(())
        } else {
            self.with_padded(x, body)
        }
    }

    /// Runs `body` on the pixels a strided 1×1 layer reads, copied to `[N][C/bc][P][Q][bc]`
    /// in the plan's kept buffer.
    fn with_subsampled<R>(&self, x: &[T], body: impl FnOnce(&[T]) -> R) -> Result<R> {
        let bc = self.input.bc;
        let (u, v) = self.opts.stride;
        let (p, q, w) = (self.p, self.q, self.shape.w);
        let copy = UnaryDesc::new(UnaryOp::Identity, q, bc, T::DTYPE)
            .ld(v * bc, bc)
            .dispatch()?;
        let slabs = self.shape.n * self.input.cb();
        Ok(self.padded_x.with(slabs * self.walk.plane, |keep, _| {
            let (s, d) = (Shared::of(x), Shared::of_mut(keep));
            (0..slabs).into_par_iter().for_each(|i| {
                for row in 0..p {
                    // SAFETY: output row `row`'s pixels of slab i (every v-th of input row
                    // row·u), into that row of slab i of the copy.
                    unsafe {
                        unary(
                            &copy,
                            s.at(i * self.input.block_len() + row * u * w * bc),
                            d.at(i * self.walk.plane + row * q * bc),
                        )
                    };
                }
            });
            body(keep)
        }))
    }

    /// The forward pass over the input as [`Self::walk`] reads it (`bias` spread over the
    /// output blocks).
    fn forward_walk(&self, xp: &[T], w: &[T], bias: Option<&[f32]>, y: &mut [T]) {
        let (bc, bk) = (self.input.bc, self.output.bc);
        let (cbg, kbg) = (self.weights.cbg(), self.weights.kbg());
        let u = self.opts.stride.0;
        let FwdWalk {
            cols,
            qb,
            px,
            plane,
            ..
        } = self.walk;
        let (xs, ws, ys) = (Shared::of(xp), Shared::of(w), Shared::of_mut(y));
        let bs = bias.map(Shared::of);
        let (kb_all, cb_all) = (self.output.cb(), self.input.cb());
        // Each call also pulls a part of the next output block's weights into L2 (the calls
        // of a block split them by row and pixel block): Xeon (model 207), 1 thread,
        // interleaved with oneDNN, res5_branch2a at batch 1 (weights from memory)
        // 0.85× → 0.95× oneDNN.
        let parts = self.walk.rows * cols.div_ceil(qb);
        self.nest.run(|_, ind| {
            let (n, gk, p, q0, e) = (ind[0], ind[1], ind[2], ind[3], ind[4]);
            let g = gk / kbg;
            let qn = qb.min(cols - q0);
            // The chunk's calls (first: beta 0; last: the epilogue).
            let cbs = e * self.chunk..((e + 1) * self.chunk).min(cbg);
            let calls = &self.fwd[stage(e == 0, cbs.end == cbg)];
            debug_assert!(!calls.is_empty(), "no calls for chunk {e}");
            let next = self.weights.block(gk + 1, cbs.start, 0, 0);
            let share = cbs.len() * self.weights.r * self.weights.s * self.weights.block_len()
                / (parts * calls.len()).max(1);
            for (ci, call) in calls.iter().enumerate() {
                let slot = (p * cols.div_ceil(qb) + q0 / qb) * calls.len() + ci;
                let at = next + slot * share;
                let prefetch = if gk + 1 < kb_all && at < w.len() {
                    // SAFETY: inside the weights (checked).
                    unsafe { ws.at(at).cast_const().cast() }
                } else {
                    std::ptr::null()
                };
                let k = if qn == qb {
                    &call.kernel
                } else {
                    call.ragged.as_ref().expect("edge kernel")
                };
                let (a_off, b_off) = self.taps.members(p, call.group, cbs.clone());
                let half = a_off.len() / 2;
                let part = match call.part {
                    Part::All => 0..a_off.len(),
                    Part::FirstHalf => 0..half,
                    Part::SecondHalf => half..a_off.len(),
                };
                let (a_off, b_off) = (&a_off[part.clone()], &b_off[part]);
                // The group's first column (0 when unsplit, the one pixel block when
                // split).
                let q0 = q0 + self.taps.groups()[call.group].cols.start;
                // A at the members' origin tap for pixel (p, q0), inside the walked buffer
                // whenever there are members (a row in the border has none: any address
                // in the slab does).
                let slab = (n * cb_all + g * cbg) * plane;
                let a = if a_off.is_empty() {
                    slab
                } else {
                    let (ri, si) = self.taps.origin(p, call.group);
                    let (dh, dw) = self.opts.dilation;
                    let (pt, pl) = self.walk.pad;
                    let (ih, iw_px) = (p * u + ri * dh - pt, q0 * px + si * dw * bc - pl * bc);
                    slab + ih * self.walk.row + iw_px
                };
                let c =
                    ((n * kb_all + gk) * self.output.h * self.output.w + p * self.q) * bk + q0 * bk;
                // SAFETY: every offset stays inside the walked input (the zero-bordered copy,
                // or the input itself where no member reads the border) and the weights
                // (built from their layouts); the output tile belongs to this point of the
                // nest alone, and its calls run in order.
                unsafe {
                    let args = GemmArgs {
                        a: xs.at(a).cast_const().cast(),
                        b: ws.at(self.weights.block(gk, 0, 0, 0)).cast_const().cast(),
                        c: ys.at(c).cast(),
                        a_offsets: a_off.as_ptr(),
                        b_offsets: b_off.as_ptr(),
                        batch: a_off.len() as u64,
                        bias: bs.map_or(std::ptr::null(), |b| b.at(gk * bk).cast_const().cast()),
                        prefetch,
                        ..GemmArgs::default()
                    };
                    k.call_raw(&args);
                }
            }
        });
    }

    /// The caller's `K` bias values spread over the padded output blocks.
    fn blocked_bias(&self, bias: Option<&[f32]>) -> Result<Option<Vec<f32>>> {
        check_bias_given("bias", self.opts.bias, bias.is_some())?;
        let Some(b) = bias else { return Ok(None) };
        check_len("bias", b.len(), self.shape.k)?;
        let mut out = vec![0.0; self.output.cb() * self.output.bc];
        for blk in 0..self.output.cb() {
            let (c0, cnt) = self.output.channels(blk);
            out[blk * self.output.bc..][..cnt].copy_from_slice(&b[c0..c0 + cnt]);
        }
        Ok(Some(out))
    }
}
