//! Raw data movement of elements of any size, bit for bit: same-dtype copies (with row, column
//! and scalar broadcast), zero fill, and gathers and scatters of rows and columns.
//!
//! Rows move as bytes: 64-byte vectors, four per loop trip, and a byte-masked tail, so one
//! generator serves every dtype. Broadcast columns, scalars and zero fill store a register
//! filled once per row. Column gathers and scatters of 32- and 64-bit elements use
//! `vpgatherq*` / `vpscatterq*` on eight u64 indices at a time; scatters write lanes in index
//! order, so a repeated index keeps the highest column, as the ISA says. 8- and 16-bit columns
//! go one element at a time.

use super::asm::*;
use iced_x86::code_asm::*;

/// Where each output row's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Row `i` of the input.
    Rows {
        /// Leading dimension (elements).
        ld: usize,
    },
    /// The same input row for every output row.
    Row,
    /// Element `i` of the input, in every column.
    Col,
    /// Element 0 of the input, everywhere.
    Scalar,
    /// Zeros.
    Zero,
    /// Row `idx[i]` of the input.
    GatherRows {
        /// Leading dimension (elements).
        ld: usize,
    },
}

/// Where each row goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Row `i` of the output.
    Rows {
        /// Leading dimension (elements).
        ld: usize,
    },
    /// Row `idx[i]` of the output.
    ScatterRows {
        /// Leading dimension (elements).
        ld: usize,
    },
}

/// The argument-struct offsets of the pointers a kernel reads.
#[derive(Clone, Copy, Debug)]
pub struct ArgOffsets {
    /// The input pointer.
    pub input: usize,
    /// The output pointer.
    pub output: usize,
    /// The `u64` index array.
    pub indices: usize,
}

const TAIL: Kreg = Kreg(1);
const GATHER: Kreg = Kreg(2);
const FILL: Zmm = Zmm(0);
const UNROLL: usize = 4;

/// Registers of the row loop.
const IN: Gpr = Gpr(6);
const OUT: Gpr = Gpr(2);
const IDX: Gpr = Gpr(8);
const ROW: Gpr = Gpr(0);
const SRC: Gpr = Gpr(9);
const DST: Gpr = Gpr(1);
const COL: Gpr = Gpr(11);
const T: Gpr = Gpr(10);

/// Generates `extern "C" fn(*const UnaryArgs)` moving `rows` rows of `cols` elements of
/// `size` bytes from `src` to `dst`.
pub fn rows(
    size: usize,
    rows: usize,
    cols: usize,
    src: Source,
    dst: Dest,
    args: ArgOffsets,
) -> AsmResult<Vec<u8>> {
    let mut a = assembler()?;
    load_pointers(&mut a, args)?;
    let bytes = cols * size;
    let (vectors, tail) = (bytes / 64, bytes % 64);
    if tail > 0 {
        a.mov(T.q(), (1u64 << tail) - 1)?;
        a.kmovq(TAIL.k(), T.q())?;
    }
    let fills = matches!(src, Source::Col | Source::Scalar | Source::Zero);
    match src {
        Source::Zero => a.vpxord(FILL.z(), FILL.z(), FILL.z())?,
        Source::Scalar => broadcast(&mut a, size, ptr(IN.q()))?,
        _ => {}
    }
    a.xor(ROW.d(), ROW.d())?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    // This row's source and destination.
    match src {
        Source::Rows { ld } => row_address(&mut a, SRC, IN, ROW, ld * size)?,
        Source::GatherRows { ld } => {
            a.mov(T.q(), qword_ptr(IDX.q() + ROW.q() * 8))?;
            row_address(&mut a, SRC, IN, T, ld * size)?
        }
        Source::Row => a.mov(SRC.q(), IN.q())?,
        Source::Col => {
            a.mov(T.q(), ROW.q())?;
            scale(&mut a, T, size)?;
            broadcast(&mut a, size, ptr(IN.q() + T.q()))?
        }
        Source::Scalar | Source::Zero => {}
    }
    match dst {
        Dest::Rows { ld } => row_address(&mut a, DST, OUT, ROW, ld * size)?,
        Dest::ScatterRows { ld } => {
            a.mov(T.q(), qword_ptr(IDX.q() + ROW.q() * 8))?;
            row_address(&mut a, DST, OUT, T, ld * size)?
        }
    }
    // The row's bytes.
    let one = |a: &mut CodeAssembler, off: usize, k: Option<Kreg>| -> AsmResult<()> {
        let at = |base: Gpr| mem_masked(zmmword_ptr(base.q() + COL.q() + off as i32), k);
        if fills {
            a.vmovdqu8(at(DST), FILL.z())
        } else {
            let v = Zmm(1 + (off / 64 % UNROLL) as u8);
            a.vmovdqu8(v.masked(k, true), at(SRC))?;
            a.vmovdqu8(at(DST), v.z())
        }
    };
    a.xor(COL.d(), COL.d())?;
    let trips = vectors / UNROLL;
    if trips > 0 {
        let mut col_top = a.create_label();
        a.set_label(&mut col_top)?;
        for u in 0..UNROLL {
            one(&mut a, u * 64, None)?;
        }
        a.add(COL.q(), (UNROLL * 64) as i32)?;
        cmp_imm(&mut a, COL, trips * UNROLL * 64)?;
        a.jb(col_top)?;
    }
    for u in 0..vectors % UNROLL {
        one(&mut a, u * 64, None)?;
    }
    if tail > 0 {
        one(&mut a, (vectors % UNROLL) * 64, Some(TAIL))?;
    }
    a.inc(ROW.q())?;
    cmp_imm(&mut a, ROW, rows)?;
    a.jb(top)?;
    a.vzeroupper()?;
    a.ret()?;
    assemble(&mut a)
}

