//! GEMM / BRGEMM on sm_90a warpgroup MMA (`wgmma.mma_async`), its operands brought into
//! shared memory by the TMA unit: bf16 or f16 inputs, f32 accumulators, any output dtype,
//! layout and epilogue of [`super::gemm_epilogue`] (the shared lowering), any m, n, k.
//!
//! **Block.** A CTA computes a `128 × bn` tile of C (`bn` ∈ {64, 128, 256}, [`Plan::choose`])
//! with three roles: two *consumer* warpgroups (threads 0–255), each owning 64 rows (one
//! `m64nBNk16` accumulator of `bn/2` f32 registers per thread), and one *producer* warp
//! (threads 256–287) whose lane 0 issues every TMA copy. Two consumer warpgroups rather than
//! one warpgroup doing two m64 MMAs: the same rows per CTA with half the accumulator registers
//! per thread (128 at bn = 256, which leaves room for the epilogue without spills), and two
//! warpgroups keep the tensor cores busy while either waits.
//!
//! **Pipeline.** A ring of [`STAGES`] shared-memory stages, each holding A (128 × 64) and B
//! (bn × 64) of one k step of 64, with a *full* and an *empty* mbarrier per stage. Step `t`
//! (of `batch · ⌈k/64⌉`: the k loop runs over the batch members too, so a BRGEMM is one
//! pipeline) uses stage `t mod STAGES` in round `t div STAGES`. The producer waits until the
//! stage is empty (parity `round + 1`: the first round passes at once), arrives on the full
//! barrier expecting the stage's bytes, and issues the copies; the consumers wait on the full
//! barrier (parity `round`), issue four `wgmma` (k16 each) and commit them as one group, wait
//! until at most that group is in flight (`wait_group 1`) and then release the *previous*
//! stage (all 256 consumer threads arrive on its empty barrier).
//!
//! **Shared-memory layout** (the 128-byte swizzle, see [`super::tma`]): the TMA boxes have a
//! 128-byte (64-element) inner extent, so every operand tile is a stack of 128-byte rows,
//! swizzled in 1024-byte atoms of 8 rows. A stored `m × k` (not transposed) and B stored
//! `n × k` (transposed) are *K-major*: one box of `rows × 64 k`, row r at `128·r`; the wgmma
//! descriptor has SBO = 1024 (8 rows), LBO unused (1), and the k16 step `s` starts `32·s`
//! bytes in. A stored `k × m` (transposed) and B stored `k × n` (not transposed, the usual
//! case) are *MN-major*: boxes of `64 mn × 64 k`, 8 KiB each, k row r at `128·r`; the
//! descriptor has LBO = 8192 (between 64-wide mn blocks) and SBO = 1024 (between groups of 8
//! k rows), the transpose immediate set, and the k16 step `s` starts `2048·s` bytes in. These
//! are the canonical layouts of the PTX ISA ("Shared Memory Matrix Layout", "Strides",
//! "Matrix Descriptor Format"): K-major `((8,m),(T,2k)):((8T,SBO),(1,T))`, MN-major
//! `((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))` under `Swizzle<3,4,3>`, base offset 0 because every
//! tile starts on a 1024-byte boundary.
//!
//! **Edges and batch.** The tensor maps carry the true m, n, k (and the batch as a third
//! dimension of the stride form), so the TMA unit writes zeros past every edge and each
//! member's k tail contributes nothing; the epilogue masks the stores. What this family does
//! not take ([`select`]: offsets and address batch forms, VNNI B, rows or strides that are not
//! 16-byte multiples, other dtypes, small shapes) goes to the `mma.sync` path.
//!
//! The interpreter of the tests implements the TMA, mbarrier and swizzled wgmma readings
//! independently and runs this kernel against an f64 product; no GPU has checked it.

use super::gemm::{epilogue_of, fragment_epilogue, FragmentTile, GemmOptions};
use super::ptx::{module, Declined, KernelBuilder, Launch, PtxKernel, Target, F32, R32, R64};
use super::tma::{TensorMapBytes, TensorMapSpec, SWIZZLE_ATOM, SWIZZLE_BYTES};
use super::wgmma::WARPGROUP;
use crate::exec::GemmArgs;
use crate::isa::{BatchReduce, DType, GemmDesc, Layout};
use std::mem::{offset_of, size_of};

