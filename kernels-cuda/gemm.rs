//! GEMM / BRGEMM on tensor cores (sm_80 `mma.sync`): a block computes a `bm × bn` tile of C
//! from a ring of shared-memory stages filled by `cp.async` (or element loads where rows are
//! not 16-byte aligned), warps read their fragments with `ldmatrix` (tf32: plain shared
//! loads) and issue `mma`; the epilogue of the shared lowering runs on the accumulators.
//!
//! The k loop runs over every (batch member, k tile) pair, so the three batch forms share
//! one pipeline: member `i`'s A and B come from a stride, an offset array or an address
//! array, read when its first tile is issued.

use super::atoms::Int8;
use super::gemm_epilogue::{Elem, Epilogue, Group};
use super::gemm_load::{OperandLoad, Storage, Thread};
use super::gemm_tiling::{MmaPath, Plan, SmemTile};
use super::ptx::{module, Declined, KernelBuilder, Launch, PtxKernel, Target, F32, R32, R64};
use crate::exec::GemmArgs;
use crate::isa::{BatchReduce, DType, GemmDesc};
use std::mem::{offset_of, size_of};

/// Choices a descriptor does not make.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GemmOptions {
    /// Round f32 inputs to tf32 and use the tensor cores (about 3 decimal digits per
    /// product); off, f32 GEMMs use full-precision FMA.
    pub tf32: bool,
}

/// The kernel's name: the descriptor's, with `_tf32` when the inputs are rounded.
pub fn kernel_name(d: &GemmDesc, target: Target, opts: GemmOptions) -> String {
    let mut name = d.kernel_name(super::families::backend_name(target));
    if opts.tf32 && d.a_dtype == DType::F32 {
        name += "_tf32";
    }
    name
}

/// Generates the kernel for `d`.
pub fn generate(d: &GemmDesc, target: Target, opts: GemmOptions) -> Result<PtxKernel, Declined> {
    let plan = Plan::of(d, opts.tf32).map_err(Declined)?;
    let name = kernel_name(d, target, opts);
    let program = if plan.path == MmaPath::Int8 {
        if d.alpha != 1.0 || !(d.beta == 0.0 || d.beta == 1.0) || d.c_dtype != DType::I32 {
            return Err(Declined("int8 GEMM: alpha 1, beta 0 or 1, i32 C".into()));
        }
        None
    } else {
        let p = crate::lower::eltwise::gemm_finish(&d.epilogue, d.alpha as f32, d.beta as f32)
            .ok_or_else(|| Declined(format!("{name}: epilogue has no micro-op program")))?;
        Some(p)
    };
    let threads = plan.tiling.threads();
    let mut k = KernelBuilder::new(&name, size_of::<GemmArgs>(), threads as u32);
    k.use_dynamic_smem();
    let frame = Frame::new(&mut k, d, &plan);
    let mut acc = Accumulators::new(&mut k, &plan);
    let lanes = Lanes::new(&mut k, &plan, frame.tid);
    frame.k_loop(&mut k, d, &plan, |k, stage| {
        if plan.path == MmaPath::SimtF32 {
            super::gemm_simt::compute_stage(k, &plan, &lanes, stage, &acc.f);
        } else {
            compute_stage(k, &plan, &lanes, stage, &mut acc, int8_types(d));
        }
    });
    let ep = frame.epilogue(&mut k, d, program);
    if plan.path == MmaPath::SimtF32 {
        super::gemm_simt::epilogue(&mut k, &plan, &lanes, &frame, &acc.f, &ep)?;
    } else {
        mma_epilogue(&mut k, &plan, &lanes, &frame, &acc, &ep)?;
    }
    let (gx, gy) = plan.tiling.grid(d.m, d.n);
    Ok(PtxKernel {
        name,
        ptx: module(target, k.finish()),
        launch: Launch {
            grid: (gx, gy, 1),
            block: (threads as u32, 1, 1),
            smem_bytes: plan.smem_bytes() as u32,
        },
        target,
    })
}

