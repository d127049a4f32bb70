//! The architecture-independent half of the encoder golden tests: assemble the GNU syntax of
//! many cases in one run of a GNU assembler, read each case's bytes back, and compare them with
//! the bytes tpp's encoder produced.
//!
//! Each case sits between two symbols (`tpp_golden_N` and `tpp_golden_N_end`) in `.text`; `nm`
//! gives their offsets and `objcopy -O binary` the section's bytes, so one assembler run serves
//! every case and a case may hold several instructions, labels and data. In a case's text, `%`
//! stands for a prefix unique to the case, so `%top:` and `jnz %top` name a label of its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// A GNU toolchain for one architecture (binutils), and the Debian package that provides it.
pub struct Gnu {
    /// The architecture, for messages and file names.
    pub arch: &'static str,
    /// The Debian package with these tools.
    pub package: &'static str,
    /// The assembler and its flags.
    pub assembler: &'static str,
    pub flags: &'static [&'static str],
    /// Symbol lister and object copier of the same target.
    pub nm: &'static str,
    pub objcopy: &'static str,
    /// Directives before the cases.
    pub prelude: &'static str,
}

/// x86-64 in Intel syntax without `%` register prefixes (iced-x86's operand order).
pub const X86_64: Gnu = Gnu {
    arch: "x86_64",
    package: "binutils",
    assembler: "as",
    flags: &["--64", "-msyntax=intel", "-mnaked-reg"],
    nm: "nm",
    objcopy: "objcopy",
    prelude: "",
};

/// AArch64, with the extensions the NEON kernels' raw-word encoders need (BF16, I8MM).
pub const AARCH64: Gnu = Gnu {
    arch: "aarch64",
    package: "binutils-aarch64-linux-gnu",
    assembler: "aarch64-linux-gnu-as",
    flags: &["-march=armv8.6-a+bf16+i8mm"],
    nm: "aarch64-linux-gnu-nm",
    objcopy: "aarch64-linux-gnu-objcopy",
    prelude: "",
};

/// Whether two byte strings encode the same instruction (`Err` says how they differ).
pub type Same = dyn Fn(&[u8], &[u8]) -> Result<(), String>;

/// One case: what the encoder produced and the GNU syntax of what it was asked for.
pub struct Case {
    /// The GNU assembler text (one or more lines; `%` is the case's label prefix).
    pub gnu: String,
    /// tpp's bytes.
    pub ours: Vec<u8>,
    /// Set when tpp's encoder knowingly picks another encoding of the same instruction than
    /// GNU as (why): the bytes must then differ and still read as the same instruction.
    pub choice: Option<&'static str>,
}

