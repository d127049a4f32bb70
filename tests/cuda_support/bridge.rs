//! A test-only backend that runs the CUDA kernels behind the host kernel ABI: each call copies
//! the operands a descriptor touches to the device, launches the device kernel with device
//! addresses, and copies the outputs back. Registered as `cuda`, it lets the differential
//! harness of `tests/common` (poisoned outputs, per-dtype tolerances, masks) check the device
//! kernels exactly as it checks the CPU backends.

use std::ffi::c_void;
use tpp::backend::Backend;
use tpp::cuda::{Device, DeviceBuffer, DeviceKernel, DeviceOperand};
use tpp::exec::{BinaryArgs, Exec, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use tpp::isa::{bitmask, matrix_len, BatchReduce, BiasBroadcast, UnaryOp};
use tpp::{BinaryDesc, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};

/// The bridge backend (leaked: backends are `'static`).
pub struct CudaBridge {
    /// The device every kernel runs on.
    pub device: Device,
}

struct Run<D> {
    kernel: DeviceKernel<D>,
}

/// Bytes `p[0..bytes]` of host memory, uploaded (empty for a null pointer).
unsafe fn up(dev: &Device, p: *const c_void, bytes: usize) -> DeviceBuffer<u8> {
    let host = if p.is_null() || bytes == 0 {
        &[][..]
    } else {
        unsafe { std::slice::from_raw_parts(p as *const u8, bytes) }
    };
    dev.upload(host).expect("upload")
}

/// Copies a device buffer back over host memory.
unsafe fn down(dev: &Device, buf: &DeviceBuffer<u8>, p: *mut c_void) {
    let bytes = dev.download(buf).expect("download");
    if !p.is_null() {
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len()) };
    }
}

fn addr(b: &DeviceBuffer<u8>) -> *const c_void {
    if b.is_empty() {
        std::ptr::null()
    } else {
        b.device_address() as usize as *const c_void
    }
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

impl Exec<GemmArgs> for Run<GemmDesc> {
    unsafe fn run(&self, args: &GemmArgs) {
        let d = *self.kernel.desc();
        let dev = self.kernel.device();
        let batch = if d.batch == BatchReduce::None {
            1
        } else {
            args.batch as usize
        };
        let (ae, be) = (d.a_dtype.size(), d.b_dtype.size());
        let mut keep = vec![];
        let mut dargs = GemmArgs {
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
                    let a = up(
                        dev,
                        args.a,
                        (n * sa + d.a_len()) * ae * (batch > 0) as usize,
                    );
                    let b = up(
                        dev,
                        args.b,
                        (n * sb + d.b_len()) * be * (batch > 0) as usize,
                    );
                    dargs.a = addr(&a);
                    dargs.b = addr(&b);
                    keep.extend([a, b]);
                }
                BatchReduce::Offsets => {
                    let (ao, bo) = (
                        host_u64s(args.a_offsets, batch),
                        host_u64s(args.b_offsets, batch),
                    );
                    let ext = |o: &[u64], len: usize| {
                        o.iter().map(|&x| x as usize + len).max().unwrap_or(0)
                    };
                    let a = up(dev, args.a, ext(ao, d.a_len()) * ae);
                    let b = up(dev, args.b, ext(bo, d.b_len()) * be);
                    let (ad, bd) = (
                        dev.upload(&u64_bytes(ao)).unwrap(),
                        dev.upload(&u64_bytes(bo)).unwrap(),
                    );
                    dargs.a = addr(&a);
                    dargs.b = addr(&b);
                    dargs.a_offsets = addr(&ad) as *const u64;
                    dargs.b_offsets = addr(&bd) as *const u64;
                    keep.extend([a, b, ad, bd]);
                }
                BatchReduce::Addresses => {
                    let (ap, bp) = (
                        args.a as *const *const c_void,
                        args.b as *const *const c_void,
                    );
                    let mut a_addrs = vec![];
                    let mut b_addrs = vec![];
                    for i in 0..batch {
                        let a = up(dev, *ap.add(i), d.a_len() * ae);
                        let b = up(dev, *bp.add(i), d.b_len() * be);
                        a_addrs.push(a.device_address());
                        b_addrs.push(b.device_address());
                        keep.extend([a, b]);
                    }
                    let (ad, bd) = (
                        dev.upload(&u64_bytes(&a_addrs)).unwrap(),
                        dev.upload(&u64_bytes(&b_addrs)).unwrap(),
                    );
                    dargs.a = addr(&ad);
                    dargs.b = addr(&bd);
                    keep.extend([ad, bd]);
                }
            }
            let c = up(dev, args.c, d.c_len() * d.c_dtype.size());
            dargs.c = addr(&c) as *mut c_void;
            let bias = d.epilogue.bias.map(|b| {
                let n = if b.broadcast == BiasBroadcast::Row {
                    d.n
                } else {
                    d.m
                };
                up(dev, args.bias, n * b.dtype.size())
            });
            if let Some(b) = &bias {
                dargs.bias = addr(b);
            }
            let mask = d.epilogue.activation.writes_mask().then(|| {
                up(
                    dev,
                    args.relu_mask as *const c_void,
                    bitmask::bytes(d.m, d.n, d.epilogue.mask_ld),
                )
            });
            if let Some(m) = &mask {
                dargs.relu_mask = addr(m) as *mut u8;
            }
            self.kernel.call_raw(&dargs).expect("launch");
            dev.synchronize().expect("synchronize");
            down(dev, &c, args.c);
            if let Some(m) = &mask {
                down(dev, m, args.relu_mask as *mut c_void);
            }
        }
    }
}

