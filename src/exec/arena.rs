//! Executable memory for JIT kernels, W^X: code is written while its pages are read-write and
//! then made read-execute, never both. Kernels live for the life of the process, so pages are
//! never unmapped. Small kernels share one reservation: each kernel takes whole pages of it
//! (two `mprotect` calls instead of an `mmap` per kernel, which costs more on this VM).

use std::io;
use std::sync::Mutex;

const PAGE: usize = 4096;
/// Address space reserved at a time (inaccessible until a kernel claims pages of it).
const RESERVATION: usize = 64 << 20;

struct Reservation {
    base: usize,
    used: usize,
}

static ARENA: Mutex<Option<Reservation>> = Mutex::new(None);

/// A finished kernel's machine code, read-execute, alive for the rest of the process.
#[derive(Clone, Copy, Debug)]
pub struct Code {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pages are immutable (read-execute) once published.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Code {
    /// Start of the code.
    pub fn ptr(&self) -> *const u8 {
        self.ptr
    }
    /// Bytes of code.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True for empty code.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn os_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Copies `bytes` into fresh pages and makes them read-execute.
pub fn install(bytes: &[u8]) -> io::Result<Code> {
    let len = bytes.len().max(1).next_multiple_of(PAGE);
    let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
    let fits = matches!(&*arena, Some(r) if r.used + len <= RESERVATION);
    if !fits {
        let size = RESERVATION.max(len);
        // SAFETY: a fresh anonymous private mapping, inaccessible until claimed.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_err("mmap of the code arena"));
        }
        *arena = Some(Reservation {
            base: base as usize,
            used: 0,
        });
    }
    let r = arena.as_mut().expect("reserved above");
    let at = (r.base + r.used) as *mut u8;
    // SAFETY: `at..at+len` lies inside our reservation and no other kernel uses it. The pages
    // are made writable (not executable), filled, then made executable (not writable).
    unsafe {
        if libc::mprotect(at.cast(), len, libc::PROT_READ | libc::PROT_WRITE) != 0 {
            return Err(os_err("mprotect(RW) of kernel pages"));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len());
        if libc::mprotect(at.cast(), len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            return Err(os_err("mprotect(RX) of kernel pages"));
        }
        sync_icache(std::slice::from_raw_parts(at, bytes.len()));
    }
    r.used += len;
    Ok(Code {
        ptr: at,
        len: bytes.len(),
    })
}

/// Makes freshly written code visible to instruction fetch.
///
/// x86-64 keeps instruction and data caches coherent: nothing to do. aarch64 does not: the
/// bytes sit in the data cache, so each line is cleaned to the point of unification
/// (`dc cvau`, line size from `CTR_EL0`, not assumed), then the matching instruction-cache
/// lines are invalidated (`ic ivau`, broadcast to the inner-shareable domain, so to every core),
/// with `dsb ish` after each step; `isb` then discards anything this thread fetched early.
/// `dc cvau` is done after `mprotect(RX)`, which is legal since RX pages are readable.
///
/// Other threads need no `isb` of their own: the arena never reuses an address, and these
/// pages were `PROT_NONE` and then non-executable until now, and the architecture forbids
/// instruction fetch (speculative included) from non-executable pages, so no core can hold
/// stale instructions for them; a thread learns the entry point through the kernel cache's
/// lock, which orders it after the maintenance above. qemu-user does not model the
/// instruction cache, so the tests cannot catch a missing flush: this reasoning is the check.
fn sync_icache(code: &[u8]) {
    #[cfg(target_arch = "aarch64")]
    {
        dynasmrt::cache_control::synchronize_icache(code);
        dynasmrt::cache_control::prepare_for_execution(code);
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = code;
}

/// With `TPP_DUMP=dir`, writes `bytes` to `dir/<name>.<n>.bin` for
/// `objdump -D -b binary -m i386:x86-64 <file>` (x86-64 kernels) or
/// `aarch64-linux-gnu-objdump -D -b binary -m aarch64 <file>` (NEON kernels); failures are
/// logged, never fatal. `n`
/// counts the kernels dumped, since names leave out some fields (leading dimensions).
pub fn dump(name: &str, bytes: &[u8]) {
    static DUMPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let Some(dir) = std::env::var_os("TPP_DUMP") else {
        return;
    };
    let n = DUMPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::path::Path::new(&dir).join(format!("{name}.{n}.bin"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, bytes)) {
        eprintln!("tpp: TPP_DUMP could not write {}: {e}", path.display());
    }
}

/// With `TPP_PERF_MAP` set (not `0`), appends `code` as `name` to `/tmp/perf-<pid>.map`, the
/// file `perf report` reads to name JIT code: sampling profiles (`perf record -e cpu-clock`)
/// then show each kernel by name instead of an anonymous address. Failures are logged once,
/// never fatal.
pub fn perf_map(code: Code, name: &str) {
    use std::io::Write;
    static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);
    if !std::env::var("TPP_PERF_MAP").is_ok_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let mut file = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if file.is_none() {
        let path = format!("/tmp/perf-{}.map", std::process::id());
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => *file = Some(f),
            Err(e) => {
                eprintln!("tpp: TPP_PERF_MAP could not open {path}: {e}");
                return;
            }
        }
    }
    if let Some(f) = file.as_mut() {
        let _ = f.write_all(perf_map_line(code, name).as_bytes());
    }
}

