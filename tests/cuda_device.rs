//! The CUDA kernels on a GPU, against the reference backend: every family of the catalogue
//! (the kernels `cuda_ptxas` assembles) and random descriptors of every family, through the
//! differential harness of `tests/common` (poisoned outputs, per-dtype tolerances, masks
//! byte for byte), plus the checked calls' validation and the tf32 path. Without a driver or a
//! GPU every test prints one `SKIPPED` line and passes; run with `--features cuda`. Equations
//! (every ready-made one, random DAGs) run through `Device::equation` against the reference
//! evaluator.

mod common;
mod cuda_support;

use common::buffers::Buf;
use common::eq_harness::{check_run, operands, random_equation, ready_made, EQ_DTYPES};
use common::harness::{self, Checked};
use cuda_support::bridge::CudaBridge;
use cuda_support::catalogue;
use std::sync::OnceLock;
use tpp::cuda::{self, Device, GemmOperands, UnaryOperands};
use tpp::{equations, DType, Equation, Error, GemmDesc, UnaryDesc, UnaryOp};

/// The device, with the bridge backend registered, or why not.
fn device() -> Option<&'static Device> {
    static DEV: OnceLock<Result<Device, String>> = OnceLock::new();
    let dev = DEV.get_or_init(|| {
        if !cuda::driver_present() {
            return Err("no CUDA driver library (libcuda.so)".into());
        }
        let dev = Device::new(0).map_err(|e| e.to_string())?;
        let (major, minor) = cuda::driver_version().map_err(|e| e.to_string())?;
        eprintln!(
            "device 0: {} (sm_{}{}), driver CUDA {major}.{minor}",
            dev.name(),
            dev.capability().0,
            dev.capability().1
        );
        tpp::dispatch::register_backend(Box::leak(Box::new(CudaBridge {
            device: dev.clone(),
        })));
        Ok(dev)
    });
    match dev {
        Ok(d) => Some(d),
        Err(why) => {
            eprintln!("SKIPPED: no CUDA device ({why}): the device kernels were not run");
            None
        }
    }
}

