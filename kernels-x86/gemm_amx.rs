//! AMX GEMM / BRGEMM microkernels: bf16 × bf16 (VNNI2 B) → f32 by `tdpbf16ps`, and u8/i8 ×
//! u8/i8 (VNNI4 B) → i32 by `tdpb{ss,su,us,uu}d`.
//!
//! C is covered by blocks of up to 2 × 2 tiles of 16 × 16 accumulators (32 × 32); k by steps of
//! up to 64 bytes of A per row (32 bf16, 64 int8), all of equal length when a large enough
//! divisor of k exists, else full steps and one shorter step with tiles of its own (then the
//! block is 2 × 1, 1 × 2 or 1 × 1 tiles, so that eight tile registers hold both step shapes). Edge
//! blocks (fewer rows or columns) get tile shapes of their own: the kernel walks four regions
//! (full/edge columns × full/edge rows), each under its own `ldtilecfg`, so any m, n, k run
//! with no scratch copy of the operands and no read past them.
//!
//! The kernel is general-purpose code and tile instructions only — everything vector-shaped
//! (alpha, a general beta, bias, activation, mask, conversion of C) is an AVX-512 eltwise
//! kernel from the shared lowering that the tile kernel calls on an f32 scratch block — so a
//! test-only emulator of those few instructions can run the exact bytes on CPUs without AMX.
//! With f32/i32 C, alpha 1, beta 0 or 1 and no epilogue the tiles load and store C directly.
//!
//! Loops: regions, then column blocks, then row blocks (a B panel is reused by the row blocks
//! of a column block), then the batch, then k. The configuration is loaded at every call and
//! released (`tilerelease`) before returning, so a kernel never depends on the tile state a
//! caller left and leaves none behind.

use super::amx::{TileConfig, TileDot, Tmm, TILE_ROWS, TILE_ROW_BYTES};
use super::asm::*;
use super::gemm_blocking::tile_shapes;
use super::gemm_epilogue::{call_epilogue, EpilogueRegs};
use crate::exec::GemmArgs;
use crate::isa::{BatchReduce, GemmDesc};
use iced_x86::code_asm::*;
use std::mem::offset_of;

/// How the tiles of a kernel cover C and k.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmxBlocking {
    /// The tile dot product.
    pub dot: TileDot,
    /// Tile rows of a full block (1 or 2).
    pub br: usize,
    /// Tile columns of a full block (1 or 2).
    pub bc: usize,
    /// k elements of a full step.
    pub kt: usize,
    /// Full steps per batch member (at least 1).
    pub steps: usize,
    /// k elements of the shorter last step (0: none).
    pub kr: usize,
}

impl AmxBlocking {
    /// The blocking of `d` (m, n, k ≥ 1, k a multiple of the dot's group).
    pub fn of(d: &GemmDesc, dot: TileDot) -> AmxBlocking {
        let (g, s) = (dot.group(), dot.elem_bytes());
        let kmax = TILE_ROW_BYTES / s;
        let k = d.k;
        let (kt, kr) = if k <= kmax {
            (k, 0)
        } else {
            // An equal split keeps all eight tiles for a 2 × 2 block; a step under half the
            // maximum would double the tile loads per multiply, so then split unevenly.
            let even = (1..=kmax / g)
                .rev()
                .map(|u| u * g)
                .find(|t| k.is_multiple_of(*t))
                .unwrap_or(g);
            if 2 * even >= kmax {
                (even, 0)
            } else {
                (kmax, k % kmax)
            }
        };
        let (tr, tc) = (d.m.div_ceil(TILE_ROWS), d.n.div_ceil(16));
        let (br, bc) = if kr == 0 {
            (tr.min(2), tc.min(2))
        } else if tr >= 2 && tr >= tc {
            (2, 1)
        } else if tc >= 2 {
            (1, 2)
        } else {
            (1, 1)
        };
        AmxBlocking {
            dot,
            br,
            bc,
            kt,
            steps: (k - kr) / kt,
            kr,
        }
    }

