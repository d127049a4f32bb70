//! A test-only backend, `cuda_emulated`, that runs the generated PTX in the interpreter of
//! [`super::emu`] behind the host kernel ABI: the operands a descriptor touches are copied
//! into the emulated global memory, every block of the launch runs, and the outputs are
//! copied back. The differential harness of `tests/common` then checks every family of the
//! CUDA generator against the reference on a machine without a GPU.

use super::emu::{self, Memory};
use std::ffi::c_void;
use std::sync::Mutex;
use tpp::backend::Backend;
use tpp::exec::{BinaryArgs, Exec, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use tpp::isa::{bitmask, matrix_len, BatchReduce, BiasBroadcast, UnaryOp};
use tpp::kernels_cuda::{self, PtxKernel, Target};
use tpp::{BinaryDesc, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};

/// The backend.
pub struct EmulatedCuda;

/// GEMMs through the sm_90a wgmma family at any shape it takes (`cuda_emulated_wgmma`; it
/// declines the rest), its TMA maps described to the interpreter.
pub struct EmulatedWgmma;

impl Backend for EmulatedWgmma {
    fn name(&self) -> &'static str {
        "cuda_emulated_wgmma"
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        Some(Box::new(make(*d, kernels_cuda::gemm_wgmma::generate(d))?))
    }
}

struct Run<D> {
    d: D,
    kernel: PtxKernel,
    program: emu::Program,
    /// Bytes past a 256-byte boundary at which every operand is placed.
    offset: usize,
}

/// Copies of host operands in the emulated memory, and where to copy outputs back.
struct Space {
    mem: Memory,
    back: Vec<(u64, *mut c_void, usize)>,
    offset: usize,
}

impl Space {
    fn new(offset: usize) -> Self {
        Space {
            mem: Memory::new(),
            back: vec![],
            offset,
        }
    }
    /// Copies `bytes` from `p` (nothing for null) and returns the emulated address (0 for null).
    unsafe fn up(&mut self, p: *const c_void, bytes: usize) -> u64 {
        if p.is_null() {
            return 0;
        }
        let host = unsafe { std::slice::from_raw_parts(p as *const u8, bytes) };
        let mut placed = vec![0xEE; self.offset];
        placed.extend_from_slice(host);
        self.mem.alloc(&placed) + self.offset as u64
    }
    /// As `up`, and copies the bytes back after the run.
    unsafe fn inout(&mut self, p: *mut c_void, bytes: usize) -> u64 {
        let a = unsafe { self.up(p, bytes) };
        if a != 0 {
            self.back.push((a, p, bytes));
        }
        a
    }
    fn run<D>(mut self, r: &Run<D>, params: &[u8]) {
        emu::run_launch(&r.program, &mut self.mem, params, &r.kernel.launch);
        for (a, p, n) in self.back {
            let src = self.mem.read(a, n);
            // SAFETY: `p` is the host operand the bytes were copied from.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p as *mut u8, n) };
        }
    }
}

fn bytes_of<A>(a: &A) -> Vec<u8> {
    // SAFETY: the argument structs are plain `#[repr(C)]` data.
    unsafe { std::slice::from_raw_parts(a as *const A as *const u8, std::mem::size_of::<A>()) }
        .to_vec()
}

fn p<T>(a: u64) -> *mut T {
    a as usize as *mut T
}

unsafe fn host_u64s<'a>(p: *const u64, n: usize) -> &'a [u64] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

