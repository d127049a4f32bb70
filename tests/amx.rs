//! The AMX tile kernels against the reference, on every machine: the exact bytes the `amx`
//! backend generates run under the test-only emulator (`amx_emulator/`) everywhere, and
//! natively too where the CPU has AMX and Linux grants the tile state. The output says which
//! ran. Shapes cover every tile-configuration remainder (m, n around 16 and 32; k with an
//! equal split, an uneven split, a single short step), batch 0/1/more in every batch form,
//! beta 0 over a NaN-filled C, general alpha/beta, padded leading dimensions, each epilogue,
//! bf16 C, and all four int8 signedness pairs.
#![cfg(target_arch = "x86_64")]

mod amx_emulator;
mod common;

use common::harness::{self, Checked};
use proptest::prelude::*;
use std::ffi::c_void;
use std::io::Write;
use std::sync::Once;
use tpp::backend::{amx, Backend};
use tpp::exec::{arena, Exec, GemmArgs};
use tpp::*;

/// The tile kernel, run by the emulator.
struct Emulated(Vec<u8>);

impl Exec<GemmArgs> for Emulated {
    unsafe fn run(&self, args: &GemmArgs) {
        let arg = (args as *const GemmArgs).cast::<c_void>();
        if let Err(e) = amx_emulator::run(&self.0, arg) {
            panic!("AMX emulator: {e}");
        }
    }
    fn code_size(&self) -> usize {
        self.0.len()
    }
}

/// Every descriptor tiles can take, emulated (no size cross-over).
struct AmxEmulated;
impl Backend for AmxEmulated {
    fn name(&self) -> &'static str {
        "amx-emulated"
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        let code = amx::generate_code(d).ok()?;
        Some(Box::new(Emulated(code)))
    }
}

/// A native kernel in the code arena.
struct Native(unsafe extern "C" fn(*const GemmArgs), usize);
impl Exec<GemmArgs> for Native {
    unsafe fn run(&self, args: &GemmArgs) {
        (self.0)(args)
    }
    fn code_size(&self) -> usize {
        self.1
    }
}

/// Every descriptor tiles can take, native (no size cross-over).
struct AmxNative;
impl Backend for AmxNative {
    fn name(&self) -> &'static str {
        "amx-native"
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        let code = arena::install(&amx::generate_code(d).ok()?).ok()?;
        // SAFETY: the tile generator emits a complete `extern "C" fn(*const GemmArgs)`, and
        // this backend is registered only where tiles are usable.
        let f = unsafe {
            std::mem::transmute::<*const u8, unsafe extern "C" fn(*const GemmArgs)>(code.ptr())
        };
        Some(Box::new(Native(f, code.len())))
    }
}

/// The backends to check here, registered once; says which ran.
fn targets() -> Vec<&'static str> {
    static REG: Once = Once::new();
    REG.call_once(|| {
        dispatch::register_backend(&AmxEmulated);
        let caps = dispatch::caps::x86();
        if amx::usable() && caps.amx_bf16 && caps.amx_int8 {
            dispatch::register_backend(&AmxNative);
        }
    });
    let caps = dispatch::caps::x86();
    let mut t = vec![];
    if caps.avx512 && caps.avx512_bf16 {
        t.push("amx-emulated");
    } else {
        println!("AMX emulated: skipped (the finishing kernels need AVX-512 with BF16)");
    }
    if dispatch::find("amx-native").is_some() {
        t.push("amx-native");
    }
    // Once per run, past the test harness's capture (a direct write to the stream is not
    // captured), so that CI's log says which ran.
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let native = if t.contains(&"amx-native") {
            "and natively"
        } else {
            "(no native run: this CPU has no AMX, or Linux refused the tile state)"
        };
        let _ = writeln!(
            std::io::stderr(),
            "AMX tile kernels checked under the emulator {native}"
        );
    });
    t
}

/// Checks every descriptor on every target; each must be claimed (tiles take them all).
fn check_all(descs: &[GemmDesc]) {
    for b in targets() {
        for (i, d) in descs.iter().enumerate() {
            d.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", d.kernel_name(b)));
            let r = harness::check_gemm(b, d, 0x5eed + i as u64);
            assert_eq!(r, Ok(Checked::Compared), "{b}: {}", d.kernel_name(b));
        }
        println!("{b}: {} descriptors compared", descs.len());
    }
}

fn bf16(m: usize, n: usize, k: usize) -> GemmDesc {
    GemmDesc::new(m, n, k, DType::BF16).vnni_b().beta(0.0)
}

fn int8(m: usize, n: usize, k: usize, a: DType, b: DType) -> GemmDesc {
    GemmDesc::new(m, n, k, a).inputs(a, b).vnni_b().beta(0.0)
}