    /// Rows of a full block.
    pub fn block_rows(&self) -> usize {
        TILE_ROWS * self.br
    }
    /// Columns of a full block.
    pub fn block_cols(&self) -> usize {
        16 * self.bc
    }
    /// Every block shape `(rows, cols)` an `m × n` kernel visits.
    pub fn shapes(&self, m: usize, n: usize) -> Vec<(usize, usize)> {
        tile_shapes(m, n, self.block_rows(), self.block_cols())
    }

    /// Accumulator tile `(r, c)` of a block.
    pub fn c_tile(&self, r: usize, c: usize) -> Tmm {
        Tmm((r * self.bc + c) as u8)
    }
    /// A tile of tile row `r` (`rem`: of the shorter step).
    pub fn a_tile(&self, r: usize, rem: bool) -> Tmm {
        let first = self.br * self.bc + usize::from(rem) * (self.br + self.bc);
        Tmm((first + r) as u8)
    }
    /// B tile of tile column `c` (`rem`: of the shorter step).
    pub fn b_tile(&self, c: usize, rem: bool) -> Tmm {
        Tmm((self.a_tile(0, rem).0 as usize + self.br + c) as u8)
    }

    /// The tile configuration of a `rows × cols` block.
    pub fn config(&self, rows: usize, cols: usize) -> TileConfig {
        let (g, s) = (self.dot.group(), self.dot.elem_bytes());
        let mut cfg = TileConfig::default();
        let (hs, ws) = (split16(rows), split16(cols));
        for (r, &h) in hs.iter().enumerate() {
            for (c, &w) in ws.iter().enumerate() {
                cfg.set(self.c_tile(r, c), h, w * 4);
            }
        }
        for (rem, kk) in [(false, self.kt), (true, self.kr)] {
            if kk == 0 {
                continue;
            }
            for (r, &h) in hs.iter().enumerate() {
                cfg.set(self.a_tile(r, rem), h, kk * s);
            }
            // A VNNI row group holds `g` k of one column in 4 bytes.
            for (c, &w) in ws.iter().enumerate() {
                cfg.set(self.b_tile(c, rem), kk / g, w * 4);
            }
        }
        cfg
    }
}

/// A length of at most 32 as tile extents of at most 16.
fn split16(x: usize) -> Vec<usize> {
    if x > 16 {
        vec![16, x - 16]
    } else {
        vec![x]
    }
}

/// What the generator needs besides the descriptor.
pub struct AmxSpec<'a> {
    /// The descriptor (no transposes, B in VNNI2/VNNI4, row-major C).
    pub d: &'a GemmDesc,
    /// The blocking.
    pub blocking: AmxBlocking,
    /// The finishing kernel of each block shape `(rows, cols)`, an eltwise kernel taking
    /// [`super::gemm::EpilogueArgs`]; empty when the tiles load and store C directly.
    pub finish: Vec<((usize, usize), u64)>,
}

// Registers. Callee-saved: what lives across the finishing calls.
const ARGS: Gpr = Gpr(3); // rbx
const I0: Gpr = Gpr(5); // rbp: the block's first row
const J0: Gpr = Gpr(12); // the block's first column
const NCNT: Gpr = Gpr(13);
const MCNT: Gpr = Gpr(14);
const ABASE: Gpr = Gpr(15); // this batch member's A (stride: running)

// Caller-saved: the block's own state.
const T: Gpr = Gpr(0); // rax
const SA: Gpr = Gpr(1); // rcx: bytes per row of A
const SB: Gpr = Gpr(2); // rdx: bytes per VNNI row group of B
const BBASE: Gpr = Gpr(6); // rsi
const APTR: Gpr = Gpr(7); // rdi
const BPTR: Gpr = Gpr(8);
const KCNT: Gpr = Gpr(9);
const BI: Gpr = Gpr(10);
const CTILE: Gpr = Gpr(11);
const PUSHED: [Gpr; 6] = [ARGS, I0, J0, NCNT, MCNT, ABASE];

