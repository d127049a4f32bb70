//! Equations whose outputs are too large for the caches store them with non-temporal stores
//! when the rows are 64-byte aligned. `TPP_STREAM_BYTES=0` makes every output "large" in this
//! process; the streaming kernel must exist (for f32, bf16 and f16 outputs alike) and agree
//! bit for bit with the same kernel writing to unaligned rows (the ordinary stores), and leave
//! the padding alone. Row blocks of 4 (`TPP_EQ_BLOCK_ROWS`) make the passes prefetch, so the
//! streaming variants of the passes that prefetch outputs for writing run too.

mod common;

use common::buffers::Rng;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use tpp::*;

/// A 64-byte aligned buffer of `bytes` bytes, freed on drop.
struct Aligned(*mut u8, Layout);

impl Aligned {
    fn new(bytes: usize) -> Aligned {
        let layout = Layout::from_size_align(bytes.max(64) + 64, 64).unwrap();
        // SAFETY: the layout has a non-zero size.
        Aligned(unsafe { alloc_zeroed(layout) }, layout)
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.0, self.1) }
    }
}

#[test]
fn streaming_stores_match_ordinary_stores() {
    std::env::set_var("TPP_STREAM_BYTES", "0");
    std::env::set_var("TPP_EQ_BLOCK_ROWS", "4");
    let mut checked = 0;
    let mut streams = 0;
    for dt in [DType::F32, DType::BF16, DType::F16] {
        // ld a multiple of 64 bytes for every dtype; cols with a remainder.
        let (rows, cols, ld) = (19, 77, 96);
        for eq in [
            equations::softmax(rows, cols, dt),
            equations::bias_activation(rows, cols, dt, UnaryOp::Gelu),
            equations::layer_norm(rows, cols, dt, 1e-5),
        ] {
            // The same structure with padded leading dimensions on the full matrices.
            let rebuilt = replay(&eq, rows, cols, ld);
            let k = rebuilt.dispatch().unwrap();
            if k.is_reference() {
                continue;
            }
            let mut rng = Rng(3);
            let ins: Vec<Vec<f32>> = rebuilt
                .inputs()
                .iter()
                .enumerate()
                .map(|(n, _)| {
                    (0..rebuilt.input_len(n))
                        .map(|_| rng.uniform(-2.0, 2.0) as f32)
                        .collect()
                })
                .collect();
            // Inputs converted to their dtypes.
            let bufs: Vec<Vec<u8>> = rebuilt
                .inputs()
                .iter()
                .zip(&ins)
                .map(|(d, v)| bytes_of(d.dtype, v))
                .collect();
            let run = |offset: usize| -> Vec<Vec<u8>> {
                let outs: Vec<(Aligned, usize)> = (0..rebuilt.outputs().len())
                    .map(|o| {
                        let bytes = rebuilt.output_len(o) * out_size(&rebuilt, o);
                        (Aligned::new(bytes + offset), bytes)
                    })
                    .collect();
                let ip: Vec<*const std::ffi::c_void> =
                    bufs.iter().map(|b| b.as_ptr().cast()).collect();
                // SAFETY: each output has its bytes plus `offset` behind the pointer.
                let op: Vec<*mut std::ffi::c_void> = outs
                    .iter()
                    .map(|(a, _)| unsafe { a.0.add(offset) }.cast())
                    .collect();
                let args = EquationArgs {
                    inputs: ip.as_ptr(),
                    outputs: op.as_ptr(),
                    mask_in: std::ptr::null(),
                    seed: 1,
                };
                // SAFETY: every input and output holds the extent the equation implies.
                unsafe { k.call_raw(&args) };
                outs.iter()
                    // SAFETY: reading back what was allocated.
                    .map(|(a, n)| {
                        unsafe { std::slice::from_raw_parts(a.0.add(offset), *n) }.to_vec()
                    })
                    .collect()
            };
            // Offset 0: aligned (streaming); offsets 4 and 36: the ordinary stores.
            let streamed = run(0);
            for offset in [4, 36] {
                assert_eq!(streamed, run(offset), "{} {dt:?} offset {offset}", k.name());
            }
            streams += usize::from(k.streams());
            checked += 1;
        }
    }
    if tpp::dispatch::backends()
        .iter()
        .any(|b| b.name() == "avx512")
    {
        assert!(checked > 0, "no JIT kernel was compared");
        assert_eq!(
            streams, checked,
            "avx512 has a streaming variant of every one"
        );
    }
    eprintln!("{checked} JIT kernels compared, {streams} with streaming variants");
}

fn out_size(eq: &Equation, o: usize) -> usize {
    match eq.outputs()[o].kind {
        EqOutputKind::Value { dtype, .. } => dtype.size(),
        EqOutputKind::Mask { .. } => 1,
    }
}

fn bytes_of(dt: DType, v: &[f32]) -> Vec<u8> {
    match dt {
        DType::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DType::BF16 => v
            .iter()
            .flat_map(|x| bf16::from_f32(*x).to_le_bytes())
            .collect(),
        _ => v
            .iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect(),
    }
}

/// `eq` rebuilt with leading dimension `ld` on its full-matrix inputs and outputs.
fn replay(eq: &Equation, rows: usize, cols: usize, ld: usize) -> Equation {
    let mut r = Equation::new(rows, cols);
    let mut map: Vec<Expr> = Vec::new();
    let mut inputs = eq.inputs().iter();
    for node in eq.nodes() {
        let a = |k: usize| map[node.args[k] as usize];
        let e = match node.op {
            EqOp::Input(_) => {
                let i = inputs.next().unwrap();
                let l = if i.shape == Broadcast::None { ld } else { cols };
                r.input_ld(i.dtype, i.shape, l)
            }
            EqOp::Const(bits) => r.constant(f32::from_bits(bits)),
            EqOp::Unary(op) if node.arity == 1 => r.unary(op, a(0)),
            EqOp::Unary(op) => r.unary_bwd(op, a(0), a(1)),
            EqOp::Binary(op) => r.binary(op, a(0), a(1)),
            EqOp::Ternary(TernaryOp::Select) => r.select(a(0), a(1), a(2)),
            EqOp::Ternary(op) => r.ternary(op, a(0), a(1), a(2)),
            EqOp::Reduce(op, axis) => r.reduce(op, axis, a(0)),
            EqOp::MaskOf => r.mask_of(a(0)),
            EqOp::MaskInput(_) => unreachable!("no mask inputs here"),
        };
        map.push(e);
    }
    for o in eq.outputs() {
        match o.kind {
            EqOutputKind::Value { dtype, .. } => {
                let full = matches!(eq.kind_of(o.node), Ok(ValueKind::Value(Broadcast::None)));
                r.output_ld(map[o.node.index()], dtype, if full { ld } else { cols });
            }
            EqOutputKind::Mask { ld_bits } => {
                r.mask_output(map[o.node.index()], ld_bits);
            }
        }
    }
    r
}