impl Exec<UnaryArgs> for Run<UnaryDesc> {
    unsafe fn run(&self, args: &UnaryArgs) {
        let d = *self.kernel.desc();
        let dev = self.kernel.device();
        let op = d.op;
        let count = match op {
            UnaryOp::GatherRows | UnaryOp::ScatterRows => d.rows,
            _ => d.cols,
        };
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
            let mut dargs = UnaryArgs {
                seed: args.seed,
                ..UnaryArgs::default()
            };
            let input = up(
                dev,
                if op.reads_input() {
                    args.input
                } else {
                    std::ptr::null()
                },
                in_len * d.in_dtype.size(),
            );
            let aux = up(
                dev,
                if op.reads_aux() {
                    args.aux
                } else {
                    std::ptr::null()
                },
                d.in_len() * d.in_dtype.size(),
            );
            let mask_bytes = bitmask::bytes(d.rows, d.cols, d.mask_ld);
            let mask_in = up(
                dev,
                if op.reads_mask() {
                    args.mask_in as *const c_void
                } else {
                    std::ptr::null()
                },
                mask_bytes,
            );
            let writes = op.writes_mask();
            let mask_out = up(
                dev,
                if writes {
                    args.mask_out as *const c_void
                } else {
                    std::ptr::null()
                },
                mask_bytes,
            );
            let indices = dev.upload(&u64_bytes(idx)).unwrap();
            // The output is uploaded too: what the op does not write must keep its bits.
            let output = up(dev, args.output, out_len * d.out_dtype.size());
            dargs.input = addr(&input);
            dargs.aux = addr(&aux);
            dargs.mask_in = addr(&mask_in) as *const u8;
            dargs.mask_out = addr(&mask_out) as *mut u8;
            dargs.indices = addr(&indices) as *const u64;
            dargs.output = addr(&output) as *mut c_void;
            self.kernel.call_raw(&dargs).expect("launch");
            dev.synchronize().expect("synchronize");
            down(dev, &output, args.output);
            if writes {
                down(dev, &mask_out, args.mask_out as *mut c_void);
            }
        }
    }
}

