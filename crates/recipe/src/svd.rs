//! Thin SVDs of row-major f32 matrices with faer, and products `U diag(x) Vh` back in f32.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::error::{RecipeError, Result};

/// The largest relative reconstruction error accepted from the f32 SVD before it is redone
/// in f64: half the error budget of rebuilt experts (1e-5). Healthy f32 SVDs of model
/// matrices measure 1e-6 to 3e-6.
pub const F32_TOLERANCE: f64 = 5e-6;

/// The arithmetic an SVD is computed in (its factors are stored in f32 either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Single precision: fast, usually accurate to a few 1e-6.
    F32,
    /// Double precision.
    F64,
}

/// A thin SVD `A = U diag(s) Vh` of an `m x n` matrix, `k = min(m, n)` (or fewer after
/// truncation), stored row-major in f32: `u` is `m x k`, `vh` is `k x n`, `s` is non-increasing.
#[derive(Clone, Debug, PartialEq)]
pub struct ThinSvd {
    /// Rows of the matrix.
    pub m: usize,
    /// Columns of the matrix.
    pub n: usize,
    /// Left singular vectors, `m x k` row-major.
    pub u: Vec<f32>,
    /// Singular values, non-increasing.
    pub s: Vec<f32>,
    /// Right singular vectors transposed, `k x n` row-major.
    pub vh: Vec<f32>,
}

impl ThinSvd {
    /// The SVD of the row-major `m x n` matrix `values`, on the calling thread (callers
    /// parallelise across matrices). `name` is for errors. See [`ThinSvd::compute_measured`].
    pub fn compute(name: &str, values: &[f32], m: usize, n: usize) -> Result<Self> {
        Ok(Self::compute_measured(name, values, m, n, Par::Seq)?.0)
    }

    /// The SVD computed in f32 and checked: when `U diag(s) Vh` misses `values` by more than
    /// [`F32_TOLERANCE`] (relative Frobenius error), it is recomputed in f64 (faer 0.24's f32
    /// path loses whole directions on very tall matrices such as a 49152 x 576 embedding; see
    /// docs/recipes.md). Returns the SVD, rounded to f32, and its measured relative error.
    /// `par` is faer's parallelism inside the one SVD.
    pub fn compute_measured(
        name: &str,
        values: &[f32],
        m: usize,
        n: usize,
        par: Par,
    ) -> Result<(Self, f64)> {
        let fast = Self::compute_in(name, values, m, n, par, Precision::F32)?;
        let error = fast.relative_error(values);
        if error <= F32_TOLERANCE {
            return Ok((fast, error));
        }
        let exact = Self::compute_in(name, values, m, n, par, Precision::F64)?;
        let error = exact.relative_error(values);
        Ok((exact, error))
    }

    /// The SVD computed in `precision` exactly as asked, unchecked (for measurements; use
    /// [`ThinSvd::compute_measured`] otherwise).
    pub fn compute_in(
        name: &str,
        values: &[f32],
        m: usize,
        n: usize,
        par: Par,
        precision: Precision,
    ) -> Result<Self> {
        if values.len() != m * n {
            return Err(RecipeError::Invalid(format!(
                "tensor `{name}`: {} values are not a {m} x {n} matrix",
                values.len()
            )));
        }
        match precision {
            Precision::F32 => Self::compute_as::<f32>(name, values, m, n, par, |x| x, |x| x),
            Precision::F64 => {
                Self::compute_as::<f64>(name, values, m, n, par, f64::from, |x| x as f32)
            }
        }
    }

    fn compute_as<T: faer::traits::RealField + Copy>(
        name: &str,
        values: &[f32],
        m: usize,
        n: usize,
        par: Par,
        from: impl Fn(f32) -> T,
        to: impl Fn(T) -> f32,
    ) -> Result<Self> {
        let k = m.min(n);
        let a = Mat::<T>::from_fn(m, n, |i, j| from(values[i * n + j]));
        let mut u = Mat::<T>::zeros(m, k);
        let mut v = Mat::<T>::zeros(n, k);
        let mut s = faer::diag::Diag::<T>::zeros(k);
        let scratch = svd::svd_scratch::<T>(
            m,
            n,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            par,
            Default::default(),
        );
        let mut buffer = MemBuffer::new(scratch);
        svd::svd(
            a.as_ref(),
            s.as_mut(),
            Some(u.as_mut()),
            Some(v.as_mut()),
            par,
            MemStack::new(&mut buffer),
            Default::default(),
        )
        .map_err(|_| RecipeError::Svd {
            name: name.to_string(),
        })?;
        let mut u32 = vec![0f32; m * k];
        for i in 0..m {
            for j in 0..k {
                u32[i * k + j] = to(u[(i, j)]);
            }
        }
        let mut vh = vec![0f32; k * n];
        for j in 0..k {
            for i in 0..n {
                vh[j * n + i] = to(v[(i, j)]);
            }
        }
        let s = (0..k).map(|i| to(s[i])).collect();
        Ok(Self {
            m,
            n,
            u: u32,
            s,
            vh,
        })
    }

