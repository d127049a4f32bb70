//! Runs a generated sm_90a wgmma GEMM ([`tpp::kernels_cuda::gemm_wgmma`]) on the interpreter
//! and compares C (and the relu mask) with a product computed here in f64: the tensor maps are
//! described to the interpreter's TMA in the tests' own encoding ([`super::emu_async`]), every
//! CTA of the grid runs, C's padding columns hold NaN that must survive, and with beta = 0 all
//! of C starts as NaN (never read). Inputs are small multiples of 1/8, so sums are exact in f32.

use super::emu::{self, Memory};
use super::emu_async::encode_map;
use super::gemm_check::{assert_element, with_epilogue};
use tpp::exec::GemmArgs;
use tpp::isa::bitmask;
use tpp::kernels_cuda::gemm_wgmma::{self, Plan, WgmmaGemmArgs};
use tpp::{BatchReduce, DType, GemmDesc};

fn value(i: usize, seed: usize) -> f64 {
    (((i * 2_654_435_761 + seed * 97) >> 7) % 9) as f64 / 8.0 - 0.5
}

fn encode(dt: DType, v: f64) -> Vec<u8> {
    match dt {
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::BF16 => tpp::bf16::from_f64(v).to_bits().to_le_bytes().to_vec(),
        DType::F16 => tpp::f16::from_f64(v).to_bits().to_le_bytes().to_vec(),
        d => panic!("{d}"),
    }
}

fn decode(dt: DType, b: &[u8]) -> f64 {
    match dt {
        DType::F32 => f32::from_le_bytes(b[..4].try_into().unwrap()) as f64,
        DType::BF16 => tpp::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
        DType::F16 => tpp::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
        d => panic!("{d}"),
    }
}

/// Runs `d` (row-major C) with `batch` members of the stride form (1 otherwise) and tile
/// width `bn`; returns the kernel's name.
pub fn run(d: &GemmDesc, batch: usize, bn: usize) -> String {
    let plan = Plan {
        bn,
        ..Plan::choose(d)
    };
    let kernel = gemm_wgmma::generate_plan(d, plan).unwrap_or_else(|e| panic!("{d:?}: {e}"));
    let prog = emu::Program::parse(&kernel.ptx);
    let mut mem = Memory::new();
    let members = if d.batch == BatchReduce::None {
        1
    } else {
        batch
    };
    let (sa, sb) = match d.batch {
        BatchReduce::Stride { a, b } => (a, b),
        _ => (0, 0),
    };
    let a_total = members.saturating_sub(1) * sa + d.a_len();
    let b_total = members.saturating_sub(1) * sb + d.b_len();
    let a_vals: Vec<f64> = (0..a_total).map(|i| value(i, 1)).collect();
    let b_vals: Vec<f64> = (0..b_total).map(|i| value(i, 2)).collect();
    let bytes = |dt: DType, v: &[f64]| v.iter().flat_map(|&x| encode(dt, x)).collect::<Vec<u8>>();
    let a_addr = mem.alloc(&bytes(d.a_dtype, &a_vals));
    let b_addr = mem.alloc(&bytes(d.b_dtype, &b_vals));
    // C: values where beta reads them, NaN elsewhere (padding columns always).
    let c0: Vec<f64> = (0..d.c_len())
        .map(|i| {
            if d.beta != 0.0 && i % d.ldc < d.n {
                value(i, 3)
            } else {
                f64::NAN
            }
        })
        .collect();
    let c_bytes = bytes(d.c_dtype, &c0);
    let c_addr = mem.alloc(&c_bytes);
    let bias_vals: Vec<f64> = (0..d.m.max(d.n)).map(|i| value(i, 4)).collect();
    let mut gemm = GemmArgs {
        batch: members as u64,
        c: c_addr as usize as *mut _,
        ..GemmArgs::default()
    };
    if let Some(b) = d.epilogue.bias {
        gemm.bias = mem.alloc(&bytes(b.dtype, &bias_vals)) as usize as *const _;
    }
    let mask_bytes = bitmask::bytes(d.m, d.n, d.epilogue.mask_ld);
    let mask_addr = mem.alloc(&vec![0x5A; mask_bytes.max(1)]);
    gemm.relu_mask = mask_addr as usize as *mut u8;
    let [ma, mb] = plan.maps(d, a_addr, b_addr, members);
    for m in [ma, mb] {
        m.check().unwrap();
    }
    let args = WgmmaGemmArgs {
        tmap_a: encode_map(&ma),
        tmap_b: encode_map(&mb),
        gemm,
    };
    // SAFETY: a plain `#[repr(C)]` struct; its bytes are the kernel's parameter.
    let params = unsafe {
        std::slice::from_raw_parts(
            (&args as *const WgmmaGemmArgs).cast::<u8>(),
            std::mem::size_of::<WgmmaGemmArgs>(),
        )
    };
    emu::run_launch(&prog, &mut mem, params, &kernel.launch);
    let a_at = |i: usize, kk: usize, base: usize| {
        a_vals[base
            + if d.trans_a {
                kk * d.lda + i
            } else {
                i * d.lda + kk
            }]
    };
    let b_at = |kk: usize, j: usize, base: usize| {
        b_vals[base
            + if d.trans_b {
                j * d.ldb + kk
            } else {
                kk * d.ldb + j
            }]
    };
    let c_out = mem.read(c_addr, c_bytes.len()).to_vec();
    let mask_out = mem.read(mask_addr, mask_bytes).to_vec();
    let es = d.c_dtype.size();
    let name = format!("{} (bn {bn})", kernel.name);
    for i in 0..d.m {
        for j in 0..d.ldc {
            let ci = i * d.ldc + j;
            if ci >= d.c_len() {
                break;
            }
            let got = decode(d.c_dtype, &c_out[ci * es..ci * es + es]);
            if j >= d.n {
                assert!(
                    got.is_nan(),
                    "{}: wrote C's padding ({i}, {j})",
                    kernel.name
                );
                continue;
            }
            let mut s = 0.0;
            for b in 0..members {
                for kk in 0..d.k {
                    s += a_at(i, kk, b * sa) * b_at(kk, j, b * sb);
                }
            }
            let mut want = d.alpha * s;
            if d.beta != 0.0 {
                want += d.beta * decode(d.c_dtype, &c_bytes[ci * es..ci * es + es]);
            }
            let want = with_epilogue(d, (i, j), want, |n| {
                let dt = d.epilogue.bias.expect("a bias").dtype;
                decode(dt, &encode(dt, bias_vals[n]))
            });
            let tol = if d.c_dtype == DType::F32 {
                1e-6 * (1.0 + want.abs())
            } else {
                want.abs() / 128.0
            };
            assert_element(d, &name, (i, j), (got, want, tol), &mask_out);
        }
    }
    kernel.name
}
