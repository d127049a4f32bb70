//! The CUDA device API (feature `cuda`): a device with its stream, device buffers, and the
//! descriptors of the CPU API dispatched for a device — generated as PTX by
//! [`crate::kernels_cuda`], JIT-compiled by the driver (`cuModuleLoadData`: no NVRTC on the
//! user's machine) and cached per device and descriptor.
//!
//! The driver is loaded at run time: the crate builds and runs where CUDA is absent, and
//! every entry point checks for the library before any driver call, so a missing driver or
//! GPU is an [`Error::Device`](crate::Error::Device), never a panic.
//!
//! ```no_run
//! # fn main() -> tpp::Result<()> {
//! use tpp::cuda::{Device, GemmOperands};
//! use tpp::{bf16, DType, GemmDesc};
//! let dev = Device::new(0)?;
//! let d = GemmDesc::new(256, 256, 256, DType::BF16).beta(0.0);
//! let gemm = dev.gemm(&d, Default::default())?;
//! let a = dev.upload(&vec![bf16::ONE; 256 * 256])?;
//! let b = dev.upload(&vec![bf16::ONE; 256 * 256])?;
//! let mut c = dev.zeros::<f32>(256 * 256)?;
//! gemm.call(GemmOperands::new(&a, &b, &mut c))?;
//! dev.matmul((256, 256, 256), &a, &b, &mut c, Default::default())?; // the same, in one call
//! assert_eq!(dev.download(&c)?[0], 256.0);
//!
//! // Equations: one kernel per pass of the shared plan, queued in order.
//! let ln = dev.equation(&tpp::equations::layer_norm(256, 256, DType::BF16, 1e-5))?;
//! let (gamma, beta) = (dev.upload(&vec![1f32; 256])?, dev.upload(&vec![0f32; 256])?);
//! let mut y = dev.zeros::<bf16>(256 * 256)?;
//! let (mut mean, mut rstd) = (dev.zeros::<f32>(256)?, dev.zeros::<f32>(256)?);
//! ln.call(&[&a, &gamma, &beta], &mut [&mut y, &mut mean, &mut rstd])?;
//! # Ok(()) }
//! ```

mod buffer;
mod calls;
mod device;
mod equation;
mod kernel;
mod tensor_map;

pub use buffer::{DeviceBuffer, DeviceOperand};
pub use calls::{BinaryOperands, GemmOperands, ReduceOperands, TernaryOperands, UnaryOperands};
pub use device::{device_count, driver_present, driver_version, Device};
pub use equation::DeviceEquation;
pub use kernel::DeviceKernel;
