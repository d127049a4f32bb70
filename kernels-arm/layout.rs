//! Layout transforms and raw moves as element movers, bit for bit (no conversion, so every
//! dtype, NaN payload and integer comes through): transpose, VNNI pack and unpack, gathers
//! and scatters of rows or columns, same-dtype copies (with broadcasts) and zero fill.
//!
//! Each side (source, destination) is addressed as `base + row(i) + col(j)` with a row rule
//! (a stride, an index array, or the VNNI group rule) and a column rule (a stride or an index
//! array). Where both column rules are the element size (rows contiguous on both sides) a row
//! moves in 16-byte vectors and then 8/4/2/1-byte pieces; otherwise element by element.

use super::asm::*;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

/// How row `i` of one side is found.
#[derive(Clone, Copy, Debug)]
pub enum RowAddr {
    /// `i · bytes` (0: every row is the same, a broadcast row or scalar).
    Stride(usize),
    /// `indices[i] · bytes`.
    Indexed(usize),
    /// The VNNI rule `(i / factor) · group + (i % factor) · size`.
    Vnni {
        /// Rows per group.
        factor: usize,
        /// Bytes per group row.
        group: usize,
    },
}

/// How element `j` of a row is found.
#[derive(Clone, Copy, Debug)]
pub enum ColAddr {
    /// `j · bytes` (0: a broadcast column).
    Stride(usize),
    /// `indices[j] · size`.
    Indexed,
}

/// One side of a move.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    /// Byte offset of its pointer in the argument struct.
    pub arg_offset: usize,
    /// Row rule.
    pub row: RowAddr,
    /// Column rule.
    pub col: ColAddr,
}

/// A move of `rows × cols` elements of `size` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Move {
    /// Element bytes (1, 2, 4 or 8).
    pub size: usize,
    /// Rows of the destination written.
    pub rows: usize,
    /// Elements per row.
    pub cols: usize,
    /// Where elements come from (`None`: zeros).
    pub src: Option<Side>,
    /// Where they go.
    pub dst: Side,
    /// Rows from this one on are written as zeros (the padding of a VNNI pack).
    pub zero_from: usize,
    /// Byte offset of the index array in the argument struct.
    pub indices: usize,
}

struct Ptrs {
    base: X,
    row: X,
    col: X,
    sub: X,
}

