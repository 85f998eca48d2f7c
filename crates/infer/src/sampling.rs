//! Choosing the next token from logits: greedy, or seeded temperature / nucleus sampling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{InferError, Result};
use crate::vector_math;

/// How the next token is chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampling {
    /// The most likely token (the first one on ties).
    Greedy,
    /// A draw from the softmax of `logits / temperature`, restricted to the smallest set of
    /// most likely tokens whose probability reaches `top_p`. Each prompt draws from its own
    /// generator seeded by `seed` and the prompt's index, so results do not depend on batching.
    Sample {
        /// Softmax temperature; 0 means greedy.
        temperature: f32,
        /// Nucleus mass in (0, 1].
        top_p: f32,
        /// Base seed.
        seed: u64,
    },
}

impl Sampling {
    pub(crate) fn check(&self) -> Result<()> {
        if let Sampling::Sample {
            temperature, top_p, ..
        } = self
        {
            if !(temperature.is_finite() && *temperature >= 0.0) {
                return Err(InferError::Invalid(format!(
                    "temperature must be a finite number >= 0, got {temperature}"
                )));
            }
            if !(*top_p > 0.0 && *top_p <= 1.0) {
                return Err(InferError::Invalid(format!(
                    "top_p must be in (0, 1], got {top_p}"
                )));
            }
        }
        Ok(())
    }
}

/// Per-prompt state of a sampler.
pub(crate) struct Sampler {
    rule: Sampling,
    rng: Option<ChaCha8Rng>,
}

impl Sampler {
    /// The sampler of the prompt at `index` in the caller's list.
    pub(crate) fn new(rule: &Sampling, index: usize) -> Self {
        let rng = match rule {
            Sampling::Sample { seed, .. } => Some(ChaCha8Rng::seed_from_u64(
                seed.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            )),
            Sampling::Greedy => None,
        };
        Self {
            rule: rule.clone(),
            rng,
        }
    }

    pub(crate) fn next(&mut self, logits: &[f32]) -> u32 {
        match (&self.rule, self.rng.as_mut()) {
            (
                Sampling::Sample {
                    temperature, top_p, ..
                },
                Some(rng),
            ) if *temperature > 0.0 => nucleus(logits, *temperature, *top_p, rng),
            _ => argmax(logits),
        }
    }
}

/// Index of the largest value, the first one on ties; NaNs are never chosen.
pub(crate) fn argmax(values: &[f32]) -> u32 {
    let max = vector_math::max(values);
    // None equals the maximum only when every value is NaN: then the last, as the element-wise
    // rule this replaced ("move on while the best is NaN") gave.
    values
        .iter()
        .position(|&v| v == max)
        .unwrap_or(values.len().saturating_sub(1)) as u32
}

fn nucleus(logits: &[f32], temperature: f32, top_p: f32, rng: &mut ChaCha8Rng) -> u32 {
    let max = vector_math::max(logits) as f64;
    let mut probs: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, ((l as f64 - max) / temperature as f64).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0;
    let mut mass = 0.0;
    for p in &probs {
        kept += 1;
        mass += p.1 / total;
        if mass >= top_p as f64 {
            break;
        }
    }
    let probs = &probs[..kept];
    let kept_total: f64 = probs.iter().map(|p| p.1).sum();
    let mut draw = rng.random::<f64>() * kept_total;
    for p in probs {
        if draw < p.1 {
            return p.0;
        }
        draw -= p.1;
    }
    probs[kept - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -2.0, f32::NAN, 5.0, 5.0]), 3);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NAN, f32::NEG_INFINITY]), 0);
        assert_eq!(argmax(&[f32::NAN, f32::NEG_INFINITY]), 1);
        assert_eq!(argmax(&[f32::NAN, f32::NAN, f32::NAN]), 2);
        let long: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32).collect();
        assert_eq!(argmax(&long), 30);
        assert_eq!(Sampler::new(&Sampling::Greedy, 0).next(&[0.0, 0.5, 0.2]), 1);
    }

    #[test]
    fn same_seed_and_index_give_the_same_draws() {
        let rule = Sampling::Sample {
            temperature: 1.0,
            top_p: 1.0,
            seed: 7,
        };
        let logits = [0.1, 0.2, 0.3, 0.4, 0.5];
        let draws = |index| {
            let mut s = Sampler::new(&rule, index);
            (0..50).map(|_| s.next(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
    }

    #[test]
    fn zero_temperature_is_greedy() {
        let rule = Sampling::Sample {
            temperature: 0.0,
            top_p: 1.0,
            seed: 1,
        };
        assert_eq!(Sampler::new(&rule, 0).next(&[0.0, 2.0, 1.0]), 1);
    }

    #[test]
    fn bad_options_are_rejected() {
        assert!(Sampling::Sample {
            temperature: -1.0,
            top_p: 1.0,
            seed: 0
        }
        .check()
        .is_err());
        assert!(Sampling::Sample {
            temperature: 1.0,
            top_p: 0.0,
            seed: 0
        }
        .check()
        .is_err());
    }

    proptest! {
        #[test]
        fn nucleus_only_draws_from_the_top_set(logits in proptest::collection::vec(-5.0f32..5.0, 2..20), seed in 0u64..1000) {
            // With top_p tiny, only the single most likely token is in the nucleus.
            let rule = Sampling::Sample { temperature: 0.7, top_p: 1e-6, seed };
            let mut s = Sampler::new(&rule, 0);
            let best = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let got = s.next(&logits);
            prop_assert_eq!(logits[got as usize], best);
        }
    }
}
