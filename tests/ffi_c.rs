//! The C ABI from C and from Python: builds the shared library (a nested `cargo build` of this
//! package with the same profile and features), compiles `tests/c/ffi_check.c` against
//! `include/tpp.h` with the system C compiler and the flags of the generated `tpp.pc`, and runs
//! it; then runs `examples/python/tpp_ctypes.py` (ctypes + numpy) when python3 has numpy.

mod clib;

use clib::library_dir;
use std::path::Path;
use std::process::Command;

#[test]
fn c_program_checks_the_api() {
    let defines: &[&str] = if cfg!(feature = "blas") {
        &["TPP_BLAS"]
    } else {
        &[]
    };
    let exe = clib::compile("ffi_check.c", "ffi_check_c", defines);
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
