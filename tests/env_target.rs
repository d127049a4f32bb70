//! `TPP_TARGET` and `TPP_VERBOSE` are read once per process, so this test re-runs its own
//! binary with them set and reads what the child printed.

use std::process::Command;
use tpp::*;

const CHILD: &str = "TPP_ENV_TEST_CHILD";

/// In the child: dispatch one kernel and print which backend made it.
fn child() {
    let k = UnaryDesc::new(UnaryOp::Tanh, 4, 4, DType::F32)
        .dispatch()
        .unwrap();
    println!("backend={} reference={}", k.backend(), k.is_reference());
}

fn run_child(env: &[(&str, &str)]) -> (String, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "target_and_verbose_are_honoured",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env(CHILD, "1")
        .env_remove("TPP_TARGET")
        .env_remove("TPP_VERBOSE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn target_and_verbose_are_honoured() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    // Forcing the reference: every kernel comes from it, and verbose logs the dispatch.
    let (out, err) = run_child(&[("TPP_TARGET", "reference"), ("TPP_VERBOSE", "1")]);
    assert!(out.contains("backend=reference reference=true"), "{out}");
    assert!(
        err.contains("tpp: dispatch unary_reference_tanh_f32_4x4 -> reference"),
        "{err}"
    );

    // Quiet by default.
    let (_, err) = run_child(&[]);
    assert!(!err.contains("tpp: dispatch"), "{err}");

    // An unknown target is reported (even without verbose) and dispatch still works.
    let (out, err) = run_child(&[("TPP_TARGET", "avx9000")]);
    assert!(err.contains("TPP_TARGET=avx9000 names no backend"), "{err}");
    assert!(out.contains("backend="), "{out}");
}
