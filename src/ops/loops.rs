//! The parallel loop layer (PARLOOPER's idea, interpreted over rayon instead of generated C++).
//!
//! An operator declares its *logical* loops once ([`LoopSpec`]: start, end, step and the
//! block sizes it may be tiled with); a run-time **spec string** then chooses the
//! instantiation:
//!
//! - each letter names one logical loop (`a` the first declared, `b` the second, ...);
//! - the order of the letters is the nesting order, outermost first;
//! - a letter repeated `k` times blocks that loop `k − 1` times: its first occurrence steps by
//!   the loop's first block size, the next by the second, ..., the last by the loop's `step`
//!   (so a loop named `k` times needs `k − 1` block sizes, each a multiple of the next finer
//!   one and of `step`);
//! - an upper-case letter is parallelised: the upper-case levels (which must be adjacent in
//!   the string) are collapsed into one iteration space that rayon threads split statically in
//!   contiguous ranges, as OpenMP's `collapse` with a static schedule does. Levels outside the
//!   parallel run are walked by the calling thread (a fresh parallel region per iteration);
//!   levels inside it by each thread over its range.
//!
//! Every loop must appear at least once. The body sees one index per *logical* loop: the start
//! of the innermost level of that loop, so a loop named once runs over `start, start + step,
//! …` and a blocked loop visits exactly the same points in a different order. Per-thread
//! `init`/`fini` hooks run once per thread and parallel region around the body (scratch
//! buffers, AMX tile configuration); `init` builds a state the body borrows mutably.
//!
//! ```
//! use tpp::ops::{LoopNest, LoopSpec};
//! let nest = LoopNest::new(&[LoopSpec::new(0, 8, 1), LoopSpec::new(0, 6, 2).blocks(&[4])], "aBb")?;
//! let visited = std::sync::atomic::AtomicUsize::new(0);
//! nest.run(|_, ind| {
//!     assert!(ind[0] < 8 && ind[1] % 2 == 0);
//!     visited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//! });
//! assert_eq!(visited.into_inner(), 8 * 3);
//! # Ok::<(), tpp::Error>(())
//! ```

use crate::error::{Error, Result};
use rayon::prelude::*;

/// One logical loop: `for i in (start..end).step_by(step)`, tileable by `blocks`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopSpec {
    /// First index.
    pub start: usize,
    /// One past the last index.
    pub end: usize,
    /// Step of the innermost level.
    pub step: usize,
    /// Block sizes of the outer levels, coarsest first (one per extra occurrence in a spec).
    pub blocks: Vec<usize>,
}

impl LoopSpec {
    /// `start..end` by `step`, without blocks.
    pub fn new(start: usize, end: usize, step: usize) -> LoopSpec {
        LoopSpec {
            start,
            end,
            step,
            blocks: vec![],
        }
    }
    /// Sets the block sizes (coarsest first).
    pub fn blocks(mut self, blocks: &[usize]) -> LoopSpec {
        self.blocks = blocks.to_vec();
        self
    }
}

/// One level of the instantiated nest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    /// The logical loop it iterates.
    lp: usize,
    /// Its step.
    step: usize,
    /// The extent of the enclosing level of the same loop (`None`: the whole loop).
    outer: Option<usize>,
    parallel: bool,
}

/// A validated loop nest: the declared loops and one spec string.
#[derive(Clone, Debug)]
pub struct LoopNest {
    loops: Vec<LoopSpec>,
    levels: Vec<Level>,
    spec: String,
}

fn bad(field: &'static str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Error {
    Error::desc("loops", field, value, allowed)
}

