//! The k loop of each NEON GEMM microkernel, counted: multiply-accumulate instructions over
//! all instructions in the innermost loop (the FMA density) and FLOPs per instruction, for a
//! full 6-row tile. Pure code generation, so it runs on every host; the figures are printed
//! (`cargo test --test neon_density -- --nocapture`) and the f32, bf16 and int8 kernels must
//! reach the 85% density goal. This is an instruction count, not a speed: NEON speed has not
//! been measured on hardware.

use tpp::kernels_arm::gemm::{self, Arith, DotI8, GemmSpec, Mmla, MmlaUse, MMLA_MIN_ROWS};
use tpp::*;

/// (mask, value, flops per instruction) of each multiply-accumulate form the kernels emit.
const MACS: [(u32, u32, u32); 11] = [
    (0xffc0_f400, 0x4f80_1000, 8),  // fmla v.4s, v.4s, v.s[i]
    (0xffc0_f400, 0x4fc0_1000, 4),  // fmla v.2d, v.2d, v.d[i]
    (0xffc0_f400, 0x4f40_f000, 16), // bfdot v.4s, v.8h, v.2h[i]
    (0xffc0_f400, 0x4f80_e000, 32), // sdot v.4s, v.16b, v.4b[i]
    (0xffc0_f400, 0x6f80_e000, 32), // udot
    (0xffc0_f400, 0x4f00_f000, 32), // sudot
    (0xffc0_f400, 0x4f80_f000, 32), // usdot
    (0xffe0_fc00, 0x6e40_ec00, 32), // bfmmla v.4s, v.8h, v.8h
    (0xffe0_fc00, 0x4e80_a400, 64), // smmla v.4s, v.16b, v.16b
    (0xffe0_fc00, 0x6e80_a400, 64), // ummla
    (0xffe0_fc00, 0x4e80_ac00, 64), // usmmla
];

/// The words of the innermost loop: from the target of the first backward `b.cond` that
/// closes over multiply-accumulates, to that branch.
fn k_loop(words: &[u32]) -> &[u32] {
    for (at, &w) in words.iter().enumerate() {
        if w & 0xff00_0010 == 0x5400_0000 {
            let imm19 = ((w >> 5) & 0x7ffff) as i32;
            let off = (imm19 << 13) >> 13;
            if off < 0 {
                let from = (at as i32 + off) as usize;
                let body = &words[from..=at];
                if body.iter().any(|&x| mac_flops(x).is_some()) {
                    return body;
                }
            }
        }
    }
    panic!("no k loop found");
}

fn mac_flops(w: u32) -> Option<u32> {
    MACS.iter()
        .find(|(mask, value, _)| w & mask == *value)
        .map(|m| m.2)
}

/// The k loop's counts for one kernel.
struct Count {
    /// Multiply-accumulate instructions over all instructions.
    density: f64,
    /// FLOPs per instruction that land in C (an MMLA on a lone row wastes half of its own).
    useful_flops: f64,
}

fn count(d: &GemmDesc, arith: Arith, mmla: Option<Mmla>) -> Count {
    let bytes = gemm::generate(&GemmSpec {
        d,
        arith,
        epilogues: vec![],
        mmla: mmla.map(|kind| MmlaUse { kind, min_rows: 1 }),
    })
    .unwrap();
    let words: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let body = k_loop(&words);
    let macs: Vec<u32> = body.iter().filter_map(|&w| mac_flops(w)).collect();
    let flops: u32 = macs.iter().sum();
    let used = match mmla {
        Some(_) => d.m as f64 / d.m.next_multiple_of(2) as f64,
        None => 1.0,
    };
    Count {
        density: macs.len() as f64 / body.len() as f64,
        useful_flops: used * flops as f64 / body.len() as f64,
    }
}

fn density(name: &str, d: GemmDesc, arith: Arith) -> f64 {
    density_of(name, d, arith, None)
}