/// Rows of C per CTA (two consumer warpgroups of 64).
pub const BM: usize = 128;
/// k per pipeline stage: one 128-byte swizzle row of 16-bit elements.
pub const BK: usize = 64;
/// Consumer warpgroups.
pub const CONSUMERS: usize = 2;
/// Threads per CTA: the consumers and one producer warp.
pub const THREADS: usize = CONSUMERS * WARPGROUP as usize + 32;
/// Pipeline stages.
pub const STAGES: usize = 4;
/// The smallest shape worth the wgmma path: a CTA tile is 128 × ≥64 and one pipeline step
/// is 64 deep, so below 128 rows, 128 columns or one k step most of each tile (and of the
/// TMA traffic) is zero padding and the `mma.sync` path's 64 × 64 tiles (more CTAs, no
/// producer warp, no tensor-map encoding per call) do as well or better.
pub const MIN_SHAPE: (usize, usize, usize) = (128, 128, 64);
/// CTAs that keep an H100/H200 busy (132 SMs, one 128 × bn CTA each): the tiling takes the
/// widest bn whose grid still has this many.
pub const FILL_CTAS: usize = 132;

/// The argument struct of the wgmma kernels: the tensor maps of A and B (64-byte aligned,
/// encoded per call by the host from the device addresses), then the GEMM arguments of every
/// other GEMM kernel (C, bias, mask, batch count; `a` and `b` are unused by the kernel, the
/// maps carry them).
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct WgmmaGemmArgs {
    /// A's tensor map.
    pub tmap_a: TensorMapBytes,
    /// B's tensor map.
    pub tmap_b: TensorMapBytes,
    /// The common GEMM arguments.
    pub gemm: GemmArgs,
}

/// Whether an operand's tile is stored with k contiguous (K-major) or m/n contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Major {
    /// k contiguous: one box of `rows × 64`.
    K,
    /// m or n contiguous: boxes of `64 × 64`.
    MN,
}

/// The tiling of one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Columns of C per CTA (64, 128 or 256).
    pub bn: usize,
    /// A's tile orientation (MN-major when A is stored transposed).
    pub a_major: Major,
    /// B's (MN-major unless B is stored transposed).
    pub b_major: Major,
}

impl Plan {
    /// The plan for `d`: the widest `bn` whose grid has at least [`FILL_CTAS`] CTAs (wide
    /// tiles reuse each A tile more), else the narrowest (the most CTAs), and never wider
    /// than n needs.
    pub fn choose(d: &GemmDesc) -> Plan {
        let ctas = |bn: usize| d.m.div_ceil(BM) * d.n.div_ceil(bn);
        let fits = [256, 128, 64]
            .into_iter()
            .filter(|&bn| bn <= d.n.next_multiple_of(64));
        let bn = fits
            .clone()
            .find(|&bn| ctas(bn) >= FILL_CTAS)
            .or_else(|| fits.min())
            .unwrap_or(64);
        Plan {
            bn,
            a_major: if d.trans_a { Major::MN } else { Major::K },
            b_major: if d.trans_b { Major::K } else { Major::MN },
        }
    }

    /// Bytes of A in a stage.
    pub fn a_bytes(&self) -> usize {
        BM * BK * 2
    }
    /// Bytes of B in a stage.
    pub fn b_bytes(&self) -> usize {
        self.bn * BK * 2
    }
    /// Bytes of one stage (a multiple of the 1024-byte swizzle atom).
    pub fn stage_bytes(&self) -> usize {
        self.a_bytes() + self.b_bytes()
    }
    /// Dynamic shared memory: slack to align the ring to 1024 bytes, the ring, the barriers.
    pub fn smem_bytes(&self) -> usize {
        SWIZZLE_ATOM + STAGES * self.stage_bytes() + 2 * 8 * STAGES
    }
    /// The grid: x over n, y over m.
    pub fn grid(&self, d: &GemmDesc) -> (u32, u32) {
        (d.n.div_ceil(self.bn) as u32, d.m.div_ceil(BM) as u32)
    }