fn u64_bytes(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

// The interpreter is single-threaded and not reentrant-safe across kernels only by design;
// runs are serialised so that parallel test threads do not interleave their copies.
static LOCK: Mutex<()> = Mutex::new(());

impl Exec<GemmArgs> for Run<GemmDesc> {
    unsafe fn run(&self, args: &GemmArgs) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let d = self.d;
        let batch = if d.batch == BatchReduce::None {
            1
        } else {
            args.batch as usize
        };
        let (ae, be) = (d.a_dtype.size(), d.b_dtype.size());
        let mut s = Space::new(self.offset);
        let mut a2 = GemmArgs {
            batch: batch as u64,
            ..GemmArgs::default()
        };
        unsafe {
            match d.batch {
                BatchReduce::None | BatchReduce::Stride { .. } => {
                    let (sa, sb) = match d.batch {
                        BatchReduce::Stride { a, b } => (a, b),
                        _ => (0, 0),
                    };
                    let n = batch.max(1) - 1;
                    let live = (batch > 0) as usize;
                    a2.a = p(s.up(args.a, (n * sa + d.a_len()) * ae * live));
                    a2.b = p(s.up(args.b, (n * sb + d.b_len()) * be * live));
                }
                BatchReduce::Offsets => {
                    let (ao, bo) = (
                        host_u64s(args.a_offsets, batch),
                        host_u64s(args.b_offsets, batch),
                    );
                    let ext = |o: &[u64], len: usize| {
                        o.iter().map(|&x| x as usize + len).max().unwrap_or(0)
                    };
                    a2.a = p(s.up(args.a, ext(ao, d.a_len()) * ae));
                    a2.b = p(s.up(args.b, ext(bo, d.b_len()) * be));
                    let (ab, bb) = (u64_bytes(ao), u64_bytes(bo));
                    a2.a_offsets = p(s.mem.alloc(&ab));
                    a2.b_offsets = p(s.mem.alloc(&bb));
                }
                BatchReduce::Addresses => {
                    let (ap, bp) = (
                        args.a as *const *const c_void,
                        args.b as *const *const c_void,
                    );
                    let (mut aa, mut ba) = (vec![], vec![]);
                    for i in 0..batch {
                        aa.push(s.up(*ap.add(i), d.a_len() * ae));
                        ba.push(s.up(*bp.add(i), d.b_len() * be));
                    }
                    a2.a = p(s.mem.alloc(&u64_bytes(&aa)));
                    a2.b = p(s.mem.alloc(&u64_bytes(&ba)));
                }
            }
            a2.c = p(s.inout(args.c, d.c_len() * d.c_dtype.size()));
            if let Some(b) = d.epilogue.bias {
                let n = if b.broadcast == BiasBroadcast::Row {
                    d.n
                } else {
                    d.m
                };
                a2.bias = p(s.up(args.bias, n * b.dtype.size()));
            }
            if d.epilogue.activation.writes_mask() {
                a2.relu_mask = p(s.inout(
                    args.relu_mask as *mut c_void,
                    bitmask::bytes(d.m, d.n, d.epilogue.mask_ld),
                ));
            }
        }
        if self.kernel.name.starts_with("gemm_wgmma_") {
            // The wgmma family reads A and B through tensor maps, described in the tests'
            // encoding (`emu_async::encode_map`) from the copies' addresses.
            let plan = kernels_cuda::gemm_wgmma::Plan::choose(&d);
            let [ma, mb] = plan.maps(&d, a2.a as usize as u64, a2.b as usize as u64, batch);
            let w = kernels_cuda::gemm_wgmma::WgmmaGemmArgs {
                tmap_a: super::emu_async::encode_map(&ma),
                tmap_b: super::emu_async::encode_map(&mb),
                gemm: a2,
            };
            s.run(self, &bytes_of(&w));
        } else {
            s.run(self, &bytes_of(&a2));
        }
    }
}

impl Exec<UnaryArgs> for Run<UnaryDesc> {
    unsafe fn run(&self, args: &UnaryArgs) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let d = self.d;
        let op = d.op;
        let count = match op {
            UnaryOp::GatherRows | UnaryOp::ScatterRows => d.rows,
            _ => d.cols,
        };
        let mut s = Space::new(self.offset);
        unsafe {
            let idx = if op.reads_indices() {
                host_u64s(args.indices, count)
            } else {
                &[]
            };
            let bound = idx.iter().map(|&x| x as usize + 1).max().unwrap_or(0);
            let in_len = match op {
                UnaryOp::GatherRows => matrix_len(bound, d.cols, d.ld_in),
                _ => d.in_len(),
            };
            let out_len = match op {
                UnaryOp::ScatterRows => matrix_len(bound, d.cols, d.ld_out),
                _ => d.out_len(),
            };
            let mask_bytes = bitmask::bytes(d.rows, d.cols, d.mask_ld);
            let mut a2 = UnaryArgs {
                seed: args.seed,
                ..UnaryArgs::default()
            };
            if op.reads_input() {
                a2.input = p(s.up(args.input, in_len * d.in_dtype.size()));
            }
            if op.reads_aux() {
                a2.aux = p(s.up(args.aux, d.in_len() * d.in_dtype.size()));
            }
            if op.reads_mask() {
                a2.mask_in = p(s.up(args.mask_in as *const c_void, mask_bytes));
            }
            if op.writes_mask() {
                a2.mask_out = p(s.inout(args.mask_out as *mut c_void, mask_bytes));
            }
            if !idx.is_empty() {
                a2.indices = p(s.mem.alloc(&u64_bytes(idx)));
            }
            a2.output = p(s.inout(args.output, out_len * d.out_dtype.size()));
            s.run(self, &bytes_of(&a2));
        }
    }
}

