//! What the CPU can do, detected once.

use std::sync::OnceLock;

/// Whose core this is: the register blockings and instruction sequences whose best choice
/// differs between vendors' microarchitectures key on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Vendor {
    /// `GenuineIntel`.
    Intel,
    /// `AuthenticAMD`.
    Amd,
    /// Anything else (or not x86-64).
    #[default]
    Other,
}

/// x86-64 features the JIT backends care about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X86Caps {
    /// The CPU vendor (CPUID leaf 0).
    pub vendor: Vendor,
    /// AVX-512 F, BW, VL and DQ together (the baseline of the AVX-512 backend).
    pub avx512: bool,
    /// AVX512_VNNI (`vpdpbusd`).
    pub avx512_vnni: bool,
    /// AVX512_BF16 (`vdpbf16ps`, `vcvtneps2bf16`).
    pub avx512_bf16: bool,
    /// AVX512_FP16.
    pub avx512_fp16: bool,
    /// AMX-TILE support as CPUID reports it. Whether the OS lets this process use tiles
    /// (XCR0 and Linux's `arch_prctl` permission) is for the AMX code path to establish.
    pub amx_tile: bool,
    /// AMX-BF16.
    pub amx_bf16: bool,
    /// AMX-INT8.
    pub amx_int8: bool,
}

/// The detected capabilities (all false off x86-64).
pub fn x86() -> &'static X86Caps {
    static CAPS: OnceLock<X86Caps> = OnceLock::new();
    CAPS.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> X86Caps {
    use std::arch::x86_64::__cpuid_count;
    let avx512 = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq");
    // AMX bits are in CPUID leaf 7 EDX (the std macro for them is not stable).
    let leaf7 = __cpuid_count(7, 0);
    let bit = |b: u32| leaf7.edx >> b & 1 == 1;
    let leaf0 = __cpuid_count(0, 0);
    let id: Vec<u8> = [leaf0.ebx, leaf0.edx, leaf0.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let vendor = match &id[..] {
        b"GenuineIntel" => Vendor::Intel,
        b"AuthenticAMD" => Vendor::Amd,
        _ => Vendor::Other,
    };
    X86Caps {
        vendor,
        avx512,
        avx512_vnni: avx512 && is_x86_feature_detected!("avx512vnni"),
        avx512_bf16: avx512 && is_x86_feature_detected!("avx512bf16"),
        avx512_fp16: avx512 && is_x86_feature_detected!("avx512fp16"),
        amx_tile: bit(24),
        amx_bf16: bit(22),
        amx_int8: bit(25),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> X86Caps {
    X86Caps::default()
}

/// aarch64 features the NEON backend cares about (all false off aarch64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArmCaps {
    /// Advanced SIMD (NEON): the baseline of the NEON backend.
    pub asimd: bool,
    /// Half-precision arithmetic (FEAT_FP16: `fphp` and `asimdhp`).
    pub fp16: bool,
    /// `sdot`/`udot` (FEAT_DotProd, `asimddp`).
    pub dotprod: bool,
    /// `bfdot`, `bfmmla`, `bfcvtn` (FEAT_BF16).
    pub bf16: bool,
    /// `smmla`, `ummla`, `usmmla`, `usdot` (FEAT_I8MM).
    pub i8mm: bool,
}

/// The detected aarch64 capabilities, from the kernel's `AT_HWCAP`/`AT_HWCAP2` words.
pub fn arm() -> &'static ArmCaps {
    static CAPS: OnceLock<ArmCaps> = OnceLock::new();
    CAPS.get_or_init(detect_arm)
}

#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
fn detect_arm() -> ArmCaps {
    // Bit numbers of arch/arm64/include/uapi/asm/hwcap.h (stable Linux ABI).
    const HWCAP_ASIMD: u64 = 1 << 1;
    const HWCAP_FPHP: u64 = 1 << 9;
    const HWCAP_ASIMDHP: u64 = 1 << 10;
    const HWCAP_ASIMDDP: u64 = 1 << 20;
    const HWCAP2_I8MM: u64 = 1 << 13;
    const HWCAP2_BF16: u64 = 1 << 14;
    // SAFETY: getauxval only reads the process's auxiliary vector.
    let (hw, hw2) = unsafe {
        (
            libc::getauxval(libc::AT_HWCAP) as u64,
            libc::getauxval(libc::AT_HWCAP2) as u64,
        )
    };
    let asimd = hw & HWCAP_ASIMD != 0;
    ArmCaps {
        asimd,
        fp16: asimd && hw & HWCAP_FPHP != 0 && hw & HWCAP_ASIMDHP != 0,
        dotprod: asimd && hw & HWCAP_ASIMDDP != 0,
        bf16: asimd && hw2 & HWCAP2_BF16 != 0,
        i8mm: asimd && hw2 & HWCAP2_I8MM != 0,
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "linux")))]
fn detect_arm() -> ArmCaps {
    ArmCaps::default()
}

/// Data cache sizes in bytes (L1d, L2, L3), detected once; conservative defaults (32 KiB,
/// 1 MiB, 8 MiB) where the OS does not say. The operators derive their blocking from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caches {
    /// Level-1 data cache.
    pub l1d: usize,
    /// Level-2 cache.
    pub l2: usize,
    /// Level-3 cache.
    pub l3: usize,
}

/// The detected cache sizes.
pub fn caches() -> &'static Caches {
    static C: OnceLock<Caches> = OnceLock::new();
    C.get_or_init(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let size = |name: libc::c_int, default: usize| {
            // SAFETY: sysconf only reads its argument.
            let v = unsafe { libc::sysconf(name) };
            if v > 0 {
                v as usize
            } else {
                default
            }
        };
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        let size = |_: i32, default: usize| default;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let (l1, l2, l3) = (
            libc::_SC_LEVEL1_DCACHE_SIZE,
            libc::_SC_LEVEL2_CACHE_SIZE,
            libc::_SC_LEVEL3_CACHE_SIZE,
        );
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        let (l1, l2, l3) = (0, 0, 0);
        Caches {
            l1d: size(l1, 32 << 10),
            l2: size(l2, 1 << 20),
            l3: size(l3, 8 << 20),
        }
    })
}
