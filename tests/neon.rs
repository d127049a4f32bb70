//! The NEON backend on aarch64 (under `qemu-aarch64` off Arm hardware): it claims what it
//! should on the CPU it runs on, falls back detectably on what that CPU lacks, and its kernels
//! agree with the reference. The differential suite (tests/differential*.rs) covers it in
//! depth, by registration; this file makes sure that suite really exercises it.
#![cfg(target_arch = "aarch64")]

mod common;

use common::harness::{self, Checked};
use tpp::*;

#[test]
fn neon_is_registered_and_claims_eltwise() {
    assert!(
        harness::jit_backends().contains(&"neon"),
        "{:?}",
        harness::jit_backends()
    );
    eprintln!("aarch64 caps: {:?}", tpp::dispatch::caps::arm());
    let descs = [
        UnaryDesc::new(UnaryOp::Exp, 5, 37, DType::F32),
        UnaryDesc::new(UnaryOp::Relu { mask: true }, 3, 13, DType::F32),
        UnaryDesc::new(UnaryOp::Gelu, 7, 9, DType::BF16),
        UnaryDesc::new(UnaryOp::Tanh, 2, 70, DType::F16),
        UnaryDesc::new(UnaryOp::Dropout { p: 0.3 }, 4, 21, DType::F32),
    ];
    for (i, d) in descs.iter().enumerate() {
        let k = dispatch_on(d, "neon").unwrap();
        assert_eq!(k.info().backend, "neon", "{d:?}");
        assert_eq!(
            harness::check_unary("neon", d, i as u64),
            Ok(Checked::Compared),
            "{d:?}"
        );
    }
    // Data movement: layout transforms, copies and zero fill, bit for bit.
    let moves = [
        UnaryDesc::new(UnaryOp::Transpose, 5, 11, DType::BF16),
        UnaryDesc::new(
            UnaryOp::VnniPack {
                layout: Layout::Vnni4,
            },
            7,
            9,
            DType::I8,
        ),
        UnaryDesc::new(UnaryOp::GatherCols, 3, 5, DType::F64),
        UnaryDesc::new(UnaryOp::Identity, 4, 37, DType::I32),
        UnaryDesc::new(UnaryOp::Zero, 4, 3, DType::F16),
    ];
    for (i, d) in moves.iter().enumerate() {
        assert_eq!(dispatch_on(d, "neon").unwrap().info().backend, "neon");
        assert_eq!(
            harness::check_unary("neon", d, i as u64),
            Ok(Checked::Compared),
            "{d:?}"
        );
    }
    let reductions = [
        ReduceDesc::new(
            ReduceOp::SumAndSumSq,
            ReduceAxis::PerRow,
            5,
            11,
            DType::BF16,
        ),
        ReduceDesc::new(ReduceOp::Max, ReduceAxis::PerCol, 9, 7, DType::F16),
        ReduceDesc::new(ReduceOp::AbsMax, ReduceAxis::PerRow, 3, 6, DType::F32),
    ];
    for (i, d) in reductions.iter().enumerate() {
        assert_eq!(dispatch_on(d, "neon").unwrap().info().backend, "neon");
        assert_eq!(
            harness::check_reduce("neon", d, i as u64),
            Ok(Checked::Compared),
            "{d:?}"
        );
    }
    let b = BinaryDesc::new(BinaryOp::Compare(CmpOp::Lt), 3, 19, DType::F32);
    assert_eq!(harness::check_binary("neon", &b, 1), Ok(Checked::Compared));
}

/// The GEMM microkernels the CPU has are NEON's; the others (bf16 dot products without
/// FEAT_BF16, mixed-sign int8 without FEAT_I8MM, transposed B) fall back to the reference,
/// which the kernel's info says, and still compute the right thing.
#[test]
fn gemm_claims_follow_the_cpu_and_fall_back_detectably() {
    let caps = *tpp::dispatch::caps::arm();
    let bf16 = GemmDesc::new(7, 19, 6, DType::BF16).vnni_b();
    let u8i8 = GemmDesc::new(7, 19, 8, DType::U8)
        .inputs(DType::U8, DType::I8)
        .vnni_b();
    let i8i8 = GemmDesc::new(7, 19, 8, DType::I8)
        .inputs(DType::I8, DType::I8)
        .vnni_b();
    let cases = [
        (GemmDesc::new(13, 37, 9, DType::F32).beta(0.5), true),
        (GemmDesc::new(13, 37, 9, DType::F64), true),
        (GemmDesc::new(5, 17, 3, DType::F16).trans_a(), true),
        (bf16, caps.bf16),
        (u8i8, caps.i8mm),
        (i8i8, caps.dotprod),
        (GemmDesc::new(5, 17, 3, DType::F32).trans_b(), false),
    ];
    for (i, (d, neon)) in cases.into_iter().enumerate() {
        let k = dispatch(&d).unwrap();
        let want = if neon { "neon" } else { "reference" };
        assert_eq!(k.info().backend, want, "{d:?} with {caps:?}");
        assert_eq!(
            harness::check_gemm(harness::AUTO, &d, i as u64),
            Ok(Checked::Compared),
            "{d:?}"
        );
    }
}
