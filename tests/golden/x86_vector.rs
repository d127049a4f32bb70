//! Golden cases of the vector instructions as the generators use them: moves, conversions and
//! broadcasts, arithmetic with embedded broadcasts (from memory and from the constant pool),
//! compares, shuffles, opmask logic, gathers and scatters.

use super::x86::{c, with_data, zk, X86};
use iced_x86::code_asm::*;
use tpp::kernels_x86::asm::{mem_masked, Kreg, Zmm};

/// Every vector case of this file.
pub fn cases() -> Vec<X86> {
    [moves(), conversions(), arithmetic(), masks_and_gathers()]
        .into_iter()
        .flatten()
        .collect()
}

/// Vector moves: whole, masked (merge and zero), narrow EVEX forms, every element size.
fn moves() -> Vec<X86> {
    vec![
        c("vmovups zmm5, zmmword ptr [rax]", |a| {
            a.vmovups(zmm5, zmmword_ptr(rax))
        }),
        c("vmovups zmm17, zmmword ptr [r9+0x40]", |a| {
            a.vmovups(zmm17, zmmword_ptr(r9 + 0x40))
        }),
        c("vmovups zmm3, zmmword ptr [r10+0x1000]", |a| {
            a.vmovups(zmm3, zmmword_ptr(r10 + 0x1000))
        }),
        c("vmovups zmm3, zmmword ptr [r10+0x44]", |a| {
            a.vmovups(zmm3, zmmword_ptr(r10 + 0x44))
        }),
        c("vmovups zmm2, zmmword ptr [r13+0x80]", |a| {
            a.vmovups(zmm2, zmmword_ptr(r13 + 0x80))
        }),
        c("vmovups zmm2, zmmword ptr [r12]", |a| {
            a.vmovups(zmm2, zmmword_ptr(r12))
        }),
        c("vmovups zmm20{k1}{z}, zmmword ptr [rsi+r11*4+0x80]", |a| {
            a.vmovups(zk(20, 1, true), zmmword_ptr(rsi + r11 * 4 + 0x80))
        }),
        c("vmovups zmm0, zmmword ptr [rsp+rcx*4+0x400]", |a| {
            a.vmovups(zmm0, zmmword_ptr(rsp + rcx * 4 + 0x400))
        }),
        c("vmovups zmmword ptr [rsp+rcx*4+0x440], zmm1", |a| {
            a.vmovups(zmmword_ptr(rsp + rcx * 4 + 0x440), zmm1)
        }),
        c("vmovups zmmword ptr [rsp+0x100], zmm27", |a| {
            a.vmovups(zmmword_ptr(rsp + 0x100), zmm27)
        }),
        c("vmovups zmmword ptr [r8+0xc0], zmm31", |a| {
            a.vmovups(zmmword_ptr(r8 + 0xc0), zmm31)
        }),
        c("vmovups zmmword ptr [rdx+r11*4+0x40]{k1}, zmm4", |a| {
            a.vmovups(
                mem_masked(zmmword_ptr(rdx + r11 * 4 + 0x40), Some(Kreg(1))),
                zmm4,
            )
        }),
        c("{evex} vmovups ymm18, ymmword ptr [rcx+0x20]", |a| {
            a.evex().vmovups(ymm18, ymmword_ptr(rcx + 0x20))
        }),
        c("{evex} vmovups ymm2, ymmword ptr [rcx+0x20]", |a| {
            a.evex().vmovups(ymm2, ymmword_ptr(rcx + 0x20))
        }),
        c("{evex} vmovups xmm25, xmmword ptr [r11+0x10]", |a| {
            a.evex().vmovups(xmm25, xmmword_ptr(r11 + 0x10))
        }),
        c("{evex} vmovups ymmword ptr [r10+0x60], ymm7", |a| {
            a.evex().vmovups(ymmword_ptr(r10 + 0x60), ymm7)
        }),
        c("{evex} vmovups xmmword ptr [r10], xmm30", |a| {
            a.evex().vmovups(xmmword_ptr(r10), xmm30)
        }),
        c("vmovupd zmm9{k1}{z}, zmmword ptr [rbx+0x40]", |a| {
            a.vmovupd(zk(9, 1, true), zmmword_ptr(rbx + 0x40))
        }),
        c("vmovupd zmm9, zmmword ptr [rbx]", |a| {
            a.vmovupd(zmm9, zmmword_ptr(rbx))
        }),
        c("vmovupd zmmword ptr [r15+0x80]{k1}, zmm16", |a| {
            a.vmovupd(mem_masked(zmmword_ptr(r15 + 0x80), Some(Kreg(1))), zmm16)
        }),
        c("vmovupd zmmword ptr [r15], zmm16", |a| {
            a.vmovupd(zmmword_ptr(r15), zmm16)
        }),
        c("vmovaps zmm19, zmm23", |a| a.vmovaps(zmm19, zmm23)),
        c("vmovaps zmm20{k7}, zmm23", |a| {
            a.vmovaps(zk(20, 7, false), zmm23)
        }),
        c("vmovaps zmm3{k2}, zmm1", |a| {
            a.vmovaps(zk(3, 2, false), zmm1)
        }),
        c("vmovdqu8 zmm4, zmmword ptr [r9+r11*1+0x40]", |a| {
            a.vmovdqu8(zmm4, zmmword_ptr(r9 + r11 + 0x40))
        }),
        c("vmovdqu8 zmm4{k1}{z}, zmmword ptr [r9+r11*1+0xc0]", |a| {
            a.vmovdqu8(zk(4, 1, true), zmmword_ptr(r9 + r11 + 0xc0))
        }),
        c("vmovdqu8 zmmword ptr [rcx+r11*1+0x80], zmm0", |a| {
            a.vmovdqu8(zmmword_ptr(rcx + r11 + 0x80), zmm0)
        }),
        c("vmovdqu8 zmmword ptr [rcx+r11*1]{k1}, zmm6", |a| {
            a.vmovdqu8(mem_masked(zmmword_ptr(rcx + r11), Some(Kreg(1))), zmm6)
        }),
        c("vmovdqu8 ymm3{k1}{z}, ymmword ptr [rax+0x40]", |a| {
            a.vmovdqu8(
                Zmm(3).y_masked(Some(Kreg(1)), true),
                ymmword_ptr(rax + 0x40),
            )
        }),
        c("vmovdqu8 xmm17{k3}{z}, xmmword ptr [rax+rcx*1]", |a| {
            a.vmovdqu8(
                Zmm(17).x_masked(Some(Kreg(3)), true),
                xmmword_ptr(rax + rcx),
            )
        }),
        c("vmovdqu8 ymmword ptr [r8+rcx*1+0x20]{k1}, ymm2", |a| {
            a.vmovdqu8(
                mem_masked(ymmword_ptr(r8 + rcx + 0x20), Some(Kreg(1))),
                ymm2,
            )
        }),
        c("vmovdqu8 xmmword ptr [r8+0x30]{k4}, xmm31", |a| {
            a.vmovdqu8(mem_masked(xmmword_ptr(r8 + 0x30), Some(Kreg(4))), xmm31)
        }),
        c("vmovdqu16 ymm20{k5}{z}, ymmword ptr [rdx+0x20]", |a| {
            a.vmovdqu16(
                Zmm(20).y_masked(Some(Kreg(5)), true),
                ymmword_ptr(rdx + 0x20),
            )
        }),
        c("vmovdqu16 xmm1{k1}{z}, xmmword ptr [rdx+rsi*1]", |a| {
            a.vmovdqu16(Zmm(1).x_masked(Some(Kreg(1)), true), xmmword_ptr(rdx + rsi))
        }),
        c("vmovdqu16 ymmword ptr [r10+r11*2+0x20]{k1}, ymm31", |a| {
            a.vmovdqu16(
                mem_masked(ymmword_ptr(r10 + r11 * 2 + 0x20), Some(Kreg(1))),
                ymm31,
            )
        }),
        c("vmovdqu16 ymmword ptr [r10+r11*2], ymm31", |a| {
            a.vmovdqu16(ymmword_ptr(r10 + r11 * 2), ymm31)
        }),
        c("vmovdqu16 xmmword ptr [r10]{k6}, xmm2", |a| {
            a.vmovdqu16(mem_masked(xmmword_ptr(r10), Some(Kreg(6))), xmm2)
        }),
        c("vmovdqu16 zmm0{k1}{z}, zmmword ptr [rcx+rax*2]", |a| {
            a.vmovdqu16(zk(0, 1, true), zmmword_ptr(rcx + rax * 2))
        }),
        c("vmovdqu16 zmmword ptr [rcx+rax*2+0x40]{k1}, zmm0", |a| {
            a.vmovdqu16(
                mem_masked(zmmword_ptr(rcx + rax * 2 + 0x40), Some(Kreg(1))),
                zmm0,
            )
        }),
        c("vmovdqu16 zmmword ptr [rcx+rax*2+0x40], zmm0", |a| {
            a.vmovdqu16(zmmword_ptr(rcx + rax * 2 + 0x40), zmm0)
        }),
        c("vmovdqu16 zmm0, zmmword ptr [rcx+rax*2]", |a| {
            a.vmovdqu16(zmm0, zmmword_ptr(rcx + rax * 2))
        }),
        c("vmovdqu32 ymm1{k1}{z}, ymmword ptr [rsi+r11*4]", |a| {
            a.vmovdqu32(
                Zmm(1).y_masked(Some(Kreg(1)), true),
                ymmword_ptr(rsi + r11 * 4),
            )
        }),
        c("vmovdqu32 ymm1, ymmword ptr [rsi+r11*4]", |a| {
            a.vmovdqu32(Zmm(1).y_masked(None, true), ymmword_ptr(rsi + r11 * 4))
        }),
        c("vmovdqu32 ymmword ptr [rdx+r11*4]{k1}, ymm1", |a| {
            a.vmovdqu32(mem_masked(ymmword_ptr(rdx + r11 * 4), Some(Kreg(1))), ymm1)
        }),
        c("vmovdqu32 ymmword ptr [rdx+r11*4], ymm1", |a| {
            a.vmovdqu32(ymmword_ptr(rdx + r11 * 4), ymm1)
        }),
        c("vmovdqu32 zmm0{k1}{z}, zmmword ptr [rax+rcx*4]", |a| {
            a.vmovdqu32(zk(0, 1, true), zmmword_ptr(rax + rcx * 4))
        }),
        c("vmovdqu32 zmm0, zmmword ptr [rax+rcx*4]", |a| {
            a.vmovdqu32(zmm0, zmmword_ptr(rax + rcx * 4))
        }),
        c("vmovdqu32 zmmword ptr [rax+rcx*4+0x40]{k1}, zmm0", |a| {
            a.vmovdqu32(
                mem_masked(zmmword_ptr(rax + rcx * 4 + 0x40), Some(Kreg(1))),
                zmm0,
            )
        }),
        c("vmovdqu32 zmmword ptr [rax+rcx*4+0x40], zmm0", |a| {
            a.vmovdqu32(zmmword_ptr(rax + rcx * 4 + 0x40), zmm0)
        }),
        c("vmovdqu64 zmm3{k1}{z}, zmmword ptr [r8+r11*8]", |a| {
            a.vmovdqu64(zk(3, 1, true), zmmword_ptr(r8 + r11 * 8))
        }),
        c("vmovdqu64 zmm3, zmmword ptr [r8+r11*8]", |a| {
            a.vmovdqu64(zmm3, zmmword_ptr(r8 + r11 * 8))
        }),
        c("vmovdqu64 zmmword ptr [rdx+r11*8]{k1}, zmm4", |a| {
            a.vmovdqu64(mem_masked(zmmword_ptr(rdx + r11 * 8), Some(Kreg(1))), zmm4)
        }),
        c("vmovdqu64 zmmword ptr [rdx+r11*8+0x40], zmm4", |a| {
            a.vmovdqu64(zmmword_ptr(rdx + r11 * 8 + 0x40), zmm4)
        }),
    ]
}

