//! The merge-weight searches' genome: one task-arithmetic weight per expert, or per expert
//! and group of consecutive layers, turned into a recipe `theta(B) + sum_k w_k tau(E_k)`.

use cycleqd_recipe::{BasisSet, Genome, Recipe};
use cycleqd_weights::layer_names::{is_input_side, layer_index};

use crate::error::{EvolveError, Result};

/// How a weight vector maps onto the model's tensors: `x[k * groups + g]` is expert k's
/// weight on the tensors of layer group g.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightLayout {
    experts: usize,
    groups: usize,
    /// Per layout entry of the basis, its group.
    tensor_group: Vec<usize>,
}

impl WeightLayout {
    /// The layout over `basis` with `groups` groups of consecutive layers. Tensors outside
    /// the numbered layers go with the first group when they come before the first layer
    /// in the model (embeddings), else with the last (final norm, LM head).
    pub fn new(basis: &BasisSet, groups: usize) -> Result<Self> {
        let names: Vec<&str> = basis
            .layout()
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        let layers: Vec<Option<usize>> = names.iter().map(|n| layer_index(n)).collect();
        let count = layers.iter().flatten().max().map_or(0, |m| m + 1);
        if groups > count.max(1) {
            return Err(EvolveError::Invalid(format!(
                "weight_search.layer_groups = {groups}, but the model has {count} layers"
            )));
        }
        let group_of_layer = |layer: usize| layer * groups / count;
        let tensor_group = names
            .iter()
            .zip(&layers)
            .map(|(name, layer)| match layer {
                Some(l) => group_of_layer(*l),
                None if is_input_side(name) => 0,
                None => groups - 1,
            })
            .collect();
        Ok(Self {
            experts: basis.experts().len(),
            groups,
            tensor_group,
        })
    }

    /// The genome's length: experts times groups.
    pub fn dimension(&self) -> usize {
        self.experts * self.groups
    }

    /// The weight vector of expert `k` alone (1 on its weights, 0 elsewhere).
    pub fn expert(&self, k: usize) -> Vec<f64> {
        (0..self.dimension())
            .map(|i| if i / self.groups == k { 1.0 } else { 0.0 })
            .collect()
    }

    /// The recipe of the weight vector `x`.
    pub fn genome(&self, basis: &BasisSet, x: &[f64]) -> Result<Genome> {
        if x.len() != self.dimension() || x.iter().any(|w| !w.is_finite()) {
            return Err(EvolveError::Invalid(format!(
                "a weight vector of {} finite values was expected, got {x:?}",
                self.dimension()
            )));
        }
        let groups = self.groups;
        let tensor_group = &self.tensor_group;
        Ok(Recipe::weighted(basis, |k, t| x[k * groups + tensor_group[t]] as f32).into())
    }
}
