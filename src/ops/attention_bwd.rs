//! The backward pass of [`Attention`], flash style like the forward: per head, the query
//! blocks are visited in turn and, for each key block, the probabilities are recomputed from
//! the forward's statistics (`P = exp(S − m) / l`), never stored whole:
//!
//! - `dV_j += Pᵀ·dO`, `dP = dO·V_jᵀ`, `dS = P ⊙ (dP − D)` with `D = rowsum(dO ⊙ O)`,
//! - `dQ += scale·dS·K_j`, `dK_j += scale·dSᵀ·Q`,
//!
//! each product a GEMM (transposed A for the two `ᵀ` forms, f32 accumulation) and each
//! elementwise step a unary, binary or reduce kernel. A task owns a whole head (its `dK`, `dV`
//! accumulate over every query block), so tasks never share an output.

use super::aligned::AlignedVec;
use super::attention::Attention;
use super::loops::{LoopNest, LoopSpec};
use super::raw::{binary, check_len, reduce, unary, OpElem, Shared};
use crate::error::{Error, Result};
use crate::exec::GemmArgs;
use crate::isa::{
    BinaryDesc, BinaryOp, Broadcast, DType, GemmDesc, ReduceAxis, ReduceDesc, ReduceOp, UnaryDesc,
    UnaryOp,
};
use crate::{BinaryKernel, GemmKernel, ReduceKernel, UnaryKernel};
use std::sync::Mutex;

/// The kernels of one `rows × cols` block of the backward pass.
#[derive(Clone, Copy)]
struct Step {
    qk: GemmKernel,
    sub_m: BinaryKernel,
    exp: UnaryKernel,
    div_l: BinaryKernel,
    to_t: UnaryKernel,
    dv: GemmKernel,
    dp: GemmKernel,
    sub_d: BinaryKernel,
    mul_p: BinaryKernel,
    dq: GemmKernel,
    dk: GemmKernel,
}

/// Per-thread scratch: the head's transposed keys and values, its `dK`/`dV` accumulators, and
/// one block's scores, probabilities and gradients.
struct Scratch<T> {
    kt: AlignedVec<T>,
    vt: AlignedVec<T>,
    dk: AlignedVec<f32>,
    dv: AlignedVec<f32>,
    s: AlignedVec<f32>,
    p: AlignedVec<T>,
    dp: AlignedVec<f32>,
    ds: AlignedVec<T>,
    dq: AlignedVec<f32>,
    tmp: AlignedVec<f32>,
    dvec: AlignedVec<f32>,
    steps: Vec<((usize, usize), Step)>,
}

/// The gradients `backward` writes, `[B][S][H][D]` like their inputs.
pub struct AttentionGrads<'a, T> {
    /// Gradient of the queries.
    pub dq: &'a mut [T],
    /// Gradient of the keys.
    pub dk: &'a mut [T],
    /// Gradient of the values.
    pub dv: &'a mut [T],
}