/// Broadcasts, widening and narrowing conversions (f16, bf16, integers).
fn conversions() -> Vec<X86> {
    vec![
        c("vpbroadcastd zmm26, eax", |a| a.vpbroadcastd(zmm26, eax)),
        c("vpbroadcastd zmm2, r10d", |a| a.vpbroadcastd(zmm2, r10d)),
        c("vpbroadcastd zmm8, dword ptr [rdi+0x28]", |a| {
            a.vpbroadcastd(zmm8, dword_ptr(rdi + 0x28))
        }),
        c("vpbroadcastd zmm30, dword ptr [r10+0x104]", |a| {
            a.vpbroadcastd(zmm30, dword_ptr(r10 + 0x104))
        }),
        c("vpbroadcastd zmm0, dword ptr [rsi]", |a| {
            a.vpbroadcastd(zmm0, dword_ptr(rsi))
        }),
        c("vpbroadcastw zmm21, word ptr [rsi+0x2]", |a| {
            a.vpbroadcastw(zmm21, word_ptr(rsi + 2))
        }),
        c("vpbroadcastw zmm1, word ptr [r9+0x100]", |a| {
            a.vpbroadcastw(zmm1, word_ptr(r9 + 0x100))
        }),
        c("vpbroadcastb zmm0, byte ptr [rsi+r10*1]", |a| {
            a.vpbroadcastb(zmm0, byte_ptr(rsi + r10))
        }),
        c("vpbroadcastq zmm0, qword ptr [rsi]", |a| {
            a.vpbroadcastq(zmm0, qword_ptr(rsi))
        }),
        c("vbroadcastss zmm29, dword ptr [r8+0x7c]", |a| {
            a.vbroadcastss(zmm29, dword_ptr(r8 + 0x7c))
        }),
        c("vbroadcastss zmm2, dword ptr [rsi]", |a| {
            a.vbroadcastss(zmm2, dword_ptr(rsi))
        }),
        c("vbroadcastsd zmm30, qword ptr [r9+0x208]", |a| {
            a.vbroadcastsd(zmm30, qword_ptr(r9 + 0x208))
        }),
        with_data(
            "vbroadcastss zmm28, dword ptr [rip+%c]\n%c: .long 0x3f800000",
            |a| {
                let mut l = a.create_label();
                a.vbroadcastss(zmm28, dword_ptr(l))?;
                a.set_label(&mut l)?;
                a.dd(&[0x3f80_0000])
            },
        ),
        c("vpmovzxwd zmm4{k1}{z}, ymmword ptr [rsi+r11*2+0x20]", |a| {
            a.vpmovzxwd(zk(4, 1, true), ymmword_ptr(rsi + r11 * 2 + 0x20))
        }),
        c("vpmovzxwd zmm4, ymmword ptr [rsi+r11*2]", |a| {
            a.vpmovzxwd(zmm4, ymmword_ptr(rsi + r11 * 2))
        }),
        c("vpmovzxwd zmm22, ymm22", |a| a.vpmovzxwd(zmm22, ymm22)),
        c("vpmovzxbd zmm5, xmm5", |a| a.vpmovzxbd(zmm5, xmm5)),
        c("vpmovzxbd zmm5, xmmword ptr [rax+rcx*1+0x10]", |a| {
            a.vpmovzxbd(zmm5, xmmword_ptr(rax + rcx + 0x10))
        }),
        c("vpmovzxbw zmm0, ymm0", |a| a.vpmovzxbw(zmm0, ymm0)),
        c("vpmovzxbw zmm0, ymmword ptr [rax+rcx*1]", |a| {
            a.vpmovzxbw(zmm0, ymmword_ptr(rax + rcx))
        }),
        c("vpmovzxwq zmm0, xmm0", |a| a.vpmovzxwq(zmm0, xmm0)),
        c("vpmovzxwq zmm0, xmmword ptr [rax+rcx*2+0x10]", |a| {
            a.vpmovzxwq(zmm0, xmmword_ptr(rax + rcx * 2 + 0x10))
        }),
        c("vpmovzxdq zmm0, ymm0", |a| a.vpmovzxdq(zmm0, ymm0)),
        c("vpmovzxdq zmm0, ymmword ptr [rax+rcx*4]", |a| {
            a.vpmovzxdq(zmm0, ymmword_ptr(rax + rcx * 4))
        }),
        c("vpmovdw ymm31, zmm16", |a| a.vpmovdw(ymm31, zmm16)),
        c("vpmovdb xmm31, zmm5", |a| a.vpmovdb(xmm31, zmm5)),
        c("vpmovwb ymm2, zmm0", |a| a.vpmovwb(ymm2, zmm0)),
        c("vpmovqw xmm2, zmm0", |a| a.vpmovqw(xmm2, zmm0)),
        c("vpmovqd ymm2, zmm0", |a| a.vpmovqd(ymm2, zmm0)),
        c("vcvtph2ps zmm6, ymmword ptr [rdx+r11*2+0x20]", |a| {
            a.vcvtph2ps(zmm6, ymmword_ptr(rdx + r11 * 2 + 0x20))
        }),
        c("vcvtph2ps zmm6{k1}{z}, ymmword ptr [rdx+r11*2]", |a| {
            a.vcvtph2ps(zk(6, 1, true), ymmword_ptr(rdx + r11 * 2))
        }),
        c("vcvtph2ps zmm18, ymm18", |a| a.vcvtph2ps(zmm18, ymm18)),
        c("vcvtps2ph ymmword ptr [rcx+r11*2+0x20]{k1}, zmm3, 0", |a| {
            a.vcvtps2ph(
                mem_masked(ymmword_ptr(rcx + r11 * 2 + 0x20), Some(Kreg(1))),
                zmm3,
                0,
            )
        }),
        c("vcvtps2ph ymmword ptr [rcx+r11*2], zmm3, 0", |a| {
            a.vcvtps2ph(ymmword_ptr(rcx + r11 * 2), zmm3, 0)
        }),
        c("vcvtneps2bf16 ymm31, zmm12", |a| {
            a.vcvtneps2bf16(ymm31, zmm12)
        }),
        c("vcvtneps2bf16 ymm22, zmm20", |a| {
            a.vcvtneps2bf16(ymm22, zmm20)
        }),
    ]
}

