//! Fully connected layers: `y = act(x·Wᵀ + b)` with row-major activations `x [N][C]`,
//! `y [N][K]` (what users and the attention layers hold) and blocked weights
//! `[KB][CB][bc][bk]` ([`WeightLayout::fc`], VNNI2 for bf16).
//!
//! - **Forward**: each `[bn rows][bk]` tile of `y` is one BRGEMM reduced over the full
//!   input-channel blocks by stride (A: `bc` columns apart in `x`, B: one weight block apart),
//!   then, for a ragged last channel block, one more call over its real channels; the bias and
//!   activation are the last call's fused epilogue.
//! - **Backward data**: `dx = dz·W`, the same loops over the transposed weights
//!   ([`WeightLayout::transposed`]).
//! - **Backward weights**: each weight block is one GEMM with a transposed A
//!   (`x[:, c-block]ᵀ · dz[:, k-block]`, f32, never VNNI2); the bias gradient is a column
//!   reduction of `dz`.
//!
//! Training keeps the pre-activation `z` ([`Linear::forward_train`]); [`Linear::activation_backward`]
//! turns `dy` into `dz` with the activation's backward unary op.

use super::layout::{default_block, WeightLayout};
use super::loops::{spec_or, LoopNest, LoopSpec};
use super::raw::{check_bias_given, check_len, fits, unary, unary_aux, OpElem, Shared};
use crate::error::{Error, Result};
use crate::exec::GemmArgs;
use crate::isa::{
    Activation, BatchReduce, BiasBroadcast, DType, GemmDesc, ReduceAxis, ReduceDesc, ReduceOp,
    UnaryDesc, UnaryOp,
};
use crate::{GemmKernel, UnaryKernel};
use rayon::prelude::*;
use std::marker::PhantomData;

/// What a fully connected layer fuses and how it blocks.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LinearOptions {
    /// Whether the layer adds an f32 bias of `K` values.
    pub bias: bool,
    /// The activation after the bias.
    pub activation: Activation,
    /// Channel blocks `(bc, bk)`; `None` picks [`default_block`].
    pub blocks: Option<(usize, usize)>,
    /// Rows per tile; `None` picks 64 (fewer when `N` is small).
    pub rows_per_block: Option<usize>,
    /// The loop spec over `a` = row block, `b` = output block; `None` takes `"BA"`.
    pub loop_spec: Option<String>,
}

/// A fully connected plan for `N` rows of `C` inputs and `K` outputs, in `T` (f32, or bf16
/// with f32 accumulation and bf16 output).
#[derive(Debug)]
pub struct Linear<T: OpElem> {
    n: usize,
    c: usize,
    k: usize,
    bn: usize,
    opts: LinearOptions,
    weights: WeightLayout,
    nest: LoopNest,
    /// Forward kernels of the inference (fused activation) and training (no activation) forms.
    fwd: Tiles,
    fwd_train: Tiles,
    _t: PhantomData<T>,
}

/// The BRGEMM kernels of one tiled product `out[rows][cols] = Σ_blocks in·W`, by tile shape:
/// the full blocks of the reduction (stride batch-reduce) and the ragged last block.
#[derive(Debug)]
struct Tiles {
    list: Vec<((usize, usize, bool), GemmKernel)>,
}

impl Tiles {
    fn get(&self, rows: usize, cols: usize, edge: bool) -> &GemmKernel {
        &self
            .list
            .iter()
            .find(|(s, _)| *s == (rows, cols, edge))
            .expect("a kernel per tile shape")
            .1
    }
}

/// The shape of one blocked product: `out[m][n] = in[m][k]·W` with W in `[nb][kb][bk_][bn_]`
/// blocks (`kb` blocks of depth `bdepth`, ragged last block `kedge`).
struct Product {
    m: usize,
    n: usize,
    k: usize,
    bm: usize,
    bdepth: usize,
    bwidth: usize,
    ld_in: usize,
    ld_out: usize,
}

