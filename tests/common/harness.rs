//! The differential harness: run a backend's kernel and the reference kernel on the same
//! random, poisoned operands and compare every element of every output.
//!
//! Elements inside an output operand must be within the tolerance of [`super::tolerance`]
//! (bit-exact for integers and for pure data movement); elements outside it (padding between
//! `cols` and `ld`, rows a scatter does not reach) must keep their initial bits; bitmasks must
//! match byte for byte. Outputs start poisoned, so an element the kernel forgot to write fails.

use super::buffers::{poison_mask, Buf, Rng};
use super::tolerance::{self, Tol};
use std::result::Result;
use tpp::isa::matrix_len;
use tpp::*;

/// The non-reference backends registered in this process.
pub fn jit_backends() -> Vec<&'static str> {
    tpp::dispatch::backends()
        .iter()
        .filter(|b| !b.is_reference())
        .map(|b| b.name())
        .collect()
}

/// What a check did.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Both kernels ran and agreed.
    Compared,
    /// The backend declined the descriptor (dispatch would fall back to the reference).
    Unsupported,
}

/// How one output element is judged.
#[derive(Clone, Copy, Debug)]
enum Judge {
    /// Not part of the operand: must keep its initial bits.
    Outside,
    /// Must match bit for bit.
    Exact,
    /// Must be within `tol` relative to `magnitude`.
    Close(f64, Tol),
}

/// The backend's kernel and the reference's, for one descriptor.
type KernelPair<D> = (
    Kernel<<D as Descriptor>::Family>,
    Kernel<<D as Descriptor>::Family>,
);

/// The backend name under which the checks take the kernel of automatic dispatch
/// (`tpp::dispatch`, the cache's hot path, whichever backend it picked) instead of one backend's.
pub const AUTO: &str = "auto";

fn kernels<D: Descriptor>(backend: &str, d: &D) -> Result<Option<KernelPair<D>>, String> {
    let under_test = if backend == AUTO {
        dispatch(d)
    } else {
        dispatch_on(d, backend)
    };
    let k = match under_test {
        Ok(k) => k,
        Err(Error::Unsupported { .. }) => return Ok(None),
        Err(e) => return Err(format!("{backend}: {e}")),
    };
    let r = dispatch_on(d, "reference").map_err(|e| format!("reference: {e}"))?;
    Ok(Some((k, r)))
}

fn compare(what: &str, got: &Buf, want: &Buf, judge: &[Judge]) -> Result<(), String> {
    assert_eq!(got.len(), judge.len());
    for (i, &how) in judge.iter().enumerate() {
        if got.bits(i) == want.bits(i) {
            continue;
        }
        let (g, w) = (got.get(i), want.get(i));
        let ok = match how {
            Judge::Outside | Judge::Exact => false,
            Judge::Close(mag, tol) => tolerance::close(g, w, mag, tol),
        };
        if !ok {
            return Err(format!(
                "{what}[{i}]: got {g:e} (bits {:#x}), want {w:e} (bits {:#x}); judged {:?}",
                got.bits(i),
                want.bits(i),
                how
            ));
        }
    }
    Ok(())
}

fn compare_mask(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    match got.iter().zip(want).position(|(g, w)| g != w) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what} byte {i}: got {:#010b}, want {:#010b}",
            got[i], want[i]
        )),
    }
}

fn max_abs(b: &Buf) -> f64 {
    (0..b.len()).map(|i| b.get(i).abs()).fold(0.0, f64::max)
}

fn err<T>(name: &str, e: Error) -> Result<T, String> {
    Err(format!("{name}: the call was refused: {e}"))
}

