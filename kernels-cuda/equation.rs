//! Equations on CUDA: the plan of [`crate::lower::equation`] (passes over buffers, each one
//! micro-op program, in groups) becomes one PTX kernel per group of passes, launched in order
//! on one stream, after a kernel that sets the column reductions' scratch rows to their folds'
//! identities.
//!
//! The CPU driver runs the passes of a group over row blocks so that a block stays in cache;
//! here every warp runs all the passes of a group on its row in turn, so a row is read from
//! memory once and its later passes hit the caches, and a group is one launch. Scratch is sized
//! for every row. A group becomes:
//! - an **elementwise** kernel ([`super::eltwise`], one thread per element, vector accesses
//!   where aligned) when it is one pass without folds: over the space, over rows only (one
//!   thread per row) or over one row of columns (one thread per column);
//! - otherwise a **row-wise** kernel ([`super::equation_rows`], one warp per row, every pass
//!   of the group in turn): rows fold by warp shuffles, columns into shared-memory partials
//!   per block, then one global atomic per column and block.
//!
//! Host code here only computes: the device API (`crate::cuda` under the `cuda` feature)
//! and the test-only PTX interpreter both run an [`EquationKernels`] the same way, through
//! [`PassLaunch::args`].

use super::eltwise::{self, EltwiseSpec, MaskSpec, PortSpec};
use super::equation_rows::{self, RowKernelSpec, RowPass};
use super::families::backend_name;
use super::ptx::{f32_imm, module, Declined, KernelBuilder, PtxKernel, Target};
use crate::isa::{Broadcast, DType, EqOutputKind, Equation};
use crate::lower::equation::{plan, Buf, Pass, Space};
use crate::lower::{Fold, MicroOp, Port};
use std::mem::{offset_of, size_of};

/// Most operands (inputs, outputs, scratch) one pass may read and write.
pub const MAX_PORTS: usize = 48;

/// The argument struct of every equation kernel, passed by value: the device address of each
/// operand of the kernel (the buffers its passes read and write, at their first element),
/// the bitmasks, and the seed of the dropout nodes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EquationPassArgs {
    /// Operand addresses.
    pub ports: [u64; MAX_PORTS],
    /// The mask input (0 when the pass reads none).
    pub mask_in: u64,
    /// The mask output (0 when the pass writes none).
    pub mask_out: u64,
    /// The call's seed.
    pub seed: u64,
}

/// One launch of an equation (a group of passes, or the initialisation): its kernel and which
/// buffer each of its operands is.
#[derive(Clone, Debug)]
pub struct PassLaunch {
    /// The kernel.
    pub kernel: PtxKernel,
    /// The buffer of each operand (`ports[n]` of the argument struct).
    pub ports: Vec<Buf>,
}

impl PassLaunch {
    /// The argument struct of the launch, given the device address of every buffer.
    pub fn args(
        &self,
        address: &dyn Fn(Buf) -> u64,
        mask_in: u64,
        mask_out: u64,
        seed: u64,
    ) -> EquationPassArgs {
        let mut ports = [0u64; MAX_PORTS];
        for (slot, &b) in ports.iter_mut().zip(&self.ports) {
            *slot = address(b);
        }
        EquationPassArgs {
            ports,
            mask_in,
            mask_out,
            seed,
        }
    }
}

/// An equation generated for a device: scratch sizes and the launches, in order.
#[derive(Clone, Debug)]
pub struct EquationKernels {
    /// The equation's kernel name (`equation_cuda_sm80_...`).
    pub name: String,
    /// Elements (f32) of each scratch buffer (`Buf::Scratch(n)`).
    pub scratch: Vec<usize>,
    /// The launches.
    pub launches: Vec<PassLaunch>,
}

/// The identity of a fold.
pub fn identity(fold: Fold) -> f32 {
    match fold {
        Fold::Sum => 0.0,
        Fold::Max => f32::NEG_INFINITY,
        Fold::Min => f32::INFINITY,
    }
}

fn port_spec(n: usize, buf_dtype: DType, shape: Broadcast, ld: usize) -> PortSpec {
    PortSpec {
        port: Port::Buf(n as u16),
        dtype: buf_dtype,
        broadcast: shape,
        ld,
        arg_offset: offset_of!(EquationPassArgs, ports) + 8 * n,
    }
}

