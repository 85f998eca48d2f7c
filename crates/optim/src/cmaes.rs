//! CMA-ES as an ask/tell state machine, following the equations of Hansen's "The CMA
//! Evolution Strategy: A Tutorial" (weighted recombination of the best μ, cumulative step-size
//! adaptation, rank-one plus rank-μ covariance update with the h_σ stall). Minimisation.

use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite_vector, OptimError};
use crate::streams::{stream, Purpose};
use crate::symmetric_eigen;

/// Largest `ln` change of σ in one generation; the tutorial's update is unbounded and a huge
/// first evolution path (e.g. from a badly scaled start) would otherwise overflow σ.
const MAX_LOG_SIGMA_STEP: f64 = 1.0;

/// Where a CMA-ES run starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CmaEsConfig {
    /// Initial mean; its length is the search dimension n.
    pub mean: Vec<f64>,
    /// Initial step size σ (> 0), in the units of `mean`.
    pub sigma: f64,
    /// Offspring per generation λ (≥ 2); `None` gives the default `4 + ⌊3 ln n⌋`.
    pub population: Option<usize>,
    /// Seed of every random draw of the run.
    pub seed: u64,
}

/// The strategy constants, fixed by n and λ (tutorial, table 1 with the default weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Constants {
    /// Recombination weights of the best μ candidates, positive, summing to one.
    weights: Vec<f64>,
    /// Variance-effective selection mass `(Σw)² / Σw²`.
    mu_eff: f64,
    /// Learning rate of the step-size path.
    c_sigma: f64,
    /// Damping of the step-size update.
    d_sigma: f64,
    /// Learning rate of the covariance path.
    c_c: f64,
    /// Learning rate of the rank-one update.
    c_1: f64,
    /// Learning rate of the rank-μ update.
    c_mu: f64,
    /// `E‖N(0, I)‖`.
    chi_n: f64,
}

impl Constants {
    fn new(n: usize, lambda: usize) -> Self {
        let nf = n as f64;
        let mu = lambda / 2;
        let raw: Vec<f64> = (1..=mu)
            .map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - (i as f64).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let c_sigma = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let d_sigma = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + c_sigma;
        let c_c = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let c_1 = 2.0 / ((nf + 1.3).powi(2) + mu_eff);
        let c_mu =
            (1.0 - c_1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((nf + 2.0).powi(2) + mu_eff));
        let chi_n = nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf));
        Self {
            weights,
            mu_eff,
            c_sigma,
            d_sigma,
            c_c,
            c_1,
            c_mu,
            chi_n,
        }
    }
}

/// The full state of a CMA-ES run; serialise it to snapshot a run, or rebuild it by replaying
/// the told generations into [`CmaEs::new`] of the same config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CmaEs {
    seed: u64,
    lambda: usize,
    constants: Constants,
    mean: Vec<f64>,
    sigma: f64,
    /// Row-major covariance matrix C.
    covariance: Vec<f64>,
    /// Row-major B: column j is the j-th eigenvector of C.
    basis: Vec<f64>,
    /// D: square roots of the eigenvalues of C, in the order of B's columns.
    scales: Vec<f64>,
    path_sigma: Vec<f64>,
    path_c: Vec<f64>,
    generation: u64,
    evaluations: u64,
    best: Option<(Vec<f64>, f64)>,
}

