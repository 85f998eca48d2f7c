//! SCE (select, calculate, erase; FuseChat 2): with task vectors tau_i, when `select_topk` < 1
//! only the k = floor(select_topk * #{entries whose variance over the models is not 0})
//! entries of largest variance are kept in every tau_i; each model weighs
//! w_i = mean(tau_i^2) / sum_j mean(tau_j^2) (uniform when that sum is below 1e-6); entries
//! against the sign of sum_i tau_i are erased (as TIES), and
//! theta = theta_B + sum_i w_i m_i tau_i / max(sum_i w_i m_i, 1e-6).

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::Result;

/// SCE (`sce`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sce {
    /// Fraction of the varying entries kept (mergekit's `select_topk`).
    pub select_topk: f64,
}

impl Sce {
    /// Merges one tensor: needs the base.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (0, usize::MAX))?;
        let base = inputs.base.expect("checked");
        if inputs.models.is_empty() {
            return Ok(base.to_vec());
        }
        let n = base.len();
        let mut taus: Vec<Vec<f32>> = inputs
            .models
            .iter()
            .map(|m| super::difference(m, base))
            .collect();
        if self.select_topk < 1.0 {
            let keep = self.selection(&taus);
            for tau in &mut taus {
                tau.iter_mut()
                    .zip(&keep)
                    .for_each(|(t, k)| *t = if *k { *t } else { 0.0 });
            }
        }
        let energy: Vec<f64> = taus
            .iter()
            .map(|t| t.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n.max(1) as f64)
            .collect();
        let total: f64 = energy.iter().sum();
        let weights: Vec<f32> = if total.abs() < 1e-6 {
            vec![1.0 / taus.len() as f32; taus.len()]
        } else {
            energy.iter().map(|e| (e / total) as f32).collect()
        };
        Ok((0..n)
            .map(|e| {
                let sum: f32 = taus.iter().map(|t| t[e]).sum();
                let up = sum >= 0.0;
                let (mut merged, mut divisor) = (0.0f32, 0.0f32);
                for (t, w) in taus.iter().zip(&weights) {
                    // Zero has no sign, so it never agrees with the election (torch's sign).
                    if (t[e] > 0.0 && up) || (t[e] < 0.0 && !up) {
                        merged += t[e] * w;
                        divisor += w;
                    }
                }
                base[e] + merged / divisor.max(1e-6)
            })
            .collect())
    }

    /// Which entries the variance selection keeps.
    fn selection(&self, taus: &[Vec<f32>]) -> Vec<bool> {
        let n = taus[0].len();
        let count = taus.len() as f64;
        // Population variance over the models, accumulated in f64, kept in f32 as torch's.
        let variance: Vec<f32> = (0..n)
            .map(|e| {
                let mean = taus.iter().map(|t| f64::from(t[e])).sum::<f64>() / count;
                (taus
                    .iter()
                    .map(|t| (f64::from(t[e]) - mean).powi(2))
                    .sum::<f64>()
                    / count) as f32
            })
            .collect();
        // An entry varies unless every model has the same value there.
        let varying = (0..n)
            .filter(|&e| taus.iter().any(|t| t[e] != taus[0][e]))
            .count();
        // mergekit multiplies the count (a tensor) by the fraction in f32.
        let k = ((varying as f32 * self.select_topk.max(0.0) as f32) as usize).min(n);
        if k == 0 {
            return vec![false; n];
        }
        // The k-th largest variance; all larger ones are kept, and as many equal to it as fit,
        // the earliest first (torch leaves the choice among equals unspecified).
        let mut sorted = variance.clone();
        let kth = *sorted
            .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a))
            .1;
        drop(sorted);
        let mut equal_left = k - variance
            .iter()
            .filter(|v| v.total_cmp(&kth).is_gt())
            .count();
        variance
            .iter()
            .map(|v| match v.total_cmp(&kth) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal if equal_left > 0 => {
                    equal_left -= 1;
                    true
                }
                _ => false,
            })
            .collect()
    }
}

/// `sce`: the base and at least one model, weighted by their task vectors' energy.
pub static SCE: MethodSpec = MethodSpec {
    name: "sce",
    base: BaseRole::Required,
    models: (1, usize::MAX),
    params: &[
        spec(
            "int8_mask",
            Scope::Global,
            Kind::Bool,
            DefaultValue::Flag(false),
        ),
        spec(
            "select_topk",
            Scope::Global,
            Kind::Float,
            DefaultValue::Number(1.0),
        )
        .within(0.0, 1.0),
    ],
    build: |p, _| {
        // int8_mask only picks the dtype of mergekit's mask: numerically a no-op.
        p.flag("int8_mask")?;
        Ok(MergeMethod::Sce(Sce {
            select_topk: p.number("select_topk")?,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn sce(select_topk: f64, base: &[f32], models: &[&[f32]]) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape: &[base.len()],
            base: Some(base),
            models,
        };
        Sce { select_topk }
            .merge(&inputs, &vec![ModelParams::default(); models.len()])
            .unwrap()
    }

    #[test]
    fn weights_by_energy_and_erases_disagreeing_signs() {
        let base = [0.0f32; 2];
        let a = [2.0f32, 2.0];
        let b = [-1.0f32, 1.0];
        // Energies 4 and 1: w = 0.8, 0.2. Entry 0: sum 1 elects +, only a counts: 2.
        // Entry 1: both agree: (0.8 * 2 + 0.2 * 1) / 1.
        let out = sce(1.0, &base, &[&a, &b]);
        assert!(
            (out[0] - 2.0).abs() < 1e-6 && (out[1] - 1.8).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn selection_keeps_the_most_varying_entries() {
        let base = [0.0f32; 4];
        let a = [1.0f32, 1.0, 3.0, 0.5];
        let b = [1.0f32, 2.0, -3.0, 0.4];
        // Entry 0 does not vary; of the three others keep floor(3 * 0.5) = 1: entry 2.
        let out = sce(0.5, &base, &[&a, &b]);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1], 0.0);
        assert_eq!(out[3], 0.0);
        assert_eq!(out[2], 3.0);
    }
}