impl Product {
    fn tiles<T: OpElem>(
        &self,
        out: DType,
        epi: Option<(bool, Activation)>,
        beta0: f64,
    ) -> Result<Tiles> {
        let (kfull, kedge) = (self.k / self.bdepth, self.k % self.bdepth);
        let mut list = vec![];
        for rows in [self.bm.min(self.m), self.m % self.bm] {
            for cols in [self.bwidth.min(self.n), self.n % self.bwidth] {
                for edge in [false, true] {
                    let depth = if edge { kedge } else { self.bdepth };
                    if rows == 0
                        || cols == 0
                        || depth == 0
                        || (!edge && kfull == 0)
                        || list.iter().any(|(s, _)| *s == (rows, cols, edge))
                    {
                        continue;
                    }
                    // The epilogue rides on the last call of a tile: the edge call if there
                    // is one; beta is the caller's on the first call, then 1.
                    let last = edge || kedge == 0;
                    let beta = if edge && kfull > 0 { 1.0 } else { beta0 };
                    let mut d = GemmDesc::new(rows, cols, depth, T::DTYPE)
                        .ld(self.ld_in, self.bwidth, self.ld_out)
                        .output(out)
                        .beta(beta)
                        .batch(BatchReduce::Stride {
                            a: self.bdepth,
                            b: self.bdepth * self.bwidth,
                        });
                    if let (true, Some((bias, act))) = (last, epi) {
                        if bias {
                            d = d.bias(BiasBroadcast::Row, DType::F32);
                        }
                        d = d.activation(act);
                    }
                    if T::VNNI2 {
                        d = d.vnni_b();
                    }
                    list.push(((rows, cols, edge), d.dispatch()?));
                }
            }
        }
        Ok(Tiles { list })
    }

    /// Runs tile `(i, j)`: rows `i·bm..`, columns `j·bwidth..` of `out`, with the weight blocks
    /// of column block `j` starting at `w` (`kb` blocks, each `bdepth × bwidth`).
    ///
    /// # Safety
    /// The pointers must cover the product's operands; the tile is the caller's alone.
    unsafe fn run<A, B>(
        &self,
        tiles: &Tiles,
        (i, j): (usize, usize),
        x: Shared<A>,
        w: Shared<A>,
        out: Shared<B>,
        bias: Option<Shared<f32>>,
    ) {
        let (kfull, kedge) = (self.k / self.bdepth, self.k % self.bdepth);
        let kb = self.k.div_ceil(self.bdepth);
        let rows = self.bm.min(self.m - i * self.bm);
        let cols = self.bwidth.min(self.n - j * self.bwidth);
        let a = x.at(i * self.bm * self.ld_in);
        let b = w.at(j * kb * self.bdepth * self.bwidth);
        let c = out.at(i * self.bm * self.ld_out + j * self.bwidth);
        let bias = bias.map_or(std::ptr::null(), |b| {
            b.at(j * self.bwidth).cast_const().cast()
        });
        // The next output block's weights, split over the row blocks that precede it in the
        // default order ("BA"), go to L2 meanwhile. Xeon (model 207), `cargo bench --bench ops`
        // against oneDNN's inner product, BERT-base at sequence 128, f32, before → after:
        // 1 thread 0.94–1.02× → 1.04–1.11×, 2 threads 0.63–0.97× → 0.97–1.08×.
        let block = kb * self.bdepth * self.bwidth;
        let prefetch = if j + 1 < self.n.div_ceil(self.bwidth) {
            let share = block / self.m.div_ceil(self.bm);
            w.at((j + 1) * block + i * share).cast_const().cast()
        } else {
            std::ptr::null()
        };
        if kfull > 0 {
            let args = GemmArgs {
                a: a.cast_const().cast(),
                b: b.cast_const().cast(),
                c: c.cast(),
                batch: kfull as u64,
                bias: if kedge == 0 { bias } else { std::ptr::null() },
                prefetch,
                ..GemmArgs::default()
            };
            tiles.get(rows, cols, false).call_raw(&args);
        }
        if kedge > 0 {
            let args = GemmArgs {
                a: a.add(kfull * self.bdepth).cast_const().cast(),
                b: b.add(kfull * self.bdepth * self.bwidth).cast_const().cast(),
                c: c.cast(),
                batch: 1,
                bias,
                ..GemmArgs::default()
            };
            tiles.get(rows, cols, true).call_raw(&args);
        }
    }
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("linear", field, value, allowed)
}

/// The unary op of an activation, forward and backward (`None` for no activation).
fn activation_ops(act: Activation) -> Option<(UnaryOp, UnaryOp)> {
    use UnaryOp::*;
    Some(match act {
        Activation::None => return None,
        Activation::Relu { .. } => (Relu { mask: false }, ReluBackward { mask: false }),
        Activation::LeakyRelu { alpha } => (
            LeakyRelu { alpha, mask: false },
            LeakyReluBackward { alpha, mask: false },
        ),
        Activation::Elu { alpha } => (Elu { alpha }, EluBackward { alpha }),
        Activation::Gelu => (Gelu, GeluBackward),
        Activation::GeluErf => (GeluErf, GeluErfBackward),
        Activation::Sigmoid => (Sigmoid, SigmoidBackward),
        Activation::Tanh => (Tanh, TanhBackward),
        Activation::Silu => (Silu, SiluBackward),
    })
}

