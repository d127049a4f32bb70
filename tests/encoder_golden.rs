//! Encoder golden tests: every instruction form the x86-64 generators emit, assembled by tpp
//! (iced-x86 through `kernels_x86::asm`) and by GNU as, must be the same bytes; the aarch64
//! words likewise against aarch64-linux-gnu-as. A third test decodes real generated kernels
//! and fails on any form the golden table lacks, so a new form cannot skip the comparison.
//!
//! These tests need GNU binutils for both targets (`apt-get install binutils
//! binutils-aarch64-linux-gnu`; `.ci/run` installs them) and fail, naming the package, without.

mod common;
mod golden;

use common::{harness, strategies};
use golden::forms::{self, Form};
use golden::gnu::{AARCH64, X86_64};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;
use tpp::*;

#[test]
fn x86_forms_match_gnu_as() {
    let cases: Vec<_> = golden::x86::cases().iter().map(|c| c.case()).collect();
    X86_64.check("forms", &cases, &forms::same_instruction);
}

#[test]
fn aarch64_words_match_gnu_as() {
    // No alternative encodings are accepted on aarch64: every instruction is one word.
    AARCH64.check("words", &golden::aarch64::cases(), &|_, _| {
        Err("aarch64 has one encoding per instruction".into())
    });
}

/// The harness itself must report a wrong encoding (and say which case).
#[test]
#[should_panic(expected = "1 of 2 x86_64 golden cases differ")]
fn a_wrong_encoding_is_reported() {
    let cases = [
        golden::gnu::Case {
            gnu: "ret".into(),
            ours: vec![0xc3],
            choice: None,
        },
        golden::gnu::Case {
            gnu: "vaddps zmm1, zmm2, zmm3".into(),
            // vaddps zmm1, zmm2, zmm4
            ours: vec![0x62, 0xf1, 0x6c, 0x48, 0x58, 0xcc],
            choice: None,
        },
    ];
    X86_64.check("wrong", &cases, &forms::same_instruction);
}

/// Dispatches a corpus of descriptors on `backend` (sampled from the property tests'
/// strategies with a fixed seed, plus shapes that need 32-bit displacements).
fn dispatch_corpus(backend: &str) {
    let mut runner = TestRunner::deterministic();
    macro_rules! sample {
        ($strategy:expr, $n:expr) => {
            let s = $strategy;
            for _ in 0..$n {
                let d = s.new_tree(&mut runner).unwrap().current();
                let _ = dispatch_on(&d, backend);
            }
        };
    }
    sample!(strategies::gemm(), 600);
    sample!(strategies::unary(), 400);
    sample!(strategies::layout_transform(), 200);
    sample!(strategies::binary(), 200);
    sample!(strategies::ternary(), 200);
    sample!(strategies::reduce(), 200);
    for dt in [DType::F32, DType::F64] {
        let _ = dispatch_on(&GemmDesc::new(48, 64, 64, dt).ld(1000, 1000, 1000), backend);
    }
    let bf = GemmDesc::new(32, 64, 64, DType::BF16)
        .vnni_b()
        .ld(2048, 2048, 2048);
    let int8 = GemmDesc::new(32, 64, 64, DType::U8)
        .inputs(DType::U8, DType::I8)
        .vnni_b()
        .ld(4096, 4096, 4096);
    let _ = dispatch_on(&bf, backend);
    let _ = dispatch_on(&int8, backend);
    for op in [UnaryOp::Identity, UnaryOp::Transpose] {
        let _ = dispatch_on(&UnaryDesc::new(op, 64, 4096, DType::F32), backend);
    }
    let _ = dispatch_on(
        &ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerCol, 64, 8192, DType::F32),
        backend,
    );
}

#[test]
fn generated_kernels_use_only_golden_forms() {
    let jit = harness::jit_backends();
    if jit.is_empty() {
        eprintln!("no JIT backend on this CPU: the golden table is still checked above");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("encoder-golden/kernels");
    let _ = std::fs::remove_dir_all(&dir);
    // Only this test dispatches in this binary, so every kernel generated from here on is
    // dumped here.
    std::env::set_var("TPP_DUMP", &dir);
    for b in &jit {
        dispatch_corpus(b);
    }
    std::env::remove_var("TPP_DUMP");

    let mut golden = std::collections::BTreeSet::new();
    for c in golden::x86::cases() {
        let count = match c.decode {
            golden::x86::Decode::All => usize::MAX,
            golden::x86::Decode::FirstInstruction => 1,
            golden::x86::Decode::None => 0,
        };
        let f = forms::linear(&c.ours(), count).unwrap_or_else(|e| panic!("{}: {e}", c.gnu));
        golden.extend(f);
    }
    // Every form in the kernels, with one place it occurs.
    let mut found: BTreeMap<Form, (String, usize, Vec<u8>)> = BTreeMap::new();
    let mut kernels = 0;
    for entry in std::fs::read_dir(&dir).expect("TPP_DUMP wrote the kernels") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fs = forms::kernel(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (f, at) in fs {
            let ins = bytes[at..(at + 15).min(bytes.len())].to_vec();
            found.entry(f).or_insert((name.clone(), at, ins));
        }
        kernels += 1;
    }
    assert!(kernels > 100, "only {kernels} kernels were generated");
    let missing: Vec<String> = found
        .iter()
        .filter(|(f, _)| !golden.contains(*f))
        .map(|(f, (name, at, ins))| {
            let hex: Vec<String> = ins.iter().map(|b| format!("{b:02x}")).collect();
            format!("  {f:?}\n    in {name} at {at:#x}: {}", hex.join(" "))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} instruction forms in generated kernels have no golden case \
         (add them to tests/golden/x86.rs):\n{}",
        missing.len(),
        missing.join("\n")
    );
    eprintln!(
        "{kernels} generated kernels use {} instruction forms, all among the {} golden forms",
        found.len(),
        golden.len()
    );
}
