//! The C ABI from C and from Python: builds the shared library (a nested `cargo build` of this
//! package with the same profile and features), compiles `tests/c/ffi_check.c` against
//! `include/tpp.h` with the system C compiler and the flags of the generated `tpp.pc`, and runs
//! it; then runs `examples/python/tpp_ctypes.py` (ctypes + numpy) when python3 has numpy.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the cdylib (once per test run) and returns the directory holding it and `tpp.pc`.
fn library_dir() -> PathBuf {
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
fn pkg_config(dir: &Path) -> Vec<String> {
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

#[test]
fn c_program_checks_the_api() {
    let dir = library_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = dir.join("ffi_check_c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.arg(root.join("tests/c/ffi_check.c"))
        .args([
            "-std=c11",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-rdynamic",
            "-o",
        ])
        .arg(&exe)
        .args(pkg_config(&dir))
        .arg("-lm");
    if cfg!(feature = "blas") {
        cmd.arg("-DTPP_BLAS");
    }
    let out = cmd.output().expect("runs the C compiler");
    assert!(
        out.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("runs the C program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "the C checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

/// A Python 3 that has numpy: the one on PATH, or the system's.
fn python_with_numpy() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn python_example_checks_against_numpy() {
    let Some(python) = python_with_numpy() else {
        // CI installs numpy (.ci/run), so there a missing one is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with numpy (.ci/run installs it)"
        );
        println!(
            "skipped: no python3 with numpy (pip install numpy, or apt-get install python3-numpy)"
        );
        return;
    };
    let dir = library_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(root.join("examples/python/tpp_ctypes.py"))
        .env("TPP_LIB", dir.join("libtpp.so"))
        .output()
        .expect("runs python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