impl LoopNest {
    /// Validates `spec` against `loops` (typed errors for unknown letters, missing loops,
    /// wrong block counts, blocks that do not nest, and a parallel run that is not contiguous).
    pub fn new(loops: &[LoopSpec], spec: &str) -> Result<LoopNest> {
        if loops.is_empty() || loops.len() > 26 {
            return Err(bad("loops", loops.len(), "1 to 26 logical loops"));
        }
        for l in loops {
            if l.step == 0 {
                return Err(bad("step", 0, "a step of at least 1"));
            }
        }
        let mut counts = vec![0usize; loops.len()];
        let mut levels = vec![];
        for ch in spec.chars() {
            if !ch.is_ascii_alphabetic() {
                return Err(bad(
                    "spec",
                    spec,
                    "letters only (a, b, ...; upper case = parallel)",
                ));
            }
            let lp = (ch.to_ascii_lowercase() as u8 - b'a') as usize;
            if lp >= loops.len() {
                return Err(bad(
                    "spec",
                    spec,
                    format!(
                        "letters a..{} for {} loops",
                        (b'a' + loops.len() as u8 - 1) as char,
                        loops.len()
                    ),
                ));
            }
            counts[lp] += 1;
            levels.push(Level {
                lp,
                step: 0,
                outer: None,
                parallel: ch.is_ascii_uppercase(),
            });
        }
        for (lp, &n) in counts.iter().enumerate() {
            let l = &loops[lp];
            if n == 0 {
                return Err(bad(
                    "spec",
                    spec,
                    format!(
                        "every loop named at least once (loop {} is missing)",
                        (b'a' + lp as u8) as char
                    ),
                ));
            }
            if l.blocks.len() != n - 1 {
                return Err(bad(
                    "blocks",
                    format!(
                        "{} block sizes for loop {}",
                        l.blocks.len(),
                        (b'a' + lp as u8) as char
                    ),
                    format!("{} (one per extra occurrence in the spec)", n - 1),
                ));
            }
            let mut sizes = l.blocks.clone();
            sizes.push(l.step);
            for w in sizes.windows(2) {
                if w[0] == 0 || w[1] == 0 || !w[0].is_multiple_of(w[1]) {
                    return Err(bad(
                        "blocks",
                        format!("{:?} then step {}", l.blocks, l.step),
                        "non-zero block sizes, each a multiple of the next finer one and of step",
                    ));
                }
            }
            for (seen, lv) in levels.iter_mut().filter(|lv| lv.lp == lp).enumerate() {
                lv.step = sizes[seen];
                lv.outer = if seen == 0 {
                    None
                } else {
                    Some(sizes[seen - 1])
                };
            }
        }
        let par: Vec<usize> = (0..levels.len()).filter(|&i| levels[i].parallel).collect();
        if let (Some(&first), Some(&last)) = (par.first(), par.last()) {
            if last - first + 1 != par.len() {
                return Err(bad(
                    "spec",
                    spec,
                    "the upper-case (parallel) letters adjacent",
                ));
            }
        }
        Ok(LoopNest {
            loops: loops.to_vec(),
            levels,
            spec: spec.to_string(),
        })
    }

    /// The spec string.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The declared loops.
    pub fn loops(&self) -> &[LoopSpec] {
        &self.loops
    }

    /// Runs `body(tid, indices)` at every point, in parallel where the spec says.
    pub fn run<F>(&self, body: F)
    where
        F: Fn(usize, &[usize]) + Sync,
    {
        self.run_with(|_| (), |_, tid, ind| body(tid, ind), |_, _| ());
    }

    /// Runs the nest with per-thread hooks: each thread of a parallel region calls
    /// `init(tid)` once, then `body(&mut state, tid, indices)` for each of its points, then
    /// `fini(state, tid)`. Without parallel levels the calling thread is thread 0.
    pub fn run_with<S, I, F, G>(&self, init: I, body: F, fini: G)
    where
        I: Fn(usize) -> S + Sync,
        F: Fn(&mut S, usize, &[usize]) + Sync,
        G: Fn(S, usize) + Sync,
    {
        let mut ind: Vec<usize> = self.loops.iter().map(|l| l.start).collect();
        let par_first = self.levels.iter().position(|l| l.parallel);
        match par_first {
            None => {
                let mut s = init(0);
                self.walk(0, self.levels.len(), &mut ind, &mut |ind| {
                    body(&mut s, 0, ind)
                });
                fini(s, 0);
            }
            Some(p0) => {
                let p1 = p0 + self.levels[p0..].iter().take_while(|l| l.parallel).count();
                let region = |ind: &mut Vec<usize>| self.region(p0, p1, ind, &init, &body, &fini);
                self.walk(0, p0, &mut ind, &mut |ind| region(&mut ind.to_vec()));
            }
        }
    }

