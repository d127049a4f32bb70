//! Equations on the PTX interpreter: the launches of [`tpp::kernels_cuda::EquationKernels`]
//! run in order over an emulated global memory holding the inputs, the (poisoned) outputs
//! and the scratch buffers, with the argument structs built by
//! [`tpp::kernels_cuda::PassLaunch::args`] exactly as the device API builds them.

use super::emu::{self, Memory};
use tpp::kernels_cuda::{self, EquationKernels, Target};
use tpp::lower::equation::Buf;
use tpp::{EqOutputKind, Equation};

/// An equation's kernels, parsed for the interpreter.
pub struct Emulated {
    /// The generated kernels.
    pub kernels: EquationKernels,
    programs: Vec<emu::Program>,
}

impl Emulated {
    /// Generates the kernels of `eq` for `target` (an error when the generator declines).
    pub fn new(eq: &Equation, target: Target) -> Result<Emulated, String> {
        let kernels = kernels_cuda::equation_kernels(eq, target).map_err(|e| e.0)?;
        let programs = kernels
            .launches
            .iter()
            .map(|l| emu::Program::parse(&l.kernel.ptx))
            .collect();
        Ok(Emulated { kernels, programs })
    }

    /// Runs the equation: `inputs` and `outputs` are the bytes of each operand in declaration
    /// order (outputs are read back into their vectors), `mask_in` the mask input's bytes.
    pub fn run(
        &self,
        eq: &Equation,
        inputs: &[Vec<u8>],
        mask_in: Option<&[u8]>,
        outputs: &mut [Vec<u8>],
        seed: u64,
    ) {
        let mut mem = Memory::new();
        let ins: Vec<u64> = inputs.iter().map(|b| mem.alloc(b)).collect();
        let outs: Vec<u64> = outputs.iter().map(|b| mem.alloc(b)).collect();
        // Scratch starts as NaN: a pass that reads what no pass wrote shows in the results.
        let scratch: Vec<u64> = self
            .kernels
            .scratch
            .iter()
            .map(|&n| mem.alloc(&vec![0xFF; 4 * n.max(1)]))
            .collect();
        let mask_in = mask_in.map_or(0, |m| mem.alloc(m));
        let mask_out = eq
            .outputs()
            .iter()
            .position(|o| matches!(o.kind, EqOutputKind::Mask { .. }))
            .map_or(0, |n| outs[n]);
        let address = |b: Buf| match b {
            Buf::Input(i) => ins[i as usize],
            Buf::Output(o) => outs[o as usize],
            Buf::Scratch(s) => scratch[s as usize],
        };
        for (l, p) in self.kernels.launches.iter().zip(&self.programs) {
            let args = l.args(&address, mask_in, mask_out, seed);
            // SAFETY: a plain `#[repr(C)]` struct of integers.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&args as *const kernels_cuda::EquationPassArgs).cast::<u8>(),
                    std::mem::size_of_val(&args),
                )
            };
            emu::run_launch(p, &mut mem, bytes, &l.kernel.launch);
        }
        for (o, &a) in outputs.iter_mut().zip(&outs) {
            let n = o.len();
            o.copy_from_slice(mem.read(a, n));
        }
    }
}
