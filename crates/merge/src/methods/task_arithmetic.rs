//! Generalized task arithmetic: task vectors tau_i = theta_i - theta_base are sparsified,
//! weighted, optionally filtered by sign consensus (TIES), summed, optionally normalized by
//! the weights, scaled by lambda and added to the base. Task arithmetic, TIES, DARE (linear
//! and TIES), breadcrumbs (plain and TIES) and DELLA (TIES and linear) are settings of this
//! one procedure, as in mergekit.

use super::sparsify::Sparsification;
use super::spec::{
    spec, BaseRole, DefaultValue, GlobalParams, Kind, MethodSpec, ParamSpec, Scope, WEIGHT,
};
use super::MergeMethod;
use super::{difference, ModelParams, TensorInputs};
use crate::error::{MergeError, Result};
use crate::seeding::tensor_rng;

/// How TIES elects the sign of each entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consensus {
    /// The sign of the sum of the weighted task vectors (the TIES paper; mergekit's `ties`).
    Sum,
    /// The sign held by more weighted task vectors (ties go to +).
    Count,
}

/// Settings of a task-vector merge for one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskArithmetic {
    /// How each task vector is thinned before weighting.
    pub sparsification: Sparsification,
    /// Sign election, if any: entries disagreeing with the elected sign are dropped.
    pub consensus: Option<Consensus>,
    /// Divide the sum by the sum of weights (per entry, of the entries kept, with consensus).
    pub normalize: bool,
    /// Rescale each sparsified task vector to its L1 norm before sparsification.
    pub rescale: bool,
    /// Final scale of the merged task vector.
    pub lambda: f64,
    /// Seed of random sparsification; each (tensor, model) pair gets its own stream.
    pub seed: u64,
}

impl TaskArithmetic {
    /// `task_arithmetic`: theta = base + lambda * sum_i w_i tau_i.
    pub fn plain() -> Self {
        Self {
            sparsification: Sparsification::None,
            consensus: None,
            normalize: false,
            rescale: false,
            lambda: 1.0,
            seed: 0,
        }
    }

    /// `ties`: magnitude pruning, sign consensus by sum, normalized.
    pub fn ties() -> Self {
        Self {
            sparsification: Sparsification::Magnitude,
            consensus: Some(Consensus::Sum),
            normalize: true,
            ..Self::plain()
        }
    }

    /// `dare_linear`: random pruning with L1 rescaling, no consensus.
    pub fn dare_linear() -> Self {
        Self {
            sparsification: Sparsification::Random,
            rescale: true,
            ..Self::plain()
        }
    }

    /// `dare_ties`: random pruning with L1 rescaling, sign consensus by sum, not normalized.
    pub fn dare_ties() -> Self {
        Self {
            consensus: Some(Consensus::Sum),
            ..Self::dare_linear()
        }
    }

    /// `breadcrumbs`: drop outliers and small entries, no consensus.
    pub fn breadcrumbs() -> Self {
        Self {
            sparsification: Sparsification::MagnitudeOutliers,
            ..Self::plain()
        }
    }

    /// `breadcrumbs_ties`: breadcrumbs with sign consensus by sum.
    pub fn breadcrumbs_ties() -> Self {
        Self {
            consensus: Some(Consensus::Sum),
            ..Self::breadcrumbs()
        }
    }

    /// `della`: DELLA's magnitude-ranked random pruning with L1 rescaling, sign consensus by
    /// sum, normalized.
    pub fn della() -> Self {
        Self {
            sparsification: Sparsification::Della,
            consensus: Some(Consensus::Sum),
            normalize: true,
            rescale: true,
            ..Self::plain()
        }
    }

    /// `della_linear`: DELLA's pruning with L1 rescaling, no consensus, not normalized.
    pub fn della_linear() -> Self {
        Self {
            consensus: None,
            normalize: false,
            ..Self::della()
        }
    }

