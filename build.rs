//! Build script: finds the peer libraries the benches compare against and compiles their C
//! shims with `cc`. Nothing here is needed by the library itself (the shims' objects are only
//! pulled in by the benches that call them); when a peer is missing the benches say which
//! Debian package provides it and run without it.

use std::path::Path;

fn exists(paths: &[&str]) -> bool {
    paths.iter().any(|p| Path::new(p).exists())
}

/// Writes `tpp.pc` next to the library (`target/<profile>/`), so that C builds can use
/// `PKG_CONFIG_PATH=target/release pkg-config --cflags --libs tpp`.
fn pkg_config_file() {
    let (Ok(out), Ok(root)) = (
        std::env::var("OUT_DIR"),
        std::env::var("CARGO_MANIFEST_DIR"),
    ) else {
        return;
    };
    // OUT_DIR is target/<profile>/build/<package>-<hash>/out.
    let Some(libdir) = Path::new(&out).ancestors().nth(3) else {
        return;
    };
    let pc = format!(
        "prefix={root}\nlibdir={}\nincludedir=${{prefix}}/include\n\n\
         Name: tpp\nDescription: Tensor Processing Primitives: JIT GEMM, BRGEMM and eltwise kernels\n\
         Version: {}\nCflags: -I${{includedir}}\nLibs: -L${{libdir}} -Wl,-rpath,${{libdir}} -ltpp\n\
         Libs.private: -lpthread -ldl -lm\n",
        libdir.display(),
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
    let _ = std::fs::write(libdir.join("tpp.pc"), pc);
}

fn main() {
    pkg_config_file();
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=benches/peers");
    println!("cargo::rustc-check-cfg=cfg(tpp_dnnl)");
    println!("cargo::rustc-check-cfg=cfg(tpp_xsmm)");
    // oneDNN (libdnnl-dev): eltwise, binary, reduction and reorder peers.
    if exists(&[
        "/usr/include/oneapi/dnnl/dnnl.h",
        "/usr/local/include/oneapi/dnnl/dnnl.h",
    ]) && cc::Build::new()
        .file("benches/peers/dnnl_shim.c")
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
            .file("benches/peers/xsmm_shim.c")
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