/// One line of a perf map: start and size in hex, then the name (kernel names carry no
/// spaces or newlines: they are built from identifiers and numbers).
fn perf_map_line(code: Code, name: &str) -> String {
    format!("{:x} {:x} {name}\n", code.ptr() as usize, code.len())
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn perf_map_lines_name_the_code_range() {
        let code = install(&[0xc3]).unwrap();
        let line = perf_map_line(code, "gemm_avx512_f32_m1n1k1");
        let f: Vec<&str> = line.trim_end().split(' ').collect();
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(usize::from_str_radix(f[0], 16), Ok(code.ptr() as usize));
        assert_eq!(usize::from_str_radix(f[1], 16), Ok(code.len()));
        assert_eq!(f[2], "gemm_avx512_f32_m1n1k1");
    }

    #[test]
    fn installed_code_runs_and_is_not_writable() {
        // mov eax, 42; ret
        let code = install(&[0xb8, 42, 0, 0, 0, 0xc3]).unwrap();
        // SAFETY: the bytes above are a complete function returning an i32.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(code.ptr()) };
        assert_eq!(f(), 42);
        // The page is read-execute: asking the kernel to make it writable+executable is the
        // only way to write it again, and W^X forbids us from ever doing that. Check the
        // protection through /proc/self/maps.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let addr = code.ptr() as usize;
        let line = maps
            .lines()
            .find(|l| {
                let (range, _) = l.split_once(' ').unwrap();
                let (lo, hi) = range.split_once('-').unwrap();
                let (lo, hi) = (
                    usize::from_str_radix(lo, 16).unwrap(),
                    usize::from_str_radix(hi, 16).unwrap(),
                );
                (lo..hi).contains(&addr)
            })
            .unwrap();
        assert!(line.contains(" r-xp "), "{line}");
        let second = install(&[0xc3]).unwrap();
        assert_ne!(second.ptr(), code.ptr());
    }
}

#[cfg(all(test, target_arch = "aarch64"))]
mod tests_aarch64 {
    use super::*;

    #[test]
    fn installed_aarch64_code_runs() {
        // movz w0, #42; ret
        let code = install(&[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6]).unwrap();
        // SAFETY: the words above are a complete function returning an i32.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(code.ptr()) };
        assert_eq!(f(), 42);
        let caps = crate::dispatch::caps::arm();
        assert!(
            caps.asimd,
            "every aarch64 Linux CPU has Advanced SIMD: {caps:?}"
        );
        eprintln!("aarch64 caps: {caps:?}");
    }
}
