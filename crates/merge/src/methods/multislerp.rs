//! Multi-SLERP: barycentric interpolation on the hypersphere. The inputs (task vectors when
//! there is a base) are normalized, their weighted mean direction m found, the weighted mean
//! of their projections on the tangent space at m mapped back to the sphere by the
//! exponential map, and the result scaled by the weighted mean of their norms.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope, WEIGHT};
use super::MergeMethod;
use super::{norm, ModelParams, TensorInputs};
use crate::error::{MergeError, Result};

/// Multi-SLERP (`multislerp`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Multislerp {
    /// Divide the weights by their sum.
    pub normalize_weights: bool,
    /// Added to norms before dividing by them, and the smallest mean direction accepted.
    pub eps: f64,
}

impl Multislerp {
    /// Merges one tensor: at least one model, and the base if the config has one.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, false, (1, usize::MAX))?;
        if inputs.models.len() == 1 {
            // mergekit returns the single model as it is, base or not.
            return Ok(inputs.models[0].to_vec());
        }
        let mut weights: Vec<f64> = params.iter().map(|p| p.weight).collect();
        if self.normalize_weights {
            let total: f64 = weights.iter().sum();
            if total == 0.0 {
                return Err(MergeError::tensor(
                    inputs.name,
                    format!("multislerp with normalize_weights: the weights {weights:?} sum to 0; change a weight or set normalize_weights: false"),
                ));
            }
            weights.iter_mut().for_each(|w| *w /= total);
        }
        // The points (task vectors with a base) and their unit vectors are computed where
        // used rather than stored: a tensor's inputs are all this holds per entry.
        let base_or_zero = |e: usize| inputs.base.map_or(0.0, |b| b[e]);
        let point = |i: usize, e: usize| inputs.models[i][e] - base_or_zero(e);
        let n = inputs.numel();
        let eps = self.eps;
        let norms: Vec<f64> = (0..inputs.models.len())
            .map(|i| {
                (0..n)
                    .map(|e| f64::from(point(i, e)).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        let divisors: Vec<f32> = norms.iter().map(|n| (n + eps) as f32).collect();
        let unit = |i: usize, e: usize| point(i, e) / divisors[i];
        let mut mean = vec![0.0f32; n];
        for (i, w) in weights.iter().enumerate() {
            let w = *w as f32;
            mean.iter_mut()
                .enumerate()
                .for_each(|(e, m)| *m += unit(i, e) * w);
        }
        let mean_norm = norm(&mean);
        if mean_norm < eps {
            if inputs.models.len() == 2 {
                // (Anti)parallel pair: mergekit falls back to the weighted sum.
                let (w0, w1) = (weights[0] as f32, weights[1] as f32);
                return Ok((0..n)
                    .map(|e| point(0, e) * w0 + point(1, e) * w1 + base_or_zero(e))
                    .collect());
            }
            return Err(MergeError::tensor(
                inputs.name,
                "multislerp: the weighted mean of the normalized inputs is zero (antipodal inputs whose weights balance out); change the weights",
            ));
        }
        let scale = mean_norm as f32;
        mean.iter_mut().for_each(|m| *m /= scale);
        let mut tangent = vec![0.0f32; n];
        for (i, w) in weights.iter().enumerate() {
            let d = (0..n)
                .map(|e| f64::from(unit(i, e)) * f64::from(mean[e]))
                .sum::<f64>() as f32;
            let w = *w as f32;
            tangent
                .iter_mut()
                .enumerate()
                .for_each(|(e, t)| *t += (unit(i, e) - d * mean[e]) * w);
        }
        let tangent_norm = norm(&tangent) + eps;
        let (c, s) = (
            tangent_norm.cos() as f32,
            (tangent_norm.sin() / tangent_norm) as f32,
        );
        let radius = norms.iter().zip(&weights).map(|(n, w)| n * w).sum::<f64>() as f32;
        Ok((0..n)
            .map(|e| (mean[e] * c + tangent[e] * s) * radius + base_or_zero(e))
            .collect())
    }
}

/// `multislerp`: at least one model, around the base when the config names one.
pub static MULTISLERP: MethodSpec = MethodSpec {
    name: "multislerp",
    base: BaseRole::Optional,
    models: (1, usize::MAX),
    params: &[
        WEIGHT,
        spec(
            "normalize_weights",
            Scope::Global,
            Kind::Bool,
            DefaultValue::Flag(true),
        ),
        spec(
            "eps",
            Scope::Global,
            Kind::Float,
            DefaultValue::Number(1e-8),
        )
        .within(0.0, f64::INFINITY),
    ],
    build: |p, _| {
        Ok(MergeMethod::Multislerp(Multislerp {
            normalize_weights: p.flag("normalize_weights")?,
            eps: p.number("eps")?,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn multislerp(base: Option<&[f32]>, models: &[&[f32]], w: &[f64]) -> Result<Vec<f32>> {
        let inputs = TensorInputs {
            name: "t",
            shape: &[models[0].len()],
            base,
            models,
        };
        let params: Vec<ModelParams> = w
            .iter()
            .map(|&weight| ModelParams {
                weight,
                ..ModelParams::default()
            })
            .collect();
        Multislerp {
            normalize_weights: true,
            eps: 1e-8,
        }
        .merge(&inputs, &params)
    }

    #[test]
    fn two_orthogonal_unit_vectors_meet_halfway_on_the_circle() {
        let out = multislerp(None, &[&[1.0, 0.0], &[0.0, 1.0]], &[1.0, 1.0]).unwrap();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!(
            (out[0] - h).abs() < 1e-6 && (out[1] - h).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn identical_directions_keep_the_direction_and_mean_norm() {
        let out = multislerp(
            Some(&[1.0, 1.0]),
            &[&[2.0, 1.0], &[4.0, 1.0], &[3.0, 1.0]],
            &[1.0, 1.0, 2.0],
        )
        .unwrap();
        // Task vectors (1,0), (3,0), (2,0): weighted mean norm (1 + 3 + 4) / 4 = 2.
        assert!(
            (out[0] - 3.0).abs() < 1e-5 && (out[1] - 1.0).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn balanced_antipodes_are_an_error_naming_the_tensor() {
        let err = multislerp(None, &[&[1.0], &[-1.0], &[1.0], &[-1.0]], &[1.0; 4])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tensor `t`") && err.contains("antipodal"),
            "{err}"
        );
        let err = multislerp(None, &[&[1.0], &[2.0]], &[1.0, -1.0])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sum to 0"), "{err}");
    }
}
