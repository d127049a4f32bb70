//! The error exits of the CBLAS GEMMs (`cblas_sgemm`, `cblas_dgemm`, `cblas_sbgemm` and the
//! grouped batches), as a C program sees them: `tests/c/cblas_errors.c`, built with and
//! without handlers of its own, makes each call and says what reached it; the answers expected
//! here come from a model of the reference CBLAS written from its sources, not from tpp's
//! code:
//! - Netlib LAPACK `CBLAS/src/cblas_sgemm.c`: an invalid layout is parameter 1; then, in
//!   either layout, TransA (2) before TransB (3), reported to `cblas_xerbla`; then the Fortran
//!   SGEMM is called column-major, a row-major call with (TransB, TransA, N, M, K, B, ldb, A,
//!   lda, C, ldc);
//! - `BLAS/SRC/sgemm.f`: INFO 1–2 transposes, 3 M, 4 N, 5 K, 8 LDA < max(1, NROWA), 10 LDB <
//!   max(1, NROWB), 13 LDC < max(1, M), first failure wins, reported to `XERBLA('SGEMM ', INFO)`;
//! - `CBLAS/src/xerbla.c`: called from a CBLAS routine, XERBLA forwards to `cblas_xerbla` as
//!   INFO + 1 under the CBLAS name; `CBLAS/include/cblas_xerbla_internal.h`: `cblas_xerbla`
//!   maps a row-major GEMM's number back (4 ↔ 5, 9 ↔ 11).
//!
//! The reference delivers the Fortran-level errors to a program's own `xerbla_` if it has one
//! (name and INFO as SGEMM sees them), otherwise to `cblas_xerbla`. tpp does the same, except
//! that it hands a program's own `cblas_xerbla` the mapped number (what the reference's handler
//! reports) rather than leaving the mapping to it; the `REF_HARNESS` variant, which does the
//! mapping itself as the reference's test harness does, must see the same final numbers.
//!
//! The batches have no reference: their expected answers follow the rules documented in
//! `src/ffi/cblas_batch.rs` and the README.
#![cfg(feature = "blas")]

mod clib;

use std::io::Write;
use std::process::{Command, Stdio};

const ROW: i32 = 101;
const COL: i32 = 102;

/// A CBLAS GEMM call's integer arguments.
#[derive(Clone, Copy, Debug)]
struct Args {
    layout: i32,
    ta: i32,
    tb: i32,
    m: i32,
    n: i32,
    k: i32,
    lda: i32,
    ldb: i32,
    ldc: i32,
}

/// What the reference does with a call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Valid.
    Runs,
    /// Stopped in the CBLAS layer: `cblas_xerbla(p, ..)`.
    Cblas(i32),
    /// Stopped by the Fortran routine with INFO, on a call that was row-major or not.
    Fortran { info: i32, row: bool },
}

/// `BLAS/SRC/sgemm.f`'s checks.
#[allow(clippy::too_many_arguments)]
fn sgemm_f_info(ta: char, tb: char, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32) -> i32 {
    let is_trans = |c: char| matches!(c, 'T' | 'C');
    let nota = ta == 'N';
    let notb = tb == 'N';
    let nrowa = if nota { m } else { k };
    let nrowb = if notb { k } else { n };
    if !nota && !is_trans(ta) {
        1
    } else if !notb && !is_trans(tb) {
        2
    } else if m < 0 {
        3
    } else if n < 0 {
        4
    } else if k < 0 {
        5
    } else if lda < nrowa.max(1) {
        8
    } else if ldb < nrowb.max(1) {
        10
    } else if ldc < m.max(1) {
        13
    } else {
        0
    }
}

