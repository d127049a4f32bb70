//! A small interpreter for the PTX subset the generators emit, so that the tensor-core and
//! equation kernels run (slowly) on a machine without a GPU: threads run one by one, highest
//! first, until a barrier or a warp-collective instruction (`ldmatrix`, `mma`, `shfl`, `vote`,
//! `bar.warp.sync`), which executes once every live lane of the warp has reached it. Atomics
//! are trivially atomic; loads and stores must be aligned to their size, as on the hardware.
//! `cp.async` copies at once (its wait is then a no-op). It models the documented instruction
//! semantics, including the mma and ldmatrix fragment layouts, so a layout mistake in the
//! generator shows up as a wrong product. The sm_90 units (mbarrier, TMA, wgmma) live in
//! [`super::emu_async`]; a thread whose `mbarrier.try_wait` fails yields until the next round.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub(super) enum Opnd {
    Reg(usize, usize),
    Imm(u64),
    Sym(String),
    Special(String),
}

#[derive(Clone, Debug)]
pub(super) enum Arg {
    Op(Opnd),
    Mem(Opnd, i64),
    List(Vec<Opnd>),
    Label(String),
    /// `[map, {c0, c1, ..}]`: a tensor map and coordinates.
    Tensor(Opnd, Vec<Opnd>),
}

#[derive(Clone, Debug)]
pub(super) struct Inst {
    pred: Option<(usize, bool)>,
    pub(super) parts: Vec<String>,
    pub(super) args: Vec<Arg>,
}

/// A parsed kernel.
pub struct Program {
    insts: Vec<Inst>,
    labels: HashMap<String, usize>,
    counts: [usize; 5],
}

fn kind(prefix: &str) -> usize {
    match prefix {
        "h" => 0,
        "r" => 1,
        "rd" => 2,
        "f" => 3,
        "p" => 4,
        _ => panic!("register kind {prefix}"),
    }
}

fn operand(s: &str) -> Opnd {
    let s = s.trim();
    if let Some(r) = s.strip_prefix('%') {
        let split = r.find(|c: char| c.is_ascii_digit()).unwrap_or(r.len());
        let (p, n) = r.split_at(split);
        if ["h", "r", "rd", "f", "p"].contains(&p) && !n.is_empty() && !n.contains('.') {
            return Opnd::Reg(kind(p), n.parse().unwrap());
        }
        return Opnd::Special(s.to_string());
    }
    if let Some(h) = s.strip_prefix("0f").or_else(|| s.strip_prefix("0F")) {
        return Opnd::Imm(u32::from_str_radix(h, 16).unwrap() as u64);
    }
    if let Some(h) = s.strip_prefix("0x") {
        return Opnd::Imm(u64::from_str_radix(h, 16).unwrap());
    }
    if let Ok(v) = s.parse::<i64>() {
        return Opnd::Imm(v as u64);
    }
    Opnd::Sym(s.to_string())
}

fn split_args(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0);
    for c in s.chars() {
        match c {
            '{' | '[' => {
                depth += 1;
                cur.push(c)
            }
            '}' | ']' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|a| a.trim().to_string()).collect()
}