/// Differential check of one GEMM descriptor.
pub fn check_gemm(backend: &str, d: &GemmDesc, seed: u64) -> Result<Checked, String> {
    let Some((k, r)) = kernels(backend, d)? else {
        return Ok(Checked::Unsupported);
    };
    let mut rng = Rng(seed);
    let batch = if d.batch == BatchReduce::None {
        1
    } else {
        rng.below(4)
    };
    let (a_len, b_len) = (d.a_len(), d.b_len());
    let rand = |dt, n, rng: &mut Rng| Buf::random(dt, n, rng, -2.0, 2.0, false);
    // One storage per operand, plus per-batch offsets (or separate matrices).
    let slots = batch + 1;
    let (a, b, a_offs, b_offs): (Buf, Buf, Vec<u64>, Vec<u64>) = match d.batch {
        BatchReduce::Stride { a: sa, b: sb } => {
            let n = batch.max(1) - 1;
            (
                rand(d.a_dtype, n * sa + a_len, &mut rng),
                rand(d.b_dtype, n * sb + b_len, &mut rng),
                vec![],
                vec![],
            )
        }
        BatchReduce::Offsets => {
            let ao = (0..batch)
                .map(|_| (rng.below(slots) * a_len) as u64)
                .collect();
            let bo = (0..batch)
                .map(|_| (rng.below(slots) * b_len) as u64)
                .collect();
            (
                rand(d.a_dtype, slots * a_len, &mut rng),
                rand(d.b_dtype, slots * b_len, &mut rng),
                ao,
                bo,
            )
        }
        _ => (
            rand(d.a_dtype, a_len, &mut rng),
            rand(d.b_dtype, b_len, &mut rng),
            vec![],
            vec![],
        ),
    };
    let a_list: Vec<Buf> = (0..batch)
        .map(|_| rand(d.a_dtype, a_len, &mut rng))
        .collect();
    let b_list: Vec<Buf> = (0..batch)
        .map(|_| rand(d.b_dtype, b_len, &mut rng))
        .collect();
    let c0 = if d.beta != 0.0 {
        rand(d.c_dtype, d.c_len(), &mut rng)
    } else {
        Buf::poison(d.c_dtype, d.c_len())
    };
    let bias = d.epilogue.bias.map(|bias| {
        let n = if bias.broadcast == BiasBroadcast::Row {
            d.n
        } else {
            d.m
        };
        rand(bias.dtype, n, &mut rng)
    });
    let mask_bytes = bitmask::bytes(d.m, d.n, d.epilogue.mask_ld);
    let writes_mask = d.epilogue.activation.writes_mask();

    let run = |kernel: &GemmKernel, c: &mut Buf, mask: &mut Vec<u8>| -> Result<(), Error> {
        let (a_ins, b_ins): (Vec<In>, Vec<In>) = (
            a_list.iter().map(Buf::input).collect(),
            b_list.iter().map(Buf::input).collect(),
        );
        let inputs = match d.batch {
            BatchReduce::None => GemmInputs::Single {
                a: a.input(),
                b: b.input(),
            },
            BatchReduce::Stride { .. } => GemmInputs::Strided {
                a: a.input(),
                b: b.input(),
                batch,
            },
            BatchReduce::Offsets => GemmInputs::Offsets {
                a: a.input(),
                b: b.input(),
                a_offsets: &a_offs,
                b_offsets: &b_offs,
            },
            BatchReduce::Addresses => GemmInputs::Addresses {
                a: &a_ins,
                b: &b_ins,
            },
        };
        let mut call = GemmCall::new(inputs, c.output());
        if let Some(bias) = &bias {
            call = call.bias(bias.input());
        }
        if writes_mask {
            call = call.relu_mask(mask);
        }
        kernel.run(call)
    };
    let (mut got, mut want) = (c0.clone(), c0.clone());
    let (mut got_mask, mut want_mask) = (poison_mask(mask_bytes), poison_mask(mask_bytes));
    if let Err(e) = run(&k, &mut got, &mut got_mask) {
        return err(backend, e);
    }
    if let Err(e) = run(&r, &mut want, &mut want_mask) {
        return err("reference", e);
    }

    // Judge C: exact for int8, else accumulation error relative to Σ|a||b| + |beta·c| + |bias|.
    let (amax, bmax) = match d.batch {
        BatchReduce::Addresses => (
            a_list.iter().map(max_abs).fold(0.0, f64::max),
            b_list.iter().map(max_abs).fold(0.0, f64::max),
        ),
        _ => (max_abs(&a), max_abs(&b)),
    };
    let terms = (d.k * batch) as f64;
    let cmax = if d.beta != 0.0 { max_abs(&c0) } else { 0.0 };
    let magnitude = d.alpha.abs() * terms * amax * bmax
        + d.beta.abs() * cmax
        + bias.as_ref().map_or(0.0, max_abs);
    let out = tolerance::of(d.c_dtype);
    let slope = match d.epilogue.activation {
        Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => 1.2 + alpha.abs() as f64,
        _ => 1.2,
    };
    let tol = Tol {
        rel: out.rel + (terms + 3.0) * d.compute_dtype.epsilon() * slope,
        abs: out.abs,
    };
    let judge: Vec<Judge> = (0..d.c_len())
        .map(|idx| {
            let (i, j) = match d.c_layout {
                Layout::RowMajor => (idx / d.ldc, idx % d.ldc),
                _ => {
                    let w = idx % (2 * d.ldc);
                    (2 * (idx / (2 * d.ldc)) + w % 2, w / 2)
                }
            };
            match (i < d.m && j < d.n, d.is_int8()) {
                (false, _) => Judge::Outside,
                (true, true) => Judge::Exact,
                (true, false) => Judge::Close(magnitude, tol),
            }
        })
        .collect();
    compare(&format!("{} C", k.name()), &got, &want, &judge)?;
    if writes_mask {
        // A result within rounding of zero may land on either side of it, as long as each
        // kernel's bit agrees with its own output (bit set exactly where the relu is > 0).
        let ld = d.epilogue.mask_ld;
        for i in 0..d.m {
            for j in 0..d.n {
                let g = bitmask::get(&got_mask, i, j, ld);
                let w = bitmask::get(&want_mask, i, j, ld);
                let c = d.c_layout.offset(i, j, d.ldc);
                let (gc, wc) = (got.get(c), want.get(c));
                let consistent = g == (gc > 0.0) && w == (wc > 0.0);
                let near_zero = gc.abs().max(wc.abs()) <= tol.rel * magnitude + tol.abs;
                if g != w && consistent && near_zero {
                    bitmask::set(&mut got_mask, i, j, ld, w);
                }
            }
        }
    }
    compare_mask(&format!("{} relu mask", k.name()), &got_mask, &want_mask)?;
    Ok(Checked::Compared)
}