/// `CBLAS/src/cblas_sgemm.c`, then SGEMM on the call it makes.
fn reference(a: Args) -> Outcome {
    let letter = |t: i32| match t {
        111 => Some('N'),
        112 => Some('T'),
        113 => Some('C'),
        _ => None,
    };
    let row = match a.layout {
        COL => false,
        ROW => true,
        _ => return Outcome::Cblas(1),
    };
    // Row-major: TB is set from TransA first (parameter 2), then TA from TransB (3).
    let Some(ca) = letter(a.ta) else {
        return Outcome::Cblas(2);
    };
    let Some(cb) = letter(a.tb) else {
        return Outcome::Cblas(3);
    };
    let info = if row {
        sgemm_f_info(cb, ca, a.n, a.m, a.k, a.ldb, a.lda, a.ldc)
    } else {
        sgemm_f_info(ca, cb, a.m, a.n, a.k, a.lda, a.ldb, a.ldc)
    };
    match info {
        0 => Outcome::Runs,
        info => Outcome::Fortran { info, row },
    }
}

/// `cblas_xerbla_map_info` for a GEMM.
fn map_info(info: i32, row: bool) -> i32 {
    match (row, info) {
        (true, 4) => 5,
        (true, 5) => 4,
        (true, 9) => 11,
        (true, 11) => 9,
        _ => info,
    }
}

/// The handlers a variant of the C program defines.
#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    defines: &'static [&'static str],
    cblas_xerbla: bool,
    xerbla: bool,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "both handlers",
        defines: &["OWN_CBLAS_XERBLA", "OWN_XERBLA"],
        cblas_xerbla: true,
        xerbla: true,
    },
    Variant {
        name: "cblas_xerbla only",
        defines: &["OWN_CBLAS_XERBLA"],
        cblas_xerbla: true,
        xerbla: false,
    },
    Variant {
        name: "xerbla_ only",
        defines: &["OWN_XERBLA"],
        cblas_xerbla: false,
        xerbla: true,
    },
    Variant {
        name: "no handler",
        defines: &[],
        cblas_xerbla: false,
        xerbla: false,
    },
    // Its xerbla_ forwards and its cblas_xerbla maps: it reports the final CBLAS number.
    Variant {
        name: "reference harness",
        defines: &["REF_HARNESS"],
        cblas_xerbla: true,
        xerbla: false,
    },
];

/// What `cblas_xerbla(p, rout)` shows in a variant: the program's record, or tpp's message.
fn to_cblas_xerbla(v: Variant, p: i32, rout: &str) -> String {
    if v.cblas_xerbla {
        format!("cblas {p} {rout}")
    } else {
        format!("stderr Parameter {p} to routine {rout} was incorrect")
    }
}

/// The line the C program should print for a GEMM call (its message part left out).
fn expected_gemm(v: Variant, t: char, a: Args) -> String {
    let (rout, fname) = match t {
        's' => ("cblas_sgemm", "SGEMM"),
        'd' => ("cblas_dgemm", "DGEMM"),
        _ => ("cblas_sbgemm", "SBGEMM"),
    };
    match reference(a) {
        Outcome::Runs => "none".into(),
        Outcome::Cblas(p) => to_cblas_xerbla(v, p, rout),
        Outcome::Fortran { info, .. } if v.xerbla => format!("xerbla {info} {fname}"),
        Outcome::Fortran { info, row } => to_cblas_xerbla(v, map_info(info + 1, row), rout),
    }
}

/// The variants, built once (the tests run in parallel and share them).
fn programs() -> &'static [(Variant, std::path::PathBuf)] {
    static BUILT: std::sync::OnceLock<Vec<(Variant, std::path::PathBuf)>> =
        std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        VARIANTS
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let exe = clib::compile("cblas_errors.c", &format!("cblas_errors_{i}"), v.defines);
                (*v, exe)
            })
            .collect()
    })
}

/// Runs the program on `input` (one call per line) and returns its lines.
fn run(exe: &std::path::Path, input: &str) -> Vec<String> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs the C program");
    let mut stdin = child.stdin.take().unwrap();
    let text = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{} failed: {out:?}", exe.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Drops the message part of each event (`cblas P ROUT | MESSAGE`).
fn without_message(line: &str) -> String {
    line.split(" ; ")
        .map(|e| e.split(" | ").next().unwrap_or(e))
        .collect::<Vec<_>>()
        .join(" ; ")
}

