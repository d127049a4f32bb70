//! The tensor-core GEMM kernels run without a GPU: their PTX is executed by the small PTX
//! interpreter of `cuda_support::emu` (the mma and ldmatrix fragment layouts of the PTX ISA,
//! warp-collective execution, barriers) on a few blocks, and C is compared with a product
//! computed here in f64. Operands hold small multiples of 1/8, so every product and sum is
//! exact in f32 and the comparison can be tight. This checks the generator's fragment
//! addressing, pipeline, batch forms, edges and epilogue where `cuda_ptxas` only checks that
//! the text assembles.

mod common;
mod cuda_support;

use cuda_support::emu::{self, Memory};
use cuda_support::gemm_check::{assert_element, with_epilogue};
use tpp::exec::GemmArgs;
use tpp::isa::bitmask;
use tpp::kernels_cuda::{self, GemmOptions, Target};
use tpp::{Activation, BatchReduce, BiasBroadcast, DType, GemmDesc};

/// A deterministic small value, exact in bf16, f16, tf32 and int8 (as `v·8`).
fn value(i: usize, seed: usize) -> f64 {
    (((i * 2_654_435_761 + seed * 97) >> 7) % 9) as f64 / 8.0 - 0.5
}

fn encode(dt: DType, v: f64) -> Vec<u8> {
    match dt {
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::BF16 => tpp::bf16::from_f64(v).to_bits().to_le_bytes().to_vec(),
        DType::F16 => tpp::f16::from_f64(v).to_bits().to_le_bytes().to_vec(),
        DType::I8 => vec![(v * 8.0) as i8 as u8],
        DType::U8 => vec![(v * 8.0 + 4.0) as u8],
        DType::I32 => ((v * 8.0) as i32).to_le_bytes().to_vec(),
        d => panic!("{d}"),
    }
}

fn decode(dt: DType, b: &[u8]) -> f64 {
    match dt {
        DType::F32 => f32::from_le_bytes(b[..4].try_into().unwrap()) as f64,
        DType::BF16 => tpp::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
        DType::F16 => tpp::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
        DType::I32 => i32::from_le_bytes(b[..4].try_into().unwrap()) as f64,
        d => panic!("{d}"),
    }
}

/// The value of an int8 / float element as the GEMM sees it.
fn as_seen(dt: DType, v: f64) -> f64 {
    match dt {
        DType::I8 => (v * 8.0) as i8 as f64,
        DType::U8 => (v * 8.0 + 4.0) as u8 as f64,
        _ => v,
    }
}

struct Case {
    d: GemmDesc,
    tf32: bool,
    batch: usize,
    /// Blocks (x, y) to run; empty: all.
    blocks: Vec<(u32, u32)>,
}

fn case(d: GemmDesc) -> Case {
    Case {
        d,
        tf32: false,
        batch: 1,
        blocks: vec![],
    }
}

