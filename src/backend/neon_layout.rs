//! The NEON backend's data-movement glue: layout transforms (transpose, VNNI pack/unpack,
//! gathers and scatters), same-dtype copies with broadcasts and zero fill, each as one
//! element-mover kernel of `kernels_arm::layout`, bit for bit on every dtype.

use super::neon::install_or_decline;
use crate::exec::{Exec, UnaryArgs};
use crate::isa::{Broadcast, UnaryDesc, UnaryOp};
use crate::kernels_arm::layout::{self, ColAddr, Move, RowAddr, Side};
use std::mem::offset_of;

/// The kernel for `d` (a layout transform, a same-dtype copy or a zero fill).
pub(super) fn generate(backend: &str, d: &UnaryDesc) -> Option<Box<dyn Exec<UnaryArgs>>> {
    // Every transform keeps the dtype; a zero fill has only an output.
    let size = d.out_dtype.size();
    let (input, output) = (offset_of!(UnaryArgs, input), offset_of!(UnaryArgs, output));
    let side = |arg_offset, row, col| Side {
        arg_offset,
        row,
        col,
    };
    let rows_of = |arg, ld: usize| side(arg, RowAddr::Stride(ld * size), ColAddr::Stride(size));
    let (src_in, dst_out) = (rows_of(input, d.ld_in), rows_of(output, d.ld_out));
    let (mut rows, mut zero_from) = (d.rows, d.rows);
    let (src, dst) = match d.op {
        UnaryOp::Transpose => (
            Some(src_in),
            side(
                output,
                RowAddr::Stride(size),
                ColAddr::Stride(d.ld_out * size),
            ),
        ),
        UnaryOp::VnniPack { layout } => {
            let v = layout.factor();
            rows = d.rows.next_multiple_of(v);
            zero_from = d.rows;
            let group = d.ld_out * v * size;
            (
                Some(src_in),
                side(
                    output,
                    RowAddr::Vnni { factor: v, group },
                    ColAddr::Stride(v * size),
                ),
            )
        }
        UnaryOp::VnniUnpack { layout } => {
            let v = layout.factor();
            let group = d.ld_in * v * size;
            (
                Some(side(
                    input,
                    RowAddr::Vnni { factor: v, group },
                    ColAddr::Stride(v * size),
                )),
                dst_out,
            )
        }
        UnaryOp::GatherRows => (
            Some(side(
                input,
                RowAddr::Indexed(d.ld_in * size),
                ColAddr::Stride(size),
            )),
            dst_out,
        ),
        UnaryOp::ScatterRows => (
            Some(src_in),
            side(
                output,
                RowAddr::Indexed(d.ld_out * size),
                ColAddr::Stride(size),
            ),
        ),
        UnaryOp::GatherCols => (
            Some(side(
                input,
                RowAddr::Stride(d.ld_in * size),
                ColAddr::Indexed,
            )),
            dst_out,
        ),
        UnaryOp::ScatterCols => (
            Some(src_in),
            side(output, RowAddr::Stride(d.ld_out * size), ColAddr::Indexed),
        ),
        UnaryOp::Zero => (None, dst_out),
        UnaryOp::Identity if d.in_dtype == d.out_dtype => {
            let src = match d.broadcast {
                Broadcast::None => src_in,
                Broadcast::Row => side(input, RowAddr::Stride(0), ColAddr::Stride(size)),
                Broadcast::Col => side(input, RowAddr::Stride(size), ColAddr::Stride(0)),
                Broadcast::Scalar => side(input, RowAddr::Stride(0), ColAddr::Stride(0)),
            };
            (Some(src), dst_out)
        }
        _ => return None,
    };
    let m = Move {
        size: d.out_dtype.size(),
        rows,
        cols: d.cols,
        src,
        dst,
        zero_from,
        indices: offset_of!(UnaryArgs, indices),
    };
    install_or_decline(&d.kernel_name(backend), layout::generate(&m))
}
