//! Device buffers: typed views of device memory owned by one device.

use super::device::{driver_error, Device};
use crate::error::Result;
use crate::isa::{DType, Element};
use cudarc::driver::{CudaSlice, DevicePtr};
use std::marker::PhantomData;

/// `len` elements of `T` in the memory of one device.
pub struct DeviceBuffer<T: Element> {
    pub(crate) bytes: CudaSlice<u8>,
    len: usize,
    device: Device,
    _t: PhantomData<T>,
}

/// What the checked calls need to know of an operand: its dtype, its length, where it lives.
pub trait DeviceOperand {
    /// The element dtype.
    fn dtype(&self) -> DType;
    /// Number of elements.
    fn len(&self) -> usize;
    /// True when it holds no element.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The ordinal of the device that holds it.
    fn ordinal(&self) -> usize;
    /// Its device address (for raw calls and argument structs).
    fn device_address(&self) -> u64;
}

impl<T: Element> DeviceBuffer<T> {
    pub(crate) fn from_bytes(device: &Device, bytes: CudaSlice<u8>, len: usize) -> Self {
        DeviceBuffer {
            bytes,
            len,
            device: device.clone(),
            _t: PhantomData,
        }
    }

    /// The device it lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Copies `host` into the buffer (lengths must match).
    pub fn copy_from(&mut self, host: &[T]) -> Result<()> {
        if host.len() != self.len {
            return Err(crate::Error::operand(
                "host",
                format!("holds {} elements, the buffer {}", host.len(), self.len),
            ));
        }
        self.device
            .stream()
            .memcpy_htod(super::device::as_bytes(host), &mut self.bytes)
            .map_err(|e| driver_error("cuMemcpyHtoD", e))
    }
}

impl<T: Element> DeviceOperand for DeviceBuffer<T> {
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn len(&self) -> usize {
        self.len
    }
    fn ordinal(&self) -> usize {
        self.device.ordinal()
    }
    fn device_address(&self) -> u64 {
        let (ptr, _sync) = self.bytes.device_ptr(self.device.stream());
        ptr
    }
}
