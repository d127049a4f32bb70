//! The peers of the eltwise benches: plain Rust loops compiled for AVX-512, and oneDNN through
//! the `tpp-peers` crate (its C shim is built when libdnnl-dev is installed).

// Off x86-64 the loops carry no target features, so the calls need no `unsafe` there (the
// benches still compile for aarch64; they compare nothing without AVX-512).
#![cfg_attr(not(target_arch = "x86_64"), allow(unused_unsafe))]

use super::{bytemuck_bf16, bytemuck_bf16_mut, bytemuck_f32, bytemuck_f32_mut, Buffers, Op, Run};
use tpp::{bf16, DType};

/// Whether oneDNN was found at build time.
pub const HAVE_DNNL: bool = tpp_peers::HAVE_DNNL;

/// Reads every word (the ceiling of a read-only op).
pub fn read_all(x: &[u32]) -> u32 {
    x.iter().fold(0, |a, &v| a ^ v)
}

/// An element the plain loops can work on in f32.
trait Elem: Copy {
    fn get(self) -> f32;
    fn put(v: f32) -> Self;
}
impl Elem for f32 {
    #[inline(always)]
    fn get(self) -> f32 {
        self
    }
    #[inline(always)]
    fn put(v: f32) -> Self {
        v
    }
}
impl Elem for bf16 {
    #[inline(always)]
    fn get(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn put(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

#[cfg_attr(
    target_arch = "x86_64",
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")
)]
fn map<E: Elem>(x: &[E], y: &mut [E], f: impl Fn(f32) -> f32) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = E::put(f(v.get()));
    }
}

#[cfg_attr(
    target_arch = "x86_64",
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")
)]
fn rows<E: Elem>(n: usize, x: &[E], row: &[E], y: &mut [E], muladd: bool) {
    for (yr, xr) in y.chunks_mut(n).zip(x.chunks(n)) {
        if muladd {
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = E::put(v.get().mul_add(v.get(), o.get()));
            }
        } else {
            for ((o, &v), &r) in yr.iter_mut().zip(xr).zip(row) {
                *o = E::put(v.get() + r.get());
            }
        }
    }
}

#[cfg_attr(
    target_arch = "x86_64",
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")
)]
fn reduce<E: Elem>(n: usize, x: &[E], out: &mut [E], per_row: bool) {
    if per_row {
        for (o, xr) in out.iter_mut().zip(x.chunks(n)) {
            *o = E::put(xr.iter().map(|v| v.get()).sum());
        }
    } else {
        let mut acc = vec![0f32; n];
        for xr in x.chunks(n) {
            acc.iter_mut().zip(xr).for_each(|(a, v)| *a += v.get());
        }
        out.iter_mut().zip(&acc).for_each(|(o, &a)| *o = E::put(a));
    }
}

#[cfg_attr(
    target_arch = "x86_64",
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")
)]
fn layout<E: Copy>(n: usize, x: &[E], y: &mut [E], vnni: bool) {
    for i in 0..n {
        for j in 0..n {
            let o = if vnni {
                (i / 2) * 2 * n + 2 * j + i % 2
            } else {
                j * n + i
            };
            y[o] = x[i * n + j];
        }
    }
}

fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + (0.797_884_6 * (v + 0.044_715 * v * v * v)).tanh())
}

/// The plain Rust loop of an op, compiled for AVX-512 (`None` on a CPU without it).
pub fn plain(op: Op, n: usize, dt: DType) -> Option<Run> {
    // (The same four features; false off x86-64, where the peers are not compared.)
    if !tpp::dispatch::caps::x86().avx512 {
        return None;
    }
    macro_rules! typed {
        ($view:ident, $view_mut:ident) => {
            // SAFETY (all calls below): the CPU has the target features (checked above); the
            // functions are plain safe Rust otherwise.
            match op {
                Op::Relu | Op::Gelu | Op::Exp | Op::Sigmoid => {
                    let f: fn(f32) -> f32 = match op {
                        Op::Relu => |v| v.max(0.0),
                        Op::Gelu => gelu,
                        Op::Exp => f32::exp,
                        _ => |v| 1.0 / (1.0 + (-v).exp()),
                    };
                    Box::new(move |b: &mut Buffers| unsafe {
                        map($view(&b.x), $view_mut(&mut b.y), f)
                    })
                }
                Op::AddRow | Op::MulAdd => Box::new(move |b: &mut Buffers| unsafe {
                    rows(
                        n,
                        $view(&b.x),
                        $view(&b.row),
                        $view_mut(&mut b.y),
                        op == Op::MulAdd,
                    )
                }),
                Op::ReduceRows | Op::ReduceCols => Box::new(move |b: &mut Buffers| unsafe {
                    reduce(
                        n,
                        $view(&b.x),
                        $view_mut(&mut b.small),
                        op == Op::ReduceRows,
                    )
                }),
                Op::Transpose | Op::Vnni2Pack => Box::new(move |b: &mut Buffers| unsafe {
                    layout(n, $view(&b.x), $view_mut(&mut b.y), op == Op::Vnni2Pack)
                }),
            }
        };
    }
    Some(if dt == DType::BF16 {
        typed!(bytemuck_bf16, bytemuck_bf16_mut)
    } else {
        typed!(bytemuck_f32, bytemuck_f32_mut)
    })
}

use tpp_peers::dnnl as ffi;

/// oneDNN's primitive for an op, if it has one (and was found at build time).
pub fn dnnl(op: Op, n: usize, dt: DType) -> Option<Run> {
    let bf = (dt == DType::BF16) as i32;
    let (rows, cols) = (n as i64, n as i64);
    // SAFETY: the shim validates shapes and returns NULL on failure.
    let h = unsafe {
        match op {
            Op::Relu => ffi::tpp_dnnl_eltwise(0, bf, rows, cols),
            Op::Gelu => ffi::tpp_dnnl_eltwise(1, bf, rows, cols),
            Op::Exp => ffi::tpp_dnnl_eltwise(2, bf, rows, cols),
            Op::Sigmoid => ffi::tpp_dnnl_eltwise(3, bf, rows, cols),
            Op::AddRow => ffi::tpp_dnnl_add_row(bf, rows, cols),
            Op::ReduceRows => ffi::tpp_dnnl_reduce_sum(bf, rows, cols, 1),
            Op::ReduceCols => ffi::tpp_dnnl_reduce_sum(bf, rows, cols, 0),
            Op::Transpose => ffi::tpp_dnnl_transpose(bf, rows, cols),
            Op::MulAdd | Op::Vnni2Pack => return None,
        }
    };
    if h.is_null() {
        return None;
    }
    let h = h as usize;
    Some(Box::new(move |b: &mut Buffers| {
        let x = b.x.as_mut_ptr().cast();
        let (y, row, small) = (
            b.y.as_mut_ptr().cast(),
            b.row.as_mut_ptr().cast(),
            b.small.as_mut_ptr().cast(),
        );
        let (p1, p2) = match op {
            Op::AddRow => (row, y),
            Op::ReduceRows | Op::ReduceCols => (small, std::ptr::null_mut()),
            _ => (y, std::ptr::null_mut()),
        };
        // SAFETY: the buffers hold the shapes the primitive was built for.
        let rc = unsafe { ffi::tpp_dnnl_run(h as *mut std::ffi::c_void, x, p1, p2) };
        assert_eq!(rc, 0, "oneDNN execution failed");
        std::hint::black_box(&b.y);
    }))
}
