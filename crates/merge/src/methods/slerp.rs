//! Spherical linear interpolation between the base and one model, over the whole tensor:
//! with cos(omega) the cosine between the two (flattened, normalized) tensors,
//! theta = sin((1-t) omega)/sin(omega) * theta_base + sin(t omega)/sin(omega) * theta_1,
//! falling back to linear interpolation when the tensors are (anti)parallel.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::MergeMethod;
use super::{ModelParams, TensorInputs};
use crate::error::Result;

/// Above this |cos|, SLERP is numerically linear interpolation (mergekit's threshold).
const DOT_THRESHOLD: f64 = 0.9995;
/// Norms at or below this count as 1, so that zero tensors do not divide by zero.
const NORM_EPS: f64 = 1e-8;

/// SLERP (`slerp`) from the base (t = 0) to the single other model (t = 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slerp {
    /// Interpolation factor.
    pub t: f64,
}

impl Slerp {
    /// Merges one tensor: needs the base and exactly one model.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, true, (1, 1))?;
        let a = inputs.base.expect("checked");
        let b = inputs.models[0];
        let t = self.t;
        let norm = |x: &[f32]| {
            let n = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
            if n > NORM_EPS {
                n
            } else {
                1.0
            }
        };
        let (na, nb) = (norm(a), norm(b));
        let dot = (a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum::<f64>()
            / (na * nb))
            .clamp(-1.0, 1.0);
        let (ca, cb) = if dot.abs() > DOT_THRESHOLD {
            (1.0 - t, t)
        } else {
            let theta = dot.acos();
            let s = theta.sin();
            (((1.0 - t) * theta).sin() / s, (t * theta).sin() / s)
        };
        let (ca, cb) = (ca as f32, cb as f32);
        Ok(a.iter().zip(b).map(|(x, y)| ca * x + cb * y).collect())
    }
}

/// `slerp`: from the base towards exactly one model.
pub static SLERP: MethodSpec = MethodSpec {
    name: "slerp",
    base: BaseRole::Required,
    models: (1, 1),
    params: &[spec(
        "t",
        Scope::Global,
        Kind::Float,
        DefaultValue::Required,
    )],
    build: |p, _| Ok(MergeMethod::Slerp(Slerp { t: p.number("t")? })),
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slerp(t: f64, a: &[f32], b: &[f32]) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape: &[a.len()],
            base: Some(a),
            models: &[b],
        };
        Slerp { t }
            .merge(&inputs, &[ModelParams::default()])
            .unwrap()
    }

    #[test]
    fn quarter_circle_midpoint() {
        let out = slerp(0.5, &[1.0, 0.0], &[0.0, 1.0]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!(
            (out[0] - h).abs() < 1e-6 && (out[1] - h).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn parallel_inputs_interpolate_linearly() {
        assert_eq!(slerp(0.25, &[2.0, 0.0], &[4.0, 0.0]), vec![2.5, 0.0]);
    }

    proptest! {
        #[test]
        fn endpoints_are_the_inputs(
            a in proptest::collection::vec(-1.0f32..1.0, 2..30),
            b in proptest::collection::vec(-1.0f32..1.0, 30),
        ) {
            let b = &b[..a.len()];
            for (t, want) in [(0.0, &a[..]), (1.0, b)] {
                for (o, w) in slerp(t, &a, b).iter().zip(want) {
                    prop_assert!((o - w).abs() < 1e-5, "t={t}: {o} vs {w}");
                }
            }
        }

        #[test]
        fn preserves_norm_of_unit_inputs(
            a in proptest::collection::vec(-1.0f32..1.0, 3..30),
            b in proptest::collection::vec(-1.0f32..1.0, 30),
            t in 0.0f64..1.0,
        ) {
            let unit = |x: &[f32]| {
                let n = x.iter().map(|v| v * v).sum::<f32>().sqrt();
                x.iter().map(|v| v / n).collect::<Vec<f32>>()
            };
            let (a, b) = (unit(&a), unit(&b[..a.len()]));
            prop_assume!(a.iter().all(|v| v.is_finite()) && b.iter().all(|v| v.is_finite()));
            let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            prop_assume!(dot.abs() < 0.99);
            let n = slerp(t, &a, &b).iter().map(|v| v * v).sum::<f32>().sqrt();
            prop_assert!((n - 1.0).abs() < 1e-4, "{n}");
        }
    }
}
