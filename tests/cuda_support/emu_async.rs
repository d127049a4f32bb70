//! The interpreter's sm_90 asynchronous units (split from [`super::emu`]): mbarriers with
//! arrival and transaction counts and phases, TMA tensor copies (`cp.async.bulk.tensor`) with
//! zero fill past the tensor and the 128-byte swizzle, and the warpgroup MMA
//! (`wgmma.mma_async`) reading its operands through shared-memory descriptors, unswizzled or
//! with the 128-byte swizzle, K-major or (transpose immediates) MN-major.
//!
//! **Tensor maps.** A real `CUtensorMap` is 128 bytes that only the driver encodes and only
//! the hardware reads. No driver exists here, so the tests put their own description in the
//! 128 bytes ([`encode_map`]: a magic word, then the fields of
//! [`tpp::kernels_cuda::tma::TensorMapSpec`]), and the copy reads it back ([`decode_map`]).
//! What is checked is therefore the kernel's use of the map (coordinates, boxes, the shared
//! layout it expects), not the driver's encoding.
//!
//! The copies happen at once when issued and complete their bytes on the barrier right away;
//! a stage's consumer still finds the data only after its wait succeeds, and a producer that
//! overwrote a stage before its consumers released it (a wrong phase, a missing wait) would
//! change what they read: the scheduler runs the producer first.

use super::emu::{Arg, Inst, Memory, Opnd, Thread};
use super::emu_warp::conv;
use std::collections::HashMap;
use tpp::kernels_cuda::tma::{TensorMapBytes, TensorMapSpec, SWIZZLE_BYTES};
use tpp::DType;

/// Kernel parameter addresses (`mov.u64 %rd, args`) are tagged with this base.
pub const PARAM_BASE: u64 = 0x7000_0000_0000;

const MAGIC: u32 = 0x7470_704D; // "tppM"

/// The tests' stand-in for the driver's encoding of a tensor map.
pub fn encode_map(m: &TensorMapSpec) -> TensorMapBytes {
    let mut b = [0u8; 128];
    let mut at = 0;
    let mut put = |v: &[u8]| {
        b[at..at + v.len()].copy_from_slice(v);
        at += v.len();
    };
    put(&MAGIC.to_le_bytes());
    put(&(m.rank as u32).to_le_bytes());
    put(&(m.dtype.size() as u32).to_le_bytes());
    put(&0u32.to_le_bytes());
    put(&m.address.to_le_bytes());
    for d in m.dims {
        put(&d.to_le_bytes());
    }
    for s in m.strides {
        put(&s.to_le_bytes());
    }
    for x in m.box_dims {
        put(&x.to_le_bytes());
    }
    TensorMapBytes(b)
}

/// Reads back what [`encode_map`] wrote.
pub fn decode_map(b: &[u8]) -> TensorMapSpec {
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert_eq!(u32_at(0), MAGIC, "not a tensor map the tests encoded");
    assert_eq!(u32_at(8), 2, "only 16-bit tensor maps are emulated");
    TensorMapSpec {
        dtype: DType::BF16,
        rank: u32_at(4) as usize,
        address: u64_at(16),
        dims: [u64_at(24), u64_at(32), u64_at(40)],
        strides: [u64_at(48), u64_at(56)],
        box_dims: [u32_at(64), u32_at(68), u32_at(72)],
    }
}

/// The 128-byte swizzle of a shared address: 16-byte chunk bits 4–6 XOR row bits 7–9.
pub fn swizzle128(a: usize) -> usize {
    a ^ (((a >> 7) & 7) << 4)
}

#[derive(Clone, Copy, Debug)]
struct Barrier {
    expected: u32,
    pending: u32,
    tx: i64,
    phase: u32,
}

/// The mbarriers of one block, by shared address.
#[derive(Default)]
pub struct Barriers {
    bars: HashMap<u64, Barrier>,
}