fn run(c: &Case) {
    let d = c.d;
    let k = kernels_cuda::gemm_kernel(&d, Target::Sm80, GemmOptions { tf32: c.tf32 }).unwrap();
    let prog = emu::Program::parse(&k.ptx);
    let mut mem = Memory::new();
    let batch = if d.batch == BatchReduce::None {
        1
    } else {
        c.batch
    };
    let (a_len, b_len) = (d.a_len(), d.b_len());
    // Members: separate matrices; the stride form lays them out at its strides.
    let (sa, sb) = match d.batch {
        BatchReduce::Stride { a, b } => (a, b),
        _ => (a_len, b_len),
    };
    let a_total = (batch.max(1) - 1) * sa + a_len;
    let b_total = (batch.max(1) - 1) * sb + b_len;
    let a_vals: Vec<f64> = (0..a_total).map(|i| value(i, 1)).collect();
    let b_vals: Vec<f64> = (0..b_total).map(|i| value(i, 2)).collect();
    let bytes = |dt: DType, v: &[f64]| v.iter().flat_map(|&x| encode(dt, x)).collect::<Vec<u8>>();
    let a_addr = mem.alloc(&bytes(d.a_dtype, &a_vals));
    let b_addr = mem.alloc(&bytes(d.b_dtype, &b_vals));
    // Members in reverse order through the offset and address forms.
    let order: Vec<usize> = (0..batch).rev().collect();
    let mut args = GemmArgs {
        batch: batch as u64,
        ..GemmArgs::default()
    };
    let (ae, be) = (d.a_dtype.size() as u64, d.b_dtype.size() as u64);
    match d.batch {
        BatchReduce::Offsets => {
            let ao: Vec<u8> = order
                .iter()
                .flat_map(|&i| ((i * sa) as u64).to_le_bytes())
                .collect();
            let bo: Vec<u8> = order
                .iter()
                .flat_map(|&i| ((i * sb) as u64).to_le_bytes())
                .collect();
            args.a_offsets = mem.alloc(&ao) as usize as *const u64;
            args.b_offsets = mem.alloc(&bo) as usize as *const u64;
            args.a = a_addr as usize as *const _;
            args.b = b_addr as usize as *const _;
        }
        BatchReduce::Addresses => {
            let aa: Vec<u8> = order
                .iter()
                .flat_map(|&i| (a_addr + (i * sa) as u64 * ae).to_le_bytes())
                .collect();
            let ba: Vec<u8> = order
                .iter()
                .flat_map(|&i| (b_addr + (i * sb) as u64 * be).to_le_bytes())
                .collect();
            args.a = mem.alloc(&aa) as usize as *const _;
            args.b = mem.alloc(&ba) as usize as *const _;
        }
        _ => {
            args.a = a_addr as usize as *const _;
            args.b = b_addr as usize as *const _;
        }
    }
    let c0: Vec<f64> = (0..d.c_len())
        .map(|i| if d.beta != 0.0 { value(i, 3) } else { f64::NAN })
        .collect();
    let c_bytes: Vec<u8> = c0
        .iter()
        .flat_map(|&v| {
            if v.is_nan() && d.c_dtype == DType::I32 {
                vec![0xEE; 4]
            } else {
                encode(d.c_dtype, v)
            }
        })
        .collect();
    let c_addr = mem.alloc(&c_bytes);
    args.c = c_addr as usize as *mut _;
    let bias_vals: Vec<f64> = (0..d.m.max(d.n)).map(|i| value(i, 4)).collect();
    if let Some(b) = d.epilogue.bias {
        args.bias = mem.alloc(&bytes(b.dtype, &bias_vals)) as usize as *const _;
    }
    let mask_bytes = bitmask::bytes(d.m, d.n, d.epilogue.mask_ld);
    let mask_addr = mem.alloc(&vec![0x5A; mask_bytes.max(1)]);
    args.relu_mask = mask_addr as usize as *mut u8;
    // SAFETY: GemmArgs is plain data; its bytes are the kernel's parameter.
    let params = unsafe {
        std::slice::from_raw_parts(
            &args as *const GemmArgs as *const u8,
            std::mem::size_of::<GemmArgs>(),
        )
    }
    .to_vec();
    let l = k.launch;
    let blocks: Vec<(u32, u32)> = if c.blocks.is_empty() {
        (0..l.grid.1)
            .flat_map(|y| (0..l.grid.0).map(move |x| (x, y)))
            .collect()
    } else {
        c.blocks.clone()
    };
    for &(x, y) in &blocks {
        emu::run_block(
            &prog,
            &mut mem,
            &params,
            l.smem_bytes as usize,
            l.block.0,
            (x, y),
            (l.grid.0, l.grid.1),
        );
    }
    // The expected C, in f64, for the rows and columns the blocks cover.
    let tiling = tpp::kernels_cuda::gemm_tiling::Plan::of(&d, c.tf32)
        .unwrap()
        .tiling;
    let (bm, bn) = (tiling.bm, tiling.bn);
    let a_at = |m: usize, kk: usize, base: usize| {
        let idx = if d.trans_a {
            kk * d.lda + m
        } else {
            m * d.lda + kk
        };
        as_seen(d.a_dtype, a_vals[base + idx])
    };
    let b_at = |kk: usize, n: usize, base: usize| {
        let idx = match (d.b_layout, d.trans_b) {
            (tpp::Layout::RowMajor, true) => n * d.ldb + kk,
            (tpp::Layout::RowMajor, false) => kk * d.ldb + n,
            (l, _) => l.offset(kk, n, d.ldb),
        };
        as_seen(d.b_dtype, b_vals[base + idx])
    };
    let c_out = mem.read(c_addr, c_bytes.len()).to_vec();
    let mask_out = mem.read(mask_addr, mask_bytes).to_vec();
    let mut checked = 0;
    for &(x, y) in &blocks {
        for i in (y as usize * bm)..((y as usize + 1) * bm).min(d.m) {
            for j in (x as usize * bn)..((x as usize + 1) * bn).min(d.n) {
                let mut s = 0.0;
                for b in 0..batch {
                    for kk in 0..d.k {
                        s += a_at(i, kk, b * sa) * b_at(kk, j, b * sb);
                    }
                }
                let ci = d.c_layout.offset(i, j, d.ldc);
                let mut want = d.alpha * s
                    + if d.beta != 0.0 {
                        d.beta
                            * as_seen(d.c_dtype, c0[ci])
                            * if d.c_dtype == DType::I32 {
                                1.0 / 8.0
                            } else {
                                1.0
                            }
                    } else {
                        0.0
                    };
                if d.c_dtype == DType::I32 && d.beta != 0.0 {
                    want = s + (c0[ci] * 8.0) as i32 as f64;
                }
                let want = with_epilogue(&d, (i, j), want, |n| bias_vals[n]);
                let es = d.c_dtype.size();
                let got = decode(d.c_dtype, &c_out[ci * es..ci * es + es]);
                let tol = if c.tf32 {
                    1e-2 * d.k as f64
                } else if d.c_dtype == DType::BF16 {
                    want.abs() / 128.0
                } else {
                    1e-6 * (1.0 + want.abs())
                };
                assert_element(&d, &k.name, (i, j), (got, want, tol), &mask_out);
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
    // Padding between n and ldc is never written.
    if d.c_layout == tpp::Layout::RowMajor && d.ldc > d.n {
        let es = d.c_dtype.size();
        let at = d.n * es;
        assert_eq!(
            &c_out[at..at + es],
            &c_bytes[at..at + es],
            "{}: wrote C's padding",
            k.name
        );
    }
}

#[test]
fn bf16_and_f16_every_transpose_with_ragged_edges() {
    for dt in [DType::BF16, DType::F16] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut d = GemmDesc::new(70, 45, 50, dt).beta(0.0);
            if ta {
                d = d.trans_a();
            }
            if tb {
                d = d.trans_b();
            }
            run(&case(d));
        }
    }
}

#[test]
fn unaligned_leading_dimensions_alpha_and_beta() {
    run(&case(
        GemmDesc::new(33, 17, 9, DType::BF16)
            .ld(11, 19, 21)
            .beta(0.0),
    ));
    run(&case(GemmDesc::new(40, 24, 72, DType::BF16).alpha(0.5)));
    run(&case(
        GemmDesc::new(40, 24, 40, DType::BF16)
            .ld(40, 24, 30)
            .beta(1.0),
    ));
}

#[test]
fn every_batch_form() {
    for batch in [
        BatchReduce::Stride {
            a: 64 * 48,
            b: 48 * 40,
        },
        BatchReduce::Offsets,
        BatchReduce::Addresses,
    ] {
        run(&Case {
            batch: 3,
            ..case(
                GemmDesc::new(64, 40, 48, DType::BF16)
                    .batch(batch)
                    .beta(0.0),
            )
        });
    }
    run(&Case {
        batch: 0,
        ..case(
            GemmDesc::new(16, 16, 16, DType::BF16)
                .batch(BatchReduce::Offsets)
                .alpha(1.0),
        )
    });
}

#[test]
fn epilogue_bias_relu_mask_and_bf16_output() {
    run(&case(
        GemmDesc::new(50, 36, 40, DType::BF16)
            .beta(0.0)
            .bias(BiasBroadcast::Row, DType::BF16)
            .activation(Activation::Relu { mask: true })
            .output(DType::BF16),
    ));
    run(&case(
        GemmDesc::new(50, 36, 40, DType::BF16)
            .beta(0.0)
            .bias(BiasBroadcast::Col, DType::F32)
            .activation(Activation::Relu { mask: true }),
    ));
}

#[test]
fn vnni_b_and_vnni_c() {
    run(&case(
        GemmDesc::new(40, 48, 32, DType::BF16).vnni_b().beta(0.0),
    ));
    run(&case(
        GemmDesc::new(40, 48, 32, DType::BF16)
            .vnni_c()
            .output(DType::BF16)
            .beta(0.0),
    ));
}

#[test]
fn int8_tf32_and_fma_paths() {
    for (a, b) in [(DType::I8, DType::I8), (DType::U8, DType::I8)] {
        run(&case(
            GemmDesc::new(70, 45, 100, a)
                .inputs(a, b)
                .trans_b()
                .beta(0.0),
        ));
        run(&case(GemmDesc::new(40, 24, 64, a).inputs(a, b)));
        run(&case(
            GemmDesc::new(32, 32, 64, a).inputs(a, b).vnni_b().beta(0.0),
        ));
    }
    for tf32 in [true, false] {
        for (ta, tb) in [(false, false), (true, true)] {
            let mut d = GemmDesc::new(65, 70, 33, DType::F32).beta(0.0);
            if ta {
                d = d.trans_a();
            }
            if tb {
                d = d.trans_b();
            }
            run(&Case { tf32, ..case(d) });
        }
    }
}

#[test]
fn large_tiles_one_block() {
    // 128×128 tiles of 8 warps (the grid of 1024² has 64 blocks); two blocks are run.
    run(&Case {
        blocks: vec![(0, 0), (3, 5)],
        ..case(GemmDesc::new(1024, 1024, 64, DType::BF16).beta(0.0))
    });
}

/// Every family of the catalogue (eltwise, transforms, reductions, GEMMs) through the
/// differential harness, run by the interpreter.
mod catalogue_through_the_harness {
    use super::common::harness::{self, Checked};
    use super::cuda_support::{catalogue, emu_bridge::EmulatedCuda};

    fn register() {
        tpp::dispatch::register_backend(&EmulatedCuda);
    }

    fn all(results: Vec<(String, Result<Checked, String>)>) {
        let bad: Vec<String> = results
            .into_iter()
            .filter_map(|(n, r)| match r {
                Ok(Checked::Compared) => None,
                Ok(Checked::Unsupported) => Some(format!("{n}: declined")),
                Err(e) => Some(format!("{n}: {e}")),
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{} failures:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    #[test]
    fn eltwise_and_transforms() {
        register();
        let mut r = vec![];
        for (i, d) in catalogue::unaries().iter().enumerate() {
            r.push((
                format!("{d:?}"),
                harness::check_unary("cuda_emulated", d, i as u64),
            ));
        }
        for (i, d) in catalogue::binaries().iter().enumerate() {
            r.push((
                format!("{d:?}"),
                harness::check_binary("cuda_emulated", d, i as u64),
            ));
        }
        for (i, d) in catalogue::ternaries().iter().enumerate() {
            r.push((
                format!("{d:?}"),
                harness::check_ternary("cuda_emulated", d, i as u64),
            ));
        }
        all(r);
    }

    #[test]
    fn reductions() {
        register();
        let r = catalogue::reductions()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    format!("{d:?}"),
                    harness::check_reduce("cuda_emulated", d, i as u64),
                )
            })
            .collect();
        all(r);
    }

    #[test]
    fn gemms() {
        register();
        let r = catalogue::gemms()
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.tf32 && c.desc.m * c.desc.n <= 128 * 128)
            .map(|(i, c)| {
                (
                    format!("{:?}", c.desc),
                    harness::check_gemm("cuda_emulated", &c.desc, i as u64),
                )
            })
            .collect();
        all(r);
    }
}

