//! Equations over many row blocks: `TPP_EQ_BLOCK_ROWS` makes small shapes run as several
//! blocks (the shape of a matrix far larger than L2), so the passes of a group alternate
//! block by block and prefetch (the next block's inputs, this block's outputs). Every
//! kernel must still match the reference, including a last block shorter than the others.

mod common;

use common::eq_harness::{check, operands, ready_made};
use tpp::*;

#[test]
fn equations_over_many_row_blocks_match_the_reference() {
    std::env::set_var("TPP_EQ_BLOCK_ROWS", "4");
    #[cfg(target_arch = "x86_64")]
    let jit = tpp::dispatch::caps::x86().avx512 && tpp::dispatch::caps::x86().avx512_bf16;
    #[cfg(not(target_arch = "x86_64"))]
    let jit = false;
    let mut prefetching = 0;
    let mut checked = 0;
    // 19 rows: four blocks of 4 and one of 3; 77 columns leave a vector remainder.
    for &(rows, cols) in &[(19, 77), (9, 256)] {
        for dt in [DType::F32, DType::BF16, DType::F16] {
            for (n, (eq, (lo, hi))) in ready_made(rows, cols, dt).iter().enumerate() {
                let seed = (rows * 1000 + cols * 10 + n) as u64;
                let ops = operands(eq, seed, *lo, *hi);
                let mut ks = vec![eq.dispatch().unwrap()];
                if jit {
                    ks.push(eq.dispatch_on("avx512").unwrap_or_else(|e| {
                        panic!("avx512 declined {n} {rows}x{cols} {dt:?}: {e}")
                    }));
                }
                for k in ks {
                    check(&k, &ops, seed)
                        .unwrap_or_else(|e| panic!("{} {rows}x{cols} {dt:?}: {e}", k.name()));
                    prefetching += k.prefetching_passes();
                    checked += usize::from(!k.is_reference());
                }
            }
        }
    }
    if jit {
        // The norms, softmax and their backward forms have groups of several passes.
        assert!(
            prefetching >= 12,
            "only {prefetching} passes prefetch the next block"
        );
    }
    eprintln!("{checked} JIT kernels over row blocks of 4 ({prefetching} prefetching passes)");
}
