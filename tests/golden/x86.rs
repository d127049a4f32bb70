//! The x86-64 golden cases: every instruction form the generators in `kernels-x86/` emit (and
//! the AMX forms the tile kernels use), each as an iced-x86 emission through the crate's own
//! register and masking helpers next to its GNU Intel syntax. `encoder_coverage` checks that
//! the forms found in real generated kernels are all among these.
//!
//! Registers are chosen to set the encoding's extension bits (r8–r15, zmm16–31, k1–k7) and the
//! special addressing cases (rsp/r12 need a SIB byte, rbp/r13 a displacement); `sweep` varies
//! every register field of a few central forms over all its values.

use super::gnu::Case;
use iced_x86::code_asm::*;
use iced_x86::IcedError;
use tpp::kernels_x86::asm::{self, mem_masked, Gpr, Kreg, Zmm};

type Emit = Box<dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>>;

/// One x86 case before assembly.
pub struct X86 {
    pub gnu: String,
    pub emit: Emit,
    /// How much of the bytes is code (the rest is data, not decoded for coverage).
    pub decode: Decode,
    /// Why iced-x86 encodes this differently from GNU as, for an instruction both read the
    /// same (checked by decoding both).
    pub choice: Option<&'static str>,
}

/// The code part of a case's bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    All,
    FirstInstruction,
    /// Data only.
    None,
}

impl X86 {
    /// tpp's bytes for this case.
    pub fn ours(&self) -> Vec<u8> {
        let mut a = asm::assembler().unwrap();
        (self.emit)(&mut a).unwrap_or_else(|e| panic!("iced refused `{}`: {e}", self.gnu));
        a.assemble(0)
            .unwrap_or_else(|e| panic!("iced refused `{}`: {e}", self.gnu))
    }

    pub fn case(&self) -> Case {
        Case {
            gnu: self.gnu.clone(),
            ours: self.ours(),
            choice: self.choice,
        }
    }
}

pub fn c(
    gnu: impl Into<String>,
    f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError> + 'static,
) -> X86 {
    X86 {
        gnu: gnu.into(),
        emit: Box::new(f),
        decode: Decode::All,
        choice: None,
    }
}

/// A case whose first instruction is followed by data or padding.
pub fn with_data(
    gnu: &str,
    f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError> + 'static,
) -> X86 {
    X86 {
        decode: Decode::FirstInstruction,
        ..c(gnu, f)
    }
}

/// A case where iced-x86 picks another encoding of the same instruction than GNU as.
fn choice(
    gnu: &str,
    why: &'static str,
    f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError> + 'static,
) -> X86 {
    X86 {
        choice: Some(why),
        ..c(gnu, f)
    }
}

/// A case of data only.
fn data(gnu: &str, f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError> + 'static) -> X86 {
    X86 {
        decode: Decode::None,
        ..c(gnu, f)
    }
}

const GPR: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const GPR32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d",
    "r13d", "r14d", "r15d",
];

/// `zmmN{kK}{z}` as the generators write it: `Zmm::masked`.
pub fn zk(n: u8, k: u8, zero: bool) -> AsmRegisterZmm {
    Zmm(n).masked(Some(Kreg(k)), zero)
}

const ACCUMULATOR: &str = "iced-x86's CodeAssembler always takes the accumulator form \
     (op rax, imm32) for rax: two bytes longer than GNU's op r/m64, imm8 for an 8-bit immediate";

