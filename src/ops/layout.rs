//! Blocked tensors: the layouts the operators' BRGEMM calls read, and their conversions from and
//! to the plain layouts users hold. Every conversion is a loop over tpp layout kernels
//! (`Transpose`, `VnniPack`/`VnniUnpack`, `Identity` copies), one kernel call per block, in
//! parallel over blocks.
//!
//! - Activations ([`ActLayout`]): `[N][CB][H][W][bc]`. Channel blocks never straddle a group
//!   of a grouped convolution: each of the `groups` groups of `C/groups` channels has
//!   `⌈(C/groups)/bc⌉` blocks, `CB` in all, and the lanes of a ragged last block are zero.
//! - Weights ([`WeightLayout`]): `[G·KB][CB][R][S][bc][bk]` (per group `KB = ⌈(K/G)/bk⌉`,
//!   `CB = ⌈(C/G)/bc⌉`), or with VNNI2 (bf16 B operands) `[..][bc/2][bk][2]`. A
//!   fully-connected weight is the case `R = S = G = 1`: `[KB][CB][bc][bk]` from a row-major
//!   `[out][in]` matrix. Padding lanes are zero, so they add nothing to any sum.

use super::raw::{check_len, fits, unary, OpElem, Shared};
use crate::error::{Error, Result};
use crate::isa::{DType, Layout, UnaryDesc, UnaryOp};
use crate::UnaryKernel;
use rayon::prelude::*;

/// A layout kernel for `rows × cols` of `dtype` with the given leading dimensions.
fn xform(
    op: UnaryOp,
    rows: usize,
    cols: usize,
    ld: (usize, usize),
    dtype: DType,
) -> Result<UnaryKernel> {
    UnaryDesc::new(op, rows, cols, dtype)
        .ld(ld.0, ld.1)
        .dispatch()
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("layout", field, value, allowed)
}

/// A block size for `channels` channels (per group): the channels themselves when few (rounded
/// up to even for bf16, whose dot products take pairs), else the largest of 64, 32, 16 that
/// divides them, else 64 with a padded last block.
pub fn default_block(channels: usize, dtype: DType) -> usize {
    let even = |b: usize| {
        if dtype.size() == 2 {
            b.next_multiple_of(2)
        } else {
            b
        }
    };
    if channels <= 64 {
        return even(channels.max(1));
    }
    [64, 32, 16]
        .into_iter()
        .find(|b| channels.is_multiple_of(*b))
        .unwrap_or(64)
}

/// Blocked activations `[N][CB][H][W][bc]` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActLayout {
    /// Batch.
    pub n: usize,
    /// Channels (all groups).
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Groups whose channels are blocked separately.
    pub groups: usize,
    /// Channels per block.
    pub bc: usize,
}

/// Which plain layout a conversion reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plain {
    Nchw,
    Nhwc,
}

impl ActLayout {
    /// Validates the shape (every size at least 1, channels divisible by the groups).
    pub fn new(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        groups: usize,
        bc: usize,
    ) -> Result<ActLayout> {
        for (f, v) in [
            ("n", n),
            ("c", c),
            ("h", h),
            ("w", w),
            ("groups", groups),
            ("bc", bc),
        ] {
            if v == 0 {
                return Err(bad(f, 0, "at least 1"));
            }
        }
        if !c.is_multiple_of(groups) {
            return Err(bad("c", c, format!("a multiple of groups = {groups}")));
        }
        let l = ActLayout {
            n,
            c,
            h,
            w,
            groups,
            bc,
        };
        fits("layout", "size", &[n, c, h, w])?;
        fits(
            "layout",
            "size",
            &[n, groups, l.blocks_per_group(), h, w, bc],
        )?;
        Ok(l)
    }
    /// Channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Blocks per group.
    pub fn blocks_per_group(&self) -> usize {
        self.cg().div_ceil(self.bc)
    }
    /// Channel blocks in all.
    pub fn cb(&self) -> usize {
        self.groups * self.blocks_per_group()
    }
    /// Elements of one `[H][W][bc]` block.
    pub fn block_len(&self) -> usize {
        self.h * self.w * self.bc
    }
    /// Elements of the blocked tensor.
    pub fn len(&self) -> usize {
        self.n * self.cb() * self.block_len()
    }
    /// Whether the tensor is empty (never, for a validated layout).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements of the plain tensor.
    pub fn plain_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    /// First channel and channel count of block `b`.
    pub fn channels(&self, b: usize) -> (usize, usize) {
        let (g, l) = (b / self.blocks_per_group(), b % self.blocks_per_group());
        let c0 = l * self.bc;
        (g * self.cg() + c0, self.bc.min(self.cg() - c0))
    }

