//! NearSwap: per entry, w = clamp(t / max(|theta_B - theta_1|, 1e-6), 0, 1) and
//! theta = w theta_1 + (1 - w) theta_B: entries where the model is within `t` of the base take
//! the model's value, the others move towards it by t over their distance.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::Result;

/// Distances below this count as this (mergekit's guard against dividing by zero).
const MIN_DISTANCE: f32 = 1e-6;

/// NearSwap (`nearswap`) between the base and one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nearswap {
    /// The distance below which the model's value is taken whole.
    pub t: f64,
}

impl Nearswap {
    /// Merges one tensor: needs the base and exactly one model.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (1, 1))?;
        let a = inputs.base.expect("checked");
        let b = inputs.models[0];
        let t = self.t as f32;
        Ok(a.iter()
            .zip(b)
            .map(|(a, b)| {
                let w = (t / (a - b).abs().max(MIN_DISTANCE)).clamp(0.0, 1.0);
                w * b + (1.0 - w) * a
            })
            .collect())
    }
}

/// `nearswap`: the base and exactly one model.
pub static NEARSWAP: MethodSpec = MethodSpec {
    name: "nearswap",
    base: BaseRole::Required,
    models: (1, 1),
    params: &[spec(
        "t",
        Scope::Global,
        Kind::Float,
        DefaultValue::Required,
    )],
    build: |p, _| Ok(MergeMethod::Nearswap(Nearswap { t: p.number("t")? })),
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_entries_swap_far_ones_move_by_t() {
        let base = [0.0f32, 0.0, 1.0];
        let model = [0.05f32, 1.0, 1.0];
        let inputs = TensorInputs {
            name: "t",
            shape: &[3],
            base: Some(&base),
            models: &[&model],
        };
        let out = Nearswap { t: 0.1 }
            .merge(&inputs, &[ModelParams::default()])
            .unwrap();
        // |0.05| < t: swapped; |1| > t: w = 0.1; equal entries stay.
        assert_eq!(out, vec![0.05, 0.1, 1.0]);
        let out = Nearswap { t: -1.0 }
            .merge(&inputs, &[ModelParams::default()])
            .unwrap();
        assert_eq!(out, base.to_vec());
    }
}
