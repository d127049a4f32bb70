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
    // Equation passes, with their streaming-store variants (every output counts as large)
    // and the next-block prefetch (blocks of 4 rows).
    std::env::set_var("TPP_STREAM_BYTES", "0");
    std::env::set_var("TPP_EQ_BLOCK_ROWS", "4");
    for dt in [DType::F32, DType::BF16, DType::F16] {
        let (r, c) = (19, 77);
        for eq in [
            equations::layer_norm(r, c, dt, 1e-5),
            equations::layer_norm_backward(r, c, dt),
            equations::rms_norm_backward(r, c, dt),
            equations::softmax(r, c, dt),
            equations::softmax_backward(r, c, dt),
            equations::bias_activation(r, c, dt, UnaryOp::Gelu),
            equations::dropout_residual(r, c, dt, 0.1),
            equations::silu_gate(r, c, dt),
            equations::adamw(r, c, dt),
        ] {
            let _ = eq.dispatch_on(backend);
        }
    }
    std::env::remove_var("TPP_STREAM_BYTES");
    std::env::remove_var("TPP_EQ_BLOCK_ROWS");
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

/// The NEON generators' output, generated here (code generation runs on any host) for a
/// corpus of eltwise programs, every GEMM multiply, the layout movers and reductions: GNU
/// objdump must
/// decode every instruction word (no `udf`, no `.inst`), which catches a raw word or a dynasm
/// form outside the instruction set. The words after the first `ret` are constant pools.
#[test]
fn neon_kernels_disassemble() {
    use tpp::kernels_arm::{eltwise, gemm, layout};
    use tpp::lower::{self, Port};
    let mut kernels: Vec<(String, Vec<u8>)> = vec![];
    let feats = [
        eltwise::Features { bf16: true },
        eltwise::Features { bf16: false },
    ];
    let port = |port, dtype, broadcast, ld| eltwise::PortSpec {
        port,
        dtype,
        broadcast,
        ld,
        arg_offset: 8 * kernels_arg(port),
    };
    let mask = |ld_bits| eltwise::MaskSpec {
        arg_offset: 48,
        ld_bits,
    };
    let mut runner = TestRunner::deterministic();
    let mut specs: Vec<(
        String,
        lower::Program,
        Vec<eltwise::PortSpec>,
        usize,
        usize,
        usize,
    )> = vec![];
    for _ in 0..150 {
        let d = strategies::unary().new_tree(&mut runner).unwrap().current();
        if let Some(p) = lower::eltwise::unary(&d) {
            let ports = vec![
                port(Port::In0, d.in_dtype, d.broadcast, d.ld_in),
                port(Port::Aux, d.in_dtype, Broadcast::None, d.ld_in),
                port(Port::Out, d.out_dtype, Broadcast::None, d.ld_out),
            ];
            specs.push((format!("{d:?}"), p, ports, d.rows, d.cols, d.mask_ld));
        }
        let d = strategies::binary()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if let Some(p) = lower::eltwise::binary(&d) {
            let ports = vec![
                port(Port::In0, d.in0_dtype, d.broadcast0, d.ld_in0),
                port(Port::In1, d.in1_dtype, d.broadcast1, d.ld_in1),
                port(Port::Out, d.out_dtype, Broadcast::None, d.ld_out),
            ];
            specs.push((format!("{d:?}"), p, ports, d.rows, d.cols, d.ld_out));
        }
        let d = strategies::ternary()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if let Some(p) = lower::eltwise::ternary(&d) {
            let ports = vec![
                port(Port::In0, d.in_dtypes[0], d.broadcasts[0], d.ld_in[0]),
                port(Port::In1, d.in_dtypes[1], d.broadcasts[1], d.ld_in[1]),
                port(Port::In2, d.in_dtypes[2], d.broadcasts[2], d.ld_in[2]),
                port(Port::Out, d.out_dtype, Broadcast::None, d.ld_out),
            ];
            specs.push((format!("{d:?}"), p, ports, d.rows, d.cols, d.mask_ld));
        }
    }
    for (i, (name, program, ports, rows, cols, mask_ld)) in specs.iter().enumerate() {
        let spec = eltwise::EltwiseSpec {
            program,
            rows: *rows,
            cols: *cols,
            ports: ports.clone(),
            mask_in: Some(mask(mask_ld.next_multiple_of(8))),
            mask_out: Some(mask(mask_ld.next_multiple_of(8))),
            seed_offset: Some(56),
            extra: Default::default(),
        };
        if let Ok(bytes) = eltwise::generate(&spec, feats[i % 2]) {
            kernels.push((name.clone(), bytes));
        }
    }
    let arithmetics = [
        (gemm::Arith::Fma32 { input: DType::F32 }, DType::F32),
        (gemm::Arith::Fma32 { input: DType::F16 }, DType::F16),
        (gemm::Arith::Fma64, DType::F64),
        (gemm::Arith::DotBf16, DType::BF16),
        (gemm::Arith::DotI8(gemm::DotI8::Sdot), DType::I8),
        (gemm::Arith::DotI8(gemm::DotI8::Udot), DType::U8),
        (gemm::Arith::DotI8(gemm::DotI8::UnsignedA), DType::U8),
        (gemm::Arith::DotI8(gemm::DotI8::SignedA), DType::I8),
    ];
    for (arith, dt) in arithmetics {
        for (m, n, k) in [(13, 37, 40), (6, 16, 64), (1, 3, 4)] {
            let d = GemmDesc::new(m, n, k, dt)
                .alpha(if dt.size() == 1 { 1.0 } else { 0.5 })
                .batch(BatchReduce::Offsets);
            let epilogues: Vec<((usize, usize), u64)> = gemm::tiles(m, n, arith.tile_cols())
                .into_iter()
                .map(|t| (t, 0x1234_5678))
                .collect();
            // The dot products also with their MMLA tiles (6- and 13-row shapes use them).
            let mmla = gemm::Mmla::of(arith).map(|kind| gemm::MmlaUse {
                kind,
                min_rows: gemm::MMLA_MIN_ROWS,
            });
            let mmlas = [None, mmla]
                .into_iter()
                .take(1 + usize::from(mmla.is_some()));
            for mmla in mmlas {
                for epilogues in [vec![], epilogues.clone()] {
                    let spec = gemm::GemmSpec {
                        d: &d,
                        arith,
                        epilogues,
                        mmla,
                    };
                    kernels.push((
                        format!("{arith:?} {mmla:?} {m}x{n}x{k}"),
                        gemm::generate(&spec).unwrap(),
                    ));
                }
            }
        }
    }
    for size in [1, 2, 4, 8] {
        let side = |row, col| layout::Side {
            arg_offset: 0,
            row,
            col,
        };
        let m = layout::Move {
            size,
            rows: 5,
            cols: 7,
            src: Some(side(
                layout::RowAddr::Vnni {
                    factor: 2,
                    group: 100,
                },
                layout::ColAddr::Indexed,
            )),
            dst: side(layout::RowAddr::Indexed(64), layout::ColAddr::Stride(size)),
            zero_from: 3,
            indices: 40,
        };
        kernels.push((format!("move {size}"), layout::generate(&m).unwrap()));
    }
    for op in [ReduceOp::SumAndSumSq, ReduceOp::Min, ReduceOp::AbsMax] {
        for axis in [ReduceAxis::PerRow, ReduceAxis::PerCol] {
            let mut d = ReduceDesc::new(op, axis, 7, 13, DType::BF16);
            d.accumulate = true;
            let args = tpp::kernels_arm::reduce::ReduceArgsLayout {
                input: 0,
                output: 8,
            };
            let round = tpp::kernels_arm::convert::Bf16Round::Integer;
            let bytes = tpp::kernels_arm::reduce::generate(&d, args, round).unwrap();
            kernels.push((format!("{d:?}"), bytes));
        }
    }
    assert!(kernels.len() > 200, "only {} NEON kernels", kernels.len());
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("encoder-golden/neon");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bad = vec![];
    for (i, (name, bytes)) in kernels.iter().enumerate() {
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let end = words.iter().position(|&w| w == 0xd65f_03c0).expect("a ret") + 1;
        let code: Vec<u8> = words[..end].iter().flat_map(|w| w.to_le_bytes()).collect();
        let path = dir.join(format!("{i}.bin"));
        std::fs::write(&path, &code).unwrap();
        let out = std::process::Command::new("aarch64-linux-gnu-objdump")
            .args(["-D", "-b", "binary", "-m", "aarch64"])
            .arg(&path)
            .output()
            .expect("aarch64-linux-gnu-objdump (apt-get install binutils-aarch64-linux-gnu)");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            if line.contains("udf") || line.contains(".inst") || line.contains("undefined") {
                bad.push(format!("{name}: {line}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "undecodable NEON words:\n{}",
        bad.join("\n")
    );
    eprintln!("{} NEON kernels decode completely", kernels.len());
}

/// Where the NEON corpus puts each port's pointer (any distinct slots will do: the code is
/// only decoded).
fn kernels_arg(p: tpp::lower::Port) -> usize {
    use tpp::lower::Port;
    match p {
        Port::In0 => 0,
        Port::In1 => 1,
        Port::In2 => 2,
        Port::Aux => 3,
        Port::Out => 4,
        Port::Buf(n) => 5 + n as usize,
    }
}
