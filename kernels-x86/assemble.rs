//! Encoding an assembler's instructions into machine code, in one pass where it can.

use super::asm::AsmResult;
use iced_x86::code_asm::CodeAssembler;
use iced_x86::{Encoder, Instruction, OpKind};

/// The machine code of `a`'s instructions, at address 0 (position-independent).
///
/// iced's own `assemble` runs its block encoder, which re-encodes the whole block until the
/// branch sizes settle (to shorten branches). With near branches only ([`super::asm::assembler`]) every
/// size is known from one pass: each instruction is encoded once at its final address, then
/// the few that name a label (branches, RIP-relative constants) again with the label's
/// address. Measured on 300 AVX-512 instructions: 16 µs against the block encoder's 49 µs,
/// which was half of a new equation's dispatch. Whatever this cannot place (a short branch
/// out of range, a label never set) goes to the block encoder, as before (which reports an
/// encoding it refuses; a label never set is a generator bug that it, like the hardware,
/// would take as address `id`).
pub fn assemble(a: &mut CodeAssembler) -> AsmResult<Vec<u8>> {
    match encode_in_one_pass(a.instructions()) {
        Some(bytes) => Ok(bytes),
        None => a.assemble(0),
    }
}

/// The label an instruction names (its id), if any: a branch target or a RIP-relative operand.
fn label_ref(i: &Instruction) -> Option<u64> {
    if i.op_count() > 0 && i.op0_kind() == OpKind::NearBranch64 {
        Some(i.near_branch64())
    } else if i.is_ip_rel_memory_operand() {
        Some(i.memory_displacement64())
    } else {
        None
    }
}

/// `i` aimed at `target` (an address) instead of its label.
fn aimed(i: &Instruction, target: u64) -> Instruction {
    let mut t = *i;
    if t.op_count() > 0 && t.op0_kind() == OpKind::NearBranch64 {
        t.set_near_branch64(target);
    } else {
        t.set_memory_displacement64(target);
    }
    t
}

fn encode_in_one_pass(ins: &[Instruction]) -> Option<Vec<u8>> {
    let mut enc = Encoder::new(64);
    // Label ids (the assembler numbers them from 1) → addresses; a set label is the `ip` of
    // the instruction it marks.
    let mut labels: Vec<Option<u64>> = vec![];
    let mut refs = vec![];
    let mut ip = 0u64;
    for i in ins {
        if i.ip() != 0 {
            let id = i.ip() as usize;
            if labels.len() <= id {
                labels.resize(id + 1, None);
            }
            labels[id] = Some(ip);
        }
        let n = match label_ref(i) {
            // Aimed at itself for now: in range, and the same size as at its label.
            Some(_) => {
                refs.push((i, ip));
                enc.encode(&aimed(i, ip), ip).ok()?
            }
            None => enc.encode(i, ip).ok()?,
        };
        ip += n as u64;
    }
    let mut bytes = enc.take_buffer();
    for (i, at) in refs {
        let target = (*labels.get(label_ref(i)? as usize)?)?;
        let n = enc.encode(&aimed(i, target), at).ok()?;
        let fixed = enc.take_buffer();
        let slot = bytes.get_mut(at as usize..at as usize + n)?;
        if fixed.len() != n {
            return None;
        }
        slot.copy_from_slice(&fixed);
    }
    Some(bytes)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::asm::assembler;
    use super::*;
    use iced_x86::code_asm::*;

    /// Runs `bytes` as `extern "C" fn() -> u64`.
    fn run(bytes: &[u8]) -> u64 {
        let code = crate::exec::arena::install(bytes).unwrap();
        // SAFETY: the tests below assemble complete functions returning in rax.
        let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(code.ptr()) };
        f()
    }

    /// A backward loop, a forward jump over more than a short branch reaches, RIP-relative
    /// constants before and after their use, and a label on data.
    fn program(a: &mut CodeAssembler) -> Result<(), IcedError> {
        let (mut top, mut past, mut three, mut before) = (
            a.create_label(),
            a.create_label(),
            a.create_label(),
            a.create_label(),
        );
        a.jmp(past)?;
        a.set_label(&mut before)?;
        a.dq(&[100])?;
        a.set_label(&mut past)?;
        a.xor(eax, eax)?;
        a.mov(ecx, 10)?;
        a.set_label(&mut top)?;
        a.add(rax, qword_ptr(three))?;
        a.dec(ecx)?;
        a.jnz(top)?;
        let mut end = a.create_label();
        a.jmp(end)?;
        for _ in 0..200 {
            a.ud2()?;
        }
        a.set_label(&mut end)?;
        a.add(rax, qword_ptr(before))?;
        a.ret()?;
        a.set_label(&mut three)?;
        a.dq(&[3])?;
        Ok(())
    }

    #[test]
    fn one_pass_encoding_runs_like_the_block_encoders() {
        let mut a = assembler().unwrap();
        program(&mut a).unwrap();
        let fast = encode_in_one_pass(a.instructions()).expect("near branches only");
        assert_eq!(run(&fast), 130);
        assert_eq!(run(&a.assemble(0).unwrap()), 130);
    }

    #[test]
    fn short_branches_out_of_range_fall_back_to_the_block_encoder() {
        // iced's default assembler prefers short branches: the jump over 200 `ud2` cannot be
        // one, so the one-pass encoder declines and `assemble` takes the block encoder.
        let mut a = CodeAssembler::new(64).unwrap();
        program(&mut a).unwrap();
        assert!(encode_in_one_pass(a.instructions()).is_none());
        assert_eq!(run(&assemble(&mut a).unwrap()), 130);
    }

    #[test]
    fn a_label_never_set_is_declined() {
        let mut a = assembler().unwrap();
        let nowhere = a.create_label();
        a.jmp(nowhere).unwrap();
        a.ret().unwrap();
        assert!(encode_in_one_pass(a.instructions()).is_none());
    }
}
