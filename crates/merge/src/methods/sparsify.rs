//! Sparsification of task vectors before they are combined: keep the largest entries (TIES),
//! a random subset (DARE), a random subset favouring large entries (DELLA), or a middle band
//! by magnitude (breadcrumbs); optionally rescale the kept entries so that the L1 norm is
//! unchanged.
//!
//! The semantics are mergekit's (0.1.5): how many entries are kept, that `density >= 1` keeps
//! everything, and that rescaling matches the L1 norm before and after (not DARE's paper
//! factor 1 / density).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ModelParams;

/// How a task vector is thinned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sparsification {
    /// Keep everything.
    None,
    /// Keep the `max(1, floor(density * n))` entries of largest magnitude (TIES).
    Magnitude,
    /// Keep each entry with probability `density` (DARE).
    Random,
    /// Drop the `floor(gamma * n)` largest entries and enough of the smallest to keep
    /// `floor(density * n)` (model breadcrumbs).
    MagnitudeOutliers,
    /// Keep each entry with a probability from `density - epsilon` to `density + epsilon` by
    /// its magnitude rank in its row (DELLA's MAGPRUNE).
    Della,
}

impl Sparsification {
    /// Thins `delta`, a tensor of `shape`, in place with the model's `density`, `gamma` and
    /// `epsilon`. `rng` is only called by the random methods.
    pub(crate) fn apply(
        self,
        delta: &mut [f32],
        shape: &[usize],
        params: &ModelParams,
        rescale: bool,
        rng: impl FnOnce() -> ChaCha8Rng,
    ) {
        let (density, gamma) = (params.density, params.gamma);
        if self == Self::None || density >= 1.0 {
            return;
        }
        let n = delta.len();
        let l1_before = if rescale { l1(delta) } else { 0.0 };
        match self {
            Self::None => {}
            Self::Magnitude => {
                if density <= 0.0 || n == 0 {
                    delta.fill(0.0);
                    return;
                }
                let k = ((density * n as f64) as usize).max(1);
                keep_rank_window(delta, n - k.min(n), n);
            }
            Self::MagnitudeOutliers => {
                let target = (density.max(0.0) * n as f64) as usize;
                let top = (gamma.max(0.0) * n as f64) as usize;
                let bottom = n.saturating_sub(target + top);
                keep_rank_window(delta, bottom, bottom + target);
            }
            Self::Della => {
                if density <= 0.0 {
                    delta.fill(0.0);
                    return;
                }
                super::della::magprune(delta, shape, density, params.epsilon, &mut rng());
            }
            Self::Random => {
                let mut rng = rng();
                let p = density.max(0.0);
                delta.iter_mut().for_each(|v| {
                    if !rng.random_bool(p) {
                        *v = 0.0;
                    }
                });
            }
        }
        if rescale {
            rescale_l1(delta, l1_before);
        }
    }
}

fn l1(values: &[f32]) -> f64 {
    values.iter().map(|v| f64::from(v.abs())).sum()
}

/// Scales `values` so that their L1 norm becomes `target`, unless either norm is below 1e-7
/// (mergekit's guard against dividing by nothing).
fn rescale_l1(values: &mut [f32], target: f64) {
    let now = l1(values);
    if target < 1e-7 || now < 1e-7 {
        return;
    }
    let scale = (target / now) as f32;
    values.iter_mut().for_each(|v| *v *= scale);
}