    /// The tensor maps of A and B for operands at device addresses `a` and `b` and `batch`
    /// members (dimension 0 innermost; the stride form's members are a third dimension).
    pub fn maps(&self, d: &GemmDesc, a: u64, b: u64, batch: usize) -> [TensorMapSpec; 2] {
        let es = d.a_dtype.size() as u64;
        let (sa, sb, rank) = match d.batch {
            BatchReduce::Stride { a, b } => (a as u64 * es, b as u64 * es, 3),
            _ => (0, 0, 2),
        };
        let members = batch.max(1) as u64;
        let (m, n, k) = (d.m as u64, d.n as u64, d.k as u64);
        let inner = (SWIZZLE_BYTES / 2) as u32;
        let map = |address, dims: [u64; 2], ld: usize, stride, rows: u32| TensorMapSpec {
            dtype: d.a_dtype,
            rank,
            address,
            dims: [dims[0], dims[1], members],
            strides: [ld as u64 * es, stride],
            box_dims: [inner, rows, 1],
        };
        let a_map = match self.a_major {
            Major::K => map(a, [k, m], d.lda, sa, BM as u32),
            Major::MN => map(a, [m, k], d.lda, sa, BK as u32),
        };
        let b_map = match self.b_major {
            Major::K => map(b, [k, n], d.ldb, sb, self.bn as u32),
            Major::MN => map(b, [n, k], d.ldb, sb, BK as u32),
        };
        [a_map, b_map]
    }
}

/// Which kernel family a GEMM descriptor gets on a target: `Ok(plan)` for the wgmma family,
/// `Err(why)` for the `mma.sync` / SIMT path. The one place that decides.
pub fn select(d: &GemmDesc, target: Target, opts: GemmOptions) -> Result<Plan, String> {
    let _ = opts; // tf32 concerns f32 inputs, which this family does not take
    if target != Target::Sm90a {
        return Err(format!("{} has no wgmma", target.sm()));
    }
    let (m, n, k) = MIN_SHAPE;
    if d.m < m || d.n < n || d.k < k {
        return Err(format!(
            "{}x{}x{} is below the wgmma threshold {m}x{n}x{k}",
            d.m, d.n, d.k
        ));
    }
    supports(d)
}

/// What the wgmma kernel takes at all (any shape): bf16 × bf16 or f16 × f16, plain or
/// stride batch, row-major B, TMA-compatible rows and strides, an epilogue program.
pub fn supports(d: &GemmDesc) -> Result<Plan, String> {
    if !(matches!(d.a_dtype, DType::BF16 | DType::F16) && d.b_dtype == d.a_dtype) {
        return Err(format!(
            "wgmma takes bf16 or f16 inputs, not {} x {}",
            d.a_dtype, d.b_dtype
        ));
    }
    if d.b_layout != Layout::RowMajor {
        return Err("wgmma: VNNI B is not a TMA tile".into());
    }
    let es = d.a_dtype.size();
    let row16 = |x: usize| (x * es).is_multiple_of(16);
    if !row16(d.lda) || !row16(d.ldb) {
        return Err(format!(
            "wgmma: lda {} / ldb {} rows are not 16-byte multiples (TMA strides)",
            d.lda, d.ldb
        ));
    }
    match d.batch {
        BatchReduce::None => {}
        BatchReduce::Stride { a, b } => {
            let (a_rows, b_rows) = (d.a_shape().0, d.b_shape().0);
            if !row16(a) || !row16(b) || a < a_rows * d.lda || b < b_rows * d.ldb {
                return Err(format!(
                    "wgmma: batch strides {a} / {b} are not disjoint 16-byte multiples"
                ));
            }
        }
        BatchReduce::Offsets | BatchReduce::Addresses => {
            return Err("wgmma: the offset and address batch forms are not TMA maps".into())
        }
    }
    if d.m > u32::MAX as usize || d.n > u32::MAX as usize || d.k > u32::MAX as usize {
        return Err("wgmma: dimensions beyond 2^32".into());
    }
    crate::lower::eltwise::gemm_finish(&d.epilogue, d.alpha as f32, d.beta as f32)
        .ok_or("wgmma: the epilogue has no micro-op program")?;
    Ok(Plan::choose(d))
}

/// The kernel's name: `gemm_wgmma_...` with the descriptor's fields.
pub fn kernel_name(d: &GemmDesc) -> String {
    d.kernel_name("wgmma")
}

