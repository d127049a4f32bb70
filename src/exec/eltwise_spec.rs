//! The generator spec of a unary, binary or ternary descriptor, read through its kernel ABI
//! ([`UnaryArgs`], [`BinaryArgs`], [`TernaryArgs`]): built once here for every CPU backend,
//! as [`crate::exec::ProgramSpec::eltwise_spec`] is for equation passes; and the spec of a
//! GEMM's epilogue over one tile of C ([`EpilogueArgs`]).

use crate::exec::{BinaryArgs, EpilogueArgs, TernaryArgs, UnaryArgs};
use crate::isa::{
    BiasBroadcast, BinaryDesc, Broadcast, DType, GemmDesc, TernaryDesc, TernaryOp, UnaryDesc,
};
use crate::lower::spec::{EltwiseSpec, MaskSpec, PortSpec};
use crate::lower::{MicroOp, Port, Program};
use std::mem::offset_of;

/// Whether the program loads or stores `port` (a unary op may not read its input, e.g. a
/// fill, or may read an auxiliary operand).
fn uses(p: &Program, port: Port) -> bool {
    p.ops.iter().any(|op| match *op {
        MicroOp::Load { port: q, .. } | MicroOp::Store { port: q, .. } => q == port,
        _ => false,
    })
}

fn port(
    port: Port,
    dtype: crate::isa::DType,
    broadcast: Broadcast,
    ld: usize,
    arg_offset: usize,
) -> PortSpec {
    PortSpec {
        port,
        dtype,
        broadcast,
        ld,
        arg_offset,
    }
}

/// A unary descriptor's spec: input and auxiliary operand where the program reads them, the
/// output, the bitmasks and the seed.
pub fn unary_spec<'a>(d: &UnaryDesc, program: &'a Program) -> EltwiseSpec<'a> {
    let mut ports = vec![];
    if uses(program, Port::In0) {
        ports.push(port(
            Port::In0,
            d.in_dtype,
            d.broadcast,
            d.ld_in,
            offset_of!(UnaryArgs, input),
        ));
    }
    if uses(program, Port::Aux) {
        ports.push(port(
            Port::Aux,
            d.in_dtype,
            Broadcast::None,
            d.ld_in,
            offset_of!(UnaryArgs, aux),
        ));
    }
    ports.push(port(
        Port::Out,
        d.out_dtype,
        Broadcast::None,
        d.ld_out,
        offset_of!(UnaryArgs, output),
    ));
    EltwiseSpec {
        program,
        rows: d.rows,
        cols: d.cols,
        ports,
        mask_in: Some(MaskSpec {
            arg_offset: offset_of!(UnaryArgs, mask_in),
            ld_bits: d.mask_ld,
        }),
        mask_out: Some(MaskSpec {
            arg_offset: offset_of!(UnaryArgs, mask_out),
            ld_bits: d.mask_ld,
        }),
        seed_offset: Some(offset_of!(UnaryArgs, seed)),
        extra: Default::default(),
    }
}

/// A binary descriptor's spec: a comparison writes a bitmask instead of a value output.
pub fn binary_spec<'a>(d: &BinaryDesc, program: &'a Program) -> EltwiseSpec<'a> {
    let mut ports = vec![
        port(
            Port::In0,
            d.in0_dtype,
            d.broadcast0,
            d.ld_in0,
            offset_of!(BinaryArgs, in0),
        ),
        port(
            Port::In1,
            d.in1_dtype,
            d.broadcast1,
            d.ld_in1,
            offset_of!(BinaryArgs, in1),
        ),
    ];
    let output = offset_of!(BinaryArgs, output);
    if !d.op.is_compare() {
        ports.push(port(
            Port::Out,
            d.out_dtype,
            Broadcast::None,
            d.ld_out,
            output,
        ));
    }
    EltwiseSpec {
        program,
        rows: d.rows,
        cols: d.cols,
        ports,
        mask_in: None,
        mask_out: d.op.is_compare().then_some(MaskSpec {
            arg_offset: output,
            ld_bits: d.ld_out,
        }),
        seed_offset: None,
        extra: Default::default(),
    }
}

/// A ternary descriptor's spec: the op's inputs, the output, and `Select`'s bitmask.
pub fn ternary_spec<'a>(d: &TernaryDesc, program: &'a Program) -> EltwiseSpec<'a> {
    let offsets = [
        offset_of!(TernaryArgs, in0),
        offset_of!(TernaryArgs, in1),
        offset_of!(TernaryArgs, in2),
    ];
    let mut ports: Vec<PortSpec> = [Port::In0, Port::In1, Port::In2]
        .into_iter()
        .enumerate()
        .take(d.op.inputs())
        .map(|(i, p)| port(p, d.in_dtypes[i], d.broadcasts[i], d.ld_in[i], offsets[i]))
        .collect();
    ports.push(port(
        Port::Out,
        d.out_dtype,
        Broadcast::None,
        d.ld_out,
        offset_of!(TernaryArgs, output),
    ));
    EltwiseSpec {
        program,
        rows: d.rows,
        cols: d.cols,
        ports,
        mask_in: (d.op == TernaryOp::Select).then_some(MaskSpec {
            arg_offset: offset_of!(TernaryArgs, mask),
            ld_bits: d.mask_ld,
        }),
        mask_out: None,
        seed_offset: None,
        extra: Default::default(),
    }
}

/// The eltwise spec of the epilogue over one `rows × cols` tile (see [`EpilogueArgs`]) whose
/// f32 accumulators lie `acc_ld` apart.
pub fn gemm_epilogue_spec<'a>(
    d: &GemmDesc,
    program: &'a Program,
    acc_ld: usize,
    rows: usize,
    cols: usize,
) -> EltwiseSpec<'a> {
    let mut ports = vec![PortSpec {
        port: Port::In0,
        dtype: DType::F32,
        broadcast: Broadcast::None,
        ld: acc_ld,
        arg_offset: offset_of!(EpilogueArgs, acc),
    }];
    if let Some(bias) = d.epilogue.bias {
        ports.push(PortSpec {
            port: Port::In1,
            dtype: bias.dtype,
            broadcast: match bias.broadcast {
                BiasBroadcast::Row => Broadcast::Row,
                BiasBroadcast::Col => Broadcast::Col,
            },
            ld: 0,
            arg_offset: offset_of!(EpilogueArgs, bias),
        });
    }
    ports.push(PortSpec {
        port: Port::Out,
        dtype: d.c_dtype,
        broadcast: Broadcast::None,
        ld: d.ldc,
        arg_offset: offset_of!(EpilogueArgs, c),
    });
    EltwiseSpec {
        program,
        rows,
        cols,
        ports,
        mask_in: None,
        mask_out: Some(MaskSpec {
            arg_offset: offset_of!(EpilogueArgs, mask),
            ld_bits: d.epilogue.mask_ld,
        }),
        seed_offset: None,
        extra: Default::default(),
    }
}
