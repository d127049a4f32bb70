//! A scalar interpreter of micro-op programs: the executable definition of their semantics,
//! one lane at a time. Lowerings are tested through it without any JIT, and the error bounds
//! of the transcendental sequences are measured with it.

use super::program::{BinOp, IntOp, MicroOp, Port, Program, UnOp};

/// What one lane sees: its inputs and its place in the space.
pub struct Lane<'a> {
    /// The value a load of each port returns (already converted to f32).
    pub load: &'a dyn Fn(Port) -> f32,
    /// Bit `(i, j)` of the input bitmask.
    pub mask_in: bool,
    /// `(i·cols + j) mod 2³²`.
    pub position: u32,
    /// The run-time seed.
    pub seed: u64,
}

/// What one lane did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneOut {
    /// The values stored, in program order.
    pub stores: Vec<(Port, f32)>,
    /// The output mask bit, if the program writes one.
    pub mask_out: Option<bool>,
    /// The values folded into row accumulators, in program order.
    pub accumulated: Vec<(u16, f32)>,
}

/// `a·2^floor(b)` with `vscalefps` semantics.
pub fn scalef(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        return f32::NAN;
    }
    if b == f32::INFINITY {
        return if a == 0.0 {
            f32::NAN
        } else {
            a * f32::INFINITY
        };
    }
    if b == f32::NEG_INFINITY {
        return if a.is_infinite() { f32::NAN } else { a * 0.0 };
    }
    let n = b.floor().clamp(-400.0, 400.0) as i32;
    // Exact in f64 (a has 24 bits, the scale stays in range), then rounded once.
    (a as f64 * 2f64.powi(n)) as f32
}

/// Runs `p` for one lane.
pub fn run_lane(p: &Program, lane: &Lane) -> LaneOut {
    let mut v = vec![0u32; p.vregs as usize];
    let mut k = vec![false; p.kregs as usize];
    let mut out = LaneOut::default();
    let f = |v: &[u32], r: super::V| f32::from_bits(v[r.0 as usize]);
    for op in &p.ops {
        match *op {
            MicroOp::Load { dst, port } => v[dst.0 as usize] = (lane.load)(port).to_bits(),
            MicroOp::Store { src, port } => out.stores.push((port, f(&v, src))),
            MicroOp::LoadMask { dst } => k[dst.0 as usize] = lane.mask_in,
            MicroOp::StoreMask { src } => out.mask_out = Some(k[src.0 as usize]),
            MicroOp::Const { dst, value } => v[dst.0 as usize] = value.to_bits(),
            MicroOp::ConstBits { dst, bits } => v[dst.0 as usize] = bits,
            MicroOp::Un { dst, op, a } => {
                let x = f(&v, a);
                v[dst.0 as usize] = match op {
                    UnOp::Neg => x.to_bits() ^ 0x8000_0000,
                    UnOp::Abs => x.to_bits() & 0x7fff_ffff,
                    UnOp::Sqrt => x.sqrt().to_bits(),
                }
            }
            MicroOp::Bin { dst, op, a, b } => {
                let (x, y) = (f(&v, a), f(&v, b));
                let nan = x.is_nan() || y.is_nan();
                v[dst.0 as usize] = match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => x / y,
                    BinOp::Max if nan => f32::NAN,
                    BinOp::Max => x.max(y),
                    BinOp::Min if nan => f32::NAN,
                    BinOp::Min => x.min(y),
                    BinOp::Scalef => scalef(x, y),
                    BinOp::CopySign => x.copysign(y),
                }
                .to_bits()
            }
            MicroOp::Fma {
                dst,
                a,
                b,
                c,
                negate,
            } => {
                let (x, y, z) = (f(&v, a), f(&v, b), f(&v, c));
                let r = if negate {
                    (-x).mul_add(y, z)
                } else {
                    x.mul_add(y, z)
                };
                v[dst.0 as usize] = r.to_bits();
            }
            MicroOp::Cmp { dst, op, a, b } => {
                k[dst.0 as usize] = op.eval(f(&v, a) as f64, f(&v, b) as f64)
            }
            MicroOp::Select { dst, k: c, a, b } => {
                v[dst.0 as usize] = if k[c.0 as usize] {
                    v[a.0 as usize]
                } else {
                    v[b.0 as usize]
                }
            }
            MicroOp::Position { dst } => v[dst.0 as usize] = lane.position,
            MicroOp::Seed { dst, high } => {
                v[dst.0 as usize] = if high {
                    (lane.seed >> 32) as u32
                } else {
                    lane.seed as u32
                }
            }
            MicroOp::Int { dst, op, a, b } => {
                let (x, y) = (v[a.0 as usize], v[b.0 as usize]);
                v[dst.0 as usize] = match op {
                    IntOp::Mul => x.wrapping_mul(y),
                    IntOp::Xor => x ^ y,
                }
            }
            MicroOp::ShrImm { dst, a, shift } => v[dst.0 as usize] = v[a.0 as usize] >> shift,
            MicroOp::UGe { dst, a, b } => k[dst.0 as usize] = v[a.0 as usize] >= v[b.0 as usize],
            MicroOp::Accumulate { src, acc } => out.accumulated.push((acc, f(&v, src))),
        }
    }
    out
}

/// Runs a program that maps one input (`Port::In0`) to one stored value, on `x`.
pub fn eval1(p: &Program, x: f32) -> f32 {
    let load = move |_: Port| x;
    let lane = Lane {
        load: &load,
        mask_in: false,
        position: 0,
        seed: 0,
    };
    run_lane(p, &lane).stores.last().map_or(f32::NAN, |s| s.1)
}
