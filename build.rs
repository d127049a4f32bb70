//! Build script: writes `tpp.pc` for C builds and nothing else. The library links no peer
//! library; the benches' peers (oneDNN, LIBXSMM, OpenBLAS) live in the dev-only `peers/` crate.

use std::path::Path;

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
}