impl<T: OpElem> Linear<T> {
    /// Validates the problem and dispatches the forward kernels.
    pub fn new(n: usize, c: usize, k: usize, opts: LinearOptions) -> Result<Linear<T>> {
        if !matches!(T::DTYPE, DType::F32 | DType::BF16) {
            return Err(bad("dtype", T::DTYPE, "f32 or bf16"));
        }
        for (f, v) in [("n", n), ("c", c), ("k", k)] {
            if v == 0 {
                return Err(bad(f, 0, "at least 1"));
            }
        }
        fits("linear", "x", &[n, c])?;
        fits("linear", "y", &[n, k])?;
        if opts.activation.writes_mask() {
            return Err(bad(
                "activation",
                "Relu { mask: true }",
                "an activation without a mask output",
            ));
        }
        if T::VNNI2 && (!c.is_multiple_of(2) || !k.is_multiple_of(2)) {
            return Err(bad(
                "c/k",
                format!("{c}/{k}"),
                "even for bf16 (VNNI2 pairs of the reductions)",
            ));
        }
        let (bc, bk) = opts
            .blocks
            .unwrap_or((default_block(c, T::DTYPE), default_block(k, T::DTYPE)));
        if T::VNNI2 && (!bc.is_multiple_of(2) || !bk.is_multiple_of(2)) {
            return Err(bad(
                "blocks",
                format!("({bc}, {bk})"),
                "even block sizes for bf16",
            ));
        }
        let weights = WeightLayout::fc(k, c, bc, bk, T::VNNI2)?;
        let bn = opts.rows_per_block.unwrap_or(64).clamp(1, n);
        let loops = [
            LoopSpec::new(0, n.div_ceil(bn), 1),
            LoopSpec::new(0, weights.kbg(), 1),
        ];
        // Output blocks outside, row blocks inside: a weight block comes from memory once and
        // serves every row block from L2 (Xeon, 1 thread, BERT-base shapes at sequence 128
        // and 512, interleaved in one process: +10–15% over rows outside; level or ahead on
        // 2 threads).
        let nest = LoopNest::new(&loops, spec_or(opts.loop_spec.as_deref(), "BA"))?;
        let fp = Product {
            m: n,
            n: k,
            k: c,
            bm: bn,
            bdepth: bc,
            bwidth: bk,
            ld_in: c,
            ld_out: k,
        };
        let fwd = fp.tiles::<T>(T::DTYPE, Some((opts.bias, opts.activation)), 0.0)?;
        let fwd_train = fp.tiles::<T>(T::DTYPE, Some((opts.bias, Activation::None)), 0.0)?;
        Ok(Linear {
            n,
            c,
            k,
            bn,
            opts,
            weights,
            nest,
            fwd,
            fwd_train,
            _t: PhantomData,
        })
    }

