//! Element access for the reference backend: every value travels as f64, the one type that
//! holds every element of every ISA dtype exactly.

use crate::isa::DType;
use half::{bf16, f16};
use std::ffi::c_void;

/// Reads element `idx` of a `dt` array as f64.
///
/// # Safety
/// `p` must point to at least `idx + 1` elements of `dt`.
#[inline]
pub unsafe fn load(p: *const c_void, dt: DType, idx: usize) -> f64 {
    match dt {
        DType::F64 => p.cast::<f64>().add(idx).read_unaligned(),
        DType::F32 => p.cast::<f32>().add(idx).read_unaligned() as f64,
        DType::BF16 => p.cast::<bf16>().add(idx).read_unaligned().to_f64(),
        DType::F16 => p.cast::<f16>().add(idx).read_unaligned().to_f64(),
        DType::I32 => p.cast::<i32>().add(idx).read_unaligned() as f64,
        DType::I8 => p.cast::<i8>().add(idx).read_unaligned() as f64,
        DType::U8 => p.cast::<u8>().add(idx).read_unaligned() as f64,
    }
}

/// Writes `v`, converted to `dt` (round to nearest even; integers saturate, NaN → 0), to
/// element `idx`.
///
/// # Safety
/// `p` must point to at least `idx + 1` writable elements of `dt`.
#[inline]
pub unsafe fn store(p: *mut c_void, dt: DType, idx: usize, v: f64) {
    match dt {
        DType::F64 => p.cast::<f64>().add(idx).write_unaligned(v),
        DType::F32 => p.cast::<f32>().add(idx).write_unaligned(v as f32),
        DType::BF16 => p
            .cast::<bf16>()
            .add(idx)
            .write_unaligned(crate::isa::bf16_from_f64(v)),
        DType::F16 => p.cast::<f16>().add(idx).write_unaligned(f16::from_f64(v)),
        DType::I32 => p
            .cast::<i32>()
            .add(idx)
            .write_unaligned(to_int(v, i32::MIN, i32::MAX)),
        DType::I8 => p
            .cast::<i8>()
            .add(idx)
            .write_unaligned(to_int(v, i8::MIN, i8::MAX)),
        DType::U8 => p
            .cast::<u8>()
            .add(idx)
            .write_unaligned(to_int(v, 0u8, u8::MAX)),
    }
}

/// Copies one element bit for bit (layout transforms must not touch NaN payloads).
///
/// # Safety
/// Both pointers must be valid for the element.
#[inline]
pub unsafe fn copy(src: *const c_void, si: usize, dst: *mut c_void, di: usize, dt: DType) {
    let s = dt.size();
    std::ptr::copy(
        src.cast::<u8>().add(si * s),
        dst.cast::<u8>().add(di * s),
        s,
    );
}

/// `v` rounded to the precision of `dt` (the value an element of `dt` would hold).
#[inline]
pub fn round_to(dt: DType, v: f64) -> f64 {
    match dt {
        DType::F64 => v,
        DType::F32 => v as f32 as f64,
        DType::BF16 => crate::isa::bf16_from_f64(v).to_f64(),
        DType::F16 => f16::from_f64(v).to_f64(),
        DType::I32 => to_int(v, i32::MIN, i32::MAX) as f64,
        DType::I8 => to_int(v, i8::MIN, i8::MAX) as f64,
        DType::U8 => to_int(v, 0u8, u8::MAX) as f64,
    }
}

/// Round to nearest even, saturate to `[lo, hi]`, NaN → 0.
fn to_int<T: TryFrom<i64> + Into<i64> + Copy + Default>(v: f64, lo: T, hi: T) -> T {
    if v.is_nan() {
        return T::default();
    }
    let r = v
        .round_ties_even()
        .clamp(lo.into() as f64, hi.into() as f64) as i64;
    T::try_from(r).unwrap_or_default()
}

/// Clears the padding bits in the last byte of each mask row (the ISA's mask contract: every
/// byte holding bits of a row is written, its padding bits as 0, and no other byte).
pub unsafe fn clear_row_padding(mask: *mut u8, rows: usize, cols: usize, ld: usize) {
    if cols.is_multiple_of(8) {
        return;
    }
    for i in 0..rows {
        let last = (i * ld + cols - 1) / 8;
        *mask.add(last) &= (1u8 << (cols % 8)) - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_rounds_to_nearest_even_and_saturates() {
        // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0).
        assert_eq!(round_to(DType::BF16, 1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round_to(DType::BF16, 1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        assert_eq!(round_to(DType::I8, 2.5), 2.0);
        assert_eq!(round_to(DType::I8, 3.5), 4.0);
        assert_eq!(round_to(DType::I8, 1000.0), 127.0);
        assert_eq!(round_to(DType::U8, -3.0), 0.0);
        assert_eq!(round_to(DType::I32, f64::NAN), 0.0);
        assert!(round_to(DType::F16, f64::NAN).is_nan());
        assert_eq!(round_to(DType::F16, 1e6), f64::INFINITY);
    }
}
