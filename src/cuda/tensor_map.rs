//! TMA tensor maps for the sm_90a wgmma GEMM kernels: the generator's description of a map
//! ([`TensorMapSpec`]: dimensions, byte strides, box) encoded by the driver's
//! `cuTensorMapEncodeTiled` into the 128 opaque bytes the kernel parameter carries, and the
//! argument struct of one call. Maps hold device addresses, so they are encoded per call (a
//! host-only driver call, no GPU work).

use super::device::{driver_error, driver_present};
use crate::error::{Error, Result};
use crate::exec::GemmArgs;
use crate::isa::{DType, GemmDesc};
use crate::kernels_cuda::gemm_wgmma::{Plan, WgmmaGemmArgs};
use crate::kernels_cuda::tma::{TensorMapBytes, TensorMapSpec, TENSOR_MAP_BYTES};
use cudarc::driver::sys;
use std::mem::MaybeUninit;

/// The driver's element type of a map.
fn data_type(dt: DType) -> Result<sys::CUtensorMapDataType> {
    match dt {
        DType::BF16 => Ok(sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16),
        DType::F16 => Ok(sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16),
        d => Err(Error::operand("a", format!("no tensor map for {d}"))),
    }
}

/// Encodes `spec` (checked against the driver's documented limits first, so a bad operand is
/// a typed error naming it) with the 128-byte swizzle, zero fill and 256-byte L2 promotion.
pub(crate) fn encode(spec: &TensorMapSpec, operand: &'static str) -> Result<TensorMapBytes> {
    spec.check().map_err(|e| Error::operand(operand, e))?;
    if !driver_present() {
        return Err(Error::Device {
            call: "encode a tensor map",
            problem: "no CUDA driver library (libcuda.so) could be loaded".into(),
        });
    }
    let ones = [1u32; 3];
    let mut map = MaybeUninit::<sys::CUtensorMap>::zeroed();
    // SAFETY: the library is present (checked above); every array holds `rank` entries (the
    // strides `rank - 1`), `map` is writable and aligned as the driver requires.
    unsafe {
        sys::cuTensorMapEncodeTiled(
            map.as_mut_ptr(),
            data_type(spec.dtype)?,
            spec.rank as u32,
            spec.address as usize as *mut std::ffi::c_void,
            spec.dims.as_ptr(),
            spec.strides.as_ptr(),
            spec.box_dims.as_ptr(),
            ones.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    }
    .result()
    .map_err(|e| driver_error("cuTensorMapEncodeTiled", e))?;
    // SAFETY: the driver filled the map.
    let map = unsafe { map.assume_init() };
    let mut out = TensorMapBytes::default();
    // SAFETY: `CUtensorMap` is 128 plain bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&map as *const sys::CUtensorMap).cast::<u8>(),
            TENSOR_MAP_BYTES,
        )
    };
    out.0.copy_from_slice(bytes);
    Ok(out)
}

/// The wgmma kernel's arguments for one call: the common GEMM arguments plus the maps of A
/// (at `gemm.a`) and B (at `gemm.b`) over `gemm.batch` members.
pub(crate) fn wgmma_args(d: &GemmDesc, plan: &Plan, gemm: GemmArgs) -> Result<WgmmaGemmArgs> {
    let [a, b] = plan.maps(
        d,
        gemm.a as usize as u64,
        gemm.b as usize as u64,
        gemm.batch as usize,
    );
    Ok(WgmmaGemmArgs {
        tmap_a: encode(&a, "a")?,
        tmap_b: encode(&b, "b")?,
        gemm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_maps_are_typed_errors_before_any_driver_call() {
        let d = GemmDesc::new(256, 256, 256, DType::BF16);
        let plan = Plan::choose(&d);
        let gemm = GemmArgs {
            a: 0x1008 as *const _, // 8 bytes past a 16-byte boundary
            b: 0x2000 as *const _,
            ..GemmArgs::default()
        };
        match wgmma_args(&d, &plan, gemm) {
            Err(Error::InvalidOperand { operand: "a", .. }) => {}
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("a misaligned A was accepted"),
        }
        assert!(data_type(DType::F32).is_err());
        assert_eq!(
            std::mem::size_of::<sys::CUtensorMap>(),
            TENSOR_MAP_BYTES,
            "the driver's map is what the kernel parameter holds"
        );
    }
}