/// Differential check of one unary descriptor (and, where the ISA allows it, of the same op
/// run in place).
pub fn check_unary(backend: &str, d: &UnaryDesc, seed: u64) -> Result<Checked, String> {
    let Some((k, r)) = kernels(backend, d)? else {
        return Ok(Checked::Unsupported);
    };
    let mut rng = Rng(seed);
    let op = d.op;
    // Gathers read from, and scatters write to, a matrix with a few more rows than indices.
    let spare_rows = d.rows + 3;
    let in_len = match op {
        UnaryOp::GatherRows => matrix_len(spare_rows, d.cols, d.ld_in),
        _ => d.in_len(),
    };
    let out_len = match op {
        UnaryOp::ScatterRows => matrix_len(spare_rows, d.cols, d.ld_out),
        _ => d.out_len(),
    };
    let indices: Vec<u64> = match op {
        UnaryOp::GatherRows | UnaryOp::ScatterRows => {
            (0..d.rows).map(|_| rng.below(spare_rows) as u64).collect()
        }
        UnaryOp::GatherCols => (0..d.cols).map(|_| rng.below(d.ld_in) as u64).collect(),
        UnaryOp::ScatterCols => (0..d.cols).map(|_| rng.below(d.ld_out) as u64).collect(),
        _ => vec![],
    };
    let input = Buf::random(d.in_dtype, in_len, &mut rng, -5.0, 5.0, true);
    let aux = Buf::random(
        d.in_dtype,
        matrix_len(d.rows, d.cols, d.ld_in),
        &mut rng,
        -5.0,
        5.0,
        true,
    );
    let mask_bytes = bitmask::bytes(d.rows, d.cols, d.mask_ld);
    let mask_in: Vec<u8> = (0..mask_bytes).map(|_| rng.next_u64() as u8).collect();
    let seed = rng.next_u64();
    let out0 = Buf::poison(d.out_dtype, out_len);

    let run = |kernel: &UnaryKernel, out: &mut Buf, mask_out: &mut Vec<u8>| -> Result<(), Error> {
        let mut call = UnaryCall::output_only(out.output()).seed(seed);
        if op.reads_input() {
            call.input = Some(input.input());
        }
        if op.reads_aux() {
            call = call.aux(aux.input());
        }
        if op.reads_mask() {
            call = call.mask_in(&mask_in);
        }
        if op.writes_mask() {
            call = call.mask_out(mask_out);
        }
        if op.reads_indices() {
            call = call.indices(&indices);
        }
        kernel.run(call)
    };
    let (mut got, mut want) = (out0.clone(), out0.clone());
    let (mut got_mask, mut want_mask) = (poison_mask(mask_bytes), poison_mask(mask_bytes));
    if let Err(e) = run(&k, &mut got, &mut got_mask) {
        return err(backend, e);
    }
    if let Err(e) = run(&r, &mut want, &mut want_mask) {
        return err("reference", e);
    }

    let exact = op.is_layout_transform() || (op == UnaryOp::Identity && d.in_dtype == d.out_dtype);
    let tol = if op == UnaryOp::Identity {
        tolerance::of(d.out_dtype)
    } else {
        tolerance::loosest(&[d.compute_dtype, d.out_dtype])
    };
    let mut judge = vec![Judge::Outside; out_len];
    for i in 0..d.rows {
        for j in 0..d.cols {
            let o = match op {
                UnaryOp::Transpose => j * d.ld_out + i,
                UnaryOp::VnniPack { layout } => layout.offset(i, j, d.ld_out),
                UnaryOp::ScatterRows => indices[i] as usize * d.ld_out + j,
                UnaryOp::ScatterCols => i * d.ld_out + indices[j] as usize,
                _ => i * d.ld_out + j,
            };
            judge[o] = if exact {
                Judge::Exact
            } else {
                Judge::Close(input.get(d.broadcast.offset(i, j, d.ld_in)).abs(), tol)
            };
        }
    }
    if let UnaryOp::VnniPack { layout } = op {
        for i in d.rows..d.rows.next_multiple_of(layout.factor()) {
            for j in 0..d.cols {
                judge[layout.offset(i, j, d.ld_out)] = Judge::Exact;
            }
        }
    }
    compare(&format!("{} out", k.name()), &got, &want, &judge)?;
    compare_mask(&format!("{} mask", k.name()), &got_mask, &want_mask)?;

    // In place: the output aliases the input.
    let in_place_ok = op.reads_input()
        && !(exact || op.reads_aux() || op.reads_mask() || op.writes_mask() || op.reads_indices())
        && d.broadcast == Broadcast::None
        && d.in_dtype == d.out_dtype
        && d.ld_in == d.ld_out;
    if in_place_ok {
        let mut data = input.clone();
        if let Err(e) = k.call_in_place(data.output()) {
            return err(backend, e);
        }
        let mut judge_in_place = judge;
        for (o, j) in judge_in_place.iter_mut().enumerate() {
            if let Judge::Outside = j {
                // Outside the operand the buffer still holds the input.
                want_restore(&mut want, &input, o);
            }
        }
        compare(
            &format!("{} in place", k.name()),
            &data,
            &want,
            &judge_in_place,
        )?;
    }
    Ok(Checked::Compared)
}

