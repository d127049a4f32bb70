//! GEMM forms the microkernels do not read or write directly — a transposed B, a B layout the
//! multiply does not take (f16 VNNI2, bf16 VNNI2 without AVX512_BF16, int8 row-major), a VNNI2
//! C — composed from JIT kernels: a layout transform of each `B_i` into per-thread scratch, the
//! microkernel on the canonical form, and the VNNI2 pack of C (after an unpack when beta reads
//! it). Each transform is one pass over its operand; the GEMM itself runs at the microkernel's
//! speed. Backend-neutral: the AVX-512 and NEON backends each name their microkernel, their
//! layout kernels and whether their microkernels read a bf16 VNNI2 B.

use crate::exec::{Exec, GemmArgs, UnaryArgs};
use crate::isa::{BatchReduce, DType, GemmDesc, Layout, UnaryDesc, UnaryOp};
use std::cell::RefCell;
use std::ffi::c_void;

/// How B is brought to the microkernel's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BPrep {
    /// Stored `n × k`: transposed to `k × n`.
    Transpose,
    /// VNNI2 to row-major.
    Unpack,
    /// Row-major to VNNI4 (int8).
    PackVnni4,
}

/// The VNNI2 C transforms: the unpack (when beta reads C) and the pack.
type CTransforms = (Option<Box<dyn Exec<UnaryArgs>>>, Box<dyn Exec<UnaryArgs>>);

/// A composed GEMM kernel.
pub(super) struct Composed {
    d: GemmDesc,
    /// The transform of one `B_i` and the elements of its result.
    b_prep: Option<(Box<dyn Exec<UnaryArgs>>, usize)>,
    /// VNNI2 C.
    c_vnni: Option<CTransforms>,
    inner: Box<dyn Exec<GemmArgs>>,
}

/// Per-thread scratch: the prepared B matrices, row-major C, and the B offsets or addresses.
#[derive(Default)]
struct Scratch {
    b: Vec<u64>,
    c: Vec<u64>,
    list: Vec<u64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// `v` with room for at least `bytes` bytes (8-aligned).
fn room(v: &mut Vec<u64>, bytes: usize) -> *mut u8 {
    let words = bytes.div_ceil(8).max(1);
    if v.len() < words {
        v.resize(words, 0);
    }
    v.as_mut_ptr().cast()
}

/// A backend's GEMM generator.
type MakeGemm<'a> = dyn Fn(&GemmDesc) -> Option<Box<dyn Exec<GemmArgs>>> + 'a;
/// A backend's unary generator.
type MakeUnary<'a> = dyn Fn(&UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> + 'a;

/// What a backend composes GEMMs from.
pub(super) struct Parts<'a> {
    /// Whether the microkernels take this (canonical) descriptor.
    pub takes: &'a dyn Fn(&GemmDesc) -> bool,
    /// The microkernel of a descriptor they take.
    pub gemm: &'a MakeGemm<'a>,
    /// The backend's layout kernels (transpose, VNNI pack and unpack).
    pub unary: &'a MakeUnary<'a>,
    /// Whether the microkernels read a bf16 VNNI2 B (else it is unpacked to row-major).
    pub bf16_vnni2: bool,
}

/// The descriptor the microkernels run when `d` is composed (B transposed, unpacked or
/// packed to the canonical layout; row-major C), or `None` when `d` is canonical already.
#[cfg(target_arch = "aarch64")]
pub(super) fn canonical(d: &GemmDesc, bf16_vnni2: bool) -> Option<GemmDesc> {
    plan(d, bf16_vnni2).map(|(inner, _)| inner)
}

fn plan(d: &GemmDesc, bf16_vnni2: bool) -> Option<(GemmDesc, Option<BPrep>)> {
    let mut inner = *d;
    let prep = if d.trans_b {
        inner.trans_b = false;
        inner.ldb = d.n;
        Some(BPrep::Transpose)
    } else if d.b_layout == Layout::Vnni2
        && (d.b_dtype == DType::F16 || (d.b_dtype == DType::BF16 && !bf16_vnni2))
    {
        inner.b_layout = Layout::RowMajor;
        inner.ldb = d.n;
        Some(BPrep::Unpack)
    } else if d.a_dtype.is_int8()
        && d.b_dtype == DType::I8
        && d.b_layout == Layout::RowMajor
        && d.k.is_multiple_of(4)
    {
        inner.b_layout = Layout::Vnni4;
        inner.ldb = d.n;
        Some(BPrep::PackVnni4)
    } else {
        None
    };
    let vnni_c = d.c_layout == Layout::Vnni2;
    if vnni_c {
        inner.c_layout = Layout::RowMajor;
        inner.ldc = d.n;
    }
    if prep.is_none() && !vnni_c {
        return None;
    }
    let b_len = inner.b_len();
    // Prepared B matrices sit packed in the scratch; an untouched B keeps its own stride.
    if let (BatchReduce::Stride { a, .. }, Some(_)) = (d.batch, prep) {
        inner.batch = BatchReduce::Stride { a, b: b_len };
    }
    Some((inner, prep))
}

