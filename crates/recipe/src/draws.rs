//! Random draws of crossover and mutation, each seeded so that it can be replayed: crossover
//! weights from the caller's generator, mutation draws from `(seed, tensor name)` so that every
//! tensor's draws are independent of the order and thread tensors are processed in.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{RecipeError, Result};

/// Weight sums closer to zero than this are redrawn: the child would be unbounded.
const MIN_WEIGHT_SUM: f32 = 1e-6;
/// Redraws before giving up (only reachable with a mean near zero and a tiny sigma).
const MAX_DRAWS: usize = 1000;

/// The weights of one CycleQD crossover of `count` parents: i.i.d. Normal(1 + mu, sigma),
/// all drawn again while their sum is within 1e-6 of zero (the spec's defaults: mu = 0,
/// sigma = 0.01). Evolve runs draw two; the `cycleqd_crossover` merge method any number.
pub fn draw_crossover_weights<R: Rng + ?Sized>(
    rng: &mut R,
    mu: f32,
    sigma: f32,
    count: usize,
) -> Result<Vec<f32>> {
    if count == 0 {
        return Err(RecipeError::Invalid(
            "crossover needs at least one parent".into(),
        ));
    }
    let normal = Normal::new(1.0 + mu, sigma)
        .ok()
        .filter(|_| mu.is_finite() && sigma.is_finite() && sigma >= 0.0)
        .ok_or_else(|| {
            RecipeError::Invalid(format!(
                "crossover sigma must be a finite number >= 0 and mu finite, got mu {mu}, sigma {sigma}"
            ))
        })?;
    for _ in 0..MAX_DRAWS {
        let weights: Vec<f32> = (0..count).map(|_| normal.sample(rng)).collect();
        if weights.iter().sum::<f32>().abs() >= MIN_WEIGHT_SUM {
            return Ok(weights);
        }
    }
    Err(RecipeError::Invalid(format!(
        "crossover weights from Normal(1 + {mu}, {sigma}) summed to about 0 in {MAX_DRAWS} draws; use a mean further from 0"
    )))
}

/// `sum_i w_i x_i / sum_i w_i` in f32, accumulated in parent order: the one formula of every
/// crossover (of weights, task vectors and recipe coefficients). `weight_sum` is
/// `sum_i w_i`, computed once by the caller.
#[inline]
pub fn weighted_mean(weights: &[f32], weight_sum: f32, values: impl Fn(usize) -> f32) -> f32 {
    let first = weights[0] * values(0);
    let total = weights[1..]
        .iter()
        .enumerate()
        .fold(first, |acc, (i, w)| acc + w * values(i + 1));
    total / weight_sum
}

/// Checks crossover weights against their parents: one each, summing away from zero.
pub(crate) fn weight_sum(weights: &[f32], parents: usize) -> Result<f32> {
    let sum: f32 = weights.iter().sum();
    if parents == 0 || parents != weights.len() {
        Err(RecipeError::Invalid(format!(
            "{parents} parents but {} crossover weights",
            weights.len()
        )))
    } else if sum.is_nan() || sum.abs() < MIN_WEIGHT_SUM {
        Err(RecipeError::Invalid(format!(
            "crossover weights {weights:?} sum to about 0"
        )))
    } else {
        Ok(sum)
    }
}

/// The two weights of a CycleQD crossover in an evolve run:
/// `tau(c) = (w1 tau(p1) + w2 tau(p2)) / (w1 + w2)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossoverWeights {
    /// Weight of the first parent.
    pub w1: f32,
    /// Weight of the second parent.
    pub w2: f32,
}

impl CrossoverWeights {
    /// Draws `w1, w2` with [`draw_crossover_weights`].
    pub fn draw<R: Rng + ?Sized>(rng: &mut R, mu: f32, sigma: f32) -> Result<Self> {
        let w = draw_crossover_weights(rng, mu, sigma, 2)?;
        Ok(Self { w1: w[0], w2: w[1] })
    }

    /// The weights in parent order.
    pub fn as_array(&self) -> [f32; 2] {
        [self.w1, self.w2]
    }

    /// `(w1 a + w2 b) / (w1 + w2)`: [`weighted_mean`] of two values.
    pub fn mix(&self, a: f32, b: f32) -> f32 {
        let values = [a, b];
        weighted_mean(&self.as_array(), self.w1 + self.w2, |i| values[i])
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
    fn near_zero_sums_are_redrawn_or_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Mean 0 and sigma 0: every draw sums to 0.
        let err = draw_crossover_weights(&mut rng, -1.0, 0.0, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("about 0"), "{err}");
        let err = draw_crossover_weights(&mut rng, 0.0, f32::NAN, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sigma"), "{err}");
        assert!(draw_crossover_weights(&mut rng, 0.0, 0.01, 0).is_err());
        assert!(weight_sum(&[1.0, -1.0], 2).is_err());
        assert!(weight_sum(&[1.0, 1.0], 3).is_err());
    }

    #[test]
    fn n_parent_draws_of_two_are_the_pair_draws() {
        let pair = CrossoverWeights::draw(&mut ChaCha8Rng::seed_from_u64(7), 0.1, 0.2).unwrap();
        let n = draw_crossover_weights(&mut ChaCha8Rng::seed_from_u64(7), 0.1, 0.2, 2).unwrap();
        assert_eq!(pair.as_array().to_vec(), n);
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
