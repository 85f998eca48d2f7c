//! Reinforced agent merging (RAM): per entry, the task-vector entries larger than `epsilon`
//! in magnitude count as contributions; an entry with one contribution takes it whole, one
//! with several takes their mean. RAM+ (tensor-local, `ramplus_tl`) scales each model's
//! unique entries by 1 + r * clamp(shared_i / unique_i, 0, alpha), from the counts of its
//! shared and unique entries in the tensor.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, ParamSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::Result;

/// RAM+'s extra parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RamPlus {
    /// Strength of the boost of unique entries.
    pub r: f64,
    /// Cap on the shared-to-unique ratio.
    pub alpha: f64,
}

/// RAM (`ram`) or, with `plus`, RAM+ tensor-local (`ramplus_tl`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ram {
    /// Task-vector entries at or below this magnitude do not contribute.
    pub epsilon: f64,
    /// RAM+'s boost of unique entries, if any.
    pub plus: Option<RamPlus>,
}

impl Ram {
    /// Merges one tensor: needs the base.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (0, usize::MAX))?;
        let base = inputs.base.expect("checked");
        let models = inputs.models;
        let eps = self.epsilon as f32;
        let counts: Vec<u32> = (0..base.len())
            .map(|e| {
                models
                    .iter()
                    .map(|m| u32::from((m[e] - base[e]).abs() > eps))
                    .sum()
            })
            .collect();
        // The factor of each model's unique entries: 1 for RAM.
        let boost: Vec<f32> = match self.plus {
            None => vec![1.0; models.len()],
            Some(RamPlus { r, alpha }) => models
                .iter()
                .map(|m| {
                    let (mut shared, mut unique) = (0u64, 0u64);
                    for (e, c) in counts.iter().enumerate() {
                        if (m[e] - base[e]).abs() > eps {
                            shared += u64::from(*c > 1);
                            unique += u64::from(*c == 1);
                        }
                    }
                    let rho = shared as f64 / (unique as f64).max(self.epsilon);
                    // torch's clamp(min=0, max=alpha): the max wins when alpha < 0.
                    (1.0 + r * rho.max(0.0).min(alpha)) as f32
                })
                .collect(),
        };
        Ok(base
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(e, (b, c))| {
                let mut sum = 0.0f32;
                for (m, boost) in models.iter().zip(&boost) {
                    let tau = m[e] - b;
                    if tau.abs() > eps {
                        sum += if *c == 1 {
                            tau * boost
                        } else {
                            tau / *c as f32
                        };
                    }
                }
                b + sum
            })
            .collect())
    }
}

/// RAM's threshold on task-vector entries.
const EPSILON: ParamSpec = spec(
    "epsilon",
    Scope::Global,
    Kind::Float,
    DefaultValue::Number(1e-5),
)
.within(0.0, f64::INFINITY);

/// `ram`: the base and at least one model.
pub static RAM: MethodSpec = MethodSpec {
    name: "ram",
    base: BaseRole::Required,
    models: (1, usize::MAX),
    params: &[EPSILON],
    build: |p, _| {
        Ok(MergeMethod::Ram(Ram {
            epsilon: p.number("epsilon")?,
            plus: None,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

/// `ramplus_tl`: RAM with RAM+'s tensor-local boost of unique entries.
pub static RAMPLUS_TL: MethodSpec = MethodSpec {
    name: "ramplus_tl",
    base: BaseRole::Required,
    models: (1, usize::MAX),
    params: &[
        spec("r", Scope::Global, Kind::Float, DefaultValue::Number(0.1)),
        spec(
            "alpha",
            Scope::Global,
            Kind::Float,
            DefaultValue::Number(0.2),
        ),
        EPSILON,
    ],
    build: |p, _| {
        Ok(MergeMethod::Ram(Ram {
            epsilon: p.number("epsilon")?,
            plus: Some(RamPlus {
                r: p.number("r")?,
                alpha: p.number("alpha")?,
            }),
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(method: Ram, base: &[f32], models: &[&[f32]]) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape: &[base.len()],
            base: Some(base),
            models,
        };
        method
            .merge(&inputs, &vec![ModelParams::default(); models.len()])
            .unwrap()
    }

    #[test]
    fn unique_entries_are_kept_and_shared_ones_averaged() {
        let base = [0.0f32; 4];
        let a = [1.0f32, 2.0, 0.0, 1e-6];
        let b = [0.0f32, 4.0, 0.0, 0.0];
        let plain = Ram {
            epsilon: 1e-5,
            plus: None,
        };
        assert_eq!(ram(plain, &base, &[&a, &b]), vec![1.0, 3.0, 0.0, 0.0]);
        // a: one shared, one unique entry, rho = 1, boost 1 + 0.5 * min(1, 0.4) = 1.2.
        let plus = Ram {
            plus: Some(RamPlus { r: 0.5, alpha: 0.4 }),
            ..plain
        };
        assert_eq!(ram(plus, &base, &[&a, &b]), vec![1.2, 3.0, 0.0, 0.0]);
    }
}