/// Which column transform [`cols`] generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColMove {
    /// `out(i, j) = in(i, idx[j])`.
    Gather,
    /// `out(i, idx[j]) = in(i, j)`.
    Scatter,
}

/// Generates `extern "C" fn(*const UnaryArgs)` gathering or scattering the columns of a
/// `rows × cols` matrix of `size`-byte elements.
#[allow(clippy::too_many_arguments)]
pub fn cols(
    mv: ColMove,
    size: usize,
    rows: usize,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
    args: ArgOffsets,
) -> AsmResult<Vec<u8>> {
    let mut a = assembler()?;
    load_pointers(&mut a, args)?;
    a.mov(ROW.q(), rows as u64)?;
    let vector = size >= 4;
    let (full, tail) = if vector {
        (cols / 8, cols % 8)
    } else {
        (cols, 0)
    };
    if tail > 0 {
        a.mov(T.d(), (1u32 << tail) - 1)?;
        a.kmovw(TAIL.k(), T.d())?;
    }
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    a.xor(COL.d(), COL.d())?;
    let step = |a: &mut CodeAssembler, k: Option<Kreg>| -> AsmResult<()> {
        if vector {
            vector_step(a, mv, size, k)
        } else {
            scalar_step(a, mv, size)
        }
    };
    if full > 0 {
        let mut col_top = a.create_label();
        a.set_label(&mut col_top)?;
        step(&mut a, None)?;
        a.add(COL.q(), if vector { 8 } else { 1 })?;
        cmp_imm(&mut a, COL, full * if vector { 8 } else { 1 })?;
        a.jb(col_top)?;
    }
    if tail > 0 {
        step(&mut a, Some(TAIL))?;
    }
    add_imm(&mut a, IN, ld_in * size, T)?;
    add_imm(&mut a, OUT, ld_out * size, T)?;
    a.dec(ROW.q())?;
    a.jnz(top)?;
    a.vzeroupper()?;
    a.ret()?;
    assemble(&mut a)
}