/// Arithmetic, logic, compares, shuffles and the multiply forms of the GEMM kernels (with
/// embedded broadcast from memory and from the rip-relative constant pool).
fn arithmetic() -> Vec<X86> {
    let mut v = vec![
        c("vfmadd231ps zmm0, zmm30, dword ptr [rax+0x8]{1to16}", |a| {
            a.vfmadd231ps(zmm0, zmm30, dword_bcst(rax + 8))
        }),
        c("vfmadd231ps zmm23, zmm31, dword ptr [r10+0x1e4]{1to16}", |a| {
            a.vfmadd231ps(zmm23, zmm31, dword_bcst(r10 + 0x1e4))
        }),
        c("vfmadd231ps zmm4, zmm29, dword ptr [r13]{1to16}", |a| {
            a.vfmadd231ps(zmm4, zmm29, dword_bcst(r13))
        }),
        c("vfmadd231ps zmm4, zmm29, dword ptr [r12+0x4]{1to16}", |a| {
            a.vfmadd231ps(zmm4, zmm29, dword_bcst(r12 + 4))
        }),
        c("vfmadd231ps zmm1, zmm26, zmm30", |a| a.vfmadd231ps(zmm1, zmm26, zmm30)),
        c("vfmadd231ps zmm21, zmm20, zmm20", |a| a.vfmadd231ps(zmm21, zmm20, zmm20)),
        c("vfmadd231pd zmm11, zmm31, qword ptr [r9+0x10]{1to8}", |a| {
            a.vfmadd231pd(zmm11, zmm31, qword_bcst(r9 + 0x10))
        }),
        c("vfmadd231pd zmm11, zmm31, qword ptr [r9+0x400]{1to8}", |a| {
            a.vfmadd231pd(zmm11, zmm31, qword_bcst(r9 + 0x400))
        }),
        c("vfmadd231pd zmm1, zmm28, zmm30", |a| a.vfmadd231pd(zmm1, zmm28, zmm30)),
        c("vfmadd213ps zmm3, zmm4, zmm5", |a| a.vfmadd213ps(zmm3, zmm4, zmm5)),
        c("vfnmadd213ps zmm3, zmm4, zmm25", |a| a.vfnmadd213ps(zmm3, zmm4, zmm25)),
        c("vfnmadd231ps zmm16, zmm17, zmm18", |a| a.vfnmadd231ps(zmm16, zmm17, zmm18)),
        c("vdpbf16ps zmm7, zmm31, dword ptr [rbx+0x40]{1to16}", |a| {
            a.vdpbf16ps(zmm7, zmm31, dword_bcst(rbx + 0x40))
        }),
        c("vdpbf16ps zmm7, zmm31, dword ptr [rbx+0x1000]{1to16}", |a| {
            a.vdpbf16ps(zmm7, zmm31, dword_bcst(rbx + 0x1000))
        }),
        c("vdpbf16ps zmm7, zmm27, zmm30", |a| a.vdpbf16ps(zmm7, zmm27, zmm30)),
        c("vpdpbusd zmm9, zmm30, zmm26", |a| a.vpdpbusd(zmm9, zmm30, zmm26)),
        c("vpdpbusd zmm24, zmm25, zmm31", |a| a.vpdpbusd(zmm24, zmm25, zmm31)),
        c("vaddps zmm1, zmm1, zmm13", |a| a.vaddps(zmm1, zmm1, zmm13)),
        c("vaddpd zmm1, zmm1, zmm17", |a| a.vaddpd(zmm1, zmm1, zmm17)),
        c("vsubps zmm2, zmm3, zmm4", |a| a.vsubps(zmm2, zmm3, zmm4)),
        c("vmulps zmm2, zmm3, zmm28", |a| a.vmulps(zmm2, zmm3, zmm28)),
        c("vmulpd zmm2, zmm3, zmm28", |a| a.vmulpd(zmm2, zmm3, zmm28)),
        c("vdivps zmm2, zmm3, zmm4", |a| a.vdivps(zmm2, zmm3, zmm4)),
        c("vmaxps zmm21, zmm20, zmm22", |a| a.vmaxps(zmm21, zmm20, zmm22)),
        c("vminps zmm21, zmm20, zmm22", |a| a.vminps(zmm21, zmm20, zmm22)),
        c("vscalefps zmm2, zmm3, zmm4", |a| a.vscalefps(zmm2, zmm3, zmm4)),
        c("vsqrtps zmm2, zmm3", |a| a.vsqrtps(zmm2, zmm3)),
        c("vrndscaleps zmm2, zmm3, 0", |a| a.vrndscaleps(zmm2, zmm3, 0)),
        c("vpaddd zmm1, zmm1, zmm2", |a| a.vpaddd(zmm1, zmm1, zmm2)),
        c("vpsubd zmm1, zmm1, zmm29", |a| a.vpsubd(zmm1, zmm1, zmm29)),
        c("vpmulld zmm1, zmm2, zmm3", |a| a.vpmulld(zmm1, zmm2, zmm3)),
        c("vpxord zmm0, zmm0, zmm0", |a| a.vpxord(zmm0, zmm0, zmm0)),
        c("vpxord zmm25, zmm25, zmm25", |a| a.vpxord(zmm25, zmm25, zmm25)),
        c("vpxord zmm31, zmm31, zmm28", |a| a.vpxord(zmm31, zmm31, zmm28)),
        c("vpandd zmm20, zmm20, zmm24", |a| a.vpandd(zmm20, zmm20, zmm24)),
        c("vpord zmm0, zmm0, zmm1", |a| a.vpord(zmm0, zmm0, zmm1)),
        c("vpslld zmm3, zmm3, 16", |a| a.vpslld(zmm3, zmm3, 16)),
        c("vpslld zmm20, zmm20, 16", |a| a.vpslld(zmm20, zmm20, 16)),
        c("vpsrld zmm1, zmm2, 9", |a| a.vpsrld(zmm1, zmm2, 9)),
        c("vpsllw zmm1, zmm2, 8", |a| a.vpsllw(zmm1, zmm2, 8)),
        c("vpsrlw zmm1, zmm2, 8", |a| a.vpsrlw(zmm1, zmm2, 8)),
        c("vpsllq zmm1, zmm2, 32", |a| a.vpsllq(zmm1, zmm2, 32)),
        c("vpsrlq zmm1, zmm2, 32", |a| a.vpsrlq(zmm1, zmm2, 32)),
        c("vblendmps zmm3{k2}, zmm4, zmm5", |a| a.vblendmps(zk(3, 2, false), zmm4, zmm5)),
        c("vpermilps zmm21, zmm23, 0xb1", |a| a.vpermilps(zmm21, zmm23, 0xb1)),
        c("vshuff32x4 zmm21, zmm23, zmm23, 0x4e", |a| {
            a.vshuff32x4(zmm21, zmm23, zmm23, 0x4e)
        }),
        c("vshuff32x4 zmm16, zmm0, zmm4, 0x88", |a| a.vshuff32x4(zmm16, zmm0, zmm4, 0x88)),
        c("vshuff64x2 zmm1, zmm16, zmm18, 0xdd", |a| {
            a.vshuff64x2(zmm1, zmm16, zmm18, 0xdd)
        }),
        c("vunpcklps zmm16, zmm0, zmm1", |a| a.vunpcklps(zmm16, zmm0, zmm1)),
        c("vunpckhps zmm17, zmm14, zmm15", |a| a.vunpckhps(zmm17, zmm14, zmm15)),
        c("vunpcklpd zmm0, zmm16, zmm18", |a| a.vunpcklpd(zmm0, zmm16, zmm18)),
        c("vunpckhpd zmm15, zmm29, zmm31", |a| a.vunpckhpd(zmm15, zmm29, zmm31)),
        c("vpcmpud k3, zmm4, zmm5, 5", |a| a.vpcmpud(k3, zmm4, zmm5, 5)),
        // Embedded broadcast and full vectors from the constant pool behind the code.
        with_data("vpxord zmm2, zmm3, dword ptr [rip+%c]{1to16}\n%c: .long 0x80000000", |a| {
            let mut l = a.create_label();
            a.vpxord(zmm2, zmm3, dword_bcst(l))?;
            a.set_label(&mut l)?;
            a.dd(&[0x8000_0000])
        }),
        with_data("vpandd zmm30, zmm3, dword ptr [rip+%c]{1to16}\n%c: .long 0x7fffffff", |a| {
            let mut l = a.create_label();
            a.vpandd(zmm30, zmm3, dword_bcst(l))?;
            a.set_label(&mut l)?;
            a.dd(&[0x7fff_ffff])
        }),
        with_data("vmulps zmm5, zmm5, dword ptr [rip+%c]{1to16}\n%c: .long 0x3fa00000", |a| {
            let mut l = a.create_label();
            a.vmulps(zmm5, zmm5, dword_bcst(l))?;
            a.set_label(&mut l)?;
            a.dd(&[0x3fa0_0000])
        }),
        with_data("vmulpd zmm5, zmm5, qword ptr [rip+%c]{1to8}\n%c: .quad 0x3ff4000000000000", |a| {
            let mut l = a.create_label();
            a.vmulpd(zmm5, zmm5, qword_bcst(l))?;
            a.set_label(&mut l)?;
            a.dq(&[0x3ff4_0000_0000_0000])
        }),
        with_data("vfmadd231ps zmm5, zmm31, dword ptr [rip+%c]{1to16}\n%c: .long 0xbf400000", |a| {
            let mut l = a.create_label();
            a.vfmadd231ps(zmm5, zmm31, dword_bcst(l))?;
            a.set_label(&mut l)?;
            a.dd(&[0xbf40_0000])
        }),
        with_data(
            "vfmadd231pd zmm5, zmm31, qword ptr [rip+%c]{1to8}\n%c: .quad 0xbfe8000000000000",
            |a| {
                let mut l = a.create_label();
                a.vfmadd231pd(zmm5, zmm31, qword_bcst(l))?;
                a.set_label(&mut l)?;
                a.dq(&[0xbfe8_0000_0000_0000])
            },
        ),
        with_data(
            "vpaddd zmm6, zmm6, zmmword ptr [rip+%c]\n%c: .long 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            |a| {
                let mut l = a.create_label();
                a.vpaddd(zmm6, zmm6, zmmword_ptr(l))?;
                a.set_label(&mut l)?;
                a.dd(&(0..16).collect::<Vec<u32>>())
            },
        ),
    ];
    // vcmpps with every predicate the lowering uses.
    for imm in [0x00, 0x03, 0x04, 0x11, 0x12, 0x1d, 0x1e] {
        v.push(c(format!("vcmpps k4, zmm8, zmm19, {imm:#x}"), move |a| {
            a.vcmpps(k4, zmm8, zmm19, imm)
        }));
    }
    v
}

