//! Device kernels: descriptors dispatched for a device (validated, canonicalised, generated
//! as PTX, loaded by the driver's JIT, cached per device and descriptor), and their raw
//! launches.

use super::device::{driver_error, Device, Key};
use crate::error::{Error, Result};
use crate::exec::{BinaryArgs, GemmArgs, ReduceArgs, TernaryArgs, UnaryArgs};
use crate::isa::{BinaryDesc, GemmDesc, ReduceDesc, TernaryDesc, UnaryDesc};
use crate::kernels_cuda::{self, GemmOptions, Launch, PtxKernel};
use cudarc::driver::sys::CUfunction_attribute_enum;
use cudarc::driver::{CudaFunction, CudaModule, DeviceRepr, LaunchConfig, PushKernelArg};
use std::sync::Arc;

// SAFETY: plain `#[repr(C)]` structs of pointers and integers, passed by value as the
// kernels' single `.param` (whose layout the generator takes from the same structs).
unsafe impl DeviceRepr for GemmArgs {}
unsafe impl DeviceRepr for UnaryArgs {}
unsafe impl DeviceRepr for BinaryArgs {}
unsafe impl DeviceRepr for TernaryArgs {}
unsafe impl DeviceRepr for ReduceArgs {}
// SAFETY: as above, 64-byte aligned like the kernel's `.param` (it holds two tensor maps).
unsafe impl DeviceRepr for kernels_cuda::gemm_wgmma::WgmmaGemmArgs {}

/// A kernel loaded into a device.
pub(crate) struct Loaded {
    _module: Arc<CudaModule>,
    function: CudaFunction,
    launch: Launch,
    name: String,
    ptx_bytes: usize,
}

/// A kernel for descriptor `D` on one device. Cheap to clone.
#[derive(Clone)]
pub struct DeviceKernel<D> {
    pub(crate) device: Device,
    loaded: Arc<Loaded>,
    pub(crate) desc: D,
    /// GEMMs of the sm_90a wgmma family: their tiling, which says how to encode the tensor
    /// maps of each call (`None`: every other kernel, whose argument struct is passed as is).
    pub(crate) tma: Option<kernels_cuda::gemm_wgmma::Plan>,
}

impl<D> DeviceKernel<D> {
    /// The kernel's name (`gemm_cuda_sm80_bf16_m4096n4096k4096_beta0`).
    pub fn name(&self) -> &str {
        &self.loaded.name
    }
    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The descriptor it was generated for (canonical form).
    pub fn desc(&self) -> &D {
        &self.desc
    }
    /// Its launch geometry.
    pub fn launch(&self) -> Launch {
        self.loaded.launch
    }
    /// Bytes of PTX it was loaded from.
    pub fn ptx_bytes(&self) -> usize {
        self.loaded.ptx_bytes
    }

    /// Queues the kernel on the device's stream with `args` by value.
    ///
    /// # Safety
    /// Every pointer in `args` must be a device address on this device covering what the
    /// descriptor reads and writes, and stay valid until the stream has run the call.
    pub(crate) unsafe fn launch_args<A: DeviceRepr>(&self, args: &A) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.loaded.launch(&self.device, args) }
    }
}

impl Loaded {
    /// The kernel's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Queues the kernel on `device`'s stream with `args` by value.
    ///
    /// # Safety
    /// Every pointer in `args` must be a device address on `device` covering what the kernel
    /// reads and writes, and stay valid until the stream has run the call.
    pub(crate) unsafe fn launch<A: DeviceRepr>(&self, device: &Device, args: &A) -> Result<()> {
        let l = self.launch;
        let cfg = LaunchConfig {
            grid_dim: l.grid,
            block_dim: l.block,
            shared_mem_bytes: l.smem_bytes,
        };
        let stream = device.stream();
        let mut b = stream.launch_builder(&self.function);
        b.arg(args);
        // SAFETY: the caller vouches for the pointers; the argument is the kernel's one
        // by-value struct.
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(|e| driver_error("cuLaunchKernel", e))
    }
}

macro_rules! raw_call {
    ($desc:ty, $args:ty) => {
        impl DeviceKernel<$desc> {
            /// Queues the kernel with a raw argument struct of device addresses.
            ///
            /// # Safety
            /// Every pointer in `args` must be a device address on this kernel's device,
            /// covering what the descriptor reads and writes (the checked call's rules), and
            /// stay valid until the stream has run the call.
            pub unsafe fn call_raw(&self, args: &$args) -> Result<()> {
                // SAFETY: forwarded to the caller.
                unsafe { self.launch_args(args) }
            }
        }
    };
}
raw_call!(UnaryDesc, UnaryArgs);
raw_call!(BinaryDesc, BinaryArgs);
raw_call!(TernaryDesc, TernaryArgs);
raw_call!(ReduceDesc, ReduceArgs);

impl DeviceKernel<GemmDesc> {
    /// True when the kernel is of the sm_90a wgmma family (TMA-fed, `gemm_wgmma_...`), false
    /// for the `mma.sync` / SIMT path.
    pub fn uses_wgmma(&self) -> bool {
        self.tma.is_some()
    }