/// Zeroes every entry whose rank by magnitude, ascending, is outside `lo..hi`; equal
/// magnitudes are ranked by position. Runs in linear time on a 4-byte key per entry.
fn keep_rank_window(values: &mut [f32], lo: usize, hi: usize) {
    let n = values.len();
    let hi = hi.min(n);
    if lo >= hi {
        values.fill(0.0);
        return;
    }
    if lo == 0 && hi == n {
        return;
    }
    // For non-negative floats the bit patterns order like the values.
    let key = |v: &f32| v.abs().to_bits();
    let mut keys: Vec<u32> = values.iter().map(key).collect();
    // Bounds of the window's keys; an open end needs no bound (and no selection).
    let lo_key = if lo > 0 {
        *keys.select_nth_unstable(lo).1
    } else {
        0
    };
    let hi_key = if hi < n {
        *keys.select_nth_unstable(hi - 1).1
    } else {
        u32::MAX
    };
    drop(keys);
    let (mut below_lo, mut below_hi) = (0usize, 0usize);
    for v in values.iter() {
        let k = key(v);
        below_lo += usize::from(k < lo_key);
        below_hi += usize::from(k < hi_key);
    }
    let (mut seen_lo, mut seen_hi) = (0, 0);
    for v in values.iter_mut() {
        let k = key(v);
        let keep = if k < lo_key || k > hi_key {
            false
        } else if k == lo_key {
            let rank = below_lo + seen_lo;
            seen_lo += 1;
            rank >= lo && rank < hi
        } else if k == hi_key {
            let rank = below_hi + seen_hi;
            seen_hi += 1;
            rank < hi
        } else {
            true
        };
        if !keep {
            *v = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn no_rng() -> ChaCha8Rng {
        unreachable!("deterministic methods draw nothing")
    }

    fn params(density: f64, gamma: f64) -> ModelParams {
        ModelParams {
            density,
            gamma,
            ..ModelParams::default()
        }
    }

    /// The reference: a stable sort by magnitude, then the window of ranks.
    fn window_by_sort(values: &[f32], lo: usize, hi: usize) -> Vec<f32> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
        let mut out = vec![0.0; values.len()];
        for &i in order.iter().take(hi.min(values.len())).skip(lo) {
            out[i] = values[i];
        }
        out
    }

    #[test]
    fn magnitude_keeps_the_largest() {
        let mut d = vec![0.1f32, -0.5, 0.3, -0.05];
        Sparsification::Magnitude.apply(&mut d, &[], &params(0.5, 0.0), false, no_rng);
        assert_eq!(d, vec![0.0, -0.5, 0.3, 0.0]);
        // At least one entry survives any positive density.
        let mut d = vec![0.1f32, -0.5, 0.3, -0.05];
        Sparsification::Magnitude.apply(&mut d, &[], &params(0.01, 0.0), false, no_rng);
        assert_eq!(d, vec![0.0, -0.5, 0.0, 0.0]);
    }

    #[test]
    fn rescale_restores_the_l1_norm() {
        let mut d = vec![1.0f32, -2.0, 3.0, -4.0];
        Sparsification::Magnitude.apply(&mut d, &[], &params(0.5, 0.0), true, no_rng);
        assert_eq!(d, vec![0.0, 0.0, 3.0 * 10.0 / 7.0, -4.0 * 10.0 / 7.0]);
    }

    #[test]
    fn breadcrumbs_drop_outliers_and_the_smallest() {
        let mut d: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        Sparsification::MagnitudeOutliers.apply(&mut d, &[], &params(0.5, 0.2), false, no_rng);
        // 10 entries: 2 outliers (9, 10) and 3 smallest (1, 2, 3) go, 5 stay.
        assert_eq!(d, vec![0.0, 0.0, 0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0]);
    }

    #[test]
    fn random_keeps_about_density_and_is_seeded() {
        let base: Vec<f32> = (0..20_000).map(|i| 1.0 + i as f32).collect();
        let run = |seed| {
            let mut d = base.clone();
            Sparsification::Random.apply(&mut d, &[], &params(0.3, 0.0), false, || {
                ChaCha8Rng::seed_from_u64(seed)
            });
            d
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let kept = a.iter().filter(|v| **v != 0.0).count() as f64 / a.len() as f64;
        assert!((kept - 0.3).abs() < 0.015, "kept {kept}");
        assert!(a.iter().zip(&base).all(|(a, b)| *a == 0.0 || a == b));
    }

    #[test]
    fn full_density_keeps_everything() {
        for method in [
            Sparsification::Magnitude,
            Sparsification::Random,
            Sparsification::MagnitudeOutliers,
            Sparsification::Della,
        ] {
            let mut d = vec![1.0f32, -2.0];
            method.apply(&mut d, &[], &params(1.0, 0.5), true, no_rng);
            assert_eq!(d, vec![1.0, -2.0]);
        }
    }

    proptest! {
        #[test]
        fn rank_window_matches_a_stable_sort(
            values in proptest::collection::vec(prop_oneof![-4i8..4, Just(0)], 1..60),
            a in 0usize..70,
            b in 0usize..70,
        ) {
            // Small integers make many equal magnitudes, the hard case.
            let values: Vec<f32> = values.iter().map(|v| *v as f32).collect();
            let (lo, hi) = (a.min(b), a.max(b));
            let mut got = values.clone();
            keep_rank_window(&mut got, lo, hi);
            prop_assert_eq!(got, window_by_sort(&values, lo, hi));
        }
    }
}
