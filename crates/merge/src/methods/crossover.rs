//! CycleQD's crossover (ours, not mergekit's): a model-wise linear merge of task vectors,
//! tau(child) = sum_i w_i tau(parent_i) / sum_i w_i and theta(child) = theta(base) + tau(child),
//! with the weights w_i drawn once per child from Normal(1 + mu, sigma), the same for every
//! tensor (spec: CYCLEQD.md, "Crossover").

use cycleqd_recipe::{crossover_tau, RecipeError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{difference, ModelParams, TensorInputs};
use crate::error::{MergeError, Result};

/// The crossover of one tensor with weights already drawn (see [`draw_crossover_weights`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Crossover {
    /// One weight per parent, in the order of the models.
    pub weights: Vec<f32>,
}

impl Crossover {
    /// Merges one tensor: needs the base and one model per weight.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        let count = self.weights.len();
        inputs.check(params, true, (count, count))?;
        crossover_tensor(inputs.base.expect("checked"), inputs.models, &self.weights)
            .map_err(|e| MergeError::tensor(inputs.name, e.to_string()))
    }
}

/// Draws the weights of one child with the evolve run's draw
/// ([`cycleqd_recipe::draw_crossover_weights`]) from a generator seeded with `seed`.
pub fn draw_crossover_weights(seed: u64, mu: f64, sigma: f64, count: usize) -> Result<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    cycleqd_recipe::draw_crossover_weights(&mut rng, mu as f32, sigma as f32, count)
        .map_err(invalid)
}

/// The child's weights: base + the evolve run's crossover ([`crossover_tau`]) of the parents'
/// task vectors (parents - base), so a merge and a run's child with the same weights are the
/// same bits.
pub fn crossover_tensor(base: &[f32], parents: &[&[f32]], weights: &[f32]) -> Result<Vec<f32>> {
    if let Some(p) = parents.iter().find(|p| p.len() != base.len()) {
        return Err(MergeError::Invalid(format!(
            "a parent has {} values, the base {}",
            p.len(),
            base.len()
        )));
    }
    let taus: Vec<Vec<f32>> = parents.iter().map(|p| difference(p, base)).collect();
    let tau_refs: Vec<&[f32]> = taus.iter().map(Vec::as_slice).collect();
    let mut child = crossover_tau(&tau_refs, weights).map_err(invalid)?;
    child.iter_mut().zip(base).for_each(|(c, b)| *c += b);
    Ok(child)
}

fn invalid(error: RecipeError) -> MergeError {
    MergeError::Invalid(error.to_string())
}

/// `cycleqd_crossover` (ours): the base and at least two parents, one set of weights per merge.
pub static CYCLEQD_CROSSOVER: MethodSpec = MethodSpec {
    name: "cycleqd_crossover",
    base: BaseRole::Required,
    models: (2, usize::MAX),
    params: &[
        spec("seed", Scope::Global, Kind::Int, DefaultValue::Number(0.0)),
        spec("mu", Scope::Global, Kind::Float, DefaultValue::Number(0.0)),
        spec("sigma", Scope::Global, Kind::Float, DefaultValue::Number(0.01)),
    ],
    build: |p, models| {
        let weights = draw_crossover_weights(
            p.number("seed")? as u64,
            p.number("mu")?,
            p.number("sigma")?,
            models,
        )?;
        Ok(MergeMethod::Crossover(Crossover { weights }))
    },
    check_model: None,
    once_per_merge: Some("cycleqd_crossover's seed, mu and sigma, and the number of models, must be the same for every tensor (the weights are drawn once per child)"),
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weights_are_reproducible_and_near_one() {
        let a = draw_crossover_weights(5, 0.0, 0.01, 2).unwrap();
        assert_eq!(a, draw_crossover_weights(5, 0.0, 0.01, 2).unwrap());
        assert_ne!(a, draw_crossover_weights(6, 0.0, 0.01, 2).unwrap());
        assert!(a.iter().all(|w| (w - 1.0).abs() < 0.1), "{a:?}");
    }

    #[test]
    fn weight_statistics_follow_the_normal() {
        let draws: Vec<f64> = (0..4000)
            .flat_map(|seed| draw_crossover_weights(seed, 0.5, 0.2, 2).unwrap())
            .map(f64::from)
            .collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!((mean - 1.5).abs() < 0.01, "mean {mean}");
        assert!((var.sqrt() - 0.2).abs() < 0.01, "std {}", var.sqrt());
    }

    #[test]
    fn near_zero_sums_are_redrawn_or_refused() {
        // Mean 0 and sigma 0: every draw sums to 0.
        let err = draw_crossover_weights(1, -1.0, 0.0, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("about 0"), "{err}");
        let err = draw_crossover_weights(1, 0.0, -1.0, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sigma"), "{err}");
    }

    #[test]
    fn equal_weights_average_the_parents() {
        let base = [1.0f32, 1.0];
        let child = crossover_tensor(&base, &[&[2.0, 1.0], &[1.0, 3.0]], &[1.0, 1.0]).unwrap();
        assert_eq!(child, vec![1.5, 2.0]);
    }

    proptest! {
        #[test]
        fn child_of_a_model_with_itself_is_that_model(
            base in proptest::collection::vec(-1.0f32..1.0, 1..30),
            delta in proptest::collection::vec(-0.1f32..0.1, 30),
            w1 in 0.5f32..1.5,
            w2 in 0.5f32..1.5,
        ) {
            let p: Vec<f32> = base.iter().zip(&delta).map(|(b, d)| b + d).collect();
            let child = crossover_tensor(&base, &[&p, &p], &[w1, w2]).unwrap();
            for (c, p) in child.iter().zip(&p) {
                prop_assert!((c - p).abs() < 1e-6);
            }
        }

        #[test]
        fn child_is_the_evolve_runs_crossover_on_the_base(
            base in proptest::collection::vec(-1.0f32..1.0, 8),
            p1 in proptest::collection::vec(-1.0f32..1.0, 8),
            p2 in proptest::collection::vec(-1.0f32..1.0, 8),
            w1 in 0.5f32..1.5,
            w2 in 0.5f32..1.5,
        ) {
            let child = crossover_tensor(&base, &[&p1, &p2], &[w1, w2]).unwrap();
            let w = cycleqd_recipe::CrossoverWeights { w1, w2 };
            for i in 0..8 {
                let want = w.mix(p1[i] - base[i], p2[i] - base[i]) + base[i];
                prop_assert_eq!(child[i].to_bits(), want.to_bits());
            }
        }
    }
}