/// Generates the wgmma kernel for `d` (any shape [`supports`] takes) with its own plan.
pub fn generate(d: &GemmDesc) -> Result<PtxKernel, Declined> {
    let plan = supports(d).map_err(Declined)?;
    generate_plan(d, plan)
}

/// Generates the wgmma kernel for `d` with the tile width of `plan` (the tests run every
/// width on small shapes).
pub fn generate_plan(d: &GemmDesc, plan: Plan) -> Result<PtxKernel, Declined> {
    supports(d).map_err(Declined)?;
    if ![64, 128, 256].contains(&plan.bn)
        || plan
            != (Plan {
                bn: plan.bn,
                ..Plan::choose(d)
            })
    {
        return Err(Declined(format!(
            "wgmma: no plan {plan:?} for this descriptor"
        )));
    }
    let name = kernel_name(d);
    let program = crate::lower::eltwise::gemm_finish(&d.epilogue, d.alpha as f32, d.beta as f32)
        .ok_or_else(|| Declined(format!("{name}: epilogue has no micro-op program")))?;
    let mut k = KernelBuilder::new(&name, size_of::<WgmmaGemmArgs>(), THREADS as u32);
    k.align_params(64);
    k.use_dynamic_smem();
    let tid = k.special("%tid.x");
    let (cx, cy) = (k.special("%ctaid.x"), k.special("%ctaid.y"));
    let (m0, n0) = (k.r32(), k.r32());
    k.inst(format!("mul.lo.u32 {m0}, {cy}, {BM}"));
    k.inst(format!("mul.lo.u32 {n0}, {cx}, {}", plan.bn));
    // The ring starts on a 1024-byte boundary (the swizzle pattern's period).
    let base = k.smem_address(0);
    k.inst(format!("add.u32 {base}, {base}, {}", SWIZZLE_ATOM - 1));
    k.inst(format!(
        "and.b32 {base}, {base}, {}",
        !(SWIZZLE_ATOM as u32 - 1)
    ));
    let bars = k.r32();
    k.inst(format!(
        "add.u32 {bars}, {base}, {}",
        STAGES * plan.stage_bytes()
    ));
    k.comment("thread 0 initialises the barriers: full expects the producer, empty the consumers");
    let (init, skip) = (k.pred(), k.label());
    k.inst(format!("setp.eq.u32 {init}, {tid}, 0"));
    k.branch_if(init, true, skip);
    for s in 0..STAGES {
        let (f, e) = (k.r32(), k.r32());
        k.inst(format!("add.u32 {f}, {bars}, {}", 8 * s));
        k.inst(format!("add.u32 {e}, {bars}, {}", 8 * (STAGES + s)));
        k.mbarrier_init(f, 1);
        k.mbarrier_init(e, (CONSUMERS * WARPGROUP as usize) as u32);
    }
    k.mbarrier_init_fence();
    k.place(skip);
    k.bar_sync();
    let gemm = offset_of!(WgmmaGemmArgs, gemm);
    let batch = if d.batch == BatchReduce::None {
        k.imm32(1)
    } else {
        // The host checks that batch · k steps fits in 31 bits.
        let b64 = k.arg_u64(gemm + offset_of!(GemmArgs, batch));
        let r = k.r32();
        k.inst(format!("cvt.u32.u64 {r}, {b64}"));
        r
    };
    let ksteps = d.k.div_ceil(BK);
    let total = k.r32();
    k.inst(format!("mul.lo.u32 {total}, {batch}, {ksteps}"));
    let (producer, end) = (k.label(), k.label());
    let is_producer = k.pred();
    k.inst(format!(
        "setp.ge.u32 {is_producer}, {tid}, {}",
        CONSUMERS * WARPGROUP as usize
    ));
    k.branch_if(is_producer, false, producer);
    consumers(
        &mut k,
        d,
        &plan,
        program,
        tid,
        (m0, n0),
        (base, bars),
        total,
    )?;
    k.branch(end);
    k.place(producer);
    let lane0 = k.pred();
    k.inst(format!(
        "setp.eq.u32 {lane0}, {tid}, {}",
        CONSUMERS * WARPGROUP as usize
    ));
    k.branch_if(lane0, true, end);
    produce(&mut k, d, &plan, (m0, n0), (base, bars), total, ksteps);
    k.place(end);
    let (gx, gy) = plan.grid(d);
    Ok(PtxKernel {
        name,
        ptx: module(Target::Sm90a, k.finish()),
        launch: Launch {
            grid: (gx, gy, 1),
            block: (THREADS as u32, 1, 1),
            smem_bytes: plan.smem_bytes() as u32,
        },
        target: Target::Sm90a,
    })
}