    /// NCHW → blocked.
    pub fn from_nchw<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        self.convert(Plain::Nchw, true, src, dst)
    }
    /// Blocked → NCHW.
    pub fn to_nchw<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        self.convert(Plain::Nchw, false, src, dst)
    }
    /// NHWC → blocked.
    pub fn from_nhwc<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        self.convert(Plain::Nhwc, true, src, dst)
    }
    /// Blocked → NHWC.
    pub fn to_nhwc<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        self.convert(Plain::Nhwc, false, src, dst)
    }

    /// One kernel call per `(n, block)`: NCHW blocks are `count × HW` slabs transposed to
    /// `HW × bc`; NHWC blocks are `HW × count` column ranges copied.
    fn convert<T: OpElem>(
        &self,
        plain: Plain,
        to_blocked: bool,
        src: &[T],
        dst: &mut [T],
    ) -> Result<()> {
        let (blocked_len, plain_len) = (self.len(), self.plain_len());
        let (need_src, need_dst) = if to_blocked {
            (plain_len, blocked_len)
        } else {
            (blocked_len, plain_len)
        };
        check_len("src", src.len(), need_src)?;
        check_len("dst", dst.len(), need_dst)?;
        let hw = self.h * self.w;
        let kernel = |count: usize| -> Result<UnaryKernel> {
            match (plain, to_blocked) {
                (Plain::Nchw, true) => {
                    xform(UnaryOp::Transpose, count, hw, (hw, self.bc), T::DTYPE)
                }
                (Plain::Nchw, false) => {
                    xform(UnaryOp::Transpose, hw, count, (self.bc, hw), T::DTYPE)
                }
                (Plain::Nhwc, true) => {
                    xform(UnaryOp::Identity, hw, count, (self.c, self.bc), T::DTYPE)
                }
                (Plain::Nhwc, false) => {
                    xform(UnaryOp::Identity, hw, count, (self.bc, self.c), T::DTYPE)
                }
            }
        };
        let full = kernel(self.bc.min(self.cg()))?;
        let edge = self.cg() % self.bc;
        let edge = if edge > 0 { Some(kernel(edge)?) } else { None };
        let (s, d) = (Shared::of(src), Shared::of_mut(dst));
        let blocks = self.cb();
        (0..self.n * blocks).into_par_iter().for_each(|nb| {
            let (n, b) = (nb / blocks, nb % blocks);
            let (c0, count) = self.channels(b);
            let k = if count < self.bc.min(self.cg()) {
                edge.as_ref().expect("edge kernel")
            } else {
                &full
            };
            let blk = nb * self.block_len();
            let at = match plain {
                Plain::Nchw => (n * self.c + c0) * hw,
                Plain::Nhwc => n * hw * self.c + c0,
            };
            // SAFETY: block `nb` and the plain channels of block `b` of image `n` lie inside the
            // checked slices; each task writes only its own block (or its own channels).
            unsafe {
                if to_blocked {
                    if count < self.bc {
                        std::slice::from_raw_parts_mut(d.at(blk), self.block_len())
                            .fill(T::default());
                    }
                    unary(k, s.at(at), d.at(blk));
                } else {
                    unary(k, s.at(blk), d.at(at));
                }
            }
        });
        Ok(())
    }
}

/// Blocked weights `[G·KB][CB][R][S][bc][bk]`, VNNI2 `[..][bc/2][bk][2]` for bf16 B operands
/// (see the module docs). Plain weights are `[K][C/G][R][S]` (KCRS, PyTorch's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightLayout {
    /// Output channels (all groups).
    pub k: usize,
    /// Input channels (all groups).
    pub c: usize,
    /// Filter height.
    pub r: usize,
    /// Filter width.
    pub s: usize,
    /// Groups.
    pub groups: usize,
    /// Input channels per block.
    pub bc: usize,
    /// Output channels per block.
    pub bk: usize,
    /// Blocks in VNNI2 order (pairs of input channels interleaved).
    pub vnni2: bool,
}

