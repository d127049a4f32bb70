//! The 2D grid-stride driver of the data-movement and reduction kernels: the x dimension of
//! the grid covers one index exactly (one thread each), the y dimension walks the other with a
//! grid stride (grids are at most 65,535 blocks high).

use super::ptx::{KernelBuilder, Launch, R32, R64};

/// Threads per block in x and y.
pub const BLOCK: (u32, u32) = (32, 8);
const MAX_GRID_Y: usize = 65_535;

/// The launch geometry for an `ny × nx` space (`x` is the fast, thread-exact index).
pub fn launch(ny: usize, nx: usize) -> Launch {
    Launch {
        grid: (
            nx.div_ceil(BLOCK.0 as usize).max(1) as u32,
            ny.div_ceil(BLOCK.1 as usize).clamp(1, MAX_GRID_Y) as u32,
            1,
        ),
        block: (BLOCK.0, BLOCK.1, 1),
        smem_bytes: 0,
    }
}

/// Emits the loops; `body(k, y, x)` runs once for every `y < ny`, `x < nx`.
pub fn for_each(
    k: &mut KernelBuilder,
    ny: usize,
    nx: usize,
    mut body: impl FnMut(&mut KernelBuilder, R32, R32) -> Result<(), super::ptx::Declined>,
) -> Result<(), super::ptx::Declined> {
    let exit = k.label();
    let (tx, ntx, cx) = (
        k.special("%tid.x"),
        k.special("%ntid.x"),
        k.special("%ctaid.x"),
    );
    let (ty, nty, cy, ncy) = (
        k.special("%tid.y"),
        k.special("%ntid.y"),
        k.special("%ctaid.y"),
        k.special("%nctaid.y"),
    );
    let x = k.r32();
    k.inst(format!("mad.lo.u32 {x}, {cx}, {ntx}, {tx}"));
    let p = k.pred();
    k.inst(format!("setp.ge.u32 {p}, {x}, {nx}"));
    k.branch_if(p, false, exit);
    let y = k.r32();
    k.inst(format!("mad.lo.u32 {y}, {cy}, {nty}, {ty}"));
    let step = k.r32();
    k.inst(format!("mul.lo.u32 {step}, {ncy}, {nty}"));
    let top = k.label();
    k.place(top);
    let done = k.pred();
    k.inst(format!("setp.ge.u32 {done}, {y}, {ny}"));
    k.branch_if(done, false, exit);
    body(k, y, x)?;
    k.inst(format!("add.u32 {y}, {y}, {step}"));
    k.branch(top);
    k.place(exit);
    Ok(())
}

/// `base + (a·mul + b)·size` with 64-bit arithmetic (`a`, `b` unsigned 32-bit).
pub fn element_address(
    k: &mut KernelBuilder,
    base: R64,
    a: R32,
    mul: usize,
    b: R32,
    size: usize,
) -> R64 {
    let idx = k.r64();
    k.inst(format!("mul.wide.u32 {idx}, {a}, {mul}"));
    let b64 = k.r64();
    k.inst(format!("cvt.u64.u32 {b64}, {b}"));
    k.inst(format!("add.u64 {idx}, {idx}, {b64}"));
    k.address64(base, idx, size as u64)
}

/// Moves one element of `size` bytes (1, 2, 4 or 8) bit for bit.
pub fn move_element(k: &mut KernelBuilder, size: usize, from: R64, to: R64) {
    if size == 8 {
        let r = k.r64();
        k.inst(format!("ld.global.b64 {r}, [{from}]"));
        k.inst(format!("st.global.b64 [{to}], {r}"));
    } else {
        let r = k.r32();
        // A 32-bit register loaded or stored through .u8/.u16 carries the low bytes.
        let ty = match size {
            1 => "u8",
            2 => "u16",
            _ => "b32",
        };
        k.inst(format!("ld.global.{ty} {r}, [{from}]"));
        k.inst(format!("st.global.{ty} [{to}], {r}"));
    }
}

/// Stores a zero element of `size` bytes.
pub fn store_zero(k: &mut KernelBuilder, size: usize, to: R64) {
    let st = match size {
        1 => "u8",
        2 => "u16",
        4 => "u32",
        _ => "u64",
    };
    k.inst(format!("st.global.{st} [{to}], 0"));
}
