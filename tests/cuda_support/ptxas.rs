//! Finding and running `ptxas` (from the `nvidia-cuda-nvcc` wheel: `pip install --no-deps
//! nvidia-cuda-nvcc`), and reading its `-v` report.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `ptxas`: `$TPP_PTXAS`, else on `PATH`, else in the wheel's folder of any `python3`
/// site-packages.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TPP_PTXAS") {
        return Some(PathBuf::from(p));
    }
    if Command::new("ptxas")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some(PathBuf::from("ptxas"));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|dir| {
            ["cu13", "cu12", "cuda_nvcc"].iter().map(move |sub| {
                Path::new(dir)
                    .join("nvidia")
                    .join(sub)
                    .join("bin")
                    .join("ptxas")
            })
        })
        .find(|p| p.is_file())
}

/// What `ptxas -v` reported for one kernel.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Registers per thread.
    pub registers: u32,
    /// Bytes of spill stores.
    pub spill_stores: u32,
    /// Bytes of spill loads.
    pub spill_loads: u32,
    /// Bytes of local stack frame.
    pub stack: u32,
}

fn number_before(line: &str, what: &str) -> Option<u32> {
    let at = line.find(what)?;
    line[..at].split_whitespace().last()?.parse().ok()
}

/// Parses the `-v` lines ("Used N registers", "N bytes stack frame, N bytes spill stores, N
/// bytes spill loads").
pub fn parse(log: &str) -> Report {
    let mut r = Report::default();
    for line in log.lines() {
        if let Some(n) = number_before(line, "registers") {
            r.registers = n;
        }
        if let Some(n) = number_before(line, "bytes spill stores") {
            r.spill_stores = n;
        }
        if let Some(n) = number_before(line, "bytes spill loads") {
            r.spill_loads = n;
        }
        if let Some(n) = number_before(line, "bytes stack frame") {
            r.stack = n;
        }
    }
    r
}

/// Assembles `ptx` for `arch` (`sm_80`, `sm_90a`), returning the `-v` report or ptxas's
/// error text.
pub fn assemble(
    ptxas: &Path,
    dir: &Path,
    name: &str,
    ptx: &str,
    arch: &str,
) -> Result<Report, String> {
    let src = dir.join(format!("{name}.{arch}.ptx"));
    std::fs::write(&src, ptx).map_err(|e| e.to_string())?;
    let out = Command::new(ptxas)
        .arg(format!("-arch={arch}"))
        .arg("-v")
        .arg(&src)
        .arg("-o")
        .arg(dir.join(format!("{name}.{arch}.cubin")))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ptxas.display()))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(parse(&log))
    } else {
        Err(format!("{} (ptx kept at {})", log.trim(), src.display()))
    }
}

#[test]
fn the_report_parser_reads_ptxas_lines() {
    let log = "ptxas info    : Function properties for k\n    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\nptxas info    : Used 95 registers, used 1 barriers, 368 bytes cmem[0]\n";
    let r = parse(log);
    assert_eq!(
        (r.registers, r.spill_stores, r.spill_loads, r.stack),
        (95, 4, 12, 8)
    );
}
