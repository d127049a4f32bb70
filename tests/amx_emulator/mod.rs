//! A test-only emulator of the instructions tpp's AMX kernels emit, so that the differential
//! tests run the exact tile code on CPUs without AMX (Intel SDE is not available here).
//!
//! It decodes with iced-x86 and executes general-purpose moves, arithmetic, shifts, `lea`,
//! compares and branches, `push`/`pop`, `ret`, prefetches, the tile instructions (`tiles.rs`), and
//! `call reg` into code outside the kernel — the AVX-512 finishing kernels, already tested on
//! their own — natively, with the emulated `rdi` as the argument. Memory is the process's own
//! (the kernel's pointers are real); the stack is a buffer of the emulator's. Anything else
//! is an error naming the instruction, never a guess. After a native call the caller-saved
//! registers are overwritten with garbage, so a kernel that keeps state in them fails.

#![allow(dead_code)]

mod tiles;

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use std::ffi::c_void;
use tiles::Tiles;

/// What a run executed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub instructions: u64,
    pub tile_dots: u64,
    pub native_calls: u64,
}

const RETURN_SENTINEL: u64 = 0x5e47_1e00_0000_0000;
const STACK_WORDS: usize = 1 << 16;
const CALLER_SAVED: [usize; 9] = [0, 1, 2, 6, 7, 8, 9, 10, 11];
const LIMIT: u64 = 2_000_000_000;

struct Cpu {
    gpr: [u64; 16],
    zf: bool,
    cf: bool,
    sf: bool,
    of: bool,
    tiles: Tiles,
    stats: Stats,
    /// The stack buffer's bounds.
    stack: (u64, u64),
}

/// The register's number and size in bytes (64- and 32-bit general-purpose registers only).
fn gpr(r: Register) -> Result<(usize, usize), String> {
    if (Register::RAX..=Register::R15).contains(&r) {
        Ok((r as usize - Register::RAX as usize, 8))
    } else if (Register::EAX..=Register::R15D).contains(&r) {
        Ok((r as usize - Register::EAX as usize, 4))
    } else {
        Err(format!(
            "register {r:?} is not a 64- or 32-bit general-purpose register"
        ))
    }
}

impl Cpu {
    fn reg(&self, r: Register) -> Result<u64, String> {
        let (i, size) = gpr(r)?;
        let v = self.gpr[i];
        Ok(if size == 4 { v & 0xffff_ffff } else { v })
    }
    fn set_reg(&mut self, r: Register, v: u64) -> Result<(), String> {
        let (i, size) = gpr(r)?;
        // A 32-bit write zero-extends.
        self.gpr[i] = if size == 4 { v & 0xffff_ffff } else { v };
        Ok(())
    }

    fn addr(&self, i: &Instruction) -> Result<u64, String> {
        if i.memory_base() == Register::RIP {
            // iced resolves RIP-relative displacements to the absolute address.
            return Ok(i.memory_displacement64());
        }
        let base = match i.memory_base() {
            Register::None => 0,
            r => self.reg(r)?,
        };
        let index = match i.memory_index() {
            Register::None => 0,
            r => self.reg(r)?.wrapping_mul(u64::from(i.memory_index_scale())),
        };
        Ok(base
            .wrapping_add(index)
            .wrapping_add(i.memory_displacement64()))
    }

    /// The operand's size in bytes (registers and memory; immediates take the other's).
    fn size(&self, i: &Instruction) -> Result<usize, String> {
        match i.op_kind(0) {
            OpKind::Register => Ok(gpr(i.op_register(0))?.1),
            OpKind::Memory => Ok(i.memory_size().size()),
            k => Err(format!("{:?}: operand 0 is {k:?}", i.code())),
        }
    }

