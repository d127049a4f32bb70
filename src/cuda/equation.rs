//! Equations on a device: [`Device::equation`] validates an [`Equation`], generates its
//! kernels ([`crate::kernels_cuda::equation`]: one per pass of the shared plan), loads them and
//! allocates the scratch they share, cached per device and equation structure. A call queues
//! the launches in order on the device's stream.

use super::buffer::DeviceOperand;
use super::device::{driver_error, Device};
use super::kernel::Loaded;
use crate::error::{Error, Result};
use crate::isa::{DType, EqOutputKind, Equation};
use crate::kernels_cuda::{self, EquationPassArgs};
use crate::lower::equation::Buf;
use cudarc::driver::{CudaSlice, DevicePtr, DeviceRepr};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

// SAFETY: a plain `#[repr(C)]` struct of integers, passed by value as the pass kernels'
// single `.param` (whose layout the generator takes from the same struct).
unsafe impl DeviceRepr for EquationPassArgs {}

/// An equation's kernels loaded into one device, and its scratch there.
pub(crate) struct LoadedEquation {
    eq: Equation,
    name: String,
    launches: Vec<(Arc<Loaded>, kernels_cuda::PassLaunch)>,
    /// The scratch buffers; locked while a call queues its launches, so that the launches
    /// of two calls never interleave on the stream (they share the scratch).
    scratch: Mutex<Vec<CudaSlice<u8>>>,
}

/// The device's equations, by structure.
pub(crate) type EquationCache = HashMap<Equation, Arc<LoadedEquation>>;

/// An equation dispatched for a device. Cheap to clone.
#[derive(Clone)]
pub struct DeviceEquation {
    device: Device,
    loaded: Arc<LoadedEquation>,
}

impl std::fmt::Debug for DeviceEquation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEquation")
            .field("name", &self.loaded.name)
            .field("device", &self.device)
            .finish()
    }
}

// The cache keys hold an `Equation`, whose memo of its CPU kernel is interior mutability that
// its `Hash` and `Eq` ignore.
#[allow(clippy::mutable_key_type)]
impl Device {
    /// The kernels of `eq` on this device (validated; cached by the equation's structure).
    pub fn equation(&self, eq: &Equation) -> Result<DeviceEquation> {
        eq.validate()?;
        let mut cache = self
            .inner
            .equations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cache.get(eq) {
            return Ok(DeviceEquation {
                device: self.clone(),
                loaded: l.clone(),
            });
        }
        let backend = kernels_cuda::backend_name(self.target());
        let kernels =
            kernels_cuda::equation_kernels(eq, self.target()).map_err(|e| Error::Unsupported {
                backend,
                kernel: e.0,
            })?;
        let mut launches = Vec::with_capacity(kernels.launches.len());
        for l in kernels.launches {
            launches.push((self.load_ptx(l.kernel.clone())?, l));
        }
        let mut scratch = Vec::with_capacity(kernels.scratch.len());
        for &n in &kernels.scratch {
            scratch.push(
                self.stream()
                    .alloc_zeros::<u8>(4 * n.max(1))
                    .map_err(|e| driver_error("cuMemAlloc", e))?,
            );
        }
        let loaded = Arc::new(LoadedEquation {
            eq: eq.clone(),
            name: kernels.name,
            launches,
            scratch: Mutex::new(scratch),
        });
        cache.insert(eq.clone(), loaded.clone());
        Ok(DeviceEquation {
            device: self.clone(),
            loaded,
        })
    }
}

impl DeviceEquation {
    /// The kernel's name (`equation_cuda_sm90a_4096x1024_...`).
    pub fn name(&self) -> &str {
        &self.loaded.name
    }
    /// The equation it was generated from.
    pub fn equation(&self) -> &Equation {
        &self.loaded.eq
    }
    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// Kernel launches per call (passes, and the column folds' initialisation).
    pub fn launches(&self) -> usize {
        self.loaded.launches.len()
    }
    /// The names of the kernels one call launches, in order.
    pub fn kernel_names(&self) -> Vec<&str> {
        self.loaded.launches.iter().map(|(l, _)| l.name()).collect()
    }

    /// Queues the equation on device buffers: `inputs` and `outputs` in declaration order,
    /// each checked for device, dtype and length (a mask output is a `u8` buffer). No mask
    /// input; seed 0.
    pub fn call(
        &self,
        inputs: &[&dyn DeviceOperand],
        outputs: &mut [&mut dyn DeviceOperand],
    ) -> Result<()> {
        self.call_with(inputs, None, outputs, 0)
    }