fn mask_spec(bits: Option<usize>, arg_offset: usize) -> Option<MaskSpec> {
    bits.map(|ld_bits| MaskSpec {
        arg_offset,
        ld_bits,
    })
}

/// Generates every kernel of `eq` (validated by the caller).
pub fn generate(eq: &Equation, target: Target) -> Result<EquationKernels, Declined> {
    let backend = backend_name(target);
    let name = eq.name(backend);
    let plan = plan(eq).ok_or_else(|| Declined(format!("{name}: the equation has no plan")))?;
    let (rows, cols) = (eq.rows(), eq.cols());
    let scratch: Vec<usize> = plan
        .scratch
        .iter()
        .map(|s| match s.shape {
            Broadcast::None => rows * cols,
            Broadcast::Row => cols,
            Broadcast::Col => rows,
            Broadcast::Scalar => 1,
        })
        .collect();
    for (n, o) in eq.outputs().iter().enumerate() {
        if let EqOutputKind::Value { dtype, .. } = o.kind {
            if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
                return Err(Declined(format!("{name}: output {n} is {dtype}")));
            }
        }
    }
    let mut launches = Vec::new();
    // The column reductions' rows start at their identities.
    let inits: Vec<(u16, Fold)> = plan
        .scratch
        .iter()
        .enumerate()
        .filter_map(|(s, b)| b.init.map(|f| (s as u16, f)))
        .collect();
    if !inits.is_empty() {
        launches.push(init_kernel(&format!("{name}_init"), &inits, cols, target)?);
    }
    // One kernel per group of passes (see the module docs), in order.
    let mut q = 0;
    while q < plan.passes.len() {
        let group = plan.passes[q].group;
        let end = q + plan.passes[q..]
            .iter()
            .take_while(|p| p.group == group)
            .count();
        let passes = &plan.passes[q..end];
        let colreds: Vec<Vec<(u16, Fold)>> = passes
            .iter()
            .map(|pass| {
                pass.ports
                    .iter()
                    .enumerate()
                    .filter_map(|(n, p)| match p.buf {
                        Buf::Scratch(s) if pass.space != Space::Cols => {
                            plan.scratch[s as usize].init.map(|f| (n as u16, f))
                        }
                        _ => None,
                    })
                    .filter(|&(n, _)| stores_to(pass, n))
                    .collect()
            })
            .collect();
        let folds =
            passes.iter().any(|p| !p.accs.is_empty()) || colreds.iter().any(|c| !c.is_empty());
        let kernel_name = format!("{name}_g{group}");
        if passes.len() == 1 && !folds {
            // One thread per element: the most parallel mapping of a pass without folds.
            let pass = &passes[0];
            check_ports(&name, pass.ports.len())?;
            launches.push(PassLaunch {
                kernel: elementwise(pass, &kernel_name, rows, cols, target)?,
                ports: pass.ports.iter().map(|p| p.buf).collect(),
            });
        } else {
            // One warp per row through every pass of the group: the operands of all the
            // passes share the argument struct's table.
            let mut bufs: Vec<Buf> = Vec::new();
            let mut row_passes = Vec::with_capacity(passes.len());
            for (pass, colred) in passes.iter().zip(colreds) {
                let ports = pass
                    .ports
                    .iter()
                    .map(|p| {
                        let u = bufs.iter().position(|&b| b == p.buf).unwrap_or_else(|| {
                            bufs.push(p.buf);
                            bufs.len() - 1
                        });
                        port_spec(u, p.dtype, p.shape, p.ld)
                    })
                    .collect();
                row_passes.push(RowPass {
                    program: &pass.program,
                    ports,
                    accs: pass.accs.clone(),
                    colred,
                    mask_in: mask_spec(pass.mask_in, offset_of!(EquationPassArgs, mask_in)),
                    mask_out: mask_spec(pass.mask_out, offset_of!(EquationPassArgs, mask_out)),
                });
            }
            check_ports(&name, bufs.len())?;
            let spec = RowKernelSpec {
                name: kernel_name,
                rows,
                cols,
                passes: row_passes,
                seed_offset: offset_of!(EquationPassArgs, seed),
                arg_bytes: size_of::<EquationPassArgs>(),
            };
            launches.push(PassLaunch {
                kernel: equation_rows::generate(&spec, target)?,
                ports: bufs,
            });
        }
        q = end;
    }
    Ok(EquationKernels {
        name,
        scratch,
        launches,
    })
}