/// Random descriptors of every family (the strategies of `tests/common`), interpreted.
mod random_through_the_harness {
    use super::common::{harness, scale, strategies};
    use super::cuda_support::emu_bridge::EmulatedCuda;
    use proptest::prelude::*;

    fn ok(r: Result<harness::Checked, String>) -> Result<(), TestCaseError> {
        tpp::dispatch::register_backend(&EmulatedCuda);
        r.map(|_| ()).map_err(TestCaseError::fail)
    }

    proptest! {
        #![proptest_config(scale::config(32))]
        #[test]
        fn gemms(d in strategies::gemm(), seed in any::<u64>()) {
            tpp::dispatch::register_backend(&EmulatedCuda);
            ok(harness::check_gemm("cuda_emulated", &d, seed))?;
        }
        #[test]
        fn unaries(d in strategies::unary(), seed in any::<u64>()) {
            tpp::dispatch::register_backend(&EmulatedCuda);
            ok(harness::check_unary("cuda_emulated", &d, seed))?;
        }
        #[test]
        fn transforms(d in strategies::layout_transform(), seed in any::<u64>()) {
            tpp::dispatch::register_backend(&EmulatedCuda);
            ok(harness::check_unary("cuda_emulated", &d, seed))?;
        }
        #[test]
        fn binaries(d in strategies::binary(), seed in any::<u64>()) {
            tpp::dispatch::register_backend(&EmulatedCuda);
            ok(harness::check_binary("cuda_emulated", &d, seed))?;
        }
        #[test]
        fn ternaries(d in strategies::ternary(), seed in any::<u64>()) {
            tpp::dispatch::register_backend(&EmulatedCuda);
            ok(harness::check_ternary("cuda_emulated", &d, seed))?;
        }
        #[test]
        fn reductions(d in strategies::reduce(), seed in any::<u64>()) {
            tpp::dispatch::register_backend(&EmulatedCuda);
            ok(harness::check_reduce("cuda_emulated", &d, seed))?;
        }
    }
}

