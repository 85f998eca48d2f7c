//! Passthrough: each output tensor is one input's tensor, times its `scale`. With
//! layer-range slices this stacks layers of models into a new depth (depth up-scaling,
//! frankenmerges); the plan decides which input layer feeds which output layer.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::Result;

/// Passthrough (`passthrough`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passthrough;

impl Passthrough {
    /// Merges one tensor: exactly one input (no base).
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, false, (1, 1))?;
        let scale = params[0].scale as f32;
        Ok(inputs.models[0].iter().map(|x| x * scale).collect())
    }
}

/// `passthrough`: exactly one input per slice, a config's base model included.
pub static PASSTHROUGH: MethodSpec = MethodSpec {
    name: "passthrough",
    base: BaseRole::Input,
    models: (1, 1),
    params: &[
        // mergekit's default scale is "none"; multiplying by 1 is the same.
        spec(
            "scale",
            Scope::PerInput,
            Kind::Float,
            DefaultValue::Number(1.0),
        ),
    ],
    build: |_, _| Ok(MergeMethod::Passthrough(Passthrough)),
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_scales_one_input() {
        let x = [1.0f32, -2.0, 0.5];
        let inputs = TensorInputs {
            name: "t",
            shape: &[3],
            base: None,
            models: &[&x],
        };
        let one = [ModelParams::default()];
        assert_eq!(Passthrough.merge(&inputs, &one).unwrap(), x.to_vec());
        let half = [ModelParams {
            scale: 0.5,
            ..ModelParams::default()
        }];
        assert_eq!(
            Passthrough.merge(&inputs, &half).unwrap(),
            vec![0.5, -1.0, 0.25]
        );
        let two = TensorInputs {
            models: &[&x, &x],
            ..inputs
        };
        let err = Passthrough
            .merge(&two, &[ModelParams::default(); 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly 1 models"), "{err}");
    }
}
