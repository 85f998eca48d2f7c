//! Karcher mean: the inputs are normalized to the unit sphere, their Riemannian (Karcher)
//! mean direction found by fixed-point iteration from their normalized Euclidean mean
//! (at most `max_iter` steps, stopping when the step is below `tol`), and scaled by the mean
//! of their norms. Every input counts equally; a base model is one more input.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{norm, ModelParams, TensorInputs};
use crate::error::Result;

/// Karcher mean (`karcher`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Karcher {
    /// Most iterations.
    pub max_iter: u64,
    /// Norms, angles and steps below this count as zero.
    pub tol: f64,
}

impl Karcher {
    /// Merges one tensor: at least one input.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, false, (1, usize::MAX))?;
        let models = inputs.models;
        if models.len() == 1 {
            return Ok(models[0].to_vec());
        }
        let tol = self.tol;
        let alpha = 1.0 / models.len() as f64;
        let norms: Vec<f64> = models.iter().map(|m| norm(m)).collect();
        // The inputs longer than tol, with their norms: their unit vectors are computed where
        // used rather than stored.
        let valid: Vec<(&[f32], f32)> = models
            .iter()
            .zip(&norms)
            .filter(|(_, n)| **n > tol)
            .map(|(m, n)| (*m, *n as f32))
            .collect();
        let size = models[0].len();
        if valid.is_empty() {
            return Ok(vec![0.0; size]);
        }
        // The valid inputs' weights, renormalized: all equal.
        let a = 1.0 / valid.len() as f32;
        let mut mean = vec![0.0f32; size];
        for (m, n) in &valid {
            mean.iter_mut().zip(*m).for_each(|(x, v)| *x += a * (v / n));
        }
        let mean_norm = norm(&mean);
        if mean_norm < tol {
            let (m, n) = valid[0];
            mean.iter_mut().zip(m).for_each(|(x, v)| *x = v / n);
        } else {
            let d = mean_norm as f32;
            mean.iter_mut().for_each(|m| *m /= d);
        }
        let mut tangent = vec![0.0f32; size];
        for _ in 0..self.max_iter {
            tangent.fill(0.0);
            for (u, n) in &valid {
                let cos = mean
                    .iter()
                    .zip(*u)
                    .map(|(m, v)| f64::from(*m) * f64::from(v / n))
                    .sum::<f64>()
                    .clamp(-1.0, 1.0);
                let theta = cos.acos();
                if theta < tol {
                    continue;
                }
                let k = (f64::from(a) * theta / theta.sin()) as f32;
                let cos = cos as f32;
                tangent
                    .iter_mut()
                    .zip(u.iter().zip(&mean))
                    .for_each(|(t, (v, m))| *t += k * (v / n - cos * m));
            }
            let step = norm(&tangent);
            if step < tol {
                break;
            }
            let (c, s) = (step.cos() as f32, (step.sin() / step) as f32);
            mean.iter_mut()
                .zip(&tangent)
                .for_each(|(m, t)| *m = c * *m + s * t);
            let length = norm(&mean);
            if length > tol {
                let d = length as f32;
                mean.iter_mut().for_each(|m| *m /= d);
            }
        }
        let radius = norms.iter().map(|n| alpha * n).sum::<f64>() as f32;
        Ok(mean.iter().map(|m| radius * m).collect())
    }
}

/// `karcher`: at least one input, a config's base model included.
pub static KARCHER: MethodSpec = MethodSpec {
    name: "karcher",
    base: BaseRole::Input,
    models: (1, usize::MAX),
    params: &[
        spec(
            "max_iter",
            Scope::Global,
            Kind::Int,
            DefaultValue::Number(10.0),
        ),
        spec(
            "tol",
            Scope::Global,
            Kind::Float,
            DefaultValue::Number(1e-5),
        )
        .within(0.0, f64::INFINITY),
    ],
    build: |p, _| {
        Ok(MergeMethod::Karcher(Karcher {
            max_iter: p.number("max_iter")? as u64,
            tol: p.number("tol")?,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn karcher(models: &[&[f32]]) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape: &[models[0].len()],
            base: None,
            models,
        };
        Karcher {
            max_iter: 10,
            tol: 1e-5,
        }
        .merge(&inputs, &vec![ModelParams::default(); models.len()])
        .unwrap()
    }

    #[test]
    fn mean_direction_with_mean_norm() {
        // Directions 0 and 90 degrees: the mean is at 45 degrees, norm (1 + 3) / 2.
        let out = karcher(&[&[1.0, 0.0], &[0.0, 3.0]]);
        let h = 2.0 * std::f32::consts::FRAC_1_SQRT_2;
        assert!(
            (out[0] - h).abs() < 1e-5 && (out[1] - h).abs() < 1e-5,
            "{out:?}"
        );
    }

    #[test]
    fn the_mean_of_three_directions_is_on_the_geodesic_balance_point() {
        // 0, 0 and 90 degrees: the Karcher mean is at 30 degrees (the Euclidean one is not).
        let out = karcher(&[&[1.0, 0.0], &[1.0, 0.0], &[0.0, 1.0]]);
        let angle = out[1].atan2(out[0]).to_degrees();
        assert!((angle - 30.0).abs() < 1e-3, "{angle}");
        let zeros = karcher(&[&[0.0, 0.0], &[0.0, 0.0]]);
        assert_eq!(zeros, vec![0.0, 0.0]);
    }
}
