//! Crossover and the three mutations applied directly to tensors, as the spec writes them:
//! what lineage children are built with, and the reference recipes are checked against.

use rand_distr::{Distribution, Normal};

use crate::draws::{check_rate, tensor_rng, uniform_draws, weight_sum, weighted_mean, Stream};
use crate::error::{RecipeError, Result};
use crate::expert_basis::MatrixBasis;
use crate::svd::ThinSvd;

/// `sum_i w_i tau_i / sum_i w_i` elementwise ([`weighted_mean`]): the crossover of the
/// parents' task-vector tensors, one weight per parent.
pub fn crossover_tau(taus: &[&[f32]], weights: &[f32]) -> Result<Vec<f32>> {
    let sum = weight_sum(weights, taus.len())?;
    let n = taus[0].len();
    if let Some(t) = taus.iter().find(|t| t.len() != n) {
        return Err(RecipeError::Invalid(format!(
            "parents' task vectors differ in length: {} and {n}",
            t.len()
        )));
    }
    Ok((0..n)
        .map(|j| weighted_mean(weights, sum, |i| taus[i][j]))
        .collect())
}

/// `svd_expert` on one matrix of a child's task vector: `tau += U_q diag(r * S_q) Vh_q` with
/// `r ~ Uniform[0, rate)^rank` drawn from `(seed, name)`, over expert q's stored basis (its
/// kept directions only, when truncated).
pub fn mutate_svd_expert(
    name: &str,
    tau: &mut [f32],
    expert_q: &MatrixBasis,
    seed: u64,
    rate: f32,
) -> Result<()> {
    check_rate("svd_expert rate", rate)?;
    check_len(name, tau, &expert_q.svd)?;
    let r = uniform_draws(seed, name, Stream::SvdExpert, expert_q.svd.rank(), rate);
    expert_q.svd.add_scaled_product(&r, tau);
    Ok(())
}

/// `svd_child` on one `m x n` matrix of a child's task vector: with `tau = U S Vh` its own thin
/// SVD and `w ~ Uniform[0, rate)^rank` drawn from `(seed, name)`, `tau = U diag((1 + w) S) Vh`.
/// Computed as `tau += U diag(w S) Vh`, which is the same matrix without the SVD's rounding on
/// the unchanged part.
pub fn mutate_svd_child(
    name: &str,
    tau: &mut [f32],
    m: usize,
    n: usize,
    seed: u64,
    rate: f32,
) -> Result<()> {
    check_rate("svd_child rate", rate)?;
    if tau.len() != m * n {
        return Err(RecipeError::Invalid(format!(
            "tensor `{name}`: {} values are not a {m} x {n} matrix",
            tau.len()
        )));
    }
    let svd = ThinSvd::compute(name, tau, m, n)?;
    let w = uniform_draws(seed, name, Stream::SvdChild, svd.rank(), rate);
    svd.add_scaled_product(&w, tau);
    Ok(())
}

/// Gaussian mutation of one tensor: `theta += Normal(0, std)` elementwise, drawn from
/// `(seed, name)`.
pub fn mutate_gaussian(name: &str, values: &mut [f32], seed: u64, std: f32) -> Result<()> {
    check_rate("gaussian standard deviation", std)?;
    let normal = Normal::new(0.0f32, std).expect("checked: finite and not negative");
    let mut rng = tensor_rng(seed, name, Stream::Gaussian);
    values
        .iter_mut()
        .for_each(|v| *v += normal.sample(&mut rng));
    Ok(())
}

fn check_len(name: &str, tau: &[f32], svd: &ThinSvd) -> Result<()> {
    if tau.len() == svd.m * svd.n {
        Ok(())
    } else {
        Err(RecipeError::Invalid(format!(
            "tensor `{name}`: {} values do not match the basis shape {} x {}",
            tau.len(),
            svd.m,
            svd.n
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn crossover_is_the_weighted_mean_and_checks_its_inputs() {
        let tau = crossover_tau(&[&[4.0, 0.0], &[8.0, 2.0]], &[1.0, 3.0]).unwrap();
        assert_eq!(tau, vec![7.0, 1.5]);
        let three = crossover_tau(&[&[3.0], &[6.0], &[9.0]], &[1.0, 1.0, 1.0]).unwrap();
        assert_eq!(three, vec![6.0]);
        assert!(crossover_tau(&[&[1.0], &[1.0, 2.0]], &[1.0, 1.0]).is_err());
        assert!(crossover_tau(&[&[1.0], &[2.0]], &[1.0]).is_err());
        assert!(crossover_tau(&[&[1.0], &[2.0]], &[1.0, -1.0]).is_err());
    }

    #[test]
    fn svd_child_grows_every_singular_value_by_at_most_rate() {
        let (m, n) = (12, 7);
        let mut tau = random(m * n, 1);
        let before = ThinSvd::compute("t", &tau, m, n).unwrap();
        mutate_svd_child("t", &mut tau, m, n, 9, 0.1).unwrap();
        let after = ThinSvd::compute("t", &tau, m, n).unwrap();
        let grown: Vec<f32> = after.s.iter().zip(&before.s).map(|(a, b)| a / b).collect();
        // Growth factors 1 + w, w in [0, 0.1): sorted singular values stay within them.
        assert!(
            grown.iter().all(|g| (0.999..1.101).contains(g)),
            "{grown:?}"
        );
        assert!(grown.iter().any(|g| *g > 1.001), "{grown:?}");
        // The singular vectors are unchanged: U^T tau' V is diagonal with (1 + w) S.
        let w = uniform_draws(9, "t", Stream::SvdChild, n, 0.1);
        let mut expected = vec![0.0; m * n];
        let scale: Vec<f32> = w.iter().map(|w| 1.0 + w).collect();
        before.add_scaled_product(&scale, &mut expected);
        let err: f32 = expected
            .iter()
            .zip(&tau)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "{err}");
    }

    #[test]
    fn svd_child_rate_zero_is_identity_and_bad_rates_are_errors() {
        let mut tau = random(20, 2);
        let orig = tau.clone();
        mutate_svd_child("t", &mut tau, 4, 5, 1, 0.0).unwrap();
        assert_eq!(tau, orig);
        assert!(mutate_svd_child("t", &mut tau, 4, 5, 1, f32::NAN).is_err());
        assert!(mutate_svd_child("t", &mut tau, 3, 5, 1, 0.1).is_err());
    }

    #[test]
    fn gaussian_noise_has_the_requested_spread_and_is_replayable() {
        let mut a = vec![0.0f32; 100_000];
        mutate_gaussian("w", &mut a, 3, 3e-4).unwrap();
        let mean = a.iter().map(|x| *x as f64).sum::<f64>() / a.len() as f64;
        let std =
            (a.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(
            mean.abs() < 1e-5 && (std - 3e-4).abs() < 1e-5,
            "{mean} {std}"
        );
        let mut b = vec![0.0f32; 100_000];
        mutate_gaussian("w", &mut b, 3, 3e-4).unwrap();
        assert_eq!(a, b);
        let mut c = vec![0.0f32; 100_000];
        mutate_gaussian("v", &mut c, 3, 3e-4).unwrap();
        assert_ne!(a, c);
    }
}