/// Vector loads and stores of the elementwise kernels: rows a whole number of vectors apart
/// (`ld > cols`, a multiple of 4) with ragged ends, operands aligned (vector path), and the
/// same calls with every operand 4 or 8 bytes past a 256-byte boundary (aligned to their
/// elements only: the run-time check must fall back to scalar accesses where a vector would
/// be misaligned), all against the reference.
mod vector_eltwise {
    use super::common::harness::{self, Checked};
    use super::cuda_support::emu_bridge::{EmulatedCuda, MisalignedCuda};
    use tpp::kernels_cuda::{self, Target};
    use tpp::{BinaryDesc, BinaryOp, Broadcast, DType, TernaryDesc, TernaryOp, UnaryDesc, UnaryOp};

    const BACKENDS: [&str; 3] = ["cuda_emulated", "cuda_emulated_off4", "cuda_emulated_off8"];

    fn register() {
        tpp::dispatch::register_backend(&EmulatedCuda);
        tpp::dispatch::register_backend(&MisalignedCuda::<4>);
        tpp::dispatch::register_backend(&MisalignedCuda::<8>);
    }

    fn compared(what: String, r: Result<Checked, String>) {
        match r {
            Ok(Checked::Compared) => {}
            Ok(Checked::Unsupported) => panic!("{what}: declined"),
            Err(e) => panic!("{what}: {e}"),
        }
    }

