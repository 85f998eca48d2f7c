//! Parent sampling: two distinct elites of the quality task's archive, uniformly or by the
//! paper's elite sampling over normalised scores.

use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::error::QdError;
use crate::individual::Individual;
use crate::stream::unit_f64;

/// How parents are drawn from an archive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParentSampler {
    /// Two distinct elites, uniformly.
    Uniform,
    /// The paper's elite sampling: each score column is scaled to `[a_lo, a_hi]` over the
    /// archive's elites (a constant column scales to 1), an elite's weight is the product
    /// over all tasks, parent 1 is drawn proportionally to weight and parent 2
    /// proportionally to weight among the rest.
    Elite {
        /// The scaled value of a column's minimum; must be > 0 so every weight is positive.
        a_lo: f64,
        /// The scaled value of a column's maximum; must be >= `a_lo`.
        a_hi: f64,
    },
}

impl ParentSampler {
    /// The paper's elite sampling, `a_lo = 0.5`, `a_hi = 0.8`.
    pub const PAPER: ParentSampler = ParentSampler::Elite {
        a_lo: 0.5,
        a_hi: 0.8,
    };

    /// Checks the parameters; `field` names them in the error.
    pub fn validate(&self, field: &str) -> Result<(), QdError> {
        if let ParentSampler::Elite { a_lo, a_hi } = *self {
            if !(a_lo.is_finite() && a_hi.is_finite() && a_lo > 0.0 && a_hi >= a_lo) {
                return Err(QdError::config(
                    field,
                    format!("elite sampling needs finite 0 < a_lo <= a_hi, got a_lo = {a_lo}, a_hi = {a_hi}"),
                ));
            }
        }
        Ok(())
    }

    /// The sampling weight of every elite, in the archive's cell order.
    pub fn weights<G>(&self, archive: &Archive<G>) -> Vec<f64> {
        self.weights_of(archive.score_matrix(), archive.task_count())
    }

    /// The sampling weights of elites whose score vectors are the rows of `scores`, a
    /// row-major matrix with `tasks` columns.
    pub fn weights_of(&self, scores: &[f64], tasks: usize) -> Vec<f64> {
        let rows = scores.len() / tasks.max(1);
        let (a_lo, a_hi) = match *self {
            ParentSampler::Uniform => return vec![1.0; rows],
            ParentSampler::Elite { a_lo, a_hi } => (a_lo, a_hi),
        };
        if rows == 0 {
            return Vec::new();
        }
        let mut min = vec![f64::INFINITY; tasks];
        let mut max = vec![f64::NEG_INFINITY; tasks];
        for row in scores.chunks_exact(tasks) {
            for t in 0..tasks {
                min[t] = min[t].min(row[t]);
                max[t] = max[t].max(row[t]);
            }
        }
        // The product runs over tasks in order; a constant column contributes 1.
        let weights = scores
            .chunks_exact(tasks)
            .map(|row| {
                (0..tasks).filter(|&t| max[t] != min[t]).fold(1.0, |w, t| {
                    w * (a_lo + (row[t] - min[t]) * (a_hi - a_lo) / (max[t] - min[t]))
                })
            })
            .collect();
        weights
    }

    /// Draws two parents from `archive` and counts the draws on the elites. An archive
    /// with a single elite yields it twice.
    pub fn sample<G>(
        &self,
        archive: &mut Archive<G>,
        task_name: &str,
        rng: &mut impl RngCore,
    ) -> Result<[Arc<Individual<G>>; 2], QdError> {
        if archive.is_empty() {
            return Err(QdError::EmptyArchive {
                task: task_name.to_string(),
            });
        }
        let weights = self.weights(archive);
        let first = draw(&weights, None, unit_f64(rng));
        let second = if weights.len() == 1 {
            first
        } else {
            draw(&weights, Some(first), unit_f64(rng))
        };
        archive.count_sampled(first);
        archive.count_sampled(second);
        let pick = |i: usize| {
            let elite = archive.elite_at(i).expect("drawn index is in range");
            Arc::clone(elite.individual())
        };
        Ok([pick(first), pick(second)])
    }
}