/// Runs a tool, failing the test with a clear message when it is not installed or fails.
fn run(gnu: &Gnu, tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "the {} encoder golden tests need `{tool}` (GNU binutils): apt-get install {} ({e})",
            gnu.arch, gnu.package
        )
    });
    assert!(
        out.status.success(),
        "`{tool} {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Gnu {
    /// Assembles every text in one run and returns each one's bytes, in order. `tag` names
    /// the scratch files (under Cargo's per-test temporary directory).
    pub fn assemble(&self, tag: &str, texts: &[&str]) -> Vec<Vec<u8>> {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("encoder-golden");
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join(format!("{}-{tag}", self.arch));
        let (src, obj, bin) = (
            base.with_extension("s"),
            base.with_extension("o"),
            base.with_extension("bin"),
        );
        // The source, and which case each line belongs to (for the assembler's messages).
        let mut text = format!("{}\n.text\n", self.prelude);
        let mut line_case = vec![usize::MAX; text.lines().count()];
        for (i, t) in texts.iter().enumerate() {
            let body = t.replace('%', &format!(".Lg{i}_"));
            let chunk = format!("tpp_golden_{i}:\n{body}\ntpp_golden_{i}_end:\n");
            line_case.extend(std::iter::repeat_n(i, chunk.lines().count()));
            text.push_str(&chunk);
        }
        std::fs::write(&src, &text).unwrap();
        let (src_s, obj_s, bin_s) = (
            src.to_str().unwrap(),
            obj.to_str().unwrap(),
            bin.to_str().unwrap(),
        );
        let mut args: Vec<&str> = self.flags.to_vec();
        args.extend(["-o", obj_s, src_s]);
        let out = Command::new(self.assembler)
            .args(&args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "the {} encoder golden tests need GNU as `{}`: apt-get install {} ({e})",
                    self.arch, self.assembler, self.package
                )
            });
        if !out.status.success() {
            // "file.s:LINE: Error: ..." — name the case each message is about.
            let msg = String::from_utf8_lossy(&out.stderr);
            let named: Vec<String> = msg
                .lines()
                .map(|l| {
                    let line = l.split(':').nth(1).and_then(|n| n.parse::<usize>().ok());
                    match line.and_then(|n| line_case.get(n - 1)) {
                        Some(&i) if i < texts.len() => format!("{l}\n    in case `{}`", texts[i]),
                        _ => l.to_string(),
                    }
                })
                .collect();
            panic!(
                "{} rejected the golden cases ({}):\n{}",
                self.assembler,
                src.display(),
                named.join("\n")
            );
        }
        let syms = String::from_utf8(run(self, self.nm, &[obj_s])).unwrap();
        let at: HashMap<&str, usize> = syms
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (addr, _, name) = (f.next()?, f.next()?, f.next()?);
                name.starts_with("tpp_golden_")
                    .then(|| Some((name, usize::from_str_radix(addr, 16).ok()?)))?
            })
            .collect();
        run(
            self,
            self.objcopy,
            &["-O", "binary", "-j", ".text", obj_s, bin_s],
        );
        let bytes = std::fs::read(&bin).unwrap();
        (0..texts.len())
            .map(|i| {
                let start = at[format!("tpp_golden_{i}").as_str()];
                let end = at[format!("tpp_golden_{i}_end").as_str()];
                bytes.get(start..end).unwrap_or_default().to_vec()
            })
            .collect()
    }

    /// Assembles every case and fails, listing each one, unless all match tpp's bytes (or,
    /// for a case with a recorded `choice`, differ but are the same instruction by `same`).
    pub fn check(&self, tag: &str, cases: &[Case], same: &Same) {
        assert!(!cases.is_empty(), "no {} golden cases", self.arch);
        let texts: Vec<&str> = cases.iter().map(|c| c.gnu.as_str()).collect();
        let theirs = self.assemble(tag, &texts);
        let bad: Vec<String> = cases
            .iter()
            .zip(&theirs)
            .filter_map(|(c, t)| {
                let why = match c.choice {
                    None if c.ours == *t => return None,
                    None => String::new(),
                    Some(_) if c.ours == *t => {
                        "\n    now identical: drop the recorded encoding choice".into()
                    }
                    Some(choice) => match same(&c.ours, t) {
                        Ok(()) => return None,
                        Err(e) => {
                            format!("\n    not the same instruction ({e}); recorded: {choice}")
                        }
                    },
                };
                Some(format!(
                    "  {}\n    tpp: {}\n    GNU: {}{why}",
                    c.gnu.replace('\n', "; "),
                    hex(&c.ours),
                    hex(t)
                ))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{} of {} {} golden cases differ from GNU as:\n{}",
            bad.len(),
            cases.len(),
            self.arch,
            bad.join("\n")
        );
        let choices: Vec<&str> = cases.iter().filter_map(|c| c.choice).collect();
        eprintln!(
            "{}: {} cases ({} bytes) match GNU as byte for byte; {} are another encoding of \
             the same instruction{}",
            self.arch,
            cases.len() - choices.len(),
            theirs.iter().map(Vec::len).sum::<usize>(),
            choices.len(),
            choices
                .first()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        );
    }
}