impl Exec<BinaryArgs> for Run<BinaryDesc> {
    unsafe fn run(&self, args: &BinaryArgs) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let d = self.d;
        let mut s = Space::new(self.offset);
        unsafe {
            let out_bytes = if d.op.is_compare() {
                d.out_len()
            } else {
                d.out_len() * d.out_dtype.size()
            };
            let a2 = BinaryArgs {
                in0: p(s.up(args.in0, d.in0_len() * d.in0_dtype.size())),
                in1: p(s.up(args.in1, d.in1_len() * d.in1_dtype.size())),
                output: p(s.inout(args.output, out_bytes)),
            };
            s.run(self, &bytes_of(&a2));
        }
    }
}

impl Exec<TernaryArgs> for Run<TernaryDesc> {
    unsafe fn run(&self, args: &TernaryArgs) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let d = self.d;
        let mut s = Space::new(self.offset);
        unsafe {
            let input = |s: &mut Space, i: usize, ptr: *const c_void| {
                if i < d.op.inputs() {
                    p(s.up(ptr, d.in_len(i) * d.in_dtypes[i].size()))
                } else {
                    std::ptr::null_mut()
                }
            };
            let a2 = TernaryArgs {
                in0: input(&mut s, 0, args.in0),
                in1: input(&mut s, 1, args.in1),
                in2: input(&mut s, 2, args.in2),
                mask: p(s.up(
                    args.mask as *const c_void,
                    bitmask::bytes(d.rows, d.cols, d.mask_ld),
                )),
                output: p(s.inout(args.output, d.out_len() * d.out_dtype.size())),
            };
            s.run(self, &bytes_of(&a2));
        }
    }
}

impl Exec<ReduceArgs> for Run<ReduceDesc> {
    unsafe fn run(&self, args: &ReduceArgs) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let d = self.d;
        let mut s = Space::new(self.offset);
        unsafe {
            let a2 = ReduceArgs {
                input: p(s.up(args.input, d.in_len() * d.in_dtype.size())),
                output: p(s.inout(args.output, d.out_len() * d.out_dtype.size())),
            };
            s.run(self, &bytes_of(&a2));
        }
    }
}

fn make<D>(d: D, k: Result<PtxKernel, kernels_cuda::Declined>) -> Option<Run<D>> {
    make_at(d, k, 0)
}

fn make_at<D>(d: D, k: Result<PtxKernel, kernels_cuda::Declined>, offset: usize) -> Option<Run<D>> {
    let kernel = k.ok()?;
    let program = emu::Program::parse(&kernel.ptx);
    Some(Run {
        d,
        kernel,
        program,
        offset,
    })
}

/// The elementwise kernels with every operand `OFFSET` bytes past a 256-byte boundary
/// (`cuda_emulated_off4`, `cuda_emulated_off8`): operands aligned to their elements but not
/// to a vector, so the vector kernels' run-time check must send them down the scalar path.
pub struct MisalignedCuda<const OFFSET: usize>;

impl<const OFFSET: usize> Backend for MisalignedCuda<OFFSET> {
    fn name(&self) -> &'static str {
        match OFFSET {
            4 => "cuda_emulated_off4",
            8 => "cuda_emulated_off8",
            _ => "cuda_emulated_misaligned",
        }
    }
    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        Some(Box::new(make_at(
            *d,
            kernels_cuda::unary(d, Target::Sm80),
            OFFSET,
        )?))
    }
    fn binary(&self, d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        Some(Box::new(make_at(
            *d,
            kernels_cuda::binary(d, Target::Sm80),
            OFFSET,
        )?))
    }
    fn ternary(&self, d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        Some(Box::new(make_at(
            *d,
            kernels_cuda::ternary(d, Target::Sm80),
            OFFSET,
        )?))
    }
}

impl Backend for EmulatedCuda {
    fn name(&self) -> &'static str {
        "cuda_emulated"
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        Some(Box::new(make(
            *d,
            kernels_cuda::gemm_kernel(d, Target::Sm80, Default::default()),
        )?))
    }
    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        Some(Box::new(make(*d, kernels_cuda::unary(d, Target::Sm80))?))
    }
    fn binary(&self, d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        Some(Box::new(make(*d, kernels_cuda::binary(d, Target::Sm80))?))
    }
    fn ternary(&self, d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        Some(Box::new(make(*d, kernels_cuda::ternary(d, Target::Sm80))?))
    }
    fn reduce(&self, d: &ReduceDesc) -> Option<Box<dyn Exec<ReduceArgs>>> {
        Some(Box::new(make(
            *d,
            kernels_cuda::reduce_kernel(d, Target::Sm80),
        )?))
    }
}