/// Generates the kernel: `extern "C" fn(*const Args)`.
pub fn generate(m: &Move) -> Result<Vec<u8>, String> {
    if ![1, 2, 4, 8].contains(&m.size) {
        return Err(format!("element size {}", m.size));
    }
    let mut pool = GprPool::default();
    let mut take = || pool.take().ok_or("registers");
    let (rows, cols, idx, t0, t1, val) = (take()?, take()?, take()?, take()?, take()?, take()?);
    let mut side = || -> Result<Ptrs, &str> {
        Ok(Ptrs {
            base: take()?,
            row: take()?,
            col: take()?,
            sub: take()?,
        })
    };
    let (s, d) = (side()?, side()?);
    let frame = Frame {
        gprs: pool.saved.clone(),
        vectors: false,
    };
    let mut a = assembler();
    frame.prologue(&mut a);
    let ix = m.indices as u32;
    dynasm!(a ; .arch aarch64 ; ldr X(idx.0), [x0, #ix]);
    let sides: Vec<(Side, &Ptrs)> = m
        .src
        .map(|x| (x, &s))
        .into_iter()
        .chain([(m.dst, &d)])
        .collect();
    for (sd, p) in &sides {
        let off = sd.arg_offset as u32;
        dynasm!(a ; .arch aarch64
            ; ldr X(p.base.0), [x0, #off]
            ; mov X(p.row.0), X(p.base.0)
            ; movz X(p.sub.0), #0);
    }
    if m.rows == 0 || m.cols == 0 {
        frame.epilogue(&mut a);
        return a.finalize().map_err(|e| format!("{e:?}"));
    }
    // Rows: i counts up in `rows`.
    dynasm!(a ; .arch aarch64 ; movz X(rows.0), #0);
    let top = a.new_dynamic_label();
    dynasm!(a ; .arch aarch64 ; =>top);
    for (sd, p) in &sides {
        if let RowAddr::Indexed(bytes) = sd.row {
            mov_imm(&mut a, t1, bytes as u64);
            dynasm!(a ; .arch aarch64
                ; ldr X(t0.0), [X(idx.0), X(rows.0), lsl #3]
                ; madd X(p.row.0), X(t0.0), X(t1.0), X(p.base.0));
        }
        dynasm!(a ; .arch aarch64 ; mov X(p.col.0), X(p.row.0));
    }
    let contiguous = m
        .src
        .is_some_and(|x| matches!(x.col, ColAddr::Stride(b) if b == m.size))
        && matches!(m.dst.col, ColAddr::Stride(b) if b == m.size);
    let zero_row = m.zero_from < m.rows;
    let (padding, row_done) = (a.new_dynamic_label(), a.new_dynamic_label());
    if zero_row {
        mov_imm(&mut a, t0, m.zero_from as u64);
        dynasm!(a ; .arch aarch64 ; cmp X(rows.0), X(t0.0) ; b.hs =>padding);
    }
    if contiguous {
        copy_run(&mut a, s.col, d.col, m.cols * m.size, cols, val);
    } else {
        elements(
            &mut a,
            m,
            m.src.map(|x| (x, &s)),
            (m.dst, &d),
            [cols, idx, t0, val],
        );
    }
    if zero_row {
        dynasm!(a ; .arch aarch64 ; b =>row_done ; =>padding);
        elements(&mut a, m, None, (m.dst, &d), [cols, idx, t0, val]);
        dynasm!(a ; .arch aarch64 ; =>row_done);
    }
    // Next row.
    for (sd, p) in &sides {
        match sd.row {
            RowAddr::Stride(bytes) => add_imm(&mut a, p.row, p.row, bytes, t0),
            RowAddr::Indexed(_) => {}
            RowAddr::Vnni { factor, group } => {
                // Within a group the next row is one element on; after the last, the next
                // group's first row.
                let next = a.new_dynamic_label();
                add_imm(&mut a, p.row, p.row, m.size, t0);
                dynasm!(a ; .arch aarch64
                    ; add XSP(p.sub.0), XSP(p.sub.0), #1
                    ; cmp XSP(p.sub.0), #factor as u32
                    ; b.ne =>next
                    ; movz X(p.sub.0), #0);
                add_imm(&mut a, p.base, p.base, group, t0);
                dynasm!(a ; .arch aarch64 ; mov X(p.row.0), X(p.base.0) ; =>next);
            }
        }
    }
    mov_imm(&mut a, t0, m.rows as u64);
    dynasm!(a ; .arch aarch64
        ; add XSP(rows.0), XSP(rows.0), #1
        ; cmp X(rows.0), X(t0.0)
        ; b.lo =>top);
    frame.epilogue(&mut a);
    a.finalize().map_err(|e| format!("{e:?}"))
}

/// Copies `bytes` from `src` to `dst` (both advanced): 16-byte vectors in a loop, then the
/// pieces of the rest.
fn copy_run(a: &mut Ops, src: X, dst: X, bytes: usize, count: X, val: X) {
    let vectors = bytes / 16;
    if vectors > 0 {
        let top = a.new_dynamic_label();
        mov_imm(a, count, vectors as u64);
        dynasm!(a ; .arch aarch64
            ; =>top
            ; ldr q0, [X(src.0)], #16
            ; str q0, [X(dst.0)], #16
            ; subs X(count.0), XSP(count.0), #1
            ; b.ne =>top);
    }
    let mut rest = bytes % 16;
    for piece in [8usize, 4, 2, 1] {
        if rest >= piece {
            let (s, d, v) = (src.0, dst.0, val.0);
            match piece {
                8 => dynasm!(a ; .arch aarch64 ; ldr X(v), [X(s)], #8 ; str X(v), [X(d)], #8),
                4 => dynasm!(a ; .arch aarch64 ; ldr W(v), [X(s)], #4 ; str W(v), [X(d)], #4),
                2 => dynasm!(a ; .arch aarch64 ; ldrh W(v), [X(s)], #2 ; strh W(v), [X(d)], #2),
                _ => dynasm!(a ; .arch aarch64 ; ldrb W(v), [X(s)], #1 ; strb W(v), [X(d)], #1),
            }
            rest -= piece;
        }
    }
}

/// One row element by element (`src` `None`: zeros).
fn elements(a: &mut Ops, m: &Move, src: Option<(Side, &Ptrs)>, dst: (Side, &Ptrs), t: [X; 4]) {
    let [j, idx, t0, val] = t;
    let sh = m.size.trailing_zeros();
    let top = a.new_dynamic_label();
    dynasm!(a ; .arch aarch64 ; movz X(j.0), #0 ; =>top);
    // The element's address in t0 for an indexed column, else the side's column pointer.
    let addr = |a: &mut Ops, sd: Side, p: &Ptrs| -> X {
        match sd.col {
            ColAddr::Indexed => {
                dynasm!(a ; .arch aarch64
                    ; ldr X(t0.0), [X(idx.0), X(j.0), lsl #3]
                    ; lsl X(t0.0), X(t0.0), #sh
                    ; add X(t0.0), X(t0.0), X(p.row.0));
                t0
            }
            ColAddr::Stride(_) => p.col,
        }
    };
    let v = val.0;
    match src {
        Some((sd, p)) => {
            let r = addr(a, sd, p).0;
            match m.size {
                8 => dynasm!(a ; .arch aarch64 ; ldr X(v), [X(r)]),
                4 => dynasm!(a ; .arch aarch64 ; ldr W(v), [X(r)]),
                2 => dynasm!(a ; .arch aarch64 ; ldrh W(v), [X(r)]),
                _ => dynasm!(a ; .arch aarch64 ; ldrb W(v), [X(r)]),
            }
        }
        None => dynasm!(a ; .arch aarch64 ; movz X(v), #0),
    }
    let r = addr(a, dst.0, dst.1).0;
    match m.size {
        8 => dynasm!(a ; .arch aarch64 ; str X(v), [X(r)]),
        4 => dynasm!(a ; .arch aarch64 ; str W(v), [X(r)]),
        2 => dynasm!(a ; .arch aarch64 ; strh W(v), [X(r)]),
        _ => dynasm!(a ; .arch aarch64 ; strb W(v), [X(r)]),
    }
    for (sd, p) in src.into_iter().chain([dst]) {
        if let ColAddr::Stride(bytes) = sd.col {
            add_imm(a, p.col, p.col, bytes, t0);
        }
    }
    mov_imm(a, t0, m.cols as u64);
    dynasm!(a ; .arch aarch64
        ; add XSP(j.0), XSP(j.0), #1
        ; cmp X(j.0), X(t0.0)
        ; b.lo =>top);
}
