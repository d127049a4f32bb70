//! Shared by the tests that drive tpp from C: builds the shared library (a nested `cargo build`
//! of this package with the same profile and features), reads the generated `tpp.pc`, and
//! compiles C programs against it with warnings as errors.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the cdylib (once per test run) and returns the directory holding it and `tpp.pc`.
pub fn library_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(build_library).clone()
}

fn build_library() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root).args(["build", "--lib", "--quiet"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    if cfg!(feature = "blas") {
        cmd.args(["--features", "blas"]);
    }
    let st = cmd.status().expect("runs cargo");
    assert!(st.success(), "cargo build --lib failed");
    // This test runs from target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libtpp.so").exists(),
        "no libtpp.so in {}",
        dir.display()
    );
    dir
}

/// `Cflags` and `Libs` of the generated pkg-config file, with its variables expanded.
pub fn pkg_config(dir: &Path) -> Vec<String> {
    let pc = std::fs::read_to_string(dir.join("tpp.pc")).expect("build.rs writes tpp.pc");
    let mut vars = std::collections::HashMap::new();
    let mut flags = vec![];
    for line in pc.lines() {
        let expand = |s: &str, vars: &std::collections::HashMap<String, String>| {
            let mut s = s.to_string();
            for (k, v) in vars {
                s = s.replace(&format!("${{{k}}}"), v);
            }
            s
        };
        if let Some((k, v)) = line.split_once('=') {
            if !k.contains(' ') && !k.contains(':') {
                let v = expand(v, &vars);
                vars.insert(k.to_string(), v);
                continue;
            }
        }
        if let Some(v) = line
            .strip_prefix("Cflags:")
            .or_else(|| line.strip_prefix("Libs:"))
        {
            flags.extend(expand(v, &vars).split_whitespace().map(str::to_string));
        }
    }
    flags
}

/// Compiles `tests/c/<source>` into `<library dir>/<exe>` with `defines` (`-D` flags), against
/// `include/tpp.h` and the library, `-rdynamic` so that tpp finds the program's own handlers.
pub fn compile(source: &str, exe: &str, defines: &[&str]) -> PathBuf {
    compile_with(source, exe, defines, &[])
}

/// [`compile`] with `extra` compiler flags (sanitizers, for example).
pub fn compile_with(source: &str, exe: &str, defines: &[&str], extra: &[&str]) -> PathBuf {
    let dir = library_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join(exe);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.arg(root.join("tests/c").join(source))
        .args([
            "-std=c11",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-rdynamic",
        ])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .args(pkg_config(&dir))
        .arg("-lm");
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    let res = cmd.output().expect("runs the C compiler");
    assert!(
        res.status.success(),
        "{cc} {source} {defines:?} failed:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}
