//! The micro-op programs of [`crate::lower`] as PTX, one element at a time: every `V` becomes
//! a fresh `.b32` virtual register and every `K` a predicate (ptxas allocates the physical
//! registers and hoists the constants), and the operations the program leaves to its caller —
//! where an operand lives, the bitmasks, the element position, the seed — go through
//! [`Ports`], which the eltwise loop driver and the GEMM epilogue each implement.

use super::ptx::{f32_imm, Declined, KernelBuilder, Pred, R16, R32, R64};
use crate::isa::{CmpOp, DType};
use crate::lower::{BinOp, IntOp, MicroOp, Port, Program, UnOp};

/// What a program reads and writes outside its registers, for the element being computed.
pub trait Ports {
    /// `dst` = element `(i, j)` of `port` as f32 bits.
    fn load(&mut self, k: &mut KernelBuilder, port: Port, dst: R32) -> Result<(), Declined>;
    /// Element `(i, j)` of `port` = `src` (f32 bits), converted to the port's dtype.
    fn store(&mut self, k: &mut KernelBuilder, port: Port, src: R32) -> Result<(), Declined>;
    /// `dst` = bit `(i, j)` of the input bitmask.
    fn load_mask(&mut self, k: &mut KernelBuilder, dst: Pred) -> Result<(), Declined>;
    /// Bit `(i, j)` of the output bitmask = `src`.
    fn store_mask(&mut self, k: &mut KernelBuilder, src: Pred) -> Result<(), Declined>;
    /// The element's position `i·cols + j` (mod 2³²).
    fn position(&mut self, k: &mut KernelBuilder) -> Result<R32, Declined>;
    /// The low or high half of the run-time seed.
    fn seed(&mut self, k: &mut KernelBuilder, high: bool) -> Result<R32, Declined>;
    /// Folds `src` into row accumulator `acc` (only equation passes have accumulators).
    fn accumulate(&mut self, _k: &mut KernelBuilder, acc: u16, _src: R32) -> Result<(), Declined> {
        Err(Declined(format!(
            "row accumulator {acc}: this kernel has no row accumulators"
        )))
    }
}

/// Emits `program` for one element.
pub fn emit(
    k: &mut KernelBuilder,
    program: &Program,
    ports: &mut dyn Ports,
) -> Result<(), Declined> {
    let mut regs = Registers::for_program(program);
    emit_selected(k, program, ports, &mut regs, &|_| true)
}

/// The PTX register of each virtual register of one program, kept across the phases of
/// [`emit_selected`] (a value computed once per row is read by the code of every element).
#[derive(Clone, Debug)]
pub struct Registers {
    v: Vec<Option<R32>>,
    p: Vec<Option<Pred>>,
}

impl Registers {
    /// No register written yet.
    pub fn for_program(program: &Program) -> Self {
        Registers {
            v: vec![None; program.vregs as usize],
            p: vec![None; program.kregs as usize],
        }
    }
}

