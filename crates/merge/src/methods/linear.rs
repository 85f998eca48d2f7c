//! Linear merge: theta = sum_i w_i theta_i, divided by sum_i w_i when normalizing.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::{MergeError, Result};

/// Weighted average of the models (`linear`). The base, if any, is not used: a config's base
/// model takes part as one of the models, with its own weight, as in mergekit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// Divide by the sum of the weights (mergekit's default: true).
    pub normalize: bool,
}

impl Linear {
    /// Merges one tensor.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, false, (1, usize::MAX))?;
        let weights: Vec<f32> = params.iter().map(|p| p.weight as f32).collect();
        let mut out = vec![0.0f32; inputs.numel()];
        for (x, w) in inputs.models.iter().zip(&weights) {
            out.iter_mut().zip(x.iter()).for_each(|(o, x)| *o += x * w);
        }
        if self.normalize {
            let total: f32 = weights.iter().sum();
            if total == 0.0 {
                return Err(MergeError::tensor(
                    inputs.name,
                    format!(
                        "linear merge with normalize: the weights {weights:?} sum to 0; set normalize: false or change a weight"
                    ),
                ));
            }
            out.iter_mut().for_each(|o| *o /= total);
        }
        Ok(out)
    }
}

/// `linear`: a config's base model is one more input, with its own weight.
pub static LINEAR: MethodSpec = MethodSpec {
    name: "linear",
    base: BaseRole::Input,
    models: (1, usize::MAX),
    params: &[
        spec(
            "weight",
            Scope::PerInput,
            Kind::Float,
            DefaultValue::Required,
        ),
        spec(
            "normalize",
            Scope::Global,
            Kind::Bool,
            DefaultValue::Flag(true),
        ),
    ],
    build: |p, _| {
        Ok(MergeMethod::Linear(Linear {
            normalize: p.flag("normalize")?,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(weights: &[f64]) -> Vec<ModelParams> {
        weights
            .iter()
            .map(|&weight| ModelParams {
                weight,
                ..ModelParams::default()
            })
            .collect()
    }

    #[test]
    fn weighted_mean() {
        let (a, b) = ([1.0f32, 2.0], [3.0f32, 6.0]);
        let inputs = TensorInputs {
            name: "t",
            shape: &[2],
            base: None,
            models: &[&a, &b],
        };
        let out = Linear { normalize: true }
            .merge(&inputs, &params(&[1.0, 3.0]))
            .unwrap();
        assert_eq!(out, vec![2.5, 5.0]);
        let out = Linear { normalize: false }
            .merge(&inputs, &params(&[1.0, 3.0]))
            .unwrap();
        assert_eq!(out, vec![10.0, 20.0]);
    }

    #[test]
    fn zero_weight_sum_is_an_error_naming_the_tensor() {
        let a = [1.0f32];
        let inputs = TensorInputs {
            name: "model.norm.weight",
            shape: &[1],
            base: None,
            models: &[&a, &a],
        };
        let err = Linear { normalize: true }
            .merge(&inputs, &params(&[1.0, -1.0]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.norm.weight") && err.contains("sum to 0"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn mean_of_identical_inputs_is_the_input(
            x in proptest::collection::vec(-10.0f32..10.0, 1..20),
            w in proptest::collection::vec(0.1f64..5.0, 1..5),
        ) {
            let models: Vec<&[f32]> = w.iter().map(|_| x.as_slice()).collect();
            let inputs = TensorInputs { name: "t", shape: &[x.len()], base: None, models: &models };
            let out = Linear { normalize: true }.merge(&inputs, &params(&w)).unwrap();
            for (o, x) in out.iter().zip(&x) {
                prop_assert!((o - x).abs() <= 1e-5 * (1.0 + x.abs()));
            }
        }
    }
}
