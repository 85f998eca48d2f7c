//! Random draws of crossover and mutation, each seeded so that it can be replayed: crossover
//! weights from the caller's generator, mutation draws from `(seed, tensor name)` so that every
//! tensor's draws are independent of the order and thread tensors are processed in.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{RecipeError, Result};

/// The two weights of a CycleQD crossover: `tau(c) = (w1 tau(p1) + w2 tau(p2)) / (w1 + w2)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossoverWeights {
    /// Weight of the first parent.
    pub w1: f32,
    /// Weight of the second parent.
    pub w2: f32,
}

impl CrossoverWeights {
    /// Draws `w1, w2` i.i.d. Normal(1 + mu, sigma), redrawing both while `|w1 + w2| < 1e-6`
    /// (the spec's defaults: mu = 0, sigma = 0.01).
    pub fn draw<R: Rng + ?Sized>(rng: &mut R, mu: f32, sigma: f32) -> Result<Self> {
        check_rate("crossover sigma", sigma)?;
        let normal = Normal::new(1.0 + mu, sigma)
            .ok()
            .filter(|_| mu.is_finite())
            .ok_or_else(|| {
                RecipeError::Invalid(format!("crossover mu must be finite, got {mu}"))
            })?;
        loop {
            let (w1, w2) = (normal.sample(rng), normal.sample(rng));
            if (w1 + w2).abs() >= 1e-6 {
                return Ok(Self { w1, w2 });
            }
        }
    }

    /// `(w1 a + w2 b) / (w1 + w2)` in f32, the one formula every crossover uses.
    pub fn mix(&self, a: f32, b: f32) -> f32 {
        (self.w1 * a + self.w2 * b) / (self.w1 + self.w2)
    }
}

/// What a per-tensor stream is for; each purpose gets its own stream for the same seed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    SvdExpert,
    SvdChild,
    Gaussian,
    Perturbation,
}

/// The generator for `(seed, tensor name, purpose)`.
pub(crate) fn tensor_rng(seed: u64, name: &str, stream: Stream) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(format!("cycleqd {stream:?}").as_bytes());
    h.update(seed.to_le_bytes());
    h.update(name.as_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// `r ~ Uniform[0, rate)^rank` for one tensor: the draws of `svd_expert` (scaling expert
/// singular values) or `svd_child` (growing the child's own).
pub(crate) fn uniform_draws(
    seed: u64,
    name: &str,
    stream: Stream,
    rank: usize,
    rate: f32,
) -> Vec<f32> {
    let mut rng = tensor_rng(seed, name, stream);
    if rate <= 0.0 {
        return vec![0.0; rank];
    }
    (0..rank).map(|_| rng.random_range(0.0..rate)).collect()
}

/// Checks a mutation rate or standard deviation: finite and not negative.
pub(crate) fn check_rate(what: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(RecipeError::Invalid(format!(
            "{what} must be a finite number >= 0, got {value}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_weights_follow_the_spec() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let ws: Vec<_> = (0..2000)
            .map(|_| CrossoverWeights::draw(&mut rng, 0.0, 0.01).unwrap())
            .collect();
        let mean = ws.iter().map(|w| (w.w1 + w.w2) as f64).sum::<f64>() / 4000.0;
        assert!((mean - 1.0).abs() < 1e-3, "{mean}");
        let var = ws
            .iter()
            .map(|w| ((w.w1 as f64) - 1.0).powi(2))
            .sum::<f64>()
            / 2000.0;
        assert!((var.sqrt() - 0.01).abs() < 1e-3, "{}", var.sqrt());
        assert!(CrossoverWeights::draw(&mut rng, 0.0, -1.0).is_err());
    }

    #[test]
    fn mix_is_the_weighted_mean() {
        let w = CrossoverWeights { w1: 1.0, w2: 3.0 };
        assert_eq!(w.mix(4.0, 8.0), 7.0);
    }

    #[test]
    fn draws_depend_on_seed_name_and_stream_only() {
        let a = uniform_draws(1, "x", Stream::SvdExpert, 16, 0.1);
        assert_eq!(a, uniform_draws(1, "x", Stream::SvdExpert, 16, 0.1));
        assert_ne!(a, uniform_draws(2, "x", Stream::SvdExpert, 16, 0.1));
        assert_ne!(a, uniform_draws(1, "y", Stream::SvdExpert, 16, 0.1));
        assert_ne!(a, uniform_draws(1, "x", Stream::SvdChild, 16, 0.1));
        assert!(a.iter().all(|r| (0.0..0.1).contains(r)));
        assert_eq!(
            uniform_draws(1, "x", Stream::SvdExpert, 3, 0.0),
            vec![0.0; 3]
        );
    }
}