impl Program {
    /// Parses the module's single entry.
    pub fn parse(ptx: &str) -> Program {
        let mut insts = vec![];
        let mut labels = HashMap::new();
        let mut counts = [0; 5];
        let body = &ptx[ptx.find(".maxntid").unwrap()..];
        for line in body.lines().skip(1) {
            let line = line.split("//").next().unwrap().trim();
            if line.is_empty() || line == "{" || line == "}" {
                continue;
            }
            if let Some(decl) = line.strip_prefix(".reg") {
                // .reg .b32 %r<12>;
                let name = decl.split_whitespace().nth(1).unwrap();
                let (p, n) = name.trim_start_matches('%').split_once('<').unwrap();
                counts[kind(p)] = n.trim_end_matches(">;").parse().unwrap();
                continue;
            }
            if let Some(l) = line.strip_suffix(':') {
                labels.insert(l.to_string(), insts.len());
                continue;
            }
            let line = line.trim_end_matches(';');
            let (pred, rest) = if let Some(p) = line.strip_prefix('@') {
                let (p, rest) = p.split_once(' ').unwrap();
                let neg = p.starts_with('!');
                let Opnd::Reg(_, n) = operand(p.trim_start_matches('!')) else {
                    panic!()
                };
                (Some((n, neg)), rest.trim())
            } else {
                (None, line)
            };
            let (op, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let parts: Vec<String> = op.split('.').map(String::from).collect();
            let args = split_args(args)
                .into_iter()
                .map(|a| {
                    if a.starts_with('{') {
                        Arg::List(
                            a.trim_matches(|c| c == '{' || c == '}')
                                .split(',')
                                .map(operand)
                                .collect(),
                        )
                    } else if a.starts_with('[') && a.contains('{') {
                        let inner = a.trim_matches(|c| c == '[' || c == ']');
                        let (map, coords) = inner.split_once(',').unwrap();
                        Arg::Tensor(
                            operand(map),
                            coords
                                .trim()
                                .trim_matches(|c| c == '{' || c == '}')
                                .split(',')
                                .map(operand)
                                .collect(),
                        )
                    } else if a.starts_with('[') {
                        let inner = a.trim_matches(|c| c == '[' || c == ']');
                        match inner.split_once('+') {
                            Some((b, o)) => Arg::Mem(operand(b), o.trim().parse().unwrap()),
                            None => Arg::Mem(operand(inner), 0),
                        }
                    } else if parts[0] == "bra" {
                        Arg::Label(a)
                    } else {
                        Arg::Op(operand(&a))
                    }
                })
                .collect();
            insts.push(Inst { pred, parts, args });
        }
        Program {
            insts,
            labels,
            counts,
        }
    }
}

/// Global memory: allocations in one arena, addressed from a non-zero base.
pub struct Memory {
    pub bytes: Vec<u8>,
}

/// The base of the global arena's addresses.
pub const BASE: u64 = 0x1_0000;

impl Memory {
    /// An empty arena.
    pub fn new() -> Memory {
        Memory { bytes: vec![] }
    }
    /// Appends `data` (256-byte aligned), returning its address.
    pub fn alloc(&mut self, data: &[u8]) -> u64 {
        let at = self.bytes.len().next_multiple_of(256);
        self.bytes.resize(at, 0xAB);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len() + 64, 0xCD);
        BASE + at as u64
    }
    /// `len` bytes at `addr`.
    pub fn read(&self, addr: u64, len: usize) -> &[u8] {
        let at = (addr - BASE) as usize;
        &self.bytes[at..at + len]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Run,
    /// Waiting on an mbarrier phase: runs again (and retries) next round.
    Yield,
    Barrier,
    Collective(usize),
    Done,
}

pub(super) struct Thread {
    pub(super) regs: [Vec<u64>; 5],
    pc: usize,
    state: State,
    tid: u32,
    ntid: u32,
}

pub(super) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

fn f32_to_bf16(v: f32) -> u16 {
    half::bf16::from_f32(v).to_bits()
}

/// Runs every block of a launch.
pub fn run_launch(p: &Program, mem: &mut Memory, params: &[u8], l: &tpp::kernels_cuda::Launch) {
    for y in 0..l.grid.1 {
        for x in 0..l.grid.0 {
            let (block, grid) = ((l.block.0, l.block.1), (l.grid.0, l.grid.1));
            run_block2(p, mem, params, l.smem_bytes as usize, block, (x, y), grid);
        }
    }
}

/// Runs one block `ctaid` of a kernel launched with `grid` × `threads` (1D blocks).
#[allow(clippy::too_many_arguments)]
pub fn run_block(
    p: &Program,
    mem: &mut Memory,
    params: &[u8],
    smem_bytes: usize,
    threads: u32,
    ctaid: (u32, u32),
    grid: (u32, u32),
) {
    run_block2(p, mem, params, smem_bytes, (threads, 1), ctaid, grid)
}

/// Runs one block of `block.0 × block.1` threads.
#[allow(clippy::too_many_arguments)]
pub fn run_block2(
    p: &Program,
    mem: &mut Memory,
    params: &[u8],
    smem_bytes: usize,
    block: (u32, u32),
    ctaid: (u32, u32),
    grid: (u32, u32),
) {
    let threads = block.0 * block.1;
    let bx = block.0;
    let mut smem = vec![0u8; smem_bytes.max(16)];
    let mut ts: Vec<Thread> = (0..threads)
        .map(|tid| Thread {
            regs: p.counts.map(|n| vec![0u64; n]),
            pc: 0,
            state: State::Run,
            tid,
            ntid: threads,
        })
        .collect();
    let mut bars = super::emu_async::Barriers::default();
    loop {
        // Highest thread first: a lane that reads what lane 0 writes without waiting for it
        // (a missing `bar.warp.sync` or `bar.sync`) reads the old value and the test fails.
        // (In the wgmma GEMM the producer warp is the highest: it runs ahead of the consumers.)
        let mut progressed = false;
        for t in ts.iter_mut().rev() {
            if t.state == State::Yield {
                t.state = State::Run;
            }
            let (pc0, mut steps) = (t.pc, 0);
            while t.state == State::Run {
                step(p, t, mem, &mut smem, &mut bars, params, bx, ctaid, grid);
                steps += 1;
            }
            // A wait that failed at once is not progress.
            progressed |= steps > 0 && !(t.state == State::Yield && t.pc == pc0 && steps == 1);
        }
        let live: Vec<usize> = (0..ts.len())
            .filter(|&i| ts[i].state != State::Done)
            .collect();
        if live.is_empty() {
            return;
        }
        let is_wgmma = |pc: usize| p.insts[pc].parts[0] == "wgmma";
        for g in 0..(threads / 128) as usize {
            let group = g * 128..g * 128 + 128;
            if let State::Collective(pc) = ts[group.start].state {
                if is_wgmma(pc)
                    && ts[group.clone()]
                        .iter()
                        .all(|t| t.state == State::Collective(pc))
                {
                    super::emu_async::wgmma(&p.insts[pc], &mut ts[group.clone()], &smem);
                    for t in &mut ts[group] {
                        t.pc += 1;
                        t.state = State::Run;
                    }
                    progressed = true;
                }
            }
        }
        for w in 0..threads.div_ceil(32) as usize {
            let lanes: Vec<usize> = (w * 32..(w * 32 + 32).min(ts.len()))
                .filter(|&i| ts[i].state != State::Done)
                .collect();
            if lanes.is_empty() {
                continue;
            }
            if let State::Collective(pc) = ts[lanes[0]].state {
                if !is_wgmma(pc) && lanes.iter().all(|&i| ts[i].state == State::Collective(pc)) {
                    assert_eq!(lanes.len(), 32, "a collective with exited lanes");
                    super::emu_warp::collective(&p.insts[pc], &mut ts[w * 32..w * 32 + 32], &smem);
                    for t in &mut ts[w * 32..w * 32 + 32] {
                        t.pc += 1;
                        t.state = State::Run;
                    }
                    progressed = true;
                }
            }
        }
        if !progressed && live.iter().all(|&i| ts[i].state == State::Barrier) {
            for &i in &live {
                ts[i].pc += 1;
                ts[i].state = State::Run;
            }
            progressed = true;
        }
        assert!(
            progressed,
            "deadlock: states {:?}",
            live.iter()
                .map(|&i| (ts[i].state, ts[i].pc))
                .take(40)
                .collect::<Vec<_>>()
        );
    }
}

fn get(t: &Thread, o: &Opnd, ctaid: (u32, u32), grid: (u32, u32), bx: u32) -> u64 {
    match o {
        Opnd::Reg(k, n) => t.regs[*k][*n],
        Opnd::Imm(v) => *v,
        Opnd::Sym(s) if s == "smem" => 0,
        Opnd::Sym(s) if s == "args" => super::emu_async::PARAM_BASE,
        Opnd::Special(s) => match s.as_str() {
            "%tid.x" => (t.tid % bx) as u64,
            "%tid.y" => (t.tid / bx) as u64,
            "%ntid.x" => bx as u64,
            "%ntid.y" => (t.ntid / bx) as u64,
            "%ctaid.x" => ctaid.0 as u64,
            "%ctaid.y" => ctaid.1 as u64,
            "%nctaid.x" => grid.0 as u64,
            "%nctaid.y" => grid.1 as u64,
            "%laneid" => (t.tid % 32) as u64,
            s => panic!("special {s}"),
        },
        o => panic!("operand {o:?}"),
    }
}

fn set(t: &mut Thread, o: &Opnd, v: u64) {
    let Opnd::Reg(k, n) = o else {
        panic!("destination {o:?}")
    };
    t.regs[*k][*n] = v;
}

fn width(ty: &str) -> u32 {
    ty[1..].parse().unwrap_or(32)
}

fn mask(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

#[allow(clippy::too_many_arguments)]
fn step(
    p: &Program,
    t: &mut Thread,
    mem: &mut Memory,
    smem: &mut [u8],
    bars: &mut super::emu_async::Barriers,
    params: &[u8],
    bx: u32,
    ctaid: (u32, u32),
    grid: (u32, u32),
) {
    let i = &p.insts[t.pc];
    if let Some((pr, neg)) = i.pred {
        if (t.regs[4][pr] != 0) == neg {
            t.pc += 1;
            return;
        }
    }
    let op = i.parts[0].as_str();
    let ty = i.parts.last().unwrap().as_str();
    let a = |n: usize, t: &Thread| match &i.args[n] {
        Arg::Op(o) => get(t, o, ctaid, grid, bx),
        other => panic!("{other:?}"),
    };
    let dst = |n: usize| match &i.args[n] {
        Arg::Op(o) => o.clone(),
        other => panic!("{other:?}"),
    };
    let addr = |n: usize, t: &Thread| match &i.args[n] {
        Arg::Mem(Opnd::Sym(s), off) if s == "args" => *off as u64,
        Arg::Mem(o, off) => get(t, o, ctaid, grid, bx).wrapping_add(*off as u64),
        other => panic!("{other:?}"),
    };
    let f = |v: u64| f32::from_bits(v as u32);
    let fb = |v: f32| v.to_bits() as u64;
    match op {
        "ret" => {
            t.state = State::Done;
            return;
        }
        "bra" => {
            let Arg::Label(l) = &i.args[0] else { panic!() };
            t.pc = p.labels[l];
            return;
        }
        // bar.warp.sync waits for the warp's lanes; bar.sync for the block's threads.
        "bar" if i.parts[1] == "warp" => {
            t.state = State::Collective(t.pc);
            return;
        }
        "bar" => {
            t.state = State::Barrier;
            return;
        }
        // The warpgroup MMA runs once all 128 threads of the warpgroup reached it; its
        // fence, commit and wait have nothing to order in a sequential interpreter.
        "wgmma" if i.parts[1] == "mma_async" => {
            t.state = State::Collective(t.pc);
            return;
        }
        "wgmma" | "fence" => {}
        "ldmatrix" | "mma" | "shfl" | "vote" => {
            t.state = State::Collective(t.pc);
            return;
        }
        "mov" => {
            let v = a(1, t);
            set(t, &dst(0), v)
        }
        "sqrt" => {
            let v = f(a(1, t)).sqrt();
            set(t, &dst(0), fb(v))
        }
        "testp" => {
            let v = f(a(1, t)).is_nan();
            set(t, &dst(0), v as u64)
        }
        "cvt" if ["rni", "rmi", "rzi"].contains(&i.parts[1].as_str()) => {
            let x = f(a(1, t));
            let r = match i.parts[1].as_str() {
                "rni" => x.round_ties_even(),
                "rmi" => x.floor(),
                _ => x.trunc(),
            };
            let v = if i.parts[2] == "s32" {
                r as i32 as u32 as u64
            } else {
                fb(r)
            };
            set(t, &dst(0), v)
        }
        "add" | "sub" | "mul" | "mad" | "div" | "rem" | "max" | "min" | "and" | "or" | "xor"
        | "shl" | "shr" | "fma"
            if ty == "f32" =>
        {
            let x = f(a(1, t));
            let y = f(a(2, t));
            let nan_mode = i.parts.iter().any(|p| p == "NaN");
            let v = match op {
                "add" => x + y,
                "sub" => x - y,
                "mul" => x * y,
                "div" => x / y,
                "fma" => x.mul_add(y, f(a(3, t))),
                "max" | "min" if nan_mode && (x.is_nan() || y.is_nan()) => f32::NAN,
                "max" => x.max(y),
                "min" => x.min(y),
                o => panic!("{o}.f32"),
            };
            set(t, &dst(0), fb(v))
        }
        "and" | "or" | "xor" if ty == "pred" => {
            let (x, y) = (a(1, t) != 0, a(2, t) != 0);
            let v = match op {
                "and" => x & y,
                "or" => x | y,
                _ => x ^ y,
            };
            set(t, &dst(0), v as u64)
        }
        "add" | "sub" | "mul" | "mad" | "div" | "rem" | "max" | "min" | "and" | "or" | "xor"
        | "shl" | "shr" => {
            let bits = width(ty);
            let signed = ty.starts_with('s');
            let wide = i.parts.get(1).is_some_and(|m| m == "wide");
            let (x, y) = (a(1, t), a(2, t));
            let v = match op {
                "add" => x.wrapping_add(y),
                "sub" => x.wrapping_sub(y),
                "mul" | "mad" => {
                    let prod = if wide {
                        mask(x, bits).wrapping_mul(mask(y, bits))
                    } else {
                        x.wrapping_mul(y)
                    };
                    if op == "mad" {
                        prod.wrapping_add(a(3, t))
                    } else {
                        prod
                    }
                }
                "div" if signed => (sext(x, bits) / sext(y, bits)) as u64,
                "rem" if signed => (sext(x, bits) % sext(y, bits)) as u64,
                "div" => mask(x, bits) / mask(y, bits),
                "rem" => mask(x, bits) % mask(y, bits),
                "max" if signed => sext(x, bits).max(sext(y, bits)) as u64,
                "min" if signed => sext(x, bits).min(sext(y, bits)) as u64,
                "max" => mask(x, bits).max(mask(y, bits)),
                "min" => mask(x, bits).min(mask(y, bits)),
                "and" => x & y,
                "or" => x | y,
                "xor" => x ^ y,
                "shl" => x << (y.min(63)),
                "shr" if signed => (sext(x, bits) >> y.min(63)) as u64,
                _ => mask(x, bits) >> y.min(63),
            };
            let out_bits = if wide { 2 * bits } else { bits };
            set(t, &dst(0), mask(v, out_bits))
        }
        "setp" => {
            let cmp = i.parts[1].as_str();
            let (x, y) = (a(1, t), a(2, t));
            let bits = width(ty);
            let r = if ty == "f32" {
                let (x, y) = (f(x), f(y));
                match cmp {
                    "eq" => x == y,
                    "ne" => x != y && !x.is_nan() && !y.is_nan(),
                    "neu" => x != y || x.is_nan() || y.is_nan(),
                    "lt" => x < y,
                    "le" => x <= y,
                    "gt" => x > y,
                    "ge" => x >= y,
                    c => panic!("setp {c}"),
                }
            } else if ty.starts_with('s') {
                let (x, y) = (sext(x, bits), sext(y, bits));
                match cmp {
                    "eq" => x == y,
                    "ne" => x != y,
                    "lt" => x < y,
                    "le" => x <= y,
                    "gt" => x > y,
                    _ => x >= y,
                }
            } else {
                let (x, y) = (mask(x, bits), mask(y, bits));
                match cmp {
                    "eq" => x == y,
                    "ne" => x != y,
                    "lt" => x < y,
                    "le" => x <= y,
                    "gt" => x > y,
                    _ => x >= y,
                }
            };
            set(t, &dst(0), r as u64)
        }
        "selp" => {
            let v = if a(3, t) != 0 { a(1, t) } else { a(2, t) };
            set(t, &dst(0), v)
        }
        "cvt" => {
            let (to, from) = (i.parts[i.parts.len() - 2].as_str(), ty);
            let x = a(1, t);
            let v = match (to, from) {
                ("u64", "u32") => mask(x, 32),
                ("u32", "u64") => mask(x, 32),
                ("bf16", "f32") => f32_to_bf16(f(x)) as u64,
                // d.hi = cvt(a), d.lo = cvt(b).
                ("bf16x2", "f32") => {
                    (f32_to_bf16(f(x)) as u64) << 16 | f32_to_bf16(f(a(2, t))) as u64
                }
                ("f16x2", "f32") => {
                    (half::f16::from_f32(f(x)).to_bits() as u64) << 16
                        | half::f16::from_f32(f(a(2, t))).to_bits() as u64
                }
                ("u16", "u32") => mask(x, 16),
                ("f16", "f32") => half::f16::from_f32(f(x)).to_bits() as u64,
                ("f32", "f16") => fb(half::f16::from_bits(x as u16).to_f32()),
                ("tf32", "f32") => {
                    // Round to nearest, ties away, on the 13 low mantissa bits.
                    let b = x as u32;
                    fb(f32::from_bits(b.wrapping_add(0x1000) & !0x1fff))
                }
                c => panic!("cvt {c:?}"),
            };
            set(t, &dst(0), v)
        }
        "ld" => {
            let space = i.parts[1].as_str();
            let at = addr(1, t);
            let read = |len: usize, smem: &[u8]| -> Vec<u8> {
                match space {
                    "param" => params[at as usize..at as usize + len].to_vec(),
                    "shared" => smem[at as usize..at as usize + len].to_vec(),
                    _ => mem.read(at, len).to_vec(),
                }
            };
            // Like the hardware, refuse an access not aligned to its size.
            let size = match &i.args[0] {
                Arg::List(regs) => 4 * regs.len() as u64,
                _ => (width(ty) / 8) as u64,
            };
            assert!(
                space == "param" || at % size == 0,
                "misaligned {size}-byte load at {at:#x}: {:?}",
                i.parts
            );
            if let Arg::List(regs) = &i.args[0] {
                let bytes = read(4 * regs.len(), smem);
                for (n, r) in regs.iter().enumerate() {
                    let v = u32::from_le_bytes(bytes[4 * n..4 * n + 4].try_into().unwrap());
                    set(t, r, v as u64);
                }
            } else {
                let len = (width(ty) / 8) as usize;
                let bytes = read(len, smem);
                let mut v = [0u8; 8];
                v[..len].copy_from_slice(&bytes);
                set(t, &dst(0), u64::from_le_bytes(v));
            }
        }
        "st" => {
            let space = i.parts[1].as_str();
            let at = addr(0, t);
            let len = (width(ty) / 8) as usize;
            // One value, or a vector `{a, b, ...}` of consecutive ones.
            let vals: Vec<u64> = match &i.args[1] {
                Arg::List(regs) => regs.iter().map(|r| get(t, r, ctaid, grid, bx)).collect(),
                _ => vec![a(1, t)],
            };
            let size = (len * vals.len()) as u64;
            assert!(
                at % size == 0,
                "misaligned {size}-byte store at {at:#x}: {:?}",
                i.parts
            );
            for (n, v) in vals.iter().enumerate() {
                let v = v.to_le_bytes();
                let at = at as usize + n * len;
                match space {
                    "shared" => smem[at..at + len].copy_from_slice(&v[..len]),
                    _ => {
                        let o = at - BASE as usize;
                        mem.bytes[o..o + len].copy_from_slice(&v[..len]);
                    }
                }
            }
        }
        // Atomics: the interpreter runs one thread at a time, so a read-modify-write is atomic.
        "red" | "atom" => {
            let space = i.parts[1].as_str();
            let (at, first) = if op == "red" {
                (addr(0, t), 1)
            } else {
                (addr(1, t), 2)
            };
            let read = |mem: &Memory, smem: &[u8]| -> u32 {
                let b = match space {
                    "shared" => smem[at as usize..at as usize + 4].to_vec(),
                    _ => mem.read(at, 4).to_vec(),
                };
                u32::from_le_bytes(b.try_into().unwrap())
            };
            let old = read(mem, smem);
            let new = match (i.parts[2].as_str(), ty) {
                ("add", "f32") => fb(f32::from_bits(old) + f(a(first, t))) as u32,
                ("cas", "b32") => {
                    if old as u64 == mask(a(first, t), 32) {
                        a(first + 1, t) as u32
                    } else {
                        old
                    }
                }
                c => panic!("no emulation of {op} {c:?}"),
            };
            let bytes = new.to_le_bytes();
            match space {
                "shared" => smem[at as usize..at as usize + 4].copy_from_slice(&bytes),
                _ => {
                    let o = (at - BASE) as usize;
                    mem.bytes[o..o + 4].copy_from_slice(&bytes);
                }
            }
            if op == "atom" {
                set(t, &dst(0), old as u64);
            }
        }
        "cp" if i.parts.get(2).is_some_and(|x| x == "bulk") => {
            let value = |t: &Thread, o: &Opnd| get(t, o, ctaid, grid, bx);
            super::emu_async::tma_load(i, t, value, mem, params, smem, bars);
        }
        "mbarrier" => {
            let value = |n: usize| a(n, t);
            let at = |n: usize| addr(n, t);
            let mut done = None;
            let outcome = super::emu_async::mbarrier(i, bars, value, at, |d| done = Some(d));
            if let (Some(d), Arg::Op(o)) = (done, &i.args[0]) {
                set(t, o, d as u64);
            }
            if let super::emu_async::Outcome::NotYet = outcome {
                t.state = State::Yield;
                return;
            }
        }
        // The generic address of a kernel parameter is its tagged param address.
        "cvta" => {
            assert_eq!(i.parts[1], "param");
            let v = a(1, t);
            set(t, &dst(0), v)
        }
        "cp" if i.parts[1] == "async" && i.parts.len() > 3 => {
            let (s, g) = (addr(0, t) as usize, addr(1, t));
            let n = a(3, t) as usize;
            for b in 0..16 {
                smem[s + b] = if b < n {
                    mem.read(g + b as u64, 1)[0]
                } else {
                    0
                };
            }
        }
        "cp" => {}
        o => panic!("no emulation of {o} ({:?})", i.parts),
    }
    t.pc += 1;
}
