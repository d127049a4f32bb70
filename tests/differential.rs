//! Differential property tests: every registered non-reference backend against the reference,
//! for every family, over random shapes, leading dimensions, dtypes and flags.
//!
//! A backend gets these tests by being in the registry (`tpp::dispatch::backends()`); when a
//! backend declines a descriptor, dispatch falls back to the reference, so only claimed
//! descriptors are compared. With no JIT backend compiled in, each property still runs its
//! strategies and the harness (which `harness_catches_bugs.rs` shows can fail) on the
//! dispatch path itself: the automatically dispatched kernel against the reference.

mod common;

use common::harness::{self, Checked};
use common::strategies;
use proptest::prelude::*;

/// The backends to compare: every JIT backend, or, while there is none, whatever automatic
/// dispatch picks (so the harness and strategies run on every build).
fn targets() -> Vec<&'static str> {
    let jit = harness::jit_backends();
    if jit.is_empty() {
        vec!["reference"]
    } else {
        jit
    }
}

/// 512 cases per property (`TPP_PROPTEST_SCALE` multiplies them).
fn config() -> ProptestConfig {
    common::scale::config(512)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gemm_matches_reference(d in strategies::gemm(), seed in any::<u64>()) {
        for b in targets() {
            harness::check_gemm(b, &d, seed).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn unary_matches_reference(d in strategies::unary(), seed in any::<u64>()) {
        for b in targets() {
            harness::check_unary(b, &d, seed).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn layout_transforms_match_reference(d in strategies::layout_transform(), seed in any::<u64>()) {
        for b in targets() {
            harness::check_unary(b, &d, seed).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn binary_matches_reference(d in strategies::binary(), seed in any::<u64>()) {
        for b in targets() {
            harness::check_binary(b, &d, seed).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn ternary_matches_reference(d in strategies::ternary(), seed in any::<u64>()) {
        for b in targets() {
            harness::check_ternary(b, &d, seed).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn reduce_matches_reference(d in strategies::reduce(), seed in any::<u64>()) {
        for b in targets() {
            harness::check_reduce(b, &d, seed).map_err(TestCaseError::fail)?;
        }
    }
}

/// The reference claims every descriptor the strategies produce.
#[test]
fn reference_claims_everything() {
    let d = tpp::GemmDesc::new(3, 5, 7, tpp::DType::F32);
    assert_eq!(
        harness::check_gemm("reference", &d, 1),
        Ok(Checked::Compared)
    );
}

/// Block-edge shapes of the layout transforms (8×8 and 16×16 transpose blocks and their tiles,
/// 8-, 16- and 32-column VNNI chunks, ragged VNNI groups), on every dtype, with padded leading
/// dimensions; and the raw moves (copies with every broadcast, zero fill) of every dtype.
#[test]
fn layout_transform_edges() {
    use tpp::*;
    for (r, c) in [
        (1, 1),
        (16, 16),
        (17, 33),
        (40, 5),
        (3, 70),
        (64, 64),
        (31, 32),
        (130, 9),
        (7, 129),
        (259, 66),
    ] {
        for dt in DType::ALL {
            let mut descs = vec![UnaryDesc::new(UnaryOp::Transpose, r, c, dt).ld(c + 3, r + 1)];
            for layout in [Layout::Vnni2, Layout::Vnni4] {
                descs.push(UnaryDesc::new(UnaryOp::VnniPack { layout }, r, c, dt).ld(c + 2, c + 5));
                descs.push(
                    UnaryDesc::new(UnaryOp::VnniUnpack { layout }, r, c, dt).ld(c + 1, c + 3),
                );
            }
            for op in [
                UnaryOp::GatherRows,
                UnaryOp::ScatterRows,
                UnaryOp::ScatterCols,
            ] {
                descs.push(UnaryDesc::new(op, r, c, dt).ld(c + 1, c + 2));
            }
            descs.push(UnaryDesc::new(UnaryOp::GatherCols, r, c, dt).ld(2 * c + 1, c + 2));
            for bc in [
                Broadcast::None,
                Broadcast::Row,
                Broadcast::Col,
                Broadcast::Scalar,
            ] {
                descs.push(
                    UnaryDesc::new(UnaryOp::Identity, r, c, dt)
                        .ld(c + 1, c + 4)
                        .broadcast(bc),
                );
            }
            descs.push(UnaryDesc::new(UnaryOp::Zero, r, c, dt).ld(c, c + 4));
            for d in descs {
                for b in targets() {
                    let got = harness::check_unary(b, &d, 5);
                    assert!(got.is_ok(), "{b} {}: {got:?}", d.kernel_name(b));
                }
            }
        }
    }
}

/// Widths past what the random strategies reach: several iterations of the unrolled column
/// loops, the leftover-vector paths, multi-block per-column reductions and mask-byte stepping.
#[test]
fn wide_row_edges() {
    use tpp::*;
    for cols in [79, 80, 129, 257, 300, 513] {
        for rows in [1, 3] {
            for dt in [DType::F32, DType::BF16] {
                let mut reduces = vec![];
                for op in [
                    ReduceOp::Sum,
                    ReduceOp::Max,
                    ReduceOp::AbsMax,
                    ReduceOp::SumAndSumSq,
                ] {
                    for axis in [ReduceAxis::PerRow, ReduceAxis::PerCol] {
                        let mut d = ReduceDesc::new(op, axis, rows, cols, dt);
                        d.ld_in += 3;
                        d.accumulate = cols % 2 == 1;
                        reduces.push(d);
                    }
                }
                let unaries = [
                    UnaryOp::Relu { mask: true },
                    UnaryOp::Dropout { p: 0.25 },
                    UnaryOp::Gelu,
                    UnaryOp::GeluErf,
                ]
                .map(|op| UnaryDesc::new(op, rows, cols, dt).ld(cols + 3, cols + 1));
                let binaries = [
                    BinaryDesc::new(BinaryOp::Add, rows, cols, dt)
                        .broadcast(Broadcast::None, Broadcast::Row),
                    BinaryDesc::new(BinaryOp::Compare(CmpOp::Le), rows, cols, dt).ld(
                        cols + 2,
                        cols,
                        cols.next_multiple_of(8) + 8,
                    ),
                ];
                for b in targets() {
                    for d in &reduces {
                        let r = harness::check_reduce(b, d, 11);
                        assert!(r.is_ok(), "{}: {r:?}", d.kernel_name(b));
                    }
                    for d in &unaries {
                        let r = harness::check_unary(b, d, 12);
                        assert!(r.is_ok(), "{}: {r:?}", d.kernel_name(b));
                    }
                    for d in &binaries {
                        let r = harness::check_binary(b, d, 13);
                        assert!(r.is_ok(), "{}: {r:?}", d.kernel_name(b));
                    }
                }
            }
        }
    }
}

/// Per-column reductions of inputs beyond the L2-sized threshold, which walk the rows through
/// column panels of partials: several full panels, a partial one, a masked tail, both sets of
/// the sum with the sum of squares, accumulation.
#[test]
fn large_column_reductions() {
    use tpp::*;
    for (rows, cols, dt) in [
        (300, 2100, DType::F32),
        (130, 4100 + 17, DType::BF16),
        (1101, 257, DType::F32),
        (7, 70_000, DType::F32),
    ] {
        for (op, acc) in [
            (ReduceOp::Sum, false),
            (ReduceOp::Max, true),
            (ReduceOp::SumAndSumSq, true),
        ] {
            let mut d = ReduceDesc::new(op, ReduceAxis::PerCol, rows, cols, dt);
            d.ld_in += 5;
            d.accumulate = acc;
            for b in targets() {
                let r = harness::check_reduce(b, &d, 21);
                assert!(r.is_ok(), "{}: {r:?}", d.kernel_name(b));
            }
        }
    }
}