    /// Queues the kernel with a raw argument struct of device addresses (the wgmma family
    /// encodes the tensor maps of `args.a` and `args.b` first: a host-only driver call).
    ///
    /// # Safety
    /// Every pointer in `args` must be a device address on this kernel's device, covering
    /// what the descriptor reads and writes (the checked call's rules), and stay valid until
    /// the stream has run the call.
    pub unsafe fn call_raw(&self, args: &GemmArgs) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.launch_gemm(*args) }
    }

    /// Launches with `args`, wrapped with the tensor maps for the wgmma family.
    ///
    /// # Safety
    /// As [`Self::call_raw`].
    pub(crate) unsafe fn launch_gemm(&self, args: GemmArgs) -> Result<()> {
        match &self.tma {
            None => unsafe { self.launch_args(&args) },
            Some(plan) => {
                let w = super::tensor_map::wgmma_args(&self.desc, plan, args)?;
                // SAFETY: the maps cover the operands the caller vouched for.
                unsafe { self.launch_args(&w) }
            }
        }
    }
}

impl Device {
    fn load(
        &self,
        key: Key,
        generate: impl FnOnce() -> std::result::Result<PtxKernel, kernels_cuda::Declined>,
    ) -> Result<Arc<Loaded>> {
        let mut cache = self.inner.kernels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&key) {
            return Ok(k.clone());
        }
        let backend = kernels_cuda::backend_name(self.target());
        let k = generate().map_err(|e| Error::Unsupported {
            backend,
            kernel: e.0,
        })?;
        let loaded = self.load_ptx(k)?;
        cache.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Loads a generated kernel into the device (no cache: callers cache what they load).
    pub(crate) fn load_ptx(&self, k: PtxKernel) -> Result<Arc<Loaded>> {
        // TPP_DUMP: the PTX, for `ptxas -v` or `cuobjdump`.
        crate::exec::arena::dump(&k.name, k.ptx.as_bytes());
        let module = self
            .inner
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(k.ptx.clone()))
            .map_err(|e| driver_error("cuModuleLoadData", e))?;
        let function = module
            .load_function(&k.name)
            .map_err(|e| driver_error("cuModuleGetFunction", e))?;
        if k.launch.smem_bytes > 48 * 1024 {
            function
                .set_attribute(
                    CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    k.launch.smem_bytes as i32,
                )
                .map_err(|e| driver_error("cuFuncSetAttribute", e))?;
        }
        let loaded = Arc::new(Loaded {
            _module: module,
            function,
            launch: k.launch,
            name: k.name,
            ptx_bytes: k.ptx.len(),
        });
        crate::dispatch::env::log(|| {
            format!("cuda dispatch {} on device {}", loaded.name, self.ordinal())
        });
        Ok(loaded)
    }

    /// The GEMM / BRGEMM kernel of `d` (`opts.tf32` lets f32 GEMMs use tf32 tensor cores). On
    /// an sm_90 device (compute capability 9.0) a large enough bf16/f16 GEMM gets the wgmma
    /// family fed by TMA (`gemm_wgmma_...`), everything else the `mma.sync` / SIMT path
    /// ([`kernels_cuda::gemm_wgmma::select`] decides).
    pub fn gemm(&self, d: &GemmDesc, opts: GemmOptions) -> Result<DeviceKernel<GemmDesc>> {
        d.validate()?;
        let d = d.canonical();
        let target = self.target();
        // The same selection as the generator's: the wgmma family's kernels take tensor maps.
        let tma = kernels_cuda::gemm_wgmma::select(&d, target, opts).ok();
        let loaded = self.load(Key::Gemm(d, opts), || {
            kernels_cuda::gemm_kernel(&d, target, opts)
        })?;
        debug_assert_eq!(tma.is_some(), loaded.name().starts_with("gemm_wgmma_"));
        Ok(DeviceKernel {
            device: self.clone(),
            loaded,
            desc: d,
            tma,
        })
    }

    /// The unary kernel of `d`.
    pub fn unary(&self, d: &UnaryDesc) -> Result<DeviceKernel<UnaryDesc>> {
        d.validate()?;
        let d = d.canonical();
        let target = self.target();
        let loaded = self.load(Key::Unary(d), || kernels_cuda::unary(&d, target))?;
        Ok(DeviceKernel {
            device: self.clone(),
            loaded,
            desc: d,
            tma: None,
        })
    }

    /// The binary kernel of `d`.
    pub fn binary(&self, d: &BinaryDesc) -> Result<DeviceKernel<BinaryDesc>> {
        d.validate()?;
        let d = d.canonical();
        let target = self.target();
        let loaded = self.load(Key::Binary(d), || kernels_cuda::binary(&d, target))?;
        Ok(DeviceKernel {
            device: self.clone(),
            loaded,
            desc: d,
            tma: None,
        })
    }

    /// The ternary kernel of `d`.
    pub fn ternary(&self, d: &TernaryDesc) -> Result<DeviceKernel<TernaryDesc>> {
        d.validate()?;
        let d = d.canonical();
        let target = self.target();
        let loaded = self.load(Key::Ternary(d), || kernels_cuda::ternary(&d, target))?;
        Ok(DeviceKernel {
            device: self.clone(),
            loaded,
            desc: d,
            tma: None,
        })
    }

    /// The reduce kernel of `d`.
    pub fn reduce(&self, d: &ReduceDesc) -> Result<DeviceKernel<ReduceDesc>> {
        d.validate()?;
        let d = d.canonical();
        let target = self.target();
        let loaded = self.load(Key::Reduce(d), || kernels_cuda::reduce_kernel(&d, target))?;
        Ok(DeviceKernel {
            device: self.clone(),
            loaded,
            desc: d,
            tma: None,
        })
    }

    /// Kernels loaded into this device so far.
    pub fn kernels_loaded(&self) -> usize {
        self.inner
            .kernels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