fn density_of(name: &str, d: GemmDesc, arith: Arith, mmla: Option<Mmla>) -> f64 {
    let c = count(&d, arith, mmla);
    println!(
        "{name:>24}: {:.1}% multiply-accumulate instructions in the k loop, {:.1} FLOPs/instruction",
        100.0 * c.density,
        c.useful_flops
    );
    c.density
}

#[test]
fn k_loop_fma_density() {
    let f32 = density(
        "f32 fmla 6x16",
        GemmDesc::new(6, 16, 64, DType::F32),
        Arith::Fma32 { input: DType::F32 },
    );
    density(
        "f64 fmla 6x8",
        GemmDesc::new(6, 8, 64, DType::F64),
        Arith::Fma64,
    );
    density(
        "bf16 widened fmla 6x16",
        GemmDesc::new(6, 16, 64, DType::BF16),
        Arith::Fma32 { input: DType::BF16 },
    );
    let bf16 = density(
        "bf16 bfdot 6x16",
        GemmDesc::new(6, 16, 64, DType::BF16).vnni_b(),
        Arith::DotBf16,
    );
    let i8 = density(
        "i8 sdot 6x16",
        GemmDesc::new(6, 16, 64, DType::I8)
            .inputs(DType::I8, DType::I8)
            .vnni_b(),
        Arith::DotI8(DotI8::Sdot),
    );
    let u8i8 = density(
        "u8·i8 sudot 6x16",
        GemmDesc::new(6, 16, 64, DType::U8)
            .inputs(DType::U8, DType::I8)
            .vnni_b(),
        Arith::DotI8(DotI8::UnsignedA),
    );
    density_of(
        "bf16 bfmmla 6x16",
        GemmDesc::new(6, 16, 64, DType::BF16).vnni_b(),
        Arith::DotBf16,
        Some(Mmla::Bfmmla),
    );
    density_of(
        "i8 smmla 6x16",
        GemmDesc::new(6, 16, 64, DType::I8)
            .inputs(DType::I8, DType::I8)
            .vnni_b(),
        Arith::DotI8(DotI8::Sdot),
        Some(Mmla::Smmla),
    );
    for (name, d) in [("f32", f32), ("bf16", bf16), ("i8", i8), ("u8·i8", u8i8)] {
        assert!(
            d >= 0.85,
            "{name} k-loop density {d:.3} is under the 85% goal"
        );
    }
}

/// The rule that picks MMLA tiles (`MMLA_MIN_ROWS`) is what the counts say: for every tile
/// height and both B layouts, MMLA gives more useful FLOPs per k-loop instruction than the dot
/// product exactly from `MMLA_MIN_ROWS` rows up, on full and narrow tiles.
#[test]
fn mmla_is_used_where_it_gives_more_work_per_instruction() {
    let forms = [
        (DType::BF16, Arith::DotBf16, Mmla::Bfmmla),
        (DType::I8, Arith::DotI8(DotI8::Sdot), Mmla::Smmla),
        (
            DType::U8,
            Arith::DotI8(DotI8::UnsignedA),
            Mmla::UsmmlaUnsignedA,
        ),
    ];
    for (dt, dot, mmla) in forms {
        for cols in [16, 8] {
            for rows in 1..=6 {
                let b = if dt == DType::BF16 { dt } else { DType::I8 };
                let d = GemmDesc::new(rows, cols, 64, dt).inputs(dt, b).vnni_b();
                let (m, o) = (count(&d, dot, Some(mmla)), count(&d, dot, None));
                println!(
                    "{dt:?} {rows}x{cols}: MMLA {:.1}, dot {:.1} useful FLOPs/instruction",
                    m.useful_flops, o.useful_flops
                );
                assert_eq!(
                    m.useful_flops > o.useful_flops,
                    rows >= MMLA_MIN_ROWS,
                    "{dt:?} {rows}x{cols}: MMLA {:.2} against the dot product {:.2}",
                    m.useful_flops,
                    o.useful_flops
                );
            }
        }
    }
}
