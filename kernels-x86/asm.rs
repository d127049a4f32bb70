//! Typed registers and small helpers over iced-x86's `CodeAssembler`.

use iced_x86::code_asm::*;
use iced_x86::IcedError;

pub use super::assemble::assemble;

/// `r` under opmask `k` (iced's operand types each have their own `k1()..k7()`).
macro_rules! with_k {
    ($r:expr, $k:expr) => {{
        let r = $r;
        match $k.map(|k: Kreg| k.0) {
            None => r,
            Some(1) => r.k1(),
            Some(2) => r.k2(),
            Some(3) => r.k3(),
            Some(4) => r.k4(),
            Some(5) => r.k5(),
            Some(6) => r.k6(),
            Some(_) => r.k7(),
        }
    }};
}

/// An AVX-512 vector register, `zmm0..zmm31`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zmm(pub u8);

/// An opmask register, `k1..k7` (`k0` means "no mask" in EVEX and is not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kreg(pub u8);

/// A 64-bit general-purpose register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gpr(pub u8);

const ZMMS: [AsmRegisterZmm; 32] = [
    zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6, zmm7, zmm8, zmm9, zmm10, zmm11, zmm12, zmm13, zmm14,
    zmm15, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27,
    zmm28, zmm29, zmm30, zmm31,
];
const YMMS: [AsmRegisterYmm; 32] = [
    ymm0, ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9, ymm10, ymm11, ymm12, ymm13, ymm14,
    ymm15, ymm16, ymm17, ymm18, ymm19, ymm20, ymm21, ymm22, ymm23, ymm24, ymm25, ymm26, ymm27,
    ymm28, ymm29, ymm30, ymm31,
];
const XMMS: [AsmRegisterXmm; 32] = [
    xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14,
    xmm15, xmm16, xmm17, xmm18, xmm19, xmm20, xmm21, xmm22, xmm23, xmm24, xmm25, xmm26, xmm27,
    xmm28, xmm29, xmm30, xmm31,
];
const KS: [AsmRegisterK; 8] = [k0, k1, k2, k3, k4, k5, k6, k7];
const GPR64: [AsmRegister64; 16] = [
    rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
];
const GPR32: [AsmRegister32; 16] = [
    eax, ecx, edx, ebx, esp, ebp, esi, edi, r8d, r9d, r10d, r11d, r12d, r13d, r14d, r15d,
];

/// System V argument register 0 (`rdi`): the pointer to the kernel's argument struct.
pub const ARG0: Gpr = Gpr(7);
/// Caller-saved GPRs other than `rdi` and `rsp`, in the order the generators take them.
pub const SCRATCH: [Gpr; 8] = [
    Gpr(0),
    Gpr(1),
    Gpr(2),
    Gpr(6),
    Gpr(8),
    Gpr(9),
    Gpr(10),
    Gpr(11),
];
/// Callee-saved GPRs other than `rsp` (a kernel pushes the ones it uses).
pub const SAVED: [Gpr; 6] = [Gpr(3), Gpr(12), Gpr(13), Gpr(14), Gpr(15), Gpr(5)];

impl Zmm {
    /// As a zmm operand.
    pub fn z(self) -> AsmRegisterZmm {
        ZMMS[self.0 as usize]
    }
    /// The low 256 bits.
    pub fn y(self) -> AsmRegisterYmm {
        YMMS[self.0 as usize]
    }
    /// The low 128 bits.
    pub fn x(self) -> AsmRegisterXmm {
        XMMS[self.0 as usize]
    }
    /// As a destination under mask `k`, zeroing (or merging) the other lanes.
    pub fn masked(self, k: Option<Kreg>, zeroing: bool) -> AsmRegisterZmm {
        let r = with_k!(self.z(), k);
        if zeroing && k.is_some() {
            r.z()
        } else {
            r
        }
    }
    /// The low 256 bits as a destination under mask `k`, zeroing (or merging) the other lanes.
    pub fn y_masked(self, k: Option<Kreg>, zeroing: bool) -> AsmRegisterYmm {
        let r = with_k!(self.y(), k);
        if zeroing && k.is_some() {
            r.z()
        } else {
            r
        }
    }
    /// The low 128 bits as a destination under mask `k`, zeroing (or merging) the other lanes.
    pub fn x_masked(self, k: Option<Kreg>, zeroing: bool) -> AsmRegisterXmm {
        let r = with_k!(self.x(), k);
        if zeroing && k.is_some() {
            r.z()
        } else {
            r
        }
    }
}