/// Puts `src[i]` into `dst[i]` (both of one dtype).
fn want_restore(dst: &mut Buf, src: &Buf, i: usize) {
    match (dst, src) {
        (Buf::F64(d), Buf::F64(s)) => d[i] = s[i],
        (Buf::F32(d), Buf::F32(s)) => d[i] = s[i],
        (Buf::BF16(d), Buf::BF16(s)) => d[i] = s[i],
        (Buf::F16(d), Buf::F16(s)) => d[i] = s[i],
        (Buf::I32(d), Buf::I32(s)) => d[i] = s[i],
        (Buf::I8(d), Buf::I8(s)) => d[i] = s[i],
        (Buf::U8(d), Buf::U8(s)) => d[i] = s[i],
        _ => panic!("dtype mismatch"),
    }
}

/// Differential check of one binary descriptor.
pub fn check_binary(backend: &str, d: &BinaryDesc, seed: u64) -> Result<Checked, String> {
    let Some((k, r)) = kernels(backend, d)? else {
        return Ok(Checked::Unsupported);
    };
    let mut rng = Rng(seed);
    let a = Buf::random(d.in0_dtype, d.in0_len(), &mut rng, -4.0, 4.0, true);
    let b = Buf::random(d.in1_dtype, d.in1_len(), &mut rng, -4.0, 4.0, true);
    let out0 = if d.op == BinaryOp::MulAdd {
        Buf::random(d.out_dtype, d.out_len(), &mut rng, -4.0, 4.0, true)
    } else {
        Buf::poison(d.out_dtype, d.out_len())
    };
    let (mut got, mut want) = (out0.clone(), out0.clone());
    if let Err(e) = k.call(a.input(), b.input(), got.output()) {
        return err(backend, e);
    }
    if let Err(e) = r.call(a.input(), b.input(), want.output()) {
        return err("reference", e);
    }
    let tol = tolerance::loosest(&[d.compute_dtype, d.out_dtype]);
    let mut judge = vec![Judge::Outside; d.out_len()];
    if d.op.is_compare() {
        // The bitmask is judged byte for byte.
        judge.iter_mut().for_each(|j| *j = Judge::Exact);
    } else {
        for i in 0..d.rows {
            for j in 0..d.cols {
                let x = a.get(d.broadcast0.offset(i, j, d.ld_in0));
                let y = b.get(d.broadcast1.offset(i, j, d.ld_in1));
                let o = i * d.ld_out + j;
                let mag = match d.op {
                    BinaryOp::Add | BinaryOp::Sub => x.abs() + y.abs(),
                    BinaryOp::Mul => (x * y).abs(),
                    BinaryOp::Div => (x / y).abs(),
                    BinaryOp::MulAdd => out0.get(o).abs() + (x * y).abs(),
                    _ => 0.0,
                };
                judge[o] = Judge::Close(mag, tol);
            }
        }
    }
    compare(&format!("{} out", k.name()), &got, &want, &judge)?;
    Ok(Checked::Compared)
}