    /// The layout of the weights (from a row-major `[K][C]` with [`WeightLayout::from_kcrs`]).
    pub fn weight_layout(&self) -> WeightLayout {
        self.weights
    }
    /// The layout of the weight gradient (f32, not VNNI2).
    pub fn weight_grad_layout(&self) -> WeightLayout {
        WeightLayout {
            vnni2: false,
            ..self.weights
        }
    }
    /// `(N, C, K)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.n, self.c, self.k)
    }
    /// The options.
    pub fn options(&self) -> &LinearOptions {
        &self.opts
    }
    /// Nominal flops of one forward pass: `2·N·C·K`.
    pub fn flops(&self) -> u64 {
        2 * (self.n * self.c * self.k) as u64
    }

    fn fwd_product(&self) -> Product {
        Product {
            m: self.n,
            n: self.k,
            k: self.c,
            bm: self.bn,
            bdepth: self.weights.bc,
            bwidth: self.weights.bk,
            ld_in: self.c,
            ld_out: self.k,
        }
    }

    fn check_bias(&self, bias: Option<&[f32]>) -> Result<()> {
        check_bias_given("bias", self.opts.bias, bias.is_some())?;
        bias.map_or(Ok(()), |b| check_len("bias", b.len(), self.k))
    }

    fn run_fwd(
        &self,
        tiles: &Tiles,
        x: &[T],
        w: &[T],
        bias: Option<&[f32]>,
        y: &mut [T],
    ) -> Result<()> {
        check_len("x", x.len(), self.n * self.c)?;
        check_len("w", w.len(), self.weights.len())?;
        check_len("y", y.len(), self.n * self.k)?;
        self.check_bias(bias)?;
        let prod = self.fwd_product();
        let (xs, ws, ys) = (Shared::of(x), Shared::of(w), Shared::of_mut(y));
        let bs = bias.map(Shared::of);
        self.nest.run(|_, ind| {
            // SAFETY: the slices were checked against the product; tile (i, j) is this
            // point's alone.
            unsafe { prod.run(tiles, (ind[0], ind[1]), xs, ws, ys, bs) };
        });
        Ok(())
    }

    /// `y = act(x·Wᵀ + b)` (`x [N][C]`, `y [N][K]` row-major, `w` blocked).
    pub fn forward(&self, x: &[T], w: &[T], bias: Option<&[f32]>, y: &mut [T]) -> Result<()> {
        self.run_fwd(&self.fwd, x, w, bias, y)
    }

    /// The training forward pass: `z = x·Wᵀ + b` and `y = act(z)` (`y` may be left unused
    /// without an activation, where it equals `z`).
    pub fn forward_train(
        &self,
        x: &[T],
        w: &[T],
        bias: Option<&[f32]>,
        z: &mut [T],
        y: &mut [T],
    ) -> Result<()> {
        self.run_fwd(&self.fwd_train, x, w, bias, z)?;
        check_len("y", y.len(), self.n * self.k)?;
        match activation_ops(self.opts.activation) {
            None => y[..self.n * self.k].copy_from_slice(&z[..self.n * self.k]),
            Some((f, _)) => self.rows_unary(f, z, y)?,
        }
        Ok(())
    }

    /// An elementwise op over `[N][K]`, in parallel over row blocks.
    fn rows_unary(&self, op: UnaryOp, src: &[T], dst: &mut [T]) -> Result<()> {
        // SAFETY: rows r0.. of src and dst, both [N][K].
        self.rows_each(
            op,
            |k, r0, s, d| unsafe { unary(k, s.at(r0 * self.k), d.at(r0 * self.k)) },
            src,
            dst,
        )
    }

    fn rows_each(
        &self,
        op: UnaryOp,
        f: impl Fn(&UnaryKernel, usize, Shared<T>, Shared<T>) + Sync,
        src: &[T],
        dst: &mut [T],
    ) -> Result<()> {
        let (bn, k) = (self.bn, self.k);
        let kern = |rows| {
            UnaryDesc::new(op, rows, k, T::DTYPE)
                .dtypes(T::DTYPE, DType::F32, T::DTYPE)
                .dispatch()
        };
        let full = kern(bn)?;
        let edge = if !self.n.is_multiple_of(bn) {
            Some(kern(self.n % bn)?)
        } else {
            None
        };
        let (s, d) = (Shared::of(src), Shared::of_mut(dst));
        (0..self.n.div_ceil(bn)).into_par_iter().for_each(|i| {
            let k = if (i + 1) * bn <= self.n {
                &full
            } else {
                edge.as_ref().expect("edge kernel")
            };
            f(k, i * bn, s, d);
        });
        Ok(())
    }

    /// `dz = dy · act'(z)` (a copy without an activation).
    pub fn activation_backward(&self, dy: &[T], z: &[T], dz: &mut [T]) -> Result<()> {
        let len = self.n * self.k;
        check_len("dy", dy.len(), len)?;
        check_len("z", z.len(), len)?;
        check_len("dz", dz.len(), len)?;
        let Some((_, back)) = activation_ops(self.opts.activation) else {
            dz[..len].copy_from_slice(&dy[..len]);
            return Ok(());
        };
        let zs = Shared::of(z);
        // SAFETY: rows r0.. of dy, z and dz, all [N][K].
        self.rows_each(
            back,
            |k, r0, s, d| unsafe {
                unary_aux(k, s.at(r0 * self.k), zs.at(r0 * self.k), d.at(r0 * self.k))
            },
            dy,
            dz,
        )
    }

    /// `dx = dz·W` (`dz [N][K]`, `dx [N][C]` row-major; `dz` is the gradient before the
    /// activation).
    pub fn backward_data(&self, dz: &[T], w: &[T], dx: &mut [T]) -> Result<()> {
        check_len("dz", dz.len(), self.n * self.k)?;
        check_len("w", w.len(), self.weights.len())?;
        check_len("dx", dx.len(), self.n * self.c)?;
        let tl = self.weights.transposed()?;
        let mut wt = vec![T::default(); tl.len()];
        self.weights.transpose_into(w, &mut wt)?;
        let prod = Product {
            m: self.n,
            n: self.c,
            k: self.k,
            bm: self.bn,
            bdepth: tl.bc,
            bwidth: tl.bk,
            ld_in: self.k,
            ld_out: self.c,
        };
        let tiles = prod.tiles::<T>(T::DTYPE, None, 0.0)?;
        let (ys, ws, xs) = (Shared::of(dz), Shared::of(&wt), Shared::of_mut(dx));
        let jobs = (self.n.div_ceil(self.bn), tl.kbg());
        // Weight blocks outside, row blocks inside, as in the forward pass.
        (0..jobs.0 * jobs.1).into_par_iter().for_each(|t| {
            // SAFETY: as in the forward pass, on the transposed product.
            unsafe { prod.run(&tiles, (t % jobs.0, t / jobs.0), ys, ws, xs, None) };
        });
        Ok(())
    }

    /// `dw = dzᵀ·x` (f32, [`Self::weight_grad_layout`]) and with a bias `db = Σ_rows dz`.
    pub fn backward_weights(
        &self,
        x: &[T],
        dz: &[T],
        dw: &mut [f32],
        db: Option<&mut [f32]>,
    ) -> Result<()> {
        let gl = self.weight_grad_layout();
        check_len("x", x.len(), self.n * self.c)?;
        check_len("dz", dz.len(), self.n * self.k)?;
        check_len("dw", dw.len(), gl.len())?;
        check_bias_given("db", self.opts.bias, db.is_some())?;
        if let Some(db) = &db {
            check_len("db", db.len(), self.k)?;
        }
        let (bc, bk) = (gl.bc, gl.bk);
        let kernel = |m: usize, nn: usize| {
            GemmDesc::new(m, nn, self.n, T::DTYPE)
                .trans_a()
                .ld(self.c, self.k, bk)
                .output(DType::F32)
                .beta(0.0)
                .dispatch()
        };
        let mut kernels = vec![];
        for m in [bc.min(self.c), self.c % bc] {
            for nn in [bk.min(self.k), self.k % bk] {
                if m > 0 && nn > 0 && !kernels.iter().any(|(s, _)| *s == (m, nn)) {
                    kernels.push(((m, nn), kernel(m, nn)?));
                }
            }
        }
        let (xs, ys) = (Shared::of(x), Shared::of(dz));
        let cbg = gl.cbg();
        dw[..gl.len()]
            .par_chunks_mut(gl.block_len())
            .enumerate()
            .for_each(|(i, blk)| {
                let (kb, cb) = (i / cbg, i % cbg);
                let (m, nn) = (bc.min(self.c - cb * bc), bk.min(self.k - kb * bk));
                if m < bc || nn < bk {
                    blk.fill(0.0);
                }
                let k = &kernels
                    .iter()
                    .find(|(s, _)| *s == (m, nn))
                    .expect("a kernel per block shape")
                    .1;
                // SAFETY: columns cb·bc.. of x and kb·bk.. of dz over all rows; the block is this
                // task's.
                unsafe {
                    let args = GemmArgs {
                        a: xs.at(cb * bc).cast_const().cast(),
                        b: ys.at(kb * bk).cast_const().cast(),
                        c: blk.as_mut_ptr().cast(),
                        ..GemmArgs::default()
                    };
                    k.call_raw(&args);
                }
            });
        db.map_or(Ok(()), |db| bias_grad::<T>(dz, self.n, self.k, db))
    }
}

/// `db[j] = Σ_i dz[i][j]` over a row-major `[rows][cols]`: one column reduction.
pub(crate) fn bias_grad<T: OpElem>(
    dz: &[T],
    rows: usize,
    cols: usize,
    db: &mut [f32],
) -> Result<()> {
    let mut d = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerCol, rows, cols, T::DTYPE);
    d.compute_dtype = DType::F32;
    d.out_dtype = DType::F32;
    d.dispatch()?.call(dz, &mut db[..cols])
}
