//! GEMM edges that random shapes reach only by luck, for every JIT backend: m, n, k of 1 and
//! of every remainder of the register blocks (rows up to 24 per tile, 1–5 vectors of 8 or 16
//! lanes), every multiply (f32, f64, bf16 and f16 widened, bf16 VNNI2 dot products, u8·i8 and
//! i8·i8 VNNI4), beta 0 over a NaN-filled C (the harness poisons it), padded leading dimensions,
//! batch-reduce with batch 0 and 1 and more, and the fused epilogue on tile edges.

mod common;

use common::harness;
use tpp::*;

fn jit() -> Vec<&'static str> {
    let j = harness::jit_backends();
    if j.is_empty() {
        vec!["reference"]
    } else {
        j
    }
}

/// Whether backend `b` exists for `d`: the tile backend only for tile-shaped problems above
/// its cross-over (`tests/amx.rs` covers every tile shape); NEON for the multiplies the CPU it
/// runs on has (bf16 and i8mm forms fall back under `-cpu neoverse-n1`; `tests/neon.rs`
/// checks which it claims); the others for everything.
fn meant_for(b: &str, d: &GemmDesc) -> bool {
    #[cfg(target_arch = "x86_64")]
    if b == "amx" {
        return tpp::backend::amx::claims(d);
    }
    #[cfg(target_arch = "aarch64")]
    if b == "neon" {
        return tpp::backend::neon_gemm::claims(d);
    }
    let _ = (b, d);
    true
}

/// Checks every valid descriptor on every JIT backend; a backend must claim most of them
/// (these are the shapes its microkernels exist for), so a silent decline cannot pass.
fn check_all(descs: &[GemmDesc]) {
    for b in jit() {
        let (mut compared, mut valid) = (0, 0);
        for (i, d) in descs.iter().enumerate() {
            if d.validate().is_err() || !meant_for(b, d) {
                continue;
            }
            valid += 1;
            let r = harness::check_gemm(b, d, 7 + i as u64);
            assert!(r.is_ok(), "{b}: {}: {r:?}", d.kernel_name(b));
            compared += usize::from(r == Ok(harness::Checked::Compared));
        }
        println!("{b}: {compared} of {valid} descriptors generated and compared");
        assert!(
            2 * compared >= valid,
            "{b} declined most of the descriptors"
        );
    }
}

/// Every kind of multiply over a grid of edge shapes.
#[test]
fn block_remainders() {
    let ms = [1, 2, 5, 6, 7, 12, 13, 14, 23, 24, 25, 49];
    let ns = [1, 7, 8, 9, 16, 17, 33, 48, 63, 64, 65, 80, 81, 97];
    let ks = [1, 4, 5, 8, 11];
    let mut descs = vec![];
    for &m in &ms {
        for &n in &ns {
            for &k in &ks {
                let pad = (m + n + k) % 3;
                descs.push(GemmDesc::new(m, n, k, DType::F32).beta(0.0).ld(
                    k + pad,
                    n + 1,
                    n + pad,
                ));
                descs.push(GemmDesc::new(m, n, k, DType::F64).alpha(-0.5).beta(1.0));
                let k2 = k.next_multiple_of(2);
                descs.push(GemmDesc::new(m, n, k2, DType::BF16).vnni_b().beta(0.0));
                let k4 = k.next_multiple_of(4);
                for a in [DType::U8, DType::I8] {
                    descs.push(GemmDesc::new(m, n, k4, a).inputs(a, DType::I8).vnni_b().ld(
                        k4 + 4,
                        n + 2,
                        n,
                    ));
                }
            }
        }
    }
    check_all(&descs);
}

