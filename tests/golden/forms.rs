//! Instruction forms, read back from machine code with iced-x86's decoder: what distinguishes
//! one encoding path from another (the opcode and operand kinds, masking, embedded broadcast,
//! displacement size, and how a memory operand is addressed), but not which registers it
//! names (the golden register sweep covers those). The coverage test decodes real generated kernels and requires
//! every form found there to be among the golden cases' forms.

use iced_x86::{Code, Decoder, DecoderOptions, Instruction, OpKind, Register};
use std::collections::{BTreeMap, BTreeSet};

/// How the base of a memory operand encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Base {
    None,
    Rip,
    /// rsp or r12: needs a SIB byte.
    SibOnly,
    /// rbp or r13: needs a displacement even when it is zero.
    DispOnly,
    Other,
}

/// What the golden cases must cover, in two orthogonal parts: each instruction form, and each
/// way a memory operand is addressed within an encoding (ModRM, SIB and displacement are
/// shared by every instruction of an encoding; the EVEX displacement's compression depends on
/// the instruction, so the displacement size is part of the instruction form).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Form {
    Instruction {
        code: Code,
        operands: Vec<OpKind>,
        /// 0: no mask, 1: merge masking, 2: zero masking.
        mask: u8,
        broadcast: bool,
        /// Displacement bytes as encoded: 0, 1 (disp8, compressed for EVEX) or 4.
        disp: usize,
    },
    Address {
        /// "legacy", "VEX" or "EVEX".
        encoding: &'static str,
        base: Base,
        /// None, a general register, or a vector register (VSIB).
        index: Option<&'static str>,
        scale: u32,
    },
}

fn forms(ins: &Instruction, first_byte: u8, disp: usize) -> Vec<Form> {
    let operands: Vec<OpKind> = (0..ins.op_count()).map(|i| ins.op_kind(i)).collect();
    let mut v = vec![];
    if operands.contains(&OpKind::Memory) {
        let base = match ins.memory_base() {
            Register::None => Base::None,
            Register::RIP => Base::Rip,
            Register::RSP | Register::R12 => Base::SibOnly,
            Register::RBP | Register::R13 => Base::DispOnly,
            _ => Base::Other,
        };
        let index = match ins.memory_index() {
            Register::None => None,
            r if (Register::RAX..=Register::R15).contains(&r) => Some("gpr"),
            _ => Some("vector"),
        };
        let encoding = match first_byte {
            0x62 => "EVEX",
            0xc4 | 0xc5 => "VEX",
            _ => "legacy",
        };
        v.push(Form::Address {
            encoding,
            base,
            index,
            scale: ins.memory_index_scale(),
        });
    }
    v.push(Form::Instruction {
        code: ins.code(),
        operands,
        mask: match (ins.op_mask(), ins.zeroing_masking()) {
            (Register::None, _) => 0,
            (_, false) => 1,
            (_, true) => 2,
        },
        broadcast: ins.is_broadcast(),
        disp,
    });
    v
}

/// Decodes one instruction at `at`, or says why it cannot.
fn decode_at(bytes: &[u8], at: usize) -> Result<(Instruction, Vec<Form>), String> {
    let mut d = Decoder::with_ip(64, &bytes[at..], at as u64, DecoderOptions::NONE);
    let ins = d.decode();
    if ins.is_invalid() {
        return Err(format!("invalid instruction at {at:#x}"));
    }
    let f = forms(
        &ins,
        bytes[at],
        d.get_constant_offsets(&ins).displacement_size(),
    );
    Ok((ins, f))
}

/// The forms of the first `count` instructions of `bytes`, read straight through (golden
/// cases, whose bytes after those are data).
pub fn linear(bytes: &[u8], count: usize) -> Result<Vec<Form>, String> {
    let (mut at, mut n) = (0, 0);
    let mut v = vec![];
    while at < bytes.len() && n < count {
        let (ins, f) = decode_at(bytes, at)?;
        v.extend(f);
        at += ins.len();
        n += 1;
    }
    Ok(v)
}

/// The forms of a generated kernel, following its control flow from the entry: every path
/// ends in `ret`, and the constants behind the code are never decoded as instructions. Each
/// form maps to the offset of one instruction that has it.
pub fn kernel(bytes: &[u8]) -> Result<BTreeMap<Form, usize>, String> {
    let mut forms = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut work = vec![0usize];
    while let Some(mut at) = work.pop() {
        while seen.insert(at) {
            if at >= bytes.len() {
                return Err(format!("control flow runs off the end at {at:#x}"));
            }
            let (ins, fs) = decode_at(bytes, at)?;
            for f in fs {
                forms.entry(f).or_insert(at);
            }
            let branch = ins.op_count() == 1 && ins.op_kind(0) == OpKind::NearBranch64;
            if branch && ins.code() != Code::Call_rel32_64 {
                work.push(ins.near_branch_target() as usize);
                if matches!(ins.code(), Code::Jmp_rel8_64 | Code::Jmp_rel32_64) {
                    break;
                }
            }
            if ins.code() == Code::Retnq {
                break;
            }
            at += ins.len();
        }
    }
    Ok(forms)
}

/// Whether two byte strings are each one instruction, and the same one: the same mnemonic
/// and the same operands (registers, immediate values, memory addresses, branch targets),
/// however each is encoded.
pub fn same_instruction(a: &[u8], b: &[u8]) -> Result<(), String> {
    let one = |bytes: &[u8]| -> Result<Instruction, String> {
        let (ins, _) = decode_at(bytes, 0)?;
        if ins.len() != bytes.len() {
            return Err(format!(
                "{} bytes are more than one instruction",
                bytes.len()
            ));
        }
        Ok(ins)
    };
    let (x, y) = (one(a)?, one(b)?);
    let operand = |ins: &Instruction, i: u32| match ins.op_kind(i) {
        OpKind::Register => format!("{:?}", ins.op_register(i)),
        OpKind::Memory => format!(
            "[{:?}+{:?}*{}+{:#x}] {:?}",
            ins.memory_base(),
            ins.memory_index(),
            ins.memory_index_scale(),
            ins.memory_displacement64(),
            ins.memory_size()
        ),
        OpKind::NearBranch64 => format!("{:#x}", ins.near_branch_target()),
        _ => format!("{:#x}", ins.immediate(i)),
    };
    let show = |ins: &Instruction| -> String {
        let ops: Vec<String> = (0..ins.op_count()).map(|i| operand(ins, i)).collect();
        format!("{:?} {}", ins.mnemonic(), ops.join(", "))
    };
    if show(&x) == show(&y) {
        Ok(())
    } else {
        Err(format!("{} vs {}", show(&x), show(&y)))
    }
}
