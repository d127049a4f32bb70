//! Golden cases for every vector and opmask instruction the generators use with a memory
//! operand, each at every displacement size (none, one that compresses to an EVEX disp8 — a
//! multiple of the instruction's disp8 scale `n` — and one that needs disp32) and with and
//! without its opmask (zeroing for loads, merging for stores).

use super::x86::{c, X86};
use iced_x86::code_asm::*;
use iced_x86::IcedError;
use tpp::kernels_x86::asm::{mem_masked, Kreg, Zmm};

type Mk = fn(&mut CodeAssembler, Option<Kreg>, AsmMemoryOperand) -> Result<(), IcedError>;

/// `text` with `{m}` replaced by `[rsi+r11*2+disp]` and `{k}` by the mask (`{k1}`, plus `{z}`
/// when `zero`), for each displacement size and for each of `masked` (false, true).
fn forms(text: &str, n: i32, masked: &[bool], zero: bool, f: Mk) -> Vec<X86> {
    let mut v = vec![];
    for disp in [0, 3 * n, 0x2040] {
        for &with_k in masked {
            let d = if disp == 0 {
                String::new()
            } else {
                format!("+{disp:#x}")
            };
            let k = match (with_k, zero) {
                (false, _) => "",
                (true, false) => "{k1}",
                (true, true) => "{k1}{z}",
            };
            let gnu = text
                .replace("{m}", &format!("[rsi+r11*2{d}]"))
                .replace("{k}", k);
            let kreg = with_k.then_some(Kreg(1));
            v.push(c(gnu, move |a| f(a, kreg, rsi + r11 * 2 + disp)));
        }
    }
    v
}

/// Destinations under an optional zeroing mask, as the generators write them.
fn z(n: u8, k: Option<Kreg>) -> AsmRegisterZmm {
    Zmm(n).masked(k, true)
}
fn y(n: u8, k: Option<Kreg>) -> AsmRegisterYmm {
    Zmm(n).y_masked(k, true)
}
fn x(n: u8, k: Option<Kreg>) -> AsmRegisterXmm {
    Zmm(n).x_masked(k, true)
}

const BOTH: &[bool] = &[false, true];
const PLAIN: &[bool] = &[false];