/// General-purpose, control-flow and data forms.
fn scalar() -> Vec<X86> {
    vec![
        c("push rbx", |a| a.push(Gpr(3).q())),
        c("push r12", |a| a.push(Gpr(12).q())),
        c("push rbp", |a| a.push(Gpr(5).q())),
        c("pop r15", |a| a.pop(Gpr(15).q())),
        c("pop rbx", |a| a.pop(rbx)),
        c("mov rax, qword ptr [rdi]", |a| a.mov(rax, qword_ptr(rdi))),
        c("mov r9, qword ptr [rdi+0x18]", |a| {
            a.mov(r9, qword_ptr(rdi + 0x18))
        }),
        c("mov r13, qword ptr [rbx+0x40]", |a| {
            a.mov(r13, qword_ptr(rbx + 0x40))
        }),
        c("mov rsi, qword ptr [r12+0x200]", |a| {
            a.mov(rsi, qword_ptr(r12 + 0x200))
        }),
        c("mov rax, qword ptr [r13]", |a| a.mov(rax, qword_ptr(r13))),
        c("mov r10, qword ptr [r8+rax*8]", |a| {
            a.mov(r10, qword_ptr(r8 + rax * 8))
        }),
        c("mov rdx, qword ptr [r13+r11*8]", |a| {
            a.mov(rdx, qword_ptr(r13 + r11 * 8))
        }),
        c("mov r10, qword ptr [rbp+r15*8]", |a| {
            a.mov(r10, qword_ptr(rbp + r15 * 8))
        }),
        c("mov qword ptr [rsp+0x48], r10", |a| {
            a.mov(qword_ptr(rsp + 0x48), r10)
        }),
        c("mov qword ptr [rsp+0x1040], rbx", |a| {
            a.mov(qword_ptr(rsp + 0x1040), rbx)
        }),
        c("mov dword ptr [rsp], 0", |a| a.mov(dword_ptr(rsp), 0)),
        c("mov r12, rdi", |a| a.mov(r12, rdi)),
        c("mov rsi, r14", |a| a.mov(rsi, r14)),
        c("movabs rax, 0x10", |a| a.mov(rax, 0x10u64)),
        c("movabs r11, 0x123456789", |a| a.mov(r11, 0x1_2345_6789u64)),
        c("mov eax, 0x7fffffff", |a| a.mov(eax, 0x7fff_ffffu32)),
        c("mov r10d, 0x80808080", |a| a.mov(r10d, 0x8080_8080u32)),
        c("mov ecx, 1", |a| a.mov(ecx, 1u32)),
        c("mov byte ptr [rdx+r11*1], cl", |a| {
            a.mov(byte_ptr(rdx + r11), cl)
        }),
        c("mov word ptr [rdx+r11*2], cx", |a| {
            a.mov(word_ptr(rdx + r11 * 2), cx)
        }),
        c("movzx ecx, byte ptr [rsi+r10*1]", |a| {
            a.movzx(ecx, byte_ptr(rsi + r10))
        }),
        c("movzx ecx, word ptr [rsi+r10*2]", |a| {
            a.movzx(ecx, word_ptr(rsi + r10 * 2))
        }),
        c("xor eax, eax", |a| a.xor(eax, eax)),
        c("xor r11d, r11d", |a| a.xor(r11d, r11d)),
        choice("add rax, 0x40", ACCUMULATOR, |a| a.add(rax, 0x40)),
        c("add rax, 0x1000", |a| a.add(rax, 0x1000)),
        choice("sub rax, 0x40", ACCUMULATOR, |a| a.sub(rax, 0x40)),
        choice("cmp rax, 0x40", ACCUMULATOR, |a| a.cmp(rax, 0x40)),
        c("add r9, 0x7f", |a| a.add(r9, 0x7f)),
        c("add r9, 0x80", |a| a.add(r9, 0x80)),
        c("add rsi, -64", |a| a.add(rsi, -64)),
        c("add r8, r10", |a| a.add(r8, r10)),
        c("add rax, qword ptr [rbx+0x30]", |a| {
            a.add(rax, qword_ptr(rbx + 0x30))
        }),
        c("sub rsp, 0x1000", |a| a.sub(rsp, 4096)),
        c("sub rsp, 0x40", |a| a.sub(rsp, 0x40)),
        c("cmp r11, 0x40", |a| a.cmp(r11, 0x40)),
        c("cmp rax, 0x400", |a| a.cmp(rax, 0x400)),
        c("cmp r13, 0x10000", |a| a.cmp(r13, 0x10000)),
        c("cmp r9, r10", |a| a.cmp(r9, r10)),
        c("cmp r10, qword ptr [rbx+0x28]", |a| {
            a.cmp(r10, qword_ptr(rbx + 0x28))
        }),
        c("dec rcx", |a| a.dec(rcx)),
        c("dec r14", |a| a.dec(r14)),
        c("inc r15", |a| a.inc(r15)),
        c("imul r10, rax, 0x48", |a| a.imul_3(r10, rax, 0x48)),
        c("imul r10, r12, 0x1000", |a| a.imul_3(r10, r12, 0x1000)),
        c("imul rax, rbx", |a| a.imul_2(rax, rbx)),
        c("imul r10, r13", |a| a.imul_2(r10, r13)),
        c("shl rax, 1", |a| a.shl(rax, 1u32)),
        c("shl r9, 3", |a| a.shl(r9, 3u32)),
        c("shr r10, 3", |a| a.shr(r10, 3u32)),
        c("test r12, r12", |a| a.test(r12, r12)),
        c("lea r10, [rsp+0x100]", |a| a.lea(r10, ptr(rsp + 0x100))),
        c("lea rdi, [rsp+0x2080]", |a| a.lea(rdi, ptr(rsp + 0x2080))),
        c("lea rax, [r9+r11*1+0x30]", |a| {
            a.lea(rax, ptr(r9 + r11 + 0x30))
        }),
        c("lea rax, [rbx+r11*1]", |a| a.lea(rax, ptr(rbx + r11))),
        c("call r10", |a| a.call(r10)),
        c("ret", |a| a.ret()),
        c("vzeroupper", |a| a.vzeroupper()),
        c("prefetcht0 byte ptr [r10+0x400]", |a| {
            a.prefetcht0(byte_ptr(r10 + 0x400))
        }),
        c("prefetcht0 byte ptr [rsi+0x40]", |a| {
            a.prefetcht0(byte_ptr(rsi + 0x40))
        }),
        // The GEMM's prefetch cursor and its fallback to B.
        c("prefetcht2 byte ptr [r15]", |a| a.prefetcht2(byte_ptr(r15))),
        c("prefetcht2 byte ptr [r13+0x0]", |a| {
            a.prefetcht2(byte_ptr(r13))
        }),
        c("prefetcht2 byte ptr [rbx]", |a| a.prefetcht2(byte_ptr(rbx))),
        c("cmove r13, qword ptr [rdi+0x8]", |a| {
            a.cmove(r13, qword_ptr(rdi + 8))
        }),
        c("cmove rbx, qword ptr [r12+0x8]", |a| {
            a.cmove(rbx, qword_ptr(r12 + 8))
        }),
        // Loops: short and near, backward and forward.
        c("%top: dec rcx\njnz %top", |a| {
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            a.dec(rcx)?;
            a.jnz(top)
        }),
        c("%top: inc r9\ncmp r9, r10\njb %top", |a| {
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            a.inc(r9)?;
            a.cmp(r9, r10)?;
            a.jb(top)
        }),
        c("%top: .fill 300, 1, 0x90\njnz %top", |a| {
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            a.db(&[0x90; 300])?;
            a.jnz(top)
        }),
        c("%top: .fill 300, 1, 0x90\njb %top", |a| {
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            a.db(&[0x90; 300])?;
            a.jb(top)
        }),
        c("jz %done\ninc rax\n%done: ret", |a| {
            let mut done = a.create_label();
            a.jz(done)?;
            a.inc(rax)?;
            a.set_label(&mut done)?;
            a.ret()
        }),
        c("jz %done\n.fill 300, 1, 0x90\n%done: ret", |a| {
            let mut done = a.create_label();
            a.jz(done)?;
            a.db(&[0x90; 300])?;
            a.set_label(&mut done)?;
            a.ret()
        }),
        // The constant pools behind the code.
        data(".long 0x3f800000, 0x80000000", |a| {
            a.dd(&[0x3f80_0000, 0x8000_0000])
        }),
        data(".quad 0x3ff8000000000000", |a| {
            a.dq(&[0x3ff8_0000_0000_0000])
        }),
    ]
}

