//! Model stock (Jang et al. 2024): with cos the mean pairwise cosine between the task vectors
//! of N models, t = N cos / (1 + (N - 1) cos) and theta = t * mean(theta_i) + (1 - t) theta_base,
//! per tensor or per row (`filter_wise`).

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::Result;

/// Model stock (`model_stock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelStock {
    /// One ratio per row (last dimension) instead of one per tensor.
    pub filter_wise: bool,
}

impl ModelStock {
    /// Merges one tensor: needs the base and at least two models.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (2, usize::MAX))?;
        let base = inputs.base.expect("checked");
        let n = base.len();
        let row = match (self.filter_wise, inputs.shape.last()) {
            (true, Some(&last)) if last > 0 => last,
            _ => n.max(1),
        };
        let count = inputs.models.len();
        let mut out = vec![0.0f32; n];
        for start in (0..n).step_by(row) {
            let end = (start + row).min(n);
            let w0 = &base[start..end];
            let offsets: Vec<Vec<f32>> = inputs
                .models
                .iter()
                .map(|m| m[start..end].iter().zip(w0).map(|(x, b)| x - b).collect())
                .collect();
            let norms: Vec<f64> = offsets
                .iter()
                .map(|o| o.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt())
                .collect();
            let mut cos_sum = 0.0f64;
            let mut pairs = 0usize;
            for i in 0..count {
                for j in i + 1..count {
                    let dot: f64 = offsets[i]
                        .iter()
                        .zip(&offsets[j])
                        .map(|(x, y)| f64::from(*x) * f64::from(*y))
                        .sum();
                    cos_sum += (dot / (norms[i] * norms[j]).max(1e-6)).clamp(-1.0, 1.0);
                    pairs += 1;
                }
            }
            let cos = cos_sum / pairs as f64;
            let denominator = 1.0 + (count as f64 - 1.0) * cos;
            // At the singularity no interpolation is defined: keep the base there.
            let t = if denominator.abs() < 1e-6 {
                0.0
            } else {
                count as f64 * cos / denominator
            } as f32;
            for (k, o) in out[start..end].iter_mut().enumerate() {
                let mean = inputs.models.iter().map(|m| m[start + k]).sum::<f32>() / count as f32;
                *o = t * mean + (1.0 - t) * w0[k];
            }
        }
        Ok(out)
    }
}

/// `model_stock`: the base and at least two models, whose angle sets the interpolation.
pub static MODEL_STOCK: MethodSpec = MethodSpec {
    name: "model_stock",
    base: BaseRole::Required,
    models: (2, usize::MAX),
    params: &[spec(
        "filter_wise",
        Scope::Global,
        Kind::Bool,
        DefaultValue::Flag(false),
    )],
    build: |p, _| {
        Ok(MergeMethod::ModelStock(ModelStock {
            filter_wise: p.flag("filter_wise")?,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(filter_wise: bool, shape: &[usize], base: &[f32], models: &[&[f32]]) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape,
            base: Some(base),
            models,
        };
        let params = vec![ModelParams::default(); models.len()];
        ModelStock { filter_wise }.merge(&inputs, &params).unwrap()
    }

    #[test]
    fn orthogonal_task_vectors_keep_the_base() {
        // cos = 0 gives t = 0.
        assert_eq!(
            stock(false, &[2], &[1.0, 1.0], &[&[2.0, 1.0], &[1.0, 2.0]]),
            vec![1.0, 1.0]
        );
    }

    #[test]
    fn parallel_task_vectors_take_the_mean() {
        // cos = 1 gives t = 1.
        assert_eq!(
            stock(false, &[2], &[0.0, 0.0], &[&[1.0, 1.0], &[3.0, 3.0]]),
            vec![2.0, 2.0]
        );
    }

    #[test]
    fn filter_wise_decides_per_row() {
        let base = [0.0f32; 4];
        let a = [1.0f32, 0.0, 1.0, 1.0];
        let b = [0.0f32, 1.0, 3.0, 3.0];
        let out = stock(true, &[2, 2], &base, &[&a, &b]);
        assert_eq!(out, vec![0.0, 0.0, 2.0, 2.0]);
    }
}
