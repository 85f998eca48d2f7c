//! Merge methods on one tensor: each takes the inputs' values as f32 slices and the resolved
//! per-model parameters, and returns the merged values in f32.
//!
//! These are the building blocks for both `cycleqd merge` (which streams whole models through
//! them, see [`crate::stream`]) and the evolution loop (which calls them in memory).

mod crossover;
mod linear;
mod model_stock;
mod slerp;
mod sparsify;
mod task_arithmetic;

pub use crossover::{crossover_tau, crossover_tensor, draw_crossover_weights, Crossover};
pub use linear::Linear;
pub use model_stock::ModelStock;
pub use slerp::Slerp;
pub use sparsify::Sparsification;
pub use task_arithmetic::{Consensus, TaskArithmetic};

use crate::error::{MergeError, Result};

/// The inputs of one tensor merge. Every slice holds the tensor's values, row-major.
#[derive(Clone, Copy, Debug)]
pub struct TensorInputs<'a> {
    /// The tensor name: seeds the randomized methods and names the tensor in errors.
    pub name: &'a str,
    /// Row-major shape, shared by every input.
    pub shape: &'a [usize],
    /// The base model's values, for methods that work on task vectors (input - base).
    pub base: Option<&'a [f32]>,
    /// The other inputs, in config order.
    pub models: &'a [&'a [f32]],
}

impl TensorInputs<'_> {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Checks lengths against the shape, the presence of a base, the number of models and
    /// of per-model parameters.
    fn check(
        &self,
        params: &[ModelParams],
        needs_base: bool,
        models: (usize, usize),
    ) -> Result<()> {
        let n = self.numel();
        let bad = |problem: String| Err(MergeError::tensor(self.name, problem));
        if needs_base && self.base.is_none() {
            return bad("this merge method needs a base model".into());
        }
        if let Some(base) = self.base {
            if base.len() != n {
                return bad(format!(
                    "base has {} values, shape {:?} needs {n}",
                    base.len(),
                    self.shape
                ));
            }
        }
        let (min, max) = models;
        if self.models.len() < min || self.models.len() > max {
            let expected = if min == max {
                format!("exactly {min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return bad(format!(
                "this merge method takes {expected} models besides the base, got {}",
                self.models.len()
            ));
        }
        if let Some((i, m)) = self.models.iter().enumerate().find(|(_, m)| m.len() != n) {
            return bad(format!(
                "model {i} has {} values, shape {:?} needs {n}",
                m.len(),
                self.shape
            ));
        }
        if params.len() != self.models.len() {
            return bad(format!(
                "{} models but {} sets of per-model parameters",
                self.models.len(),
                params.len()
            ));
        }
        Ok(())
    }
}

/// Per-model parameters of one tensor merge, resolved from a config (filters and gradients
/// already applied). Methods read only the ones they use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelParams {
    /// Mixing weight (`weight`).
    pub weight: f64,
    /// Fraction of task-vector entries kept by sparsifying methods (`density`).
    pub density: f64,
    /// Fraction of the largest-magnitude entries dropped by breadcrumbs (`gamma`).
    pub gamma: f64,
}

impl Default for ModelParams {
    /// mergekit's defaults: weight 1 (mergekit requires it to be set), density 1, gamma 0.01.
    fn default() -> Self {
        Self {
            weight: 1.0,
            density: 1.0,
            gamma: 0.01,
        }
    }
}

/// A merge method with its global parameters resolved for one tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeMethod {
    /// Weighted average of the inputs.
    Linear(Linear),
    /// Task arithmetic and its sparsified / sign-consensus variants (TIES, DARE, breadcrumbs).
    TaskArithmetic(TaskArithmetic),
    /// Spherical interpolation between the base and one model.
    Slerp(Slerp),
    /// Model stock: interpolation towards the average by the inputs' angle.
    ModelStock(ModelStock),
    /// CycleQD's crossover: a weighted mean of task vectors with given weights.
    Crossover(Crossover),
}

impl MergeMethod {
    /// Whether each output entry depends only on the same entry of the inputs, so that a
    /// tensor can be merged a range at a time (no pruning, norms or angles over the tensor).
    pub fn is_elementwise(&self, params: &[ModelParams]) -> bool {
        match self {
            Self::Linear(_) | Self::Crossover(_) => true,
            Self::TaskArithmetic(m) => !m.prunes(params),
            Self::Slerp(_) | Self::ModelStock(_) => false,
        }
    }

    /// Merges one tensor. `params` has one entry per element of `inputs.models`.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        match self {
            Self::Linear(m) => m.merge(inputs, params),
            Self::TaskArithmetic(m) => m.merge(inputs, params),
            Self::Slerp(m) => m.merge(inputs, params),
            Self::ModelStock(m) => m.merge(inputs, params),
            Self::Crossover(m) => m.merge(inputs, params),
        }
    }
}

/// `x - base`, elementwise.
fn difference(x: &[f32], base: &[f32]) -> Vec<f32> {
    x.iter().zip(base).map(|(x, b)| x - b).collect()
}
