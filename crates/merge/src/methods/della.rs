//! DELLA's MAGPRUNE (`della`, `della_linear`): each task-vector entry is kept with a
//! probability that grows with its magnitude rank in its row, from density - epsilon for the
//! smallest to density + epsilon for the largest; then the task vectors are rescaled, weighted
//! and combined as TIES (`della`) or summed (`della_linear`).
//!
//! Rows are what mergekit ranks over: along the second axis (the rows of a matrix), the whole
//! tensor for vectors. mergekit draws the masks from torch's global generator; here each
//! (tensor, model) pair has its own seeded stream (see [`crate::tensor_rng`]), so masks
//! match mergekit's in distribution, not entry by entry.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::fibers;
use super::spec::{spec, DefaultValue, Kind, MethodSpec, ParamSpec, Scope, WEIGHT};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, SEED, TASK_ARITHMETIC,
};
use super::TaskArithmetic;

/// Checks mergekit's condition on a DELLA model's density and epsilon: when any entry may be
/// dropped (0 < density < 1), the keep probabilities density +- epsilon lie in (0, 1).
pub(crate) fn check(density: f64, epsilon: f64) -> Result<(), String> {
    if density > 0.0 && density < 1.0 && (density + epsilon >= 1.0 || density - epsilon <= 0.0) {
        return Err(format!(
            "density {density} and epsilon {epsilon}: the keep probabilities density - epsilon to density + epsilon must lie in (0, 1); lower epsilon"
        ));
    }
    Ok(())
}

/// Zeroes entries of `delta` (a tensor of `shape`) at random, keeping each with probability
/// density + epsilon (2 r / (n - 1) - 1) for the entry of rank r (0: smallest magnitude) among
/// the n of its row; equal magnitudes are ranked by position.
pub(crate) fn magprune(
    delta: &mut [f32],
    shape: &[usize],
    density: f64,
    epsilon: f64,
    rng: &mut ChaCha8Rng,
) {
    let axis = if shape.len() >= 2 { 1 } else { usize::MAX };
    let (starts, stride, len) = fibers(shape, axis);
    // Sort keys: the magnitude's bits (which order like non-negative floats), then the
    // position, so one integer sort ranks by magnitude and then by position.
    let mut order: Vec<(u32, usize)> = Vec::with_capacity(len);
    let mut keep = vec![false; len];
    for start in starts {
        let at = |k: usize| start + k * stride;
        order.clear();
        order.extend((0..len).map(|k| (delta[at(k)].abs().to_bits(), k)));
        order.sort_unstable();
        for (rank, &(_, k)) in order.iter().enumerate() {
            // A row of one entry has no spread (mergekit divides 0 by 0 there).
            let spread = if len > 1 {
                rank as f64 / (len - 1) as f64
            } else {
                0.0
            };
            let p = (density - epsilon + spread * 2.0 * epsilon).clamp(0.0, 1.0);
            keep[k] = rng.random_bool(p);
        }
        for (k, kept) in keep.iter().enumerate() {
            if !kept {
                delta[at(k)] = 0.0;
            }
        }
    }
}

/// DELLA's `density`: a keep probability, so in [0, 1].
const DELLA_DENSITY: ParamSpec = DENSITY.within(0.0, 1.0);
/// DELLA's `epsilon`: the half-width of the band of keep probabilities.
const EPSILON: ParamSpec = spec(
    "epsilon",
    Scope::PerModel,
    Kind::Float,
    DefaultValue::Number(0.15),
)
.within(0.0, 1.0);

/// `della`: the base and at least one model.
pub static DELLA: MethodSpec = MethodSpec {
    name: "della",
    params: &[
        INT8_MASK,
        normalize(true),
        rescale(true),
        LAMBDA,
        WEIGHT,
        DELLA_DENSITY,
        EPSILON,
        SEED,
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::della(), true),
    check_model: Some(|p| check(p.density, p.epsilon)),
    ..TASK_ARITHMETIC
};

/// `della_linear`: as `della`, without sign consensus or normalization.
pub static DELLA_LINEAR: MethodSpec = MethodSpec {
    name: "della_linear",
    params: &[
        INT8_MASK,
        normalize(false),
        rescale(true),
        LAMBDA,
        WEIGHT,
        DELLA_DENSITY,
        EPSILON,
        SEED,
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::della_linear(), true),
    ..DELLA
};

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keep_probability_grows_with_magnitude_rank() {
        // 400 rows of 5 entries ranked 0..4: keep rates 0.3, 0.4, 0.5, 0.6, 0.7.
        let row = [0.5f32, -0.1, 0.3, -0.2, 0.4];
        let rows = 4000;
        let mut delta: Vec<f32> = row.iter().copied().cycle().take(5 * rows).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        magprune(&mut delta, &[rows, 5], 0.5, 0.2, &mut rng);
        for (k, want) in [(1, 0.3), (3, 0.4), (2, 0.5), (4, 0.6), (0, 0.7)] {
            let kept = (0..rows).filter(|r| delta[r * 5 + k] != 0.0).count() as f64;
            assert!(
                (kept / rows as f64 - want).abs() < 0.03,
                "rank of column {k}: kept {kept}"
            );
        }
    }

    #[test]
    fn density_and_epsilon_must_leave_probabilities_inside() {
        assert!(check(0.5, 0.15).is_ok());
        assert!(check(1.0, 0.5).is_ok());
        assert!(check(0.9, 0.15).unwrap_err().contains("lower epsilon"));
        assert!(check(0.1, 0.1).is_err());
    }
}