/// The composition for `d`, when the microkernels take its canonical form; `None` otherwise.
pub(super) fn compose(d: &GemmDesc, parts: &Parts) -> Option<Box<dyn Exec<GemmArgs>>> {
    let (inner, prep) = plan(d, parts.bf16_vnni2)?;
    let b_len = inner.b_len();
    let vnni_c = d.c_layout == Layout::Vnni2;
    if inner.validate().is_err() || !(parts.takes)(&inner) {
        return None;
    }
    let unary = |u: UnaryDesc| -> Option<Box<dyn Exec<UnaryArgs>>> {
        u.validate().ok()?;
        (parts.unary)(&u)
    };
    let b_prep = match prep {
        None => None,
        Some(p) => {
            let (rows, cols) = d.b_shape();
            let u = match p {
                BPrep::Transpose => {
                    UnaryDesc::new(UnaryOp::Transpose, rows, cols, d.b_dtype).ld(d.ldb, d.n)
                }
                BPrep::Unpack => UnaryDesc::new(
                    UnaryOp::VnniUnpack { layout: d.b_layout },
                    rows,
                    cols,
                    d.b_dtype,
                )
                .ld(d.ldb, d.n),
                BPrep::PackVnni4 => UnaryDesc::new(
                    UnaryOp::VnniPack {
                        layout: Layout::Vnni4,
                    },
                    rows,
                    cols,
                    d.b_dtype,
                )
                .ld(d.ldb, d.n),
            };
            Some((unary(u)?, b_len))
        }
    };
    let c_vnni = if vnni_c {
        let layout = Layout::Vnni2;
        let pack = UnaryDesc::new(UnaryOp::VnniPack { layout }, d.m, d.n, d.c_dtype).ld(d.n, d.ldc);
        let unpack =
            UnaryDesc::new(UnaryOp::VnniUnpack { layout }, d.m, d.n, d.c_dtype).ld(d.ldc, d.n);
        let unpack = if d.beta != 0.0 {
            Some(unary(unpack)?)
        } else {
            None
        };
        Some((unpack, unary(pack)?))
    } else {
        None
    };
    let inner_exec = (parts.gemm)(&inner)?;
    Some(Box::new(Composed {
        d: *d,
        b_prep,
        c_vnni,
        inner: inner_exec,
    }))
}

impl Composed {
    /// `B_i` of the outer call.
    unsafe fn b_of(&self, args: &GemmArgs, i: usize) -> *const c_void {
        let size = self.d.b_dtype.size();
        let at = |elems: usize| args.b.cast::<u8>().add(elems * size).cast::<c_void>();
        match self.d.batch {
            BatchReduce::None => args.b,
            BatchReduce::Stride { b, .. } => at(i * b),
            BatchReduce::Offsets => at(*args.b_offsets.add(i) as usize),
            BatchReduce::Addresses => *args.b.cast::<*const c_void>().add(i),
        }
    }
}

impl Exec<GemmArgs> for Composed {
    unsafe fn run(&self, args: &GemmArgs) {
        let d = &self.d;
        let count = match d.batch {
            BatchReduce::None => 1,
            _ => args.batch as usize,
        };
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let mut inner = *args;
            if let Some((prep, len)) = &self.b_prep {
                let bytes = len * d.b_dtype.size();
                let base = room(&mut s.b, count * bytes);
                for i in 0..count {
                    let u = UnaryArgs {
                        input: self.b_of(args, i),
                        output: base.add(i * bytes).cast(),
                        ..UnaryArgs::default()
                    };
                    prep.run(&u);
                }
                inner.b = base.cast();
                match d.batch {
                    BatchReduce::Offsets => {
                        s.list.clear();
                        s.list.extend((0..count).map(|i| (i * len) as u64));
                        inner.b_offsets = s.list.as_ptr();
                    }
                    BatchReduce::Addresses => {
                        s.list.clear();
                        s.list
                            .extend((0..count).map(|i| base.add(i * bytes) as u64));
                        inner.b = s.list.as_ptr().cast();
                    }
                    BatchReduce::None | BatchReduce::Stride { .. } => {}
                }
            }
            match &self.c_vnni {
                None => self.inner.run(&inner),
                Some((unpack, pack)) => {
                    let c = room(&mut s.c, d.m * d.n * d.c_dtype.size());
                    if let Some(unpack) = unpack {
                        unpack.run(&UnaryArgs {
                            input: args.c,
                            output: c.cast(),
                            ..UnaryArgs::default()
                        });
                    }
                    inner.c = c.cast();
                    self.inner.run(&inner);
                    pack.run(&UnaryArgs {
                        input: c.cast(),
                        output: args.c,
                        ..UnaryArgs::default()
                    });
                }
            }
        });
    }

    fn code_size(&self) -> usize {
        let u = |e: &dyn Exec<UnaryArgs>| e.code_size();
        self.inner.code_size()
            + self.b_prep.as_ref().map_or(0, |(p, _)| u(p.as_ref()))
            + self.c_vnni.as_ref().map_or(0, |(un, p)| {
                u(p.as_ref()) + un.as_ref().map_or(0, |x| u(x.as_ref()))
            })
    }
}
