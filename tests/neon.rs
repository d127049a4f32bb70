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
    let b = BinaryDesc::new(BinaryOp::Compare(CmpOp::Lt), 3, 19, DType::F32);
    assert_eq!(harness::check_binary("neon", &b, 1), Ok(Checked::Compared));
}
