//! Equations on the CUDA backend without a GPU: every ready-made equation and random DAGs
//! are generated as PTX (one kernel per pass, see `kernels_cuda::equation`), run by the PTX
//! interpreter of `cuda_support::emu` (warp shuffles, ballots, shared and global atomics,
//! barriers), and compared with the reference evaluator through the equation harness of
//! `tests/common` (poisoned outputs, the reference's error bounds, untouched padding).

mod common;
mod cuda_support;

use common::buffers::Buf;
use common::eq_harness::{check_run, operands, random_equation, ready_made, EQ_DTYPES};
use common::scale;
use cuda_support::emu_equation::Emulated;
use proptest::prelude::*;
use tpp::kernels_cuda::Target;
use tpp::*;

fn bytes(b: &Buf) -> Vec<u8> {
    fn raw<T: Copy>(v: &[T]) -> Vec<u8> {
        // SAFETY: plain numeric elements, viewed as their bytes.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
            .to_vec()
    }
    match b {
        Buf::F64(v) => raw(v),
        Buf::F32(v) => raw(v),
        Buf::BF16(v) => raw(v),
        Buf::F16(v) => raw(v),
        Buf::I32(v) => raw(v),
        Buf::I8(v) => raw(v),
        Buf::U8(v) => raw(v),
    }
}

fn set_bytes(b: &mut Buf, bytes: &[u8]) {
    fn raw<T: Copy>(v: &mut [T], bytes: &[u8]) {
        assert_eq!(std::mem::size_of_val(v), bytes.len());
        // SAFETY: plain numeric elements of any bit pattern, overwritten byte for byte.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes.len())
        }
    }
    match b {
        Buf::F64(v) => raw(v, bytes),
        Buf::F32(v) => raw(v, bytes),
        Buf::BF16(v) => raw(v, bytes),
        Buf::F16(v) => raw(v, bytes),
        Buf::I32(v) => raw(v, bytes),
        Buf::I8(v) => raw(v, bytes),
        Buf::U8(v) => raw(v, bytes),
    }
}

/// Generates `eq` for sm_80, runs it on the interpreter and compares it with the reference.
fn check(eq: &Equation, seed: u64, lo: f64, hi: f64) -> std::result::Result<(), String> {
    let emulated = Emulated::new(eq, Target::Sm80).map_err(|e| format!("declined: {e}"))?;
    let ops = operands(eq, seed, lo, hi);
    check_run(eq, &ops, seed, &mut |ins, mask, outs, seed| {
        let ins: Vec<Vec<u8>> = ins.iter().map(bytes).collect();
        let mut raw: Vec<Vec<u8>> = outs.iter().map(bytes).collect();
        emulated.run(eq, &ins, mask, &mut raw, seed);
        for (o, r) in outs.iter_mut().zip(&raw) {
            set_bytes(o, r);
        }
        Ok(())
    })
}

/// Every ready-made equation in each dtype, on shapes with ragged warps and several blocks.
#[test]
fn ready_made_equations_match_the_reference_on_the_interpreter() {
    for &(rows, cols) in &[(1, 1), (3, 17), (11, 45), (2, 100), (33, 257)] {
        for dt in EQ_DTYPES {
            for (n, (eq, (lo, hi))) in ready_made(rows, cols, dt).iter().enumerate() {
                let seed = (rows * 1000 + cols * 10 + n) as u64;
                check(eq, seed, *lo, *hi)
                    .unwrap_or_else(|e| panic!("ready-made {n} {rows}x{cols} {dt:?}: {e}"));
            }
        }
    }
}

/// Rows too wide for the shared-memory copy of the column reductions fold straight into
/// global memory; a row of more than eight warps' steps.
#[test]
fn wide_rows_fold_columns_in_global_memory() {
    let eq = equations::layer_norm_backward(3, 6200, DType::BF16);
    let k = tpp::kernels_cuda::equation_kernels(&eq, Target::Sm80).unwrap();
    assert!(
        k.launches.iter().all(|l| l.kernel.launch.smem_bytes == 0),
        "two 6200-column reductions exceed the shared-memory copy"
    );
    check(&eq, 5, -3.0, 3.0).unwrap();
    let eq = equations::rms_norm_backward(5, 300, DType::F32);
    let k = tpp::kernels_cuda::equation_kernels(&eq, Target::Sm80).unwrap();
    assert!(k
        .launches
        .iter()
        .any(|l| l.kernel.launch.smem_bytes == 300 * 4));
    check(&eq, 6, -3.0, 3.0).unwrap();
}

proptest! {
    #![proptest_config(scale::config(64))]

    /// Random DAGs: mixed dtypes and broadcasts, reductions along both axes in the middle,
    /// masks in and out, dropout.
    #[test]
    fn random_equations_match_the_reference_on_the_interpreter(
        rows in 1usize..24,
        cols in prop_oneof![1usize..40, 60usize..140],
        seed in any::<u64>(),
    ) {
        let eq = random_equation(rows, cols, seed);
        eq.validate().map_err(|e| TestCaseError::fail(format!("{e}: {eq:?}")))?;
        check(&eq, seed, -2.0, 2.0).map_err(|e| TestCaseError::fail(format!("{e}\n{eq:?}")))?;
    }
}
