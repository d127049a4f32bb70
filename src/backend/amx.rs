//! The AMX backend: GEMM/BRGEMM on tiles — bf16 × bf16 (VNNI2 B) → f32/bf16 and
//! u8/i8 × u8/i8 (VNNI4 B) → i32 — over the `kernels-x86` tile generator, with alpha, beta and
//! the epilogue finished by AVX-512 kernels from the shared lowering. It claims a descriptor
//! only where the CPU has the tiles, Linux granted this process their state, and tiles beat
//! the AVX-512 dot products (the cross-over measured by `cargo bench --bench gemm`); everything
//! else goes on to the `avx512` backend.

use super::{jit, Backend};
use crate::dispatch::{caps, log_decline};
use crate::exec::eltwise_spec::gemm_epilogue_spec;
use crate::exec::{arena, Exec, GemmArgs};
use crate::isa::{DType, GemmDesc, Layout};
use crate::kernels_x86::amx::TileDot;
use crate::kernels_x86::eltwise;
use crate::kernels_x86::gemm_amx::{self, AmxBlocking, AmxSpec};
use crate::lower;
use std::sync::OnceLock;

/// AMX tile code generation (with AVX-512 for the finishing kernels).
pub struct Amx;

impl Backend for Amx {
    fn name(&self) -> &'static str {
        "amx"
    }

    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        let dot = match dot_of(d) {
            Ok(dot) => dot,
            // Not a tile shape of problem: no message, the AVX-512 backend takes it.
            Err(_) => return None,
        };
        if !has_unit(dot) || !usable() {
            return None;
        }
        let name = d.kernel_name(self.name());
        if !wins(d, dot) {
            log_decline(
                self.name(),
                &name,
                "below the AMX cross-over (the AVX-512 kernel is faster here)",
            );
            return None;
        }
        jit::install_or_decline(self.name(), &name, generate_code(d))
    }
}

/// Whether this process may execute tile instructions: CPUID reports AMX-TILE and Linux
/// grants the tile data state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, asked
/// once per process). A refusal is said once under `TPP_VERBOSE`; the AVX-512 kernels serve.
/// `TPP_AMX=0` turns tiles off as if the OS had refused them (to compare, or to run the
/// suite as a machine without AMX would).
pub fn usable() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if !caps::x86().amx_tile {
            return false;
        }
        if std::env::var("TPP_AMX").is_ok_and(|v| v.trim() == "0") {
            crate::dispatch::env::log(|| "amx: off (TPP_AMX=0); using AVX-512 instead".into());
            return false;
        }
        let granted = request_tile_permission();
        if !granted {
            crate::dispatch::env::log(|| {
                "amx: the OS refused the tile state (arch_prctl); using AVX-512 instead".into()
            });
        }
        granted
    })
}

#[cfg(target_os = "linux")]
fn request_tile_permission() -> bool {
    const ARCH_GET_XCOMP_PERM: libc::c_long = 0x1022;
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    let mut perm: u64 = 0;
    // SAFETY: arch_prctl with these codes reads an integer or writes one u64 through the
    // pointer we pass, which points to a live local.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
            && libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_GET_XCOMP_PERM,
                &mut perm as *mut u64,
            ) == 0
            && perm >> XFEATURE_XTILEDATA & 1 == 1
    }
}

#[cfg(not(target_os = "linux"))]
fn request_tile_permission() -> bool {
    false
}

/// Whether bf16 products above the cross-over run on tiles in this process (the large GEMM
/// blocks for tiles then).
pub fn bf16_ready() -> bool {
    has_unit(TileDot::Bf16) && usable()
}

/// The tile dot product for `d`, or why tiles do not take it.
pub fn dot_of(d: &GemmDesc) -> Result<TileDot, &'static str> {
    use DType::*;
    if d.trans_a || d.trans_b {
        return Err("tiles read A and B untransposed");
    }
    if d.c_layout != Layout::RowMajor {
        return Err("VNNI2 C is composed");
    }
    match (d.a_dtype, d.b_dtype, d.b_layout, d.c_dtype) {
        (BF16, BF16, Layout::Vnni2, F32 | BF16) => Ok(TileDot::Bf16),
        (U8 | I8, U8 | I8, Layout::Vnni4, I32) => Ok(TileDot::Int8 {
            a_signed: d.a_dtype == I8,
            b_signed: d.b_dtype == I8,
        }),
        _ => Err("tiles take bf16 with VNNI2 B and int8 with VNNI4 B"),
    }
}

/// Whether the `amx` backend takes `d` in this process: the CPU has the tile unit for its
/// dtypes, the OS granted the tile state, and `d` is a tile shape of problem above the
/// cross-over.
pub fn claims(d: &GemmDesc) -> bool {
    dot_of(d).is_ok_and(|dot| has_unit(dot) && usable() && wins(d, dot))
}