/// Differential check of one ternary descriptor.
pub fn check_ternary(backend: &str, d: &TernaryDesc, seed: u64) -> Result<Checked, String> {
    let Some((k, r)) = kernels(backend, d)? else {
        return Ok(Checked::Unsupported);
    };
    let mut rng = Rng(seed);
    let ins: Vec<Buf> = (0..3)
        .map(|i| {
            Buf::random(
                d.in_dtypes[i],
                d.in_len(i).max(1),
                &mut rng,
                -4.0,
                4.0,
                true,
            )
        })
        .collect();
    let mask: Vec<u8> = (0..bitmask::bytes(d.rows, d.cols, d.mask_ld))
        .map(|_| rng.next_u64() as u8)
        .collect();
    let out0 = Buf::poison(d.out_dtype, d.out_len());
    let (mut got, mut want) = (out0.clone(), out0.clone());
    let run = |kernel: &TernaryKernel, out: &mut Buf| match d.op {
        TernaryOp::Select => kernel.select(&mask, ins[0].input(), ins[1].input(), out.output()),
        _ => kernel.call(ins[0].input(), ins[1].input(), ins[2].input(), out.output()),
    };
    if let Err(e) = run(&k, &mut got) {
        return err(backend, e);
    }
    if let Err(e) = run(&r, &mut want) {
        return err("reference", e);
    }
    let tol = tolerance::loosest(&[d.compute_dtype, d.out_dtype]);
    let mut judge = vec![Judge::Outside; d.out_len()];
    for i in 0..d.rows {
        for j in 0..d.cols {
            let x = |n: usize| ins[n].get(d.broadcasts[n].offset(i, j, d.ld_in[n]));
            let mag = match d.op {
                TernaryOp::Select => 0.0,
                _ => (x(0) * x(1)).abs() + x(2).abs(),
            };
            judge[i * d.ld_out + j] = Judge::Close(mag, tol);
        }
    }
    compare(&format!("{} out", k.name()), &got, &want, &judge)?;
    Ok(Checked::Compared)
}

/// Differential check of one reduce descriptor.
pub fn check_reduce(backend: &str, d: &ReduceDesc, seed: u64) -> Result<Checked, String> {
    let Some((k, r)) = kernels(backend, d)? else {
        return Ok(Checked::Unsupported);
    };
    let mut rng = Rng(seed);
    let input = Buf::random(d.in_dtype, d.in_len(), &mut rng, -4.0, 4.0, true);
    let out0 = if d.accumulate {
        Buf::random(d.out_dtype, d.out_len(), &mut rng, -4.0, 4.0, false)
    } else {
        Buf::poison(d.out_dtype, d.out_len())
    };
    let (mut got, mut want) = (out0.clone(), out0.clone());
    if let Err(e) = k.call(input.input(), got.output()) {
        return err(backend, e);
    }
    if let Err(e) = r.call(input.input(), want.output()) {
        return err("reference", e);
    }
    let count = d.out_count();
    let terms = match d.axis {
        ReduceAxis::PerRow => d.cols,
        ReduceAxis::PerCol => d.rows,
    } as f64;
    let base = tolerance::loosest(&[d.compute_dtype, d.out_dtype]);
    let tol = Tol {
        rel: base.rel + (terms + 2.0) * d.compute_dtype.epsilon(),
        abs: base.abs,
    };
    let judge: Vec<Judge> = (0..d.out_len())
        .map(|o| {
            let idx = o % count;
            let squares = d.op == ReduceOp::SumSq || (d.op == ReduceOp::SumAndSumSq && o >= count);
            let mag: f64 = (0..terms as usize)
                .map(|e| {
                    let x = match d.axis {
                        ReduceAxis::PerRow => input.get(idx * d.ld_in + e),
                        ReduceAxis::PerCol => input.get(e * d.ld_in + idx),
                    };
                    if squares {
                        x * x
                    } else {
                        x.abs()
                    }
                })
                .sum::<f64>()
                + if d.accumulate { out0.get(o).abs() } else { 0.0 };
            Judge::Close(mag, tol)
        })
        .collect();
    compare(&format!("{} out", k.name()), &got, &want, &judge)?;
    Ok(Checked::Compared)
}
