//! A CUDA device: its context, the stream every call of this handle runs on, and the cache of
//! the kernels loaded into it.

use super::buffer::DeviceBuffer;
use super::kernel::Loaded;
use crate::error::{Error, Result};
use crate::isa::Element;
use crate::kernels_cuda::Target;
use cudarc::driver::{CudaContext, CudaStream, DriverError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// True when the CUDA driver library (`libcuda`) can be loaded. Every other function of this
/// module checks it first: cudarc panics on a missing library.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

fn need_driver(call: &'static str) -> Result<()> {
    if driver_present() {
        Ok(())
    } else {
        Err(Error::Device {
            call,
            problem: "no CUDA driver library (libcuda.so) could be loaded".into(),
        })
    }
}

pub(crate) fn driver_error(call: &'static str, e: DriverError) -> Error {
    Error::Device {
        call,
        problem: e.to_string(),
    }
}

/// Number of CUDA devices (an error when there is no driver).
pub fn device_count() -> Result<usize> {
    need_driver("count devices")?;
    CudaContext::device_count()
        .map(|n| n.max(0) as usize)
        .map_err(|e| driver_error("cuDeviceGetCount", e))
}

/// The driver's CUDA version as (major, minor), e.g. (13, 0) for driver 580.
pub fn driver_version() -> Result<(u32, u32)> {
    need_driver("read the driver version")?;
    let mut v = 0i32;
    // SAFETY: the library is present; the call writes one int.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }
        .result()
        .map_err(|e| driver_error("cuDriverGetVersion", e))?;
    Ok(((v / 1000) as u32, ((v % 1000) / 10) as u32))
}

/// Which kernel a cache entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Gemm(crate::isa::GemmDesc, crate::kernels_cuda::GemmOptions),
    Unary(crate::isa::UnaryDesc),
    Binary(crate::isa::BinaryDesc),
    Ternary(crate::isa::TernaryDesc),
    Reduce(crate::isa::ReduceDesc),
}

pub(crate) struct Inner {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    ordinal: usize,
    target: Target,
    name: String,
    capability: (u32, u32),
    pub(crate) kernels: Mutex<HashMap<Key, Arc<Loaded>>>,
    pub(crate) equations: Mutex<super::equation::EquationCache>,
}

/// A device and its stream; cheap to clone (clones share the stream and the kernel cache).
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Device({}: {}, sm_{}{})",
            self.inner.ordinal, self.inner.name, self.inner.capability.0, self.inner.capability.1
        )
    }
}

impl Device {
    /// Opens device `ordinal` with a stream of its own. Needs compute capability 8.0 or
    /// newer (the `mma.sync` path).
    pub fn new(ordinal: usize) -> Result<Device> {
        need_driver("open a device")?;
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("cuCtxCreate", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| driver_error("cuDeviceGetAttribute", e))?;
        let (major, minor) = (major as u32, minor as u32);
        let target = Target::for_capability(major, minor).ok_or_else(|| Error::Device {
            call: "open a device",
            problem: format!("compute capability {major}.{minor}; tpp needs 8.0 or newer"),
        })?;
        let name = ctx.name().unwrap_or_else(|_| "unknown".into());
        let stream = ctx
            .new_stream()
            .map_err(|e| driver_error("cuStreamCreate", e))?;
        Ok(Device {
            inner: Arc::new(Inner {
                ctx,
                stream,
                ordinal,
                target,
                name,
                capability: (major, minor),
                kernels: Mutex::new(HashMap::new()),
                equations: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }
    /// The device's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// Compute capability (major, minor).
    pub fn capability(&self) -> (u32, u32) {
        self.inner.capability
    }
    /// The PTX target its kernels are generated for.
    pub fn target(&self) -> Target {
        self.inner.target
    }
    /// The stream every call of this handle is queued on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }
    /// The driver context (for interoperation: cuBLAS handles, events).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }

    /// Waits for every call queued so far.
    pub fn synchronize(&self) -> Result<()> {
        self.inner
            .stream
            .synchronize()
            .map_err(|e| driver_error("cuStreamSynchronize", e))
    }

    /// A buffer holding a copy of `host`.
    pub fn upload<T: Element>(&self, host: &[T]) -> Result<DeviceBuffer<T>> {
        if host.is_empty() {
            return self.zeros(0);
        }
        let bytes = self
            .inner
            .stream
            .clone_htod(as_bytes(host))
            .map_err(|e| driver_error("cuMemcpyHtoD", e))?;
        Ok(DeviceBuffer::from_bytes(self, bytes, host.len()))
    }

    /// `u64` values (indices, offsets) copied to the device, with their device address.
    pub(crate) fn upload_u64(&self, host: &[u64]) -> Result<(cudarc::driver::CudaSlice<u64>, u64)> {
        use cudarc::driver::DevicePtr;
        let buf = self
            .inner
            .stream
            .clone_htod(host)
            .map_err(|e| driver_error("cuMemcpyHtoD", e))?;
        let addr = buf.device_ptr(&self.inner.stream).0;
        Ok((buf, addr))
    }

    /// A buffer of `len` zero elements.
    pub fn zeros<T: Element>(&self, len: usize) -> Result<DeviceBuffer<T>> {
        let bytes = self
            .inner
            .stream
            .alloc_zeros::<u8>(len.max(1) * std::mem::size_of::<T>())
            .map_err(|e| driver_error("cuMemAlloc", e))?;
        Ok(DeviceBuffer::from_bytes(self, bytes, len))
    }

    /// The buffer's contents (waits for the calls queued before).
    pub fn download<T: Element>(&self, buf: &DeviceBuffer<T>) -> Result<Vec<T>> {
        let bytes = self
            .inner
            .stream
            .clone_dtoh(&buf.bytes)
            .map_err(|e| driver_error("cuMemcpyDtoH", e))?;
        let n = buf_len(buf);
        let mut out = Vec::<T>::with_capacity(n);
        // SAFETY: `bytes` holds at least `n` elements of `T` (Element types are plain data
        // of every bit pattern), copied into fresh capacity.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                out.as_mut_ptr() as *mut u8,
                n * std::mem::size_of::<T>(),
            );
            out.set_len(n);
        }
        Ok(out)
    }
}

fn buf_len<T: Element>(b: &DeviceBuffer<T>) -> usize {
    super::buffer::DeviceOperand::len(b)
}

/// The bytes of a slice of plain elements.
pub(crate) fn as_bytes<T: Element>(s: &[T]) -> &[u8] {
    // SAFETY: Element types (f64, f32, bf16, f16, i32, i8, u8) have no padding and no
    // invalid bit patterns; the view covers exactly the slice.
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s)) }
}