impl Exec<BinaryArgs> for Run<BinaryDesc> {
    unsafe fn run(&self, args: &BinaryArgs) {
        let d = *self.kernel.desc();
        let dev = self.kernel.device();
        unsafe {
            let in0 = up(dev, args.in0, d.in0_len() * d.in0_dtype.size());
            let in1 = up(dev, args.in1, d.in1_len() * d.in1_dtype.size());
            let out_bytes = if d.op.is_compare() {
                d.out_len()
            } else {
                d.out_len() * d.out_dtype.size()
            };
            let out = up(dev, args.output, out_bytes);
            let dargs = BinaryArgs {
                in0: addr(&in0),
                in1: addr(&in1),
                output: addr(&out) as *mut c_void,
            };
            self.kernel.call_raw(&dargs).expect("launch");
            dev.synchronize().expect("synchronize");
            down(dev, &out, args.output);
        }
    }
}

impl Exec<TernaryArgs> for Run<TernaryDesc> {
    unsafe fn run(&self, args: &TernaryArgs) {
        let d = *self.kernel.desc();
        let dev = self.kernel.device();
        unsafe {
            let ins: Vec<DeviceBuffer<u8>> = [args.in0, args.in1, args.in2]
                .iter()
                .enumerate()
                .map(|(i, &p)| {
                    if i < d.op.inputs() {
                        up(dev, p, d.in_len(i) * d.in_dtypes[i].size())
                    } else {
                        up(dev, std::ptr::null(), 0)
                    }
                })
                .collect();
            let mask = up(
                dev,
                args.mask as *const c_void,
                if args.mask.is_null() {
                    0
                } else {
                    bitmask::bytes(d.rows, d.cols, d.mask_ld)
                },
            );
            let out = up(dev, args.output, d.out_len() * d.out_dtype.size());
            let dargs = TernaryArgs {
                in0: addr(&ins[0]),
                in1: addr(&ins[1]),
                in2: addr(&ins[2]),
                mask: addr(&mask) as *const u8,
                output: addr(&out) as *mut c_void,
            };
            self.kernel.call_raw(&dargs).expect("launch");
            dev.synchronize().expect("synchronize");
            down(dev, &out, args.output);
        }
    }
}

impl Exec<ReduceArgs> for Run<ReduceDesc> {
    unsafe fn run(&self, args: &ReduceArgs) {
        let d = *self.kernel.desc();
        let dev = self.kernel.device();
        unsafe {
            let input = up(dev, args.input, d.in_len() * d.in_dtype.size());
            let out = up(dev, args.output, d.out_len() * d.out_dtype.size());
            let dargs = ReduceArgs {
                input: addr(&input),
                output: addr(&out) as *mut c_void,
            };
            self.kernel.call_raw(&dargs).expect("launch");
            dev.synchronize().expect("synchronize");
            down(dev, &out, args.output);
        }
    }
}

impl Backend for CudaBridge {
    fn name(&self) -> &'static str {
        "cuda"
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        // The address form is checked through the bridge's own pointer arrays.
        let kernel = self.device.gemm(d, Default::default()).ok()?;
        Some(Box::new(Run { kernel }))
    }
    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        Some(Box::new(Run {
            kernel: self.device.unary(d).ok()?,
        }))
    }
    fn binary(&self, d: &BinaryDesc) -> Option<Box<dyn Exec<BinaryArgs>>> {
        Some(Box::new(Run {
            kernel: self.device.binary(d).ok()?,
        }))
    }
    fn ternary(&self, d: &TernaryDesc) -> Option<Box<dyn Exec<TernaryArgs>>> {
        Some(Box::new(Run {
            kernel: self.device.ternary(d).ok()?,
        }))
    }
    fn reduce(&self, d: &ReduceDesc) -> Option<Box<dyn Exec<ReduceArgs>>> {
        Some(Box::new(Run {
            kernel: self.device.reduce(d).ok()?,
        }))
    }
}
