//! The GEMM epilogue on accumulators held in registers: the shared lowering's
//! [`crate::lower::eltwise::gemm_finish`] program (alpha, beta·C, bias, activation, output
//! conversion) runs once per accumulator inside the matrix, and the relu mask bits of a byte,
//! spread over a few lanes by the fragment layout, are OR-ed together with shuffles and stored
//! by one lane, so no two threads write one mask byte.

use super::microops::{self, Ports};
use super::ptx::{Declined, KernelBuilder, Pred, R32, R64};
use crate::isa::{BiasBroadcast, DType, Layout};
use crate::lower::{Port, Program};

/// One accumulator: its register (f32 bits or s32) and its column.
#[derive(Clone, Copy, Debug)]
pub struct Elem {
    /// The accumulated value.
    pub acc: R32,
    /// Its column of C.
    pub col: R32,
    /// `1 << (its bit in the mask byte of its row)`.
    pub bit: R32,
}

/// Accumulators of one row that share one mask byte across lanes `lane ^ x`, `x` in `xors`.
pub struct Group {
    /// The row of C.
    pub row: R32,
    /// The column of the byte's bit 0 (a multiple of 8).
    pub byte_col: R32,
    /// The accumulators this thread holds.
    pub elems: Vec<Elem>,
    /// Lane distances over which the byte's bits are spread.
    pub xors: Vec<u32>,
    /// True in the lane that stores the byte.
    pub writer: Pred,
}

/// What the epilogue writes, fixed at generation.
pub struct Epilogue {
    /// The program of the float paths (`None`: int8, `C = acc` or `C += acc`).
    pub program: Option<Program>,
    /// The int8 path adds the prior C (beta = 1).
    pub int_beta: bool,
    /// C.
    pub c: R64,
    /// C's dtype.
    pub c_dtype: DType,
    /// C's layout.
    pub c_layout: Layout,
    /// C's leading dimension.
    pub ldc: usize,
    /// Rows and columns of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The bias pointer, its broadcast and dtype.
    pub bias: Option<(R64, BiasBroadcast, DType)>,
    /// The relu mask pointer and its leading dimension (bits).
    pub mask: Option<(R64, usize)>,
}

struct Element<'a> {
    ep: &'a Epilogue,
    row: R32,
    e: Elem,
    bits: Option<R32>,
}

impl Epilogue {
    fn c_address(&self, k: &mut KernelBuilder, row: R32, col: R32) -> R64 {
        let idx = k.r64();
        match self.c_layout {
            Layout::RowMajor => {
                k.inst(format!("mul.wide.u32 {idx}, {row}, {}", self.ldc));
                let c = k.r64();
                k.inst(format!("cvt.u64.u32 {c}, {col}"));
                k.inst(format!("add.u64 {idx}, {idx}, {c}"));
            }
            l => {
                let v = l.factor();
                let (g, r, inner) = (k.r32(), k.r32(), k.r32());
                k.inst(format!("div.u32 {g}, {row}, {v}"));
                k.inst(format!("rem.u32 {r}, {row}, {v}"));
                k.inst(format!("mul.wide.u32 {idx}, {g}, {}", self.ldc * v));
                k.inst(format!("mad.lo.u32 {inner}, {col}, {v}, {r}"));
                let c = k.r64();
                k.inst(format!("cvt.u64.u32 {c}, {inner}"));
                k.inst(format!("add.u64 {idx}, {idx}, {c}"));
            }
        }
        k.address64(self.c, idx, self.c_dtype.size() as u64)
    }