/// AMX: tile configuration, loads and stores (SIB addressing with a stride register), every
/// dot product, zeroing and release.
fn amx() -> Vec<X86> {
    vec![
        c("ldtilecfg [rdi]", |a| a.ldtilecfg(ptr(rdi))),
        c("ldtilecfg [rsp+0x40]", |a| a.ldtilecfg(ptr(rsp + 0x40))),
        // The tile kernels keep their configurations after the code.
        with_data("ldtilecfg [rip+%c]\n%c: .fill 64, 1, 0x11", |a| {
            let mut l = a.create_label();
            a.ldtilecfg(ptr(l))?;
            a.set_label(&mut l)?;
            a.db(&[0x11; 64])
        }),
        c("sttilecfg [rsp+0x40]", |a| a.sttilecfg(ptr(rsp + 0x40))),
        c("ldtilecfg [rsp+0x400]", |a| a.ldtilecfg(ptr(rsp + 0x400))),
        c("sttilecfg [rdi]", |a| a.sttilecfg(ptr(rdi))),
        c("sttilecfg [rbx+0x1000]", |a| a.sttilecfg(ptr(rbx + 0x1000))),
        c("tilestored [rdx+rsi*1+0x40], tmm2", |a| {
            a.tilestored(ptr(rdx + rsi + 0x40), tmm2)
        }),
        c("tilestored [rsp+rcx*1+0x40], tmm0", |a| {
            a.tilestored(ptr(rsp + rcx + 0x40), tmm0)
        }),
        c("tileloaddt1 tmm1, [r9+r10*1+0x40]", |a| {
            a.tileloaddt1(tmm1, ptr(r9 + r10 + 0x40))
        }),
        c("tileloaddt1 tmm2, [r9+r10*1+0x400]", |a| {
            a.tileloaddt1(tmm2, ptr(r9 + r10 + 0x400))
        }),
        c("tileloadd tmm0, [rax+rcx*1]", |a| {
            a.tileloadd(tmm0, ptr(rax + rcx))
        }),
        c("tileloadd tmm7, [r10+r11*1+0x40]", |a| {
            a.tileloadd(tmm7, ptr(r10 + r11 + 0x40))
        }),
        c("tileloadd tmm3, [r13+r12*1]", |a| {
            a.tileloadd(tmm3, ptr(r13 + r12))
        }),
        c("tileloadd tmm4, [rsp+rax*1+0x400]", |a| {
            a.tileloadd(tmm4, ptr(rsp + rax + 0x400))
        }),
        c("tileloaddt1 tmm5, [r8+r9*1]", |a| {
            a.tileloaddt1(tmm5, ptr(r8 + r9))
        }),
        c("tilestored [rdx+rsi*1], tmm1", |a| {
            a.tilestored(ptr(rdx + rsi), tmm1)
        }),
        c("tilestored [r14+r15*1+0x1000], tmm6", |a| {
            a.tilestored(ptr(r14 + r15 + 0x1000), tmm6)
        }),
        c("tilestored [r11+rax*1+0x40], tmm1", |a| {
            a.tilestored(ptr(r11 + rax + 0x40), tmm1)
        }),
        c("tdpbf16ps tmm0, tmm4, tmm6", |a| {
            a.tdpbf16ps(tmm0, tmm4, tmm6)
        }),
        c("tdpbf16ps tmm3, tmm5, tmm7", |a| {
            a.tdpbf16ps(tmm3, tmm5, tmm7)
        }),
        c("tdpbssd tmm1, tmm4, tmm6", |a| a.tdpbssd(tmm1, tmm4, tmm6)),
        c("tdpbsud tmm2, tmm5, tmm6", |a| a.tdpbsud(tmm2, tmm5, tmm6)),
        c("tdpbusd tmm3, tmm4, tmm7", |a| a.tdpbusd(tmm3, tmm4, tmm7)),
        c("tdpbuud tmm0, tmm5, tmm7", |a| a.tdpbuud(tmm0, tmm5, tmm7)),
        c("tilezero tmm0", |a| a.tilezero(tmm0)),
        c("tilezero tmm7", |a| a.tilezero(tmm7)),
        c("tilerelease", |a| a.tilerelease()),
    ]
}