/// `(stage, phase)`: advances the stage index and flips the phase bit at the ring's end.
fn advance(k: &mut KernelBuilder, stage: R32, phase: R32) {
    k.inst(format!("add.u32 {stage}, {stage}, 1"));
    let wrap = k.pred();
    k.inst(format!("setp.eq.u32 {wrap}, {stage}, {STAGES}"));
    k.inst_if(wrap, false, format!("mov.u32 {stage}, 0"));
    k.inst_if(wrap, false, format!("xor.b32 {phase}, {phase}, 1"));
}

/// The producer's loop (one thread): for every (member, k step), wait for the stage to be
/// empty, expect its bytes on the full barrier, and issue the copies.
fn produce(
    k: &mut KernelBuilder,
    d: &GemmDesc,
    plan: &Plan,
    (m0, n0): (R32, R32),
    (base, bars): (R32, R32),
    total: R32,
    ksteps: usize,
) {
    let three_d = matches!(d.batch, BatchReduce::Stride { .. });
    let map_a = k.param_tensor_map(offset_of!(WgmmaGemmArgs, tmap_a));
    let map_b = k.param_tensor_map(offset_of!(WgmmaGemmArgs, tmap_b));
    let (t, stage, phase, member, kstep) =
        (k.imm32(0), k.imm32(0), k.imm32(0), k.imm32(0), k.imm32(0));
    let (top, done) = (k.label(), k.label());
    k.place(top);
    let finished = k.pred();
    k.inst(format!("setp.ge.u32 {finished}, {t}, {total}"));
    k.branch_if(finished, false, done);
    let (full, empty, parity) = (k.r32(), k.r32(), k.r32());
    k.inst(format!("mad.lo.u32 {full}, {stage}, 8, {bars}"));
    k.inst(format!("add.u32 {empty}, {full}, {}", 8 * STAGES));
    k.inst(format!("xor.b32 {parity}, {phase}, 1"));
    k.mbarrier_wait_parity(empty, parity);
    k.mbarrier_arrive_expect_tx(full, plan.stage_bytes());
    let sa = k.r32();
    k.inst(format!(
        "mad.lo.u32 {sa}, {stage}, {}, {base}",
        plan.stage_bytes()
    ));
    let k0 = k.r32();
    k.inst(format!("mul.lo.u32 {k0}, {kstep}, {BK}"));
    // One box per K-major tile; 64-wide boxes side by side (8 KiB apart) for MN-major ones.
    let copy =
        |k: &mut KernelBuilder, map: R64, major: Major, mn0: R32, rows: usize, off: usize| {
            let boxes = if major == Major::K { 1 } else { rows / 64 };
            for j in 0..boxes {
                let (dst, mn) = (k.r32(), k.r32());
                k.inst(format!(
                    "add.u32 {dst}, {sa}, {}",
                    off + j * 64 * SWIZZLE_BYTES
                ));
                k.inst(format!("add.u32 {mn}, {mn0}, {}", 64 * j));
                let mut coords = if major == Major::K {
                    vec![k0, mn]
                } else {
                    vec![mn, k0]
                };
                if three_d {
                    coords.push(member);
                }
                k.tma_load(dst, map, &coords, full);
            }
        };
    copy(k, map_a, plan.a_major, m0, BM, 0);
    copy(k, map_b, plan.b_major, n0, plan.bn, plan.a_bytes());
    k.inst(format!("add.u32 {kstep}, {kstep}, 1"));
    let wrap = k.pred();
    k.inst(format!("setp.eq.u32 {wrap}, {kstep}, {ksteps}"));
    k.inst_if(wrap, false, format!("mov.u32 {kstep}, 0"));
    k.inst_if(wrap, false, format!("add.u32 {member}, {member}, 1"));
    advance(k, stage, phase);
    k.inst(format!("add.u32 {t}, {t}, 1"));
    k.branch(top);
    k.place(done);
}