    /// Emits the epilogue of one group.
    pub fn emit(&self, k: &mut KernelBuilder, g: &Group) -> Result<(), Declined> {
        let row_in = k.pred();
        k.inst(format!("setp.lt.u32 {row_in}, {}, {}", g.row, self.m));
        let bits = self.mask.map(|_| k.imm32(0));
        for &e in &g.elems {
            let skip = k.label();
            let inside = k.pred();
            k.inst(format!("setp.lt.u32 {inside}, {}, {}", e.col, self.n));
            k.inst(format!("and.pred {inside}, {inside}, {row_in}"));
            k.branch_if(inside, true, skip);
            match &self.program {
                Some(p) => {
                    let mut el = Element {
                        ep: self,
                        row: g.row,
                        e,
                        bits,
                    };
                    microops::emit(k, p, &mut el)?;
                }
                None => {
                    let addr = self.c_address(k, g.row, e.col);
                    let v = e.acc;
                    if self.int_beta {
                        let c = k.r32();
                        k.inst(format!("ld.global.b32 {c}, [{addr}]"));
                        k.inst(format!("add.s32 {c}, {c}, {v}"));
                        k.inst(format!("st.global.b32 [{addr}], {c}"));
                    } else {
                        k.inst(format!("st.global.b32 [{addr}], {v}"));
                    }
                }
            }
            k.place(skip);
        }
        if let (Some((mask, ld_bits)), Some(bits)) = (self.mask, bits) {
            for &x in &g.xors {
                let o = k.r32();
                k.shfl_sync_bfly_b32(o, bits, x);
                k.inst(format!("or.b32 {bits}, {bits}, {o}"));
            }
            let (store, col_in) = (k.pred(), k.pred());
            k.inst(format!("setp.lt.u32 {col_in}, {}, {}", g.byte_col, self.n));
            k.inst(format!("and.pred {store}, {col_in}, {row_in}"));
            k.inst(format!("and.pred {store}, {store}, {}", g.writer));
            let idx = k.r64();
            k.inst(format!("mul.wide.u32 {idx}, {}, {}", g.row, ld_bits / 8));
            let c = k.r32();
            k.inst(format!("shr.u32 {c}, {}, 3", g.byte_col));
            let c64 = k.r64();
            k.inst(format!("cvt.u64.u32 {c64}, {c}"));
            k.inst(format!("add.u64 {idx}, {idx}, {c64}"));
            k.inst(format!("add.u64 {idx}, {idx}, {mask}"));
            k.inst_if(store, false, format!("st.global.u8 [{idx}], {bits}"));
        }
        Ok(())
    }
}

impl Ports for Element<'_> {
    fn load(&mut self, k: &mut KernelBuilder, port: Port, dst: R32) -> Result<(), Declined> {
        match port {
            Port::In0 => {
                k.inst(format!("mov.b32 {dst}, {}", self.e.acc));
                Ok(())
            }
            Port::Out => {
                let a = self.ep.c_address(k, self.row, self.e.col);
                microops::load_f32(k, self.ep.c_dtype, a, dst)
            }
            Port::In1 => {
                let (base, bc, dt) = self
                    .ep
                    .bias
                    .ok_or_else(|| Declined("epilogue reads a bias the GEMM lacks".into()))?;
                let at = match bc {
                    BiasBroadcast::Row => self.e.col,
                    BiasBroadcast::Col => self.row,
                };
                let a = k.address(base, at, dt.size() as u32);
                microops::load_f32(k, dt, a, dst)
            }
            p => Err(Declined(format!("the GEMM epilogue has no port {p:?}"))),
        }
    }
    fn store(&mut self, k: &mut KernelBuilder, port: Port, src: R32) -> Result<(), Declined> {
        if port != Port::Out {
            return Err(Declined(format!(
                "the GEMM epilogue stores only C, not {port:?}"
            )));
        }
        let a = self.ep.c_address(k, self.row, self.e.col);
        microops::store_f32(k, self.ep.c_dtype, a, src)
    }
    fn load_mask(&mut self, _k: &mut KernelBuilder, _dst: Pred) -> Result<(), Declined> {
        Err(Declined("the GEMM epilogue reads no mask".into()))
    }
    fn store_mask(&mut self, k: &mut KernelBuilder, src: Pred) -> Result<(), Declined> {
        let bits = self
            .bits
            .ok_or_else(|| Declined("epilogue writes a mask the GEMM lacks".into()))?;
        let t = k.r32();
        k.inst(format!("selp.b32 {t}, {}, 0, {src}", self.e.bit));
        k.inst(format!("or.b32 {bits}, {bits}, {t}"));
        Ok(())
    }
    fn position(&mut self, _k: &mut KernelBuilder) -> Result<R32, Declined> {
        Err(Declined(
            "the GEMM epilogue has no element positions".into(),
        ))
    }
    fn seed(&mut self, _k: &mut KernelBuilder, _high: bool) -> Result<R32, Declined> {
        Err(Declined("the GEMM epilogue has no seed".into()))
    }
}
