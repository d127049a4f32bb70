//! Build script: finds the peer libraries the benches compare against and compiles their C
//! shims with `cc`. Nothing here is needed by the library itself (the shim's objects are only
//! pulled in by the benches that call them); when a peer is missing the benches say which
//! Debian package provides it and run without it.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=benches/peers");
    println!("cargo::rustc-check-cfg=cfg(tpp_dnnl)");
    let header = [
        "/usr/include/oneapi/dnnl/dnnl.h",
        "/usr/local/include/oneapi/dnnl/dnnl.h",
    ]
    .iter()
    .any(|p| Path::new(p).exists());
    if header
        && cc::Build::new()
            .file("benches/peers/dnnl_shim.c")
            .try_compile("tpp_dnnl_shim")
            .is_ok()
    {
        println!("cargo::rustc-link-lib=dnnl");
        println!("cargo::rustc-cfg=tpp_dnnl");
    }
}
