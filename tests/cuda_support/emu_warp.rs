//! The interpreter's warp-collective instructions (split from [`super::emu`]): `shfl`,
//! `vote`, `bar.warp.sync`, `ldmatrix` and the `mma.sync` shapes, executed once all 32 lanes
//! of a warp reached them, with the fragment layouts of the PTX ISA; and the element
//! conversions the MMA units share.

use super::emu::{bf16_to_f32, Arg, Inst, Opnd, Thread};

/// The warp-wide instructions, on 32 lanes that all reached `i`.
pub(super) fn collective(i: &Inst, lanes: &mut [Thread], smem: &[u8]) {
    let reg = |o: &Opnd| match o {
        Opnd::Reg(k, n) => (*k, *n),
        o => panic!("{o:?}"),
    };
    let list = |n: usize| match &i.args[n] {
        Arg::List(v) => v.iter().map(reg).collect::<Vec<_>>(),
        o => panic!("{o:?}"),
    };
    match i.parts[0].as_str() {
        "shfl" => {
            let (d, s) = match (&i.args[0], &i.args[1]) {
                (Arg::Op(d), Arg::Op(s)) => (reg(d), reg(s)),
                _ => panic!(),
            };
            let Arg::Op(Opnd::Imm(m)) = &i.args[2] else {
                panic!()
            };
            let vals: Vec<u64> = lanes.iter().map(|t| t.regs[s.0][s.1]).collect();
            for (l, t) in lanes.iter_mut().enumerate() {
                t.regs[d.0][d.1] = vals[l ^ *m as usize];
            }
        }
        "bar" => {}
        "vote" => {
            // vote.sync.ballot.b32 d, p, membermask: bit l of d = p of lane l.
            let (d, q) = match (&i.args[0], &i.args[1]) {
                (Arg::Op(d), Arg::Op(q)) => (reg(d), reg(q)),
                _ => panic!(),
            };
            let ballot = lanes
                .iter()
                .enumerate()
                .fold(0u64, |b, (l, t)| b | ((t.regs[q.0][q.1] != 0) as u64) << l);
            for t in lanes.iter_mut() {
                t.regs[d.0][d.1] = ballot;
            }
        }
        "ldmatrix" => {
            let trans = i.parts.contains(&"trans".to_string());
            let d = list(0);
            let Arg::Mem(base, off) = &i.args[1] else {
                panic!()
            };
            let rows: Vec<usize> = lanes
                .iter()
                .map(|t| {
                    let Opnd::Reg(k, n) = base else { panic!() };
                    (t.regs[*k][*n] as i64 + off) as usize
                })
                .collect();
            let elem = |m: usize, r: usize, c: usize| -> u16 {
                let a = rows[8 * m + r] + 2 * c;
                u16::from_le_bytes([smem[a], smem[a + 1]])
            };
            for (l, t) in lanes.iter_mut().enumerate() {
                for (m, &(k, n)) in d.iter().enumerate() {
                    let (r, c) = (l / 4, 2 * (l % 4));
                    let (lo, hi) = if trans {
                        (elem(m, c, r), elem(m, c + 1, r))
                    } else {
                        (elem(m, r, c), elem(m, r, c + 1))
                    };
                    t.regs[k][n] = lo as u64 | (hi as u64) << 16;
                }
            }
        }
        "mma" => {
            let shape = i.parts[3].as_str();
            let (d, a, b, c) = (list(0), list(1), list(2), list(3));
            let types: Vec<&str> = i.parts[6..].iter().map(|s| s.as_str()).collect();
            let get = |l: usize, r: (usize, usize)| lanes[l].regs[r.0][r.1];
            // (row, k) → value of A, (k, n) → value of B, from the fragment layouts.
            let mut out = vec![[0u64; 4]; 32];
            let (kdim, int) = match shape {
                "m16n8k16" => (16, false),
                "m16n8k8" => (8, false),
                _ => (32, true),
            };
            let a_val = |row: usize, k: usize| -> f64 {
                let g = row % 8;
                match shape {
                    "m16n8k16" => {
                        let (t, reg, half) = ((k % 8) / 2, (row / 8) + 2 * (k / 8), k % 2);
                        let v = get(4 * g + t, a[reg]) >> (16 * half) & 0xffff;
                        conv(types[1], v)
                    }
                    "m16n8k8" => {
                        let (t, reg) = (k % 4, (row / 8) + 2 * (k / 4));
                        conv("tf32", get(4 * g + t, a[reg]))
                    }
                    _ => {
                        let (t, reg, byte) = ((k % 16) / 4, (row / 8) + 2 * (k / 16), k % 4);
                        conv(types[1], get(4 * g + t, a[reg]) >> (8 * byte) & 0xff)
                    }
                }
            };
            let b_val = |k: usize, n: usize| -> f64 {
                match shape {
                    "m16n8k16" => {
                        let (t, reg, half) = ((k % 8) / 2, k / 8, k % 2);
                        conv(types[2], get(4 * n + t, b[reg]) >> (16 * half) & 0xffff)
                    }
                    "m16n8k8" => conv("tf32", get(4 * n + k % 4, b[k / 4])),
                    _ => {
                        let (t, reg, byte) = ((k % 16) / 4, k / 16, k % 4);
                        conv(types[2], get(4 * n + t, b[reg]) >> (8 * byte) & 0xff)
                    }
                }
            };
            for (l, o) in out.iter_mut().enumerate() {
                let (g, t) = (l / 4, l % 4);
                for (r, slot) in o.iter_mut().enumerate() {
                    let (row, col) = (g + 8 * (r / 2), 2 * t + r % 2);
                    let mut s = 0f64;
                    for k in 0..kdim {
                        s += a_val(row, k) * b_val(k, col);
                    }
                    let cv = get(l, c[r]);
                    *slot = if int {
                        (cv as u32 as i32).wrapping_add(s as i64 as i32) as u32 as u64
                    } else {
                        ((f32::from_bits(cv as u32) as f64 + s) as f32).to_bits() as u64
                    };
                }
            }
            for (l, t) in lanes.iter_mut().enumerate() {
                for r in 0..4 {
                    t.regs[d[r].0][d[r].1] = out[l][r];
                }
            }
        }
        o => panic!("collective {o}"),
    }
}

pub(super) fn conv(ty: &str, v: u64) -> f64 {
    match ty {
        "bf16" => bf16_to_f32(v as u16) as f64,
        "f16" => half::f16::from_bits(v as u16).to_f32() as f64,
        "tf32" => f32::from_bits(v as u32) as f64,
        "s8" => v as u8 as i8 as f64,
        "u8" => v as u8 as f64,
        t => panic!("mma type {t}"),
    }
}