fn all_compared(what: &str, results: Vec<(String, Result<Checked, String>)>) {
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(name, r)| match r {
            Ok(Checked::Compared) => None,
            Ok(Checked::Unsupported) => Some(format!("{name}: the device declined it")),
            Err(e) => Some(format!("{name}: {e}")),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{what}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_catalogued_kernel_matches_the_reference() {
    if device().is_none() {
        return;
    }
    let mut r = vec![];
    for (i, d) in catalogue::unaries().iter().enumerate() {
        r.push((format!("{d:?}"), harness::check_unary("cuda", d, i as u64)));
    }
    for (i, d) in catalogue::binaries().iter().enumerate() {
        r.push((format!("{d:?}"), harness::check_binary("cuda", d, i as u64)));
    }
    for (i, d) in catalogue::ternaries().iter().enumerate() {
        r.push((
            format!("{d:?}"),
            harness::check_ternary("cuda", d, i as u64),
        ));
    }
    for (i, d) in catalogue::reductions().iter().enumerate() {
        r.push((format!("{d:?}"), harness::check_reduce("cuda", d, i as u64)));
    }
    for (i, c) in catalogue::gemms()
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.tf32)
    {
        r.push((
            format!("{:?}", c.desc),
            harness::check_gemm("cuda", &c.desc, i as u64),
        ));
    }
    all_compared("catalogue", r);
}

mod random {
    use super::*;
    use common::strategies;
    use proptest::prelude::*;

    fn ok(r: Result<Checked, String>) -> Result<(), TestCaseError> {
        r.map(|_| ()).map_err(TestCaseError::fail)
    }

    proptest! {
        #![proptest_config(common::scale::config(48))]
        #[test]
        fn gemms(d in strategies::gemm(), seed in any::<u64>()) {
            if device().is_some() { ok(harness::check_gemm("cuda", &d, seed))?; }
        }
        #[test]
        fn unaries(d in strategies::unary(), seed in any::<u64>()) {
            if device().is_some() { ok(harness::check_unary("cuda", &d, seed))?; }
        }
        #[test]
        fn transforms(d in strategies::layout_transform(), seed in any::<u64>()) {
            if device().is_some() { ok(harness::check_unary("cuda", &d, seed))?; }
        }
        #[test]
        fn binaries(d in strategies::binary(), seed in any::<u64>()) {
            if device().is_some() { ok(harness::check_binary("cuda", &d, seed))?; }
        }
        #[test]
        fn ternaries(d in strategies::ternary(), seed in any::<u64>()) {
            if device().is_some() { ok(harness::check_ternary("cuda", &d, seed))?; }
        }
        #[test]
        fn reductions(d in strategies::reduce(), seed in any::<u64>()) {
            if device().is_some() { ok(harness::check_reduce("cuda", &d, seed))?; }
        }
    }
}

/// Shapes past the wgmma threshold: on an sm_90 device (compute capability 9.0) they take
/// the TMA-fed wgmma family (every transpose, the stride batch, ragged edges, bias + relu
/// mask, narrow outputs); elsewhere the mma.sync path. Either way against the reference.
#[test]
fn large_bf16_and_f16_gemms_take_wgmma_on_sm90_and_match_the_reference() {
    let Some(dev) = device() else { return };
    use tpp::{Activation, BatchReduce, BiasBroadcast};
    let base = GemmDesc::new(300, 260, 200, DType::BF16)
        .ld(200, 264, 260)
        .beta(0.0);
    let ds = [
        base,
        base.trans_a().ld(304, 264, 260),
        base.trans_b().ld(200, 200, 260),
        GemmDesc::new(300, 260, 200, DType::F16)
            .trans_a()
            .trans_b()
            .ld(304, 200, 260)
            .alpha(0.5)
            .beta(1.0),
        base.batch(BatchReduce::Stride {
            a: 300 * 200,
            b: 200 * 264,
        }),
        base.bias(BiasBroadcast::Row, DType::BF16)
            .activation(Activation::Relu { mask: true })
            .output(DType::BF16),
    ];
    let mut r = vec![];
    for (i, d) in ds.iter().enumerate() {
        let k = dev.gemm(d, Default::default()).unwrap();
        assert_eq!(k.uses_wgmma(), dev.capability() == (9, 0), "{}", k.name());
        r.push((
            k.name().to_string(),
            harness::check_gemm("cuda", d, i as u64),
        ));
    }
    all_compared("large GEMMs", r);
}

#[test]
fn tf32_gemm_is_within_tf32_rounding_of_the_reference() {
    let Some(dev) = device() else { return };
    let (m, n, k) = (96, 80, 200);
    let d = GemmDesc::new(m, n, k, DType::F32).beta(0.0);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 201) as f32 - 100.0) / 100.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729 % 199) as f32 - 99.0) / 99.0)
        .collect();
    let mut want = vec![0f32; m * n];
    d.dispatch()
        .unwrap()
        .call(&a[..], &b[..], &mut want[..])
        .unwrap();
    let gemm = dev
        .gemm(&d, tpp::kernels_cuda::GemmOptions { tf32: true })
        .unwrap();
    assert!(gemm.name().ends_with("_tf32"));
    let (da, db) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
    let mut dc = dev.upload(&vec![f32::NAN; m * n]).unwrap();
    gemm.call(GemmOperands::new(&da, &db, &mut dc)).unwrap();
    let got = dev.download(&dc).unwrap();
    // tf32 keeps 10 mantissa bits: each product is off by up to 2·2⁻¹¹ relative.
    let bound = k as f32 * 2.0 * 2f32.powi(-11) * 1.5;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= bound, "C[{i}]: got {g}, want {w}");
    }
}

