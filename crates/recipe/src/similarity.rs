//! Model similarity (CycleQD paper, section 4.2): per weight matrix, the cosine between the
//! singular-value vectors of two models' task vectors over a shared base, and its mean.

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
}

/// The similarity of `a` and `b` as fine-tunes of `base`: every 2-D tensor of the base
/// (both dimensions > 1) must exist in both with the base's shape.
pub fn task_vector_similarity(
    base: &dyn TensorSource,
    a: &dyn TensorSource,
    b: &dyn TensorSource,
) -> Result<Similarity> {
    let matrices: Vec<(String, usize, usize)> = base
        .metas()
        .iter()
        .filter(|m| m.shape.len() == 2 && m.shape.iter().all(|d| *d > 1))
        .map(|m| (m.name.clone(), m.shape[0], m.shape[1]))
        .collect();
    if matrices.is_empty() {
        return Err(RecipeError::Invalid(
            "the base has no 2-D weight matrix to compare".into(),
        ));
    }
    let cosines: Vec<(String, Option<f64>)> = matrices
        .par_iter()
        .map(|(name, m, n)| {
            let base_values = base.read_f32(name)?;
            let sa = task_singular_values(name, &base_values, a, "A", *m, *n)?;
            let sb = task_singular_values(name, &base_values, b, "B", *m, *n)?;
            Ok((name.clone(), cosine(&sa, &sb)))
        })
        .collect::<Result<_>>()?;
    let mut out = Similarity {
        mean: 0.0,
        matrices: Vec::new(),
        unchanged: Vec::new(),
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

/// The singular values of `model`'s task vector on matrix `name`.
fn task_singular_values(
    name: &str,
    base: &[f32],
    model: &dyn TensorSource,
    which: &str,
    m: usize,
    n: usize,
) -> Result<Vec<f64>> {
    let meta = model.meta(name).ok_or_else(|| {
        RecipeError::Invalid(format!(
            "model {which} has no tensor `{name}`, which the base has"
        ))
    })?;
    if meta.shape != [m, n] {
        return Err(RecipeError::Invalid(format!(
            "tensor `{name}`: model {which} has shape {:?}, the base [{m}, {n}]",
            meta.shape
        )));
    }
    let values = model.read_f32(name)?;
    let tau: Vec<f64> = values
        .iter()
        .zip(base)
        .map(|(x, b)| f64::from(*x) - f64::from(*b))
        .collect();
    MatRef::from_row_major_slice(&tau, m, n)
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
