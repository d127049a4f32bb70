//! VNNI packing and unpacking (`Layout::Vnni2` / `Vnni4`) of 8-, 16- and 32-bit elements.
//!
//! A VNNI group (the `f` elements of one column in `f` consecutive rows) is one 16-, 32- or
//! 64-bit lane. Packing zero-extends a chunk of each of the `f` rows into such lanes, shifts
//! row `r` up by `r` elements and ors them; unpacking shifts each row's element down and
//! narrows the lanes back with a truncating move. One shift and one or (or narrow) per row
//! and 64 output bytes: the kernels are bound by memory, and one generator serves every
//! element size and factor instead of one shuffle table each.

use super::asm::*;
use iced_x86::code_asm::*;

/// Which way the data goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// Row-major in, VNNI out (a ragged last group is padded with zeros).
    Pack,
    /// VNNI in, row-major out.
    Unpack,
}

/// Element size and VNNI factor: the lane is `size·factor` bytes.
#[derive(Clone, Copy)]
struct Shape {
    size: usize,
    factor: usize,
}

impl Shape {
    fn lane(self) -> usize {
        self.size * self.factor
    }
    /// Lanes (= columns) per 64-byte vector.
    fn lanes(self) -> usize {
        64 / self.lane()
    }
}

/// Generates `extern "C" fn(*const UnaryArgs)` packing (or unpacking) a `rows × cols` matrix of
/// `size`-byte elements to (from) the VNNI layout of `factor`. `None` for combinations with no
/// lane type (a lane wider than 64 bits).
#[allow(clippy::too_many_arguments)]
pub fn generate(
    dir: Direction,
    size: usize,
    factor: usize,
    rows: usize,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
    in_offset: usize,
    out_offset: usize,
) -> Option<AsmResult<Vec<u8>>> {
    let sh = Shape { size, factor };
    if !matches!(sh.lane(), 2 | 4 | 8) || !matches!(size, 1 | 2 | 4) {
        return None;
    }
    Some(emit(
        dir, sh, rows, cols, ld_in, ld_out, in_offset, out_offset,
    ))
}

/// The tail chunk's mask: `cols % lanes` bits, both for its elements in a row-major row and
/// for its lanes on the packed side.
const TAIL: Kreg = Kreg(1);
const ACC: Zmm = Zmm(0);
const TMP: Zmm = Zmm(1);
const NARROW: Zmm = Zmm(2);

#[allow(clippy::too_many_arguments)]
fn emit(
    dir: Direction,
    sh: Shape,
    rows: usize,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
    in_offset: usize,
    out_offset: usize,
) -> AsmResult<Vec<u8>> {
    let mut a = assembler()?;
    let (inp, out, groups, chunks, col, t) = (Gpr(6), Gpr(2), Gpr(0), Gpr(1), Gpr(11), Gpr(10));
    a.mov(inp.q(), qword_ptr(ARG0.q() + in_offset as i32))?;
    a.mov(out.q(), qword_ptr(ARG0.q() + out_offset as i32))?;
    let lanes = sh.lanes();
    let (full, tail) = (cols / lanes, cols % lanes);
    if tail > 0 {
        a.mov(t.q(), (1u64 << tail) - 1)?;
        a.kmovq(TAIL.k(), t.q())?;
    }
    // Byte steps: the row-major side moves `ld·size` per row, the packed side `ld·lane` per group.
    let (row_ld, packed_ld) = match dir {
        Direction::Pack => (ld_in, ld_out),
        Direction::Unpack => (ld_out, ld_in),
    };
    let row_step = row_ld * sh.size;
    let group_step = packed_ld * sh.lane();
    let (row_reg, packed_reg) = match dir {
        Direction::Pack => (inp, out),
        Direction::Unpack => (out, inp),
    };
    let ctx = Ctx {
        dir,
        sh,
        row_reg,
        packed_reg,
        col,
        row_step,
    };
    let group = |a: &mut CodeAssembler, present: usize| -> AsmResult<()> {
        a.xor(col.d(), col.d())?;
        if full > 0 {
            a.mov(chunks.q(), full as u64)?;
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            ctx.chunk(a, present, None)?;
            a.add(col.q(), (lanes * sh.size) as i32)?;
            a.dec(chunks.q())?;
            a.jnz(top)?;
        }
        if tail > 0 {
            ctx.chunk(a, present, Some(()))?;
        }
        Ok(())
    };
    let whole = rows / sh.factor;
    if whole > 0 {
        a.mov(groups.q(), whole as u64)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        group(&mut a, sh.factor)?;
        add_imm(&mut a, row_reg, sh.factor * row_step, t)?;
        add_imm(&mut a, packed_reg, group_step, t)?;
        a.dec(groups.q())?;
        a.jnz(top)?;
    }
    if !rows.is_multiple_of(sh.factor) {
        group(&mut a, rows % sh.factor)?;
    }
    a.vzeroupper()?;
    a.ret()?;
    assemble(&mut a)
}

