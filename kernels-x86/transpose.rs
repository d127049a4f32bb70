//! Layout transforms in registers: transpose of 32-bit elements by 16×16 blocks (four rounds
//! of unpacks and 128-bit lane shuffles), and VNNI2 packing of 16-bit elements (pairs of rows
//! interleaved by one two-table word permute per 32 output words). Edge blocks use masked
//! loads and stores, so any shape and leading dimension runs without scratch copies.

use super::asm::*;
use iced_x86::code_asm::*;

/// Generates `extern "C" fn(*const UnaryArgs)` transposing a `rows × cols` matrix of 32-bit
/// elements (`input` at `in_offset`, `output` at `out_offset` of the argument struct).
pub fn transpose32(
    rows: usize,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
    in_offset: usize,
    out_offset: usize,
) -> AsmResult<Vec<u8>> {
    let mut a = assembler()?;
    // rsi: input block-row base, rdx: output block-column base, r8/r9: block pointers,
    // rax/rcx: loop counters, r10: scratch.
    let (inp, out, pin, pout, bi, bj, t) =
        (Gpr(6), Gpr(2), Gpr(8), Gpr(9), Gpr(0), Gpr(1), Gpr(10));
    a.mov(inp.q(), qword_ptr(ARG0.q() + in_offset as i32))?;
    a.mov(out.q(), qword_ptr(ARG0.q() + out_offset as i32))?;
    let (full_r, edge_r) = (rows / 16, rows % 16);
    let (full_c, edge_c) = (cols / 16, cols % 16);
    // Block row loop (full block rows, then the edge block row).
    for (count, valid_r) in [(full_r, 16), (usize::from(edge_r > 0), edge_r)] {
        if count == 0 {
            continue;
        }
        a.mov(bi.q(), count as u64)?;
        let mut row_top = a.create_label();
        a.set_label(&mut row_top)?;
        a.mov(pin.q(), inp.q())?;
        a.mov(pout.q(), out.q())?;
        for (ccount, valid_c) in [(full_c, 16), (usize::from(edge_c > 0), edge_c)] {
            if ccount == 0 {
                continue;
            }
            a.mov(bj.q(), ccount as u64)?;
            let mut col_top = a.create_label();
            a.set_label(&mut col_top)?;
            block32(&mut a, pin, pout, valid_r, valid_c, ld_in, ld_out)?;
            a.add(pin.q(), 64)?;
            add_imm(&mut a, pout, 16 * ld_out * 4, t)?;
            a.dec(bj.q())?;
            a.jnz(col_top)?;
        }
        add_imm(&mut a, inp, 16 * ld_in * 4, t)?;
        a.add(out.q(), 64)?;
        a.dec(bi.q())?;
        a.jnz(row_top)?;
    }
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}

/// Transposes one block: `valid_r` rows of `valid_c` elements at `pin` to `valid_c` rows of
/// `valid_r` elements at `pout` (`r11` walks the rows, `r10` is scratch).
fn block32(
    a: &mut CodeAssembler,
    pin: Gpr,
    pout: Gpr,
    valid_r: usize,
    valid_c: usize,
    ld_in: usize,
    ld_out: usize,
) -> AsmResult<()> {
    let (t, scratch) = (Gpr(11), Gpr(10));
    let r = |i: usize| Zmm(i as u8);
    let s = |i: usize| Zmm(16 + i as u8);
    let cmask = (valid_c < 16).then_some(Kreg(1));
    let rmask = (valid_r < 16).then_some(Kreg(2));
    if let Some(k) = cmask {
        a.mov(scratch.d(), (1u32 << valid_c) - 1)?;
        a.kmovw(k.k(), scratch.d())?;
    }
    if let Some(k) = rmask {
        a.mov(scratch.d(), (1u32 << valid_r) - 1)?;
        a.kmovw(k.k(), scratch.d())?;
    }
    // Load rows (missing rows are zero; they land in lanes the stores mask off).
    a.mov(t.q(), pin.q())?;
    for i in 0..16 {
        if i < valid_r {
            a.vmovups(r(i).masked(cmask, true), zmmword_ptr(t.q()))?;
            if i + 1 < valid_r {
                add_imm(a, t, ld_in * 4, scratch)?;
            }
        } else {
            a.vpxord(r(i).z(), r(i).z(), r(i).z())?;
        }
    }
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
    // Column j of the block is now in r(j): store the valid ones.
    a.mov(t.q(), pout.q())?;
    for j in 0..valid_c {
        a.vmovups(mem_masked(zmmword_ptr(t.q()), rmask), r(j).z())?;
        if j + 1 < valid_c {
            add_imm(a, t, ld_out * 4, scratch)?;
        }
    }
    Ok(())
}