/// The shared helpers of `asm.rs` as the generators call them.
fn helpers() -> Vec<X86> {
    vec![
        c("add r9, 0x40", |a| asm::add_imm(a, Gpr(9), 0x40, Gpr(10))),
        c("add rsi, 0x7fffffff", |a| {
            asm::add_imm(a, Gpr(6), 0x7fff_ffff, Gpr(10))
        }),
        c("movabs r10, 0x100000000\nadd r9, r10", |a| {
            asm::add_imm(a, Gpr(9), 1 << 32, Gpr(10))
        }),
        c(
            "vcmpps k7, zmm20, zmm20, 7\nvmaxps zmm20{k7}, zmm20, zmm22",
            |a| asm::max_min_nan(a, Zmm(20), Zmm(20), Zmm(22), true, Kreg(7)),
        ),
        c(
            "vcmpps k2, zmm30, zmm30, 7\nvminps zmm30{k2}, zmm30, zmm1",
            |a| asm::max_min_nan(a, Zmm(30), Zmm(1), Zmm(30), false, Kreg(2)),
        ),
        c(
            "vmovaps zmm5, zmm3\nvcmpps k6, zmm5, zmm5, 7\nvmaxps zmm5{k6}, zmm5, zmm4",
            |a| asm::max_min_nan(a, Zmm(5), Zmm(3), Zmm(4), true, Kreg(6)),
        ),
    ]
}

