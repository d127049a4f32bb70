//! The aarch64 side of the golden harness: the NEON backend's raw-word encoders
//! (`kernels_arm::raw`, the ARMv8.6 forms dynasm lacks) over every register field and every
//! lane index, and the frame and helper sequences of `kernels_arm::asm` (dynasm's own
//! encodings, checked on the forms the generators use), each next to its GNU syntax.

use super::gnu::Case;
use tpp::kernels_arm::asm::{self, Frame, V, X};
use tpp::kernels_arm::raw;

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn case(gnu: String, ours: Vec<u8>) -> Case {
    Case {
        gnu,
        ours,
        choice: None,
    }
}

/// Registers that exercise every bit of each 5-bit field across the 32 cases.
fn regs(i: u8) -> (V, V, V) {
    (V(i), V((i * 7 + 3) % 32), V(31 - i))
}

/// Every aarch64 case.
pub fn cases() -> Vec<Case> {
    let mut v = vec![case("ret".into(), words(&[0xd65f_03c0]))];
    type Three = fn(V, V, V) -> u32;
    let three: [(Three, &str, &str, &str); 7] = [
        (raw::bfdot, "bfdot", "4s", "8h"),
        (raw::bfmmla, "bfmmla", "4s", "8h"),
        (raw::smmla, "smmla", "4s", "16b"),
        (raw::ummla, "ummla", "4s", "16b"),
        (raw::usmmla, "usmmla", "4s", "16b"),
        (raw::usdot, "usdot", "4s", "16b"),
        (|d, n, _| raw::bfcvtn(d, n), "bfcvtn", "4h", "4s"),
    ];
    for (enc, name, da, sa) in three {
        for i in 0..32u8 {
            let (d, n, m) = regs(i);
            let gnu = if name == "bfcvtn" {
                format!("{name} v{}.{da}, v{}.{sa}", d.0, n.0)
            } else {
                format!("{name} v{}.{da}, v{}.{sa}, v{}.{sa}", d.0, n.0, m.0)
            };
            v.push(case(gnu, words(&[enc(d, n, m)])));
        }
    }
    for i in 0..32u8 {
        let (d, n, _) = regs(i);
        v.push(case(
            format!("fcvtn v{}.4h, v{}.4s", d.0, n.0),
            words(&[raw::fcvtn_f16(d, n)]),
        ));
    }
    type Elem = fn(V, V, V, u8) -> u32;
    let elem: [(Elem, &str, &str); 3] = [
        (raw::bfdot_elem, "bfdot", "8h, v{m}.2h"),
        (raw::usdot_elem, "usdot", "16b, v{m}.4b"),
        (raw::sudot_elem, "sudot", "16b, v{m}.4b"),
    ];
    for (enc, name, operands) in elem {
        for i in 0..32u8 {
            for lane in 0..4u8 {
                let (d, n, m) = regs(i);
                let ops = operands.replace("{m}", &m.0.to_string());
                v.push(case(
                    format!("{name} v{}.4s, v{}.{ops}[{lane}]", d.0, n.0),
                    words(&[enc(d, n, m, lane)]),
                ));
            }
        }
    }
    // A multi-word case: a loop of two dot products.
    v.push(case(
        "%top: bfdot v0.4s, v1.8h, v2.8h\nbfmmla v3.4s, v4.8h, v5.8h\nret".into(),
        words(&[
            raw::bfdot(V(0), V(1), V(2)),
            raw::bfmmla(V(3), V(4), V(5)),
            0xd65f_03c0,
        ]),
    ));
    v.extend(helper_cases());
    v
}

fn assembled(f: impl FnOnce(&mut asm::Ops)) -> Vec<u8> {
    let mut a = asm::assembler();
    f(&mut a);
    a.finalize().expect("no labels to resolve")
}

/// The frame (AAPCS64 saves) and the immediate helpers, as dynasm encodes them.
fn helper_cases() -> Vec<Case> {
    let frame = Frame {
        gprs: vec![X(19), X(20), X(21)],
        vectors: true,
    };
    let mut v = vec![
        case(
            "stp d8, d9, [sp, #-16]!\nstp d10, d11, [sp, #-16]!\n\
             stp d12, d13, [sp, #-16]!\nstp d14, d15, [sp, #-16]!\n\
             stp x19, x20, [sp, #-16]!\nstp x21, x21, [sp, #-16]!"
                .into(),
            assembled(|a| frame.prologue(a)),
        ),
        case(
            "ldp x21, x21, [sp], #16\nldp x19, x20, [sp], #16\n\
             ldp d14, d15, [sp], #16\nldp d12, d13, [sp], #16\n\
             ldp d10, d11, [sp], #16\nldp d8, d9, [sp], #16\nret"
                .into(),
            assembled(|a| frame.epilogue(a)),
        ),
        case(
            "movz x3, #0x5678\nmovk x3, #0x1234, lsl #16\nmovk x3, #0xbeef, lsl #48".into(),
            assembled(|a| asm::mov_imm(a, X(3), 0xbeef_0000_1234_5678)),
        ),
        case(
            "add x5, x6, #4095".into(),
            assembled(|a| asm::add_imm(a, X(5), X(6), 4095, X(7))),
        ),
        case(
            "movz x7, #4096\nadd x5, x6, x7".into(),
            assembled(|a| asm::add_imm(a, X(5), X(6), 4096, X(7))),
        ),
        case(
            "movz w9, #0\nmovk w9, #0x3f80, lsl #16\ndup v28.4s, w9".into(),
            assembled(|a| asm::dup_imm32(a, V(28), 0x3f80_0000, X(9))),
        ),
    ];
    v.push(case(
        "movi v4.2d, #0".into(),
        assembled(|a| asm::dup_imm32(a, V(4), 0, X(9))),
    ));
    v
}