    /// `||values - U diag(s) Vh|| / ||values||` (the absolute error when `values` is 0).
    pub fn relative_error(&self, values: &[f32]) -> f64 {
        let mut diff: Vec<f32> = values.iter().map(|v| -v).collect();
        self.add_scaled_product(&vec![1.0; self.rank()], &mut diff);
        let norm = |x: &[f32]| x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let reference = norm(values);
        if reference > 0.0 {
            norm(&diff) / reference
        } else {
            norm(&diff)
        }
    }

    /// Number of singular triplets kept.
    pub fn rank(&self) -> usize {
        self.s.len()
    }

    /// Keeps the `r` largest singular triplets (all when `r >= rank`).
    pub fn truncate(&mut self, r: usize) {
        let k = self.rank();
        if r >= k {
            return;
        }
        self.u = (0..self.m)
            .flat_map(|i| self.u[i * k..i * k + r].iter().copied())
            .collect();
        self.s.truncate(r);
        self.vh.truncate(r * self.n);
    }

    /// `U diag(scale * s) Vh`, row-major `m x n`, accumulated into `out` (`out += ...`).
    /// Panics when `scale` does not have `rank` entries or `out` does not have `m * n`.
    pub fn add_scaled_product(&self, scale: &[f32], out: &mut [f32]) {
        assert_eq!(scale.len(), self.rank());
        let weights: Vec<f32> = scale.iter().zip(&self.s).map(|(c, s)| c * s).collect();
        add_product(&self.u, &weights, &self.vh, self.m, self.n, out);
    }
}

/// `out += u diag(w) vh` for row-major `u` (`m x k`), `vh` (`k x n`), `out` (`m x n`), in f32
/// on the calling thread.
fn add_product(u: &[f32], w: &[f32], vh: &[f32], m: usize, n: usize, out: &mut [f32]) {
    let k = w.len();
    assert_eq!(u.len(), m * k);
    assert_eq!(vh.len(), k * n);
    assert_eq!(out.len(), m * n);
    if k == 0 || m == 0 || n == 0 {
        return;
    }
    let mut scaled = u.to_vec();
    for row in scaled.chunks_exact_mut(k) {
        row.iter_mut().zip(w).for_each(|(x, w)| *x *= w);
    }
    let lhs = MatRef::from_row_major_slice(&scaled, m, k);
    let rhs = MatRef::from_row_major_slice(vh, k, n);
    let dst = MatMut::from_row_major_slice_mut(out, m, n);
    faer::linalg::matmul::matmul(dst, Accum::Add, lhs, rhs, 1.0f32, Par::Seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(m: usize, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..m * n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    fn rel_err(a: &[f32], b: &[f32]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
        let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
        (num / den).sqrt()
    }

    #[test]
    fn reconstructs_wide_tall_and_square() {
        for (m, n) in [(40, 24), (24, 40), (32, 32), (1, 9), (9, 1)] {
            let a = random(m, n, (m * 100 + n) as u64);
            let svd = ThinSvd::compute("a", &a, m, n).unwrap();
            assert_eq!(svd.rank(), m.min(n));
            assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
            let mut back = vec![0.0; m * n];
            svd.add_scaled_product(&vec![1.0; svd.rank()], &mut back);
            assert!(rel_err(&back, &a) < 1e-5, "{m}x{n}: {}", rel_err(&back, &a));
        }
    }

    #[test]
    fn tall_low_rank_plus_noise_matrices_still_rebuild() {
        // faer 0.24's f32 SVD loses whole directions on such matrices (relative error 4e-3
        // here, s_last = 0); compute() must notice and redo it in f64.
        let (m, n, r) = (4096, 32, 8);
        let x = random(m, r, 1);
        let y = random(r, n, 2);
        let noise = random(m, n, 3);
        let a: Vec<f32> = (0..m * n)
            .map(|i| {
                let (row, col) = (i / n, i % n);
                let low: f32 = (0..r).map(|q| x[row * r + q] * y[q * n + col]).sum();
                low + 1e-3 * noise[i]
            })
            .collect();
        let (svd, error) = ThinSvd::compute_measured("a", &a, m, n, Par::Seq).unwrap();
        assert!(error < F32_TOLERANCE, "{error:.2e}");
        assert!(svd.s[n - 1] > 0.0);
        assert_eq!(svd.relative_error(&a), error);
    }

    #[test]
    fn truncation_keeps_the_leading_triplets() {
        let a = random(12, 8, 3);
        let full = ThinSvd::compute("a", &a, 12, 8).unwrap();
        let mut cut = full.clone();
        cut.truncate(3);
        assert_eq!(cut.s, full.s[..3]);
        assert_eq!(cut.vh, full.vh[..3 * 8]);
        for i in 0..12 {
            assert_eq!(cut.u[i * 3..i * 3 + 3], full.u[i * 8..i * 8 + 3]);
        }
    }
}