    /// The range a level walks given the current indices: from the index its loop has now
    /// (the enclosing level's start, or the loop's start) over the enclosing block.
    fn range(&self, lv: Level, ind: &[usize]) -> (usize, usize) {
        let l = &self.loops[lv.lp];
        match lv.outer {
            None => (l.start, l.end),
            Some(ext) => (ind[lv.lp], (ind[lv.lp] + ext).min(l.end)),
        }
    }

    /// Walks levels `from..to` sequentially, calling `leaf` at each point of level `to`.
    fn walk(&self, from: usize, to: usize, ind: &mut [usize], leaf: &mut dyn FnMut(&mut [usize])) {
        if from == to {
            leaf(ind);
            return;
        }
        let lv = self.levels[from];
        let (lo, hi) = self.range(lv, ind);
        let saved = ind[lv.lp];
        let mut i = lo;
        while i < hi {
            ind[lv.lp] = i;
            self.walk(from + 1, to, ind, leaf);
            i += lv.step;
        }
        ind[lv.lp] = saved;
    }

    /// One parallel region over the collapsed levels `p0..p1` (their trip counts do not
    /// depend on each other's indices except through blocks of the same loop, which are
    /// resolved per point below), then the inner levels on each thread.
    fn region<S, I, F, G>(
        &self,
        p0: usize,
        p1: usize,
        ind: &mut [usize],
        init: &I,
        body: &F,
        fini: &G,
    ) where
        I: Fn(usize) -> S + Sync,
        F: Fn(&mut S, usize, &[usize]) + Sync,
        G: Fn(S, usize) + Sync,
    {
        // Enumerate the points of the parallel levels once (their count is the parallelism,
        // small next to the work under each point).
        let mut points: Vec<Vec<usize>> = vec![];
        self.walk(p0, p1, ind, &mut |ind| points.push(ind.to_vec()));
        if points.is_empty() {
            return;
        }
        let threads = rayon::current_num_threads().min(points.len()).max(1);
        let per = points.len().div_ceil(threads);
        let inner = (p1, self.levels.len());
        (0..threads).into_par_iter().for_each(|tid| {
            let mine = &points[(tid * per).min(points.len())..((tid + 1) * per).min(points.len())];
            if mine.is_empty() {
                return;
            }
            let mut s = init(tid);
            for pt in mine {
                let mut ind = pt.clone();
                self.walk(inner.0, inner.1, &mut ind, &mut |ind| {
                    body(&mut s, tid, ind)
                });
            }
            fini(s, tid);
        });
    }
}