/// Every memory form.
pub fn cases() -> Vec<X86> {
    let list: Vec<Vec<X86>> = vec![
        // Loads (zero-masked) and stores (merge-masked) of every width and element size.
        forms(
            "vmovups zmm17{k}, zmmword ptr {m}",
            64,
            BOTH,
            true,
            |a, k, m| a.vmovups(Zmm(17).masked(k, true), zmmword_ptr(m)),
        ),
        forms(
            "vmovups zmmword ptr {m}{k}, zmm17",
            64,
            BOTH,
            false,
            |a, k, m| a.vmovups(mem_masked(zmmword_ptr(m), k), zmm17),
        ),
        forms(
            "{evex} vmovups ymm18, ymmword ptr {m}",
            32,
            PLAIN,
            false,
            |a, _, m| a.evex().vmovups(ymm18, ymmword_ptr(m)),
        ),
        forms(
            "{evex} vmovups ymmword ptr {m}, ymm18",
            32,
            PLAIN,
            false,
            |a, _, m| a.evex().vmovups(ymmword_ptr(m), ymm18),
        ),
        forms(
            "{evex} vmovups xmm19, xmmword ptr {m}",
            16,
            PLAIN,
            false,
            |a, _, m| a.evex().vmovups(xmm19, xmmword_ptr(m)),
        ),
        forms(
            "{evex} vmovups xmmword ptr {m}, xmm19",
            16,
            PLAIN,
            false,
            |a, _, m| a.evex().vmovups(xmmword_ptr(m), xmm19),
        ),
        forms(
            "vmovupd zmm9{k}, zmmword ptr {m}",
            64,
            BOTH,
            true,
            |a, k, m| a.vmovupd(z(9, k), zmmword_ptr(m)),
        ),
        forms(
            "vmovupd zmmword ptr {m}{k}, zmm9",
            64,
            BOTH,
            false,
            |a, k, m| a.vmovupd(mem_masked(zmmword_ptr(m), k), zmm9),
        ),
        forms(
            "vmovdqu8 zmm4{k}, zmmword ptr {m}",
            64,
            BOTH,
            true,
            |a, k, m| a.vmovdqu8(z(4, k), zmmword_ptr(m)),
        ),
        forms(
            "vmovdqu8 zmmword ptr {m}{k}, zmm4",
            64,
            BOTH,
            false,
            |a, k, m| a.vmovdqu8(mem_masked(zmmword_ptr(m), k), zmm4),
        ),
        forms(
            "vmovdqu8 ymm20{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vmovdqu8(y(20, k), ymmword_ptr(m)),
        ),
        forms(
            "vmovdqu8 ymmword ptr {m}{k}, ymm20",
            32,
            BOTH,
            false,
            |a, k, m| a.vmovdqu8(mem_masked(ymmword_ptr(m), k), ymm20),
        ),
        forms(
            "vmovdqu8 xmm21{k}, xmmword ptr {m}",
            16,
            BOTH,
            true,
            |a, k, m| a.vmovdqu8(x(21, k), xmmword_ptr(m)),
        ),
        forms(
            "vmovdqu8 xmmword ptr {m}{k}, xmm21",
            16,
            BOTH,
            false,
            |a, k, m| a.vmovdqu8(mem_masked(xmmword_ptr(m), k), xmm21),
        ),
        forms(
            "vmovdqu16 zmm4{k}, zmmword ptr {m}",
            64,
            BOTH,
            true,
            |a, k, m| a.vmovdqu16(z(4, k), zmmword_ptr(m)),
        ),
        forms(
            "vmovdqu16 zmmword ptr {m}{k}, zmm4",
            64,
            BOTH,
            false,
            |a, k, m| a.vmovdqu16(mem_masked(zmmword_ptr(m), k), zmm4),
        ),
        forms(
            "vmovdqu16 ymm20{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vmovdqu16(y(20, k), ymmword_ptr(m)),
        ),
        forms(
            "vmovdqu16 ymmword ptr {m}{k}, ymm31",
            32,
            BOTH,
            false,
            |a, k, m| a.vmovdqu16(mem_masked(ymmword_ptr(m), k), ymm31),
        ),
        forms(
            "vmovdqu16 xmm1{k}, xmmword ptr {m}",
            16,
            BOTH,
            true,
            |a, k, m| a.vmovdqu16(x(1, k), xmmword_ptr(m)),
        ),
        forms(
            "vmovdqu16 xmmword ptr {m}{k}, xmm2",
            16,
            BOTH,
            false,
            |a, k, m| a.vmovdqu16(mem_masked(xmmword_ptr(m), k), xmm2),
        ),
        forms(
            "vmovdqu32 zmm0{k}, zmmword ptr {m}",
            64,
            BOTH,
            true,
            |a, k, m| a.vmovdqu32(z(0, k), zmmword_ptr(m)),
        ),
        forms(
            "vmovdqu32 zmmword ptr {m}{k}, zmm0",
            64,
            BOTH,
            false,
            |a, k, m| a.vmovdqu32(mem_masked(zmmword_ptr(m), k), zmm0),
        ),
        forms(
            "vmovdqu32 ymm1{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vmovdqu32(y(1, k), ymmword_ptr(m)),
        ),
        forms(
            "vmovdqu32 ymmword ptr {m}{k}, ymm1",
            32,
            BOTH,
            false,
            |a, k, m| a.vmovdqu32(mem_masked(ymmword_ptr(m), k), ymm1),
        ),
        forms(
            "vmovdqu64 zmm3{k}, zmmword ptr {m}",
            64,
            BOTH,
            true,
            |a, k, m| a.vmovdqu64(z(3, k), zmmword_ptr(m)),
        ),
        forms(
            "vmovdqu64 zmmword ptr {m}{k}, zmm3",
            64,
            BOTH,
            false,
            |a, k, m| a.vmovdqu64(mem_masked(zmmword_ptr(m), k), zmm3),
        ),
        // Widening loads and the f16 conversions.
        forms(
            "vpmovzxwd zmm22{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vpmovzxwd(z(22, k), ymmword_ptr(m)),
        ),
        forms(
            "vpmovzxbd zmm5{k}, xmmword ptr {m}",
            16,
            BOTH,
            true,
            |a, k, m| a.vpmovzxbd(z(5, k), xmmword_ptr(m)),
        ),
        forms(
            "vpmovzxbw zmm6{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vpmovzxbw(z(6, k), ymmword_ptr(m)),
        ),
        forms(
            "vpmovzxwq zmm7{k}, xmmword ptr {m}",
            16,
            BOTH,
            true,
            |a, k, m| a.vpmovzxwq(z(7, k), xmmword_ptr(m)),
        ),
        forms(
            "vpmovzxdq zmm8{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vpmovzxdq(z(8, k), ymmword_ptr(m)),
        ),
        forms(
            "vcvtph2ps zmm6{k}, ymmword ptr {m}",
            32,
            BOTH,
            true,
            |a, k, m| a.vcvtph2ps(z(6, k), ymmword_ptr(m)),
        ),
        forms(
            "vcvtps2ph ymmword ptr {m}{k}, zmm3, 0",
            32,
            BOTH,
            false,
            |a, k, m| a.vcvtps2ph(mem_masked(ymmword_ptr(m), k), zmm3, 0),
        ),
        // Broadcasts from memory (disp8 scale: the element size).
        forms(
            "vpbroadcastb zmm0, byte ptr {m}",
            1,
            PLAIN,
            false,
            |a, _, m| a.vpbroadcastb(zmm0, byte_ptr(m)),
        ),
        forms(
            "vpbroadcastw zmm21, word ptr {m}",
            2,
            PLAIN,
            false,
            |a, _, m| a.vpbroadcastw(zmm21, word_ptr(m)),
        ),
        forms(
            "vpbroadcastd zmm30, dword ptr {m}",
            4,
            PLAIN,
            false,
            |a, _, m| a.vpbroadcastd(zmm30, dword_ptr(m)),
        ),
        forms(
            "vpbroadcastq zmm1, qword ptr {m}",
            8,
            PLAIN,
            false,
            |a, _, m| a.vpbroadcastq(zmm1, qword_ptr(m)),
        ),
        forms(
            "vbroadcastss zmm29, dword ptr {m}",
            4,
            PLAIN,
            false,
            |a, _, m| a.vbroadcastss(zmm29, dword_ptr(m)),
        ),
        forms(
            "vbroadcastsd zmm28, qword ptr {m}",
            8,
            PLAIN,
            false,
            |a, _, m| a.vbroadcastsd(zmm28, qword_ptr(m)),
        ),
        // The GEMM multiplies with an embedded broadcast of A.
        forms(
            "vfmadd231ps zmm23, zmm31, dword ptr {m}{1to16}",
            4,
            PLAIN,
            false,
            |a, _, m| a.vfmadd231ps(zmm23, zmm31, dword_bcst(m)),
        ),
        forms(
            "vfmadd231pd zmm11, zmm31, qword ptr {m}{1to8}",
            8,
            PLAIN,
            false,
            |a, _, m| a.vfmadd231pd(zmm11, zmm31, qword_bcst(m)),
        ),
        forms(
            "vdpbf16ps zmm7, zmm31, dword ptr {m}{1to16}",
            4,
            PLAIN,
            false,
            |a, _, m| a.vdpbf16ps(zmm7, zmm31, dword_bcst(m)),
        ),
        forms(
            "vpdpbusd zmm9, zmm30, dword ptr {m}{1to16}",
            4,
            PLAIN,
            false,
            |a, _, m| a.vpdpbusd(zmm9, zmm30, dword_bcst(m)),
        ),
        // Opmask loads and stores (VEX: no displacement compression).
        forms("kmovw k3, word ptr {m}", 1, PLAIN, false, |a, _, m| {
            a.kmovw(k3, word_ptr(m))
        }),
        forms("kmovw word ptr {m}, k7", 1, PLAIN, false, |a, _, m| {
            a.kmovw(word_ptr(m), k7)
        }),
        forms("kmovb k3, byte ptr {m}", 1, PLAIN, false, |a, _, m| {
            a.kmovb(k3, byte_ptr(m))
        }),
        forms("kmovb byte ptr {m}, k7", 1, PLAIN, false, |a, _, m| {
            a.kmovb(byte_ptr(m), k7)
        }),
    ];
    list.into_iter().flatten().collect()
}