/// Emits the ops of `program` whose index `select` accepts, in order, reading and writing the
/// registers of `regs` (so a caller can emit the loop-invariant ops once, the per-row ops at
/// each row's start and the rest for every element).
pub fn emit_selected(
    k: &mut KernelBuilder,
    program: &Program,
    ports: &mut dyn Ports,
    regs: &mut Registers,
    select: &dyn Fn(usize) -> bool,
) -> Result<(), Declined> {
    let Registers { v, p } = regs;
    let get = |v: &[Option<R32>], x: crate::lower::V| {
        v[x.0 as usize].ok_or_else(|| Declined(format!("program reads {x:?} before writing it")))
    };
    let getk = |p: &[Option<Pred>], x: crate::lower::K| {
        p[x.0 as usize].ok_or_else(|| Declined(format!("program reads {x:?} before writing it")))
    };
    for (index, op) in program.ops.iter().enumerate() {
        if !select(index) {
            continue;
        }
        match *op {
            MicroOp::Load { dst, port } => {
                let r = k.r32();
                ports.load(k, port, r)?;
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::Store { src, port } => ports.store(k, port, get(v, src)?)?,
            MicroOp::Accumulate { src, acc } => ports.accumulate(k, acc, get(v, src)?)?,
            MicroOp::LoadMask { dst } => {
                let q = k.pred();
                ports.load_mask(k, q)?;
                p[dst.0 as usize] = Some(q);
            }
            MicroOp::StoreMask { src } => ports.store_mask(k, getk(p, src)?)?,
            MicroOp::Const { dst, value } => {
                let r = k.r32();
                k.inst(format!("mov.b32 {r}, {}", f32_imm(value)));
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::ConstBits { dst, bits } => {
                v[dst.0 as usize] = Some(k.imm32(bits));
            }
            MicroOp::Un { dst, op, a } => {
                let (r, a) = (k.r32(), get(v, a)?);
                k.inst(match op {
                    // Bit operations, so that NaN payloads pass unchanged.
                    UnOp::Neg => format!("xor.b32 {r}, {a}, 0x80000000"),
                    UnOp::Abs => format!("and.b32 {r}, {a}, 0x7FFFFFFF"),
                    UnOp::Sqrt => format!("sqrt.rn.f32 {r}, {a}"),
                });
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::Bin { dst, op, a, b } => {
                let (a, b) = (get(v, a)?, get(v, b)?);
                let r = binary(k, op, a, b);
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::Fma {
                dst,
                a,
                b,
                c,
                negate,
            } => {
                let (mut a, b, c) = (get(v, a)?, get(v, b)?, get(v, c)?);
                if negate {
                    // c − a·b = fma(−a, b, c): the sign flip is exact, the rounding single.
                    let n = k.r32();
                    k.inst(format!("xor.b32 {n}, {a}, 0x80000000"));
                    a = n;
                }
                let r = k.r32();
                k.inst(format!("fma.rn.f32 {r}, {a}, {b}, {c}"));
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::Cmp { dst, op, a, b } => {
                let (a, b) = (get(v, a)?, get(v, b)?);
                let q = k.pred();
                // Ordered comparisons are false on NaN; `Ne` is the unordered one (NaN ≠ x).
                let c = match op {
                    CmpOp::Eq => "eq",
                    CmpOp::Lt => "lt",
                    CmpOp::Le => "le",
                    CmpOp::Ne => "neu",
                    CmpOp::Ge => "ge",
                    CmpOp::Gt => "gt",
                };
                k.inst(format!("setp.{c}.f32 {q}, {a}, {b}"));
                p[dst.0 as usize] = Some(q);
            }
            MicroOp::Select { dst, k: c, a, b } => {
                let (c, a, b) = (getk(p, c)?, get(v, a)?, get(v, b)?);
                let r = k.r32();
                k.inst(format!("selp.b32 {r}, {a}, {b}, {c}"));
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::Position { dst } => v[dst.0 as usize] = Some(ports.position(k)?),
            MicroOp::Seed { dst, high } => v[dst.0 as usize] = Some(ports.seed(k, high)?),
            MicroOp::Int { dst, op, a, b } => {
                let (a, b) = (get(v, a)?, get(v, b)?);
                let r = k.r32();
                k.inst(match op {
                    IntOp::Mul => format!("mul.lo.u32 {r}, {a}, {b}"),
                    IntOp::Xor => format!("xor.b32 {r}, {a}, {b}"),
                });
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::ShrImm { dst, a, shift } => {
                let (a, r) = (get(v, a)?, k.r32());
                k.inst(format!("shr.u32 {r}, {a}, {shift}"));
                v[dst.0 as usize] = Some(r);
            }
            MicroOp::UGe { dst, a, b } => {
                let (a, b) = (get(v, a)?, get(v, b)?);
                let q = k.pred();
                k.inst(format!("setp.ge.u32 {q}, {a}, {b}"));
                p[dst.0 as usize] = Some(q);
            }
        }
    }
    Ok(())
}

fn binary(k: &mut KernelBuilder, op: BinOp, a: R32, b: R32) -> R32 {
    let r = k.r32();
    match op {
        // `.rn` also forbids ptxas from contracting a product and a sum into one fma, which
        // the program's rounding contract does not allow.
        BinOp::Add => k.inst(format!("add.rn.f32 {r}, {a}, {b}")),
        BinOp::Sub => k.inst(format!("sub.rn.f32 {r}, {a}, {b}")),
        BinOp::Mul => k.inst(format!("mul.rn.f32 {r}, {a}, {b}")),
        BinOp::Div => k.inst(format!("div.rn.f32 {r}, {a}, {b}")),
        BinOp::Max => k.inst(format!("max.NaN.f32 {r}, {a}, {b}")),
        BinOp::Min => k.inst(format!("min.NaN.f32 {r}, {a}, {b}")),
        BinOp::CopySign => {
            let (m, s) = (k.r32(), k.r32());
            k.inst(format!("and.b32 {m}, {a}, 0x7FFFFFFF"));
            k.inst(format!("and.b32 {s}, {b}, 0x80000000"));
            k.inst(format!("or.b32 {r}, {m}, {s}"));
        }
        BinOp::Scalef => scalef(k, r, a, b),
    }
    r
}

/// `r = a · 2^floor(b)` with the x86 `vscalefps` special cases. The exponent is clamped to
/// ±378 (enough to overflow or underflow any finite f32) and applied as three normal powers
/// of two, so no intermediate overflows; only a result in the subnormal range may be
/// rounded twice (an error below 2⁻¹²⁶ in absolute terms).
fn scalef(k: &mut KernelBuilder, r: R32, a: R32, b: R32) {
    let (nf, n, n1, rest, n2, n3) = (k.r32(), k.r32(), k.r32(), k.r32(), k.r32(), k.r32());
    k.inst(format!("cvt.rmi.f32.f32 {nf}, {b}"));
    k.inst(format!("max.f32 {nf}, {nf}, {}", f32_imm(-378.0)));
    k.inst(format!("min.f32 {nf}, {nf}, {}", f32_imm(378.0)));
    k.inst(format!("cvt.rzi.s32.f32 {n}, {nf}"));
    k.inst(format!("div.s32 {n1}, {n}, 3"));
    k.inst(format!("sub.s32 {rest}, {n}, {n1}"));
    k.inst(format!("div.s32 {n2}, {rest}, 2"));
    k.inst(format!("sub.s32 {n3}, {rest}, {n2}"));
    let mut acc = a;
    for part in [n1, n2, n3] {
        let (e, t) = (k.r32(), k.r32());
        k.inst(format!("add.s32 {e}, {part}, 127"));
        k.inst(format!("shl.b32 {e}, {e}, 23"));
        k.inst(format!("mul.rn.f32 {t}, {acc}, {e}"));
        acc = t;
    }
    // 0·2^+∞ and ∞·2^−∞ are NaN; a NaN exponent gives NaN.
    let (p_inf, p_zero, p_ninf, p_ainf, p_nan) = (k.pred(), k.pred(), k.pred(), k.pred(), k.pred());
    let abs = k.r32();
    k.inst(format!("setp.eq.f32 {p_inf}, {b}, 0f7F800000"));
    k.inst(format!("setp.eq.f32 {p_zero}, {a}, 0f00000000"));
    k.inst(format!("and.pred {p_inf}, {p_inf}, {p_zero}"));
    k.inst(format!("setp.eq.f32 {p_ninf}, {b}, 0fFF800000"));
    k.inst(format!("and.b32 {abs}, {a}, 0x7FFFFFFF"));
    k.inst(format!("setp.eq.f32 {p_ainf}, {abs}, 0f7F800000"));
    k.inst(format!("and.pred {p_ninf}, {p_ninf}, {p_ainf}"));
    k.inst(format!("or.pred {p_inf}, {p_inf}, {p_ninf}"));
    k.inst(format!("testp.notanumber.f32 {p_nan}, {b}"));
    let t = k.r32();
    k.inst(format!("selp.b32 {t}, 0x7FC00000, {acc}, {p_inf}"));
    k.inst(format!("selp.b32 {r}, {b}, {t}, {p_nan}"));
}

/// `dst` = the element of `dtype` at the global address `addr`, as f32 bits (exact).
pub fn load_f32(k: &mut KernelBuilder, dtype: DType, addr: R64, dst: R32) -> Result<(), Declined> {
    match dtype {
        DType::F32 => k.inst(format!("ld.global.b32 {dst}, [{addr}]")),
        DType::BF16 => {
            k.inst(format!("ld.global.u16 {dst}, [{addr}]"));
            k.inst(format!("shl.b32 {dst}, {dst}, 16"));
        }
        DType::F16 => {
            let h = k.r16();
            k.inst(format!("ld.global.b16 {h}, [{addr}]"));
            k.inst(format!("cvt.f32.f16 {dst}, {h}"));
        }
        d => return Err(Declined(format!("no f32 load of {d}"))),
    }
    Ok(())
}

/// The element of `dtype` at `addr` = `src` (f32 bits), rounded to nearest even.
pub fn store_f32(k: &mut KernelBuilder, dtype: DType, addr: R64, src: R32) -> Result<(), Declined> {
    match dtype {
        DType::F32 => k.inst(format!("st.global.b32 [{addr}], {src}")),
        DType::BF16 | DType::F16 => {
            let h: R16 = k.r16();
            let t = if dtype == DType::BF16 { "bf16" } else { "f16" };
            k.inst(format!("cvt.rn.{t}.f32 {h}, {src}"));
            k.inst(format!("st.global.b16 [{addr}], {h}"));
        }
        d => return Err(Declined(format!("no f32 store to {d}"))),
    }
    Ok(())
}