/// Generates `extern "C" fn(*const GemmArgs)`.
pub fn generate(spec: &AmxSpec) -> AsmResult<Vec<u8>> {
    let mut g = Gen {
        a: assembler()?,
        s: spec,
        frame: 0,
    };
    g.emit()?;
    assemble(&mut g.a)
}

struct Gen<'a> {
    a: CodeAssembler,
    s: &'a AmxSpec<'a>,
    frame: usize,
}

impl Gen<'_> {
    fn d(&self) -> &GemmDesc {
        self.s.d
    }
    fn blk(&self) -> AmxBlocking {
        self.s.blocking
    }
    fn direct(&self) -> bool {
        self.s.finish.is_empty()
    }
    /// Bytes of the f32 scratch block (rows × full block columns).
    fn scratch_bytes(&self) -> usize {
        self.blk().block_rows() * self.blk().block_cols() * 4
    }
    fn args_at(&self) -> usize {
        self.scratch_bytes().next_multiple_of(64)
    }

    fn emit(&mut self) -> AsmResult<()> {
        let d = *self.d();
        let blk = self.blk();
        for g in PUSHED {
            self.a.push(g.q())?;
        }
        if !self.direct() {
            // Entry rsp is 8 mod 16 and six pushes keep it so: the frame realigns for calls.
            let need = self.args_at() + std::mem::size_of::<super::gemm::EpilogueArgs>();
            self.frame = need.next_multiple_of(16) + 8;
            for _ in 0..self.frame / 4096 {
                self.a.sub(rsp, 4096)?;
                self.a.mov(dword_ptr(rsp), 0)?;
            }
            self.a.sub(rsp, (self.frame % 4096) as i32)?;
        }
        self.a.mov(ARGS.q(), ARG0.q())?;
        let (br, bc) = (blk.block_rows(), blk.block_cols());
        let cols_kinds = [
            (d.n / bc, bc, 0),
            (usize::from(!d.n.is_multiple_of(bc)), d.n % bc, d.n / bc),
        ];
        let rows_kinds = [
            (d.m / br, br, 0),
            (usize::from(!d.m.is_multiple_of(br)), d.m % br, d.m / br),
        ];
        let mut configs = vec![];
        for &(ncount, cols, jblk) in &cols_kinds {
            if ncount == 0 {
                continue;
            }
            for &(mcount, rows, iblk) in &rows_kinds {
                if mcount == 0 {
                    continue;
                }
                let label = self.a.create_label();
                self.a.ldtilecfg(ptr(label))?;
                configs.push((label, blk.config(rows, cols)));
                self.a.mov(J0.q(), (jblk * bc) as u64)?;
                let mut ntop = loop_top(&mut self.a, NCNT, ncount)?;
                self.a.mov(I0.q(), (iblk * br) as u64)?;
                let mut mtop = loop_top(&mut self.a, MCNT, mcount)?;
                self.block(rows, cols)?;
                if mcount > 1 {
                    self.a.add(I0.q(), br as i32)?;
                }
                loop_end(&mut self.a, MCNT, &mut mtop)?;
                if ncount > 1 {
                    self.a.add(J0.q(), bc as i32)?;
                }
                loop_end(&mut self.a, NCNT, &mut ntop)?;
            }
        }
        self.a.tilerelease()?;
        if !self.direct() {
            add_imm(&mut self.a, Gpr(4), self.frame, T)?;
        }
        for g in PUSHED.iter().rev() {
            self.a.pop(g.q())?;
        }
        self.a.ret()?;
        for (mut label, cfg) in configs {
            self.a.set_label(&mut label)?;
            self.a.db(&cfg.bytes())?;
        }
        Ok(())
    }

    /// `dst = src · factor` (`factor` fits in 32 bits: the glue checks the displacements).
    fn scaled(&mut self, dst: Gpr, src: Gpr, factor: usize) -> AsmResult<()> {
        self.a.imul_3(dst.q(), src.q(), factor as i32)
    }

    /// One block of `rows × cols` at `(I0, J0)`.
    fn block(&mut self, rows: usize, cols: usize) -> AsmResult<()> {
        let d = *self.d();
        let blk = self.blk();
        let (hs, ws) = (split16(rows).len(), split16(cols).len());
        let csz = d.c_dtype.size();
        // C at the block.
        self.a.mov(
            CTILE.q(),
            qword_ptr(ARGS.q() + offset_of!(GemmArgs, c) as i32),
        )?;
        self.scaled(T, I0, d.ldc * csz)?;
        self.a.add(CTILE.q(), T.q())?;
        self.scaled(T, J0, csz)?;
        self.a.add(CTILE.q(), T.q())?;
        let c_disp = |r: usize, c: usize| ((16 * r * d.ldc + 16 * c) * csz) as i32;
        if self.direct() && d.beta == 1.0 {
            self.a.mov(T.q(), (d.ldc * csz) as u64)?;
            for r in 0..hs {
                for c in 0..ws {
                    let m = ptr(CTILE.q() + T.q() + c_disp(r, c));
                    self.a.tileloadd(blk.c_tile(r, c).t(), m)?;
                }
            }
        } else {
            for r in 0..hs {
                for c in 0..ws {
                    self.a.tilezero(blk.c_tile(r, c).t())?;
                }
            }
        }
        self.batch(hs, ws)?;
        if self.direct() {
            self.a.mov(T.q(), (d.ldc * csz) as u64)?;
            for r in 0..hs {
                for c in 0..ws {
                    let m = ptr(CTILE.q() + T.q() + c_disp(r, c));
                    self.a.tilestored(m, blk.c_tile(r, c).t())?;
                }
            }
            return Ok(());
        }
        let row_bytes = blk.block_cols() * 4;
        self.a.mov(T.q(), row_bytes as u64)?;
        for r in 0..hs {
            for c in 0..ws {
                let m = ptr(rsp + T.q() + (16 * r * row_bytes + 64 * c) as i32);
                self.a.tilestored(m, blk.c_tile(r, c).t())?;
            }
        }
        let entry = self
            .s
            .finish
            .iter()
            .find(|(shape, _)| *shape == (rows, cols))
            .map(|&(_, e)| e)
            .expect("a finishing kernel for every block shape");
        let regs = EpilogueRegs {
            args: ARGS,
            i0: I0,
            j0: J0,
            ctile: CTILE,
            t: T,
            t2: SA,
        };
        let at = self.args_at();
        call_epilogue(&mut self.a, &d, regs, 0, at, entry)
    }

    /// The batch loop around the k steps of one block.
    fn batch(&mut self, hs: usize, ws: usize) -> AsmResult<()> {
        let d = *self.d();
        let blk = self.blk();
        let s = blk.dot.elem_bytes();
        let field = |f: usize| qword_ptr(ARGS.q() + f as i32);
        self.a.mov(ABASE.q(), field(offset_of!(GemmArgs, a)))?;
        self.a.mov(BBASE.q(), field(offset_of!(GemmArgs, b)))?;
        let looped = d.batch != BatchReduce::None;
        let mut done = self.a.create_label();
        let mut top = self.a.create_label();
        if looped {
            self.a.mov(T.q(), field(offset_of!(GemmArgs, batch)))?;
            self.a.test(T.q(), T.q())?;
            self.a.jz(done)?;
            self.a.xor(BI.d(), BI.d())?;
            self.a.set_label(&mut top)?;
        }
        match d.batch {
            BatchReduce::None | BatchReduce::Stride { .. } => {
                self.a.mov(APTR.q(), ABASE.q())?;
                self.a.mov(BPTR.q(), BBASE.q())?;
            }
            BatchReduce::Offsets => {
                for (dst, base, off) in [
                    (APTR, ABASE, offset_of!(GemmArgs, a_offsets)),
                    (BPTR, BBASE, offset_of!(GemmArgs, b_offsets)),
                ] {
                    self.a.mov(T.q(), field(off))?;
                    self.a.mov(dst.q(), qword_ptr(T.q() + BI.q() * 8))?;
                    if s > 1 {
                        self.a.shl(dst.q(), s.trailing_zeros())?;
                    }
                    self.a.add(dst.q(), base.q())?;
                }
            }
            BatchReduce::Addresses => {
                self.a.mov(APTR.q(), qword_ptr(ABASE.q() + BI.q() * 8))?;
                self.a.mov(BPTR.q(), qword_ptr(BBASE.q() + BI.q() * 8))?;
            }
        }
        // The block's rows of A and columns of B (4 bytes per column in a VNNI row group).
        self.scaled(T, I0, d.lda * s)?;
        self.a.add(APTR.q(), T.q())?;
        self.a.mov(T.q(), J0.q())?;
        self.a.shl(T.q(), 2)?;
        self.a.add(BPTR.q(), T.q())?;
        self.a.mov(SA.q(), (d.lda * s) as u64)?;
        self.a.mov(SB.q(), (d.ldb * 4) as u64)?;
        self.k_steps(hs, ws)?;
        if looped {
            if let BatchReduce::Stride { a, b } = d.batch {
                add_imm(&mut self.a, ABASE, a * s, T)?;
                add_imm(&mut self.a, BBASE, b * s, T)?;
            }
            self.a.inc(BI.q())?;
            self.a.cmp(BI.q(), field(offset_of!(GemmArgs, batch)))?;
            self.a.jb(top)?;
            self.a.set_label(&mut done)?;
        }
        Ok(())
    }

    /// The k steps of one batch member: the full steps but the last in a loop, each
    /// prefetching the next; the last full step prefetching the next member's first (where
    /// the stride says where it is); then the shorter step.
    fn k_steps(&mut self, hs: usize, ws: usize) -> AsmResult<()> {
        let d = *self.d();
        let blk = self.blk();
        let (g, s) = (blk.dot.group(), blk.dot.elem_bytes());
        let (a_step, b_step) = (blk.kt * s, blk.kt / g * d.ldb * 4);
        let next_step = Some((a_step as i64, b_step as i64));
        let done = (blk.steps - 1) as i64;
        let next_member = match d.batch {
            BatchReduce::None => None,
            BatchReduce::Stride { a, b } => Some((
                (a * s) as i64 - done * a_step as i64,
                (b * s) as i64 - done * b_step as i64,
            )),
            // Where the next member lies is known only at run time: its next k columns are
            // the best guess left.
            BatchReduce::Offsets | BatchReduce::Addresses => next_step,
        };
        let advance = |g: &mut Self| -> AsmResult<()> {
            add_imm(&mut g.a, APTR, a_step, T)?;
            add_imm(&mut g.a, BPTR, b_step, T)
        };
        if blk.steps > 1 {
            let mut top = loop_top(&mut self.a, KCNT, blk.steps - 1)?;
            self.k_step(hs, ws, false, next_step)?;
            advance(self)?;
            loop_end(&mut self.a, KCNT, &mut top)?;
        }
        self.k_step(hs, ws, false, next_member)?;
        if blk.kr > 0 {
            advance(self)?;
            self.k_step(hs, ws, true, None)?;
        }
        Ok(())
    }

    /// One k step: each A tile row against each B tile column, with prefetches (into L1,
    /// spread between the dot products) of the rows of the tiles `ahead` = (bytes from A's,
    /// bytes from B's pointer) on: a tile load gathers 16 cache lines, and from L2 their
    /// latency would stall the tile unit.
    fn k_step(
        &mut self,
        hs: usize,
        ws: usize,
        rem: bool,
        ahead: Option<(i64, i64)>,
    ) -> AsmResult<()> {
        let d = *self.d();
        let blk = self.blk();
        let (g, s) = (blk.dot.group(), blk.dot.elem_bytes());
        let mut lines = vec![];
        if let Some((da, db)) = ahead {
            let (a_row, b_row) = ((d.lda * s) as i64, (d.ldb * 4) as i64);
            for c in 0..ws as i64 {
                for q in 0..(blk.kt / g) as i64 {
                    lines.push((BPTR, db + q * b_row + 64 * c));
                }
            }
            for r in 0..hs as i64 {
                for q in 0..TILE_ROWS as i64 {
                    lines.push((APTR, da + (16 * r + q) * a_row));
                }
            }
        }
        // A displacement past 32 bits (a huge stride) is a prefetch not worth a register.
        lines.retain(|&(_, x)| i32::try_from(x).is_ok());
        let ahead = lines;
        let per_dot = ahead.len().div_ceil(hs * ws);
        let mut ahead = ahead.into_iter();
        for r in 0..hs {
            let at = ptr(APTR.q() + SA.q() + (16 * r * d.lda * s) as i32);
            self.a.tileloadd(blk.a_tile(r, rem).t(), at)?;
            for c in 0..ws {
                if r == 0 {
                    let bt = ptr(BPTR.q() + SB.q() + (64 * c) as i32);
                    self.a.tileloadd(blk.b_tile(c, rem).t(), bt)?;
                }
                blk.dot.emit(
                    &mut self.a,
                    blk.c_tile(r, c),
                    blk.a_tile(r, rem),
                    blk.b_tile(c, rem),
                )?;
                for (base, disp) in ahead.by_ref().take(per_dot) {
                    self.a.prefetcht0(byte_ptr(base.q() + disp as i32))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::DType;

    fn bf16(m: usize, n: usize, k: usize) -> AmxBlocking {
        let d = GemmDesc::new(m, n, k, DType::BF16).vnni_b();
        AmxBlocking::of(&d, TileDot::Bf16)
    }

    #[test]
    fn k_splits_evenly_when_a_large_divisor_exists() {
        let b = bf16(64, 64, 64);
        assert_eq!((b.kt, b.steps, b.kr, b.br, b.bc), (32, 2, 0, 2, 2));
        let b = bf16(64, 64, 48);
        assert_eq!((b.kt, b.steps, b.kr), (24, 2, 0));
        let b = bf16(64, 64, 20);
        assert_eq!((b.kt, b.steps, b.kr), (20, 1, 0));
    }

    #[test]
    fn an_uneven_k_gets_a_shorter_step_and_fewer_accumulators() {
        // 34 = 2 · 17: no even divisor of at least 16.
        let b = bf16(64, 64, 34);
        assert_eq!((b.kt, b.steps, b.kr), (32, 1, 2));
        assert_eq!(b.br * b.bc + 2 * (b.br + b.bc), 8);
        let cfg = b.config(32, 16);
        assert_eq!(cfg.shape(b.a_tile(1, true)), (16, 4));
        assert_eq!(cfg.shape(b.b_tile(0, true)), (1, 64));
    }

    #[test]
    fn edge_blocks_configure_only_what_they_use() {
        let b = bf16(40, 20, 32);
        assert_eq!(b.shapes(40, 20), vec![(32, 20), (8, 20)]);
        let cfg = b.config(8, 20);
        assert_eq!(cfg.shape(b.c_tile(0, 0)), (8, 64));
        assert_eq!(cfg.shape(b.c_tile(0, 1)), (8, 16));
        assert_eq!(cfg.shape(b.c_tile(1, 0)), (0, 0));
        assert_eq!(cfg.shape(b.b_tile(1, false)), (16, 16));
    }
}