/// A call's input line and its expected output line per variant.
type Case = (String, Box<dyn Fn(Variant) -> String>);

/// Runs `cases` through every variant and compares with `expect`.
fn check_all(cases: &[Case]) {
    let input: String = cases.iter().map(|(l, _)| format!("{l}\n")).collect();
    for &(v, ref exe) in programs() {
        let got = run(exe, &input);
        assert_eq!(got.len(), cases.len(), "{}: one line per call", v.name);
        let mut bad = vec![];
        for ((line, want), got) in cases.iter().zip(&got) {
            let want = want(v);
            if without_message(got) != want {
                bad.push(format!("{line}: got `{got}`, want `{want}`"));
            }
        }
        assert!(
            bad.is_empty(),
            "{}: {} of {} calls differ, e.g.\n{}",
            v.name,
            bad.len(),
            cases.len(),
            bad[..bad.len().min(20)].join("\n")
        );
    }
}

fn gemm_line(t: char, a: Args) -> String {
    format!(
        "g {t} {} {} {} {} {} {} {} {} {}",
        a.layout, a.ta, a.tb, a.m, a.n, a.k, a.lda, a.ldb, a.ldc
    )
}

/// Small deterministic generator (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const LAYOUTS: [i32; 3] = [ROW, COL, 103];
const TRANS: [i32; 4] = [111, 112, 113, 114];
const DIMS: [i32; 3] = [-1, 0, 2];
const LDS: [i32; 3] = [0, 1, 2];

