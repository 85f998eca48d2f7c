//! NuSLERP: spherical interpolation between two models with t = w_2 / (w_1 + w_2) (0.5 when
//! the weights sum to about 0); with a base, between their task vectors, added back to the
//! base. Over the whole tensor (`nuslerp_flatten`, the default), or per row (last axis), or
//! per column (`nuslerp_row_wise`: vectors along the first axis). Unlike `slerp`, only exactly
//! (anti)parallel vectors fall back to linear interpolation.

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope, WEIGHT};
use super::MergeMethod;
use super::{dot, fibers, norm, ModelParams, TensorInputs};
use crate::error::Result;

/// Norms below this count as this when normalizing (mergekit's clamp).
const NORM_EPS: f64 = 1e-7;
/// Vectors with 1 - cos^2 at or below this square are (anti)parallel (mergekit's eps = 1e-8).
const COLINEAR: f64 = 1e-16;

/// NuSLERP (`nuslerp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nuslerp {
    /// Interpolate columns (vectors along the first axis) instead of rows.
    pub row_wise: bool,
    /// Interpolate the whole tensor as one vector (wins over `row_wise`).
    pub flatten: bool,
}

impl Nuslerp {
    /// Merges one tensor: exactly two models, and the base if the config has one.
    pub fn merge(&self, inputs: &TensorInputs, params: &[ModelParams]) -> Result<Vec<f32>> {
        inputs.check(params, false, (2, 2))?;
        let (w0, w1) = (params[0].weight, params[1].weight);
        let total = w0 + w1;
        let t = if total.abs() < 1e-6 { 0.5 } else { w1 / total };
        let (v0, v1) = match inputs.base {
            Some(base) => (
                super::difference(inputs.models[0], base),
                super::difference(inputs.models[1], base),
            ),
            None => (inputs.models[0].to_vec(), inputs.models[1].to_vec()),
        };
        let axis = if self.flatten {
            usize::MAX
        } else if self.row_wise {
            0
        } else {
            inputs.shape.len().saturating_sub(1)
        };
        let (starts, stride, len) = fibers(inputs.shape, axis);
        let mut out = vec![0.0f32; v0.len()];
        let mut a = Vec::with_capacity(len);
        let mut b = Vec::with_capacity(len);
        for start in starts {
            let index = |k: usize| start + k * stride;
            a.clear();
            b.clear();
            a.extend((0..len).map(|k| v0[index(k)]));
            b.extend((0..len).map(|k| v1[index(k)]));
            let (ca, cb) = coefficients(t, &a, &b);
            for k in 0..len {
                out[index(k)] = ca * a[k] + cb * b[k];
            }
        }
        if let Some(base) = inputs.base {
            out.iter_mut().zip(base).for_each(|(o, b)| *o += b);
        }
        Ok(out)
    }
}

/// The factors of a and b in the interpolation at t between them.
fn coefficients(t: f64, a: &[f32], b: &[f32]) -> (f32, f32) {
    let cos = (dot(a, b) / (norm(a).max(NORM_EPS) * norm(b).max(NORM_EPS))).clamp(-1.0, 1.0);
    if 1.0 - cos * cos <= COLINEAR {
        return ((1.0 - t) as f32, t as f32);
    }
    let theta = cos.acos();
    let s = theta.sin();
    (
        (((1.0 - t) * theta).sin() / s) as f32,
        ((t * theta).sin() / s) as f32,
    )
}

/// `nuslerp`: exactly two models, between their task vectors when the config names a base.
pub static NUSLERP: MethodSpec = MethodSpec {
    name: "nuslerp",
    base: BaseRole::Optional,
    models: (2, 2),
    params: &[
        WEIGHT,
        spec(
            "nuslerp_row_wise",
            Scope::Global,
            Kind::Bool,
            DefaultValue::Flag(false),
        ),
        spec(
            "nuslerp_flatten",
            Scope::Global,
            Kind::Bool,
            DefaultValue::Flag(true),
        ),
    ],
    build: |p, _| {
        Ok(MergeMethod::Nuslerp(Nuslerp {
            row_wise: p.flag("nuslerp_row_wise")?,
            flatten: p.flag("nuslerp_flatten")?,
        }))
    },
    check_model: None,
    once_per_merge: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn nuslerp(
        method: Nuslerp,
        shape: &[usize],
        base: Option<&[f32]>,
        a: &[f32],
        b: &[f32],
        w: [f64; 2],
    ) -> Vec<f32> {
        let inputs = TensorInputs {
            name: "t",
            shape,
            base,
            models: &[a, b],
        };
        let params = w.map(|weight| ModelParams {
            weight,
            ..ModelParams::default()
        });
        method.merge(&inputs, &params).unwrap()
    }

    const FLAT: Nuslerp = Nuslerp {
        row_wise: false,
        flatten: true,
    };

    #[test]
    fn weights_set_t_and_the_base_is_the_origin() {
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let out = nuslerp(FLAT, &[2], None, &[1.0, 0.0], &[0.0, 1.0], [1.0, 1.0]);
        assert!(
            (out[0] - h).abs() < 1e-6 && (out[1] - h).abs() < 1e-6,
            "{out:?}"
        );
        // t = 3 / 4 from the weights; around the base (1, 1).
        let out = nuslerp(
            FLAT,
            &[2],
            Some(&[1.0, 1.0]),
            &[2.0, 1.0],
            &[1.0, 2.0],
            [1.0, 3.0],
        );
        let (c, s) = (
            (std::f32::consts::FRAC_PI_2 * 0.25).cos(),
            (std::f32::consts::FRAC_PI_2 * 0.25).sin(),
        );
        assert!(
            (out[0] - 1.0 - s).abs() < 1e-6 && (out[1] - 1.0 - c).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn rows_and_columns_are_interpolated_separately() {
        // Rows: (1, 0) with (1, 0) is parallel (linear), (0, 1) with (0, 2) too.
        let a = [1.0f32, 0.0, 0.0, 1.0];
        let b = [1.0f32, 0.0, 0.0, 2.0];
        let rows = Nuslerp {
            row_wise: false,
            flatten: false,
        };
        assert_eq!(
            nuslerp(rows, &[2, 2], None, &a, &b, [1.0, 1.0]),
            vec![1.0, 0.0, 0.0, 1.5]
        );
        // Columns of the same matrices are parallel as well.
        let columns = Nuslerp {
            row_wise: true,
            flatten: false,
        };
        assert_eq!(
            nuslerp(columns, &[2, 2], None, &a, &b, [1.0, 1.0]),
            vec![1.0, 0.0, 0.0, 1.5]
        );
        // As one vector they are not: the spherical branch differs from the mean.
        let flat = nuslerp(FLAT, &[2, 2], None, &a, &b, [1.0, 1.0]);
        assert!((flat[3] - 1.5).abs() > 1e-3, "{flat:?}");
    }
}