/// The accumulators: f32 for the float paths, s32 for int8, `[mi][nj][4]`.
pub struct Accumulators {
    /// f32 accumulators (float paths), flattened `(mi·ni + nj)·4 + r`.
    pub f: Vec<F32>,
    /// s32 accumulators (int8).
    pub i: Vec<R32>,
}

impl Accumulators {
    fn new(k: &mut KernelBuilder, plan: &Plan) -> Self {
        let t = plan.tiling;
        let count = if plan.path == MmaPath::SimtF32 {
            t.bm * t.bn / t.threads()
        } else {
            (t.warp_m() / 16) * (t.warp_n() / 8) * 4
        };
        let mut acc = Accumulators {
            f: vec![],
            i: vec![],
        };
        for _ in 0..count {
            if plan.path == MmaPath::Int8 {
                let r = k.r32();
                k.inst(format!("mov.b32 {r}, 0"));
                acc.i.push(r);
            } else {
                let r = k.f32();
                k.inst(format!("mov.f32 {r}, 0f00000000"));
                acc.f.push(r);
            }
        }
        acc
    }
}

/// Per-thread offsets into the operand tiles (bytes) and the thread's place in the block.
pub struct Lanes {
    /// Byte offset of this lane's A fragment address inside the A tile.
    pub a: R32,
    /// Likewise for B.
    pub b: R32,
    /// `%laneid / 4` (mma) or the thread's row group (SIMT).
    pub g: R32,
    /// `%laneid % 4` (mma) or the thread's column group (SIMT).
    pub t: R32,
    /// The warp's (or thread's) first row inside the block tile.
    pub row0: R32,
    /// The warp's (or thread's) first column inside the block tile.
    pub col0: R32,
}

impl Lanes {
    fn new(k: &mut KernelBuilder, plan: &Plan, tid: R32) -> Self {
        if plan.path == MmaPath::SimtF32 {
            return super::gemm_simt::lanes(k, plan, tid);
        }
        let t = plan.tiling;
        let (lane, warp) = (k.r32(), k.r32());
        k.inst(format!("and.b32 {lane}, {tid}, 31"));
        k.inst(format!("shr.u32 {warp}, {tid}, 5"));
        let (wm, wn) = (k.r32(), k.r32());
        k.inst(format!("rem.u32 {wm}, {warp}, {}", t.warps_m));
        k.inst(format!("div.u32 {wn}, {warp}, {}", t.warps_m));
        let (row0, col0) = (k.r32(), k.r32());
        k.inst(format!("mul.lo.u32 {row0}, {wm}, {}", t.warp_m()));
        k.inst(format!("mul.lo.u32 {col0}, {wn}, {}", t.warp_n()));
        let (g, tq) = (k.r32(), k.r32());
        k.inst(format!("shr.u32 {g}, {lane}, 2"));
        k.inst(format!("and.b32 {tq}, {lane}, 3"));
        let es = plan.path.elem_bytes();
        let (a, b) = if plan.path == MmaPath::Tf32 {
            (
                scalar_lane(k, plan.a, row0, g, tq, es),
                scalar_lane(k, plan.b, col0, g, tq, es),
            )
        } else {
            (
                ldmatrix_lane(k, plan.a, row0, lane, true),
                ldmatrix_lane(k, plan.b, col0, lane, false),
            )
        };
        Lanes {
            a,
            b,
            g,
            t: tq,
            row0,
            col0,
        }
    }
}

