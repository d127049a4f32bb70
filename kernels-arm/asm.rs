//! Typed registers and small helpers over dynasm's aarch64 assembler (`VecAssembler`, which
//! runs on any host: generating aarch64 code here is just bytes), and the AAPCS64 frame.
//!
//! Register conventions of every generated function (AAPCS64): the argument-struct pointer
//! arrives in `x0`; `x1..x17` are free; `x19..x28` are callee-saved and pushed by [`Frame`]
//! when used; `x18` (the platform register) is never touched; `x29`/`x30` are left alone
//! (the kernels are leaves, or save `x30` before a call); `v8..v15` have their low 64 bits
//! callee-saved, which [`Frame`] stores when a kernel uses them.

use dynasmrt::aarch64::Aarch64Relocation;
use dynasmrt::{dynasm, DynasmApi, VecAssembler};

/// A 128-bit vector register `v0..v31` (its `d`, `s`, `h`, `b` views share the number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct V(pub u8);

/// A 64-bit general-purpose register `x0..x30` (`w` is its low half).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct X(pub u8);

/// The assembler every generator writes into.
pub type Ops = VecAssembler<Aarch64Relocation>;

/// A fresh assembler (addresses are relative: the code is position independent).
pub fn assembler() -> Ops {
    VecAssembler::new(0)
}

/// Argument register 0: the pointer to the kernel's argument struct.
pub const ARG0: X = X(0);

/// Caller-saved registers other than `x0`, in the order generators take them.
pub const SCRATCH: [X; 17] = [
    X(1),
    X(2),
    X(3),
    X(4),
    X(5),
    X(6),
    X(7),
    X(8),
    X(9),
    X(10),
    X(11),
    X(12),
    X(13),
    X(14),
    X(15),
    X(16),
    X(17),
];

/// Callee-saved registers a generator may take after [`SCRATCH`] (saved by [`Frame`]).
pub const SAVED: [X; 10] = [
    X(19),
    X(20),
    X(21),
    X(22),
    X(23),
    X(24),
    X(25),
    X(26),
    X(27),
    X(28),
];

/// Hands out general-purpose registers: the caller-saved ones first, then callee-saved ones,
/// remembered so that the frame pushes them.
#[derive(Debug, Default)]
pub struct GprPool {
    taken: usize,
    /// The callee-saved registers handed out.
    pub saved: Vec<X>,
}

impl GprPool {
    /// The next free register, or `None` when all 27 are taken.
    pub fn take(&mut self) -> Option<X> {
        let r = SCRATCH
            .iter()
            .chain(SAVED.iter())
            .nth(self.taken)
            .copied()?;
        self.taken += 1;
        if SAVED.contains(&r) {
            self.saved.push(r);
        }
        Some(r)
    }
}

/// The AAPCS64 frame of a generated function: the callee-saved registers it uses, pushed in
/// pairs below `sp` (which stays 16-byte aligned) and popped in reverse order.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// Callee-saved general-purpose registers to preserve (`x19..x28`, or `x30` before calls).
    pub gprs: Vec<X>,
    /// Whether the kernel writes any of `v8..v15` (their low halves `d8..d15` are saved).
    pub vectors: bool,
}

impl Frame {
    fn gpr_pairs(&self) -> Vec<(X, X)> {
        let mut g = self.gprs.clone();
        if g.len() % 2 == 1 {
            // An odd count is padded with a register already in the list (stored twice).
            g.push(g[g.len() - 1]);
        }
        g.chunks(2).map(|p| (p[0], p[1])).collect()
    }

    /// Pushes the registers.
    pub fn prologue(&self, a: &mut Ops) {
        if self.vectors {
            for (x, y) in [(8u8, 9u8), (10, 11), (12, 13), (14, 15)] {
                dynasm!(a ; .arch aarch64 ; stp D(x), D(y), [sp, #-16]!);
            }
        }
        for (x, y) in self.gpr_pairs() {
            dynasm!(a ; .arch aarch64 ; stp X(x.0), X(y.0), [sp, #-16]!);
        }
    }

    /// Pops them and returns.
    pub fn epilogue(&self, a: &mut Ops) {
        for (x, y) in self.gpr_pairs().into_iter().rev() {
            dynasm!(a ; .arch aarch64 ; ldp X(x.0), X(y.0), [sp], #16);
        }
        if self.vectors {
            for (x, y) in [(14u8, 15u8), (12, 13), (10, 11), (8, 9)] {
                dynasm!(a ; .arch aarch64 ; ldp D(x), D(y), [sp], #16);
            }
        }
        dynasm!(a ; .arch aarch64 ; ret);
    }
}

/// `x = value` (64 bits) in one `movz` and up to three `movk`.
pub fn mov_imm(a: &mut Ops, x: X, value: u64) {
    dynasm!(a ; .arch aarch64 ; movz X(x.0), #(value & 0xffff) as u32);
    for shift in [16u32, 32, 48] {
        let part = ((value >> shift) & 0xffff) as u32;
        if part != 0 {
            dynasm!(a ; .arch aarch64 ; movk X(x.0), #part, lsl #shift);
        }
    }
}

/// `w = value` (32 bits).
pub fn mov_imm32(a: &mut Ops, x: X, value: u32) {
    dynasm!(a ; .arch aarch64 ; movz W(x.0), #value & 0xffff);
    if value >> 16 != 0 {
        dynasm!(a ; .arch aarch64 ; movk W(x.0), #value >> 16, lsl #16);
    }
}

/// `dst = src + value` for any value: an immediate below 4096, else through `scratch`.
pub fn add_imm(a: &mut Ops, dst: X, src: X, value: usize, scratch: X) {
    if value < 4096 {
        if value != 0 || dst != src {
            dynasm!(a ; .arch aarch64 ; add XSP(dst.0), XSP(src.0), #value as u32);
        }
    } else {
        mov_imm(a, scratch, value as u64);
        dynasm!(a ; .arch aarch64 ; add X(dst.0), X(src.0), X(scratch.0));
    }
}

/// `v = value` in every 32-bit lane, through `scratch`.
pub fn dup_imm32(a: &mut Ops, v: V, value: u32, scratch: X) {
    if value == 0 {
        dynasm!(a ; .arch aarch64 ; movi V(v.0).D2, #0);
    } else {
        mov_imm32(a, scratch, value);
        dynasm!(a ; .arch aarch64 ; dup V(v.0).S4, W(scratch.0));
    }
}

/// Emits one raw instruction word (the forms of [`super::raw`]).
pub fn word(a: &mut Ops, w: u32) {
    a.push_u32(w);
}