fn check_ports(name: &str, n: usize) -> Result<(), Declined> {
    if n > MAX_PORTS {
        return Err(Declined(format!(
            "{name}: a kernel of {n} operands, at most {MAX_PORTS} are supported"
        )));
    }
    Ok(())
}

/// True when the pass's program stores to operand `n`.
fn stores_to(pass: &Pass, n: u16) -> bool {
    pass.program
        .ops
        .iter()
        .any(|op| matches!(*op, MicroOp::Store { port, .. } if port == Port::Buf(n)))
}

fn ports_of(pass: &Pass) -> Vec<PortSpec> {
    pass.ports
        .iter()
        .enumerate()
        .map(|(n, p)| port_spec(n, p.dtype, p.shape, p.ld))
        .collect()
}

/// A pass without folds through the elementwise driver: over the space, over rows only (one
/// column of per-row values) or over one row of columns.
fn elementwise(
    pass: &Pass,
    name: &str,
    rows: usize,
    cols: usize,
    target: Target,
) -> Result<PtxKernel, Declined> {
    let (r, c) = match pass.space {
        Space::Full => (rows, cols),
        Space::Rows => (rows, 1),
        Space::Cols => (1, cols),
    };
    let spec = EltwiseSpec {
        name: name.to_string(),
        program: &pass.program,
        rows: r,
        cols: c,
        ports: ports_of(pass),
        mask_in: mask_spec(pass.mask_in, offset_of!(EquationPassArgs, mask_in)),
        mask_out: mask_spec(pass.mask_out, offset_of!(EquationPassArgs, mask_out)),
        seed_offset: Some(offset_of!(EquationPassArgs, seed)),
        arg_bytes: size_of::<EquationPassArgs>(),
    };
    eltwise::generate(&spec, target)
}

/// Sets every scratch row of `inits` (operand `n` is the `n`-th entry) to its fold's identity,
/// one thread per column.
fn init_kernel(
    name: &str,
    inits: &[(u16, Fold)],
    cols: usize,
    target: Target,
) -> Result<PassLaunch, Declined> {
    let mut k = KernelBuilder::new(name, size_of::<EquationPassArgs>(), 256);
    let bases: Vec<_> = (0..inits.len())
        .map(|n| k.arg_u64(offset_of!(EquationPassArgs, ports) + 8 * n))
        .collect();
    super::grid::for_each(&mut k, 1, cols, |k, _, j| {
        for (&base, &(_, fold)) in bases.iter().zip(inits) {
            let a = k.address(base, j, 4);
            k.inst(format!("st.global.b32 [{a}], {}", f32_imm(identity(fold))));
        }
        Ok(())
    })?;
    Ok(PassLaunch {
        kernel: PtxKernel {
            name: name.to_string(),
            ptx: module(target, k.finish()),
            launch: super::grid::launch(1, cols),
            target,
        },
        ports: inits.iter().map(|&(s, _)| Buf::Scratch(s)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::equations;

    #[test]
    fn folds_take_the_row_driver_and_the_rest_the_elementwise_one() {
        let ln = generate(
            &equations::layer_norm(8, 40, DType::F32, 1e-5),
            Target::Sm80,
        )
        .unwrap();
        // Mean, variance and output: three passes of one group, one warp-per-row kernel.
        assert_eq!(ln.launches.len(), 1);
        assert_eq!(ln.launches[0].kernel.launch.block, (32, 8, 1));
        assert!(ln.launches[0].kernel.ptx.contains("bar.warp.sync"));
        let sm = generate(&equations::softmax(8, 40, DType::BF16), Target::Sm80).unwrap();
        assert_eq!(sm.launches.len(), 1);
        let bwd = generate(
            &equations::layer_norm_backward(8, 40, DType::BF16),
            Target::Sm80,
        )
        .unwrap();
        assert!(bwd.launches[0].kernel.name.ends_with("_init"));
        let bias = generate(
            &equations::bias_activation(8, 40, DType::F32, crate::isa::UnaryOp::Gelu),
            Target::Sm80,
        )
        .unwrap();
        assert_eq!(bias.launches.len(), 1);
        assert!(bias.scratch.is_empty());
        let args = bias.launches[0].args(&|_| 0x1000, 0, 0, 7);
        assert_eq!(args.seed, 7);
        assert_eq!(args.ports[0], 0x1000);
    }
}