/// Transposed A, widened bf16/f16, scaled C, output conversion and the epilogue on edges.
#[test]
fn flags_on_edges() {
    let mut descs = vec![];
    for (m, n, k) in [
        (1, 1, 1),
        (7, 17, 3),
        (13, 33, 9),
        (25, 65, 4),
        (6, 64, 16),
        (30, 81, 7),
    ] {
        descs.push(
            GemmDesc::new(m, n, k, DType::F32)
                .trans_a()
                .alpha(1.5)
                .beta(-0.75),
        );
        descs.push(
            GemmDesc::new(m, n, k, DType::F32)
                .trans_a()
                .ld(m + 3, n, n + 5),
        );
        descs.push(
            GemmDesc::new(m, n, k, DType::BF16)
                .output(DType::BF16)
                .beta(0.0),
        );
        descs.push(
            GemmDesc::new(m, n, k, DType::F16)
                .output(DType::F16)
                .trans_a(),
        );
        descs.push(
            GemmDesc::new(m, n, k, DType::F32)
                .output(DType::BF16)
                .beta(1.0),
        );
        // None and relu without a mask finish on the accumulator registers; the others
        // through the epilogue kernel.
        for act in [
            Activation::None,
            Activation::Relu { mask: false },
            Activation::Relu { mask: true },
            Activation::Gelu,
            Activation::Sigmoid,
            Activation::LeakyRelu { alpha: 0.1 },
        ] {
            for bias in [BiasBroadcast::Row, BiasBroadcast::Col] {
                descs.push(
                    GemmDesc::new(m, n, k, DType::F32)
                        .beta(0.0)
                        .bias(bias, DType::BF16)
                        .activation(act),
                );
                descs.push(
                    GemmDesc::new(m, n, k.next_multiple_of(2), DType::BF16)
                        .vnni_b()
                        .output(DType::BF16)
                        .bias(bias, DType::F32)
                        .activation(act),
                );
                descs.push(
                    GemmDesc::new(m, n, k, DType::F16)
                        .output(DType::F16)
                        .beta(0.5)
                        .bias(bias, DType::F16)
                        .activation(act),
                );
            }
        }
    }
    check_all(&descs);
}

/// Batch-reduce in every addressing mode (the harness draws batch counts 0 to 3).
#[test]
fn batch_reduce_modes() {
    let mut descs = vec![];
    for (m, n, k) in [(1, 1, 1), (5, 20, 6), (24, 16, 8), (14, 32, 12), (9, 70, 4)] {
        for dt in [DType::F32, DType::F64, DType::BF16] {
            for seed in 0..3 {
                let base = GemmDesc::new(m, n, k, dt).beta(if seed == 0 { 0.0 } else { 1.0 });
                let base = if dt == DType::BF16 {
                    base.vnni_b()
                } else {
                    base
                };
                let stride = BatchReduce::Stride {
                    a: base.a_len() + seed,
                    b: base.b_len() + 2 * seed,
                };
                for br in [stride, BatchReduce::Offsets, BatchReduce::Addresses] {
                    descs.push(base.batch(br));
                }
            }
        }
    }
    check_all(&descs);
}

/// The composed forms: transposed B, f16 VNNI2 B, int8 row-major B and VNNI2 C, over edges,
/// batch modes and epilogues.
#[test]
fn composed_layouts() {
    let mut descs = vec![];
    for (m, n, k) in [
        (1, 1, 4),
        (6, 17, 8),
        (14, 33, 12),
        (24, 64, 16),
        (9, 80, 20),
    ] {
        for dt in [DType::F32, DType::F64, DType::BF16, DType::F16] {
            descs.push(GemmDesc::new(m, n, k, dt).trans_b().beta(0.0));
            descs.push(
                GemmDesc::new(m, n, k, dt)
                    .trans_b()
                    .trans_a()
                    .ld(m + 1, k + 2, n),
            );
        }
        descs.push(
            GemmDesc::new(m, n, k, DType::F16)
                .vnni_b()
                .output(DType::F16),
        );
        for a in [DType::U8, DType::I8] {
            descs.push(
                GemmDesc::new(m, n, k, a)
                    .inputs(a, DType::I8)
                    .ld(k, n + 3, n),
            );
        }
        let me = m.next_multiple_of(2);
        for beta in [0.0, 1.0] {
            descs.push(
                GemmDesc::new(me, n, k, DType::BF16)
                    .vnni_b()
                    .output(DType::BF16)
                    .vnni_c()
                    .beta(beta),
            );
            descs.push(
                GemmDesc::new(me, n, k, DType::F16)
                    .output(DType::F16)
                    .vnni_c()
                    .trans_b()
                    .beta(beta)
                    .bias(BiasBroadcast::Col, DType::F32)
                    .activation(Activation::Relu { mask: true }),
            );
        }
        for br in [BatchReduce::Offsets, BatchReduce::Addresses] {
            descs.push(GemmDesc::new(m, n, k, DType::F32).trans_b().batch(br));
        }
        let t = GemmDesc::new(m, n, k, DType::F32).trans_b();
        descs.push(t.batch(BatchReduce::Stride {
            a: t.a_len() + 1,
            b: t.b_len() + 3,
        }));
    }
    check_all(&descs);
}