impl<T: OpElem> Attention<T> {
    fn bwd_step(&self, rows: usize, cols: usize) -> Result<Step> {
        let o = self.options();
        let (d, ld, skv) = (o.head_dim, o.heads * o.head_dim, o.seq_kv);
        let (_, _, ldp, scale) = self.blocking();
        let (f, t) = (DType::F32, T::DTYPE);
        let block = |op| {
            BinaryDesc::new(op, rows, cols, f)
                .ld(ldp, 1, ldp)
                .broadcast(Broadcast::None, Broadcast::Col)
                .dispatch()
        };
        let gemm = |m, n, k| GemmDesc::new(m, n, k, t).output(f);
        Ok(Step {
            qk: gemm(rows, cols, d)
                .ld(ld, skv, ldp)
                .alpha(scale as f64)
                .beta(0.0)
                .dispatch()?,
            sub_m: block(BinaryOp::Sub)?,
            exp: UnaryDesc::new(UnaryOp::Exp, rows, cols, f)
                .ld(ldp, ldp)
                .dispatch()?,
            div_l: block(BinaryOp::Div)?,
            to_t: UnaryDesc::new(UnaryOp::Identity, rows, cols, f)
                .ld(ldp, ldp)
                .dtypes(f, f, t)
                .dispatch()?,
            dv: gemm(cols, d, rows)
                .trans_a()
                .ld(ldp, ld, d)
                .beta(1.0)
                .dispatch()?,
            dp: gemm(rows, cols, d).ld(ld, skv, ldp).beta(0.0).dispatch()?,
            sub_d: block(BinaryOp::Sub)?,
            mul_p: BinaryDesc::new(BinaryOp::Mul, rows, cols, f)
                .ld(ldp, ldp, ldp)
                .dtypes(f, f, f, t)
                .dispatch()?,
            dq: gemm(rows, d, cols)
                .ld(ldp, ld, d)
                .alpha(scale as f64)
                .beta(1.0)
                .dispatch()?,
            dk: gemm(cols, d, rows)
                .trans_a()
                .ld(ldp, ld, d)
                .alpha(scale as f64)
                .beta(1.0)
                .dispatch()?,
        })
    }

