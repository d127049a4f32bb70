//! Eltwise TPPs against their peers, in one process: the copy of the same bytes (the
//! bandwidth ceiling), a plain Rust loop compiled for this CPU's AVX-512, and oneDNN's
//! eltwise / binary / reduction / reorder primitives (Debian's libdnnl-dev) where it has the op.
//! Criterion measures each implementation; the summary at the end is from interleaved runs in
//! the same process: GB/s, percent of the copy, ratio to the best peer.
//!
//! `cargo bench --bench eltwise` (add a filter, e.g. `-- 'gelu|exp'`, to run fewer cases)

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;
use tpp::*;

mod peers;

/// One run of an implementation over the buffers.
type Run = Box<dyn Fn(&mut Buffers)>;

/// One benchmark case: an op at a size and dtype.
#[derive(Clone, Copy)]
struct Case {
    op: Op,
    n: usize,
    dt: DType,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    Relu,
    Gelu,
    Exp,
    Sigmoid,
    AddRow,
    MulAdd,
    ReduceRows,
    ReduceCols,
    Transpose,
    Vnni2Pack,
}

impl Case {
    fn name(&self) -> String {
        format!("{:?}/{}/{}", self.op, self.n, self.dt).to_lowercase()
    }
}

/// The operand buffers of a case (raw bytes, so one set serves every dtype).
struct Buffers {
    x: Vec<u32>,
    y: Vec<u32>,
    row: Vec<u32>,
    small: Vec<u32>,
}

fn buffers(c: &Case) -> Buffers {
    let words = c.n * c.n * c.dt.size() / 4;
    // Moderate values: bf16 or f32 bit patterns of numbers in about [-4, 4].
    let fill = |n: usize, seed: u32| -> Vec<u32> {
        (0..n)
            .map(|i| {
                let v = ((i as u32).wrapping_mul(2_654_435_761) ^ seed) >> 9;
                let f = v as f32 / (1u32 << 23) as f32 * 8.0 - 4.0;
                if c.dt == DType::BF16 {
                    let b = f.to_bits() >> 16;
                    b | b << 16
                } else {
                    f.to_bits()
                }
            })
            .collect()
    };
    Buffers {
        x: fill(words, 1),
        y: fill(words, 2),
        row: fill(c.n.max(16), 3),
        small: vec![0; c.n.max(16)],
    }
}

fn as_in(v: &[u32], dt: DType) -> In<'_> {
    match dt {
        DType::BF16 => bytemuck_bf16(v).into(),
        _ => bytemuck_f32(v).into(),
    }
}
fn as_out(v: &mut [u32], dt: DType) -> Out<'_> {
    match dt {
        DType::BF16 => bytemuck_bf16_mut(v).into(),
        _ => bytemuck_f32_mut(v).into(),
    }
}
fn bytemuck_f32(v: &[u32]) -> &[f32] {
    // SAFETY: u32 and f32 have the same size and alignment; every bit pattern is an f32.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
}
fn bytemuck_f32_mut(v: &mut [u32]) -> &mut [f32] {
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) }
}
fn bytemuck_bf16(v: &[u32]) -> &[bf16] {
    // SAFETY: two bf16 per u32, alignment 2 divides 4; every bit pattern is a bf16.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 2) }
}
fn bytemuck_bf16_mut(v: &mut [u32]) -> &mut [bf16] {
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 2) }
}

/// The tpp kernel of a case, as a closure over the buffers.
fn tpp_runner(c: &Case) -> (Run, u64) {
    let (n, dt) = (c.n, c.dt);
    let unary = |op| UnaryDesc::new(op, n, n, dt).dispatch().unwrap();
    match c.op {
        Op::Relu | Op::Gelu | Op::Exp | Op::Sigmoid | Op::Transpose | Op::Vnni2Pack => {
            let op = match c.op {
                Op::Relu => UnaryOp::Relu { mask: false },
                Op::Gelu => UnaryOp::Gelu,
                Op::Exp => UnaryOp::Exp,
                Op::Sigmoid => UnaryOp::Sigmoid,
                Op::Transpose => UnaryOp::Transpose,
                _ => UnaryOp::VnniPack {
                    layout: Layout::Vnni2,
                },
            };
            let k = unary(op);
            let bytes = k.desc().bytes();
            (
                Box::new(move |b: &mut Buffers| {
                    k.call(as_in(&b.x, dt), as_out(&mut b.y, dt)).unwrap()
                }),
                bytes,
            )
        }
        Op::AddRow | Op::MulAdd => {
            let (op, bc) = if c.op == Op::AddRow {
                (BinaryOp::Add, Broadcast::Row)
            } else {
                (BinaryOp::MulAdd, Broadcast::None)
            };
            let k = BinaryDesc::new(op, n, n, dt)
                .broadcast(Broadcast::None, bc)
                .dispatch()
                .unwrap();
            let bytes = k.desc().bytes();
            (
                Box::new(move |b: &mut Buffers| {
                    let other = if bc == Broadcast::Row {
                        as_in(&b.row, dt)
                    } else {
                        as_in(&b.x, dt)
                    };
                    k.call(as_in(&b.x, dt), other, as_out(&mut b.y, dt))
                        .unwrap()
                }),
                bytes,
            )
        }
        Op::ReduceRows | Op::ReduceCols => {
            let axis = if c.op == Op::ReduceRows {
                ReduceAxis::PerRow
            } else {
                ReduceAxis::PerCol
            };
            let k = ReduceDesc::new(ReduceOp::Sum, axis, n, n, dt)
                .dispatch()
                .unwrap();
            let bytes = k.desc().bytes();
            (
                Box::new(move |b: &mut Buffers| {
                    k.call(as_in(&b.x, dt), as_out(&mut b.small, dt)).unwrap()
                }),
                bytes,
            )
        }
    }
}