    /// [`DeviceEquation::call`] with the mask input (if the equation reads one) and the seed
    /// of its dropout nodes.
    pub fn call_with(
        &self,
        inputs: &[&dyn DeviceOperand],
        mask_in: Option<&dyn DeviceOperand>,
        outputs: &mut [&mut dyn DeviceOperand],
        seed: u64,
    ) -> Result<()> {
        let eq = &self.loaded.eq;
        let dev = self.device.ordinal();
        let count = |name: &'static str, given: usize, want: usize| {
            if given == want {
                Ok(())
            } else {
                Err(Error::operand(
                    name,
                    format!("{given} given, the equation declares {want}"),
                ))
            }
        };
        count("inputs", inputs.len(), eq.inputs().len())?;
        count("outputs", outputs.len(), eq.outputs().len())?;
        let check = |op: &dyn DeviceOperand, name: &'static str, dtype: DType, need: usize| {
            if op.ordinal() != dev {
                return Err(Error::operand(
                    name,
                    format!(
                        "lives on device {}, the kernel on device {dev}",
                        op.ordinal()
                    ),
                ));
            }
            if op.dtype() != dtype {
                return Err(Error::operand(
                    name,
                    format!("is {}, the equation says {dtype}", op.dtype()),
                ));
            }
            if op.len() < need {
                return Err(Error::operand(
                    name,
                    format!("holds {} elements, the equation needs {need}", op.len()),
                ));
            }
            Ok(op.device_address())
        };
        let mut ins = Vec::with_capacity(inputs.len());
        for (n, (x, d)) in inputs.iter().zip(eq.inputs()).enumerate() {
            ins.push(check(*x, "inputs", d.dtype, eq.input_len(n))?);
        }
        let mut outs = Vec::with_capacity(outputs.len());
        for (n, (y, o)) in outputs.iter().zip(eq.outputs()).enumerate() {
            let dtype = match o.kind {
                EqOutputKind::Value { dtype, .. } => dtype,
                EqOutputKind::Mask { .. } => DType::U8,
            };
            outs.push(check(&**y, "outputs", dtype, eq.output_len(n))?);
        }
        let mask = match (eq.mask_inputs().is_empty(), mask_in) {
            (true, None) => 0,
            (false, Some(m)) => check(m, "mask_in", DType::U8, eq.mask_input_len(0))?,
            (true, Some(_)) => return Err(Error::operand("mask_in", "the equation reads no mask")),
            (false, None) => {
                return Err(Error::operand("mask_in", "the equation reads a mask input"))
            }
        };
        // SAFETY: every address was checked to cover the extent the equation implies; the
        // buffers outlive the queued work (the stream runs before they can be freed).
        unsafe { self.call_raw(&ins, mask, &outs, seed) }
    }

    /// Queues the equation on raw device addresses.
    ///
    /// # Safety
    /// `inputs` and `outputs` hold one device address (on this device) per input and output,
    /// each valid for the extent [`Equation::input_len`] / [`Equation::output_len`] gives (in
    /// elements of its dtype; bytes for bitmasks), `mask_in` for [`Equation::mask_input_len`]
    /// bytes when the equation reads a mask (else 0); outputs overlap neither inputs nor each
    /// other; all stay valid until the stream has run the call.
    pub unsafe fn call_raw(
        &self,
        inputs: &[u64],
        mask_in: u64,
        outputs: &[u64],
        seed: u64,
    ) -> Result<()> {
        let eq = &self.loaded.eq;
        if inputs.len() != eq.inputs().len() || outputs.len() != eq.outputs().len() {
            return Err(Error::operand(
                "inputs/outputs",
                "one address per input and per output",
            ));
        }
        let mask_out = eq
            .outputs()
            .iter()
            .position(|o| matches!(o.kind, EqOutputKind::Mask { .. }))
            .map_or(0, |n| outputs[n]);
        let scratch = self
            .loaded
            .scratch
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let stream = self.device.stream();
        let scratch_addr: Vec<u64> = scratch.iter().map(|s| s.device_ptr(stream).0).collect();
        let address = |b: Buf| match b {
            Buf::Input(i) => inputs[i as usize],
            Buf::Output(o) => outputs[o as usize],
            Buf::Scratch(s) => scratch_addr[s as usize],
        };
        for (loaded, launch) in &self.loaded.launches {
            let args = launch.args(&address, mask_in, mask_out, seed);
            // SAFETY: the caller vouches for the operands; the scratch is this kernel's and
            // sized by its plan.
            unsafe { loaded.launch(&self.device, &args) }?;
        }
        Ok(())
    }
}