/// Parses a user's override of an operator's default spec: `None` or an empty string keeps
/// the default.
pub fn spec_or<'a>(user: Option<&'a str>, default: &'a str) -> &'a str {
    match user {
        Some(s) if !s.is_empty() => s,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    /// Counts visits of every point of the full index space of `loops`.
    fn visits(loops: &[LoopSpec], spec: &str) -> Vec<u32> {
        let nest = LoopNest::new(loops, spec).unwrap();
        let dims: Vec<usize> = loops
            .iter()
            .map(|l| (l.end.saturating_sub(l.start)).div_ceil(l.step))
            .collect();
        let total: usize = dims.iter().product();
        let counts: Vec<AtomicU32> = (0..total).map(|_| AtomicU32::new(0)).collect();
        let inits = AtomicU32::new(0);
        let finis = AtomicU32::new(0);
        nest.run_with(
            |_| {
                inits.fetch_add(1, Ordering::Relaxed);
                0usize
            },
            |s, _, ind| {
                *s += 1;
                let mut at = 0;
                for (d, l) in loops.iter().enumerate() {
                    assert!(ind[d] >= l.start && ind[d] < l.end);
                    assert_eq!((ind[d] - l.start) % l.step, 0);
                    at = at * dims[d] + (ind[d] - l.start) / l.step;
                }
                counts[at].fetch_add(1, Ordering::Relaxed);
            },
            |_, _| {
                finis.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(inits.into_inner(), finis.into_inner());
        counts.into_iter().map(|c| c.into_inner()).collect()
    }

    /// A tiny deterministic generator (xorshift), so the test needs no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn random_specs_visit_every_point_once() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for _ in 0..200 {
            let nloops = 1 + rng.next(3);
            let mut loops = vec![];
            let mut letters = vec![];
            for lp in 0..nloops {
                let step = 1 + rng.next(3);
                let start = rng.next(3);
                let end = start + rng.next(13);
                let extra = rng.next(3);
                let mut blocks = vec![];
                let mut size = step;
                for _ in 0..extra {
                    size *= 1 + rng.next(3);
                    blocks.push(size);
                }
                blocks.reverse();
                loops.push(LoopSpec::new(start, end, step).blocks(&blocks));
                for _ in 0..=extra {
                    letters.push(lp);
                }
            }
            // Shuffle the occurrences; then make one contiguous run upper case.
            for i in (1..letters.len()).rev() {
                letters.swap(i, rng.next(i + 1));
            }
            let p0 = rng.next(letters.len() + 1);
            let p1 = p0 + rng.next(letters.len() - p0 + 1);
            let spec: String = letters
                .iter()
                .enumerate()
                .map(|(i, &lp)| {
                    let c = (b'a' + lp as u8) as char;
                    if (p0..p1).contains(&i) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            let counts = visits(&loops, &spec);
            assert!(
                counts.iter().all(|&c| c == 1),
                "spec {spec} over {loops:?}: {counts:?}"
            );
        }
    }

    #[test]
    fn blocked_order_is_the_spec_order() {
        let loops = [LoopSpec::new(0, 4, 1).blocks(&[2]), LoopSpec::new(0, 2, 1)];
        let seen = Mutex::new(vec![]);
        LoopNest::new(&loops, "aba")
            .unwrap()
            .run(|_, ind| seen.lock().unwrap().push((ind[0], ind[1])));
        let want = vec![
            (0, 0),
            (1, 0),
            (0, 1),
            (1, 1),
            (2, 0),
            (3, 0),
            (2, 1),
            (3, 1),
        ];
        assert_eq!(seen.into_inner().unwrap(), want);
    }

    #[test]
    fn bad_specs_are_typed_errors() {
        let loops = [LoopSpec::new(0, 4, 1).blocks(&[2]), LoopSpec::new(0, 2, 1)];
        for spec in ["ab", "aaab", "abc", "a1b", "AbA", "abab", ""] {
            let e = LoopNest::new(&loops, spec).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidDescriptor {
                        family: "loops",
                        ..
                    }
                ),
                "{spec}: {e}"
            );
        }
        let uneven = [LoopSpec::new(0, 9, 2).blocks(&[3])];
        assert!(LoopNest::new(&uneven, "aa").is_err());
        assert!(LoopNest::new(&[LoopSpec::new(0, 9, 0)], "a").is_err());
    }

    #[test]
    fn hooks_run_once_per_thread_of_a_region() {
        let loops = [LoopSpec::new(0, 3, 1), LoopSpec::new(0, 64, 1)];
        let nest = LoopNest::new(&loops, "aB").unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let inits = AtomicU32::new(0);
        pool.install(|| {
            nest.run_with(
                |_| inits.fetch_add(1, Ordering::Relaxed),
                |_, tid, _| assert!(tid < 2),
                |_, _| (),
            );
        });
        // Three regions (one per `a`), two threads each.
        assert_eq!(inits.into_inner(), 6);
    }
}