impl Barriers {
    fn get(&mut self, at: u64) -> &mut Barrier {
        self.bars
            .get_mut(&at)
            .unwrap_or_else(|| panic!("mbarrier at {at:#x} used before mbarrier.init"))
    }
    fn settle(b: &mut Barrier) {
        if b.pending == 0 && b.tx == 0 {
            b.phase += 1;
            b.pending = b.expected;
        }
    }
    fn arrive(&mut self, at: u64, tx: i64) {
        let b = self.get(at);
        assert!(b.pending > 0, "more arrivals than the barrier expects");
        b.tx += tx;
        b.pending -= 1;
        Self::settle(b);
    }
    fn complete_tx(&mut self, at: u64, bytes: i64) {
        let b = self.get(at);
        b.tx -= bytes;
        Self::settle(b);
    }
}

/// What an `mbarrier` instruction did: `Wait(false)` asks the scheduler to run the thread
/// again later (the phase has not completed).
pub enum Outcome {
    /// Done: advance.
    Done,
    /// A `try_wait` whose phase has not completed: retry later.
    NotYet,
}

/// `mbarrier.{init, arrive, arrive.expect_tx, try_wait.parity}` of thread `t`; `value(n)`
/// reads operand `n`, `addr(n)` the address of memory operand `n`.
pub(super) fn mbarrier(
    i: &Inst,
    bars: &mut Barriers,
    value: impl Fn(usize) -> u64,
    addr: impl Fn(usize) -> u64,
    set_pred: impl FnOnce(bool),
) -> Outcome {
    match i.parts[1].as_str() {
        "init" => {
            let n = value(1) as u32;
            bars.bars.insert(
                addr(0),
                Barrier {
                    expected: n,
                    pending: n,
                    tx: 0,
                    phase: 0,
                },
            );
        }
        "arrive" => {
            let tx = if i.parts[2] == "expect_tx" {
                value(2) as i64
            } else {
                0
            };
            bars.arrive(addr(1), tx);
        }
        "try_wait" => {
            assert_eq!(i.parts[2], "parity", "only try_wait.parity is emulated");
            let parity = value(2) & 1;
            let done = (bars.get(addr(1)).phase as u64 & 1) != parity;
            set_pred(done);
            if !done {
                return Outcome::NotYet;
            }
        }
        o => panic!("no emulation of mbarrier.{o}"),
    }
    Outcome::Done
}

/// `cp.async.bulk.tensor.Nd.shared::cluster.global.tile.mbarrier::complete_tx::bytes
/// [dst], [map, {c..}], [bar]`: the box at the coordinates, zeros outside the tensor, written
/// with the 128-byte swizzle; its bytes complete on the barrier.
#[allow(clippy::too_many_arguments)]
pub(super) fn tma_load(
    i: &Inst,
    t: &Thread,
    value: impl Fn(&Thread, &Opnd) -> u64,
    mem: &Memory,
    params: &[u8],
    smem: &mut [u8],
    bars: &mut Barriers,
) {
    let mem_at = |a: &Arg| match a {
        Arg::Mem(o, off) => value(t, o).wrapping_add(*off as u64),
        a => panic!("{a:?}"),
    };
    let dst = mem_at(&i.args[0]) as usize;
    let bar = mem_at(&i.args[2]);
    let Arg::Tensor(map_op, coords) = &i.args[1] else {
        panic!("tensor operand {:?}", i.args[1])
    };
    let map_at = value(t, map_op);
    let map = if map_at >= PARAM_BASE {
        let o = (map_at - PARAM_BASE) as usize;
        assert_eq!(o % 64, 0, "a tensor map must be 64-byte aligned");
        decode_map(&params[o..o + 128])
    } else {
        decode_map(mem.read(map_at, 128))
    };
    let rank: usize = i.parts[4].trim_end_matches('d').parse().unwrap();
    assert_eq!(rank, map.rank, "copy rank and map rank differ");
    assert_eq!(coords.len(), rank);
    assert_eq!(
        dst % 1024,
        0,
        "a 128-byte-swizzled box starts on a 1024-byte boundary"
    );
    assert_eq!(map.box_dims[0] as usize * 2, SWIZZLE_BYTES);
    let c: Vec<i64> = coords
        .iter()
        .map(|o| value(t, o) as u32 as i32 as i64)
        .collect();
    let [b0, b1, b2] = map.box_dims.map(|b| b as usize);
    let b2 = if rank == 3 { b2 } else { 1 };
    for z in 0..b2 {
        for y in 0..b1 {
            for x in 0..b0 {
                let g = [
                    c[0] + x as i64,
                    c[1] + y as i64,
                    c.get(2).map_or(0, |&c2| c2 + z as i64),
                ];
                let inside = (0..rank).all(|d| g[d] >= 0 && (g[d] as u64) < map.dims[d]);
                let v = if inside {
                    let at = map.address
                        + g[0] as u64 * 2
                        + g[1] as u64 * map.strides[0]
                        + g[2] as u64 * map.strides[1];
                    let b = mem.read(at, 2);
                    [b[0], b[1]]
                } else {
                    [0, 0]
                };
                let off = ((z * b1 + y) * b0 + x) * 2;
                let s = swizzle128(dst + off);
                smem[s..s + 2].copy_from_slice(&v);
            }
        }
    }
    bars.complete_tx(bar, (b0 * b1 * b2 * 2) as i64);
}