/// The categorical draw: the first index `i` (skipping `skip`) whose running weight sum
/// exceeds `u * total`, with `u` uniform in `[0, 1)`.
pub(crate) fn draw(weights: &[f64], skip: Option<usize>, u: f64) -> usize {
    let live = |i: &usize| Some(*i) != skip;
    let total: f64 = (0..weights.len()).filter(live).map(|i| weights[i]).sum();
    let target = u * total;
    let mut running = 0.0;
    let mut last = None;
    for i in (0..weights.len()).filter(live) {
        running += weights[i];
        if target < running {
            return i;
        }
        if weights[i] > 0.0 {
            last = Some(i);
        }
    }
    // Only reachable through rounding when u is within an ulp of 1.
    last.expect("at least one positive weight outside `skip`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::BcAxis;
    use crate::individual::IndividualId;
    use crate::stream::generation_rng;
    use proptest::prelude::*;

    fn archive_of(points: &[Vec<f64>]) -> Archive<()> {
        let k = points[0].len();
        let axes: Vec<BcAxis> = (0..k).map(|_| BcAxis::new(0.0, 1.0, 50).unwrap()).collect();
        let mut a = Archive::new(0, &axes);
        for (i, p) in points.iter().enumerate() {
            a.offer(&Arc::new(Individual {
                id: IndividualId(i as u64),
                generation: 0,
                parents: vec![],
                scores: p.clone(),
                genome: (),
            }));
        }
        a
    }

    #[test]
    fn elite_weights_follow_the_formula() {
        let a = archive_of(&[
            vec![0.2, 0.1, 0.5],
            vec![0.4, 0.3, 0.5],
            vec![0.6, 0.2, 0.5],
        ]);
        let w = ParentSampler::PAPER.weights(&a);
        // Column 0 -> 0.5, 0.65, 0.8; column 1 -> 0.5, 0.8, 0.65; column 2 constant -> 1.
        let expect = [0.5 * 0.5, 0.65 * 0.8, 0.8 * 0.65];
        for (w, e) in w.iter().zip(expect) {
            assert!((w - e).abs() < 1e-15, "{w} vs {e}");
        }
        assert_eq!(ParentSampler::Uniform.weights(&a), vec![1.0; 3]);
    }

    #[test]
    fn constant_columns_weigh_one() {
        // Column 0 is constant: its factor is 1 and column 1 alone sets the weights.
        let a = archive_of(&[vec![0.2, 0.3], vec![0.2, 0.5], vec![0.2, 0.7]]);
        let w = ParentSampler::Elite {
            a_lo: 0.1,
            a_hi: 0.9,
        }
        .weights(&a);
        for (w, e) in w.iter().zip([0.1, 0.5, 0.9]) {
            assert!((w - e).abs() < 1e-15, "{w} vs {e}");
        }
        // Every column constant (equal elites in distinct cells are impossible, so a
        // single elite): weight 1.
        let b = archive_of(&[vec![0.4, 0.6]]);
        assert_eq!(ParentSampler::PAPER.weights(&b), vec![1.0]);
    }

    #[test]
    fn single_elite_is_drawn_twice_and_counted_twice() {
        let mut a = archive_of(&[vec![0.3, 0.3]]);
        let mut rng = generation_rng(0, 1);
        let [p1, p2] = ParentSampler::PAPER.sample(&mut a, "t", &mut rng).unwrap();
        assert_eq!((p1.id, p2.id), (IndividualId(0), IndividualId(0)));
        assert_eq!(a.elites().next().unwrap().1.times_sampled(), 2);
    }

    #[test]
    fn empty_archive_is_an_error_naming_the_task() {
        let axes: Vec<BcAxis> = (0..2).map(|_| BcAxis::new(0.0, 1.0, 5).unwrap()).collect();
        let mut a: Archive<()> = Archive::new(0, &axes);
        let err = ParentSampler::Uniform
            .sample(&mut a, "coding", &mut generation_rng(0, 1))
            .unwrap_err();
        assert!(err.to_string().contains("`coding`"), "{err}");
    }

    #[test]
    fn two_distinct_parents_when_possible() {
        let mut a = archive_of(&[vec![0.1, 0.1], vec![0.9, 0.9]]);
        for g in 0..50 {
            let [p1, p2] = ParentSampler::PAPER
                .sample(&mut a, "t", &mut generation_rng(3, g))
                .unwrap();
            assert_ne!(p1.id, p2.id);
        }
        let counts: Vec<u64> = a.elites().map(|(_, e)| e.times_sampled()).collect();
        assert_eq!(counts, vec![50, 50]);
    }

    #[test]
    fn validation_rejects_bad_parameters() {
        assert!(ParentSampler::PAPER.validate("sampler").is_ok());
        for (a_lo, a_hi) in [
            (0.0, 0.8),
            (0.9, 0.8),
            (f64::NAN, 1.0),
            (0.5, f64::INFINITY),
        ] {
            let err = ParentSampler::Elite { a_lo, a_hi }
                .validate("sampler")
                .unwrap_err();
            assert!(err.to_string().contains("`sampler`"));
        }
    }

    #[test]
    fn draw_frequencies_match_the_weights() {
        // 200k draws from a fixed stream: each frequency lies within 5 standard errors
        // (< 0.006 here) of the spec's probability.
        let weights = [0.25, 0.52, 0.52, 0.04, 0.9];
        let total: f64 = weights.iter().sum();
        let mut rng = generation_rng(11, 0);
        let n = 200_000;
        let mut first = [0u32; 5];
        let mut second_after_1 = [0u32; 5];
        let mut after_1 = 0u32;
        for _ in 0..n {
            let i = draw(&weights, None, unit_f64(&mut rng));
            first[i] += 1;
            if i == 1 {
                let j = draw(&weights, Some(1), unit_f64(&mut rng));
                second_after_1[j] += 1;
                after_1 += 1;
            }
        }
        for i in 0..5 {
            let p = weights[i] / total;
            assert!((f64::from(first[i]) / f64::from(n) - p).abs() < 0.006);
            let q = if i == 1 {
                0.0
            } else {
                weights[i] / (total - weights[1])
            };
            let freq = f64::from(second_after_1[i]) / f64::from(after_1);
            assert!((freq - q).abs() < 0.012, "{i}: {freq} vs {q}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The draw returns exactly the index whose cumulative interval holds u * total,
        /// so P(i) = w_i / sum(w) and P(j | i) = w_j / (sum(w) - w_i).
        #[test]
        fn draw_picks_the_cumulative_interval(
            weights in proptest::collection::vec(0.01f64..2.0, 2..12),
            u in 0.0f64..1.0,
            skip_pick in 0usize..12,
        ) {
            for skip in [None, Some(skip_pick % weights.len())] {
                let i = draw(&weights, skip, u);
                prop_assert!(Some(i) != skip);
                let live: Vec<usize> = (0..weights.len()).filter(|&j| Some(j) != skip).collect();
                let total: f64 = live.iter().map(|&j| weights[j]).sum();
                let before: f64 = live.iter().take_while(|&&j| j != i).map(|&j| weights[j]).sum();
                prop_assert!(before <= u * total * (1.0 + 1e-12));
                prop_assert!(u * total < (before + weights[i]) * (1.0 + 1e-12));
            }
        }

        /// On random archives, P(first = i) and P(second = j | first = i) from the
        /// sampler's weights equal the spec's formula evaluated elite by elite.
        #[test]
        fn probabilities_follow_the_spec_on_random_archives(
            k in 2usize..5,
            points in proptest::collection::vec(proptest::collection::vec(0.0f64..1.0, 5), 1..40),
            a_lo in 0.05f64..1.0,
            spread in 0.0f64..1.0,
        ) {
            let points: Vec<Vec<f64>> = points.into_iter().map(|p| p[..k].to_vec()).collect();
            let archive = archive_of(&points);
            let sampler = ParentSampler::Elite { a_lo, a_hi: a_lo + spread };
            let elites: Vec<&[f64]> = archive.elites().map(|(_, e)| e.scores()).collect();
            let spec_weight = |e: &[f64]| -> f64 {
                (0..k).map(|t| {
                    let lo = elites.iter().map(|x| x[t]).fold(f64::INFINITY, f64::min);
                    let hi = elites.iter().map(|x| x[t]).fold(f64::NEG_INFINITY, f64::max);
                    if hi == lo { 1.0 } else { a_lo + (e[t] - lo) * spread / (hi - lo) }
                }).product()
            };
            let w = sampler.weights(&archive);
            let total: f64 = elites.iter().map(|e| spec_weight(e)).sum();
            let ours: f64 = w.iter().sum();
            for (i, e) in elites.iter().enumerate() {
                let p = spec_weight(e) / total;
                prop_assert!((w[i] / ours - p).abs() < 1e-12);
                for (j, f) in elites.iter().enumerate().filter(|&(j, _)| j != i) {
                    let q = spec_weight(f) / (total - spec_weight(e));
                    prop_assert!((w[j] / (ours - w[i]) - q).abs() < 1e-12);
                }
            }
        }

        /// Elite weights lie in [a_lo^K, 1], and an elite at least as good as another on
        /// every task never has a smaller weight.
        #[test]
        fn elite_weights_respect_dominance(
            points in proptest::collection::vec(proptest::collection::vec(0.0f64..1.0, 3), 2..20),
        ) {
            let s = ParentSampler::PAPER;
            let flat: Vec<f64> = points.concat();
            let w = s.weights_of(&flat, 3);
            for (i, wi) in w.iter().enumerate() {
                prop_assert!(*wi >= 0.5f64.powi(3) * (1.0 - 1e-12) && *wi <= 1.0);
                for (j, wj) in w.iter().enumerate() {
                    if (0..3).all(|t| points[i][t] >= points[j][t]) {
                        prop_assert!(*wi >= *wj * (1.0 - 1e-12), "{i} dominates {j}");
                    }
                }
            }
        }
    }
}
