//! Dispatch: caching, canonical keys, kernel info, concurrency, forced backends.

use std::sync::Barrier;
use tpp::*;

fn assert_send_sync_copy<T: Send + Sync + Copy>() {}

#[test]
fn handles_are_send_sync_and_copy() {
    assert_send_sync_copy::<GemmKernel>();
    assert_send_sync_copy::<UnaryKernel>();
    assert_send_sync_copy::<BinaryKernel>();
    assert_send_sync_copy::<TernaryKernel>();
    assert_send_sync_copy::<ReduceKernel>();
}

#[test]
fn the_same_descriptor_gives_the_same_kernel() {
    let d = GemmDesc::new(13, 7, 5, DType::F32).beta(0.0);
    let k1 = d.dispatch().unwrap();
    let k2 = d.dispatch().unwrap();
    let k3 = tpp::dispatch(&d).unwrap();
    assert_eq!(k1, k2);
    assert_eq!(k1, k3);
    let other = GemmDesc::new(13, 7, 6, DType::F32)
        .beta(0.0)
        .dispatch()
        .unwrap();
    assert_ne!(k1, other);
}

#[test]
fn fields_that_do_not_matter_share_one_kernel() {
    // mask_ld is unused without a mask-writing activation; ld_in is unused for a broadcast.
    let a = UnaryDesc::new(UnaryOp::Exp, 4, 9, DType::F32);
    let mut b = a;
    b.mask_ld = 4096;
    assert_eq!(a.dispatch().unwrap(), b.dispatch().unwrap());
    let c = a.broadcast(Broadcast::Row);
    let mut e = c;
    e.ld_in = 77;
    assert_eq!(c.dispatch().unwrap(), e.dispatch().unwrap());
    let mut g = GemmDesc::new(4, 4, 4, DType::F32);
    let g2 = g;
    g.epilogue.mask_ld = 64;
    assert_eq!(g.dispatch().unwrap(), g2.dispatch().unwrap());
}

#[test]
fn kernel_info_says_what_and_where() {
    let k = GemmDesc::new(64, 48, 32, DType::BF16)
        .vnni_b()
        .beta(0.0)
        .dispatch()
        .unwrap();
    let info = k.info();
    assert_eq!(info.flops, 2 * 64 * 48 * 32);
    assert_eq!(info.backend, k.backend());
    assert!(
        info.name
            .starts_with(&format!("gemm_{}_bf16bf16f32_m64n48k32", info.backend)),
        "{}",
        info.name
    );
    assert!(
        info.name.contains("vnni2") && info.name.contains("beta0"),
        "{}",
        info.name
    );
    let r = tpp::dispatch_on(k.desc(), "reference").unwrap();
    assert!(r.is_reference());
    assert_eq!(r.info().code_size, 0);
    let u = UnaryDesc::new(UnaryOp::Gelu, 3, 5, DType::F32)
        .dispatch()
        .unwrap();
    assert_eq!(u.flops(), 15);
    assert!(u.name().contains("gelu_f32_3x5"), "{}", u.name());
}

#[test]
fn an_unknown_backend_is_an_error_naming_the_known_ones() {
    let d = ReduceDesc::new(ReduceOp::Sum, ReduceAxis::PerRow, 2, 2, DType::F32);
    match tpp::dispatch_on(&d, "no-such-isa") {
        Err(Error::Unsupported { kernel, .. }) => assert!(kernel.contains("reference"), "{kernel}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn invalid_descriptors_are_not_cached_and_stay_errors() {
    let d = GemmDesc::new(4, 4, 4, DType::F32).ld(3, 4, 4);
    for _ in 0..2 {
        match d.dispatch() {
            Err(Error::InvalidDescriptor { field: "lda", .. }) => {}
            other => panic!("expected an lda error, got {other:?}"),
        }
    }
}

/// 8 threads race to dispatch the same 300 new descriptors: exactly one kernel per key.
#[test]
fn concurrent_dispatch_generates_one_kernel_per_key() {
    const THREADS: usize = 8;
    let descs: Vec<UnaryDesc> = (0..300)
        .map(|i| UnaryDesc::new(UnaryOp::Sigmoid, 1000 + i, 3, DType::BF16))
        .collect();
    let barrier = Barrier::new(THREADS);
    let before = tpp::dispatch::kernels_generated();
    let per_thread: Vec<Vec<UnaryKernel>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (descs, barrier) = (&descs, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..descs.len())
                        .map(|i| descs[(i + 37 * t) % descs.len()].dispatch().unwrap())
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Other tests in this binary may generate kernels concurrently, but never for these keys.
    assert!(tpp::dispatch::kernels_generated() - before >= descs.len() as u64);
    for t in 0..THREADS {
        for i in 0..descs.len() {
            let k = per_thread[t][i];
            assert_eq!(k, per_thread[0][(i + 37 * t) % descs.len()]);
            assert_eq!(k.desc().rows, 1000 + (i + 37 * t) % descs.len());
        }
    }
    // And afterwards every key maps to that same kernel.
    for (i, d) in descs.iter().enumerate() {
        assert_eq!(d.dispatch().unwrap(), per_thread[0][i]);
    }
}

#[test]
fn the_registry_ends_with_the_reference() {
    let all = tpp::dispatch::backends();
    assert!(all.last().unwrap().is_reference());
    assert_eq!(
        tpp::dispatch::find("reference").unwrap().name(),
        "reference"
    );
    assert!(tpp::dispatch::find("nonsense").is_none());
}
