//! Build script of the peers: finds oneDNN and LIBXSMM and compiles their C shims with `cc`.
//! The link lines it emits reach only what depends on this crate (tpp's benches, examples and
//! tests, through a dev-dependency). When a peer is missing, its `cfg` stays off and the benches
//! say which Debian package provides it.

use std::path::Path;

fn exists(paths: &[&str]) -> bool {
    paths.iter().any(|p| Path::new(p).exists())
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=c");
    println!("cargo::rustc-check-cfg=cfg(tpp_dnnl)");
    println!("cargo::rustc-check-cfg=cfg(tpp_xsmm)");
    // The peers found here are the host's x86-64 libraries: a cross build (aarch64 tests under
    // qemu) must not try to link them; its benches then run without peers.
    // (A build script runs on the host, so `consts::ARCH` is the host's architecture.)
    let target = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target != std::env::consts::ARCH {
        return;
    }
    // oneDNN (libdnnl-dev): eltwise, binary, reduction, reorder and matmul peers, and the
    // convolution and inner product of the operator benches.
    if exists(&[
        "/usr/include/oneapi/dnnl/dnnl.h",
        "/usr/local/include/oneapi/dnnl/dnnl.h",
    ]) && cc::Build::new()
        .file("c/dnnl_shim.c")
        .file("c/dnnl_ops_shim.c")
        .try_compile("tpp_dnnl_shim")
        .is_ok()
    {
        println!("cargo::rustc-link-lib=dnnl");
        println!("cargo::rustc-cfg=tpp_dnnl");
    }
    // OpenBLAS (libopenblas-dev): the benches load it at run time (dlopen); LIBXSMM's BLAS
    // fallback links against it.
    let openblas = exists(&[
        "/usr/lib/x86_64-linux-gnu/libopenblas.so",
        "/usr/lib/libopenblas.so",
    ]);
    // LIBXSMM (libxsmm-dev ships static libraries only; its BLAS fallback needs a BLAS).
    if openblas
        && exists(&["/usr/include/libxsmm.h"])
        && exists(&["/usr/lib/libxsmm.a"])
        && cc::Build::new()
            .file("c/xsmm_shim.c")
            .flag_if_supported("-Wno-unused-parameter")
            .try_compile("tpp_xsmm_shim")
            .is_ok()
    {
        println!("cargo::rustc-link-search=native=/usr/lib");
        println!("cargo::rustc-link-lib=static=xsmm");
        println!("cargo::rustc-link-lib=openblas");
        println!("cargo::rustc-link-lib=dl");
        println!("cargo::rustc-link-lib=pthread");
        println!("cargo::rustc-cfg=tpp_xsmm");
    }
}
