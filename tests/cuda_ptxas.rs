//! Every kernel family the CUDA generator emits, assembled by `ptxas` for sm_80 (the portable
//! `mma.sync` path, `.version 7.0`) and sm_90a (`.version 8.0`): the test fails on any ptxas
//! error and on any register spill in a GEMM or an equation pass. No GPU is needed. `ptxas`
//! comes from the `nvidia-cuda-nvcc` wheel (`.ci/run` installs it); without it the test says so and skips,
//! unless `TPP_REQUIRE_PTXAS=1` (set by CI once the wheel is installed) makes that a failure.

mod common;
mod cuda_support;

use cuda_support::{catalogue, ptxas};
use std::sync::Mutex;
use tpp::kernels_cuda::{self, GemmOptions, PtxKernel, Target};
use tpp::DType;

struct Job {
    family: &'static str,
    kernel: PtxKernel,
}

fn generate_all(target: Target) -> Vec<Job> {
    let mut jobs = vec![];
    let mut push = |family, k: Result<PtxKernel, kernels_cuda::Declined>, what: String| match k {
        Ok(kernel) => jobs.push(Job { family, kernel }),
        Err(e) => panic!("{what}: the generator declined: {e}"),
    };
    for d in catalogue::unaries() {
        d.validate().unwrap_or_else(|e| panic!("{d:?}: {e}"));
        push("unary", kernels_cuda::unary(&d, target), format!("{d:?}"));
    }
    for d in catalogue::binaries() {
        d.validate().unwrap_or_else(|e| panic!("{d:?}: {e}"));
        push("binary", kernels_cuda::binary(&d, target), format!("{d:?}"));
    }
    for d in catalogue::ternaries() {
        d.validate().unwrap_or_else(|e| panic!("{d:?}: {e}"));
        push(
            "ternary",
            kernels_cuda::ternary(&d, target),
            format!("{d:?}"),
        );
    }
    for d in catalogue::reductions() {
        d.validate().unwrap_or_else(|e| panic!("{d:?}: {e}"));
        push(
            "reduce",
            kernels_cuda::reduce_kernel(&d, target),
            format!("{d:?}"),
        );
    }
    for c in catalogue::gemms() {
        c.desc
            .validate()
            .unwrap_or_else(|e| panic!("{:?}: {e}", c.desc));
        let opts = GemmOptions { tf32: c.tf32 };
        push(
            "gemm",
            kernels_cuda::gemm_kernel(&c.desc, target, opts),
            format!("{c:?}"),
        );
    }
    // The sm_90a warpgroup MMA tiles (wgmma exists only there).
    if target == Target::Sm90a {
        for (dt, n, k) in [
            (DType::BF16, 8, 16),
            (DType::BF16, 64, 64),
            (DType::F16, 128, 32),
            (DType::BF16, 256, 16),
        ] {
            push(
                "wgmma",
                kernels_cuda::wgmma::tile_kernel(dt, n, k),
                format!("wgmma tile {dt} n{n} k{k}"),
            );
        }
        for d in catalogue::wgmma_gemms() {
            d.validate().unwrap_or_else(|e| panic!("{d:?}: {e}"));
            push(
                "wgmma_gemm",
                kernels_cuda::gemm_wgmma::generate(&d),
                format!("{d:?}"),
            );
        }
    }
    // Equations: one kernel per pass (and the column folds' init), ready-made and random.
    let random = (0..48u64).map(|seed| {
        common::eq_harness::random_equation(
            1 + seed as usize % 9,
            1 + (seed as usize * 37) % 130,
            seed,
        )
    });
    for eq in catalogue::equations().into_iter().chain(random) {
        eq.validate().unwrap_or_else(|e| panic!("{eq:?}: {e}"));
        match kernels_cuda::equation_kernels(&eq, target) {
            Ok(k) => jobs.extend(k.launches.into_iter().map(|l| Job {
                family: "equation",
                kernel: l.kernel,
            })),
            Err(e) => panic!("{eq:?}: the generator declined: {e}"),
        }
    }
    jobs
}

#[test]
fn every_kernel_family_assembles_for_sm80_and_sm90a_without_gemm_or_equation_spills() {
    let Some(ptxas) = ptxas::find() else {
        let required = std::env::var("TPP_REQUIRE_PTXAS").is_ok_and(|v| v == "1");
        assert!(!required, "TPP_REQUIRE_PTXAS=1 but no ptxas was found (TPP_PTXAS, PATH, the nvidia-cuda-nvcc wheel)");
        eprintln!("SKIPPED: no ptxas (pip install --no-deps nvidia-cuda-nvcc, or set TPP_PTXAS): the generated PTX was not assembled");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tpp-ptxas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut jobs = vec![];
    for target in [Target::Sm80, Target::Sm90a] {
        jobs.extend(generate_all(target).into_iter().map(|j| (target, j)));
    }
    let total = jobs.len();
    // Numbered: kernels of equal names (an equation's name omits its dtypes) get files of
    // their own.
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let failures = Mutex::new(Vec::<String>::new());
    let worst = Mutex::new(std::collections::BTreeMap::<(&str, &str), (u32, String)>::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some((n, (target, job))) = queue.lock().unwrap().pop() else {
                    break;
                };
                let k = &job.kernel;
                let arch = target.sm();
                match ptxas::assemble(&ptxas, &dir, &format!("{n}_{}", k.name), &k.ptx, arch) {
                    Ok(r) => {
                        if matches!(job.family, "gemm" | "equation" | "wgmma" | "wgmma_gemm") && (r.spill_stores > 0 || r.spill_loads > 0 || r.stack > 0) {
                            failures.lock().unwrap().push(format!(
                                "{} ({arch}): {} registers, {} bytes spill stores, {} bytes spill loads, {} bytes stack",
                                k.name, r.registers, r.spill_stores, r.spill_loads, r.stack
                            ));
                        }
                        let mut w = worst.lock().unwrap();
                        let e = w.entry((job.family, arch)).or_insert((0, String::new()));
                        if r.registers > e.0 {
                            *e = (r.registers, k.name.clone());
                        }
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{} ({arch}): {e}", k.name)),
                }
            });
        }
    });
    for ((family, arch), (regs, name)) in worst.lock().unwrap().iter() {
        eprintln!("{family:10} {arch:7} most registers: {regs:3} ({name})");
    }
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {total} kernels failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{total} kernels assembled by {}", ptxas.display());
}