/// The byte offset of lane `l`'s `ldmatrix.x4` row address in a tile, for the warp's first
/// row/column `mn0` (module docs of [`super::atoms`] for the fragment layouts).
fn ldmatrix_lane(k: &mut KernelBuilder, tile: SmemTile, mn0: R32, lane: R32, is_a: bool) -> R32 {
    let (j, r) = (k.r32(), k.r32());
    k.inst(format!("shr.u32 {j}, {lane}, 3"));
    k.inst(format!("and.b32 {r}, {lane}, 7"));
    let (hi, lo) = (k.r32(), k.r32()); // j >> 1, j & 1
    k.inst(format!("shr.u32 {hi}, {j}, 1"));
    k.inst(format!("and.b32 {lo}, {j}, 1"));
    // (row, byte column) of the lane's 16-byte row, by operand and orientation:
    // A k-inner: row mn0 + 8·lo + r, k-byte 16·hi; A k-outer: row 8·hi + r, mn-byte 2·(mn0 + 8·lo)
    // B k-inner: row mn0 + 8·hi + r, k-byte 16·lo; B k-outer: row 8·lo + r, mn-byte 2·(mn0 + 8·hi)
    let (mn_sel, k_sel) = if is_a { (lo, hi) } else { (hi, lo) };
    let (row, col) = (k.r32(), k.r32());
    if tile.k_inner {
        k.inst(format!("mad.lo.u32 {row}, {mn_sel}, 8, {r}"));
        k.inst(format!("add.u32 {row}, {row}, {mn0}"));
        k.inst(format!("shl.b32 {col}, {k_sel}, 4"));
    } else {
        k.inst(format!("mad.lo.u32 {row}, {k_sel}, 8, {r}"));
        k.inst(format!("mad.lo.u32 {col}, {mn_sel}, 8, {mn0}"));
        k.inst(format!("shl.b32 {col}, {col}, 1"));
    }
    let off = k.r32();
    k.inst(format!(
        "mad.lo.u32 {off}, {row}, {}, {col}",
        tile.row_bytes
    ));
    off
}

/// The byte offset of the lane's first tf32 fragment element: (mn0 + g, t) in (mn, k).
fn scalar_lane(k: &mut KernelBuilder, tile: SmemTile, mn0: R32, g: R32, t: R32, es: usize) -> R32 {
    let mn = k.r32();
    k.inst(format!("add.u32 {mn}, {mn0}, {g}"));
    let off = k.r32();
    if tile.k_inner {
        k.inst(format!("mul.lo.u32 {off}, {t}, {es}"));
        k.inst(format!("mad.lo.u32 {off}, {mn}, {}, {off}", tile.row_bytes));
    } else {
        k.inst(format!("mul.lo.u32 {off}, {mn}, {es}"));
        k.inst(format!("mad.lo.u32 {off}, {t}, {}, {off}", tile.row_bytes));
    }
    off
}

/// Byte offset of element `(mn, kk)` of a tile relative to the lane's base.
fn tile_offset(tile: SmemTile, mn: usize, kk: usize, es: usize) -> usize {
    if tile.k_inner {
        mn * tile.row_bytes + kk * es
    } else {
        kk * tile.row_bytes + mn * es
    }
}

