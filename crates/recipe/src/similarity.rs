//! Model similarity (CycleQD paper, section 4.2): per weight matrix, the cosine between the
//! singular-value vectors of two models' task vectors over a shared base, and its mean; with
//! the task vectors' geometry over the whole model (their norms relative to the base's, their
//! cosine), which says whether the fine-tunes are small moves that can merge.

use cycleqd_weights::TensorSource;
use faer::MatRef;
use rayon::prelude::*;

use crate::error::{RecipeError, Result};

/// One matrix's similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSimilarity {
    /// The tensor.
    pub name: String,
    /// `cos(s(tau_A), s(tau_B))`, singular values in decreasing order.
    pub cosine: f64,
}

/// `s(A, B)`: the mean over weight matrices of the singular-value cosine.
#[derive(Debug, Clone, PartialEq)]
pub struct Similarity {
    /// The mean cosine over the matrices both models changed.
    pub mean: f64,
    /// Per matrix, in the base's tensor order.
    pub matrices: Vec<MatrixSimilarity>,
    /// Matrices left out because one task vector is zero there (the cosine is undefined).
    pub unchanged: Vec<String>,
    /// The task vectors as whole-model vectors (every tensor of the base).
    pub geometry: TaskVectorGeometry,
}

/// Norms and angle of two task vectors `tau_A = A - B`, `tau_B = B' - B` over every tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskVectorGeometry {
    /// `||theta_base||`.
    pub base_norm: f64,
    /// `||tau_A||`.
    pub norm_a: f64,
    /// `||tau_B||`.
    pub norm_b: f64,
    /// `<tau_A, tau_B>`.
    pub dot: f64,
}

impl TaskVectorGeometry {
    /// `||tau_A|| / ||theta_base||`.
    pub fn relative_a(&self) -> f64 {
        self.norm_a / self.base_norm
    }

    /// `||tau_B|| / ||theta_base||`.
    pub fn relative_b(&self) -> f64 {
        self.norm_b / self.base_norm
    }

    /// `cos(tau_A, tau_B)`; `None` when either is zero.
    pub fn cosine(&self) -> Option<f64> {
        (self.norm_a > 0.0 && self.norm_b > 0.0).then(|| self.dot / (self.norm_a * self.norm_b))
    }
}

/// Sums of squares and products over a tensor: base, tau_A, tau_B, tau_A·tau_B.
#[derive(Default, Clone, Copy)]
struct Sums([f64; 4]);

/// The similarity of `a` and `b` as fine-tunes of `base`: every 2-D tensor of the base
/// (both dimensions > 1) must exist in both with the base's shape. `on_tensor` is called
/// with each tensor's name once it is done (from worker threads, in any order).
pub fn task_vector_similarity(
    base: &dyn TensorSource,
    a: &dyn TensorSource,
    b: &dyn TensorSource,
    on_tensor: &(dyn Fn(&str) + Sync),
) -> Result<Similarity> {
    let is_matrix = |shape: &[usize]| shape.len() == 2 && shape.iter().all(|d| *d > 1);
    if !base.metas().iter().any(|m| is_matrix(&m.shape)) {
        return Err(RecipeError::Invalid(
            "the base has no 2-D weight matrix to compare".into(),
        ));
    }
    let per_tensor: Vec<(String, Sums, Option<Option<f64>>)> = base
        .metas()
        .par_iter()
        .map(|meta| {
            let name = &meta.name;
            let base_values = base.read_f32(name)?;
            let ta = task_vector(name, &base_values, a, "A", &meta.shape)?;
            let tb = task_vector(name, &base_values, b, "B", &meta.shape)?;
            let mut sums = Sums::default();
            for ((x, y), z) in base_values.iter().zip(&ta).zip(&tb) {
                let x = f64::from(*x);
                sums.0[0] += x * x;
                sums.0[1] += y * y;
                sums.0[2] += z * z;
                sums.0[3] += y * z;
            }
            let cosine = if is_matrix(&meta.shape) {
                let (m, n) = (meta.shape[0], meta.shape[1]);
                let sa = singular_values(name, &ta, m, n)?;
                let sb = singular_values(name, &tb, m, n)?;
                Some(cosine(&sa, &sb))
            } else {
                None
            };
            on_tensor(name);
            Ok((name.clone(), sums, cosine))
        })
        .collect::<Result<_>>()?;
    let total = per_tensor.iter().fold([0.0; 4], |mut t, (_, s, _)| {
        for (t, s) in t.iter_mut().zip(s.0) {
            *t += s;
        }
        t
    });
    let geometry = TaskVectorGeometry {
        base_norm: total[0].sqrt(),
        norm_a: total[1].sqrt(),
        norm_b: total[2].sqrt(),
        dot: total[3],
    };
    let cosines: Vec<(String, Option<f64>)> = per_tensor
        .into_iter()
        .filter_map(|(name, _, c)| c.map(|c| (name, c)))
        .collect();
    let mut out = Similarity {
        mean: 0.0,
        matrices: Vec::new(),
        unchanged: Vec::new(),
        geometry,
    };
    for (name, c) in cosines {
        match c {
            Some(cosine) => out.matrices.push(MatrixSimilarity { name, cosine }),
            None => out.unchanged.push(name),
        }
    }
    if out.matrices.is_empty() {
        return Err(RecipeError::Invalid(
            "no weight matrix differs from the base in both models; the similarity is undefined"
                .into(),
        ));
    }
    out.mean = out.matrices.iter().map(|m| m.cosine).sum::<f64>() / out.matrices.len() as f64;
    Ok(out)
}

/// `model`'s task vector on tensor `name` (f64), checked against the base's shape.
fn task_vector(
    name: &str,
    base: &[f32],
    model: &dyn TensorSource,
    which: &str,
    shape: &[usize],
) -> Result<Vec<f64>> {
    let meta = model.meta(name).ok_or_else(|| {
        RecipeError::Invalid(format!(
            "model {which} has no tensor `{name}`, which the base has"
        ))
    })?;
    if meta.shape != shape {
        return Err(RecipeError::Invalid(format!(
            "tensor `{name}`: model {which} has shape {:?}, the base {shape:?}",
            meta.shape
        )));
    }
    let values = model.read_f32(name)?;
    Ok(values
        .iter()
        .zip(base)
        .map(|(x, b)| f64::from(*x) - f64::from(*b))
        .collect())
}

/// The singular values of an `m x n` task-vector matrix.
fn singular_values(name: &str, tau: &[f64], m: usize, n: usize) -> Result<Vec<f64>> {
    MatRef::from_row_major_slice(tau, m, n)
        .singular_values()
        .map_err(|_| RecipeError::Svd {
            name: name.to_string(),
        })
}

/// The cosine of two vectors; `None` when either is zero.
fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    (na > 0.0 && nb > 0.0).then(|| dot / (na * nb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_singular_values_is_scale_free_and_undefined_for_zero() {
        assert_eq!(
            cosine(&[3.0, 4.0], &[6.0, 8.0]).map(|c| (c * 1e12).round()),
            Some(1e12)
        );
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), Some(0.0));
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), None);
    }
}
