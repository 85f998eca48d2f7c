//! Eigendecomposition of small symmetric matrices by cyclic Jacobi rotations.
//!
//! CMA-ES needs `C = B diag(D²) Bᵀ` every generation for dimensions up to about a hundred;
//! Jacobi is accurate to working precision on symmetric input, deterministic, and needs no
//! external linear-algebra crate.

/// Sweeps after which the iteration stops even if off-diagonal mass remains; Jacobi converges
/// quadratically, so well-conditioned inputs need fewer than ten.
const MAX_SWEEPS: usize = 64;

/// Eigenvalues and orthonormal eigenvectors of a symmetric matrix.
#[derive(Debug, Clone)]
pub(crate) struct SymmetricEigen {
    /// Eigenvalues in no particular order.
    pub values: Vec<f64>,
    /// Row-major `n × n`; column `j` is the eigenvector of `values[j]`.
    pub vectors: Vec<f64>,
}

/// Decomposes the row-major symmetric `n × n` matrix `matrix`; only its upper triangle need be
/// exact, the lower one is taken as its mirror.
pub(crate) fn decompose(matrix: &[f64], n: usize) -> SymmetricEigen {
    debug_assert_eq!(matrix.len(), n * n);
    let mut a = matrix.to_vec();
    for i in 0..n {
        for j in 0..i {
            a[i * n + j] = a[j * n + i];
        }
    }
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _ in 0..MAX_SWEEPS {
        let off_diagonal: f64 = (0..n)
            .flat_map(|p| (p + 1..n).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q] * a[p * n + q])
            .sum();
        let diagonal: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off_diagonal <= diagonal * f64::EPSILON * f64::EPSILON || off_diagonal == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    SymmetricEigen {
        values: (0..n).map(|i| a[i * n + i]).collect(),
        vectors: v,
    }
}

/// Applies the rotation in the (p, q) plane that zeroes `a[p][q]`: `a ← Jᵀ a J`, `v ← v J`.
fn rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq == 0.0 {
        return;
    }
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    // The smaller root of t² + 2θt − 1 = 0 keeps the rotation angle below π/4, which is what
    // makes the cyclic method converge.
    let t = if theta.is_finite() {
        theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
    } else {
        0.5 / theta
    };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
    for k in 0..n {
        let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reconstruction_error(matrix: &[f64], n: usize, eig: &SymmetricEigen) -> f64 {
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let rebuilt: f64 = (0..n)
                    .map(|k| eig.vectors[i * n + k] * eig.values[k] * eig.vectors[j * n + k])
                    .sum();
                worst = worst.max((rebuilt - matrix[i * n + j]).abs());
            }
        }
        worst
    }

    #[test]
    fn two_by_two_has_the_textbook_eigenvalues() {
        let eig = decompose(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut values = eig.values.clone();
        values.sort_by(f64::total_cmp);
        assert!((values[0] - 1.0).abs() < 1e-15 && (values[1] - 3.0).abs() < 1e-15);
    }

    #[test]
    fn diagonal_input_is_returned_unchanged() {
        let eig = decompose(&[4.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 1.0], 3);
        assert_eq!(eig.values, vec![4.0, 9.0, 1.0]);
    }

    proptest! {
        #[test]
        fn decomposition_rebuilds_the_matrix_with_orthonormal_vectors(
            n in 1usize..12,
            entries in prop::collection::vec(-10.0f64..10.0, 144),
        ) {
            let mut matrix = vec![0.0; n * n];
            for i in 0..n {
                for j in i..n {
                    matrix[i * n + j] = entries[i * 12 + j];
                    matrix[j * n + i] = entries[i * 12 + j];
                }
            }
            let eig = decompose(&matrix, n);
            prop_assert!(reconstruction_error(&matrix, n, &eig) < 1e-10);
            for a in 0..n {
                for b in 0..n {
                    let dot: f64 = (0..n).map(|k| eig.vectors[k * n + a] * eig.vectors[k * n + b]).sum();
                    let expected = if a == b { 1.0 } else { 0.0 };
                    prop_assert!((dot - expected).abs() < 1e-12);
                }
            }
        }
    }
}