/// A decoded shared-memory matrix descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Desc {
    start: usize,
    lbo: usize,
    sbo: usize,
    swizzle128: bool,
}

fn decode(desc: u64) -> Desc {
    let mode = desc >> 62;
    assert!(
        mode == 0 || mode == 1,
        "only no swizzle and the 128-byte swizzle are emulated"
    );
    assert_eq!((desc >> 49) & 7, 0, "base offset");
    let f = |shift: u32| ((desc >> shift) & 0x3FFF) as usize * 16;
    Desc {
        start: f(0),
        lbo: f(16),
        sbo: f(32),
        swizzle128: mode == 1,
    }
}

/// The shared address of element (`r`: m or n, `c`: k) of an operand, read as the PTX ISA's
/// canonical layouts ("Shared Memory Matrix Layout", "Strides"): without swizzle, K-major
/// core matrices `start + (r/8)·SBO + (c/8)·LBO + (r%8)·16 + (c%8)·2`; with the 128-byte
/// swizzle, K-major `((8,m),(T,2k)):((8T,SBO),(1,T))` (128-byte rows, SBO between groups of
/// 8, LBO unused) and MN-major `((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))` (64 contiguous m/n
/// values per 128-byte row, one row per k, SBO between groups of 8 k, LBO between groups of
/// 64 m/n), each address then swizzled.
fn element_at(d: Desc, mn_major: bool, r: usize, c: usize) -> usize {
    match (d.swizzle128, mn_major) {
        (false, false) => d.start + (r / 8) * d.sbo + (c / 8) * d.lbo + (r % 8) * 16 + (c % 8) * 2,
        (false, true) => panic!("MN-major without swizzle is not emulated"),
        (true, false) => {
            assert!(
                d.start % 128 + 32 <= 128,
                "a k16 step of a K-major swizzled tile stays inside its 128-byte row"
            );
            swizzle128(d.start + (r / 8) * d.sbo + (r % 8) * 128 + c * 2)
        }
        (true, true) => {
            swizzle128(d.start + (r / 64) * d.lbo + (r % 64) * 2 + (c / 8) * d.sbo + (c % 8) * 128)
        }
    }
}

