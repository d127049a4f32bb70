//! The C ABI from C and from Python: builds the shared library (a nested `cargo build` of this
//! package with the same profile and features), compiles the programs of `tests/c/` against
//! `include/tpp.h` with the system C compiler and the flags of the generated `tpp.pc`, and runs
//! them: `ffi_check.c` (the API against naive loops), `ffi_ops.c` (the operators against naive
//! loops) and `ffi_bad_input.c` (bad input through
//! every entry point), each plainly and again under AddressSanitizer, LeakSanitizer and
//! UndefinedBehaviorSanitizer; then runs `examples/python/tpp_ctypes.py` (ctypes + numpy) when
//! python3 has numpy.

mod clib;

use clib::library_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles `tests/c/<source>` against the library (see `clib`), with `-DTPP_BLAS` when the
/// BLAS entry points are built, and `extra` flags.
fn compile(source: &str, exe: &str, extra: &[&str]) -> PathBuf {
    let defines: &[&str] = if cfg!(feature = "blas") {
        &["TPP_BLAS"]
    } else {
        &[]
    };
    clib::compile_with(source, exe, defines, extra)
}

/// Runs a C test program and checks its verdict: exit status 0 and "N passed, 0 failed".
/// Returns its stderr.
fn run_checks(exe: &Path, env: &[(&str, &str)]) -> String {
    let run = Command::new(exe)
        .envs(env.iter().copied())
        .output()
        .expect("runs the C program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    println!("{}: {stdout}", exe.display());
    assert!(
        run.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        exe.display(),
        run.status
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    stderr
}

#[test]
fn c_program_checks_the_api() {
    run_checks(&compile("ffi_check.c", "ffi_check_c", &[]), &[]);
}

#[test]
fn c_program_builds_and_runs_equations() {
    run_checks(&compile("equation_check.c", "equation_check_c", &[]), &[]);
}

#[test]
fn c_program_checks_the_operators() {
    run_checks(&compile("ffi_ops.c", "ffi_ops_c", &[]), &[]);
}

#[test]
fn c_program_gets_errors_for_bad_input() {
    run_checks(&compile("ffi_bad_input.c", "ffi_bad_input_c", &[]), &[]);
}

/// The sanitizer flags of the C programs: AddressSanitizer (with LeakSanitizer) and
/// UndefinedBehaviorSanitizer, every report fatal. The library itself is not instrumented: an
/// instrumented executable loads the ASan runtime first, so its interceptors (malloc, free,
/// memcpy, ...) also check what libtpp does through them, and LeakSanitizer sees libtpp's
/// allocations.
const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=all",
    "-g",
];

/// Whether the C compiler can build and run a sanitized program (gcc needs libasan and
/// libubsan: Debian's libasan8 and libubsan1, which come with gcc).
fn sanitizers_work() -> bool {
    let dir = std::env::temp_dir().join(format!("tpp-san-probe-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (src, exe) = (dir.join("probe.c"), dir.join("probe"));
    let ok = std::fs::write(&src, "int main(void) { return 0; }\n").is_ok()
        && Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .arg(&src)
            .args(SANITIZE)
            .arg("-o")
            .arg(&exe)
            .output()
            .is_ok_and(|o| o.status.success())
        && Command::new(&exe).status().is_ok_and(|s| s.success());
    let _ = std::fs::remove_dir_all(&dir);
    ok
}

#[test]
fn c_programs_pass_under_asan_and_ubsan() {
    if !sanitizers_work() {
        // CI installs the sanitizer runtimes (.ci/run), so there this is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to build with -fsanitize=address,undefined (.ci/run installs \
             libasan8 and libubsan1)"
        );
        println!("skipped: the C compiler cannot build sanitized programs (apt-get install libasan8 libubsan1)");
        return;
    }
    let env = [
        // Leaks are checked: kernels and handle records are reachable from tpp's statics for
        // the life of the process, JIT code is mmap'd, so any report is a real leak.
        (
            "ASAN_OPTIONS",
            "detect_leaks=1:halt_on_error=1:strict_string_checks=1",
        ),
        ("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
    ];
    for (source, exe) in [
        ("ffi_check.c", "ffi_check_asan"),
        ("ffi_bad_input.c", "ffi_bad_input_asan"),
        ("equation_check.c", "equation_check_asan"),
        ("ffi_ops.c", "ffi_ops_asan"),
    ] {
        let exe = compile(source, exe, SANITIZE);
        let stderr = run_checks(&exe, &env);
        // A report normally fails the run already; the text is checked too, so a report that
        // did not change the exit status still fails.
        for report in ["Sanitizer", "runtime error:", "SUMMARY:"] {
            assert!(
                !stderr.contains(report),
                "{source} under sanitizers reported:\n{stderr}"
            );
        }
    }
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
