//! A multilayer perceptron of [`Linear`] layers and its SGD training step, every step a tpp
//! kernel: weights are kept in f32 master copies (`[out][in]` row-major, as users hold them),
//! converted (`Identity` to `T`) and blocked each step; the loss is a mean squared error
//! (`Sub`, `SumSq` reduction, scaling `Mul`); the update is `w += (−lr)·dw` (`MulAdd` with a
//! scalar broadcast).

use super::linear::{Linear, LinearOptions};
use super::raw::{check_len, OpElem};
use crate::error::{Error, Result};
use crate::isa::{
    Activation, BinaryDesc, BinaryOp, Broadcast, DType, ReduceAxis, ReduceDesc, ReduceOp,
    UnaryDesc, UnaryOp,
};

/// An MLP for batches of `N` rows: `sizes[0]` inputs, `sizes[l+1]` outputs of layer `l`, the
/// hidden activation after every layer but the last.
#[derive(Debug)]
pub struct Mlp<T: OpElem> {
    layers: Vec<Linear<T>>,
    /// f32 master weights `[K][C]` and biases `[K]`, per layer.
    weights: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
}

impl<T: OpElem> Mlp<T> {
    /// Layers with the given sizes, zero weights and biases (set them with
    /// [`Self::set_layer`]).
    pub fn new(batch: usize, sizes: &[usize], hidden: Activation) -> Result<Mlp<T>> {
        if sizes.len() < 2 {
            return Err(Error::desc(
                "mlp",
                "sizes",
                sizes.len(),
                "at least 2 (inputs and outputs)",
            ));
        }
        let mut layers = vec![];
        let (mut weights, mut biases) = (vec![], vec![]);
        for (l, w) in sizes.windows(2).enumerate() {
            let last = l + 2 == sizes.len();
            let opts = LinearOptions {
                bias: true,
                activation: if last { Activation::None } else { hidden },
                ..LinearOptions::default()
            };
            layers.push(Linear::new(batch, w[0], w[1], opts)?);
            weights.push(vec![0.0; w[0] * w[1]]);
            biases.push(vec![0.0; w[1]]);
        }
        Ok(Mlp {
            layers,
            weights,
            biases,
        })
    }

    /// The layers.
    pub fn layers(&self) -> &[Linear<T>] {
        &self.layers
    }

    /// Layer `l`'s master weights `[K][C]` and bias `[K]`.
    pub fn layer(&self, l: usize) -> (&[f32], &[f32]) {
        (&self.weights[l], &self.biases[l])
    }

    /// Sets layer `l`'s master weights `[K][C]` and bias `[K]`.
    pub fn set_layer(&mut self, l: usize, w: &[f32], b: &[f32]) -> Result<()> {
        if l >= self.layers.len() {
            return Err(Error::operand(
                "layer",
                format!("{l} of {} layers", self.layers.len()),
            ));
        }
        let (_, c, k) = self.layers[l].dims();
        check_len("w", w.len(), k * c)?;
        check_len("b", b.len(), k)?;
        self.weights[l].copy_from_slice(&w[..k * c]);
        self.biases[l].copy_from_slice(&b[..k]);
        Ok(())
    }

    /// Each layer's master weights in `T`, blocked for its kernels.
    fn blocked_weights(&self) -> Result<Vec<Vec<T>>> {
        self.layers
            .iter()
            .zip(&self.weights)
            .map(|(layer, master)| {
                let (_, c, k) = layer.dims();
                let mut plain = vec![T::default(); k * c];
                UnaryDesc::new(UnaryOp::Identity, k, c, DType::F32)
                    .dtypes(DType::F32, DType::F32, T::DTYPE)
                    .dispatch()?
                    .call(master, &mut plain)?;
                let wl = layer.weight_layout();
                let mut blocked = vec![T::default(); wl.len()];
                wl.from_kcrs(&plain, &mut blocked)?;
                Ok(blocked)
            })
            .collect()
    }