/// Opmask moves and logic, gathers and scatters.
fn masks_and_gathers() -> Vec<X86> {
    vec![
        c("kmovw k1, eax", |a| a.kmovw(Kreg(1).k(), eax)),
        c("kmovw k1, r10d", |a| a.kmovw(k1, r10d)),
        c("kmovw k2, k1", |a| a.kmovw(k2, k1)),
        c("kmovw k3, word ptr [r9+rcx*1+0x2]", |a| {
            a.kmovw(k3, word_ptr(r9 + rcx + 2))
        }),
        c("kmovw word ptr [r9+rcx*1+0x2], k7", |a| {
            a.kmovw(word_ptr(r9 + rcx + 2), k7)
        }),
        c("kmovb k3, byte ptr [r9+rcx*1]", |a| {
            a.kmovb(k3, byte_ptr(r9 + rcx))
        }),
        c("kmovb byte ptr [r9+rcx*1+0x1], k7", |a| {
            a.kmovb(byte_ptr(r9 + rcx + 1), k7)
        }),
        c("kmovq k1, r10", |a| a.kmovq(k1, r10)),
        c("kmovq k1, rax", |a| a.kmovq(k1, rax)),
        c("kxnorw k2, k2, k2", |a| a.kxnorw(k2, k2, k2)),
        c("knotw k7, k1", |a| a.knotw(k7, k1)),
        c("kandw k7, k5, k1", |a| a.kandw(k7, k5, k1)),
        c("vpgatherqd ymm5{k2}, dword ptr [rsi+zmm4*4]", |a| {
            a.vpgatherqd(
                Zmm(5).y_masked(Some(Kreg(2)), false),
                ymmword_ptr(rsi + zmm4 * 4),
            )
        }),
        c("vpgatherqq zmm5{k2}, qword ptr [rsi+zmm4*8]", |a| {
            a.vpgatherqq(zk(5, 2, false), zmmword_ptr(rsi + zmm4 * 8))
        }),
        c("vpscatterqd dword ptr [rdx+zmm4*4]{k2}, ymm5", |a| {
            a.vpscatterqd(mem_masked(ymmword_ptr(rdx + zmm4 * 4), Some(Kreg(2))), ymm5)
        }),
        c("vpscatterqq qword ptr [rdx+zmm4*8]{k2}, zmm5", |a| {
            a.vpscatterqq(mem_masked(zmmword_ptr(rdx + zmm4 * 8), Some(Kreg(2))), zmm5)
        }),
    ]
}