    /// Operand `n` as a value.
    unsafe fn read(&self, i: &Instruction, n: u32, size: usize) -> Result<u64, String> {
        let v = match i.op_kind(n) {
            OpKind::Register => self.reg(i.op_register(n))?,
            OpKind::Memory => {
                let p = self.addr(i)?;
                match size {
                    8 => (p as *const u64).read_unaligned(),
                    4 => u64::from((p as *const u32).read_unaligned()),
                    _ => return Err(format!("{:?}: {size}-byte memory", i.code())),
                }
            }
            OpKind::Immediate8
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32
            | OpKind::Immediate32to64
            | OpKind::Immediate64 => i.immediate(n),
            k => return Err(format!("{:?}: operand {n} is {k:?}", i.code())),
        };
        Ok(if size == 4 { v & 0xffff_ffff } else { v })
    }

    unsafe fn write(&mut self, i: &Instruction, v: u64, size: usize) -> Result<(), String> {
        match i.op_kind(0) {
            OpKind::Register => self.set_reg(i.op_register(0), v),
            OpKind::Memory => {
                let p = self.addr(i)?;
                match size {
                    8 => (p as *mut u64).write_unaligned(v),
                    4 => (p as *mut u32).write_unaligned(v as u32),
                    _ => return Err(format!("{:?}: {size}-byte memory", i.code())),
                }
                Ok(())
            }
            k => Err(format!("{:?}: destination {k:?}", i.code())),
        }
    }

    /// ZF, SF from a result of `size` bytes.
    fn set_zs(&mut self, r: u64, size: usize) {
        let bits = 8 * size as u32;
        let r = if bits == 64 {
            r
        } else {
            r & ((1u64 << bits) - 1)
        };
        self.zf = r == 0;
        self.sf = r >> (bits - 1) & 1 == 1;
    }

    /// `a − b` with the flags of `sub`/`cmp`.
    fn sub_flags(&mut self, a: u64, b: u64, size: usize) -> u64 {
        let r = a.wrapping_sub(b);
        let bits = 8 * size as u32;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        self.cf = (a & mask) < (b & mask);
        let sign = |x: u64| x >> (bits - 1) & 1 == 1;
        self.of = sign(a) != sign(b) && sign(r) != sign(a);
        self.set_zs(r, size);
        r & mask
    }

    fn add_flags(&mut self, a: u64, b: u64, size: usize) -> u64 {
        let bits = 8 * size as u32;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let r = a.wrapping_add(b) & mask;
        self.cf = r < (a & mask);
        let sign = |x: u64| x >> (bits - 1) & 1 == 1;
        self.of = sign(a) == sign(b) && sign(r) != sign(a);
        self.set_zs(r, size);
        r
    }

    fn logic_flags(&mut self, r: u64, size: usize) {
        self.cf = false;
        self.of = false;
        self.set_zs(r, size);
    }

    unsafe fn push(&mut self, v: u64) -> Result<(), String> {
        self.gpr[4] = self.gpr[4].wrapping_sub(8);
        self.stack_ok()?;
        (self.gpr[4] as *mut u64).write(v);
        Ok(())
    }
    unsafe fn pop(&mut self) -> Result<u64, String> {
        self.stack_ok()?;
        let v = (self.gpr[4] as *const u64).read();
        self.gpr[4] += 8;
        Ok(v)
    }
    /// rsp inside the emulator's stack buffer.
    fn stack_ok(&self) -> Result<(), String> {
        if (self.stack.0..self.stack.1).contains(&self.gpr[4]) {
            Ok(())
        } else {
            Err(format!("rsp {:#x} left the stack", self.gpr[4]))
        }
    }

    fn tile(i: &Instruction, n: u32) -> Result<usize, String> {
        let r = i.op_register(n);
        if (Register::TMM0..=Register::TMM7).contains(&r) {
            Ok(r as usize - Register::TMM0 as usize)
        } else {
            Err(format!("{:?}: operand {n} is not a tile", i.code()))
        }
    }

    /// TILELOADD/TILESTORED addressing: `base + disp`, row stride = the index register.
    fn tile_mem(&self, i: &Instruction) -> Result<(u64, u64), String> {
        let base = match i.memory_base() {
            Register::None => 0,
            r => self.reg(r)?,
        };
        let stride = match i.memory_index() {
            Register::None => 0,
            r => self.reg(r)? << i.memory_index_scale().trailing_zeros(),
        };
        Ok((base.wrapping_add(i.memory_displacement64()), stride))
    }
}