    fn vector_accesses(ptx: &str) -> bool {
        ptx.contains("ld.global.v4.b32") || ptx.contains("ld.global.v2.b32")
    }

    #[test]
    fn kernels_vectorise_only_rows_a_whole_number_of_vectors_apart() {
        let d = UnaryDesc::new(UnaryOp::Exp, 5, 37, DType::F32).ld(40, 44);
        assert!(vector_accesses(
            &kernels_cuda::unary(&d, Target::Sm80).unwrap().ptx
        ));
        let d = UnaryDesc::new(UnaryOp::Exp, 5, 37, DType::BF16).ld(40, 44);
        let k = kernels_cuda::unary(&d, Target::Sm80).unwrap();
        assert!(k.ptx.contains("cvt.rn.bf16x2.f32") && k.ptx.contains("st.global.v2.b32"));
        let d = UnaryDesc::new(UnaryOp::Exp, 5, 37, DType::F32).ld(41, 44);
        assert!(!vector_accesses(
            &kernels_cuda::unary(&d, Target::Sm80).unwrap().ptx
        ));
        // A bitmask keeps its byte-wide chunks.
        let d = UnaryDesc::new(UnaryOp::Relu { mask: true }, 5, 40, DType::F32);
        assert!(!vector_accesses(
            &kernels_cuda::unary(&d, Target::Sm80).unwrap().ptx
        ));
    }

