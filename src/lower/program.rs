//! The vector micro-op program: a short, backend-neutral list of lane-wise operations that an
//! eltwise TPP (or a GEMM epilogue, or a fused chain) is lowered to once, in generic Rust.
//! A backend implements these operations and a 2D loop driver, and gets every op for free.
//!
//! **Execution model.** The program runs once for every vector of columns `j..j+W` of every
//! row `i` of the `rows × cols` space (W lanes, the backend's vector width; lanes past `cols`
//! are inactive: they are never stored and never fault). Registers are virtual: `V` holds W
//! f32 lanes (or u32 lanes for the integer ops), `K` holds W lane predicates. Arithmetic is
//! IEEE f32 with round to nearest even; operations marked *exact* below must be correctly
//! rounded, the others state their semantics.

use crate::isa::CmpOp;

/// A virtual vector register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct V(pub u16);

/// A virtual lane-predicate register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct K(pub u16);

/// A kernel operand that loads and stores address at `(i, j)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// Input 0 (`in` of a unary, `in0` of a binary or ternary).
    In0,
    /// Input 1.
    In1,
    /// Input 2.
    In2,
    /// The forward input of a backward op.
    Aux,
    /// The output (also readable, for `out += a·b`).
    Out,
    /// Operand `n` of a program kernel's port table (equations: inputs, outputs and scratch,
    /// each with its own dtype, broadcast and leading dimension).
    Buf(u16),
}

/// The fold of a row accumulator ([`MicroOp::Accumulate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fold {
    /// `Σ` (identity 0).
    Sum,
    /// Maximum, NaN if any lane is NaN (identity −∞).
    Max,
    /// Minimum, NaN if any lane is NaN (identity +∞).
    Min,
}

/// Lane-wise unary operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `−a` (flips the sign bit, NaN included).
    Neg,
    /// `|a|` (clears the sign bit).
    Abs,
    /// `√a`, exact.
    Sqrt,
}

/// Lane-wise binary operations on f32 lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `a + b`, exact.
    Add,
    /// `a − b`, exact.
    Sub,
    /// `a · b`, exact.
    Mul,
    /// `a / b`, exact.
    Div,
    /// `max(a, b)`; NaN if either is NaN.
    Max,
    /// `min(a, b)`; NaN if either is NaN.
    Min,
    /// `a · 2^floor(b)` without intermediate overflow (x86 `vscalefps` semantics: NaN in
    /// either gives NaN, `b = +inf` gives `±inf` or NaN for `a = 0`, `b = −inf` gives `±0`).
    Scalef,
    /// `|a|` with the sign of `b`.
    CopySign,
}

/// Lane-wise integer operations on u32 lanes (the bits of a `V`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntOp {
    /// Low 32 bits of the product.
    Mul,
    /// Bitwise xor.
    Xor,
}

/// One micro-op (`dst` is written; `a`, `b`, `c`, `k`, `src` are read).
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum MicroOp {
    /// `dst` = element `(i, j)` of `port`, converted exactly from the port's dtype (f32, bf16
    /// or f16) to f32, broadcast as the port's layout says.
    Load { dst: V, port: Port },
    /// Element `(i, j)` of `port` = `src` converted to the port's dtype (round to nearest even),
    /// for the active lanes.
    Store { src: V, port: Port },
    /// `dst` = bit `(i, j)` of the input bitmask.
    LoadMask { dst: K },
    /// Bit `(i, j)` of the output bitmask = `src` (inactive lanes write 0 bits, see the
    /// mask contract in [`crate::isa::bitmask`]).
    StoreMask { src: K },
    /// `dst` = the f32 constant in every lane (a backend may hoist it out of the loops).
    Const { dst: V, value: f32 },
    /// `dst` = the u32 constant in every lane.
    ConstBits { dst: V, bits: u32 },
    /// Lane-wise unary op.
    Un { dst: V, op: UnOp, a: V },
    /// Lane-wise binary op.
    Bin { dst: V, op: BinOp, a: V, b: V },
    /// `a·b + c` (or `c − a·b` when `negate`), rounded once.
    Fma {
        dst: V,
        a: V,
        b: V,
        c: V,
        negate: bool,
    },
    /// `dst` = `a op b` (IEEE: false when either is NaN, except `Ne`).
    Cmp { dst: K, op: CmpOp, a: V, b: V },
    /// `dst` = `k ? a : b`, lane by lane.
    Select { dst: V, k: K, a: V, b: V },
    /// u32 lanes: `(i·cols + j + lane) mod 2³²`, the element's position in the space.
    Position { dst: V },
    /// u32 lanes: the low (or high) half of the run-time seed argument.
    Seed { dst: V, high: bool },
    /// u32 lanes: `a op b`.
    Int { dst: V, op: IntOp, a: V, b: V },
    /// u32 lanes: `a >> shift` (logical).
    ShrImm { dst: V, a: V, shift: u8 },
    /// `dst` = `a >= b` as unsigned u32 lanes.
    UGe { dst: K, a: V, b: V },
    /// Folds the active lanes of `src` into row accumulator `acc`. The kernel's spec declares
    /// each accumulator's fold (sum, NaN-propagating max or min) and the f32 column vector its
    /// result goes to: the fold starts from its identity at every row and its value is stored
    /// at element `i` of that vector after the row's last column.
    Accumulate { src: V, acc: u16 },
}

/// A lowered program: its micro-ops and how many virtual registers it uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// The operations, in order.
    pub ops: Vec<MicroOp>,
    /// Number of `V` registers (`V(0)..V(n)`).
    pub vregs: u16,
    /// Number of `K` registers.
    pub kregs: u16,
}