/// A memory operand under mask `k` (for masked stores).
pub fn mem_masked(m: AsmMemoryOperand, k: Option<Kreg>) -> AsmMemoryOperand {
    with_k!(m, k)
}

impl Kreg {
    /// As an operand.
    pub fn k(self) -> AsmRegisterK {
        KS[self.0 as usize]
    }
}

impl Gpr {
    /// As a 64-bit operand.
    pub fn q(self) -> AsmRegister64 {
        GPR64[self.0 as usize]
    }
    /// As a 32-bit operand.
    pub fn d(self) -> AsmRegister32 {
        GPR32[self.0 as usize]
    }
}

/// Errors of code generation: an encoding the assembler refused (a generator bug, reported
/// as "cannot generate" rather than a panic).
pub type AsmResult<T> = Result<T, IcedError>;

/// A fresh 64-bit assembler whose branches to labels are near (rel32): [`assemble`] then
/// knows every instruction's size in one pass.
pub fn assembler() -> AsmResult<CodeAssembler> {
    let mut a = CodeAssembler::new(64)?;
    a.set_prefer_short_branch(false);
    Ok(a)
}

/// Opens a counted loop of `count` trips on `counter` (`None`: it runs once, and no loop
/// code is emitted). Close it with [`loop_end`].
pub fn loop_top(a: &mut CodeAssembler, counter: Gpr, count: usize) -> AsmResult<Option<CodeLabel>> {
    if count <= 1 {
        return Ok(None);
    }
    a.mov(counter.q(), count as u64)?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    Ok(Some(top))
}

/// Closes a loop opened by [`loop_top`].
pub fn loop_end(a: &mut CodeAssembler, counter: Gpr, top: &mut Option<CodeLabel>) -> AsmResult<()> {
    if let Some(top) = top.take() {
        a.dec(counter.q())?;
        a.jnz(top)?;
    }
    Ok(())
}

/// `reg += value` for any value: an immediate when it fits in 32 bits, else through `scratch`.
pub fn add_imm(a: &mut CodeAssembler, reg: Gpr, value: usize, scratch: Gpr) -> AsmResult<()> {
    match i32::try_from(value) {
        Ok(0) => Ok(()),
        Ok(v) => a.add(reg.q(), v),
        Err(_) => {
            a.mov(scratch.q(), value as u64)?;
            a.add(reg.q(), scratch.q())
        }
    }
}

/// `dst = max(x, y)` (or min) with NaN propagating from either side. x86 returns the second
/// operand when either is NaN, so `max(first, second)` already carries `second`'s NaN; the
/// lanes where `first` (held in `dst`) is NaN are simply not written. Two instructions when
/// `dst` is `x` or `y` (the operands commute: the order only picks which zero of a ±0 tie
/// comes out, which max/min leave open), three otherwise. `k` is clobbered.
pub fn max_min_nan(
    a: &mut CodeAssembler,
    dst: Zmm,
    x: Zmm,
    y: Zmm,
    max: bool,
    k: Kreg,
) -> AsmResult<()> {
    let (first, second) = if dst == y { (y, x) } else { (x, y) };
    if dst != first {
        a.vmovaps(dst.z(), first.z())?;
    }
    // Predicate 7: ordered, i.e. the lanes where `dst` is a number.
    a.vcmpps(k.k(), dst.z(), dst.z(), 7)?;
    let d = dst.masked(Some(k), false);
    if max {
        a.vmaxps(d, dst.z(), second.z())
    } else {
        a.vminps(d, dst.z(), second.z())
    }
}