impl WeightLayout {
    /// Validates the shape.
    pub fn new(
        k: usize,
        c: usize,
        (r, s): (usize, usize),
        groups: usize,
        (bc, bk): (usize, usize),
        vnni2: bool,
    ) -> Result<WeightLayout> {
        for (f, v) in [
            ("k", k),
            ("c", c),
            ("r", r),
            ("s", s),
            ("groups", groups),
            ("bc", bc),
            ("bk", bk),
        ] {
            if v == 0 {
                return Err(bad(f, 0, "at least 1"));
            }
        }
        if !k.is_multiple_of(groups) || !c.is_multiple_of(groups) {
            return Err(bad(
                "groups",
                groups,
                format!("a divisor of k = {k} and c = {c}"),
            ));
        }
        if vnni2 && !bc.is_multiple_of(2) {
            return Err(bad("bc", bc, "even for VNNI2 weights"));
        }
        let l = WeightLayout {
            k,
            c,
            r,
            s,
            groups,
            bc,
            bk,
            vnni2,
        };
        fits("layout", "size", &[k, l.cg(), r, s])?;
        fits("layout", "size", &[groups, l.kbg(), l.cbg(), r, s, bc, bk])?;
        Ok(l)
    }
    /// A fully-connected weight `[KB][CB][bc][bk]` from row-major `[k][c]` (`[out][in]`).
    pub fn fc(k: usize, c: usize, bc: usize, bk: usize, vnni2: bool) -> Result<WeightLayout> {
        WeightLayout::new(k, c, (1, 1), 1, (bc, bk), vnni2)
    }
    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Output channels per group.
    pub fn kg(&self) -> usize {
        self.k / self.groups
    }
    /// Input-channel blocks per group.
    pub fn cbg(&self) -> usize {
        self.cg().div_ceil(self.bc)
    }
    /// Output-channel blocks per group.
    pub fn kbg(&self) -> usize {
        self.kg().div_ceil(self.bk)
    }
    /// Elements of one `bc × bk` block.
    pub fn block_len(&self) -> usize {
        self.bc * self.bk
    }
    /// Elements of the blocked tensor.
    pub fn len(&self) -> usize {
        self.groups * self.kbg() * self.cbg() * self.r * self.s * self.block_len()
    }
    /// Whether the tensor is empty (never, for a validated layout).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements of the plain `[K][C/G][R][S]` tensor.
    pub fn plain_len(&self) -> usize {
        self.k * self.cg() * self.r * self.s
    }
    /// Element offset of block `(gk, cb, r, s)` (`gk` counts output blocks over all groups).
    pub fn block(&self, gk: usize, cb: usize, r: usize, s: usize) -> usize {
        (((gk * self.cbg() + cb) * self.r + r) * self.s + s) * self.block_len()
    }
    /// The layout of the transposed weights the backward-data pass reads:
    /// `[G·CB][KB][R][S][bk][bc]` (input and output channels swap roles), in VNNI2 when these
    /// are.
    pub fn transposed(&self) -> Result<WeightLayout> {
        WeightLayout::new(
            self.c,
            self.k,
            (self.r, self.s),
            self.groups,
            (self.bk, self.bc),
            self.vnni2,
        )
    }

    /// The per-block walk shared by the conversions: for each block, its output channels
    /// `(k0, kcount)` and input channels `(c0, ccount)` within the group, and its filter tap.
    fn for_blocks(&self, f: impl Fn(usize, (usize, usize), (usize, usize), usize) + Sync) {
        let (kbg, cbg, rs) = (self.kbg(), self.cbg(), self.r * self.s);
        let total = self.groups * kbg * cbg * rs;
        (0..total).into_par_iter().for_each(|i| {
            let (gk, rest) = (i / (cbg * rs), i % (cbg * rs));
            let (cb, tap) = (rest / rs, rest % rs);
            let (g, kb) = (gk / kbg, gk % kbg);
            let k0 = g * self.kg() + kb * self.bk;
            let c0 = cb * self.bc;
            f(
                i * self.block_len(),
                (k0, self.bk.min(self.kg() - kb * self.bk)),
                (c0, self.bc.min(self.cg() - c0)),
                tap,
            );
        });
    }