/// Runs the kernel `code` (an `extern "C" fn(*const A)`) on `arg` under emulation.
///
/// # Safety
/// `arg` must be what the kernel expects (its pointers valid for what the kernel reads and
/// writes), as for calling the kernel natively.
pub unsafe fn run(code: &[u8], arg: *const c_void) -> Result<Stats, String> {
    let base = code.as_ptr() as u64;
    let mut stack = vec![0u64; STACK_WORDS];
    // Distinct values, so that a register restored into the wrong place is caught.
    let mut gpr = [0u64; 16];
    for (i, g) in gpr.iter_mut().enumerate() {
        *g = 0x0bad_0000_0000_0000 | (i as u64) << 32 | 0x600d;
    }
    let mut cpu = Cpu {
        gpr,
        zf: false,
        cf: false,
        sf: false,
        of: false,
        tiles: Tiles::new(),
        stats: Stats::default(),
        stack: (0, 0),
    };
    // Entry: rsp is 8 mod 16 (the return address on a 16-aligned stack).
    let bottom = stack.as_mut_ptr() as u64;
    let top = (stack.as_mut_ptr().add(STACK_WORDS - 2) as u64) & !15;
    cpu.stack = (bottom, top + 8);
    cpu.gpr[4] = top;
    cpu.push(RETURN_SENTINEL)?;
    cpu.gpr[7] = arg as u64;
    let callee_saved_in: Vec<u64> = [3, 5, 12, 13, 14, 15].map(|r| cpu.gpr[r]).to_vec();
    let mut dec = Decoder::with_ip(64, code, base, DecoderOptions::NONE);
    let mut i = Instruction::default();
    loop {
        if !dec.can_decode() {
            return Err(format!("ran past the end of the code at {:#x}", dec.ip()));
        }
        dec.decode_out(&mut i);
        if i.is_invalid() {
            return Err(format!("invalid instruction at offset {}", i.ip() - base));
        }
        cpu.stats.instructions += 1;
        if cpu.stats.instructions > LIMIT {
            return Err("instruction limit reached (an endless loop?)".into());
        }
        let mut jump: Option<u64> = None;
        let at = i.ip() - base;
        let e = |msg: String| format!("offset {at}: {msg}");
        match i.mnemonic() {
            Mnemonic::Push => {
                let v = cpu.read(&i, 0, 8).map_err(e)?;
                cpu.push(v).map_err(e)?;
            }
            Mnemonic::Pop => {
                let v = cpu.pop().map_err(e)?;
                cpu.write(&i, v, 8).map_err(e)?;
            }
            Mnemonic::Mov => {
                let size = cpu.size(&i).map_err(e)?;
                let v = cpu.read(&i, 1, size).map_err(e)?;
                cpu.write(&i, v, size).map_err(e)?;
            }
            Mnemonic::Lea => {
                let v = cpu.addr(&i).map_err(e)?;
                let size = cpu.size(&i).map_err(e)?;
                cpu.write(&i, v, size).map_err(e)?;
            }
            m @ (Mnemonic::Add | Mnemonic::Sub | Mnemonic::Cmp) => {
                let size = cpu.size(&i).map_err(e)?;
                let a = cpu.read(&i, 0, size).map_err(e)?;
                let b = cpu.read(&i, 1, size).map_err(e)?;
                let r = if m == Mnemonic::Add {
                    cpu.add_flags(a, b, size)
                } else {
                    cpu.sub_flags(a, b, size)
                };
                if m != Mnemonic::Cmp {
                    cpu.write(&i, r, size).map_err(e)?;
                }
            }
            m @ (Mnemonic::Xor | Mnemonic::And | Mnemonic::Or | Mnemonic::Test) => {
                let size = cpu.size(&i).map_err(e)?;
                let a = cpu.read(&i, 0, size).map_err(e)?;
                let b = cpu.read(&i, 1, size).map_err(e)?;
                let r = match m {
                    Mnemonic::Xor => a ^ b,
                    Mnemonic::Or => a | b,
                    _ => a & b,
                };
                cpu.logic_flags(r, size);
                if m != Mnemonic::Test {
                    cpu.write(&i, r, size).map_err(e)?;
                }
            }
            m @ (Mnemonic::Inc | Mnemonic::Dec) => {
                let size = cpu.size(&i).map_err(e)?;
                let a = cpu.read(&i, 0, size).map_err(e)?;
                // inc/dec keep CF.
                let cf = cpu.cf;
                let r = if m == Mnemonic::Inc {
                    cpu.add_flags(a, 1, size)
                } else {
                    cpu.sub_flags(a, 1, size)
                };
                cpu.cf = cf;
                cpu.write(&i, r, size).map_err(e)?;
            }
            Mnemonic::Imul => {
                let size = cpu.size(&i).map_err(e)?;
                let (x, y) = if i.op_count() == 3 {
                    (
                        cpu.read(&i, 1, size).map_err(e)?,
                        cpu.read(&i, 2, size).map_err(e)?,
                    )
                } else if i.op_count() == 2 {
                    (
                        cpu.read(&i, 0, size).map_err(e)?,
                        cpu.read(&i, 1, size).map_err(e)?,
                    )
                } else {
                    return Err(e("one-operand imul".into()));
                };
                cpu.write(&i, x.wrapping_mul(y), size).map_err(e)?;
            }
            m @ (Mnemonic::Shl | Mnemonic::Shr) => {
                let size = cpu.size(&i).map_err(e)?;
                let a = cpu.read(&i, 0, size).map_err(e)?;
                // The count is masked to 5 bits for 32-bit operands, 6 for 64-bit; a zero
                // count leaves the flags alone; CF is the last bit shifted out (OF, defined
                // only for 1-bit shifts, is not modelled: the kernels never branch on it).
                let bits = 8 * size as u32;
                let n = cpu.read(&i, 1, 1).map_err(e)? as u32 & (bits - 1);
                if n > 0 {
                    let r = if m == Mnemonic::Shl { a << n } else { a >> n };
                    cpu.cf = if m == Mnemonic::Shl {
                        a >> (bits - n) & 1 == 1
                    } else {
                        a >> (n - 1) & 1 == 1
                    };
                    cpu.write(&i, r, size).map_err(e)?;
                    cpu.set_zs(r, size);
                }
            }
            m @ (Mnemonic::Jmp
            | Mnemonic::Jne
            | Mnemonic::Je
            | Mnemonic::Jb
            | Mnemonic::Jae
            | Mnemonic::Jl
            | Mnemonic::Jge) => {
                if i.op_kind(0) != OpKind::NearBranch64 {
                    return Err(e(format!("indirect {m:?}")));
                }
                let taken = match m {
                    Mnemonic::Jmp => true,
                    Mnemonic::Jne => !cpu.zf,
                    Mnemonic::Je => cpu.zf,
                    Mnemonic::Jb => cpu.cf,
                    Mnemonic::Jae => !cpu.cf,
                    Mnemonic::Jl => cpu.sf != cpu.of,
                    _ => cpu.sf == cpu.of,
                };
                if taken {
                    jump = Some(i.near_branch64());
                }
            }
            Mnemonic::Call => {
                let target = match i.op_kind(0) {
                    OpKind::Register => cpu.reg(i.op_register(0)).map_err(e)?,
                    OpKind::NearBranch64 => i.near_branch64(),
                    k => return Err(e(format!("call through {k:?}"))),
                };
                if (base..base + code.len() as u64).contains(&target) {
                    cpu.push(i.next_ip()).map_err(e)?;
                    jump = Some(target);
                } else {
                    if !cpu.gpr[4].is_multiple_of(16) {
                        return Err(e("call with rsp not 16-byte aligned".into()));
                    }
                    // SAFETY: the kernel calls one of tpp's own eltwise kernels, whose ABI
                    // is `extern "C" fn(*const Args)`, with rdi pointing at its args.
                    let f: unsafe extern "C" fn(*const c_void) = std::mem::transmute(target);
                    f(cpu.gpr[7] as *const c_void);
                    cpu.stats.native_calls += 1;
                    for r in CALLER_SAVED {
                        cpu.gpr[r] = 0xdead_beef_dead_beef;
                    }
                    // The callee may use the stack below rsp: so must the emulated one look.
                    let below = (cpu.gpr[4] - cpu.stack.0) as usize / 8;
                    std::slice::from_raw_parts_mut(cpu.stack.0 as *mut u64, below)
                        .fill(0xdead_beef_dead_beef);
                }
            }
            Mnemonic::Ret => {
                let to = cpu.pop().map_err(e)?;
                if to == RETURN_SENTINEL {
                    if cpu.gpr[4] != top {
                        return Err(e("returned with a different rsp".into()));
                    }
                    let now: Vec<u64> = [3, 5, 12, 13, 14, 15].map(|r| cpu.gpr[r]).to_vec();
                    if now != callee_saved_in {
                        return Err(e("a callee-saved register was not restored".into()));
                    }
                    if cpu.tiles.configured {
                        return Err(e("returned without tilerelease".into()));
                    }
                    cpu.stats.tile_dots = cpu.tiles.dots;
                    return Ok(cpu.stats);
                }
                jump = Some(to);
            }
            Mnemonic::Ldtilecfg => {
                let p = cpu.addr(&i).map_err(e)? as *const [u8; 64];
                cpu.tiles.load_config(&p.read_unaligned()).map_err(e)?;
            }
            Mnemonic::Tilerelease => cpu.tiles.release(),
            Mnemonic::Tilezero => {
                let t = Cpu::tile(&i, 0).map_err(e)?;
                cpu.tiles.zero(t).map_err(e)?;
            }
            Mnemonic::Tileloadd => {
                let t = Cpu::tile(&i, 0).map_err(e)?;
                let (start, stride) = cpu.tile_mem(&i).map_err(e)?;
                cpu.tiles.load(t, start, stride).map_err(e)?;
            }
            Mnemonic::Tilestored => {
                let t = Cpu::tile(&i, 1).map_err(e)?;
                let (start, stride) = cpu.tile_mem(&i).map_err(e)?;
                cpu.tiles.store(t, start, stride).map_err(e)?;
            }
            m @ (Mnemonic::Tdpbf16ps
            | Mnemonic::Tdpbssd
            | Mnemonic::Tdpbsud
            | Mnemonic::Tdpbusd
            | Mnemonic::Tdpbuud) => {
                let (c, a, b) = (
                    Cpu::tile(&i, 0).map_err(e)?,
                    Cpu::tile(&i, 1).map_err(e)?,
                    Cpu::tile(&i, 2).map_err(e)?,
                );
                match m {
                    Mnemonic::Tdpbf16ps => cpu.tiles.dot_bf16(c, a, b),
                    Mnemonic::Tdpbssd => cpu.tiles.dot_int8(c, a, b, true, true),
                    Mnemonic::Tdpbsud => cpu.tiles.dot_int8(c, a, b, true, false),
                    Mnemonic::Tdpbusd => cpu.tiles.dot_int8(c, a, b, false, true),
                    _ => cpu.tiles.dot_int8(c, a, b, false, false),
                }
                .map_err(e)?;
            }
            // Hints: no architectural effect, and they never fault.
            Mnemonic::Nop | Mnemonic::Prefetcht0 => {}
            m => return Err(e(format!("{m:?} ({:?}) is not emulated", i.code()))),
        }
        if let Some(to) = jump {
            if !(base..base + code.len() as u64).contains(&to) {
                return Err(e(format!("jump outside the code to {to:#x}")));
            }
            dec.set_position((to - base) as usize)
                .map_err(|x| x.to_string())?;
            dec.set_ip(to);
        }
    }
}