impl CmaEs {
    /// Starts a run with C = I at `config.mean` and step size `config.sigma`.
    pub fn new(config: CmaEsConfig) -> Result<Self, OptimError> {
        let n = config.mean.len();
        if n == 0 {
            return Err(invalid(
                "mean",
                "expected at least one coordinate, got none",
            ));
        }
        if let Some(i) = config.mean.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                &format!("mean[{i}]"),
                &format!("expected a finite number, got {}", config.mean[i]),
            ));
        }
        if !(config.sigma.is_finite() && config.sigma > 0.0) {
            return Err(invalid(
                "sigma",
                &format!("expected a finite number > 0, got {}", config.sigma),
            ));
        }
        let lambda = config
            .population
            .unwrap_or(4 + (3.0 * (n as f64).ln()).floor() as usize);
        if lambda < 2 {
            return Err(invalid(
                "population",
                &format!("expected at least 2 candidates per generation, got {lambda}"),
            ));
        }
        let mut identity = vec![0.0; n * n];
        for i in 0..n {
            identity[i * n + i] = 1.0;
        }
        Ok(Self {
            seed: config.seed,
            lambda,
            constants: Constants::new(n, lambda),
            mean: config.mean,
            sigma: config.sigma,
            covariance: identity.clone(),
            basis: identity,
            scales: vec![1.0; n],
            path_sigma: vec![0.0; n],
            path_c: vec![0.0; n],
            generation: 0,
            evaluations: 0,
            best: None,
        })
    }

    /// The λ candidates `m + σ B D z` of the current generation, `z ~ N(0, I)` drawn from the
    /// generation's own stream: calling it twice gives the same candidates.
    pub fn ask(&self) -> Vec<Vec<f64>> {
        let n = self.dimension();
        let mut rng = stream(self.seed, self.generation, Purpose::Ask);
        (0..self.lambda)
            .map(|_| {
                let scaled: Vec<f64> = self
                    .scales
                    .iter()
                    .map(|d| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        d * z
                    })
                    .collect();
                (0..n)
                    .map(|i| {
                        let step: f64 = (0..n).map(|j| self.basis[i * n + j] * scaled[j]).sum();
                        self.mean[i] + self.sigma * step
                    })
                    .collect()
            })
            .collect()
    }

    /// Updates mean, paths, covariance and step size from the fitness (lower is better) of
    /// λ candidates, normally those [`ask`](Self::ask) returned, and advances the generation.
    pub fn tell(&mut self, candidates: &[Vec<f64>], fitness: &[f64]) -> Result<(), OptimError> {
        let n = self.dimension();
        if candidates.len() != self.lambda {
            return Err(OptimError::WrongLength {
                what: "candidates (one per member of the population)".to_string(),
                expected: self.lambda,
                got: candidates.len(),
            });
        }
        for (k, x) in candidates.iter().enumerate() {
            check_finite_vector(&format!("candidates[{k}]"), x, n)?;
        }
        check_finite_vector("fitness", fitness, self.lambda)?;

        let mut order: Vec<usize> = (0..self.lambda).collect();
        order.sort_by(|&a, &b| fitness[a].total_cmp(&fitness[b]));
        let best_now = order[0];
        if self
            .best
            .as_ref()
            .is_none_or(|(_, f)| fitness[best_now] < *f)
        {
            self.best = Some((candidates[best_now].clone(), fitness[best_now]));
        }

        let c = &self.constants;
        let steps: Vec<Vec<f64>> = order[..c.weights.len()]
            .iter()
            .map(|&k| {
                candidates[k]
                    .iter()
                    .zip(&self.mean)
                    .map(|(x, m)| (x - m) / self.sigma)
                    .collect()
            })
            .collect();
        let mut step_w = vec![0.0; n];
        for (w, y) in c.weights.iter().zip(&steps) {
            for (acc, yi) in step_w.iter_mut().zip(y) {
                *acc += w * yi;
            }
        }
        for (m, y) in self.mean.iter_mut().zip(&step_w) {
            *m += self.sigma * y;
        }

        let whitened = self.inverse_sqrt_times(&step_w);
        let sigma_gain = (c.c_sigma * (2.0 - c.c_sigma) * c.mu_eff).sqrt();
        for (p, z) in self.path_sigma.iter_mut().zip(&whitened) {
            *p = (1.0 - c.c_sigma) * *p + sigma_gain * z;
        }
        let path_sigma_norm = norm(&self.path_sigma);
        let generations_done = (self.generation + 1) as f64;
        let bias_correction = (1.0 - (1.0 - c.c_sigma).powf(2.0 * generations_done)).sqrt();
        // h_σ stalls the rank-one path while σ is growing fast, so C does not absorb a step
        // that the step-size control is about to undo.
        let stalled = path_sigma_norm / bias_correction >= (1.4 + 2.0 / (n as f64 + 1.0)) * c.chi_n;
        let c_gain = (c.c_c * (2.0 - c.c_c) * c.mu_eff).sqrt();
        let h_sigma = if stalled { 0.0 } else { 1.0 };
        for (p, y) in self.path_c.iter_mut().zip(&step_w) {
            *p = (1.0 - c.c_c) * *p + h_sigma * c_gain * y;
        }

        let lost_variance = (1.0 - h_sigma) * c.c_c * (2.0 - c.c_c);
        let decay = 1.0 + c.c_1 * lost_variance - c.c_1 - c.c_mu;
        for i in 0..n {
            for j in i..n {
                let rank_mu: f64 = c
                    .weights
                    .iter()
                    .zip(&steps)
                    .map(|(w, y)| w * y[i] * y[j])
                    .sum();
                let value = decay * self.covariance[i * n + j]
                    + c.c_1 * self.path_c[i] * self.path_c[j]
                    + c.c_mu * rank_mu;
                self.covariance[i * n + j] = value;
                self.covariance[j * n + i] = value;
            }
        }

        let log_step = (c.c_sigma / c.d_sigma) * (path_sigma_norm / c.chi_n - 1.0);
        self.sigma *= log_step.min(MAX_LOG_SIGMA_STEP).exp();

        let eigen = symmetric_eigen::decompose(&self.covariance, n);
        self.basis = eigen.vectors;
        // Rounding can push the smallest eigenvalue of a nearly singular C to zero or below;
        // clamping keeps C^{-1/2} finite.
        self.scales = eigen
            .values
            .iter()
            .map(|v| v.max(f64::MIN_POSITIVE).sqrt())
            .collect();

        self.generation += 1;
        self.evaluations += self.lambda as u64;
        Ok(())
    }

    /// Generations told so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Fitness evaluations told so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The current mean, the search's point estimate.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The current step size σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Candidates per generation λ.
    pub fn population_size(&self) -> usize {
        self.lambda
    }

    /// The search dimension n.
    pub fn dimension(&self) -> usize {
        self.mean.len()
    }

    /// The best candidate told so far and its fitness.
    pub fn best(&self) -> Option<(&[f64], f64)> {
        self.best.as_ref().map(|(x, f)| (x.as_slice(), *f))
    }

    /// Ratio of the largest to the smallest eigenvalue of C; large values mean the search has
    /// learnt a badly scaled or ill-conditioned problem.
    pub fn condition_number(&self) -> f64 {
        let max = self.scales.iter().cloned().fold(f64::MIN, f64::max);
        let min = self.scales.iter().cloned().fold(f64::MAX, f64::min);
        (max / min).powi(2)
    }

    /// `C^{-1/2} v = B D⁻¹ Bᵀ v`.
    fn inverse_sqrt_times(&self, v: &[f64]) -> Vec<f64> {
        let n = self.dimension();
        let projected: Vec<f64> = (0..n)
            .map(|j| (0..n).map(|i| self.basis[i * n + j] * v[i]).sum::<f64>() / self.scales[j])
            .collect();
        (0..n)
            .map(|i| (0..n).map(|j| self.basis[i * n + j] * projected[j]).sum())
            .collect()
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn invalid(field: &str, reason: &str) -> OptimError {
    OptimError::InvalidConfig {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(n: usize) -> CmaEsConfig {
        CmaEsConfig {
            mean: vec![1.0; n],
            sigma: 0.5,
            population: None,
            seed: 3,
        }
    }

    #[test]
    fn default_population_and_constants_match_the_tutorial() {
        let es = CmaEs::new(config(10)).unwrap();
        assert_eq!(es.population_size(), 10);
        let c = &es.constants;
        assert_eq!(c.weights.len(), 5);
        assert!((c.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(c.weights.windows(2).all(|w| w[0] > w[1]));
        // μ_eff for λ = 10 is ≈ 3.1672 (pycma prints the same).
        assert!((c.mu_eff - 3.1672).abs() < 1e-3, "mu_eff {}", c.mu_eff);
        assert!(c.c_1 + c.c_mu <= 1.0);
        assert!((c.chi_n - 3.0847).abs() < 1e-3, "chi_n {}", c.chi_n);
        assert_eq!(CmaEs::new(config(2)).unwrap().population_size(), 6);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut c = config(0);
        assert!(
            matches!(CmaEs::new(c.clone()), Err(OptimError::InvalidConfig { field, .. }) if field == "mean")
        );
        c = config(2);
        c.mean[1] = f64::INFINITY;
        assert!(
            matches!(CmaEs::new(c), Err(OptimError::InvalidConfig { field, .. }) if field == "mean[1]")
        );
        for sigma in [0.0, -1.0, f64::NAN] {
            let c = CmaEsConfig { sigma, ..config(2) };
            assert!(
                matches!(CmaEs::new(c), Err(OptimError::InvalidConfig { field, .. }) if field == "sigma")
            );
        }
        let c = CmaEsConfig {
            population: Some(1),
            ..config(2)
        };
        assert!(
            matches!(CmaEs::new(c), Err(OptimError::InvalidConfig { field, .. }) if field == "population")
        );
    }

    #[test]
    fn ask_is_repeatable_and_centred_on_the_mean() {
        let es = CmaEs::new(config(3)).unwrap();
        let first = es.ask();
        assert_eq!(first, es.ask());
        assert_eq!(first.len(), es.population_size());
        assert!(first.iter().all(|x| x.len() == 3));
        assert!(first.iter().any(|x| x != &first[0]));
    }

    #[test]
    fn tell_rejects_wrong_shapes_and_non_finite_fitness() {
        let mut es = CmaEs::new(config(3)).unwrap();
        let xs = es.ask();
        let good = vec![1.0; xs.len()];
        assert!(matches!(
            es.tell(&xs[1..], &good),
            Err(OptimError::WrongLength { .. })
        ));
        assert!(matches!(
            es.tell(&xs, &good[1..]),
            Err(OptimError::WrongLength { .. })
        ));
        let mut bad = good.clone();
        bad[2] = f64::NAN;
        assert_eq!(
            es.tell(&xs, &bad).unwrap_err().to_string(),
            "fitness[2] is NaN, expected a finite number"
        );
        let mut short = xs.clone();
        short[0].pop();
        assert!(
            matches!(es.tell(&short, &good), Err(OptimError::WrongLength { what, .. }) if what == "candidates[0]")
        );
        assert_eq!(es.generation(), 0, "failed tells must not change the state");
        es.tell(&xs, &good).unwrap();
        assert_eq!(es.generation(), 1);
        assert_eq!(es.evaluations(), xs.len() as u64);
    }

    #[test]
    fn mean_moves_towards_better_candidates_and_best_is_tracked() {
        let mut es = CmaEs::new(config(2)).unwrap();
        let xs = es.ask();
        let fitness: Vec<f64> = xs.iter().map(|x| x[0]).collect();
        es.tell(&xs, &fitness).unwrap();
        assert!(es.mean()[0] < 1.0, "mean {:?}", es.mean());
        let (best_x, best_f) = es.best().unwrap();
        let min = fitness.iter().cloned().fold(f64::MAX, f64::min);
        assert_eq!(best_f, min);
        assert_eq!(best_x[0], min);
        assert!(es.condition_number() >= 1.0);
    }
}