    /// Whether sparsification changes anything with these parameters (else the merge is
    /// element-wise).
    pub fn prunes(&self, params: &[ModelParams]) -> bool {
        self.sparsification != Sparsification::None && params.iter().any(|p| p.density < 1.0)
    }

    /// Merges one tensor: needs the base and at least one model.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (0, usize::MAX))?;
        let base = inputs.base.expect("checked");
        let models = inputs.models;
        if models.is_empty() {
            return Ok(base.to_vec());
        }
        if self.sparsification == Sparsification::Della {
            for (i, p) in params.iter().enumerate() {
                super::della::check(p.density, p.epsilon)
                    .map_err(|e| MergeError::tensor(inputs.name, format!("model {i}: {e}")))?;
            }
        }
        let weights: Vec<f32> = params.iter().map(|p| p.weight as f32).collect();
        // Weighted task vectors are materialized only when pruning needs them whole.
        let pruned: Option<Vec<Vec<f32>>> = self.prunes(params).then(|| {
            models
                .iter()
                .zip(params)
                .enumerate()
                .map(|(i, (x, p))| {
                    let mut delta = difference(x, base);
                    self.sparsification
                        .apply(&mut delta, inputs.shape, p, self.rescale, || {
                            tensor_rng(self.seed, inputs.name, i)
                        });
                    delta.iter_mut().for_each(|d| *d *= weights[i]);
                    delta
                })
                .collect()
        });
        let lambda = self.lambda as f32;
        match self.consensus {
            None => {
                // Accumulates sum_i w_i tau_i in place, then turns it into the result.
                let mut out = vec![0.0f32; base.len()];
                for (i, w) in weights.iter().enumerate() {
                    match &pruned {
                        Some(d) => out.iter_mut().zip(&d[i]).for_each(|(m, d)| *m += d),
                        None => out
                            .iter_mut()
                            .zip(models[i].iter().zip(base))
                            .for_each(|(m, (x, b))| *m += (x - b) * w),
                    }
                }
                let total: f32 = weights.iter().sum();
                let divisor = if self.normalize && total.abs() >= 1e-8 {
                    total
                } else {
                    1.0
                };
                out.iter_mut()
                    .zip(base)
                    .for_each(|(m, b)| *m = b + *m / divisor * lambda);
                Ok(out)
            }
            Some(consensus) => {
                let deltas = pruned.unwrap_or_else(|| {
                    models
                        .iter()
                        .zip(&weights)
                        .map(|(x, w)| x.iter().zip(base).map(|(x, b)| (x - b) * w).collect())
                        .collect()
                });
                Ok(self.elect_and_sum(consensus, base, &deltas, &weights))
            }
        }
    }

    /// The TIES combination of weighted task vectors: per entry, the sum of those agreeing
    /// with the elected sign (divided by their weights when normalizing), scaled and added
    /// to the base. Works in blocks: passes over models in model order (the order mergekit
    /// sums in) that the compiler vectorizes, with block-sized scratch only.
    fn elect_and_sum(
        &self,
        consensus: Consensus,
        base: &[f32],
        deltas: &[Vec<f32>],
        weights: &[f32],
    ) -> Vec<f32> {
        const BLOCK: usize = 4096;
        let lambda = self.lambda as f32;
        let mut out = vec![0.0f32; base.len()];
        let mut elected = [0.0f32; BLOCK];
        let mut divisor = [0.0f32; BLOCK];
        for (block, (out, base)) in out.chunks_mut(BLOCK).zip(base.chunks(BLOCK)).enumerate() {
            let range = block * BLOCK..block * BLOCK + out.len();
            let (elected, divisor) = (&mut elected[..out.len()], &mut divisor[..out.len()]);
            elected.fill(0.0);
            divisor.fill(0.0);
            for d in deltas {
                let d = &d[range.clone()];
                match consensus {
                    Consensus::Sum => elected.iter_mut().zip(d).for_each(|(e, d)| *e += d),
                    Consensus::Count => elected.iter_mut().zip(d).for_each(|(e, d)| *e += sign(*d)),
                }
            }
            for (d, w) in deltas.iter().zip(weights) {
                let d = &d[range.clone()];
                for ((m, q), (d, e)) in out
                    .iter_mut()
                    .zip(divisor.iter_mut())
                    .zip(d.iter().zip(elected.iter()))
                {
                    // Zero has no sign and never agrees; a tie (e = 0) elects +. Written
                    // without branches: signs are random, so branches would mispredict.
                    let up = *e >= 0.0;
                    let agrees = (*d > 0.0 && up) | (*d < 0.0 && !up);
                    let keep = f32::from(u8::from(agrees));
                    *m += *d * keep;
                    *q += *w * keep;
                }
            }
            for ((m, q), b) in out.iter_mut().zip(divisor.iter()).zip(base) {
                let merged = if self.normalize && *q != 0.0 {
                    *m / q
                } else {
                    *m
                };
                *m = b + merged * lambda;
            }
        }
        out
    }
}

