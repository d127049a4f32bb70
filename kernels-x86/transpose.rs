//! Transpose in registers, for elements of 1, 2, 4 and 8 bytes. 32-bit elements go by 16×16
//! blocks (four rounds of unpacks and 128-bit lane shuffles); 8- and 16-bit elements are
//! widened to 32 bits on load and narrowed on store around the same network (the kernel is
//! bound by memory, not by shuffles); 64-bit elements go by 8×8 blocks (three rounds).
//! Edge blocks use masked loads and stores, so any shape and leading dimension runs without
//! scratch copies.
//!
//! **Loop order.** Blocks are visited in tiles of `TILE_BYTES` of each input row: down the
//! tile's block rows for one block column, then the next block column. An output row then
//! receives `TILE_BYTES` contiguous bytes per visit (instead of one block's 16–64), so a large
//! transpose takes a fraction of the TLB misses and DRAM page switches of a plain block walk
//! (measured at 4096² f32: 512 bytes doubles the throughput of 64; 4096 halves it again).

use super::asm::*;
use iced_x86::code_asm::*;

/// Bytes of each output row written per visit (the tile's height in input rows times the
/// element size).
const TILE_BYTES: usize = 512;
/// How far ahead along each input row the block loads prefetch.
const PREFETCH_BYTES: usize = 512;

/// The block network of one element size.
#[derive(Clone, Copy)]
struct Net {
    /// Element bytes.
    size: usize,
    /// Block edge in elements (16, or 8 for 64-bit elements).
    edge: usize,
}

/// Where the loops are: input and output pointers, counters, per-block walkers and scratch.
#[derive(Clone, Copy)]
struct Regs {
    tile_in: Gpr,
    tile_out: Gpr,
    tiles: Gpr,
    col_in: Gpr,
    col_out: Gpr,
    cols: Gpr,
    blk_in: Gpr,
    blk_out: Gpr,
    rows: Gpr,
    walk: Gpr,
    scratch: Gpr,
}

/// Generates `extern "C" fn(*const UnaryArgs)` transposing a `rows × cols` matrix of `size`-byte
/// elements (`input` at `in_offset`, `output` at `out_offset` of the argument struct).
pub fn transpose(
    size: usize,
    rows: usize,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
    in_offset: usize,
    out_offset: usize,
) -> AsmResult<Vec<u8>> {
    let net = Net {
        size,
        edge: if size == 8 { 8 } else { 16 },
    };
    let g = Regs {
        tile_in: Gpr(6),
        tile_out: Gpr(2),
        tiles: Gpr(0),
        col_in: Gpr(9),
        col_out: Gpr(3),
        cols: Gpr(1),
        blk_in: Gpr(12),
        blk_out: Gpr(13),
        rows: Gpr(8),
        walk: Gpr(11),
        scratch: Gpr(10),
    };
    let mut a = assembler()?;
    for s in [g.col_out, g.blk_in, g.blk_out] {
        a.push(s.q())?;
    }
    a.mov(g.tile_in.q(), qword_ptr(ARG0.q() + in_offset as i32))?;
    a.mov(g.tile_out.q(), qword_ptr(ARG0.q() + out_offset as i32))?;
    let e = net.edge;
    let tile_rows = (TILE_BYTES / size / e).max(1);
    let full_r = rows / e;
    let edge_r = rows % e;
    let (full_tiles, left_r) = (full_r / tile_rows, full_r % tile_rows);
    let params = Walk {
        net,
        cols,
        ld_in,
        ld_out,
    };
    if full_tiles > 0 {
        a.mov(g.tiles.q(), full_tiles as u64)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        tile(&mut a, g, params, tile_rows, 0)?;
        add_imm(&mut a, g.tile_in, tile_rows * e * ld_in * size, g.scratch)?;
        add_imm(&mut a, g.tile_out, tile_rows * e * size, g.scratch)?;
        a.dec(g.tiles.q())?;
        a.jnz(top)?;
    }
    if left_r > 0 || edge_r > 0 {
        tile(&mut a, g, params, left_r, edge_r)?;
    }
    for s in [g.blk_out, g.blk_in, g.col_out] {
        a.pop(s.q())?;
    }
    a.vzeroupper()?;
    a.ret()?;
    assemble(&mut a)
}

#[derive(Clone, Copy)]
struct Walk {
    net: Net,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
}