    #[test]
    fn aligned_and_misaligned_operands_match_the_reference() {
        register();
        let mut unaries = vec![];
        for dt in [DType::F32, DType::BF16, DType::F16] {
            for op in [
                UnaryOp::Identity,
                UnaryOp::Exp,
                UnaryOp::Gelu,
                UnaryOp::Relu { mask: false },
                UnaryOp::Reciprocal,
            ] {
                unaries.push(UnaryDesc::new(op, 6, 37, dt).ld(40, 48));
                unaries.push(UnaryDesc::new(op, 3, 4, dt));
            }
            unaries.push(
                UnaryDesc::new(UnaryOp::Sigmoid, 4, 30, dt)
                    .dtypes(dt, DType::F32, DType::F32)
                    .ld(32, 36),
            );
            unaries.push(
                UnaryDesc::new(UnaryOp::Exp, 4, 30, dt)
                    .broadcast(Broadcast::Row)
                    .ld(30, 32),
            );
        }
        let mut binaries = vec![];
        for dt in [DType::F32, DType::BF16] {
            for (b0, b1) in [
                (Broadcast::None, Broadcast::None),
                (Broadcast::None, Broadcast::Row),
                (Broadcast::Col, Broadcast::None),
                (Broadcast::Row, Broadcast::Scalar),
            ] {
                binaries.push(
                    BinaryDesc::new(BinaryOp::Mul, 5, 27, dt)
                        .broadcast(b0, b1)
                        .ld(28, 32, 36),
                );
            }
        }
        let ternaries = [
            TernaryDesc::new(TernaryOp::MulAdd, 5, 33, DType::F32).broadcast([
                Broadcast::None,
                Broadcast::Scalar,
                Broadcast::Row,
            ]),
            TernaryDesc::new(TernaryOp::NMulAdd, 3, 64, DType::BF16),
        ];
        for (i, d) in unaries.iter().enumerate() {
            for b in BACKENDS {
                compared(format!("{b} {d:?}"), harness::check_unary(b, d, i as u64));
            }
        }
        for (i, d) in binaries.iter().enumerate() {
            for b in BACKENDS {
                compared(format!("{b} {d:?}"), harness::check_binary(b, d, i as u64));
            }
        }
        for (i, d) in ternaries.iter().enumerate() {
            for b in BACKENDS {
                compared(format!("{b} {d:?}"), harness::check_ternary(b, d, i as u64));
            }
        }
    }
}

/// The sm_90a warpgroup MMA tile (`kernels_cuda::wgmma`) on the interpreter's reading of the
/// wgmma descriptor, core-matrix layout and accumulator fragment: exact products of small
/// multiples of 1/8.
#[test]
fn wgmma_tiles_match_an_f64_product() {
    for (dt, n, k) in [
        (DType::BF16, 8, 16),
        (DType::BF16, 64, 64),
        (DType::F16, 128, 32),
        (DType::BF16, 256, 16),
    ] {
        let kernel = kernels_cuda::wgmma::tile_kernel(dt, n, k).unwrap();
        let prog = emu::Program::parse(&kernel.ptx);
        let m = 64;
        let a: Vec<f64> = (0..m * k).map(|i| value(i, 3)).collect();
        let b: Vec<f64> = (0..n * k).map(|i| value(i, 4)).collect();
        let bytes = |v: &[f64]| v.iter().flat_map(|&x| encode(dt, x)).collect::<Vec<u8>>();
        let mut mem = Memory::new();
        let args = kernels_cuda::wgmma::WgmmaTileArgs {
            a: mem.alloc(&bytes(&a)),
            b: mem.alloc(&bytes(&b)),
            c: mem.alloc(&vec![0xFF; m * n * 4]),
        };
        // SAFETY: a plain `#[repr(C)]` struct of integers.
        let params = unsafe {
            std::slice::from_raw_parts(
                (&args as *const kernels_cuda::wgmma::WgmmaTileArgs).cast::<u8>(),
                std::mem::size_of_val(&args),
            )
        };
        emu::run_launch(&prog, &mut mem, params, &kernel.launch);
        let c = mem.read(args.c, m * n * 4);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|kk| a[i * k + kk] * b[j * k + kk]).sum();
                let got = decode(DType::F32, &c[4 * (i * n + j)..]);
                assert_eq!(got, want, "{dt} 64x{n}x{k}: C({i}, {j})");
            }
        }
    }
}