#[test]
fn checked_calls_refuse_short_or_mistyped_operands() {
    let Some(dev) = device() else { return };
    let d = GemmDesc::new(32, 32, 32, DType::BF16).beta(0.0);
    let gemm = dev.gemm(&d, Default::default()).unwrap();
    let a = dev.zeros::<tpp::bf16>(32 * 32).unwrap();
    let short = dev.zeros::<tpp::bf16>(32 * 31).unwrap();
    let wrong = dev.zeros::<f32>(32 * 32).unwrap();
    let mut c = dev.zeros::<f32>(32 * 32).unwrap();
    let e = gemm
        .call(GemmOperands::new(&a, &short, &mut c))
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidOperand { operand: "b", .. }),
        "{e}"
    );
    let e = gemm
        .call(GemmOperands::new(&a, &wrong, &mut c))
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidOperand { operand: "b", .. }),
        "{e}"
    );
    let relu = dev
        .unary(&UnaryDesc::new(
            UnaryOp::Relu { mask: true },
            4,
            8,
            DType::F32,
        ))
        .unwrap();
    let (x, mut y) = (dev.zeros::<f32>(32).unwrap(), dev.zeros::<f32>(32).unwrap());
    let e = relu.call(UnaryOperands::new(&x, &mut y)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidOperand {
                operand: "mask_out",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        dev.gemm(&d, Default::default()).unwrap().name(),
        gemm.name(),
        "cached per device"
    );
}

#[test]
fn without_a_driver_every_entry_point_is_a_typed_error() {
    if cuda::driver_present() {
        eprintln!("SKIPPED: a CUDA driver is present, the no-driver path cannot be exercised");
        return;
    }
    assert!(matches!(Device::new(0), Err(Error::Device { .. })));
    assert!(matches!(cuda::device_count(), Err(Error::Device { .. })));
    assert!(matches!(cuda::driver_version(), Err(Error::Device { .. })));
}

#[test]
fn matmul_on_the_device_matches_the_host_gemm() {
    let Some(dev) = device() else { return };
    let (m, n, k) = (300, 200, 150);
    let a: Vec<tpp::bf16> = (0..m * k)
        .map(|i| tpp::bf16::from_f32((i % 7) as f32 / 8.0 - 0.375))
        .collect();
    let b: Vec<tpp::bf16> = (0..k * n)
        .map(|i| tpp::bf16::from_f32((i % 5) as f32 / 4.0 - 0.5))
        .collect();
    let mut want = vec![0f32; m * n];
    GemmDesc::new(m, n, k, DType::BF16)
        .beta(0.0)
        .dispatch()
        .unwrap()
        .call(&a[..], &b[..], &mut want[..])
        .unwrap();
    let (da, db) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
    let mut dc = dev.upload(&vec![f32::NAN; m * n]).unwrap();
    dev.matmul((m, n, k), &da, &db, &mut dc, Default::default())
        .unwrap();
    // Exact: every product and partial sum is a multiple of 1/32 well inside f32's range.
    assert_eq!(dev.download(&dc).unwrap(), want);
}

/// A device copy of a test buffer.
enum OnDevice {
    F32(cuda::DeviceBuffer<f32>),
    BF16(cuda::DeviceBuffer<tpp::bf16>),
    F16(cuda::DeviceBuffer<tpp::f16>),
    U8(cuda::DeviceBuffer<u8>),
}

impl OnDevice {
    fn up(dev: &Device, b: &Buf) -> OnDevice {
        match b {
            Buf::F32(v) => OnDevice::F32(dev.upload(v).unwrap()),
            Buf::BF16(v) => OnDevice::BF16(dev.upload(v).unwrap()),
            Buf::F16(v) => OnDevice::F16(dev.upload(v).unwrap()),
            Buf::U8(v) => OnDevice::U8(dev.upload(v).unwrap()),
            other => panic!("no equation operand is {other:?}"),
        }
    }
    fn op(&self) -> &dyn cuda::DeviceOperand {
        match self {
            OnDevice::F32(b) => b,
            OnDevice::BF16(b) => b,
            OnDevice::F16(b) => b,
            OnDevice::U8(b) => b,
        }
    }
    fn op_mut(&mut self) -> &mut dyn cuda::DeviceOperand {
        match self {
            OnDevice::F32(b) => b,
            OnDevice::BF16(b) => b,
            OnDevice::F16(b) => b,
            OnDevice::U8(b) => b,
        }
    }
    fn down(&self, dev: &Device, into: &mut Buf) {
        match (self, into) {
            (OnDevice::F32(b), Buf::F32(v)) => *v = dev.download(b).unwrap(),
            (OnDevice::BF16(b), Buf::BF16(v)) => *v = dev.download(b).unwrap(),
            (OnDevice::F16(b), Buf::F16(v)) => *v = dev.download(b).unwrap(),
            (OnDevice::U8(b), Buf::U8(v)) => *v = dev.download(b).unwrap(),
            _ => panic!("dtype changed on the way back"),
        }
    }
}