fn has_unit(dot: TileDot) -> bool {
    let c = caps::x86();
    match dot {
        TileDot::Bf16 => c.amx_bf16,
        TileDot::Int8 { .. } => c.amx_int8,
    }
}

/// Whether tiles beat the AVX-512 dot products on `d`. A call pays a fixed ~100 ns for
/// `ldtilecfg` and the first tile loads, which small products do not earn back; measured on
/// Sapphire Rapids with `cargo bench --bench gemm -- crossover` (interleaved, same run):
/// bf16 16×16×32 gains 1.3×, 16×16×16 and 8×16×32 lose (0.8×, 0.55×); int8, whose AVX-512
/// `vpdpbusd` is four times denser, loses up to 16×64×64 as a plain GEMM (0.98×) and wins
/// from 64³ (1.3×), while batch-reduce forms win from 16×16×64 (1.1× at 8 members). Below 16
/// columns the tiles are mostly idle width.
fn wins(d: &GemmDesc, dot: TileDot) -> bool {
    // Fewer than 16 columns leave most of every tile's width idle (1×1×8192 would run 256
    // steps on one-element tiles).
    if d.n < 16 {
        return false;
    }
    let work = d.m.saturating_mul(d.n).saturating_mul(d.k);
    match dot {
        TileDot::Bf16 => work >= 16 * 16 * 32,
        TileDot::Int8 { .. } if d.batch == crate::isa::BatchReduce::None => {
            work >= 2 * 64 * 32 * 32
        }
        TileDot::Int8 { .. } => work >= 16 * 16 * 64,
    }
}

/// The tile kernel of `d` as machine code, its finishing kernels (if any) installed in the
/// code arena, whatever this CPU's AMX support — the bytes run natively where tiles are
/// usable and under the test-only emulator elsewhere. Needs AVX-512 (and AVX512_BF16 for a
/// bf16 C) for the finishing kernels.
#[doc(hidden)]
pub fn generate_code(d: &GemmDesc) -> Result<Vec<u8>, String> {
    let dot = dot_of(d)?;
    let c = caps::x86();
    if !c.avx512 || (d.c_dtype == DType::BF16 && !c.avx512_bf16) {
        return Err("the finishing kernels need AVX-512 (and AVX512_BF16 for a bf16 C)".into());
    }
    if !displacements_fit(d) {
        return Err("leading dimensions too large for 32-bit displacements".into());
    }
    let blocking = AmxBlocking::of(d, dot);
    let plain = d.epilogue.bias.is_none()
        && d.epilogue.activation == crate::isa::Activation::None
        && d.alpha == 1.0
        && (d.beta == 0.0 || d.beta == 1.0);
    let direct = plain && matches!(d.c_dtype, DType::F32 | DType::I32);
    let mut finish = vec![];
    if !direct {
        let program = lower::eltwise::gemm_finish(&d.epilogue, d.alpha as f32, d.beta as f32)
            .ok_or("the epilogue has no micro-op lowering")?;
        let name = d.kernel_name("amx");
        for (rows, cols) in blocking.shapes(d.m, d.n) {
            let spec = gemm_epilogue_spec(d, &program, blocking.block_cols(), rows, cols);
            let bytes = eltwise::generate(&spec).map_err(|e| e.0)?;
            let entry = jit::install_part(&format!("{name}_finish_{rows}x{cols}"), &bytes)?;
            finish.push(((rows, cols), entry));
        }
    }
    let spec = AmxSpec {
        d,
        blocking,
        finish,
    };
    gemm_amx::generate(&spec).map_err(|e| e.to_string())
}

/// Tile row offsets and the strides (immediates of `imul` and `mov`) fit 32 bits.
fn displacements_fit(d: &GemmDesc) -> bool {
    let lim = i32::MAX as usize / 64;
    [
        d.lda * d.a_dtype.size(),
        d.ldb * 4,
        d.ldc * d.c_dtype.size(),
        d.epilogue.mask_ld,
    ]
    .iter()
    .all(|&x| x < lim)
}

/// The tile unit's register-only peak for `dot` in operations per second (best of five
/// timed runs of [`crate::kernels_x86::amx::peak_loop`]), or `None` where tiles are not
/// usable: what the benches and the showcase report AMX kernels against.
pub fn measure_peak(dot: TileDot) -> Option<f64> {
    if !has_unit(dot) || !usable() {
        return None;
    }
    let bytes = crate::kernels_x86::amx::peak_loop(dot).ok()?;
    let code = arena::install(&bytes).ok()?;
    // SAFETY: the generator emits a complete `extern "C" fn(u64)`, and tiles are usable.
    let f = unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(u64)>(code.ptr()) };
    let iters = 200_000u64;
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        // SAFETY: as above.
        unsafe { f(iters) };
        let dt = t.elapsed().as_secs_f64();
        best = best.max(4.0 * iters as f64 * crate::kernels_x86::amx::ops_per_dot(dot) / dt);
    }
    Some(best)
}