/// The sm_90a wgmma GEMM family (`kernels_cuda::gemm_wgmma`: TMA into a swizzled 4-stage
/// ring, mbarrier handshakes between a producer warp and two consumer warpgroups, wgmma on
/// K-major and MN-major tiles, the shared epilogue) run by the interpreter against an f64
/// product: every tile width, ragged m, n, k, every transpose, the stride batch, alpha and
/// beta over NaN-poisoned padding, bias with relu and its mask, bf16 and f16 outputs.
mod wgmma_gemm {
    use super::cuda_support::emu_wgmma::run;
    use tpp::{Activation, BatchReduce, BiasBroadcast, DType, GemmDesc};

    #[test]
    fn every_tile_width_and_transpose_with_ragged_edges() {
        for (bn, dt) in [(64, DType::BF16), (128, DType::F16), (256, DType::BF16)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                // m, n, k not multiples of 128, bn or 64; lda/ldb 16-byte multiples.
                let mut d = GemmDesc::new(130, 72, 100, dt).ld(104, 72, 72).beta(0.0);
                if ta {
                    d = d.trans_a().ld(136, d.ldb, 72);
                }
                if tb {
                    d = d.trans_b().ld(d.lda, 104, 72);
                }
                run(&d, 1, bn);
            }
        }
    }

    /// The catalogue's GEMMs and random descriptors through the differential harness on the
    /// wgmma backend: those it takes (bf16/f16, row-major B, 16-byte rows) must match the
    /// reference, the rest must be declined.
    #[test]
    fn catalogue_and_random_gemms_through_the_harness() {
        use super::common::harness::{self, Checked};
        use super::cuda_support::{catalogue, emu_bridge::EmulatedWgmma};
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        tpp::dispatch::register_backend(&EmulatedWgmma);
        let check = |d: &GemmDesc, seed: u64| -> Result<bool, String> {
            let takes = tpp::kernels_cuda::gemm_wgmma::supports(d).is_ok();
            match harness::check_gemm("cuda_emulated_wgmma", d, seed)? {
                Checked::Compared if takes => Ok(true),
                Checked::Unsupported if !takes => Ok(false),
                c => Err(format!("{d:?}: {c:?}, but supports() says {takes}")),
            }
        };
        let mut compared = 0;
        let descs = catalogue::gemms()
            .into_iter()
            .map(|c| c.desc)
            .chain(catalogue::wgmma_gemms())
            .filter(|d| d.m * d.n <= 320 * 320);
        for (i, d) in descs.enumerate() {
            compared += check(&d, i as u64).unwrap_or_else(|e| panic!("{e}")) as usize;
        }
        assert!(
            compared >= 10,
            "only {compared} catalogue GEMMs took the wgmma path"
        );
        let mut runner = TestRunner::new(super::common::scale::config(24));
        runner
            .run(
                &(super::common::strategies::gemm(), any::<u64>()),
                |(d, seed)| check(&d, seed).map(|_| ()).map_err(TestCaseError::fail),
            )
            .unwrap();
    }

    #[test]
    fn stride_batch_alpha_beta_bias_relu_mask_and_narrow_outputs() {
        // 3 members of 3 k steps: the 4-stage ring wraps twice.
        let d = GemmDesc::new(70, 90, 136, DType::BF16)
            .ld(136, 96, 93)
            .batch(BatchReduce::Stride {
                a: 70 * 136 + 8,
                b: 136 * 96,
            })
            .alpha(0.5)
            .beta(0.5);
        for batch in [3, 0] {
            run(&d, batch, 128);
        }
        let d = GemmDesc::new(129, 65, 80, DType::BF16)
            .ld(80, 72, 65)
            .beta(0.0)
            .bias(BiasBroadcast::Row, DType::BF16)
            .activation(Activation::Relu { mask: true })
            .output(DType::BF16);
        run(&d, 1, 64);
        let d = GemmDesc::new(66, 130, 72, DType::F16)
            .trans_a()
            .ld(72, 136, 130)
            .bias(BiasBroadcast::Col, DType::F32)
            .activation(Activation::Relu { mask: true })
            .output(DType::F16)
            .beta(1.0);
        run(&d, 1, 256);
    }
}
