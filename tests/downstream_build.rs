//! A crate that depends on tpp gets the library alone: nothing of the benches' peers (oneDNN,
//! LIBXSMM, OpenBLAS, their C shims) may reach its link line, even on a machine where they are
//! installed (CI installs them). This builds a tiny dependent crate (a path dependency on this
//! checkout), prints its link line, checks every library on it, and runs it.
//!
//! The crate and its target directory live under Cargo's `CARGO_TARGET_TMPDIR`, so reruns are
//! incremental; the first run compiles tpp and its dependencies once more (unoptimised).

use std::path::Path;
use std::process::Command;

/// Libraries Rust's standard library itself links on Linux; anything else came from tpp.
const STD_LIBS: &[&str] = &[
    "gcc_s", "gcc", "gcc_eh", "util", "rt", "pthread", "m", "dl", "c",
];

const MAIN: &str = r#"fn main() {
    // A real kernel through the public API: dispatch, call, check.
    let k = tpp::GemmDesc::new(2, 2, 2, tpp::DType::F32).beta(0.0).dispatch().unwrap();
    let (a, b, mut c) = (vec![1.0f32, 2.0, 3.0, 4.0], vec![1.0f32, 0.0, 0.0, 1.0], vec![0.0f32; 4]);
    k.call(&a, &b, &mut c).unwrap();
    assert_eq!(c, a);
    println!("downstream ok: {} on {}", k.name(), k.backend());
}
"#;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// The `-l` libraries of a link line, each without its `-l` (and `static=` or `:` forms).
fn linked_libraries(link_line: &str) -> Vec<String> {
    link_line
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter_map(|t| t.strip_prefix("-l"))
        .map(|l| l.trim_start_matches(':').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn a_dependent_crate_links_nothing_but_tpp_and_std() {
    let tpp_root = env!("CARGO_MANIFEST_DIR");
    // A TOML literal string takes the path as it is (no escapes) unless it holds a quote.
    assert!(
        !tpp_root.contains('\''),
        "checkout path with a quote: {tpp_root}"
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("downstream");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"tpp-downstream\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n\
             # Its own workspace, not a member of whatever encloses the temp directory.\n\
             [workspace]\n\n\
             [dependencies]\ntpp-kernels = {{ path = '{tpp_root}' }}\n\n\
             [profile.dev]\ndebug = false\n"
        ),
    );
    // tpp's own lock file pins the same versions, so the build needs no network.
    std::fs::copy(
        Path::new(tpp_root).join("Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .expect("copies Cargo.lock");
    // Rewritten on every run, so cargo relinks the binary and prints its link line again.
    write(&dir.join("src/main.rs"), MAIN);

    let out = Command::new(env!("CARGO"))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .args(["rustc", "--offline", "--bin", "tpp-downstream", "--"])
        .args(["--print", "link-args"])
        .output()
        .expect("runs cargo");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the dependent crate did not build:\n{stderr}"
    );
    let link = stdout
        .lines()
        .find(|l| l.contains("tpp_downstream") && l.contains("-o"))
        .unwrap_or_else(|| panic!("no link line printed:\n{stdout}\n{stderr}"));
    let libs = linked_libraries(link);
    assert!(
        libs.iter().any(|l| l == "c"),
        "not a link line (no libc): {link}"
    );
    let foreign: Vec<&String> = libs
        .iter()
        .filter(|l| !STD_LIBS.contains(&l.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "tpp put {foreign:?} on a dependent crate's link line: {link}"
    );

    let run = Command::new(dir.join("target/debug/tpp-downstream"))
        .output()
        .expect("runs the dependent binary");
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && said.starts_with("downstream ok"),
        "the dependent binary failed: {said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn link_libraries_are_read_from_a_link_line() {
    let line = r#""cc" "-m64" "a.o" "-Wl,-Bstatic" "-ltpp_dnnl_shim" "-Wl,-Bdynamic" "-ldnnl" "-l:libxsmm.a" "-lc" "-o" "x""#;
    assert_eq!(
        linked_libraries(line),
        ["tpp_dnnl_shim", "dnnl", "libxsmm.a", "c"]
    );
}
