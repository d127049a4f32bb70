//! `include/tpp.h` is generated from the Rust (`src/ffi/`, and the kernel argument structs of
//! `src/exec/args.rs`) by cbindgen; this test regenerates it and fails when the committed
//! header differs. `TPP_BLESS=1 cargo test --test ffi_header` rewrites it.

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        include_guard: Some("TPP_H".into()),
        cpp_compat: true,
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::C99,
        sys_includes: vec!["stdint.h".into(), "stddef.h".into()],
        no_includes: true,
        usize_is_size_t: true,
        autogen_warning: Some(
            "/* Generated from src/ffi by cbindgen (tests/ffi_header.rs checks it); do not edit. */"
                .into(),
        ),
        header: Some(HEADER.into()),
        ..Default::default()
    };
    config
        .defines
        .insert("feature = blas".into(), "TPP_BLAS".into());
    for (rust, c) in [
        ("GemmArgs", "tpp_gemm_args"),
        ("UnaryArgs", "tpp_unary_args"),
        ("BinaryArgs", "tpp_binary_args"),
        ("TernaryArgs", "tpp_ternary_args"),
        ("ReduceArgs", "tpp_reduce_args"),
        ("EquationArgs", "tpp_equation_args"),
    ] {
        config.export.rename.insert(rust.into(), c.into());
    }
    let mut b = cbindgen::Builder::new().with_config(config);
    // mod.rs brings its submodules (codes, desc, matmul, blas) along.
    for f in ["src/exec/args.rs", "src/exec/equation.rs", "src/ffi/mod.rs"] {
        b = b.with_src(root.join(f));
    }
    let mut out = Vec::new();
    b.generate()
        .expect("cbindgen parses src/ffi")
        .write(&mut out);
    String::from_utf8(out).unwrap()
}

const HEADER: &str = "/*
 * tpp: Tensor Processing Primitives — the C API.
 *
 * Build the library with `cargo build --release` (target/release/libtpp.so and libtpp.a;
 * `--features blas` also exports sgemm_/dgemm_, cblas_sgemm/cblas_dgemm/cblas_sbgemm and
 * cblas_{s,d,sb}gemm_batch); pkg-config finds it through target/release/tpp.pc.
 *
 * Use: fill a descriptor (tpp_*_desc_init sets the defaults, then change fields), dispatch it
 * once (tpp_*_dispatch validates it and returns a kernel handle), call the kernel many times
 * with its argument struct (tpp_*_call), release the handle. Every function returns a
 * tpp_status; on failure tpp_last_error() says what was wrong and what is allowed.
 * Operands are row-major: element (i, j) at base + i*ld + j. Offsets and strides count
 * elements. Kernels may be called from many threads at once.
 */";

#[test]
fn header_matches_the_rust() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tpp.h");
    let want = generate();
    if std::env::var_os("TPP_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "include/tpp.h differs from what src/ffi generates: run `TPP_BLESS=1 cargo test --test ffi_header`"
    );
}
