//! A model described as the base plus a weighted sum of genomes' task vectors:
//! `theta = theta(B) + sum_i beta_i tau(g_i)`. One member with weight 1 is that genome
//! itself; the spec's aggregate of the archives' best elites is K members.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cycleqd_recipe::{Ancestors, BasisSet, Genome, Materializer};
use cycleqd_weights::{DType, MemoryModel, ModelWriter, Tensor, TensorSource};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{EvolveError, Result};

/// A weighted sum of genomes over the base, with the ancestors lineage members need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blend {
    /// `(beta_i, g_i)`.
    pub members: Vec<(f64, Genome)>,
    /// Genomes of every lineage ancestor, by individual id.
    #[serde(default)]
    pub ancestors: Ancestors,
}

impl Blend {
    /// One genome alone.
    pub fn single(genome: Genome, ancestors: Ancestors) -> Self {
        Self {
            members: vec![(1.0, genome)],
            ancestors,
        }
    }

    /// One tensor's weights: base + the weighted task vectors, in f32.
    fn tensor(
        &self,
        materializer: &Materializer<'_>,
        base: &[f32],
        index: usize,
    ) -> Result<Vec<f32>> {
        let mut theta = base.to_vec();
        for (beta, genome) in &self.members {
            let tau = materializer.task_vector(genome, &self.ancestors, index)?;
            let beta = *beta as f32;
            theta.iter_mut().zip(&tau).for_each(|(t, x)| *t += beta * x);
        }
        Ok(theta)
    }

    /// All weights in memory, computed in parallel over tensors.
    pub fn materialize(
        &self,
        materializer: &Materializer<'_>,
        base: &dyn TensorSource,
        tensor_names: &[String],
    ) -> Result<BTreeMap<String, Tensor>> {
        self.check()?;
        tensor_names
            .par_iter()
            .enumerate()
            .map(|(index, name)| {
                let meta = base.meta(name).ok_or_else(|| {
                    EvolveError::Invalid(format!("the base has no tensor `{name}`"))
                })?;
                let data = self.tensor(materializer, &base.read_f32(name)?, index)?;
                Ok((
                    name.clone(),
                    Tensor {
                        shape: meta.shape.clone(),
                        data,
                    },
                ))
            })
            .collect()
    }

    /// Writes the blend as a Hugging Face folder in `out` (the base's tensors, names and
    /// `dtype`, default the base's), with `config` and `companions`.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        materializer: &Materializer<'_>,
        base: &dyn TensorSource,
        tensor_names: &[String],
        out: &Path,
        config: &Value,
        companions: &[(String, Vec<u8>)],
        dtype: Option<DType>,
    ) -> Result<PathBuf> {
        self.check()?;
        let writer = ModelWriter::create(out, &base.metas_as(dtype), 2_000_000_000)?;
        tensor_names
            .par_iter()
            .enumerate()
            .try_for_each(|(index, name)| {
                let data = self.tensor(materializer, &base.read_f32(name)?, index)?;
                writer.write_f32(name, &data)?;
                Ok::<_, EvolveError>(())
            })?;
        Ok(writer.finish(config, companions)?)
    }

    fn check(&self) -> Result<()> {
        if self.members.is_empty() {
            return Err(EvolveError::Invalid("a blend of no genomes".into()));
        }
        if let Some((beta, _)) = self.members.iter().find(|(b, _)| !b.is_finite()) {
            return Err(EvolveError::Invalid(format!(
                "blend weight {beta} is not finite"
            )));
        }
        Ok(())
    }
}

/// The weights of `blend` over `base` and `basis`, in memory, named `what`: what a run
/// evaluates locally and what a queue worker rebuilds from a job.
pub fn materialize_in_memory(
    blend: &Blend,
    base: &dyn TensorSource,
    basis: &BasisSet,
    what: &str,
) -> Result<Box<dyn TensorSource>> {
    let names: Vec<String> = basis
        .layout()
        .entries
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let tensors = blend.materialize(&Materializer::new(base, basis), base, &names)?;
    Ok(Box::new(MemoryModel::new(what, tensors)))
}

/// The spec's aggregate weights: `softmax(q_k / T)` of the best qualities.
pub fn aggregate_weights(best_qualities: &[f64], temperature: f64) -> Vec<f64> {
    let max = best_qualities
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = best_qualities
        .iter()
        .map(|q| ((q - max) / temperature).exp())
        .collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_weights_are_a_softmax_over_temperature() {
        let w = aggregate_weights(&[0.5, 0.5], 1.0);
        assert_eq!(w, vec![0.5, 0.5]);
        let w = aggregate_weights(&[0.9, 0.1, 0.5], 1.0);
        let z = 0.9f64.exp() + 0.1f64.exp() + 0.5f64.exp();
        for (got, q) in w.iter().zip([0.9f64, 0.1, 0.5]) {
            assert!((got - q.exp() / z).abs() < 1e-12);
        }
        let sharp = aggregate_weights(&[0.9, 0.1], 0.01);
        assert!(sharp[0] > 0.999);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