struct Ctx {
    dir: Direction,
    sh: Shape,
    /// Row-major base of the group's first row, and the packed base of the group.
    row_reg: Gpr,
    packed_reg: Gpr,
    /// Byte offset of the chunk in a row-major row (`col·size`; `col·lane` on the packed side).
    col: Gpr,
    row_step: usize,
}

impl Ctx {
    /// The row-major address of row `r` of the group at the chunk.
    fn row_mem(&self, r: usize) -> AsmMemoryOperand {
        ptr(self.row_reg.q() + self.col.q() + (r * self.row_step) as i32)
    }
    /// The packed address of the chunk.
    fn packed_mem(&self) -> AsmMemoryOperand {
        let base = self.packed_reg.q();
        match self.sh.factor {
            2 => ptr(base + self.col.q() * 2),
            _ => ptr(base + self.col.q() * 4),
        }
    }

    /// One chunk of `lanes` columns of the group, of which `present` rows exist; `tail` masks
    /// it to the last `cols % lanes` columns.
    fn chunk(&self, a: &mut CodeAssembler, present: usize, tail: Option<()>) -> AsmResult<()> {
        let k = tail.map(|_| TAIL);
        let bits = (self.sh.size * 8) as u32;
        match self.dir {
            Direction::Pack => {
                for r in 0..present {
                    let dst = if r == 0 { ACC } else { TMP };
                    self.widen(a, dst, self.row_mem(r), k)?;
                    if r > 0 {
                        self.shift(a, TMP, TMP, r as u32 * bits, true)?;
                        a.vpord(ACC.z(), ACC.z(), TMP.z())?;
                    }
                }
                self.lane_store(a, mem_masked(zmmword_ptr(self.packed_mem()), k), ACC)
            }
            Direction::Unpack => {
                self.lane_load(a, ACC, zmmword_ptr(self.packed_mem()), k)?;
                for r in 0..present {
                    let src = if r == 0 {
                        ACC
                    } else {
                        self.shift(a, TMP, ACC, r as u32 * bits, false)?;
                        TMP
                    };
                    self.narrow(a, src, self.row_mem(r), k)?;
                }
                Ok(())
            }
        }
    }

