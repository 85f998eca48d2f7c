//! Synthetic experts for tests, demos and benchmarks: a base plus a seeded perturbation shaped
//! like a fine-tune's (a low-rank update plus small dense noise on every matrix, noise on
//! every vector).

use std::path::{Path, PathBuf};

use cycleqd_weights::{DType, ModelWriter, TensorSource};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde_json::Value;

use crate::draws::{tensor_rng, Stream};
use crate::error::{RecipeError, Result};

/// The size of a synthetic expert's perturbation.
#[derive(Clone, Debug, PartialEq)]
pub struct Perturbation {
    /// Rank of the low-rank part of each matrix's update.
    pub rank: usize,
    /// Typical magnitude of an update entry relative to the base tensor's RMS.
    pub scale: f32,
    /// Magnitude of the dense noise relative to `scale`.
    pub noise: f32,
}

impl Default for Perturbation {
    fn default() -> Self {
        Self {
            rank: 8,
            scale: 0.02,
            noise: 0.1,
        }
    }
}

/// Writes `base + perturbation` (seeded by `seed` and each tensor's name) to `out` as a
/// Hugging Face folder with `config`, each tensor in `dtype` (default: the base's).
pub fn write_perturbed_expert(
    base: &dyn TensorSource,
    config: &Value,
    out: &Path,
    seed: u64,
    perturbation: &Perturbation,
    dtype: Option<DType>,
) -> Result<PathBuf> {
    if perturbation.rank == 0 || !(perturbation.scale.is_finite() && perturbation.noise.is_finite())
    {
        return Err(RecipeError::Invalid(format!(
            "perturbation needs rank >= 1 and finite scales, got {perturbation:?}"
        )));
    }
    let metas = base.metas_as(dtype);
    let writer = ModelWriter::create(out, &metas, 2_000_000_000)?;
    metas.par_iter().try_for_each(|meta| {
        let mut values = base.read_f32(&meta.name)?;
        let rms = (values.iter().map(|v| (*v as f64).powi(2)).sum::<f64>()
            / values.len().max(1) as f64)
            .sqrt() as f32;
        let scale = perturbation.scale * rms;
        let mut rng = tensor_rng(seed, &meta.name, Stream::Perturbation);
        let mut normal = || -> f32 { StandardNormal.sample(&mut rng) };
        if let [m, n] = meta.shape[..] {
            let r = perturbation.rank.min(m).min(n);
            let a: Vec<f32> = (0..m * r).map(|_| normal()).collect();
            let b: Vec<f32> = (0..r * n).map(|_| normal()).collect();
            let norm = scale / (r as f32).sqrt();
            for i in 0..m {
                let row = &a[i * r..(i + 1) * r];
                for j in 0..n {
                    let low_rank: f32 = row.iter().enumerate().map(|(q, x)| x * b[q * n + j]).sum();
                    values[i * n + j] += norm * low_rank + perturbation.noise * scale * normal();
                }
            }
        } else {
            values.iter_mut().for_each(|v| *v += scale * normal());
        }
        writer.write_f32(&meta.name, &values)?;
        Ok::<_, RecipeError>(())
    })?;
    Ok(writer.finish(config, &[])?)
}
