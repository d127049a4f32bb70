//! The convolution's backward passes (see the parent module's notes): data, weights, bias.

use super::*;

impl<T: OpElem> Conv2d<T> {
    /// `dx = ∂(conv)/∂x · dy` on blocked tensors (`dy` is the gradient before the activation).
    pub fn backward_data(&self, dy: &[T], w: &[T], dx: &mut [T]) -> Result<()> {
        check_len("dy", dy.len(), self.output.len())?;
        check_len("w", w.len(), self.weights.len())?;
        check_len("dx", dx.len(), self.input.len())?;
        let tl = self.weights.transposed()?;
        let (bc, bk) = (self.input.bc, self.output.bc);
        let v = self.opts.stride.1;
        let (r, s) = (self.shape.r, self.shape.s);
        let cols = if self.flat { self.p * self.q } else { self.q };
        let kernel = |m: usize| -> Result<GemmKernel> {
            let mut d = GemmDesc::new(m, bc, bk, T::DTYPE)
                .ld(bk, bc, v * bc)
                .output(DType::F32)
                .beta(1.0)
                .batch(BatchReduce::Stride {
                    a: self.output.block_len(),
                    b: r * s * bk * bc,
                });
            if T::VNNI2 {
                d = d.vnni_b();
            }
            d.dispatch()
        };
        let full = kernel(self.qb)?;
        let edge = if cols % self.qb > 0 {
            Some(kernel(cols % self.qb)?)
        } else {
            None
        };
        // Each slab's interior of the padded f32 gradient, converted to T.
        let (h, w_in) = (self.shape.h, self.shape.w);
        let (ph, pw) = self.opts.padding;
        let copy = UnaryDesc::new(UnaryOp::Identity, h, w_in * bc, DType::F32)
            .dtypes(DType::F32, DType::F32, T::DTYPE)
            .ld(self.wp * bc, w_in * bc)
            .dispatch()?;
        let plane = self.hp * self.wp * bc;
        let cb_all = self.input.cb();
        let xs = Shared::of_mut(dx);
        let run = |wt: &[T], acc: &mut [f32]| {
            let (ys, ws, accs) = (Shared::of(dy), Shared::of(wt), Shared::of_mut(acc));
            (0..self.shape.n * cb_all).into_par_iter().for_each(|slab| {
                self.backward_data_slab(slab, (&full, edge.as_ref()), (ys, ws, accs), &tl);
                // SAFETY: slab `slab` of the padded gradient, written above by this task
                // alone, and of dx.
                unsafe {
                    unary(
                        &copy,
                        accs.at(slab * plane + (ph * self.wp + pw) * bc),
                        xs.at(slab * self.input.block_len()),
                    )
                };
            });
        };
        self.weights_t.with(tl.len(), |wt, _| {
            self.weights.transpose_into(w, wt)?;
            let len = self.shape.n * cb_all * plane;
            self.grad_acc.with(len, |acc, _| run(wt, acc));
            Ok(())
        })
    }

    /// One `(image, input block)` slab of the padded f32 gradient: zeroed, then every output
    /// row's and tap's BRGEMM accumulated into it.
    fn backward_data_slab(
        &self,
        slab: usize,
        (full, edge): (&GemmKernel, Option<&GemmKernel>),
        (ys, ws, accs): (Shared<T>, Shared<T>, Shared<f32>),
        tl: &WeightLayout,
    ) {
        let (bc, bk) = (self.input.bc, self.output.bc);
        let (cbg, kbg) = (self.weights.cbg(), self.weights.kbg());
        let (u, v) = self.opts.stride;
        let (dh, dw) = self.opts.dilation;
        let (r, s) = (self.shape.r, self.shape.s);
        let cols = if self.flat { self.p * self.q } else { self.q };
        let rows = if self.flat { 1 } else { self.p };
        let plane = self.hp * self.wp * bc;
        let (cb_all, kb_all) = (self.input.cb(), self.output.cb());
        // SAFETY: each slab belongs to one task.
        unsafe { std::slice::from_raw_parts_mut(accs.at(slab * plane), plane) }.fill(0.0);
        let (n, gc) = (slab / cb_all, slab % cb_all);
        let g = gc / cbg;
        for p in 0..rows {
            for ri in 0..r {
                for si in 0..s {
                    for q0 in (0..cols).step_by(self.qb) {
                        let qn = self.qb.min(cols - q0);
                        let k = if qn == self.qb {
                            full
                        } else {
                            edge.expect("edge kernel")
                        };
                        let a = (n * kb_all + g * kbg) * self.output.block_len()
                            + (p * self.q + q0) * bk;
                        let c = slab * plane
                            + (p * u + ri * dh) * self.wp * bc
                            + (q0 * v + si * dw) * bc;
                        // SAFETY: A walks this image's output blocks of the group, B the
                        // transposed weights of input block `gc` and tap (ri, si); C rows
                        // lie in this task's padded slab.
                        unsafe {
                            let args = GemmArgs {
                                a: ys.at(a).cast_const().cast(),
                                b: ws.at(tl.block(gc, 0, ri, si)).cast_const().cast(),
                                c: accs.at(c).cast(),
                                batch: kbg as u64,
                                ..GemmArgs::default()
                            };
                            k.call_raw(&args);
                        }
                    }
                }
            }
        }
    }