/// Every register field of the central forms over all its values: destination, source and
/// mask registers, base and index registers, with merge and zero masking.
fn sweep() -> Vec<X86> {
    let mut v = vec![];
    for i in 0..32u8 {
        let (d, s, k) = (i, (i * 7 + 3) % 32, 1 + i % 7);
        let (b, x) = (i % 16, (i * 5 + 1) % 16);
        let x = if x == 4 { 12 } else { x }; // rsp cannot be an index
        let (bn, xn) = (GPR[b as usize], GPR[x as usize]);
        let disp = [0i32, 0x40, -0x80, 0x1234][i as usize % 4];
        let disp_s = match disp {
            0 => String::new(),
            d if d < 0 => format!("-{:#x}", -d),
            d => format!("+{d:#x}"),
        };
        let m = move || Gpr(b).q() + Gpr(x).q() * 4 + disp;
        v.push(c(
            format!("vfmadd231ps zmm{d}, zmm{s}, dword ptr [{bn}+{xn}*4{disp_s}]{{1to16}}"),
            move |a| a.vfmadd231ps(Zmm(d).z(), Zmm(s).z(), dword_bcst(m())),
        ));
        v.push(c(
            format!("vmovups zmm{d}{{k{k}}}{{z}}, zmmword ptr [{bn}+{xn}*4{disp_s}]"),
            move |a| a.vmovups(zk(d, k, true), zmmword_ptr(m())),
        ));
        v.push(c(
            format!("vmovups zmmword ptr [{bn}+{xn}*4{disp_s}]{{k{k}}}, zmm{s}"),
            move |a| a.vmovups(mem_masked(zmmword_ptr(m()), Some(Kreg(k))), Zmm(s).z()),
        ));
        v.push(c(format!("vmovaps zmm{d}{{k{k}}}, zmm{s}"), move |a| {
            a.vmovaps(zk(d, k, false), Zmm(s).z())
        }));
        v.push(c(
            format!("vpdpbusd zmm{d}, zmm{s}, zmm{}", 31 - i),
            move |a| a.vpdpbusd(Zmm(d).z(), Zmm(s).z(), Zmm(31 - i).z()),
        ));
        v.push(c(
            format!(
                "vdpbf16ps zmm{d}, zmm{s}, dword ptr [{bn}+{:#x}]{{1to16}}",
                disp.abs()
            ),
            move |a| a.vdpbf16ps(Zmm(d).z(), Zmm(s).z(), dword_bcst(Gpr(b).q() + disp.abs())),
        ));
        v.push(c(
            format!("mov {}, qword ptr [{bn}+{xn}*8]", GPR[x as usize]),
            move |a| a.mov(Gpr(x).q(), qword_ptr(Gpr(b).q() + Gpr(x).q() * 8)),
        ));
        v.push(c(format!("kmovw k{k}, {}", GPR32[b as usize]), move |a| {
            a.kmovw(Kreg(k).k(), Gpr(b).d())
        }));
    }
    v
}