    /// `dq`, `dk`, `dv` from `dout`, given the forward's inputs, output and statistics (from
    /// [`Self::forward_train`]) and the same key lengths.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        q: &[T],
        k: &[T],
        v: &[T],
        key_lengths: Option<&[usize]>,
        out: &[T],
        stats: &[f32],
        dout: &[T],
        grads: AttentionGrads<'_, T>,
    ) -> Result<()> {
        let dense = self.options().heads * self.options().head_dim;
        if self.input_ld() != dense {
            // The gradients are written dense, and the block kernels below assume the
            // inputs are too.
            return Err(Error::desc(
                "attention",
                "input_ld",
                self.input_ld(),
                format!("heads·head_dim = {dense} for the backward pass"),
            ));
        }
        self.check(q.len(), k.len(), v.len(), key_lengths)?;
        let (lq, lkv) = self.lens();
        check_len("out", out.len(), lq)?;
        check_len("stats", stats.len(), self.stats_len())?;
        check_len("dout", dout.len(), lq)?;
        check_len("dq", grads.dq.len(), lq)?;
        check_len("dk", grads.dk.len(), lkv)?;
        check_len("dv", grads.dv.len(), lkv)?;
        let o = self.options().clone();
        let (d, ld) = (o.head_dim, o.heads * o.head_dim);
        let (bq, _, ldp, _) = self.blocking();
        let f = DType::F32;
        let transpose = UnaryDesc::new(UnaryOp::Transpose, o.seq_kv, d, T::DTYPE)
            .ld(ld, o.seq_kv)
            .dispatch()?;
        let kv_out = UnaryDesc::new(UnaryOp::Identity, o.seq_kv, d, f)
            .ld(d, ld)
            .dtypes(f, f, T::DTYPE)
            .dispatch()?;
        let rows_kernels = |rows: usize| -> Result<(BinaryKernel, ReduceKernel, UnaryKernel)> {
            Ok((
                BinaryDesc::new(BinaryOp::Mul, rows, d, T::DTYPE)
                    .ld(ld, ld, d)
                    .dtypes(T::DTYPE, T::DTYPE, f, f)
                    .dispatch()?,
                ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerRow, rows, d, f).dispatch()?,
                UnaryDesc::new(UnaryOp::Identity, rows, d, f)
                    .ld(d, ld)
                    .dtypes(f, f, T::DTYPE)
                    .dispatch()?,
            ))
        };
        let full_rows = rows_kernels(bq)?;
        let edge_rows = if !o.seq_q.is_multiple_of(bq) {
            Some(rows_kernels(o.seq_q % bq)?)
        } else {
            None
        };
        let nest = LoopNest::new(
            &[LoopSpec::new(0, o.batch, 1), LoopSpec::new(0, o.heads, 1)],
            "AB",
        )?;
        let failure = Mutex::new(None);
        let sh = |x: &[T]| Shared::of(x);
        let (qs, ks, vs, os, dos) = (sh(q), sh(k), sh(v), sh(out), sh(dout));
        let ss = Shared::of(stats);
        let (dqs, dks, dvs) = (
            Shared::of_mut(grads.dq),
            Shared::of_mut(grads.dk),
            Shared::of_mut(grads.dv),
        );
        let head_len = o.seq_kv * d;
        nest.run_with(
            |_| Scratch::<T> {
                kt: AlignedVec::filled(head_len),
                vt: AlignedVec::filled(head_len),
                dk: AlignedVec::filled(head_len),
                dv: AlignedVec::filled(head_len),
                s: AlignedVec::filled(bq * ldp),
                p: AlignedVec::filled(bq * ldp),
                dp: AlignedVec::filled(bq * ldp),
                ds: AlignedVec::filled(bq * ldp),
                dq: AlignedVec::filled(bq * d),
                tmp: AlignedVec::filled(bq * d),
                dvec: AlignedVec::filled(bq),
                steps: vec![],
            },
            |st, _, ind| {
                let (b, h) = (ind[0], ind[1]);
                let kv_len = key_lengths.map_or(o.seq_kv, |l| l[b]);
                let head = b * o.seq_kv * ld + h * d;
                st.dk.fill(0.0);
                st.dv.fill(0.0);
                // SAFETY: the head's keys and values, transposed into this thread's scratch.
                unsafe {
                    unary(&transpose, ks.at(head), st.kt.as_mut_ptr());
                    unary(&transpose, vs.at(head), st.vt.as_mut_ptr());
                }
                for i0 in (0..o.seq_q).step_by(bq) {
                    let rows = bq.min(o.seq_q - i0);
                    let rk = if rows == bq {
                        &full_rows
                    } else {
                        edge_rows.as_ref().expect("edge kernels")
                    };
                    let ctx = Ctx {
                        b,
                        h,
                        i0,
                        rows,
                        kv_len,
                        qs,
                        ks,
                        os,
                        dos,
                        ss,
                        dqs,
                    };
                    if let Err(e) = self.query_block_bwd(st, rk, &ctx) {
                        failure
                            .lock()
                            .expect("no panic holds the lock")
                            .get_or_insert(e);
                        return;
                    }
                }
                // SAFETY: head (b, h)'s rows of dk and dv, this task's alone.
                unsafe {
                    unary(&kv_out, st.dk.as_ptr(), dks.at(head));
                    unary(&kv_out, st.dv.as_ptr(), dvs.at(head));
                }
            },
            |_, _| (),
        );
        match failure.into_inner().expect("no panic holds the lock") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One block of queries of a head against its visible keys.
    fn query_block_bwd(
        &self,
        st: &mut Scratch<T>,
        (mul, sum, dq_out): &(BinaryKernel, ReduceKernel, UnaryKernel),
        c: &Ctx<T>,
    ) -> Result<()> {
        let o = self.options();
        let (d, ld) = (o.head_dim, o.heads * o.head_dim);
        let (_, bkv, ldp, _) = self.blocking();
        let off = o.seq_kv - o.seq_q.min(o.seq_kv);
        let last_key = if o.causal {
            (c.i0 + c.rows - 1 + off).min(c.kv_len - 1)
        } else {
            c.kv_len - 1
        };
        let q_at = (c.b * o.seq_q + c.i0) * ld + c.h * d;
        let stat = (c.b * o.heads + c.h) * 2 * o.seq_q + c.i0;
        st.dq.fill(0.0);
        // SAFETY: this block's rows of dO and O, and its statistics.
        unsafe {
            binary(mul, c.dos.at(q_at), c.os.at(q_at), st.tmp.as_mut_ptr());
            reduce(sum, st.tmp.as_ptr(), st.dvec.as_mut_ptr());
        }
        for j0 in (0..=last_key).step_by(bkv) {
            let cols = bkv.min(last_key + 1 - j0);
            let k = match st.steps.iter().find(|(s, _)| *s == (c.rows, cols)) {
                Some((_, k)) => *k,
                None => {
                    let k = self.bwd_step(c.rows, cols)?;
                    st.steps.push(((c.rows, cols), k));
                    k
                }
            };
            let gemm = |kern: &GemmKernel, a: *const T, b: *const T, out: *mut f32| {
                let args = GemmArgs {
                    a: a.cast(),
                    b: b.cast(),
                    c: out.cast(),
                    ..GemmArgs::default()
                };
                // SAFETY: every operand below is a block inside its tensor or scratch, of the
                // shape the kernel was made for.
                unsafe { kern.call_raw(&args) };
            };
            // P = exp(scale·Q·Kᵀ − m) / l, masked.
            gemm(
                &k.qk,
                c.qs.0.cast_const().wrapping_add(q_at),
                st.kt.as_ptr().wrapping_add(j0),
                st.s.as_mut_ptr(),
            );
            if o.causal {
                for i in 0..c.rows {
                    let first = (c.i0 + i + off + 1).saturating_sub(j0).min(cols);
                    st.s[i * ldp + first..i * ldp + cols].fill(f32::NEG_INFINITY);
                }
            }
            // SAFETY: the block's scores and the statistics of its rows.
            unsafe {
                binary(&k.sub_m, st.s.as_ptr(), c.ss.at(stat), st.s.as_mut_ptr());
                unary(&k.exp, st.s.as_ptr(), st.s.as_mut_ptr());
                binary(
                    &k.div_l,
                    st.s.as_ptr(),
                    c.ss.at(stat + o.seq_q),
                    st.s.as_mut_ptr(),
                );
                unary(&k.to_t, st.s.as_ptr(), st.p.as_mut_ptr());
            }
            let head_kv = c.b * o.seq_kv * ld + c.h * d + j0 * ld;
            let do_at = c.dos.0.cast_const().wrapping_add(q_at);
            gemm(
                &k.dv,
                st.p.as_ptr(),
                do_at,
                st.dv.as_mut_ptr().wrapping_add(j0 * d),
            );
            gemm(
                &k.dp,
                do_at,
                st.vt.as_ptr().wrapping_add(j0),
                st.dp.as_mut_ptr(),
            );
            // SAFETY: the block's gradients and D over its rows.
            unsafe {
                binary(
                    &k.sub_d,
                    st.dp.as_ptr(),
                    st.dvec.as_ptr(),
                    st.dp.as_mut_ptr(),
                );
                binary(&k.mul_p, st.dp.as_ptr(), st.s.as_ptr(), st.ds.as_mut_ptr());
            }
            gemm(
                &k.dq,
                st.ds.as_ptr(),
                c.ks.0.cast_const().wrapping_add(head_kv),
                st.dq.as_mut_ptr(),
            );
            gemm(
                &k.dk,
                st.ds.as_ptr(),
                c.qs.0.cast_const().wrapping_add(q_at),
                st.dk.as_mut_ptr().wrapping_add(j0 * d),
            );
        }
        // SAFETY: this block's rows of dq, written by this task alone.
        unsafe { unary(dq_out, st.dq.as_ptr(), c.dqs.at(q_at)) };
        Ok(())
    }
}

/// Where a query block of the backward pass reads and writes.
struct Ctx<T> {
    b: usize,
    h: usize,
    i0: usize,
    rows: usize,
    kv_len: usize,
    qs: Shared<T>,
    ks: Shared<T>,
    os: Shared<T>,
    dos: Shared<T>,
    ss: Shared<f32>,
    dqs: Shared<T>,
}