/// -1, 0 or 1, as torch's `sign` (zero has no sign, so it never agrees with an election).
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `int8_mask`, shared by the task-vector methods: it only picks the dtype of mergekit's mask.
pub(super) const INT8_MASK: ParamSpec = spec(
    "int8_mask",
    Scope::Global,
    Kind::Bool,
    DefaultValue::Flag(false),
);
/// `lambda`, shared by the task-vector methods.
pub(super) const LAMBDA: ParamSpec = spec(
    "lambda",
    Scope::Global,
    Kind::Float,
    DefaultValue::Number(1.0),
);
/// `density`, shared by the task-vector methods; mergekit lets the older methods treat a
/// density above 1 as 1.
pub(super) const DENSITY: ParamSpec = spec(
    "density",
    Scope::PerModel,
    Kind::Float,
    DefaultValue::Number(1.0),
);
/// `seed`, of the task-vector methods that drop entries at random.
pub(super) const SEED: ParamSpec =
    spec("seed", Scope::Global, Kind::Int, DefaultValue::Number(0.0));

/// `normalize` with the method's default.
pub(super) const fn normalize(default: bool) -> ParamSpec {
    spec(
        "normalize",
        Scope::Global,
        Kind::Bool,
        DefaultValue::Flag(default),
    )
}

/// `rescale` with the method's default.
pub(super) const fn rescale(default: bool) -> ParamSpec {
    spec(
        "rescale",
        Scope::Global,
        Kind::Bool,
        DefaultValue::Flag(default),
    )
}

/// A task-vector method from its settings `defaults` and its global parameters; `seeded`
/// methods drop entries at random and read `seed`.
pub(super) fn build_task_vector_method(
    p: &dyn GlobalParams,
    defaults: TaskArithmetic,
    seeded: bool,
) -> Result<MergeMethod> {
    // int8_mask only picks the dtype of mergekit's mask: numerically a no-op.
    p.flag("int8_mask")?;
    Ok(MergeMethod::TaskArithmetic(TaskArithmetic {
        normalize: p.flag("normalize")?,
        rescale: p.flag("rescale")?,
        lambda: p.number("lambda")?,
        seed: if seeded { p.number("seed")? as u64 } else { 0 },
        ..defaults
    }))
}