/// One tile: `full_r` whole block rows and an edge block row of `edge_r` rows (0: none),
/// every block column.
fn tile(a: &mut CodeAssembler, g: Regs, w: Walk, full_r: usize, edge_r: usize) -> AsmResult<()> {
    let (e, s) = (w.net.edge, w.net.size);
    a.mov(g.col_in.q(), g.tile_in.q())?;
    a.mov(g.col_out.q(), g.tile_out.q())?;
    let (full_c, edge_c) = (w.cols / e, w.cols % e);
    for (count, valid_c) in [(full_c, e), (usize::from(edge_c > 0), edge_c)] {
        if count == 0 {
            continue;
        }
        a.mov(g.cols.q(), count as u64)?;
        let mut col_top = a.create_label();
        a.set_label(&mut col_top)?;
        a.mov(g.blk_in.q(), g.col_in.q())?;
        a.mov(g.blk_out.q(), g.col_out.q())?;
        if full_r > 0 {
            a.mov(g.rows.q(), full_r as u64)?;
            let mut row_top = a.create_label();
            a.set_label(&mut row_top)?;
            block(a, g, w, e, valid_c)?;
            add_imm(a, g.blk_in, e * w.ld_in * s, g.scratch)?;
            a.add(g.blk_out.q(), (e * s) as i32)?;
            a.dec(g.rows.q())?;
            a.jnz(row_top)?;
        }
        if edge_r > 0 {
            block(a, g, w, edge_r, valid_c)?;
        }
        a.add(g.col_in.q(), (e * s) as i32)?;
        add_imm(a, g.col_out, e * w.ld_out * s, g.scratch)?;
        a.dec(g.cols.q())?;
        a.jnz(col_top)?;
    }
    Ok(())
}

/// Transposes one block: `valid_r` rows of `valid_c` elements at `blk_in` to `valid_c` rows of
/// `valid_r` elements at `blk_out`.
fn block(a: &mut CodeAssembler, g: Regs, w: Walk, valid_r: usize, valid_c: usize) -> AsmResult<()> {
    let net = w.net;
    let e = net.edge;
    let r = |i: usize| Zmm(i as u8);
    let cmask = (valid_c < e).then_some(Kreg(1));
    let rmask = (valid_r < e).then_some(Kreg(2));
    for (k, valid) in [(cmask, valid_c), (rmask, valid_r)] {
        if let Some(k) = k {
            a.mov(g.scratch.d(), (1u32 << valid) - 1)?;
            a.kmovw(k.k(), g.scratch.d())?;
        }
    }
    // Load rows (missing rows are zero; they land in lanes the stores mask off).
    a.mov(g.walk.q(), g.blk_in.q())?;
    for i in 0..e {
        if i < valid_r {
            // Each input row of a tile is its own stream, more than the hardware prefetchers
            // follow: fetch a few blocks ahead by hand.
            a.prefetcht0(byte_ptr(g.walk.q() + PREFETCH_BYTES as i32))?;
            load_row(a, net, r(i), ptr(g.walk.q()), cmask)?;
            if i + 1 < valid_r {
                add_imm(a, g.walk, w.ld_in * net.size, g.scratch)?;
            }
        } else {
            a.vpxord(r(i).z(), r(i).z(), r(i).z())?;
        }
    }
    let column = if net.size == 8 {
        network64(a)?
    } else {
        network32(a)?
    };
    // Column j of the block is now in zmm(column + j): store the valid ones.
    a.mov(g.walk.q(), g.blk_out.q())?;
    for j in 0..valid_c {
        store_row(a, net, Zmm(column + j as u8), ptr(g.walk.q()), rmask)?;
        if j + 1 < valid_c {
            add_imm(a, g.walk, w.ld_out * net.size, g.scratch)?;
        }
    }
    Ok(())
}

/// One block row into `dst` as 32-bit (or 64-bit) lanes; under `k`, missing lanes are zero.
fn load_row(
    a: &mut CodeAssembler,
    net: Net,
    dst: Zmm,
    m: AsmMemoryOperand,
    k: Option<Kreg>,
) -> AsmResult<()> {
    let dz = dst.masked(k, true);
    match net.size {
        8 => a.vmovupd(dz, zmmword_ptr(m)),
        4 => a.vmovups(dz, zmmword_ptr(m)),
        2 => {
            a.vmovdqu16(dst.y_masked(k, true), ymmword_ptr(m))?;
            a.vpmovzxwd(dst.z(), dst.y())
        }
        _ => {
            a.vmovdqu8(dst.x_masked(k, true), xmmword_ptr(m))?;
            a.vpmovzxbd(dst.z(), dst.x())
        }
    }
}