/// `wgmma.mma_async.sync.aligned.m64nNk16.f32.{bf16,f16}` with both operands in shared memory,
/// on the 128 threads of a warpgroup. D register v of thread t (warp w, lane l): row
/// 16w + l/4 + 8·((v/2) mod 2), column 8·(v/4) + 2·(l mod 4) + (v mod 2) (the `.m64nNk16`
/// register fragments of the PTX ISA).
pub(super) fn wgmma(i: &Inst, group: &mut [Thread], smem: &[u8]) {
    let reg = |o: &Opnd| match o {
        Opnd::Reg(k, n) => (*k, *n),
        o => panic!("{o:?}"),
    };
    let shape = i.parts[4].as_str();
    let n: usize = shape[shape.find('n').unwrap() + 1..shape.find('k').unwrap()]
        .parse()
        .unwrap();
    assert!(
        shape.starts_with("m64") && shape.ends_with("k16"),
        "wgmma shape {shape}"
    );
    assert_eq!(i.parts[5], "f32", "wgmma accumulator");
    let ty = i.parts[6].clone();
    let Arg::List(d) = &i.args[0] else { panic!() };
    let d: Vec<(usize, usize)> = d.iter().map(reg).collect();
    assert_eq!(d.len(), n / 2, "wgmma m64n{n}: n/2 accumulators");
    let op = |a: &Arg| match a {
        Arg::Op(o) => o.clone(),
        a => panic!("{a:?}"),
    };
    let (da, db, sd) = (
        reg(&op(&i.args[1])),
        reg(&op(&i.args[2])),
        reg(&op(&i.args[3])),
    );
    let imm: Vec<u64> = i.args[4..8]
        .iter()
        .map(|a| match a {
            Arg::Op(Opnd::Imm(v)) => *v,
            a => panic!("{a:?}"),
        })
        .collect();
    assert_eq!(&imm[..2], &[1, 1], "wgmma: scales 1");
    let (ta, tb) = (imm[2] == 1, imm[3] == 1);
    let (a_desc, b_desc) = (
        decode(group[0].regs[da.0][da.1]),
        decode(group[0].regs[db.0][db.1]),
    );
    for t in group.iter() {
        assert_eq!(
            (decode(t.regs[da.0][da.1]), decode(t.regs[db.0][db.1])),
            (a_desc, b_desc),
            "descriptors differ across the warpgroup"
        );
    }
    let elem = |desc: Desc, mn_major: bool, r: usize, c: usize| -> f64 {
        let at = element_at(desc, mn_major, r, c);
        conv(&ty, u16::from_le_bytes([smem[at], smem[at + 1]]) as u64)
    };
    for (tid, t) in group.iter_mut().enumerate() {
        let (w, l) = (tid / 32, tid % 32);
        let accumulate = t.regs[sd.0][sd.1] != 0;
        for (v, &(k, r)) in d.iter().enumerate() {
            let row = 16 * w + l / 4 + 8 * ((v / 2) % 2);
            let col = 8 * (v / 4) + 2 * (l % 4) + v % 2;
            let mut s = 0f64;
            for kk in 0..16 {
                s += elem(a_desc, ta, row, kk) * elem(b_desc, tb, col, kk);
            }
            let old = if accumulate {
                f32::from_bits(t.regs[k][r] as u32) as f64
            } else {
                0.0
            };
            t.regs[k][r] = ((old + s) as f32).to_bits() as u64;
        }
    }
}

#[test]
fn maps_round_trip_and_the_swizzle_permutes_chunks_within_rows() {
    let m = TensorMapSpec {
        dtype: DType::BF16,
        rank: 3,
        address: 0x12340,
        dims: [100, 70, 3],
        strides: [208, 70 * 208],
        box_dims: [64, 128, 1],
    };
    assert_eq!(decode_map(&encode_map(&m).0), m);
    // Row r's chunk j lands at chunk j ^ (r % 8) of the same row.
    for r in 0..16usize {
        for j in 0..8usize {
            assert_eq!(swizzle128(128 * r + 16 * j), 128 * r + 16 * (j ^ (r % 8)));
        }
    }
}
