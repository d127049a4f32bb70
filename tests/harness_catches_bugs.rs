//! The differential harness must fail on a wrong kernel: this registers deliberately broken
//! backends (each wraps the reference and then commits one classic bug) and checks that the
//! harness reports each of them. It lives in its own test binary because registered backends
//! join automatic dispatch for the rest of the process.

mod common;

use common::harness::{self, Checked};
use std::ffi::c_void;
use tpp::backend::reference::Reference;
use tpp::backend::Backend;
use tpp::exec::{Exec, GemmArgs, UnaryArgs};
use tpp::*;

/// What a mutant does wrong.
#[derive(Clone, Copy, PartialEq)]
enum Bug {
    /// Never writes the last element of the output.
    SkipsLastElement,
    /// Writes a zero into the padding after the first row.
    WritesPadding,
    /// Scales the first element by 1 + 1e-3.
    Inaccurate,
    /// Flips the first bit of the mask it writes.
    FlipsMaskBit,
    /// Claims nothing.
    DeclinesEverything,
}

struct Mutant {
    name: &'static str,
    bug: Bug,
}

struct MutantUnary(UnaryDesc, Box<dyn Exec<UnaryArgs>>, Bug);
struct MutantGemm(GemmDesc, Box<dyn Exec<GemmArgs>>, Bug);

unsafe fn elem(p: *mut c_void, dt: DType, i: usize) -> *mut u8 {
    p.cast::<u8>().add(i * dt.size())
}

/// Commits `bug` on an output of `dt` with `(rows, cols, ld)`, given the run to wrap.
#[allow(clippy::too_many_arguments)]
unsafe fn with_bug(
    bug: Bug,
    out: *mut c_void,
    dt: DType,
    rows: usize,
    cols: usize,
    ld: usize,
    mask: *mut u8,
    run: impl FnOnce(),
) {
    let last = (rows - 1) * ld + cols - 1;
    let mut saved = [0u8; 8];
    std::ptr::copy_nonoverlapping(elem(out, dt, last), saved.as_mut_ptr(), dt.size());
    run();
    match bug {
        Bug::SkipsLastElement => {
            std::ptr::copy_nonoverlapping(saved.as_ptr(), elem(out, dt, last), dt.size())
        }
        Bug::WritesPadding => std::ptr::write_bytes(elem(out, dt, cols), 0, dt.size()),
        Bug::Inaccurate => {
            let p = out.cast::<f32>();
            p.write(p.read() * 1.001 + 1e-3);
        }
        Bug::FlipsMaskBit => *mask ^= 1,
        Bug::DeclinesEverything => {}
    }
}

impl Exec<UnaryArgs> for MutantUnary {
    unsafe fn run(&self, args: &UnaryArgs) {
        let d = &self.0;
        with_bug(
            self.2,
            args.output,
            d.out_dtype,
            d.rows,
            d.cols,
            d.ld_out,
            args.mask_out,
            || self.1.run(args),
        );
    }
}

impl Exec<GemmArgs> for MutantGemm {
    unsafe fn run(&self, args: &GemmArgs) {
        let d = &self.0;
        with_bug(
            self.2,
            args.c,
            d.c_dtype,
            d.m,
            d.n,
            d.ldc,
            args.relu_mask,
            || self.1.run(args),
        );
    }
}

impl Backend for Mutant {
    fn name(&self) -> &'static str {
        self.name
    }
    fn unary(&self, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
        (self.bug != Bug::DeclinesEverything)
            .then(|| Box::new(MutantUnary(*d, Reference.unary(d).unwrap(), self.bug)) as _)
    }
    fn gemm(&self, d: &GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> {
        (self.bug != Bug::DeclinesEverything)
            .then(|| Box::new(MutantGemm(*d, Reference.gemm(d).unwrap(), self.bug)) as _)
    }
}

fn register(name: &'static str, bug: Bug) -> &'static str {
    tpp::dispatch::register_backend(Box::leak(Box::new(Mutant { name, bug })));
    name
}

fn relu(ld_out: usize) -> UnaryDesc {
    UnaryDesc::new(UnaryOp::Relu { mask: true }, 5, 7, DType::F32).ld(7, ld_out)
}

fn gemm() -> GemmDesc {
    GemmDesc::new(6, 5, 9, DType::F32)
        .beta(0.0)
        .ld(9, 5, 8)
        .activation(Activation::Relu { mask: true })
}

#[test]
fn the_reference_passes_its_own_harness() {
    assert_eq!(
        harness::check_unary("reference", &relu(9), 1),
        Ok(Checked::Compared)
    );
    assert_eq!(
        harness::check_gemm("reference", &gemm(), 1),
        Ok(Checked::Compared)
    );
}

#[test]
fn a_forgotten_element_fails() {
    let b = register("skips_last", Bug::SkipsLastElement);
    let e = harness::check_unary(b, &relu(9), 1).unwrap_err();
    assert!(e.contains("out[") && e.contains("got NaN"), "{e}");
    assert!(harness::check_gemm(b, &gemm(), 2).is_err());
}

#[test]
fn a_write_into_padding_fails() {
    let b = register("writes_padding", Bug::WritesPadding);
    let e = harness::check_unary(b, &relu(9), 1).unwrap_err();
    assert!(e.contains("Outside"), "{e}");
    assert!(harness::check_gemm(b, &gemm(), 3)
        .unwrap_err()
        .contains("Outside"));
}

#[test]
fn an_inaccurate_result_fails() {
    let b = register("inaccurate", Bug::Inaccurate);
    let e = harness::check_gemm(b, &gemm().activation(Activation::None), 4).unwrap_err();
    assert!(e.contains("C[0]"), "{e}");
    let gelu = UnaryDesc::new(UnaryOp::Gelu, 3, 17, DType::F32);
    assert!(harness::check_unary(b, &gelu, 5).is_err());
}

#[test]
fn a_wrong_mask_bit_fails() {
    let b = register("flips_mask", Bug::FlipsMaskBit);
    let e = harness::check_unary(b, &relu(7), 6).unwrap_err();
    assert!(e.contains("mask byte 0"), "{e}");
    assert!(harness::check_gemm(b, &gemm(), 7)
        .unwrap_err()
        .contains("relu mask"));
}

#[test]
fn a_declined_descriptor_is_reported_not_compared() {
    let b = register("declines", Bug::DeclinesEverything);
    assert_eq!(
        harness::check_unary(b, &relu(9), 1),
        Ok(Checked::Unsupported)
    );
    assert!(matches!(
        tpp::dispatch_on(&relu(9), b),
        Err(Error::Unsupported { .. })
    ));
}