    /// `dst` = one row chunk zero-extended into lanes (masked: missing columns are zero).
    fn widen(
        &self,
        a: &mut CodeAssembler,
        dst: Zmm,
        m: AsmMemoryOperand,
        k: Option<Kreg>,
    ) -> AsmResult<()> {
        let z = dst.z();
        let (size, lane) = (self.sh.size, self.sh.lane());
        if k.is_some() {
            // Masked byte/word/dword load first (fault-suppressing), then widen in registers.
            match (size, lane) {
                (1, 2) => a.vmovdqu8(dst.y_masked(k, true), ymmword_ptr(m))?,
                (1, _) => a.vmovdqu8(dst.x_masked(k, true), xmmword_ptr(m))?,
                (2, 4) => a.vmovdqu16(dst.y_masked(k, true), ymmword_ptr(m))?,
                (2, _) => a.vmovdqu16(dst.x_masked(k, true), xmmword_ptr(m))?,
                _ => a.vmovdqu32(dst.y_masked(k, true), ymmword_ptr(m))?,
            }
            match (size, lane) {
                (1, 2) => a.vpmovzxbw(z, dst.y()),
                (1, _) => a.vpmovzxbd(z, dst.x()),
                (2, 4) => a.vpmovzxwd(z, dst.y()),
                (2, _) => a.vpmovzxwq(z, dst.x()),
                _ => a.vpmovzxdq(z, dst.y()),
            }
        } else {
            match (size, lane) {
                (1, 2) => a.vpmovzxbw(z, ymmword_ptr(m)),
                (1, _) => a.vpmovzxbd(z, xmmword_ptr(m)),
                (2, 4) => a.vpmovzxwd(z, ymmword_ptr(m)),
                (2, _) => a.vpmovzxwq(z, xmmword_ptr(m)),
                _ => a.vpmovzxdq(z, ymmword_ptr(m)),
            }
        }
    }

    /// The lanes of `src` truncated to the element size, stored at `m` under `k`.
    fn narrow(
        &self,
        a: &mut CodeAssembler,
        src: Zmm,
        m: AsmMemoryOperand,
        k: Option<Kreg>,
    ) -> AsmResult<()> {
        let (n, z) = (NARROW, src.z());
        match (self.sh.size, self.sh.lane()) {
            (1, 2) => {
                a.vpmovwb(n.y(), z)?;
                a.vmovdqu8(mem_masked(ymmword_ptr(m), k), n.y())
            }
            (1, _) => {
                a.vpmovdb(n.x(), z)?;
                a.vmovdqu8(mem_masked(xmmword_ptr(m), k), n.x())
            }
            (2, 4) => {
                a.vpmovdw(n.y(), z)?;
                a.vmovdqu16(mem_masked(ymmword_ptr(m), k), n.y())
            }
            (2, _) => {
                a.vpmovqw(n.x(), z)?;
                a.vmovdqu16(mem_masked(xmmword_ptr(m), k), n.x())
            }
            _ => {
                a.vpmovqd(n.y(), z)?;
                a.vmovdqu32(mem_masked(ymmword_ptr(m), k), n.y())
            }
        }
    }

    /// `dst = src << bits` (or `>>`, logical) in lanes.
    fn shift(
        &self,
        a: &mut CodeAssembler,
        dst: Zmm,
        src: Zmm,
        bits: u32,
        left: bool,
    ) -> AsmResult<()> {
        let (d, s) = (dst.z(), src.z());
        match (self.sh.lane(), left) {
            (2, true) => a.vpsllw(d, s, bits),
            (2, false) => a.vpsrlw(d, s, bits),
            (4, true) => a.vpslld(d, s, bits),
            (4, false) => a.vpsrld(d, s, bits),
            (_, true) => a.vpsllq(d, s, bits),
            (_, false) => a.vpsrlq(d, s, bits),
        }
    }

    /// Stores the packed lanes of `src` (the memory operand carries the lane mask).
    fn lane_store(&self, a: &mut CodeAssembler, m: AsmMemoryOperand, src: Zmm) -> AsmResult<()> {
        match self.sh.lane() {
            2 => a.vmovdqu16(m, src.z()),
            4 => a.vmovdqu32(m, src.z()),
            _ => a.vmovdqu64(m, src.z()),
        }
    }

    /// Loads packed lanes; under `k`, missing lanes are zero.
    fn lane_load(
        &self,
        a: &mut CodeAssembler,
        dst: Zmm,
        m: AsmMemoryOperand,
        k: Option<Kreg>,
    ) -> AsmResult<()> {
        let d = dst.masked(k, true);
        match self.sh.lane() {
            2 => a.vmovdqu16(d, m),
            4 => a.vmovdqu32(d, m),
            _ => a.vmovdqu64(d, m),
        }
    }
}