/// The forms of equation passes: stack-resident port pointers, row accumulators and their
/// horizontal fold, streaming stores with their fence, the next-block prefetch and the
/// write prefetch of a later pass's outputs.
fn equation_passes() -> Vec<X86> {
    vec![
        c("add qword ptr [rsp+0x8], rdx", |a| {
            a.add(qword_ptr(rsp + 8), rdx)
        }),
        c("mov qword ptr [rsp], rbp", |a| a.mov(qword_ptr(rsp), rbp)),
        c("movabs rdx, 0x134", |a| a.mov(rdx, 0x134u64)),
        c("vxorps zmm2, zmm2, zmm2", |a| a.vxorps(zmm2, zmm2, zmm2)),
        c("vaddps zmm2{k1}, zmm2, zmm6", |a| {
            a.vaddps(zmm2.k1(), zmm2, zmm6)
        }),
        c("vextractf32x4 xmm31, zmm2, 0x1", |a| {
            a.vextractf32x4(xmm31, zmm2, 1)
        }),
        c("vextractf64x4 ymm31, zmm2, 0x1", |a| {
            a.vextractf64x4(ymm31, zmm2, 1)
        }),
        c("vmovntps zmmword ptr [rbx+rcx*4], zmm7", |a| {
            a.vmovntps(zmmword_ptr(rbx + rcx * 4), zmm7)
        }),
        c("vmovntps zmmword ptr [rbp+rcx*4+0x0], zmm12", |a| {
            a.vmovntps(zmmword_ptr(rbp + rcx * 4), zmm12)
        }),
        c("vmovdqu16 ymmword ptr [r13+rcx*2+0x0], ymm31", |a| {
            a.vmovdqu16(ymmword_ptr(r13 + rcx * 2), ymm31)
        }),
        c("sfence", |a| a.sfence()),
        // The 256-bit streaming store of bf16/f16 rows from ymm16..31 (EVEX only).
        c("vcvtps2ph ymm31, zmm31, 0", |a| {
            a.vcvtps2ph(ymm31, zmm31, 0)
        }),
        c("vmovntdq ymmword ptr [r9+rcx*2], ymm31", |a| {
            a.evex().vmovntdq(ymmword_ptr(r9 + rcx * 2), ymm31)
        }),
        c("vmovntdq ymmword ptr [r9+rcx*2+0x20], ymm31", |a| {
            a.evex().vmovntdq(ymmword_ptr(r9 + rcx * 2 + 0x20), ymm31)
        }),
        // The next-block prefetch, at each displacement size and base register kind.
        c("prefetcht1 byte ptr [r11+rcx*2]", |a| {
            a.prefetcht1(byte_ptr(r11 + rcx * 2))
        }),
        c("prefetcht1 byte ptr [r11+rcx*2+0x40]", |a| {
            a.prefetcht1(byte_ptr(r11 + rcx * 2 + 0x40))
        }),
        c("prefetcht1 byte ptr [r13+rcx*2+0x0]", |a| {
            a.prefetcht1(byte_ptr(r13 + rcx * 2))
        }),
        c("prefetcht1 byte ptr [r13+rcx*4+0x80]", |a| {
            a.prefetcht1(byte_ptr(r13 + rcx * 4 + 0x80))
        }),
        c("prefetcht1 byte ptr [r14+rcx*4]", |a| {
            a.prefetcht1(byte_ptr(r14 + rcx * 4))
        }),
        c("prefetcht1 byte ptr [r12+rcx*2]", |a| {
            a.prefetcht1(byte_ptr(r12 + rcx * 2))
        }),
        c("prefetcht1 byte ptr [r12+rcx*4]", |a| {
            a.prefetcht1(byte_ptr(r12 + rcx * 4))
        }),
        // The write prefetch, likewise.
        c("prefetchw byte ptr [r9+rcx*4]", |a| {
            a.prefetchw(byte_ptr(r9 + rcx * 4))
        }),
        c("prefetchw byte ptr [r9+rcx*4+0x40]", |a| {
            a.prefetchw(byte_ptr(r9 + rcx * 4 + 0x40))
        }),
        c("prefetchw byte ptr [r9+rcx*4+0x80]", |a| {
            a.prefetchw(byte_ptr(r9 + rcx * 4 + 0x80))
        }),
        c("prefetchw byte ptr [r13+rcx*2+0x0]", |a| {
            a.prefetchw(byte_ptr(r13 + rcx * 2))
        }),
        c("prefetchw byte ptr [rbx+rcx*2]", |a| {
            a.prefetchw(byte_ptr(rbx + rcx * 2))
        }),
        c("prefetchw byte ptr [rbp+rcx*4+0x0]", |a| {
            a.prefetchw(byte_ptr(rbp + rcx * 4))
        }),
    ]
}

/// Every x86 case.
pub fn cases() -> Vec<X86> {
    [
        scalar(),
        equation_passes(),
        super::x86_vector::cases(),
        amx(),
        helpers(),
        sweep(),
        super::x86_memory::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