/// `task_arithmetic`: the base and at least one model (the other task-vector methods share
/// its base role and model count).
pub static TASK_ARITHMETIC: MethodSpec = MethodSpec {
    name: "task_arithmetic",
    base: BaseRole::Required,
    models: (1, usize::MAX),
    params: &[
        INT8_MASK,
        normalize(false),
        rescale(false),
        LAMBDA,
        WEIGHT,
        DENSITY,
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::plain(), false),
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(weights: &[f64], density: f64) -> Vec<ModelParams> {
        weights
            .iter()
            .map(|&weight| ModelParams {
                weight,
                density,
                ..ModelParams::default()
            })
            .collect()
    }

    fn merge(
        method: TaskArithmetic,
        base: &[f32],
        models: &[&[f32]],
        p: &[ModelParams],
    ) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape: &[base.len()],
            base: Some(base),
            models,
        };
        method.merge(&inputs, p).unwrap()
    }

    #[test]
    fn task_arithmetic_adds_weighted_task_vectors() {
        let base = [1.0f32, 1.0];
        let (a, b) = ([2.0f32, 1.0], [1.0f32, 3.0]);
        let out = merge(
            TaskArithmetic::plain(),
            &base,
            &[&a, &b],
            &params(&[0.5, 2.0], 1.0),
        );
        assert_eq!(out, vec![1.5, 5.0]);
        let scaled = TaskArithmetic {
            lambda: 2.0,
            normalize: true,
            ..TaskArithmetic::plain()
        };
        // Weighted sum [0.5, 4.0], divided by 2.5 and doubled: [0.4, 3.2].
        let out = merge(scaled, &base, &[&a, &b], &params(&[0.5, 2.0], 1.0));
        assert!(
            (out[0] - 1.4).abs() < 1e-6 && (out[1] - 4.2).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn ties_drops_entries_against_the_elected_sign() {
        let base = [0.0f32; 3];
        let a = [1.0f32, -1.0, 2.0];
        let b = [-3.0f32, -1.0, 1.0];
        let c = [1.0f32, 2.0, 0.0];
        let p = params(&[1.0, 1.0, 1.0], 1.0);
        let out = merge(TaskArithmetic::ties(), &base, &[&a, &b, &c], &p);
        // Entry 0: sum -1 elects -, only b counts: -3 / 1. Entry 1: sum 0 elects +, only c:
        // 2 / 1. Entry 2: a and b agree (c is zero, has no sign): (2 + 1) / 2.
        assert_eq!(out, vec![-3.0, 2.0, 1.5]);
        let count = TaskArithmetic {
            consensus: Some(Consensus::Count),
            ..TaskArithmetic::ties()
        };
        // Entry 0 by count: two + against one -, so a and c count: (1 + 1) / 2.
        assert_eq!(merge(count, &base, &[&a, &b, &c], &p)[0], 1.0);
    }

    #[test]
    fn dare_is_seeded_per_tensor() {
        let base = vec![0.0f32; 1000];
        let a: Vec<f32> = (0..1000).map(|i| (i as f32).sin()).collect();
        let p = params(&[1.0], 0.5);
        let method = TaskArithmetic {
            seed: 3,
            ..TaskArithmetic::dare_linear()
        };
        let one = merge(method, &base, &[&a], &p);
        assert_eq!(one, merge(method, &base, &[&a], &p));
        let other_seed = TaskArithmetic { seed: 4, ..method };
        assert_ne!(one, merge(other_seed, &base, &[&a], &p));
        let kept = one.iter().filter(|v| **v != 0.0).count();
        assert!((400..600).contains(&kept), "{kept}");
    }

    proptest! {
        #[test]
        fn zero_weights_return_the_base(
            base in proptest::collection::vec(-2.0f32..2.0, 1..40),
            noise in proptest::collection::vec(-1.0f32..1.0, 40),
        ) {
            let x: Vec<f32> = base.iter().zip(&noise).map(|(b, n)| b + n).collect();
            for method in [TaskArithmetic::plain(), TaskArithmetic::dare_ties(), TaskArithmetic::breadcrumbs()] {
                let out = merge(method, &base, &[&x], &params(&[0.0], 0.7));
                prop_assert_eq!(&out, &base);
            }
        }

        #[test]
        fn ties_of_one_model_at_full_density_is_that_model(
            base in proptest::collection::vec(-2.0f32..2.0, 1..40),
            noise in proptest::collection::vec(-1.0f32..1.0, 40),
            w in 0.1f64..3.0,
        ) {
            let x: Vec<f32> = base.iter().zip(&noise).map(|(b, n)| b + n).collect();
            let out = merge(TaskArithmetic::ties(), &base, &[&x], &params(&[w], 1.0));
            for (o, x) in out.iter().zip(&x) {
                prop_assert!((o - x).abs() <= 1e-5);
            }
        }
    }
}