/// The wgmma descriptor fields of an operand tile (start address added at run time).
pub fn descriptor_fields(major: Major) -> u64 {
    let (lbo, sbo) = match major {
        Major::K => (16, SWIZZLE_ATOM as u64),
        Major::MN => ((64 * SWIZZLE_BYTES) as u64, SWIZZLE_ATOM as u64),
    };
    super::wgmma::descriptor_fields(lbo, sbo) | 1 << 62
}

/// Bytes between the starts of consecutive k16 steps of a tile.
fn k16_step(major: Major) -> u64 {
    match major {
        Major::K => 32,
        Major::MN => 16 * SWIZZLE_BYTES as u64,
    }
}

/// The consumer warpgroups: the MMA loop, then the epilogue of their 64 rows.
#[allow(clippy::too_many_arguments)]
fn consumers(
    k: &mut KernelBuilder,
    d: &GemmDesc,
    plan: &Plan,
    program: crate::lower::Program,
    tid: R32,
    (m0, n0): (R32, R32),
    (base, bars): (R32, R32),
    total: R32,
) -> Result<(), Declined> {
    let wg = k.r32();
    k.inst(format!("shr.u32 {wg}, {tid}, 7"));
    // This warpgroup's 64 rows of A: the first or second 8 KiB of the A tile (K-major: rows
    // 64·wg..; MN-major: the second 64-wide box).
    let a_off = k.r32();
    k.inst(format!("mul.lo.u32 {a_off}, {wg}, {}", 64 * SWIZZLE_BYTES));
    let acc: Vec<F32> = (0..plan.bn / 2).map(|_| k.f32()).collect();
    for &r in &acc {
        k.inst(format!("mov.f32 {r}, 0f00000000"));
    }
    let accumulate = k.pred();
    k.inst(format!("setp.eq.u32 {accumulate}, 0, 0"));
    let (t, stage, phase, prev_empty) = (k.imm32(0), k.imm32(0), k.imm32(0), k.r32());
    let (top, done) = (k.label(), k.label());
    k.place(top);
    let finished = k.pred();
    k.inst(format!("setp.ge.u32 {finished}, {t}, {total}"));
    k.branch_if(finished, false, done);
    let full = k.r32();
    k.inst(format!("mad.lo.u32 {full}, {stage}, 8, {bars}"));
    k.mbarrier_wait_parity(full, phase);
    let (sa, sb) = (k.r32(), k.r32());
    k.inst(format!(
        "mad.lo.u32 {sa}, {stage}, {}, {base}",
        plan.stage_bytes()
    ));
    k.inst(format!("add.u32 {sb}, {sa}, {}", plan.a_bytes()));
    k.inst(format!("add.u32 {sa}, {sa}, {a_off}"));
    let desc = |k: &mut KernelBuilder, at: R32, major: Major| -> R64 {
        let (x, dsc) = (k.r32(), k.r64());
        k.inst(format!("shr.u32 {x}, {at}, 4"));
        k.inst(format!("and.b32 {x}, {x}, 0x3FFF"));
        k.inst(format!("cvt.u64.u32 {dsc}, {x}"));
        k.inst(format!("or.b64 {dsc}, {dsc}, {}", descriptor_fields(major)));
        dsc
    };
    let (da0, db0) = (desc(k, sa, plan.a_major), desc(k, sb, plan.b_major));
    k.wgmma_fence();
    let (ta, tb) = (plan.a_major == Major::MN, plan.b_major == Major::MN);
    for s in 0..BK as u64 / 16 {
        let (da, db) = (k.r64(), k.r64());
        k.inst(format!(
            "add.s64 {da}, {da0}, {}",
            (s * k16_step(plan.a_major)) >> 4
        ));
        k.inst(format!(
            "add.s64 {db}, {db0}, {}",
            (s * k16_step(plan.b_major)) >> 4
        ));
        k.wgmma_m64nnk16_f32_ss(d.a_dtype, &acc, (da, db), accumulate, (ta, tb));
    }
    k.wgmma_commit_group();
    // The group before this one is complete: its stage goes back to the producer.
    k.wgmma_wait_group(1);
    let has_prev = k.pred();
    k.inst(format!("setp.ne.u32 {has_prev}, {t}, 0"));
    k.inst_if(
        has_prev,
        false,
        format!("mbarrier.arrive.shared::cta.b64 _, [{prev_empty}]"),
    );
    k.inst(format!("add.u32 {prev_empty}, {full}, {}", 8 * STAGES));
    advance(k, stage, phase);
    k.inst(format!("add.u32 {t}, {t}, 1"));
    k.branch(top);
    k.place(done);
    k.wgmma_wait_group(0);
    k.comment("epilogue: each warp's share of the m64 accumulator is 16 rows of m16n8 fragments");
    let (warp, lane) = (k.r32(), k.r32());
    k.inst(format!("shr.u32 {warp}, {tid}, 5"));
    k.inst(format!("and.b32 {lane}, {tid}, 31"));
    let (g, tq, row_base) = (k.r32(), k.r32(), k.r32());
    k.inst(format!("shr.u32 {g}, {lane}, 2"));
    k.inst(format!("and.b32 {tq}, {lane}, 3"));
    // Warp w of the CTA owns rows 16·w.. (warpgroup 0: warps 0–3, rows 0–63; 1: 64–127).
    k.inst(format!("mad.lo.u32 {row_base}, {warp}, 16, {m0}"));
    k.inst(format!("add.u32 {row_base}, {row_base}, {g}"));
    let (c, bias, mask) = (
        k.arg_u64(offset_of!(WgmmaGemmArgs, gemm) + offset_of!(GemmArgs, c)),
        k.arg_u64(offset_of!(WgmmaGemmArgs, gemm) + offset_of!(GemmArgs, bias)),
        k.arg_u64(offset_of!(WgmmaGemmArgs, gemm) + offset_of!(GemmArgs, relu_mask)),
    );
    let ep = epilogue_of(d, Some(program), c, bias, mask);
    let tile = FragmentTile {
        row_base,
        byte_base: n0,
        t: tq,
        mi_n: 1,
        ni_n: plan.bn / 8,
    };
    fragment_epilogue(k, &tile, &acc, &[], &ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_struct_holds_64_byte_aligned_maps_first() {
        assert_eq!(std::mem::align_of::<WgmmaGemmArgs>(), 64);
        assert_eq!(offset_of!(WgmmaGemmArgs, tmap_a), 0);
        assert_eq!(offset_of!(WgmmaGemmArgs, tmap_b), 128);
        assert_eq!(offset_of!(WgmmaGemmArgs, gemm), 256);
        assert_eq!(size_of::<WgmmaGemmArgs>() % 64, 0);
    }

    #[test]
    fn tiles_are_wide_when_the_grid_stays_full_and_fit_small_n() {
        let big = GemmDesc::new(8192, 8192, 4096, DType::BF16);
        assert_eq!(Plan::choose(&big).bn, 256, "64 x 32 CTAs at bn 256");
        let mid = GemmDesc::new(2048, 2048, 1024, DType::BF16);
        assert_eq!(Plan::choose(&mid).bn, 128, "16 x 16 CTAs at bn 128");
        let small = GemmDesc::new(1024, 2048, 1024, DType::BF16);
        assert_eq!(Plan::choose(&small).bn, 64, "8 x 32 CTAs only at bn 64");
        let narrow = GemmDesc::new(128, 100, 64, DType::BF16);
        assert_eq!(Plan::choose(&narrow).bn, 64);
        let p = Plan::choose(&GemmDesc::new(16384, 1024, 64, DType::BF16));
        assert_eq!(p.bn, 256, "128 x 4 CTAs");
        for bn in [64, 128, 256] {
            let p = Plan { bn, ..p };
            assert_eq!(p.stage_bytes() % SWIZZLE_ATOM, 0);
            assert!(p.smem_bytes() <= 227 * 1024, "bn {bn}: {}", p.smem_bytes());
        }
    }

    #[test]
    fn orientation_follows_the_transposes() {
        let d = GemmDesc::new(256, 256, 256, DType::BF16);
        let p = Plan::choose(&d);
        assert_eq!((p.a_major, p.b_major), (Major::K, Major::MN));
        let p = Plan::choose(&d.trans_a().trans_b());
        assert_eq!((p.a_major, p.b_major), (Major::MN, Major::K));
    }

    #[test]
    fn maps_carry_the_true_extents_and_byte_strides() {
        let d = GemmDesc::new(300, 200, 100, DType::BF16)
            .ld(104, 264, 200)
            .batch(BatchReduce::Stride {
                a: 300 * 104,
                b: 100 * 264,
            });
        let p = supports(&d).unwrap();
        let [a, b] = p.maps(&d, 0x1000, 0x8000, 3);
        assert_eq!(
            (a.rank, a.dims, a.strides),
            (3, [100, 300, 3], [208, 300 * 104 * 2])
        );
        assert_eq!(a.box_dims, [64, 128, 1]);
        assert_eq!(
            (b.dims, b.strides[0], b.box_dims),
            ([200, 100, 3], 528, [64, 64, 1])
        );
        assert_eq!(a.check(), Ok(()));
        assert_eq!(b.check(), Ok(()));
        let t = d.trans_b().ld(104, 104, 200).batch(BatchReduce::Stride {
            a: 300 * 104,
            b: 200 * 104,
        });
        let p = supports(&t).unwrap();
        let [_, b] = p.maps(&t, 0x1000, 0x8000, 0);
        assert_eq!((b.dims, b.box_dims), ([100, 200, 1], [64, p.bn as u32, 1]));
    }

    #[test]
    fn descriptors_say_128_byte_swizzle_with_the_canonical_strides() {
        let k = descriptor_fields(Major::K);
        assert_eq!(k >> 62, 1);
        assert_eq!(((k >> 16) & 0x3FFF, (k >> 32) & 0x3FFF), (1, 64));
        let mn = descriptor_fields(Major::MN);
        assert_eq!(((mn >> 16) & 0x3FFF, (mn >> 32) & 0x3FFF), (512, 64));
    }

    #[test]
    fn only_compute_capability_9_0_gets_the_wgmma_family() {
        let o = GemmOptions::default();
        let d = GemmDesc::new(512, 512, 512, DType::BF16).beta(0.0);
        for (cap, wgmma) in [
            ((9, 0), true),
            ((8, 0), false),
            ((8, 9), false),
            ((10, 0), false),
        ] {
            let target = Target::for_capability(cap.0, cap.1).unwrap();
            assert_eq!(select(&d, target, o).is_ok(), wgmma, "{cap:?}");
            let k = super::super::families::gemm(&d, target, o).unwrap();
            assert_eq!(k.name.starts_with("gemm_wgmma_bf16"), wgmma, "{}", k.name);
        }
        let offsets = d.batch(BatchReduce::Offsets);
        let k = super::super::families::gemm(&offsets, Target::Sm90a, o).unwrap();
        assert!(k.name.starts_with("gemm_cuda_sm90a_"), "{}", k.name);
    }

    #[test]
    fn selection_sends_what_wgmma_does_not_take_to_mma_sync() {
        let o = GemmOptions::default();
        let d = GemmDesc::new(512, 512, 512, DType::BF16);
        assert!(select(&d, Target::Sm90a, o).is_ok());
        assert!(select(&d, Target::Sm80, o).is_err(), "not sm_90a");
        assert!(select(&GemmDesc::new(64, 512, 512, DType::BF16), Target::Sm90a, o).is_err());
        assert!(select(&GemmDesc::new(512, 512, 32, DType::BF16), Target::Sm90a, o).is_err());
        for bad in [
            GemmDesc::new(512, 512, 512, DType::F32),
            GemmDesc::new(512, 512, 512, DType::I8),
            d.batch(BatchReduce::Offsets),
            d.batch(BatchReduce::Addresses),
            d.vnni_b(),
            d.ld(516, 512, 512),
            d.batch(BatchReduce::Stride {
                a: 100,
                b: 512 * 512,
            }),
        ] {
            assert!(select(&bad, Target::Sm90a, o).is_err(), "{bad:?}");
        }
        assert!(select(
            &GemmDesc::new(512, 512, 512, DType::F16).trans_a(),
            Target::Sm90a,
            o
        )
        .is_ok());
    }
}
