//! AVX-512 reductions. Per row: each row's vectors are folded into a few accumulators (to
//! hide latency), which are combined and then folded across lanes. Per column: blocks of up to
//! sixteen column vectors are folded down all rows.
//! NaN propagates through max, min and absmax as the ISA requires.

use super::asm::*;
use super::convert;
use crate::exec::ReduceArgs;
use crate::isa::{DType, ReduceAxis, ReduceDesc, ReduceOp};
use iced_x86::code_asm::*;
use std::mem::offset_of;

const LANES: usize = 16;
const TAIL: Kreg = Kreg(1);
const LANE0: Kreg = Kreg(2);
const KSCRATCH: Kreg = Kreg(7);
/// Accumulators per row fold (latency hiding); per-column folds use up to 16 (`acc(0..16)`,
/// or `acc(0..8)` and `acc2(0..8)` for the sum with the sum of squares).
const ACCS: u8 = 4;
const X: Zmm = Zmm(20);
const T: Zmm = Zmm(21);
const SCRATCH: Zmm = Zmm(22);
const IDENTITY: Zmm = Zmm(23);
const ABS: Zmm = Zmm(24);

fn acc(i: u8) -> Zmm {
    Zmm(i)
}
fn acc2(i: u8) -> Zmm {
    Zmm(8 + i)
}

/// Per-column reductions of inputs larger than this (bytes, about L2) walk the rows in order
/// through a stack scratch of column partials (`per_col_panels`): a walk down a column block
/// steps a page per row, which defeats the prefetchers once the data comes from memory.
const PANEL_ABOVE: usize = 1 << 20;
/// Columns of one panel: long contiguous row segments keep the prefetchers streaming (at
/// 4096² f32, 512 columns reach 30% of a plain read, 4096 over 60%); the partials (16 KiB,
/// 32 KiB with the sums of squares) stay in L1 or L2.
const PANEL_COLS: usize = 4096;
/// Rows folded per visit of the partials (a quarter of the scratch traffic).
const ROW_BLOCK: usize = 4;

struct Gen<'a> {
    a: CodeAssembler,
    d: &'a ReduceDesc,
}

/// Generates `extern "C" fn(*const ReduceArgs)`.
/// `None` for dtypes other than f32/bf16/f16 or a compute dtype other than f32.
pub fn generate(d: &ReduceDesc) -> Option<AsmResult<Vec<u8>>> {
    let port = |t: DType| matches!(t, DType::F32 | DType::BF16 | DType::F16);
    let fits = |bytes: usize| bytes <= i32::MAX as usize / 2;
    if d.compute_dtype != DType::F32
        || !port(d.in_dtype)
        || !port(d.out_dtype)
        || !fits(d.cols * 8)
        || !fits(d.ld_in * d.in_dtype.size())
        || !fits(d.rows * 8)
    {
        return None;
    }
    Some((|| {
        let mut g = Gen { a: assembler()?, d };
        g.emit()?;
        assemble(&mut g.a)
    })())
}