/// Builds programs: each call appends one micro-op writing a fresh register.
#[derive(Default)]
pub struct Builder {
    prog: Program,
}

impl Builder {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    fn v(&mut self) -> V {
        self.prog.vregs += 1;
        V(self.prog.vregs - 1)
    }

    fn k(&mut self) -> K {
        self.prog.kregs += 1;
        K(self.prog.kregs - 1)
    }

    fn push_v(&mut self, f: impl FnOnce(V) -> MicroOp) -> V {
        let dst = self.v();
        self.prog.ops.push(f(dst));
        dst
    }

    fn push_k(&mut self, f: impl FnOnce(K) -> MicroOp) -> K {
        let dst = self.k();
        self.prog.ops.push(f(dst));
        dst
    }

    /// Loads `port` at `(i, j)`.
    pub fn load(&mut self, port: Port) -> V {
        self.push_v(|dst| MicroOp::Load { dst, port })
    }
    /// Stores `src` to `port` at `(i, j)`.
    pub fn store(&mut self, src: V, port: Port) {
        self.prog.ops.push(MicroOp::Store { src, port });
    }
    /// Loads the input bitmask.
    pub fn load_mask(&mut self) -> K {
        self.push_k(|dst| MicroOp::LoadMask { dst })
    }
    /// Stores the output bitmask.
    pub fn store_mask(&mut self, src: K) {
        self.prog.ops.push(MicroOp::StoreMask { src });
    }
    /// An f32 constant.
    pub fn constant(&mut self, value: f32) -> V {
        self.push_v(|dst| MicroOp::Const { dst, value })
    }
    /// A u32 constant.
    pub fn bits(&mut self, bits: u32) -> V {
        self.push_v(|dst| MicroOp::ConstBits { dst, bits })
    }
    /// Lane-wise unary op.
    pub fn un(&mut self, op: UnOp, a: V) -> V {
        self.push_v(|dst| MicroOp::Un { dst, op, a })
    }
    /// Lane-wise binary op.
    pub fn bin(&mut self, op: BinOp, a: V, b: V) -> V {
        self.push_v(|dst| MicroOp::Bin { dst, op, a, b })
    }
    /// `a + b`.
    pub fn add(&mut self, a: V, b: V) -> V {
        self.bin(BinOp::Add, a, b)
    }
    /// `a − b`.
    pub fn sub(&mut self, a: V, b: V) -> V {
        self.bin(BinOp::Sub, a, b)
    }
    /// `a · b`.
    pub fn mul(&mut self, a: V, b: V) -> V {
        self.bin(BinOp::Mul, a, b)
    }
    /// `a / b`.
    pub fn div(&mut self, a: V, b: V) -> V {
        self.bin(BinOp::Div, a, b)
    }
    /// `a·b + c`.
    pub fn fma(&mut self, a: V, b: V, c: V) -> V {
        self.push_v(|dst| MicroOp::Fma {
            dst,
            a,
            b,
            c,
            negate: false,
        })
    }
    /// `c − a·b`.
    pub fn fnma(&mut self, a: V, b: V, c: V) -> V {
        self.push_v(|dst| MicroOp::Fma {
            dst,
            a,
            b,
            c,
            negate: true,
        })
    }
    /// Comparison to a predicate.
    pub fn cmp(&mut self, op: CmpOp, a: V, b: V) -> K {
        self.push_k(|dst| MicroOp::Cmp { dst, op, a, b })
    }
    /// `k ? a : b`.
    pub fn select(&mut self, k: K, a: V, b: V) -> V {
        self.push_v(|dst| MicroOp::Select { dst, k, a, b })
    }
    /// The element positions.
    pub fn position(&mut self) -> V {
        self.push_v(|dst| MicroOp::Position { dst })
    }
    /// Half of the run-time seed.
    pub fn seed(&mut self, high: bool) -> V {
        self.push_v(|dst| MicroOp::Seed { dst, high })
    }
    /// u32 lane op.
    pub fn int(&mut self, op: IntOp, a: V, b: V) -> V {
        self.push_v(|dst| MicroOp::Int { dst, op, a, b })
    }
    /// u32 logical right shift.
    pub fn shr(&mut self, a: V, shift: u8) -> V {
        self.push_v(|dst| MicroOp::ShrImm { dst, a, shift })
    }
    /// Folds `src` into row accumulator `acc`.
    pub fn accumulate(&mut self, src: V, acc: u16) {
        self.prog.ops.push(MicroOp::Accumulate { src, acc });
    }
    /// Unsigned `a >= b`.
    pub fn uge(&mut self, a: V, b: V) -> K {
        self.push_k(|dst| MicroOp::UGe { dst, a, b })
    }

    /// The finished program, without the operations nothing depends on (sequences create
    /// their constants freely; an unused one would still cost a register).
    pub fn finish(mut self) -> Program {
        use super::regalloc::{reads, writes};
        let (mut live_v, mut live_k) = (
            vec![false; self.prog.vregs as usize],
            vec![false; self.prog.kregs as usize],
        );
        let mut keep = vec![false; self.prog.ops.len()];
        for (i, op) in self.prog.ops.iter().enumerate().rev() {
            let needed = match writes(op) {
                (Some(v), _) => live_v[v.0 as usize],
                (_, Some(k)) => live_k[k.0 as usize],
                (None, None) => true, // stores and accumulations
            };
            if needed {
                keep[i] = true;
                let (vs, ks) = reads(op);
                vs.into_iter()
                    .flatten()
                    .for_each(|r| live_v[r.0 as usize] = true);
                ks.into_iter()
                    .flatten()
                    .for_each(|r| live_k[r.0 as usize] = true);
            }
        }
        let mut i = 0;
        self.prog.ops.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        self.prog
    }
}
