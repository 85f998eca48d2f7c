//! Benchmark problems for the optimisers' tests: sphere and Rosenbrock (one objective) and
//! ZDT1 (two objectives) with its true Pareto front.

use crate::error::OptimError;

/// The number of decision variables of the standard ZDT1.
pub const ZDT1_DIMENSION: usize = 30;

/// `Σ xᵢ²`; minimum 0 at the origin.
pub fn sphere(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

/// `Σ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²`; minimum 0 at all ones.
pub fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// The box `[0, 1]ⁿ` ZDT1 is defined on.
pub fn zdt1_bounds(n: usize) -> Vec<[f64; 2]> {
    vec![[0.0, 1.0]; n]
}

/// ZDT1 (Zitzler, Deb & Thiele 2000): `f1 = x₀`, `g = 1 + 9 Σ_{i≥1} xᵢ / (n − 1)`,
/// `f2 = g (1 − √(f1 / g))`. Needs at least two variables, all in `[0, 1]`.
pub fn zdt1(x: &[f64]) -> Result<[f64; 2], OptimError> {
    if x.len() < 2 {
        return Err(OptimError::WrongLength {
            what: "zdt1 decision vector (at least two variables)".to_string(),
            expected: 2,
            got: x.len(),
        });
    }
    if let Some(i) = x.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(OptimError::OutOfRange {
            what: format!("zdt1 x[{i}]"),
            value: x[i],
            low: 0.0,
            high: 1.0,
        });
    }
    let f1 = x[0];
    let g = 1.0 + 9.0 * x[1..].iter().sum::<f64>() / (x.len() - 1) as f64;
    Ok([f1, g * (1.0 - (f1 / g).sqrt())])
}

/// `points` evenly spaced samples of ZDT1's Pareto front `f2 = 1 − √f1`, `f1 ∈ [0, 1]`.
pub fn zdt1_front(points: usize) -> Vec<[f64; 2]> {
    let last = points.saturating_sub(1).max(1) as f64;
    (0..points)
        .map(|i| {
            let f1 = i as f64 / last;
            [f1, 1.0 - f1.sqrt()]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervolume;

    #[test]
    fn known_values() {
        assert_eq!(sphere(&[1.0, -2.0, 3.0]), 14.0);
        assert_eq!(rosenbrock(&[1.0; 10]), 0.0);
        assert_eq!(rosenbrock(&[0.0, 0.0]), 1.0);
        assert_eq!(rosenbrock(&[-1.0, 1.0, 1.0]), 4.0);
        let mut x = vec![0.0; ZDT1_DIMENSION];
        x[0] = 0.25;
        assert_eq!(zdt1(&x).unwrap(), [0.25, 0.5]);
        x[1] = 1.0;
        let g: f64 = 1.0 + 9.0 / 29.0;
        assert_eq!(zdt1(&x).unwrap(), [0.25, g * (1.0 - (0.25 / g).sqrt())]);
    }

    #[test]
    fn zdt1_rejects_bad_vectors() {
        assert!(matches!(zdt1(&[0.5]), Err(OptimError::WrongLength { .. })));
        assert_eq!(
            zdt1(&[0.5, 1.5]).unwrap_err().to_string(),
            "zdt1 x[1] is 1.5, expected a value in [0, 1]"
        );
    }

    #[test]
    fn true_front_hypervolume_approaches_the_integral() {
        // Exact: ∫₀¹ (1.1 − (1 − √f1)) df1 + 0.1 · 1.1 = 0.1 + 2/3 + 0.11.
        let exact = 0.1 + 2.0 / 3.0 + 0.11;
        let hv = hypervolume(&zdt1_front(10_000), &[1.1, 1.1]).unwrap();
        assert!(hv < exact && exact - hv < 1e-4, "hv {hv} exact {exact}");
        let front = zdt1_front(3);
        assert_eq!(
            front,
            vec![[0.0, 1.0], [0.5, 1.0 - 0.5f64.sqrt()], [1.0, 0.0]]
        );
    }
}
