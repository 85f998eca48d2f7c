//! Arcee Fusion: the model's entries are taken where their importance is an outlier.
//! Importance is |theta_1 - theta_B| times the KL divergence between the softmax of the
//! model's and the base's row (last axis), each shifted by 1e-8; the threshold is the median
//! plus 1.5 times the interquartile range of the tensor's importances (quantile q is the
//! floor(q (n - 1))-th smallest); theta = theta_B + (theta_1 - theta_B) [importance >= threshold].
//!
//! mergekit estimates the quartiles of a tensor above 10^6 entries from 10^6 entries drawn
//! at random; here they are always exact (what the estimate estimates).

use super::spec::{BaseRole, MethodSpec};
use super::MergeMethod;
use super::{fibers, ModelParams, TensorInputs};
use crate::error::Result;

/// Added to each softmax probability (mergekit's eps).
const PROB_EPS: f64 = 1e-8;

/// Arcee Fusion (`arcee_fusion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArceeFusion;

impl ArceeFusion {
    /// Merges one tensor: needs the base and exactly one model.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (1, 1))?;
        let base = inputs.base.expect("checked");
        let model = inputs.models[0];
        let mut importance = vec![0.0f32; base.len()];
        let (starts, stride, len) = fibers(inputs.shape, inputs.shape.len().saturating_sub(1));
        for start in starts {
            let row = |x: &[f32]| -> Vec<f64> {
                (0..len).map(|k| f64::from(x[start + k * stride])).collect()
            };
            let (p, q) = (softmax(&row(model)), softmax(&row(base)));
            let kl = p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum::<f64>() as f32;
            for k in 0..len {
                let e = start + k * stride;
                importance[e] = (model[e] - base[e]).abs() * kl;
            }
        }
        let threshold = threshold(&importance);
        Ok(base
            .iter()
            .zip(model)
            .zip(&importance)
            .map(|((b, x), i)| if *i >= threshold { b + (x - b) } else { *b })
            .collect())
    }
}

/// Softmax, each probability shifted by [`PROB_EPS`].
fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    exp.iter().map(|e| e / total + PROB_EPS).collect()
}

/// Median + 1.5 IQR, quantile q being the floor(q (n - 1))-th smallest value.
fn threshold(values: &[f32]) -> f32 {
    if values.is_empty() {
        return f32::INFINITY;
    }
    let mut sorted = values.to_vec();
    let last = (sorted.len() - 1) as f64;
    let mut at = |q: f64| {
        *sorted
            .select_nth_unstable_by((q * last) as usize, f32::total_cmp)
            .1
    };
    let (q1, median, q3) = (at(0.25), at(0.5), at(0.75));
    median + 1.5 * (q3 - q1)
}

/// `arcee_fusion`: the base and exactly one model, no parameters.
pub static ARCEE_FUSION: MethodSpec = MethodSpec {
    name: "arcee_fusion",
    base: BaseRole::Required,
    models: (1, 1),
    params: &[],
    build: |_, _| Ok(MergeMethod::ArceeFusion(ArceeFusion)),
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_pick_ranks() {
        let v: Vec<f32> = (0..9).map(|i| i as f32).collect();
        // q1 = 2, median 4, q3 = 6: 4 + 1.5 * 4.
        assert_eq!(threshold(&v), 10.0);
        let v: Vec<f32> = (0..10).rev().map(|i| i as f32).collect();
        // Ranks floor(2.25) = 2, floor(4.5) = 4, floor(6.75) = 6.
        assert_eq!(threshold(&v), 10.0);
    }

    #[test]
    fn only_outlying_changes_are_taken() {
        // One row: the same KL for every entry, so importance follows |change|.
        let base = vec![0.0f32; 10];
        let mut model = vec![0.01f32; 10];
        model[3] = 1.0;
        let inputs = TensorInputs {
            name: "t",
            shape: &[10],
            base: Some(&base),
            models: &[&model],
        };
        let out = ArceeFusion
            .merge(&inputs, &[ModelParams::default()])
            .unwrap();
        let mut want = base.clone();
        want[3] = 1.0;
        // Equal importances are at the threshold (all quartiles equal) and count.
        let equal: Vec<f32> = want
            .iter()
            .map(|w| if *w == 0.0 { 0.01 } else { 1.0 })
            .collect();
        assert_eq!(out, equal);
        // Changes 0.01 to 0.1 and one of 1: quartiles 0.03, 0.06, 0.08, threshold 0.135.
        let mut model: Vec<f32> = (1..=10).map(|i| i as f32 / 100.0).collect();
        model[3] = 1.0;
        let inputs = TensorInputs {
            models: &[&model],
            ..inputs
        };
        let out = ArceeFusion
            .merge(&inputs, &[ModelParams::default()])
            .unwrap();
        assert_eq!(out, want);
    }
}
