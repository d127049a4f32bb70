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

/// The GEMM microkernels the CPU has are NEON's (a bf16 VNNI2 B without FEAT_BF16 is
/// unpacked for the widened `fmla` kernel, a transposed B transposed first); the others
/// (mixed-sign int8 without FEAT_I8MM) fall back to the reference, which the kernel's info
/// says, and still compute the right thing.
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
        (bf16, true),
        (u8i8, caps.i8mm),
        (i8i8, caps.dotprod),
        (GemmDesc::new(5, 17, 3, DType::F32).trans_b(), true),
        (
            GemmDesc::new(6, 9, 4, DType::BF16)
                .vnni_b()
                .output(DType::BF16)
                .vnni_c(),
            true,
        ),
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

/// The MMLA tiles (`bfmmla`, `smmla`, `ummla`, `usmmla` both ways round) against the
/// reference: tile heights on both sides of the MMLA cut-over and odd ones (a row pair with
/// one row), narrow and partial column vectors, k with a leftover half group, padded and far
/// apart leading dimensions, every batch form, alpha/beta and the fused epilogue. Without FEAT_BF16 /
/// FEAT_I8MM (`-cpu neoverse-n1`) the same descriptors run the dot products or fall back,
/// never SIGILL.
#[test]
fn mmla_tiles_match_the_reference() {
    let int8 = [
        (DType::I8, DType::I8),
        (DType::U8, DType::U8),
        (DType::U8, DType::I8),
        (DType::I8, DType::U8),
    ];
    let mut descs = vec![];
    for (i, &(m, n, k)) in [(6, 16, 8), (4, 3, 4), (5, 17, 12), (7, 33, 16), (13, 9, 20)]
        .iter()
        .enumerate()
    {
        let bf16 = GemmDesc::new(m, n, k, DType::BF16).vnni_b();
        descs.push(bf16.ld(k + 2, n + 1, n + 3).alpha(0.5).beta(-1.5));
        descs.push(
            bf16.output(DType::BF16)
                .bias(BiasBroadcast::Col, DType::F32)
                .activation(Activation::Relu { mask: true }),
        );
        descs.push(bf16.batch(BatchReduce::Stride {
            a: bf16.a_len() + 1,
            b: bf16.b_len() + 2,
        }));
        let (a, b) = int8[i % int8.len()];
        let k8 = k.next_multiple_of(4);
        for (a, b) in [(a, b), int8[(i + 1) % int8.len()]] {
            let d = GemmDesc::new(m, n, k8, a).inputs(a, b).vnni_b();
            descs.push(
                d.ld(k8 + 4, n + 2, n + 1)
                    .beta(if i % 2 == 0 { 0.0 } else { 1.0 }),
            );
            descs.push(d.batch([BatchReduce::Offsets, BatchReduce::Addresses][i % 2]));
        }
    }
    // B rows too far apart for the post-incremented pair loads (the pointers step by adds,
    // one of them beyond an add's immediate).
    for ldb in [300, 1100] {
        descs.push(
            GemmDesc::new(6, 16, 12, DType::BF16)
                .vnni_b()
                .ld(12, ldb, 16),
        );
        let d = GemmDesc::new(12, 32, 24, DType::U8).inputs(DType::U8, DType::U8);
        descs.push(d.vnni_b().ld(24, ldb, 32));
    }
    let caps = *tpp::dispatch::caps::arm();
    for (i, d) in descs.iter().enumerate() {
        d.validate().unwrap();
        let mixed = d.a_dtype != d.b_dtype && d.a_dtype.is_int8();
        let neon = !mixed || caps.i8mm;
        let k = dispatch(d).unwrap();
        assert_eq!(
            k.info().backend,
            if neon { "neon" } else { "reference" },
            "{d:?} with {caps:?}"
        );
        assert_eq!(
            harness::check_gemm(harness::AUTO, d, 40 + i as u64),
            Ok(Checked::Compared),
            "{}",
            d.kernel_name("neon")
        );
    }
}