    /// The network's output for `x [N][sizes[0]]` into `y [N][sizes.last()]`.
    pub fn forward(&self, x: &[T], y: &mut [T]) -> Result<()> {
        let wb = self.blocked_weights()?;
        let mut cur = x.to_vec();
        for (l, layer) in self.layers.iter().enumerate() {
            let (n, _, k) = layer.dims();
            let mut next = vec![T::default(); n * k];
            layer.forward(&cur, &wb[l], Some(&self.biases[l]), &mut next)?;
            cur = next;
        }
        check_len("y", y.len(), cur.len())?;
        y[..cur.len()].copy_from_slice(&cur);
        Ok(())
    }

    /// One SGD step on the mean squared error `Σ (y − target)² / (N·K)`; returns the loss
    /// before the step.
    pub fn train_step(&mut self, x: &[T], target: &[T], lr: f32) -> Result<f32> {
        let wb = self.blocked_weights()?;
        let nl = self.layers.len();
        // Forward, keeping each layer's input, pre-activation and output.
        let mut inputs = vec![x.to_vec()];
        let mut pre = vec![];
        for (l, layer) in self.layers.iter().enumerate() {
            let (n, _, k) = layer.dims();
            let (mut z, mut y) = (vec![T::default(); n * k], vec![T::default(); n * k]);
            layer.forward_train(&inputs[l], &wb[l], Some(&self.biases[l]), &mut z, &mut y)?;
            pre.push(z);
            inputs.push(y);
        }
        let (n, _, k) = self.layers[nl - 1].dims();
        check_len("target", target.len(), n * k)?;
        // Loss and its gradient.
        let mut diff = vec![0f32; n * k];
        BinaryDesc::new(BinaryOp::Sub, n, k, T::DTYPE)
            .dtypes(T::DTYPE, T::DTYPE, DType::F32, DType::F32)
            .dispatch()?
            .call(&inputs[nl][..], target, &mut diff)?;
        let mut sq = ReduceDesc::new(ReduceOp::SumSq, ReduceAxis::PerRow, n, k, DType::F32);
        sq.out_dtype = DType::F32;
        let mut rows = vec![0f32; n];
        sq.dispatch()?.call(&diff, &mut rows)?;
        let loss = rows.iter().map(|&v| v as f64).sum::<f64>() / (n * k) as f64;
        let scale = [2.0 / (n * k) as f32];
        let mut dy = vec![T::default(); n * k];
        BinaryDesc::new(BinaryOp::Mul, n, k, DType::F32)
            .broadcast(Broadcast::None, Broadcast::Scalar)
            .dtypes(DType::F32, DType::F32, DType::F32, T::DTYPE)
            .dispatch()?
            .call(&diff, &scale[..], &mut dy)?;
        // Backward and update, last layer first.
        for l in (0..nl).rev() {
            let layer = &self.layers[l];
            let (n, c, k) = layer.dims();
            let mut dz = vec![T::default(); n * k];
            layer.activation_backward(&dy, &pre[l], &mut dz)?;
            let gl = layer.weight_grad_layout();
            let (mut dwb, mut db) = (vec![0f32; gl.len()], vec![0f32; k]);
            layer.backward_weights(&inputs[l], &dz, &mut dwb, Some(&mut db))?;
            if l > 0 {
                dy = vec![T::default(); n * c];
                layer.backward_data(&dz, &wb[l], &mut dy)?;
            }
            let mut dw = vec![0f32; k * c];
            gl.to_kcrs(&dwb, &mut dw)?;
            sgd(&mut self.weights[l], &dw, lr)?;
            sgd(&mut self.biases[l], &db, lr)?;
        }
        Ok(loss as f32)
    }
}

/// `w += (−lr)·dw` as one `MulAdd` with a scalar broadcast.
fn sgd(w: &mut [f32], dw: &[f32], lr: f32) -> Result<()> {
    let step = [-lr];
    BinaryDesc::new(BinaryOp::MulAdd, 1, w.len(), DType::F32)
        .broadcast(Broadcast::None, Broadcast::Scalar)
        .dispatch()?
        .call(dw, &step[..], w)
}