fn compute_stage(
    k: &mut KernelBuilder,
    plan: &Plan,
    lanes: &Lanes,
    stage: R32,
    acc: &mut Accumulators,
    int8: (Int8, Int8),
) {
    let t = plan.tiling;
    let (mi_n, ni_n) = (t.warp_m() / 16, t.warp_n() / 8);
    let es = plan.path.elem_bytes();
    let (a_base, b_base) = (k.r32(), k.r32());
    k.inst(format!("add.u32 {a_base}, {stage}, {}", lanes.a));
    k.inst(format!("add.u32 {b_base}, {stage}, {}", lanes.b));
    let b_stage = plan.a.bytes();
    let kstep = plan.path.k_step();
    for s in 0..t.bk / kstep {
        let kk = s * kstep;
        // A fragments of every mi.
        let a: Vec<[R32; 4]> = (0..mi_n)
            .map(|mi| {
                let regs = [k.r32(), k.r32(), k.r32(), k.r32()];
                if plan.path == MmaPath::Tf32 {
                    for (r, &reg) in regs.iter().enumerate() {
                        let off = tile_offset(plan.a, mi * 16 + 8 * (r & 1), kk + 4 * (r >> 1), es);
                        k.inst(format!("ld.shared.b32 {reg}, [{a_base}+{off}]"));
                        k.cvt_rna_tf32_f32(reg, reg);
                    }
                } else {
                    let off = tile_offset(plan.a, mi * 16, kk, es);
                    let addr = k.r32();
                    k.inst(format!("add.u32 {addr}, {a_base}, {off}"));
                    if plan.a.k_inner {
                        k.ldmatrix_x4_b16(regs, addr);
                    } else {
                        k.ldmatrix_x4_trans_b16(regs, addr);
                    }
                }
                regs
            })
            .collect();
        // B fragments of every nj (ldmatrix.x4 loads two n8 tiles).
        let mut b: Vec<[R32; 2]> = Vec::new();
        if plan.path == MmaPath::Tf32 {
            for nj in 0..ni_n {
                let regs = [k.r32(), k.r32()];
                for (r, &reg) in regs.iter().enumerate() {
                    let off = b_stage + tile_offset(plan.b, nj * 8, kk + 4 * r, es);
                    k.inst(format!("ld.shared.b32 {reg}, [{b_base}+{off}]"));
                    k.cvt_rna_tf32_f32(reg, reg);
                }
                b.push(regs);
            }
        } else {
            for p in 0..ni_n / 2 {
                let regs = [k.r32(), k.r32(), k.r32(), k.r32()];
                let off = b_stage + tile_offset(plan.b, p * 16, kk, es);
                let addr = k.r32();
                k.inst(format!("add.u32 {addr}, {b_base}, {off}"));
                if plan.b.k_inner {
                    k.ldmatrix_x4_b16(regs, addr);
                } else {
                    k.ldmatrix_x4_trans_b16(regs, addr);
                }
                b.push([regs[0], regs[1]]);
                b.push([regs[2], regs[3]]);
            }
        }
        for (mi, a) in a.iter().enumerate() {
            for (nj, b) in b.iter().enumerate() {
                let at = (mi * ni_n + nj) * 4;
                match plan.path {
                    MmaPath::Int8 => {
                        let c: [R32; 4] = acc.i[at..at + 4].try_into().expect("4 accumulators");
                        let (ta, tb) = int8;
                        k.mma_m16n8k32_s32_int8_int8_s32(ta, tb, c, *a, *b, c);
                    }
                    path => {
                        let c: [F32; 4] = acc.f[at..at + 4].try_into().expect("4 accumulators");
                        match path {
                            MmaPath::Bf16 => k.mma_m16n8k16_f32_bf16_bf16_f32(c, *a, *b, c),
                            MmaPath::F16 => k.mma_m16n8k16_f32_f16_f16_f32(c, *a, *b, c),
                            _ => k.mma_m16n8k8_f32_tf32_tf32_f32(c, *a, *b, c),
                        }
                    }
                }
            }
        }
    }
}

/// The signedness of the int8 operands.
fn int8_types(d: &GemmDesc) -> (Int8, Int8) {
    let t = |x: DType| if x == DType::U8 { Int8::U8 } else { Int8::S8 };
    (t(d.a_dtype), t(d.b_dtype))
}

fn mma_epilogue(
    k: &mut KernelBuilder,
    plan: &Plan,
    lanes: &Lanes,
    frame: &Frame,
    acc: &Accumulators,
    ep: &Epilogue,
) -> Result<(), Declined> {
    let t = plan.tiling;
    let (row_base, byte_base) = (k.r32(), k.r32());
    k.inst(format!("add.u32 {row_base}, {}, {}", frame.m0, lanes.row0));
    k.inst(format!("add.u32 {row_base}, {row_base}, {}", lanes.g));
    k.inst(format!("add.u32 {byte_base}, {}, {}", frame.n0, lanes.col0));
    let tile = FragmentTile {
        row_base,
        byte_base,
        t: lanes.t,
        mi_n: t.warp_m() / 16,
        ni_n: t.warp_n() / 8,
    };
    fragment_epilogue(k, &tile, &acc.f, &acc.i, ep)
}

/// A warp's accumulators laid out as `mi_n × ni_n` m16n8 C fragments (the `mma.sync` C
/// layout, which is also each warp's share of a `wgmma` m64nN accumulator).
pub struct FragmentTile {
    /// The lane's first row of C: the warp's first row + `%laneid / 4`.
    pub row_base: R32,
    /// The warp's first column of C.
    pub byte_base: R32,
    /// `%laneid % 4`.
    pub t: R32,
    /// m16 fragments along m.
    pub mi_n: usize,
    /// n8 fragments along n.
    pub ni_n: usize,
}