    /// Plain `[K][C/G][R][S]` → blocked: per output channel, a transpose of its `C/G × RS`
    /// slab to tap-major `[RS][K][C/G]`; then per block a transpose of the `kcount × ccount`
    /// tile to `bc × bk` (and a VNNI2 pack).
    pub fn from_kcrs<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        check_len("src", src.len(), self.plain_len())?;
        check_len("dst", dst.len(), self.len())?;
        if self.vnni2 && !T::VNNI2 {
            return Err(bad(
                "vnni2",
                true,
                format!("false for {} weights", T::DTYPE),
            ));
        }
        let (cg, kk) = (self.cg(), self.k);
        let tmp = self.tap_major(src)?;
        let tmp = Shared::of(tmp.as_deref().unwrap_or(src));
        let d = Shared::of_mut(dst);
        let pack = if self.vnni2 {
            Some(xform(
                UnaryOp::VnniPack {
                    layout: Layout::Vnni2,
                },
                self.bc,
                self.bk,
                (self.bk, self.bk),
                T::DTYPE,
            )?)
        } else {
            None
        };
        // Kernels per tile shape (at most four: full and ragged in each direction).
        let shapes =
            self.tile_kernels(|kc, cc| xform(UnaryOp::Transpose, kc, cc, (cg, self.bk), T::DTYPE))?;
        self.for_blocks(|at, (k0, kc), (c0, cc), tap| {
            let k = shapes.get(kc, cc);
            let full = kc == self.bk && cc == self.bc;
            // SAFETY: the source tile lies in the tap-major copy, the block in `dst`; blocks
            // are disjoint across tasks.
            unsafe {
                let from = tmp.at((tap * kk + k0) * cg + c0);
                match &pack {
                    None => {
                        if !full {
                            std::slice::from_raw_parts_mut(d.at(at), self.block_len())
                                .fill(T::default());
                        }
                        unary(k, from, d.at(at));
                    }
                    Some(p) => {
                        let mut t = vec![T::default(); self.block_len()];
                        unary(k, from, t.as_mut_ptr());
                        unary(p, t.as_ptr(), d.at(at));
                    }
                }
            }
        });
        Ok(())
    }

    /// Blocked (not VNNI2) → plain `[K][C/G][R][S]`: the inverse of [`Self::from_kcrs`]
    /// (padding lanes are dropped).
    pub fn to_kcrs<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        check_len("src", src.len(), self.len())?;
        check_len("dst", dst.len(), self.plain_len())?;
        if self.vnni2 {
            return Err(bad(
                "vnni2",
                true,
                "false: gradients and plain copies are unpacked",
            ));
        }
        let (rs, cg, kk) = (self.r * self.s, self.cg(), self.k);
        let mut tmp = if rs == 1 {
            None
        } else {
            Some(vec![T::default(); self.plain_len()])
        };
        let t = match tmp.as_mut() {
            Some(v) => Shared::of_mut(v),
            None => Shared::of_mut(dst),
        };
        let s = Shared::of(src);
        let shapes =
            self.tile_kernels(|kc, cc| xform(UnaryOp::Transpose, cc, kc, (self.bk, cg), T::DTYPE))?;
        self.for_blocks(|at, (k0, kc), (c0, cc), tap| {
            // SAFETY: each block fills its own tile of the tap-major tensor.
            unsafe {
                unary(
                    shapes.get(kc, cc),
                    s.at(at),
                    t.at((tap * kk + k0) * cg + c0),
                )
            };
        });
        if let Some(tmp) = tmp {
            let back = xform(UnaryOp::Transpose, rs, cg, (kk * cg, rs), T::DTYPE)?;
            let (t, d) = (Shared::of(&tmp), Shared::of_mut(dst));
            (0..kk).into_par_iter().for_each(|k| {
                // SAFETY: channel k's `RS × C/G` slab of the tap-major copy, and its own
                // `C/G × RS` slab of `dst`.
                unsafe { unary(&back, t.at(k * cg), d.at(k * cg * rs)) };
            });
        }
        Ok(())
    }

    /// `[K][C/G][RS]` → `[RS][K][C/G]` (`None` when `RS = 1`, where the two coincide).
    fn tap_major<T: OpElem>(&self, src: &[T]) -> Result<Option<Vec<T>>> {
        let (rs, cg, kk) = (self.r * self.s, self.cg(), self.k);
        if rs == 1 {
            return Ok(None);
        }
        let mut tmp = vec![T::default(); self.plain_len()];
        let k = xform(UnaryOp::Transpose, cg, rs, (rs, kk * cg), T::DTYPE)?;
        let (s, t) = (Shared::of(src), Shared::of_mut(&mut tmp));
        (0..kk).into_par_iter().for_each(|o| {
            // SAFETY: channel o's slab, written to its own columns of every tap's row.
            unsafe { unary(&k, s.at(o * cg * rs), t.at(o * cg)) };
        });
        Ok(Some(tmp))
    }

    /// Kernels for the (at most four) tile shapes `kcount × ccount` the blocks have.
    fn tile_kernels(
        &self,
        make: impl Fn(usize, usize) -> Result<UnaryKernel>,
    ) -> Result<TileKernels> {
        let (kf, cf) = (self.bk.min(self.kg()), self.bc.min(self.cg()));
        let (ke, ce) = (self.kg() % self.bk, self.cg() % self.bc);
        let mut list = vec![];
        for kc in [kf, ke] {
            for cc in [cf, ce] {
                if kc > 0 && cc > 0 && !list.iter().any(|(s, _)| *s == (kc, cc)) {
                    list.push(((kc, cc), make(kc, cc)?));
                }
            }
        }
        Ok(TileKernels(list))
    }

    /// Blocked → the [`Self::transposed`] layout (each `bc × bk` block transposed to
    /// `bk × bc`, through VNNI2 unpack and pack when the weights are VNNI2).
    pub fn transpose_into<T: OpElem>(&self, src: &[T], dst: &mut [T]) -> Result<()> {
        let tl = self.transposed()?;
        check_len("src", src.len(), self.len())?;
        check_len("dst", dst.len(), tl.len())?;
        let (bc, bk) = (self.bc, self.bk);
        let tr = xform(UnaryOp::Transpose, bc, bk, (bk, bc), T::DTYPE)?;
        let vnni = if self.vnni2 {
            let v = Layout::Vnni2;
            Some((
                xform(
                    UnaryOp::VnniUnpack { layout: v },
                    bc,
                    bk,
                    (bk, bk),
                    T::DTYPE,
                )?,
                xform(UnaryOp::VnniPack { layout: v }, bk, bc, (bc, bc), T::DTYPE)?,
            ))
        } else {
            None
        };
        let (kbg, cbg, rs) = (self.kbg(), self.cbg(), self.r * self.s);
        let (s, d) = (Shared::of(src), Shared::of_mut(dst));
        (0..self.groups * kbg * cbg * rs)
            .into_par_iter()
            .for_each(|i| {
                let (gk, rest) = (i / (cbg * rs), i % (cbg * rs));
                let (cb, tap) = (rest / rs, rest % rs);
                let (g, kb) = (gk / kbg, gk % kbg);
                let to = (((g * cbg + cb) * kbg + kb) * rs + tap) * self.block_len();
                // SAFETY: block i of the source and its own block of the transposed tensor.
                unsafe {
                    match &vnni {
                        None => unary(&tr, s.at(i * self.block_len()), d.at(to)),
                        Some((unpack, pack)) => {
                            let mut a = vec![T::default(); self.block_len()];
                            let mut b = vec![T::default(); self.block_len()];
                            unary(unpack, s.at(i * self.block_len()), a.as_mut_ptr());
                            unary(&tr, a.as_ptr(), b.as_mut_ptr());
                            unary(pack, b.as_ptr(), d.at(to));
                        }
                    }
                }
            });
        Ok(())
    }
}

