//! The aarch64 side of the golden harness, ready for the NEON backend's raw-word encoders
//! (`bfdot`, `bfmmla`, `smmla`, `ummla`, `usmmla`, which its assembler lacks): a case is a list
//! of 32-bit words next to its GNU syntax. Until those encoders exist in the library, the
//! cases here compose the words from the Arm ARM's fields, which proves the harness end to end
//! (assembler, symbol offsets, little-endian words) on every register field.

use super::gnu::Case;

/// A three-register vector instruction: `base | Rm << 16 | Rn << 5 | Rd`.
fn rrr(base: u32, d: u32, n: u32, m: u32) -> u32 {
    assert!(d < 32 && n < 32 && m < 32);
    base | m << 16 | n << 5 | d
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Every aarch64 case.
pub fn cases() -> Vec<Case> {
    // (base word, GNU mnemonic, destination arrangement, source arrangement)
    let three = [
        (0x4e20_cc00, "fmla", "4s", "4s"),
        (0x6e40_fc00, "bfdot", "4s", "8h"),
        (0x6e40_ec00, "bfmmla", "4s", "8h"),
        (0x4e80_a400, "smmla", "4s", "16b"),
        (0x6e80_a400, "ummla", "4s", "16b"),
        (0x4e80_ac00, "usmmla", "4s", "16b"),
        (0x4e80_9400, "sdot", "4s", "16b"),
        (0x6e80_9400, "udot", "4s", "16b"),
    ];
    let mut v = vec![Case {
        gnu: "ret".into(),
        ours: words(&[0xd65f_03c0]),
        choice: None,
    }];
    for (base, name, da, sa) in three {
        for i in 0..32u32 {
            let (d, n, m) = (i, (i * 7 + 3) % 32, 31 - i);
            v.push(Case {
                gnu: format!("{name} v{d}.{da}, v{n}.{sa}, v{m}.{sa}"),
                ours: words(&[rrr(base, d, n, m)]),
                choice: None,
            });
        }
    }
    // A multi-word case: a loop of two dot products.
    v.push(Case {
        gnu: "%top: bfdot v0.4s, v1.8h, v2.8h\nbfmmla v3.4s, v4.8h, v5.8h\nret".into(),
        ours: words(&[
            rrr(0x6e40_fc00, 0, 1, 2),
            rrr(0x6e40_ec00, 3, 4, 5),
            0xd65f_03c0,
        ]),
        choice: None,
    });
    v
}
