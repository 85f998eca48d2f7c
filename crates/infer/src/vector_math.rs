//! Vectorisable f32 math: `exp` and the elementwise kernels built on it (softmax rows, SwiGLU
//! and its backward), compiled for AVX-512 and AVX2 as well and picked at run time, and a dot
//! product in lanes.
//!
//! `f32::exp` is a call into libm that the compiler cannot vectorise: with it, SwiGLU and the
//! loss's log-softmax over 49,152 logits took 30% of a SmolLM2 LoRA step (docs/benchmarks.md).
//! The `exp` here is plain arithmetic (Cody-Waite range reduction and a degree-6 polynomial), so
//! the loops below become 16-lane vector code.

use rayon::prelude::*;

use crate::simd_dispatch::dispatch;

/// Lanes of the explicit accumulators: one AVX-512 register of f32, two of f64.
const LANES: usize = 16;

/// `e^x`, within 2 ulp of the exact value wherever the result is a normal f32; 0 below
/// -103.97, infinity above 88.72, NaN for NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n * LN2_HI` is exact for every `n` used.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer, without a libm call.
    const ROUND: f32 = 12_582_912.0;
    const MAX: f32 = 88.722_84;
    const MIN: f32 = -103.972_08;
    let xc = x.clamp(MIN, MAX);
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // Cephes' minimax polynomial for e^r - 1 - r on |r| <= ln 2 / 2.
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    // 2^n in two factors, each a normal f32 for n in [-150, 128], so that results in the
    // subnormal range and just below overflow come out of the multiplications rounded.
    let n = n as i32;
    let half = n >> 1;
    let pow = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let y = e * pow(half) * pow(n - half);
    if x.is_nan() {
        x
    } else if x > MAX {
        f32::INFINITY
    } else if x < MIN {
        0.0
    } else {
        y
    }
}

/// A dot product in 16 lanes, which the compiler turns into vector adds and multiplies.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (a_main, a_rest) = a.split_at(a.len() / LANES * LANES);
    let (b_main, b_rest) = b.split_at(a_main.len());
    for (x, y) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

dispatch! {
    /// Replaces each `x` by `e^(x - shift)` and returns their sum, accumulated in f64 in a
    /// fixed order (the same on every run).
    pub(crate) fn exp_shifted_sum(xs: &mut [f32], shift: f32) -> f64 {
        let mut acc = [0f64; LANES];
        let mut chunks = xs.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (x, a) in chunk.iter_mut().zip(&mut acc) {
                *x = exp(*x - shift);
                *a += *x as f64;
            }
        }
        let mut tail = 0f64;
        for x in chunks.into_remainder() {
            *x = exp(*x - shift);
            tail += *x as f64;
        }
        acc.iter().sum::<f64>() + tail
    }
}

dispatch! {
    /// The largest value other than NaN (-inf when there is none), 16 lanes at a time: a
    /// greedy step over 49,152 logits per row took 5% of batched decoding one value at a time.
    pub(crate) fn max(values: &[f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let mut chunks = values.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (m, &v) in lanes.iter_mut().zip(chunk) {
                *m = if v > *m { v } else { *m };
            }
        }
        let mut max = f32::NEG_INFINITY;
        for &v in lanes.iter().chain(chunks.remainder()) {
            if v > max {
                max = v;
            }
        }
        max
    }
}

/// Softmax of `row` in place: `e^(x - max) / Σ`.
pub(crate) fn softmax_in_place(row: &mut [f32]) {
    let max = max(row);
    let sum = exp_shifted_sum(row, max);
    let inv = (1.0 / sum) as f32;
    for x in row {
        *x *= inv;
    }
}

/// Values per rayon task of [`swiglu`]: enough to amortise the task, a few tasks per core even
/// for one decode step's rows.
const SWIGLU_CHUNK: usize = 1 << 14;

/// `out = silu(gate) * up`, elementwise, in chunks on rayon's threads (generation and training).
pub(crate) fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(SWIGLU_CHUNK)
        .zip(gate.par_chunks(SWIGLU_CHUNK))
        .zip(up.par_chunks(SWIGLU_CHUNK))
        .for_each(|((o, g), u)| silu_mul(g, u, o));
}

dispatch! {
    /// `out = silu(gate) * up`, elementwise.
    fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g * sigmoid(g) * u;
        }
    }
}

dispatch! {
    /// Backward of [`silu_mul`] given `∂/∂out`: overwrites `gate` with `∂/∂gate` and `up`
    /// with `∂/∂up`.
    pub(crate) fn silu_mul_backward(d_out: &[f32], gate: &mut [f32], up: &mut [f32]) {
        for ((g, u), &d) in gate.iter_mut().zip(up.iter_mut()).zip(d_out) {
            let s = sigmoid(*g);
            let silu = *g * s;
            let dg = d * *u * s * (1.0 + *g * (1.0 - s));
            *u = d * silu;
            *g = dg;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite f32 of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    proptest::proptest! {
        #[test]
        fn exp_is_within_two_ulp_of_the_exact_value_over_the_normal_range(x in -87.3f32..88.7) {
            let exact = (x as f64).exp() as f32;
            proptest::prop_assert!(ulps(exp(x), exact) <= 2, "exp({x}) = {} vs {exact}", exp(x));
        }

        #[test]
        fn kernels_equal_their_scalar_definition(
            values in proptest::collection::vec(-30f32..30.0, 0..70),
            shift in -5f32..5.0,
        ) {
            let mut shifted = values.clone();
            let sum = exp_shifted_sum(&mut shifted, shift);
            let want: Vec<f64> = values.iter().map(|&v| ((v - shift) as f64).exp()).collect();
            for (got, want) in shifted.iter().zip(&want) {
                proptest::prop_assert!(((*got as f64) - want).abs() <= 3e-7 * want);
            }
            let want_sum: f64 = want.iter().sum();
            proptest::prop_assert!((sum - want_sum).abs() <= 1e-6 * want_sum);

            let up: Vec<f32> = values.iter().map(|v| 0.5 - v / 7.0).collect();
            let mut out = vec![0f32; values.len()];
            silu_mul(&values, &up, &mut out);
            let d_out: Vec<f32> = values.iter().map(|v| (v * 0.3).sin()).collect();
            let (mut dg, mut du) = (values.clone(), up.clone());
            silu_mul_backward(&d_out, &mut dg, &mut du);
            for i in 0..values.len() {
                let (g, u, d) = (values[i] as f64, up[i] as f64, d_out[i] as f64);
                let s = 1.0 / (1.0 + (-g).exp());
                let close = |got: f32, want: f64| ((got as f64) - want).abs() <= 1e-5 * (1.0 + want.abs());
                proptest::prop_assert!(close(out[i], g * s * u));
                proptest::prop_assert!(close(du[i], d * g * s));
                proptest::prop_assert!(close(dg[i], d * u * s * (1.0 + g * (1.0 - s))));
            }
        }
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        // Subnormal results stay close to the exact value.
        let exact = (-100f64).exp() as f32;
        assert!((exp(-100.0) - exact).abs() <= exact * 1e-3);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut row = vec![1.0f32, 3.0, -2.0, 3.0, 0.5];
        softmax_in_place(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(row[1], row[3]);
        assert!(row[1] > row[0] && row[0] > row[4] && row[4] > row[2]);
    }
}