const INT8S: [(DType, DType); 4] = [
    (DType::U8, DType::I8),
    (DType::I8, DType::I8),
    (DType::I8, DType::U8),
    (DType::U8, DType::U8),
];

/// m and n around one and two tiles; k: one short step, equal steps, uneven steps.
#[test]
fn tile_configuration_remainders() {
    let ms = [1, 15, 16, 17, 31, 32, 33, 47, 65];
    let ns = [1, 15, 16, 17, 32, 33, 63, 64, 97];
    let mut descs = vec![];
    for (x, &m) in ms.iter().enumerate() {
        for (y, &n) in ns.iter().enumerate() {
            for k in [2, 30, 32, 34, 64, 100] {
                let pad = (x + y + k) % 3;
                descs.push(bf16(m, n, k).ld(k + pad, n + 2 * pad, n + pad));
            }
            for (z, k) in [4, 60, 64, 68, 132, 192].into_iter().enumerate() {
                let (a, b) = INT8S[(x + y + z) % 4];
                descs.push(int8(m, n, k, a, b).ld(k + 4 * (z % 2), n + (y % 2), n + 3 * (x % 2)));
            }
        }
    }
    check_all(&descs);
}

/// beta 1 reads C through the tiles; general alpha/beta, bias, activations and bf16 C go
/// through the finishing kernels, on edge blocks.
#[test]
fn scaling_and_epilogues() {
    let mut descs = vec![];
    for (m, n, k) in [
        (1, 1, 2),
        (17, 33, 34),
        (32, 32, 64),
        (40, 20, 96),
        (13, 48, 6),
    ] {
        descs.push(bf16(m, n, k).beta(1.0));
        descs.push(bf16(m, n, k).alpha(-1.5).beta(0.75));
        descs.push(bf16(m, n, k).alpha(0.5));
        descs.push(bf16(m, n, k).output(DType::BF16).beta(1.0));
        for act in [
            Activation::Relu { mask: true },
            Activation::Gelu,
            Activation::Sigmoid,
            Activation::LeakyRelu { alpha: 0.1 },
        ] {
            for (bias, dt) in [
                (BiasBroadcast::Row, DType::F32),
                (BiasBroadcast::Col, DType::BF16),
            ] {
                descs.push(bf16(m, n, k).bias(bias, dt).activation(act));
            }
        }
        for (a, b) in INT8S {
            descs.push(int8(m, n, k.next_multiple_of(4), a, b).beta(1.0));
        }
    }
    check_all(&descs);
}

/// Stride, offsets and addresses; the harness draws batch counts 0 to 3 per seed.
#[test]
fn batch_forms() {
    let mut descs = vec![];
    for (m, n, k) in [(1, 1, 4), (16, 16, 32), (33, 17, 68), (20, 40, 128)] {
        for (seed, &(a, b)) in INT8S.iter().enumerate() {
            for base in [bf16(m, n, k).beta((seed % 2) as f64), int8(m, n, k, a, b)] {
                let stride = BatchReduce::Stride {
                    a: base.a_len() + seed,
                    b: base.b_len() + 4 * seed,
                };
                for br in [stride, BatchReduce::Offsets, BatchReduce::Addresses] {
                    descs.push(base.batch(br));
                }
            }
        }
    }
    check_all(&descs);
}

/// Random tile-shaped descriptors.
fn tile_desc() -> impl Strategy<Value = GemmDesc> {
    (
        1usize..80,
        1usize..80,
        1usize..40,
        0usize..3,
        0usize..5,
        any::<bool>(),
        0usize..4,
    )
        .prop_map(|(m, n, kq, pad, flags, int, br)| {
            let d = if int {
                let (a, b) = INT8S[flags % 4];
                int8(m, n, 4 * kq, a, b).beta((flags % 2) as f64)
            } else {
                let d = bf16(m, n, 2 * kq);
                match flags {
                    0 => d,
                    1 => d.beta(1.0),
                    2 => d.alpha(2.0).beta(-1.0),
                    3 => d
                        .bias(BiasBroadcast::Row, DType::F32)
                        .activation(Activation::Gelu),
                    _ => d.output(DType::BF16),
                }
            };
            let d = d.ld(d.k + pad, d.n + pad, d.n + 2 * pad);
            match br {
                1 => d.batch(BatchReduce::Stride {
                    a: d.a_len(),
                    b: d.b_len() + 4,
                }),
                2 => d.batch(BatchReduce::Offsets),
                3 => d.batch(BatchReduce::Addresses),
                _ => d,
            }
        })
}