/// Every combination of layout, transposes (one invalid: OpenBLAS's ConjNoTrans, which the
/// reference rejects), sizes and leading dimensions for `cblas_sgemm`; a random sample of the
/// same space for `cblas_dgemm` and `cblas_sbgemm`. Several arguments are often wrong at once,
/// so the order of the checks is covered too.
#[test]
fn cblas_gemm_errors_match_the_reference() {
    let mut all = vec![];
    for &layout in &LAYOUTS {
        for &ta in &[111, 113, 114] {
            for &tb in &[112, 114] {
                for &m in &DIMS {
                    for &n in &DIMS {
                        for &k in &DIMS {
                            for &lda in &LDS {
                                for &ldb in &LDS {
                                    for &ldc in &LDS {
                                        all.push(Args {
                                            layout,
                                            ta,
                                            tb,
                                            m,
                                            n,
                                            k,
                                            lda,
                                            ldb,
                                            ldc,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let mut cases: Vec<Case> = all
        .iter()
        .map(|&a| {
            let f: Box<dyn Fn(Variant) -> String> = Box::new(move |v| expected_gemm(v, 's', a));
            (gemm_line('s', a), f)
        })
        .collect();
    let mut rng = Rng(9);
    for t in ['d', 'b'] {
        for _ in 0..1500 {
            let a = Args {
                layout: rng.pick(&LAYOUTS),
                ta: rng.pick(&TRANS),
                tb: rng.pick(&TRANS),
                m: rng.pick(&DIMS),
                n: rng.pick(&DIMS),
                k: rng.pick(&DIMS),
                lda: rng.pick(&LDS),
                ldb: rng.pick(&LDS),
                ldc: rng.pick(&LDS),
            };
            cases.push((gemm_line(t, a), Box::new(move |v| expected_gemm(v, t, a))));
        }
    }
    // The space holds every single fault and the valid calls too.
    let outcomes: Vec<Outcome> = all.iter().map(|&a| reference(a)).collect();
    for want in [1, 2, 3] {
        assert!(outcomes.contains(&Outcome::Cblas(want)));
    }
    for info in [3, 4, 5, 8, 10, 13] {
        for row in [false, true] {
            assert!(outcomes.contains(&Outcome::Fortran { info, row }));
        }
    }
    assert!(outcomes.contains(&Outcome::Runs));
    check_all(&cases);
}

/// The example and the reference's own tester's expectations
/// (`CBLAS/testing/c_s3chke.c` expects, for row-major calls, 4 for M < 0, 5 for N < 0, 9 for
/// a too-small lda and 11 for ldb), spelled out.
#[test]
fn row_major_numbers_are_the_cblas_positions() {
    let base = Args {
        layout: ROW,
        ta: 111,
        tb: 111,
        m: 2,
        n: 2,
        k: 2,
        lda: 2,
        ldb: 2,
        ldc: 2,
    };
    let named = [
        (Args { m: -1, ..base }, 4),
        (Args { n: -1, ..base }, 5),
        (Args { k: -1, ..base }, 6),
        (Args { lda: 1, ..base }, 9),
        (Args { ldb: 1, ..base }, 11),
        (Args { ldc: 1, ..base }, 14),
        (
            Args {
                ta: 0,
                tb: 0,
                ..base
            },
            2,
        ),
        (Args { tb: 0, ..base }, 3),
        (
            Args {
                layout: 0,
                ta: 0,
                ..base
            },
            1,
        ),
    ];
    let cases: Vec<Case> = named
        .iter()
        .map(|&(a, p)| {
            // Those who see CBLAS numbers see p; an own xerbla_ sees SGEMM's INFO.
            let f: Box<dyn Fn(Variant) -> String> = Box::new(move |v| {
                let want = expected_gemm(v, 's', a);
                if !(v.xerbla && want.starts_with("xerbla")) {
                    assert!(want.contains(&format!(" {p} ")), "{want} for {a:?}");
                }
                want
            });
            (gemm_line('s', a), f)
        })
        .collect();
    check_all(&cases);
}

/// The messages that come with the CBLAS-layer errors name the bad value.
#[test]
fn cblas_layer_messages_name_the_value() {
    let exe = &programs()[1].1;
    let got = run(
        exe,
        "g s 7 111 111 1 1 1 1 1 1\ng d 101 9 111 1 1 1 1 1 1\ng b 102 111 10 1 1 1 1 1 1\n",
    );
    assert_eq!(
        got,
        [
            "cblas 1 cblas_sgemm | Illegal layout setting, 7 ",
            "cblas 2 cblas_dgemm | Illegal TransA setting, 9 ",
            "cblas 3 cblas_sbgemm | Illegal TransB setting, 10 ",
        ]
    );
}

/// One group of a batch call.
#[derive(Clone, Copy, Debug)]
struct Group {
    a: Args,
    alpha: f64,
    beta: f64,
    size: i32,
    /// Bits 1, 2, 4: the group's A, B, C pointers are null.
    nullabc: u32,
}

/// A batch call.
#[derive(Clone, Debug)]
struct BatchCall {
    t: char,
    layout: i32,
    group_count: i32,
    /// Bit p: batch parameter p is passed as NULL.
    nullmask: u32,
    groups: Vec<Group>,
}

impl BatchCall {
    fn line(&self) -> String {
        let mut s = format!(
            "B {} {} {} {} {}",
            self.t,
            self.layout,
            self.group_count,
            self.nullmask,
            self.groups.len()
        );
        for g in &self.groups {
            let a = g.a;
            s += &format!(
                " {} {} {} {} {} {} {} {} {} {} {} {}",
                a.ta, a.tb, a.m, a.n, a.k, a.lda, a.ldb, a.ldc, g.alpha, g.beta, g.size, g.nullabc
            );
        }
        s
    }

    /// The batch parameter the documented rules report, if any.
    fn expected_p(&self) -> Option<i32> {
        if self.layout != ROW && self.layout != COL {
            return Some(1);
        }
        if self.group_count < 0 {
            return Some(15);
        }
        if self.group_count == 0 {
            return None;
        }
        for p in [2, 3, 4, 5, 6, 7, 9, 11, 12, 14, 16] {
            if self.nullmask >> p & 1 == 1 {
                return Some(p);
            }
        }
        for g in &self.groups[..self.group_count as usize] {
            if g.size < 0 {
                return Some(16);
            }
            let a = Args {
                layout: self.layout,
                ..g.a
            };
            match reference(a) {
                Outcome::Runs => {}
                Outcome::Cblas(p) => return Some(p),
                Outcome::Fortran { info, row } => return Some(map_info(info + 1, row)),
            }
            // What the reference GEMM touches (sgemm.f's quick return and alpha = 0 branch;
            // k = 0 runs loops that read nothing).
            let (m, n, k) = (a.m, a.n, a.k);
            if g.size == 0 || m == 0 || n == 0 || ((g.alpha == 0.0 || k == 0) && g.beta == 1.0) {
                continue;
            }
            let reads = g.alpha != 0.0 && k != 0;
            let null = |bit: u32, p: i32| self.nullmask >> p & 1 == 1 || g.nullabc & bit != 0;
            if reads && null(1, 8) {
                return Some(8);
            }
            if reads && null(2, 10) {
                return Some(10);
            }
            if null(4, 13) {
                return Some(13);
            }
        }
        None
    }

    fn expected(&self, v: Variant) -> String {
        let rout = match self.t {
            's' => "cblas_sgemm_batch",
            'd' => "cblas_dgemm_batch",
            _ => "cblas_sbgemm_batch",
        };
        match self.expected_p() {
            None => "none".into(),
            Some(p) => to_cblas_xerbla(v, p, rout),
        }
    }
}

/// Random batches over the same argument space, with null arrays and matrices, negative
/// counts and sizes, and quick-return groups whose matrices may be null.
#[test]
fn batch_errors_follow_the_documented_rules() {
    let mut rng = Rng(21);
    let mut calls = vec![];
    for i in 0..3000 {
        let ngroups = rng.pick(&[0usize, 1, 2, 3]);
        let groups: Vec<Group> = (0..ngroups)
            .map(|_| {
                // Mostly valid groups, so that later groups and pointers get checked.
                let valid = !rng.one_in(4);
                let a = Args {
                    layout: 0,
                    ta: if valid { 111 } else { rng.pick(&TRANS) },
                    tb: if valid { 112 } else { rng.pick(&TRANS) },
                    m: if valid {
                        rng.pick(&[0, 2])
                    } else {
                        rng.pick(&DIMS)
                    },
                    n: if valid {
                        rng.pick(&[0, 2])
                    } else {
                        rng.pick(&DIMS)
                    },
                    k: if valid {
                        rng.pick(&[0, 2])
                    } else {
                        rng.pick(&DIMS)
                    },
                    lda: if valid { 2 } else { rng.pick(&LDS) },
                    ldb: if valid { 2 } else { rng.pick(&LDS) },
                    ldc: if valid { 2 } else { rng.pick(&LDS) },
                };
                Group {
                    a,
                    alpha: rng.pick(&[0.0, 1.0, 2.0]),
                    beta: rng.pick(&[0.0, 1.0, 0.5]),
                    size: rng.pick(&[-1, 0, 1, 2, 2]),
                    nullabc: if rng.one_in(5) {
                        rng.pick(&[1, 2, 4])
                    } else {
                        0
                    },
                }
            })
            .collect();
        let nullmask = if rng.one_in(6) {
            1 << rng.pick(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16])
        } else {
            0
        };
        let group_count = if rng.one_in(10) {
            -1
        } else {
            // Fewer groups than described is fine: the rest are not read.
            ngroups as i32 - (rng.next() % 2) as i32 * (ngroups > 0) as i32
        };
        calls.push(BatchCall {
            t: ['s', 'd', 'b'][i % 3],
            layout: if rng.one_in(12) {
                rng.pick(&[0, 103])
            } else {
                rng.pick(&[ROW, COL])
            },
            group_count,
            nullmask,
            groups,
        });
    }
    // Every rule fires somewhere in the sample.
    let ps: Vec<Option<i32>> = calls.iter().map(BatchCall::expected_p).collect();
    for p in [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16] {
        assert!(ps.contains(&Some(p)), "no case reports parameter {p}");
    }
    assert!(ps.contains(&None));
    let cases: Vec<Case> = calls
        .into_iter()
        .map(|c| {
            let line = c.line();
            let f: Box<dyn Fn(Variant) -> String> = Box::new(move |v| c.expected(v));
            (line, f)
        })
        .collect();
    check_all(&cases);
}