    /// `dw = ∂(conv)/∂w · dy` (f32, [`Self::weight_grad_layout`]) and, with a bias, `db`
    /// (`K` f32 values).
    pub fn backward_weights(
        &self,
        x: &[T],
        dy: &[T],
        dw: &mut [f32],
        db: Option<&mut [f32]>,
    ) -> Result<()> {
        let gl = self.weight_grad_layout();
        check_len("x", x.len(), self.input.len())?;
        check_len("dy", dy.len(), self.output.len())?;
        check_len("dw", dw.len(), gl.len())?;
        check_bias_given("db", self.opts.bias, db.is_some())?;
        let (bc, bk) = (self.input.bc, self.output.bc);
        let (cbg, kbg) = (self.weights.cbg(), self.weights.kbg());
        let (u, v) = self.opts.stride;
        let (dh, dwl) = self.opts.dilation;
        let (r, s) = (self.shape.r, self.shape.s);
        // Output rows are the batch members (also where a 1×1 layer's pixels are one row).
        let (rows, cols) = (self.p, self.q);
        let plane = self.hp * self.wp * bc;
        let (cb_all, kb_all) = (self.input.cb(), self.output.cb());
        // One BRGEMM per weight block: Σ over (image, output row) of rowᵀ·dy_row, in chunks of
        // members whose input and gradient rows fit a quarter of L2 (the first chunk with
        // beta 0, the others accumulating). The kernel walks every member once per 6-row
        // block of the weight block, so unchunked it streamed all of dy from L3 that often:
        // Xeon (model 207), res2_branch2b (56×56×64, 3×3), batch 2, `cargo bench --bench ops
        // -- bwd`: 1 thread 28% → 67–74% of the FMA peak, 2 threads 31% → 44–64%.
        let kernel = |beta: f64| {
            GemmDesc::new(bc, bk, cols, T::DTYPE)
                .trans_a()
                .ld(v * bc, bk, bk)
                .output(DType::F32)
                .beta(beta)
                .batch(BatchReduce::Offsets)
                .dispatch()
        };
        let (k_first, k_more) = (kernel(0.0)?, kernel(1.0)?);
        let member_bytes = cols * (v * bc + bk) * T::DTYPE.size();
        let l2 = crate::dispatch::caps::caches().l2.max(1 << 16);
        let chunk = (l2 / 4 / member_bytes).max(1);
        let mut a_off = vec![];
        let mut b_off = vec![];
        for n in 0..self.shape.n {
            for p in 0..rows {
                a_off.push((n * cb_all * plane + p * u * self.wp * bc) as u64);
                b_off.push((n * kb_all * self.output.block_len() + p * self.q * bk) as u64);
            }
        }
        let (ys, ws) = (Shared::of(dy), Shared::of_mut(dw));
        let taps = r * s;
        self.with_padded(x, |xp| {
            let xs = Shared::of(xp);
            (0..kb_all * cbg * taps).into_par_iter().for_each(|i| {
                let (gk, rest) = (i / (cbg * taps), i % (cbg * taps));
                let (cb, tap) = (rest / taps, rest % taps);
                let (ri, si) = (tap / s, tap % s);
                let g = gk / kbg;
                let a = (g * cbg + cb) * plane + ri * dh * self.wp * bc + si * dwl * bc;
                for c0 in (0..a_off.len()).step_by(chunk) {
                    let k = if c0 == 0 { &k_first } else { &k_more };
                    // SAFETY: the offsets walk this tap's rows of the padded input and the
                    // output rows of block gk; the weight block belongs to this task.
                    unsafe {
                        let args = GemmArgs {
                            a: xs.at(a).cast_const().cast(),
                            b: ys.at(gk * self.output.block_len()).cast_const().cast(),
                            c: ws.at(gl.block(gk, cb, ri, si)).cast(),
                            a_offsets: a_off[c0..].as_ptr(),
                            b_offsets: b_off[c0..].as_ptr(),
                            batch: chunk.min(a_off.len() - c0) as u64,
                            ..GemmArgs::default()
                        };
                        k.call_raw(&args);
                    }
                }
            });
        })?;
        db.map_or(Ok(()), |db| self.bias_grad(dy, db))
    }

    /// `db[k] = Σ dy[·][k][·][·]`: a column reduction of each `[P·Q][bk]` block, accumulated
    /// over the images.
    fn bias_grad(&self, dy: &[T], db: &mut [f32]) -> Result<()> {
        check_len("db", db.len(), self.shape.k)?;
        let bk = self.output.bc;
        let pixels = self.output.h * self.output.w;
        let mut sum = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerCol, pixels, bk, T::DTYPE);
        sum.out_dtype = DType::F32;
        sum.compute_dtype = DType::F32;
        let first = sum.dispatch()?;
        let rest = ReduceDesc {
            accumulate: true,
            ..sum
        }
        .dispatch()?;
        let kb_all = self.output.cb();
        let mut blocks = vec![0f32; kb_all * bk];
        let ys = Shared::of(dy);
        blocks.par_chunks_mut(bk).enumerate().for_each(|(gk, out)| {
            for n in 0..self.shape.n {
                let k = if n == 0 { &first } else { &rest };
                // SAFETY: block gk of image n, reduced into this task's bk sums.
                unsafe {
                    crate::ops::raw::reduce(
                        k,
                        ys.at((n * kb_all + gk) * self.output.block_len()),
                        out.as_mut_ptr(),
                    )
                };
            }
        });
        for blk in 0..kb_all {
            let (c0, cnt) = self.output.channels(blk);
            db[c0..c0 + cnt].copy_from_slice(&blocks[blk * bk..][..cnt]);
        }
        Ok(())
    }
}