fn copy_runner(c: &Case) -> Run {
    let reduce = matches!(c.op, Op::ReduceRows | Op::ReduceCols);
    Box::new(move |b: &mut Buffers| {
        if reduce {
            // A read of the same bytes: the ceiling of an op that only reads.
            black_box(peers::read_all(&b.x));
        } else {
            b.y.copy_from_slice(&b.x)
        }
    })
}

fn cases() -> Vec<Case> {
    let mut v = vec![];
    for n in [512, 4096] {
        for dt in [DType::F32, DType::BF16] {
            for op in [
                Op::Relu,
                Op::Gelu,
                Op::Exp,
                Op::Sigmoid,
                Op::AddRow,
                Op::MulAdd,
                Op::ReduceRows,
                Op::ReduceCols,
                Op::Transpose,
                Op::Vnni2Pack,
            ] {
                if op == Op::Vnni2Pack && dt != DType::BF16 {
                    continue;
                }
                v.push(Case { op, n, dt });
            }
        }
    }
    v
}

/// A named implementation of a case.
type Runner = (String, Run);

fn runners(c: &Case) -> (Vec<Runner>, u64) {
    let (tpp, bytes) = tpp_runner(c);
    let mut v: Vec<Runner> = vec![("tpp".into(), tpp), ("copy".into(), copy_runner(c))];
    if let Some(p) = peers::plain(c.op, c.n, c.dt) {
        v.push(("rust".into(), p));
    }
    if let Some(d) = peers::dnnl(c.op, c.n, c.dt) {
        v.push(("onednn".into(), d));
    }
    (v, bytes)
}

fn bench(crit: &mut Criterion) {
    // Criterion's filter is a regex; alternatives (`gelu|exp`) are all this summary needs.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .flat_map(|a| a.split('|').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let full = std::env::args().any(|a| a == "--bench");
    let mut summary = vec![];
    for c in cases() {
        let name = c.name();
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let mut bufs = buffers(&c);
        let (rs, bytes) = runners(&c);
        let mut g = crit.benchmark_group(&name);
        g.throughput(Throughput::Bytes(bytes));
        for (who, f) in &rs {
            g.bench_function(who.as_str(), |b| b.iter(|| f(&mut bufs)));
        }
        g.finish();
        if full {
            // Interleaved: every repetition runs every implementation once.
            let reps = if c.n >= 4096 { 15 } else { 101 };
            let mut t = vec![vec![]; rs.len()];
            for _ in 0..reps {
                for (i, (_, f)) in rs.iter().enumerate() {
                    let s = Instant::now();
                    f(&mut bufs);
                    t[i].push(s.elapsed().as_secs_f64());
                }
            }
            let gbs: Vec<f64> = t
                .iter_mut()
                .map(|v| {
                    v.sort_by(f64::total_cmp);
                    bytes as f64 / v[v.len() / 2] / 1e9
                })
                .collect();
            summary.push((
                name,
                rs.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                gbs,
            ));
        }
    }
    if full {
        if !peers::HAVE_DNNL {
            println!("\noneDNN not found: install Debian's libdnnl-dev and rebuild to compare against it");
        }
        println!(
            "\n{:<26} {:>9} {:>8} {:>24} {:>8}",
            "case", "tpp GB/s", "% copy", "best peer (GB/s)", "ratio"
        );
        for (name, who, gbs) in summary {
            let best = (2..who.len()).max_by(|&a, &b| gbs[a].total_cmp(&gbs[b]));
            let (peer, ratio) = match best {
                Some(i) => (format!("{} ({:.1})", who[i], gbs[i]), gbs[0] / gbs[i]),
                None => ("-".into(), f64::NAN),
            };
            println!(
                "{:<26} {:>9.1} {:>7.0}% {:>24} {:>7.2}x",
                name,
                gbs[0],
                100.0 * gbs[0] / gbs[1],
                peer,
                ratio
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(200))
        .measurement_time(std::time::Duration::from_millis(600))
        .sample_size(10);
    targets = bench
}
criterion_main!(benches);