/// Layout kernels by tile shape.
struct TileKernels(Vec<((usize, usize), UnaryKernel)>);

impl TileKernels {
    fn get(&self, kc: usize, cc: usize) -> &UnaryKernel {
        &self
            .0
            .iter()
            .find(|(s, _)| *s == (kc, cc))
            .expect("a kernel per tile shape")
            .1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    fn seq(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 + 1.0).collect()
    }

    #[test]
    fn activations_round_trip_and_land_where_documented() {
        for (c, groups, bc) in [(5, 1, 2), (6, 2, 2), (6, 3, 4), (8, 1, 8), (7, 7, 1)] {
            let l = ActLayout::new(2, c, 3, 2, groups, bc).unwrap();
            let nchw = seq(l.plain_len());
            let mut blk = vec![f32::NAN; l.len()];
            l.from_nchw(&nchw, &mut blk).unwrap();
            for n in 0..2 {
                for b in 0..l.cb() {
                    let (c0, cnt) = l.channels(b);
                    for hw in 0..6 {
                        for lane in 0..bc {
                            let got = blk[(n * l.cb() + b) * l.block_len() + hw * bc + lane];
                            let want = if lane < cnt {
                                nchw[(n * c + c0 + lane) * 6 + hw]
                            } else {
                                0.0
                            };
                            assert_eq!(got, want);
                        }
                    }
                }
            }
            let mut back = vec![f32::NAN; l.plain_len()];
            l.to_nchw(&blk, &mut back).unwrap();
            assert_eq!(back, nchw);
            let mut nhwc = vec![f32::NAN; l.plain_len()];
            l.to_nhwc(&blk, &mut nhwc).unwrap();
            let mut blk2 = vec![f32::NAN; l.len()];
            l.from_nhwc(&nhwc, &mut blk2).unwrap();
            assert_eq!(blk, blk2);
            assert_eq!(nhwc[1], nchw[6]); // (n 0, h 0, w 0, c 1)
        }
    }