/// The shared epilogue over a warp's fragments: accumulator `(mi·ni_n + nj)·4 + r` (f32 in
/// `acc_f`, or s32 in `acc_i` for int8) holds row `g + 8·(r >> 1)`, column `2t + (r & 1)` of
/// fragment `(mi, nj)`.
pub fn fragment_epilogue(
    k: &mut KernelBuilder,
    tile: &FragmentTile,
    acc_f: &[F32],
    acc_i: &[R32],
    ep: &Epilogue,
) -> Result<(), Declined> {
    let (mi_n, ni_n) = (tile.mi_n, tile.ni_n);
    let (row_base, byte_base) = (tile.row_base, tile.byte_base);
    let col_base = k.r32();
    k.inst(format!("mad.lo.u32 {col_base}, {}, 2, {byte_base}", tile.t));
    let (bit0, bit1, two_t) = (k.r32(), k.r32(), k.r32());
    k.inst(format!("shl.b32 {two_t}, {}, 1", tile.t));
    k.inst(format!("shl.b32 {bit0}, 1, {two_t}"));
    k.inst(format!("shl.b32 {bit1}, {bit0}, 1"));
    let writer = k.pred();
    k.inst(format!("setp.eq.u32 {writer}, {}, 0", tile.t));
    for mi in 0..mi_n {
        for nj in 0..ni_n {
            for h in 0..2 {
                let row = k.r32();
                k.inst(format!("add.u32 {row}, {row_base}, {}", mi * 16 + 8 * h));
                let byte_col = k.r32();
                k.inst(format!("add.u32 {byte_col}, {byte_base}, {}", nj * 8));
                let elems = (0..2)
                    .map(|c| {
                        let r = 2 * h + c;
                        let at = (mi * ni_n + nj) * 4 + r;
                        let col = k.r32();
                        k.inst(format!("add.u32 {col}, {col_base}, {}", nj * 8 + c));
                        let accr = if acc_i.is_empty() {
                            let v = k.r32();
                            k.inst(format!("mov.b32 {v}, {}", acc_f[at]));
                            v
                        } else {
                            acc_i[at]
                        };
                        Elem {
                            acc: accr,
                            col,
                            bit: if c == 0 { bit0 } else { bit1 },
                        }
                    })
                    .collect();
                ep.emit(
                    k,
                    &Group {
                        row,
                        byte_col,
                        elems,
                        xors: vec![1, 2],
                        writer,
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// The block's place, the arguments, and the pipelined loop over (member, k tile) pairs.
pub struct Frame {
    /// `%tid.x`.
    pub tid: R32,
    /// The block's first row of C.
    pub m0: R32,
    /// The block's first column of C.
    pub n0: R32,
    a: R64,
    b: R64,
    c: R64,
    a_offsets: R64,
    b_offsets: R64,
    batch: R32,
    bias: R64,
    mask: R64,
    smem: R32,
}

impl Frame {
    fn new(k: &mut KernelBuilder, d: &GemmDesc, plan: &Plan) -> Frame {
        let tid = k.special("%tid.x");
        let (cx, cy) = (k.special("%ctaid.x"), k.special("%ctaid.y"));
        let (m0, n0) = (k.r32(), k.r32());
        k.inst(format!("mul.lo.u32 {m0}, {cy}, {}", plan.tiling.bm));
        k.inst(format!("mul.lo.u32 {n0}, {cx}, {}", plan.tiling.bn));
        let a = k.arg_u64(offset_of!(GemmArgs, a));
        let b = k.arg_u64(offset_of!(GemmArgs, b));
        let c = k.arg_u64(offset_of!(GemmArgs, c));
        let a_offsets = k.arg_u64(offset_of!(GemmArgs, a_offsets));
        let b_offsets = k.arg_u64(offset_of!(GemmArgs, b_offsets));
        let batch = if d.batch == BatchReduce::None {
            k.imm32(1)
        } else {
            // The host checks that batch · k tiles fits in 31 bits.
            let b64 = k.arg_u64(offset_of!(GemmArgs, batch));
            let r = k.r32();
            k.inst(format!("cvt.u32.u64 {r}, {b64}"));
            r
        };
        let bias = k.arg_u64(offset_of!(GemmArgs, bias));
        let mask = k.arg_u64(offset_of!(GemmArgs, relu_mask));
        let smem = k.smem_address(0);
        Frame {
            tid,
            m0,
            n0,
            a,
            b,
            c,
            a_offsets,
            b_offsets,
            batch,
            bias,
            mask,
            smem,
        }
    }

    /// The base of batch member `i` of an operand.
    fn member(&self, k: &mut KernelBuilder, d: &GemmDesc, i: R32, is_a: bool) -> R64 {
        let (base, offsets) = if is_a {
            (self.a, self.a_offsets)
        } else {
            (self.b, self.b_offsets)
        };
        let es = if is_a {
            d.a_dtype.size()
        } else {
            d.b_dtype.size()
        } as u64;
        match d.batch {
            BatchReduce::None => base,
            BatchReduce::Stride { a, b } => {
                let stride = if is_a { a } else { b } as u64 * es;
                let i64 = k.r64();
                k.inst(format!("cvt.u64.u32 {i64}, {i}"));
                k.address64(base, i64, stride)
            }
            BatchReduce::Offsets => {
                let at = k.address(offsets, i, 8);
                let off = k.r64();
                k.inst(format!("ld.global.u64 {off}, [{at}]"));
                k.address64(base, off, es)
            }
            BatchReduce::Addresses => {
                let at = k.address(base, i, 8);
                let p = k.r64();
                k.inst(format!("ld.global.u64 {p}, [{at}]"));
                p
            }
        }
    }

    fn loads(d: &GemmDesc, plan: &Plan) -> (OperandLoad, OperandLoad) {
        let es = plan.path.elem_bytes();
        let a = OperandLoad {
            tile: plan.a,
            storage: if d.trans_a {
                Storage::KOuter
            } else {
                Storage::KInner
            },
            ld: d.lda,
            es,
            mn_limit: d.m,
            k_limit: d.k,
            stage_offset: 0,
        };
        let b = OperandLoad {
            tile: plan.b,
            storage: Storage::of_b(d.b_layout, d.trans_b),
            ld: d.ldb,
            es,
            mn_limit: d.n,
            k_limit: d.k,
            stage_offset: plan.a.bytes(),
        };
        (a, b)
    }

    /// Issues the loads of tile (`member`, `kt`) into the stage at `stage`.
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        k: &mut KernelBuilder,
        d: &GemmDesc,
        plan: &Plan,
        member: R32,
        kt: R32,
        stage: R32,
    ) {
        let (la, lb) = Self::loads(d, plan);
        let th = Thread {
            tid: self.tid,
            threads: plan.tiling.threads(),
        };
        let k0 = k.r32();
        k.inst(format!("mul.lo.u32 {k0}, {kt}, {}", plan.tiling.bk));
        for (load, vector, is_a, mn0) in [
            (la, plan.a_vector, true, self.m0),
            (lb, plan.b_vector, false, self.n0),
        ] {
            let base = self.member(k, d, member, is_a);
            if vector {
                // The member's base must be 16-byte aligned too (offsets and addresses are
                // only known here); a misaligned one takes the element loads.
                let (low, slow, done) = (k.r64(), k.label(), k.label());
                k.inst(format!("and.b64 {low}, {base}, 15"));
                let p = k.pred();
                k.inst(format!("setp.ne.u64 {p}, {low}, 0"));
                k.branch_if(p, false, slow);
                load.vector(k, th, base, mn0, k0, stage);
                k.branch(done);
                k.place(slow);
                load.scalar(k, th, base, mn0, k0, stage);
                k.place(done);
            } else {
                load.scalar(k, th, base, mn0, k0, stage);
            }
        }
    }

    /// The pipelined loop; `compute(k, stage)` consumes the stage at shared address `stage`.
    fn k_loop(
        &self,
        k: &mut KernelBuilder,
        d: &GemmDesc,
        plan: &Plan,
        mut compute: impl FnMut(&mut KernelBuilder, R32),
    ) {
        let stages = plan.tiling.stages;
        let stage_bytes = plan.stage_bytes();
        let ktiles = d.k.div_ceil(plan.tiling.bk);
        let total = k.r32();
        k.inst(format!("mul.lo.u32 {total}, {}, {ktiles}", self.batch));
        // Load cursor: (member, k tile), tiles issued, stage written next.
        let (member, kt, issued, load_stage, comp_stage) =
            (k.imm32(0), k.imm32(0), k.imm32(0), k.r32(), k.r32());
        k.inst(format!("mov.u32 {load_stage}, {}", self.smem));
        k.inst(format!("mov.u32 {comp_stage}, {}", self.smem));
        let ring_end = stage_bytes * stages;
        let issue_next = |k: &mut KernelBuilder| {
            let (skip, more) = (k.label(), k.pred());
            k.inst(format!("setp.lt.u32 {more}, {issued}, {total}"));
            k.branch_if(more, true, skip);
            self.issue(k, d, plan, member, kt, load_stage);
            // Advance the cursor.
            k.inst(format!("add.u32 {kt}, {kt}, 1"));
            let wrap = k.pred();
            k.inst(format!("setp.eq.u32 {wrap}, {kt}, {ktiles}"));
            k.inst_if(wrap, false, format!("mov.u32 {kt}, 0"));
            k.inst_if(wrap, false, format!("add.u32 {member}, {member}, 1"));
            k.inst(format!("add.u32 {issued}, {issued}, 1"));
            rotate(k, load_stage, self.smem, stage_bytes, ring_end);
            k.place(skip);
            k.cp_async_commit_group();
        };
        k.comment("prologue: fill all stages but one");
        for _ in 0..stages - 1 {
            issue_next(k);
        }
        k.comment("main loop");
        let (top, end) = (k.label(), k.label());
        let t = k.imm32(0);
        k.place(top);
        let done = k.pred();
        k.inst(format!("setp.ge.u32 {done}, {t}, {total}"));
        k.branch_if(done, false, end);
        k.cp_async_wait_group(stages as u32 - 2);
        k.bar_sync();
        issue_next(k);
        compute(k, comp_stage);
        rotate(k, comp_stage, self.smem, stage_bytes, ring_end);
        k.inst(format!("add.u32 {t}, {t}, 1"));
        k.branch(top);
        k.place(end);
        k.cp_async_wait_group(0);
    }

    fn epilogue(
        &self,
        k: &mut KernelBuilder,
        d: &GemmDesc,
        program: Option<crate::lower::Program>,
    ) -> Epilogue {
        let _ = k;
        epilogue_of(d, program, self.c, self.bias, self.mask)
    }
}

/// The epilogue of `d` over the C, bias and mask pointers (`program`: the float paths'
/// micro-op program, `None` for int8).
pub fn epilogue_of(
    d: &GemmDesc,
    program: Option<crate::lower::Program>,
    c: R64,
    bias: R64,
    mask: R64,
) -> Epilogue {
    Epilogue {
        int_beta: program.is_none() && d.beta == 1.0,
        program,
        c,
        c_dtype: d.c_dtype,
        c_layout: d.c_layout,
        ldc: d.ldc,
        m: d.m,
        n: d.n,
        bias: d.epilogue.bias.map(|b| (bias, b.broadcast, b.dtype)),
        mask: d
            .epilogue
            .activation
            .writes_mask()
            .then_some((mask, d.epilogue.mask_ld)),
    }
}

/// `stage += bytes`, wrapping to `base` at `base + end`.
fn rotate(k: &mut KernelBuilder, stage: R32, base: R32, bytes: usize, end: usize) {
    k.inst(format!("add.u32 {stage}, {stage}, {bytes}"));
    let (lim, wrap) = (k.r32(), k.pred());
    k.inst(format!("add.u32 {lim}, {base}, {end}"));
    k.inst(format!("setp.eq.u32 {wrap}, {stage}, {lim}"));
    k.inst_if(wrap, false, format!("mov.u32 {stage}, {base}"));
}