proptest! {
    #![proptest_config(common::scale::config(96))]

    #[test]
    fn tiles_match_reference(d in tile_desc(), seed in any::<u64>()) {
        for b in targets() {
            let r = harness::check_gemm(b, &d, seed).map_err(TestCaseError::fail)?;
            prop_assert_eq!(r, Checked::Compared);
        }
    }
}

/// The emulator itself must catch what the hardware would fault on, so that its passes mean
/// something: a kernel that leaves tiles configured, or multiplies unconfigured tiles.
#[test]
fn emulator_rejects_broken_tile_code() {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(64).unwrap();
    a.tilezero(tmm0).unwrap();
    a.ret().unwrap();
    let code = a.assemble(0).unwrap();
    // SAFETY: the code reads nothing through the argument.
    let e = unsafe { amx_emulator::run(&code, std::ptr::null()) }.unwrap_err();
    assert!(e.contains("not configured"), "{e}");

    let mut a = CodeAssembler::new(64).unwrap();
    let mut cfg = a.create_label();
    a.ldtilecfg(ptr(cfg)).unwrap();
    a.ret().unwrap();
    a.set_label(&mut cfg).unwrap();
    let mut bytes = [0u8; 64];
    bytes[0] = 1;
    a.db(&bytes).unwrap();
    let code = a.assemble(0).unwrap();
    // SAFETY: as above.
    let e = unsafe { amx_emulator::run(&code, std::ptr::null()) }.unwrap_err();
    assert!(e.contains("without tilerelease"), "{e}");
}

/// Emulated and native runs of the same bytes agree: int8 bit for bit, bf16 to within the
/// hardware's undocumented internal rounding (an ulp or so per tile instruction; see
/// `amx_emulator/tiles.rs`), so the emulator models the hardware, not just the reference.
#[test]
fn emulator_matches_hardware() {
    if !targets().contains(&"amx-native") {
        println!("AMX native: not available here (no AMX, or the OS refused the tile state)");
        return;
    }
    let mut rng = 0x9e37_79b9u32;
    let mut fill = |v: &mut [u16]| {
        for x in v.iter_mut() {
            rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *x = 0x3c00 | (rng >> 16) as u16 & 0x83ff;
        }
    };
    let cases = [
        bf16(33, 47, 66),
        bf16(16, 16, 32).alpha(3.0),
        int8(17, 32, 132, DType::I8, DType::U8),
        int8(40, 20, 64, DType::U8, DType::I8),
    ];
    for d in cases {
        let run = |backend: &str, a: &[u16], b: &[u16]| {
            let k = dispatch_on(&d, backend).unwrap();
            let mut c = vec![0u32; d.c_len()];
            let args = GemmArgs {
                a: a.as_ptr().cast(),
                b: b.as_ptr().cast(),
                c: c.as_mut_ptr().cast(),
                ..GemmArgs::default()
            };
            // SAFETY: a, b and c hold what the descriptor spans (u16 storage covers the
            // int8 case's bytes twice over).
            unsafe { k.call_raw(&args) };
            c
        };
        let (mut a, mut b) = (vec![0u16; d.a_len()], vec![0u16; d.b_len()]);
        fill(&mut a);
        fill(&mut b);
        let (emu, nat) = (run("amx-emulated", &a, &b), run("amx-native", &a, &b));
        let name = d.kernel_name("amx");
        if d.is_int8() {
            assert_eq!(emu, nat, "{name}");
            continue;
        }
        let val = |x: u16| f64::from(f32::from_bits(u32::from(x) << 16));
        let mut same = 0;
        for (i, (&e, &n)) in emu.iter().zip(&nat).enumerate() {
            let (e, n) = (f32::from_bits(e), f32::from_bits(n));
            same += usize::from(e.to_bits() == n.to_bits());
            // Σ|a·b|: the scale of the rounding errors, whatever cancels in the sum.
            let (r, j) = (i / d.ldc, i % d.ldc);
            let mag: f64 = (0..d.k)
                .map(|q| (val(a[r * d.lda + q]) * val(b[q / 2 * 2 * d.ldb + 2 * j + q % 2])).abs())
                .sum();
            let tol = 4.0 * f64::from(f32::EPSILON) * mag * f64::from(d.alpha.abs() as f32);
            let diff = (f64::from(e) - f64::from(n)).abs();
            assert!(diff <= tol, "{name}[{i}]: emulated {e:e}, native {n:e}");
        }
        println!(
            "{name}: {same} of {} bit for bit, the rest within 4 ulp of Σ|a·b|",
            emu.len()
        );
    }
    println!("AMX native: ran, and agreed with the emulator");
}