impl Gen<'_> {
    fn identity_bits(&self) -> u32 {
        match self.d.op {
            ReduceOp::Max => f32::NEG_INFINITY.to_bits(),
            ReduceOp::Min => f32::INFINITY.to_bits(),
            _ => 0,
        }
    }

    /// `acc = max/min(acc, x)` with NaN propagation.
    fn max_min(&mut self, acc: Zmm, x: Zmm, max: bool) -> AsmResult<()> {
        max_min_nan(&mut self.a, acc, acc, x, max, KSCRATCH)
    }

    /// Folds the f32 vector `x` into accumulator `i` (both sets for sum and sum of squares).
    fn fold(&mut self, i: u8, x: Zmm) -> AsmResult<()> {
        match self.d.op {
            ReduceOp::Sum => self.a.vaddps(acc(i).z(), acc(i).z(), x.z()),
            ReduceOp::SumSq => self.a.vfmadd231ps(acc(i).z(), x.z(), x.z()),
            ReduceOp::SumAndSumSq => {
                self.a.vaddps(acc(i).z(), acc(i).z(), x.z())?;
                self.a.vfmadd231ps(acc2(i).z(), x.z(), x.z())
            }
            ReduceOp::Max => self.max_min(acc(i), x, true),
            ReduceOp::Min => self.max_min(acc(i), x, false),
            ReduceOp::AbsMax => {
                self.a.vpandd(x.z(), x.z(), ABS.z())?;
                self.max_min(acc(i), x, true)
            }
        }
    }

    /// Combines two partial results `r += s` (for each set).
    fn combine(&mut self, r: Zmm, s: Zmm) -> AsmResult<()> {
        match self.d.op {
            ReduceOp::Sum | ReduceOp::SumSq | ReduceOp::SumAndSumSq => {
                self.a.vaddps(r.z(), r.z(), s.z())
            }
            ReduceOp::Min => self.max_min(r, s, false),
            ReduceOp::Max | ReduceOp::AbsMax => self.max_min(r, s, true),
        }
    }

    fn reset(&mut self, n: u8) -> AsmResult<()> {
        for i in 0..n {
            self.a.vmovaps(acc(i).z(), IDENTITY.z())?;
            if self.d.op == ReduceOp::SumAndSumSq {
                self.a.vmovaps(acc2(i).z(), IDENTITY.z())?;
            }
        }
        Ok(())
    }

    /// Loads 16 lanes at `m` (inactive tail lanes take the fold's identity) and folds them.
    fn load_fold(&mut self, i: u8, m: AsmMemoryOperand, tail: bool) -> AsmResult<()> {
        if tail {
            convert::load(&mut self.a, X, self.d.in_dtype, m, Some(TAIL))?;
            // Zero-filled lanes become the identity (they are zero only for sums).
            self.a.knotw(KSCRATCH.k(), TAIL.k())?;
            self.a
                .vmovaps(X.masked(Some(KSCRATCH), false), IDENTITY.z())?;
        } else {
            convert::load(&mut self.a, X, self.d.in_dtype, m, None)?;
        }
        self.fold(i, X)
    }

    fn emit(&mut self) -> AsmResult<()> {
        let d = self.d;
        // rsi = input, rdx = output, rax = row counter / column-block counter, rcx = column.
        let (inp, out, cnt, col, rowp) = (Gpr(6), Gpr(2), Gpr(0), Gpr(1), Gpr(8));
        let (input, output) = (
            offset_of!(ReduceArgs, input),
            offset_of!(ReduceArgs, output),
        );
        self.a.mov(inp.q(), qword_ptr(ARG0.q() + input as i32))?;
        self.a.mov(out.q(), qword_ptr(ARG0.q() + output as i32))?;
        self.a.mov(eax, self.identity_bits())?;
        self.a.vpbroadcastd(IDENTITY.z(), eax)?;
        self.a.mov(eax, 0x7fff_ffffu32)?;
        self.a.vpbroadcastd(ABS.z(), eax)?;
        self.a.mov(eax, 1u32)?;
        self.a.kmovw(LANE0.k(), eax)?;
        let rem = d.cols % LANES;
        if rem != 0 {
            self.a.mov(eax, (1u32 << rem) - 1)?;
            self.a.kmovw(TAIL.k(), eax)?;
        }
        match d.axis {
            ReduceAxis::PerRow => self.per_row(inp, out, cnt, col)?,
            ReduceAxis::PerCol if d.rows * d.ld_in * d.in_dtype.size() > PANEL_ABOVE => {
                self.per_col_panels(inp, out, cnt, rowp)?
            }
            ReduceAxis::PerCol => self.per_col(inp, out, cnt, rowp)?,
        }
        self.a.vzeroupper()?;
        self.a.ret()
    }

    fn elem(&self, base: Gpr, idx: Gpr, e: usize) -> AsmMemoryOperand {
        let disp = (e * self.d.in_dtype.size()) as i32;
        match self.d.in_dtype.size() {
            2 => ptr(base.q() + idx.q() * 2 + disp),
            _ => ptr(base.q() + idx.q() * 4 + disp),
        }
    }

    /// Folds `prior` into `r` when accumulating, then stores the lanes under `k` at `m`.
    fn finish(
        &mut self,
        r: Zmm,
        m: AsmMemoryOperand,
        k: Option<Kreg>,
        single: bool,
    ) -> AsmResult<()> {
        if self.d.accumulate {
            if single {
                convert::broadcast(&mut self.a, X, self.d.out_dtype, m)?;
            } else {
                convert::load(&mut self.a, X, self.d.out_dtype, m, k)?;
            }
            self.combine(r, X)?;
        }
        convert::store(&mut self.a, r, self.d.out_dtype, m, k, SCRATCH)
    }

    fn per_row(&mut self, inp: Gpr, out: Gpr, rows: Gpr, col: Gpr) -> AsmResult<()> {
        let d = self.d;
        let osize = d.out_dtype.size() as i32;
        let full = d.cols / LANES;
        let unroll = (ACCS as usize).min(full.max(1));
        let iters = full / unroll;
        self.a.xor(rows.d(), rows.d())?;
        let mut top = self.a.create_label();
        self.a.set_label(&mut top)?;
        self.reset(unroll as u8)?;
        self.a.xor(col.d(), col.d())?;
        if iters > 0 {
            let mut inner = self.a.create_label();
            self.a.set_label(&mut inner)?;
            for u in 0..unroll {
                let m = self.elem(inp, col, u * LANES);
                self.load_fold(u as u8, m, false)?;
            }
            self.a.add(col.q(), (unroll * LANES) as i32)?;
            self.a.cmp(col.q(), (iters * unroll * LANES) as i32)?;
            self.a.jb(inner)?;
        }
        for v in 0..full % unroll {
            let m = self.elem(inp, col, v * LANES);
            self.load_fold(v as u8, m, false)?;
        }
        if !d.cols.is_multiple_of(LANES) {
            let m = self.elem(inp, col, (full % unroll) * LANES);
            self.load_fold(0, m, true)?;
        }
        for set in [false, true] {
            if set && d.op != ReduceOp::SumAndSumSq {
                continue;
            }
            let r = |i| if set { acc2(i) } else { acc(i) };
            for i in 1..unroll as u8 {
                self.combine(r(0), r(i))?;
            }
            // Across lanes: 256-bit halves, 128-bit quarters, pairs, neighbours.
            for (shuf, imm) in [(true, 0x4e), (true, 0xb1), (false, 0x4e), (false, 0xb1)] {
                if shuf {
                    self.a.vshuff32x4(T.z(), r(0).z(), r(0).z(), imm)?;
                } else {
                    self.a.vpermilps(T.z(), r(0).z(), imm)?;
                }
                self.a.vmovaps(SCRATCH.z(), T.z())?;
                self.combine(r(0), SCRATCH)?;
            }
            let base = if set { d.rows as i32 * osize } else { 0 };
            let m = match osize {
                2 => ptr(out.q() + rows.q() * 2 + base),
                _ => ptr(out.q() + rows.q() * 4 + base),
            };
            self.finish(r(0), m, Some(LANE0), true)?;
        }
        self.a.add(inp.q(), (d.ld_in * d.in_dtype.size()) as i32)?;
        self.a.inc(rows.q())?;
        self.a.cmp(rows.q(), d.rows as i32)?;
        self.a.jb(top)
    }

    fn per_col(&mut self, inp: Gpr, out: Gpr, rows: Gpr, rowp: Gpr) -> AsmResult<()> {
        let d = self.d;
        let (isize, osize) = (d.in_dtype.size(), d.out_dtype.size());
        // Column blocks as wide as the accumulators allow (16 vectors, 8 when two sets are
        // kept), so the rows are walked few times. Full blocks run in a loop (code size does
        // not grow with the width); the last, partial block is emitted once.
        let width = if d.op == ReduceOp::SumAndSumSq { 8 } else { 16 };
        let full_blocks = d.cols / (width * LANES);
        let rest = d.cols.div_ceil(LANES) - full_blocks * width;
        let blocks = Gpr(9);
        if full_blocks > 0 {
            self.a.mov(blocks.q(), full_blocks as u64)?;
            let mut top = self.a.create_label();
            self.a.set_label(&mut top)?;
            self.col_block(inp, out, rows, rowp, width, false)?;
            self.a.add(inp.q(), (width * LANES * isize) as i32)?;
            self.a.add(out.q(), (width * LANES * osize) as i32)?;
            self.a.dec(blocks.q())?;
            self.a.jnz(top)?;
        }
        if rest > 0 {
            self.col_block(inp, out, rows, rowp, rest, !d.cols.is_multiple_of(LANES))?;
        }
        Ok(())
    }

    /// Folds `n` column vectors starting at `inp` down every row and stores them at `out`
    /// (the last vector partial when `tail`).
    fn col_block(
        &mut self,
        inp: Gpr,
        out: Gpr,
        rows: Gpr,
        rowp: Gpr,
        n: usize,
        tail: bool,
    ) -> AsmResult<()> {
        let d = self.d;
        let (isize, osize) = (d.in_dtype.size(), d.out_dtype.size());
        self.reset(n as u8)?;
        self.a.mov(rowp.q(), inp.q())?;
        self.a.mov(rows.q(), d.rows as u64)?;
        let mut top = self.a.create_label();
        self.a.set_label(&mut top)?;
        for u in 0..n {
            let t = tail && u == n - 1;
            self.load_fold(u as u8, ptr(rowp.q() + (u * LANES * isize) as i32), t)?;
        }
        self.a.add(rowp.q(), (d.ld_in * isize) as i32)?;
        self.a.dec(rows.q())?;
        self.a.jnz(top)?;
        for u in 0..n {
            let k = (tail && u == n - 1).then_some(TAIL);
            let j = (u * LANES * osize) as i32;
            self.finish(acc(u as u8), ptr(out.q() + j), k, false)?;
            if d.op == ReduceOp::SumAndSumSq {
                // The sums of squares follow the `cols` sums.
                let j2 = j + (d.cols * osize) as i32;
                self.finish(acc2(u as u8), ptr(out.q() + j2), k, false)?;
            }
        }
        Ok(())
    }

    /// Per-column reduction of a large input: for each panel of up to `PANEL_COLS` columns,
    /// every row's panel segment (contiguous, so prefetched) is folded into f32 partials on
    /// the stack, which are finished into `out` after the last row. The fold order down each
    /// column is the same as `per_col`'s.
    fn per_col_panels(&mut self, inp: Gpr, out: Gpr, rows: Gpr, rowp: Gpr) -> AsmResult<()> {
        let d = self.d;
        let sets = if d.op == ReduceOp::SumAndSumSq { 2 } else { 1 };
        let panel_bytes = PANEL_COLS * 4;
        let frame = (sets * panel_bytes).next_multiple_of(4096);
        // Grow the stack a page at a time so that no guard page is stepped over.
        for _ in 0..frame / 4096 {
            self.a.sub(rsp, 4096)?;
            self.a.mov(dword_ptr(rsp), 0)?;
        }
        let (isize, osize) = (d.in_dtype.size(), d.out_dtype.size());
        let col = Gpr(9);
        let full_panels = d.cols / PANEL_COLS;
        let last = d.cols % PANEL_COLS;
        let panels = Gpr(10);
        let panel = |g: &mut Self, cols: usize| -> AsmResult<()> {
            let vectors = cols.div_ceil(LANES);
            let tail = !cols.is_multiple_of(LANES);
            // Partials start at the identity.
            g.vector_loop(col, vectors, false, |g, e, _| {
                for set in 0..sets {
                    let m = g.scratch(col, e, set);
                    g.a.vmovups(zmmword_ptr(m), IDENTITY.z())?;
                }
                Ok(())
            })?;
            // Every row, in order: `ROW_BLOCK` rows per visit of the partials, then the rest.
            let step = d.ld_in * isize;
            let block = if (ROW_BLOCK * step) < i32::MAX as usize / 2 {
                ROW_BLOCK
            } else {
                1
            };
            g.a.mov(rowp.q(), inp.q())?;
            for (count, n) in [(d.rows / block, block), (d.rows % block, 1)] {
                if count == 0 {
                    continue;
                }
                g.a.mov(rows.q(), count as u64)?;
                let mut top = g.a.create_label();
                g.a.set_label(&mut top)?;
                g.vector_loop(col, vectors, tail, |g, e, t| {
                    let slot = (e / LANES % ACCS as usize) as u8;
                    g.a.vmovups(acc(slot).z(), zmmword_ptr(g.scratch(col, e, 0)))?;
                    if sets == 2 {
                        g.a.vmovups(acc2(slot).z(), zmmword_ptr(g.scratch(col, e, 1)))?;
                    }
                    for r in 0..n {
                        let m = g.elem(rowp, col, e) + (r * step) as i32;
                        g.load_fold(slot, m, t)?;
                    }
                    g.a.vmovups(zmmword_ptr(g.scratch(col, e, 0)), acc(slot).z())?;
                    if sets == 2 {
                        g.a.vmovups(zmmword_ptr(g.scratch(col, e, 1)), acc2(slot).z())?;
                    }
                    Ok(())
                })?;
                add_imm(&mut g.a, rowp, n * step, Gpr(11))?;
                g.a.dec(rows.q())?;
                g.a.jnz(top)?;
            }
            // Finish into the output.
            g.vector_loop(col, vectors, tail, |g, e, t| {
                let k = t.then_some(TAIL);
                for set in 0..sets {
                    g.a.vmovups(acc(0).z(), zmmword_ptr(g.scratch(col, e, set)))?;
                    // The sums of squares follow the `cols` sums.
                    let disp = ((set * d.cols + e) * osize) as i32;
                    let m = match osize {
                        2 => ptr(out.q() + col.q() * 2 + disp),
                        _ => ptr(out.q() + col.q() * 4 + disp),
                    };
                    g.finish(acc(0), m, k, false)?;
                }
                Ok(())
            })
        };
        if full_panels > 0 {
            self.a.mov(panels.q(), full_panels as u64)?;
            let mut top = self.a.create_label();
            self.a.set_label(&mut top)?;
            panel(self, PANEL_COLS)?;
            self.a.add(inp.q(), (PANEL_COLS * isize) as i32)?;
            self.a.add(out.q(), (PANEL_COLS * osize) as i32)?;
            self.a.dec(panels.q())?;
            self.a.jnz(top)?;
        }
        if last > 0 {
            panel(self, last)?;
        }
        add_imm(&mut self.a, Gpr(4), frame, Gpr(11))
    }

    /// The scratch partial of column `col + e` of set `set`.
    fn scratch(&self, col: Gpr, e: usize, set: usize) -> AsmMemoryOperand {
        ptr(rsp + col.q() * 4 + ((set * PANEL_COLS + e) * 4) as i32)
    }

    /// Runs `body(e, tail)` for `vectors` column vectors (`col` counts elements): four a trip in
    /// a loop, the rest straight, the last one masked when `tail`.
    fn vector_loop(
        &mut self,
        col: Gpr,
        vectors: usize,
        tail: bool,
        mut body: impl FnMut(&mut Self, usize, bool) -> AsmResult<()>,
    ) -> AsmResult<()> {
        let whole = vectors - usize::from(tail);
        let unroll = ACCS as usize;
        let trips = whole / unroll;
        self.a.xor(col.d(), col.d())?;
        if trips > 0 {
            let mut top = self.a.create_label();
            self.a.set_label(&mut top)?;
            for u in 0..unroll {
                body(self, u * LANES, false)?;
            }
            self.a.add(col.q(), (unroll * LANES) as i32)?;
            self.a.cmp(col.q(), (trips * unroll * LANES) as i32)?;
            self.a.jb(top)?;
        }
        for v in 0..whole % unroll {
            body(self, v * LANES, false)?;
        }
        if tail {
            body(self, (whole % unroll) * LANES, true)?;
        }
        Ok(())
    }
}