/// Generates `extern "C" fn(*const UnaryArgs)` packing a `rows × cols` matrix of 16-bit
/// elements into VNNI2 (a ragged last row pairs with zeros).
pub fn vnni2_pack16(
    rows: usize,
    cols: usize,
    ld_in: usize,
    ld_out: usize,
    in_offset: usize,
    out_offset: usize,
) -> AsmResult<Vec<u8>> {
    let mut a = assembler()?;
    let (inp, out, cnt, t) = (Gpr(6), Gpr(2), Gpr(0), Gpr(10));
    let (lo_idx, hi_idx, x, y, p, q) = (Zmm(0), Zmm(1), Zmm(2), Zmm(3), Zmm(4), Zmm(5));
    a.mov(inp.q(), qword_ptr(ARG0.q() + in_offset as i32))?;
    a.mov(out.q(), qword_ptr(ARG0.q() + out_offset as i32))?;
    // Word k of the low half is x[k/2] or y[k/2] (odd k); the high half continues at 16.
    let mut idx_lo = a.create_label();
    let mut idx_hi = a.create_label();
    a.vmovdqu16(lo_idx.z(), zmmword_ptr(idx_lo))?;
    a.vmovdqu16(hi_idx.z(), zmmword_ptr(idx_hi))?;
    let chunks = cols / 32;
    let tail = cols % 32;
    let (k_in, k_lo, k_hi) = (Kreg(1), Kreg(2), Kreg(3));
    if tail > 0 {
        let m = |n: usize| if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        a.mov(t.d(), m(tail))?;
        a.kmovd(k_in.k(), t.d())?;
        a.mov(t.d(), m(2 * tail.min(16)))?;
        a.kmovd(k_lo.k(), t.d())?;
        a.mov(t.d(), m(2 * tail.saturating_sub(16)))?;
        a.kmovd(k_hi.k(), t.d())?;
    }
    // One pair of rows: full 32-column chunks in a loop (r11 = byte offset in the input row,
    // rcx = chunks left), then the masked tail chunk.
    let (col, left) = (Gpr(11), Gpr(1));
    let chunk = |a: &mut CodeAssembler, second_row: bool, is_tail: bool| -> AsmResult<()> {
        let kin = is_tail.then_some(k_in);
        a.vmovdqu16(with_k16(x, kin), zmmword_ptr(inp.q() + col.q()))?;
        if second_row {
            a.vmovdqu16(
                with_k16(y, kin),
                zmmword_ptr(inp.q() + col.q() + (ld_in * 2) as i32),
            )?;
        } else {
            a.vpxord(y.z(), y.z(), y.z())?;
        }
        a.vmovdqa64(p.z(), lo_idx.z())?;
        a.vpermi2w(p.z(), x.z(), y.z())?;
        a.vmovdqa64(q.z(), hi_idx.z())?;
        a.vpermi2w(q.z(), x.z(), y.z())?;
        let (klo, khi) = if is_tail {
            (Some(k_lo), Some(k_hi))
        } else {
            (None, None)
        };
        a.vmovdqu16(mem_masked(zmmword_ptr(out.q() + col.q() * 2), klo), p.z())?;
        if !is_tail || tail > 16 {
            a.vmovdqu16(
                mem_masked(zmmword_ptr(out.q() + col.q() * 2 + 64), khi),
                q.z(),
            )?;
        }
        Ok(())
    };
    let pair = |a: &mut CodeAssembler, second_row: bool| -> AsmResult<()> {
        a.xor(col.d(), col.d())?;
        if chunks > 0 {
            a.mov(left.q(), chunks as u64)?;
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            chunk(a, second_row, false)?;
            a.add(col.q(), 64)?;
            a.dec(left.q())?;
            a.jnz(top)?;
        }
        if tail > 0 {
            chunk(a, second_row, true)?;
        }
        Ok(())
    };
    let pairs = rows / 2;
    if pairs > 0 {
        a.mov(cnt.q(), pairs as u64)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        pair(&mut a, true)?;
        add_imm(&mut a, inp, 2 * ld_in * 2, t)?;
        add_imm(&mut a, out, 2 * ld_out * 2, t)?;
        a.dec(cnt.q())?;
        a.jnz(top)?;
    }
    if rows % 2 == 1 {
        pair(&mut a, false)?;
    }
    a.vzeroupper()?;
    a.ret()?;
    a.set_label(&mut idx_lo)?;
    let lo: Vec<u16> = (0..32)
        .map(|k| if k % 2 == 0 { k / 2 } else { 32 + k / 2 })
        .collect();
    let hi: Vec<u16> = lo.iter().map(|i| i + 16).collect();
    a.dw(&lo)?;
    a.set_label(&mut idx_hi)?;
    a.dw(&hi)?;
    a.assemble(0)
}

/// A zmm destination of 16-bit moves under mask `k`, zeroing.
fn with_k16(z: Zmm, k: Option<Kreg>) -> AsmRegisterZmm {
    z.masked(k, true)
}