/// Runs `eq` on the device and compares it with the reference evaluator.
fn check_equation(dev: &Device, eq: &Equation, seed: u64, lo: f64, hi: f64) -> Result<(), String> {
    let k = dev.equation(eq).map_err(|e| format!("dispatch: {e}"))?;
    let ops = operands(eq, seed, lo, hi);
    check_run(eq, &ops, seed, &mut |ins, mask, outs, seed| {
        let din: Vec<OnDevice> = ins.iter().map(|b| OnDevice::up(dev, b)).collect();
        let mut dout: Vec<OnDevice> = outs.iter().map(|b| OnDevice::up(dev, b)).collect();
        let dmask = mask.map(|m| dev.upload(m).unwrap());
        {
            let ins: Vec<&dyn cuda::DeviceOperand> = din.iter().map(|d| d.op()).collect();
            let mut outs: Vec<&mut dyn cuda::DeviceOperand> =
                dout.iter_mut().map(|d| d.op_mut()).collect();
            let m = dmask.as_ref().map(|m| m as &dyn cuda::DeviceOperand);
            k.call_with(&ins, m, &mut outs, seed)
                .map_err(|e| format!("call: {e}"))?;
        }
        for (d, o) in dout.iter().zip(outs.iter_mut()) {
            d.down(dev, o);
        }
        Ok(())
    })
}

#[test]
fn every_ready_made_equation_matches_the_reference_on_the_device() {
    let Some(dev) = device() else { return };
    for &(rows, cols) in &[(1, 1), (3, 17), (33, 257), (300, 1024), (70, 7000)] {
        for dt in EQ_DTYPES {
            for (n, (eq, (lo, hi))) in ready_made(rows, cols, dt).iter().enumerate() {
                let seed = (rows * 1000 + cols * 10 + n) as u64;
                check_equation(dev, eq, seed, *lo, *hi)
                    .unwrap_or_else(|e| panic!("ready-made {n} {rows}x{cols} {dt:?}: {e}"));
            }
        }
    }
}

#[test]
fn random_equations_match_the_reference_on_the_device() {
    let Some(dev) = device() else { return };
    for seed in 0..200u64 {
        let (rows, cols) = (1 + (seed as usize * 7) % 40, 1 + (seed as usize * 37) % 300);
        let eq = random_equation(rows, cols, seed);
        check_equation(dev, &eq, seed, -2.0, 2.0).unwrap_or_else(|e| panic!("{e}\n{eq:?}"));
    }
}

#[test]
fn device_equations_are_cached_and_check_their_operands() {
    let Some(dev) = device() else { return };
    let eq = equations::softmax(4, 8, DType::F32);
    let a = dev.equation(&eq).unwrap();
    let b = dev.equation(&equations::softmax(4, 8, DType::F32)).unwrap();
    assert_eq!(a.kernel_names(), b.kernel_names());
    let x = dev.upload(&[0f32; 32]).unwrap();
    let mut short = dev.zeros::<f32>(31).unwrap();
    assert!(matches!(
        a.call(&[&x], &mut [&mut short]),
        Err(Error::InvalidOperand { .. })
    ));
    let mut wrong = dev.zeros::<tpp::bf16>(32).unwrap();
    assert!(matches!(
        a.call(&[&x], &mut [&mut wrong]),
        Err(Error::InvalidOperand { .. })
    ));
    assert!(matches!(
        a.call(&[], &mut []),
        Err(Error::InvalidOperand { .. })
    ));
}