/// The lanes of `src` narrowed back to the element size and stored at `m` under `k`. Narrowing
/// goes through `SCRATCH_NARROW`, which the networks leave free after their last round.
fn store_row(
    a: &mut CodeAssembler,
    net: Net,
    src: Zmm,
    m: AsmMemoryOperand,
    k: Option<Kreg>,
) -> AsmResult<()> {
    let t = SCRATCH_NARROW;
    match net.size {
        8 => a.vmovupd(mem_masked(zmmword_ptr(m), k), src.z()),
        4 => a.vmovups(mem_masked(zmmword_ptr(m), k), src.z()),
        2 => {
            a.vpmovdw(t.y(), src.z())?;
            a.vmovdqu16(mem_masked(ymmword_ptr(m), k), t.y())
        }
        _ => {
            a.vpmovdb(t.x(), src.z())?;
            a.vmovdqu8(mem_masked(xmmword_ptr(m), k), t.x())
        }
    }
}

/// Free after either network's last round (it lives among the round temporaries).
const SCRATCH_NARROW: Zmm = Zmm(31);

/// 16×16 transpose of 32-bit lanes: rows in `zmm0..16`; returns where the columns start
/// (`zmm0..16`).
fn network32(a: &mut CodeAssembler) -> AsmResult<u8> {
    let r = |i: usize| Zmm(i as u8);
    let s = |i: usize| Zmm(16 + i as u8);
    // Round 1: interleave 32-bit pairs of neighbouring rows.
    for i in (0..16).step_by(2) {
        a.vunpcklps(s(i).z(), r(i).z(), r(i + 1).z())?;
        a.vunpckhps(s(i + 1).z(), r(i).z(), r(i + 1).z())?;
    }
    // Round 2: interleave 64-bit pairs (rows four apart in groups of four).
    for g in (0..16).step_by(4) {
        a.vunpcklpd(r(g).z(), s(g).z(), s(g + 2).z())?;
        a.vunpckhpd(r(g + 1).z(), s(g).z(), s(g + 2).z())?;
        a.vunpcklpd(r(g + 2).z(), s(g + 1).z(), s(g + 3).z())?;
        a.vunpckhpd(r(g + 3).z(), s(g + 1).z(), s(g + 3).z())?;
    }
    // Round 3: even/odd 128-bit lanes of groups 0–1 and 2–3.
    for h in [0, 8] {
        for k in 0..4 {
            a.vshuff32x4(s(h + k).z(), r(h + k).z(), r(h + 4 + k).z(), 0x88)?;
            a.vshuff32x4(s(h + 4 + k).z(), r(h + k).z(), r(h + 4 + k).z(), 0xdd)?;
        }
    }
    // Round 4: even/odd lanes across the halves give whole columns.
    for k in 0..4 {
        a.vshuff32x4(r(k).z(), s(k).z(), s(8 + k).z(), 0x88)?;
        a.vshuff32x4(r(8 + k).z(), s(k).z(), s(8 + k).z(), 0xdd)?;
        a.vshuff32x4(r(4 + k).z(), s(4 + k).z(), s(12 + k).z(), 0x88)?;
        a.vshuff32x4(r(12 + k).z(), s(4 + k).z(), s(12 + k).z(), 0xdd)?;
    }
    Ok(0)
}

/// 8×8 transpose of 64-bit lanes: rows in `zmm0..8`; returns where the columns start
/// (`zmm16..24`).
fn network64(a: &mut CodeAssembler) -> AsmResult<u8> {
    let r = |i: usize| Zmm(i as u8);
    let s = |i: usize| Zmm(16 + i as u8);
    // Round 1: t(2i) = (row 2i, row 2i+1) at even columns, t(2i+1) at odd columns.
    for i in (0..8).step_by(2) {
        a.vunpcklpd(s(i).z(), r(i).z(), r(i + 1).z())?;
        a.vunpckhpd(s(i + 1).z(), r(i).z(), r(i + 1).z())?;
    }
    // Round 2: pair row pairs (0–1 with 2–3, 4–5 with 6–7): even/odd 128-bit lanes.
    for h in [0, 4] {
        for k in 0..2 {
            a.vshuff64x2(r(h + 2 * k).z(), s(h + k).z(), s(h + k + 2).z(), 0x88)?;
            a.vshuff64x2(r(h + 2 * k + 1).z(), s(h + k).z(), s(h + k + 2).z(), 0xdd)?;
        }
    }
    // Round 3: across the halves. r(0) holds columns {0, 4}, r(1) {2, 6}, r(2) {1, 5},
    // r(3) {3, 7} of rows 0–3; r(4..8) the same of rows 4–7.
    for (src, lo, hi) in [(0, 0, 4), (1, 2, 6), (2, 1, 5), (3, 3, 7)] {
        a.vshuff64x2(s(lo).z(), r(src).z(), r(src + 4).z(), 0x88)?;
        a.vshuff64x2(s(hi).z(), r(src).z(), r(src + 4).z(), 0xdd)?;
    }
    Ok(16)
}