/// Eight columns from `COL` on (under `k`, fewer) through a gather or scatter.
fn vector_step(a: &mut CodeAssembler, mv: ColMove, size: usize, k: Option<Kreg>) -> AsmResult<()> {
    let (index, data) = (Zmm(1), Zmm(2));
    a.vmovdqu64(index.masked(k, true), zmmword_ptr(IDX.q() + COL.q() * 8))?;
    // The gather/scatter consumes its mask: set it afresh.
    match k {
        Some(k) => a.kmovw(GATHER.k(), k.k())?,
        None => a.kxnorw(GATHER.k(), GATHER.k(), GATHER.k())?,
    }
    let g = Some(GATHER);
    let mem = |base: Gpr| match size {
        4 => ptr(base.q() + index.z() * 4),
        _ => ptr(base.q() + index.z() * 8),
    };
    let plain = |base: Gpr| match size {
        4 => ptr(base.q() + COL.q() * 4),
        _ => ptr(base.q() + COL.q() * 8),
    };
    match (mv, size) {
        (ColMove::Gather, 4) => {
            a.vpgatherqd(data.y_masked(g, false), ymmword_ptr(mem(IN)))?;
            a.vmovdqu32(mem_masked(ymmword_ptr(plain(OUT)), k), data.y())
        }
        (ColMove::Gather, _) => {
            a.vpgatherqq(data.masked(g, false), zmmword_ptr(mem(IN)))?;
            a.vmovdqu64(mem_masked(zmmword_ptr(plain(OUT)), k), data.z())
        }
        (ColMove::Scatter, 4) => {
            a.vmovdqu32(data.y_masked(k, true), ymmword_ptr(plain(IN)))?;
            a.vpscatterqd(mem_masked(ymmword_ptr(mem(OUT)), g), data.y())
        }
        (ColMove::Scatter, _) => {
            a.vmovdqu64(data.masked(k, true), zmmword_ptr(plain(IN)))?;
            a.vpscatterqq(mem_masked(zmmword_ptr(mem(OUT)), g), data.z())
        }
    }
}

/// Column `COL` of an 8- or 16-bit matrix, through `ecx` (free in the column kernels).
fn scalar_step(a: &mut CodeAssembler, mv: ColMove, size: usize) -> AsmResult<()> {
    a.mov(T.q(), qword_ptr(IDX.q() + COL.q() * 8))?;
    let (from, to) = match mv {
        ColMove::Gather => (elem(IN, T, size), elem(OUT, COL, size)),
        ColMove::Scatter => (elem(IN, COL, size), elem(OUT, T, size)),
    };
    if size == 1 {
        a.movzx(ecx, byte_ptr(from))?;
        a.mov(byte_ptr(to), cl)
    } else {
        a.movzx(ecx, word_ptr(from))?;
        a.mov(word_ptr(to), cx)
    }
}

fn elem(base: Gpr, i: Gpr, size: usize) -> AsmMemoryOperand {
    match size {
        1 => ptr(base.q() + i.q()),
        _ => ptr(base.q() + i.q() * 2),
    }
}

/// Loads the input, output and index pointers of the argument struct.
fn load_pointers(a: &mut CodeAssembler, args: ArgOffsets) -> AsmResult<()> {
    a.mov(IN.q(), qword_ptr(ARG0.q() + args.input as i32))?;
    a.mov(OUT.q(), qword_ptr(ARG0.q() + args.output as i32))?;
    a.mov(IDX.q(), qword_ptr(ARG0.q() + args.indices as i32))
}

/// `FILL` = the element at `m` in every lane.
fn broadcast(a: &mut CodeAssembler, size: usize, m: AsmMemoryOperand) -> AsmResult<()> {
    let z = FILL.z();
    match size {
        1 => a.vpbroadcastb(z, byte_ptr(m)),
        2 => a.vpbroadcastw(z, word_ptr(m)),
        4 => a.vpbroadcastd(z, dword_ptr(m)),
        _ => a.vpbroadcastq(z, qword_ptr(m)),
    }
}

/// `dst = base + i·stride` (bytes).
fn row_address(a: &mut CodeAssembler, dst: Gpr, base: Gpr, i: Gpr, stride: usize) -> AsmResult<()> {
    a.mov(dst.q(), stride as u64)?;
    a.imul_2(dst.q(), i.q())?;
    a.add(dst.q(), base.q())
}

/// `reg *= size` for an element size of 1, 2, 4 or 8.
fn scale(a: &mut CodeAssembler, reg: Gpr, size: usize) -> AsmResult<()> {
    match size {
        1 => Ok(()),
        _ => a.shl(reg.q(), size.trailing_zeros()),
    }
}

/// `cmp reg, value` for any value (through `T` when it does not fit an immediate).
fn cmp_imm(a: &mut CodeAssembler, reg: Gpr, value: usize) -> AsmResult<()> {
    match i32::try_from(value) {
        Ok(v) => a.cmp(reg.q(), v),
        Err(_) => {
            a.mov(T.q(), value as u64)?;
            a.cmp(reg.q(), T.q())
        }
    }
}