    #[test]
    fn weights_round_trip_and_transpose() {
        for (k, c, rs, g, bc, bk) in [
            (4, 6, (3, 3), 1, 4, 2),
            (6, 4, (1, 2), 2, 2, 2),
            (5, 3, (1, 1), 1, 2, 4),
        ] {
            let l = WeightLayout::new(k, c, rs, g, (bc, bk), false).unwrap();
            let plain = seq(l.plain_len());
            let mut blk = vec![f32::NAN; l.len()];
            l.from_kcrs(&plain, &mut blk).unwrap();
            // Element (k=ko, c=ci, r, s) of group 0 at block (ko/bk, ci/bc, r, s), lane (ci%bc, ko%bk).
            let (cg, taps) = (l.cg(), rs.0 * rs.1);
            for ko in 0..l.kg() {
                for ci in 0..cg {
                    for tap in 0..taps {
                        let at = l.block(ko / bk, ci / bc, tap / rs.1, tap % rs.1)
                            + (ci % bc) * bk
                            + ko % bk;
                        assert_eq!(blk[at], plain[(ko * cg + ci) * taps + tap]);
                    }
                }
            }
            let mut back = vec![f32::NAN; l.plain_len()];
            l.to_kcrs(&blk, &mut back).unwrap();
            assert_eq!(back, plain);
            // The transposed layout holds Wᵀ: converting it back gives the [C][K/G] view.
            let t = l.transposed().unwrap();
            let mut tb = vec![f32::NAN; t.len()];
            l.transpose_into(&blk, &mut tb).unwrap();
            let mut tplain = vec![f32::NAN; t.plain_len()];
            t.to_kcrs(&tb, &mut tplain).unwrap();
            let kg = l.kg();
            for gi in 0..g {
                for ci in 0..cg {
                    for ko in 0..kg {
                        for tap in 0..taps {
                            let want = plain[((gi * kg + ko) * cg + ci) * taps + tap];
                            assert_eq!(tplain[((gi * cg + ci) * kg + ko) * taps + tap], want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bf16_weights_pack_vnni2() {
        let l = WeightLayout::fc(3, 4, 4, 4, true).unwrap();
        let plain: Vec<bf16> = seq(12).into_iter().map(bf16::from_f32).collect();
        let mut blk = vec![bf16::NAN; l.len()];
        l.from_kcrs(&plain, &mut blk).unwrap();
        // VNNI2: (c, k) at (c/2)·2·bk + 2k + c%2; W[k][c] = plain[k·4 + c]; k = 3 is padding.
        for c in 0..4 {
            for k in 0..4 {
                let want = if k < 3 { plain[k * 4 + c] } else { bf16::ZERO };
                assert_eq!(blk[(c / 2) * 8 + 2 * k + c % 2], want);
            }
        }
        assert!(WeightLayout::fc(3, 4, 3, 4, true).is_err());
    }
}
