//! Merge methods on one tensor: each takes the inputs' values as f32 slices and the resolved
//! per-model parameters, and returns the merged values in f32.
//!
//! These are the building blocks for both `cycleqd merge` (which streams whole models through
//! them, see [`crate::stream`]) and the evolution loop (which calls them in memory).
//!
//! Each method's file also holds its [`MethodSpec`] (name, inputs, parameters, constructor),
//! and [`METHODS`] lists them: to add a method, write `methods/<name>.rs` and list it there.

mod arcee_fusion;
mod breadcrumbs;
mod crossover;
mod dare;
mod della;
mod karcher;
mod linear;
mod model_stock;
mod multislerp;
mod nearswap;
mod nuslerp;
mod passthrough;
mod ram;
mod registry;
mod sce;
mod slerp;
mod sparsify;
mod spec;
mod task_arithmetic;
mod ties;

pub use arcee_fusion::ArceeFusion;
pub use crossover::{crossover_tensor, draw_crossover_weights, Crossover};
pub use karcher::Karcher;
pub use linear::Linear;
pub use model_stock::ModelStock;
pub use multislerp::Multislerp;
pub use nearswap::Nearswap;
pub use nuslerp::Nuslerp;
pub use passthrough::Passthrough;
pub use ram::{Ram, RamPlus};
pub use registry::{find_method, UnknownMethod, METHODS};
pub use sce::Sce;
pub use slerp::Slerp;
pub use sparsify::Sparsification;
pub use spec::{
    BaseRole, Build, CheckModel, DefaultValue, GlobalParams, Kind, MethodSpec, ParamSpec, Scope,
};
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
    /// Half-width of DELLA's band of keep probabilities around the density (`epsilon`).
    pub epsilon: f64,
    /// Factor applied by passthrough (`scale`).
    pub scale: f64,
}

impl Default for ModelParams {
    /// mergekit's defaults: weight 1 (mergekit requires it to be set), density 1, gamma 0.01,
    /// epsilon 0.15, scale 1 (mergekit: none, the same).
    fn default() -> Self {
        Self {
            weight: 1.0,
            density: 1.0,
            gamma: 0.01,
            epsilon: 0.15,
            scale: 1.0,
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
    /// One input copied, optionally scaled (with layer-range slices: frankenmerges).
    Passthrough(Passthrough),
    /// SCE: select by variance, weight by energy, erase sign conflicts.
    Sce(Sce),
    /// SLERP between two models' task vectors (or the models), weights as interpolation.
    Nuslerp(Nuslerp),
    /// Barycentric interpolation of several models on the hypersphere.
    Multislerp(Multislerp),
    /// The Karcher (Riemannian) mean of the inputs' directions, scaled by their mean norm.
    Karcher(Karcher),
    /// Per entry, move from the base to the model where they differ by less than `t`.
    Nearswap(Nearswap),
    /// Take the model's entries whose change is an outlier of importance (Arcee Fusion).
    ArceeFusion(ArceeFusion),
    /// Reinforced agent merging: unique task-vector entries kept, shared ones averaged.
    Ram(Ram),
    /// CycleQD's crossover: a weighted mean of task vectors with given weights.
    Crossover(Crossover),
}

impl MergeMethod {
    /// Whether each output entry depends only on the same entry of the inputs, so that a
    /// tensor can be merged a range at a time (no pruning, norms or angles over the tensor).
    pub fn is_elementwise(&self, params: &[ModelParams]) -> bool {
        match self {
            Self::Linear(_) | Self::Crossover(_) | Self::Passthrough(_) | Self::Nearswap(_) => true,
            Self::TaskArithmetic(m) => !m.prunes(params),
            Self::Ram(m) => m.plus.is_none(),
            Self::Slerp(_)
            | Self::ModelStock(_)
            | Self::Sce(_)
            | Self::Nuslerp(_)
            | Self::Multislerp(_)
            | Self::Karcher(_)
            | Self::ArceeFusion(_) => false,
        }
    }

    /// Merges one tensor. `params` has one entry per element of `inputs.models`.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        match self {
            Self::Linear(m) => m.merge(inputs, params),
            Self::TaskArithmetic(m) => m.merge(inputs, params),
            Self::Slerp(m) => m.merge(inputs, params),
            Self::ModelStock(m) => m.merge(inputs, params),
            Self::Passthrough(m) => m.merge(inputs, params),
            Self::Sce(m) => m.merge(inputs, params),
            Self::Nuslerp(m) => m.merge(inputs, params),
            Self::Multislerp(m) => m.merge(inputs, params),
            Self::Karcher(m) => m.merge(inputs, params),
            Self::Nearswap(m) => m.merge(inputs, params),
            Self::ArceeFusion(m) => m.merge(inputs, params),
            Self::Ram(m) => m.merge(inputs, params),
            Self::Crossover(m) => m.merge(inputs, params),
        }
    }
}

/// `x - base`, elementwise.
fn difference(x: &[f32], base: &[f32]) -> Vec<f32> {
    x.iter().zip(base).map(|(x, b)| x - b).collect()
}

/// The Euclidean norm, accumulated in f64.
fn norm(x: &[f32]) -> f64 {
    x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt()
}

/// The dot product, accumulated in f64.
fn dot(x: &[f32], y: &[f32]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

/// The vectors along axis `axis` of a row-major tensor of shape `shape`, as lists of element
/// indices' (start, stride, length): what torch reduces over with `dim=axis`. A tensor of
/// fewer dimensions than `axis + 1` is one vector.
fn fibers(shape: &[usize], axis: usize) -> (Vec<usize>, usize, usize) {
    let numel: usize = shape.iter().product();
    if axis >= shape.len() {
        return (vec![0], 1, numel);
    }
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let starts = (0..outer)
        .flat_map(|o| (0..inner).map(move |i| o * len * inner + i))
        .collect();
    (starts, inner, len)
}
