//! Row-wise forward and backward kernels of the trainer: RMS norm, SwiGLU, rotary embedding,
//! bias sums, low-rank row updates; parallel over rows.

use rayon::prelude::*;

use crate::simd_dispatch::dispatch;
use crate::vector_math;

/// Rows per rayon task: enough work to amortise the task, few enough to balance two cores.
const ROW_BLOCK: usize = 16;

/// `out = x / rms(x) * w` per row of `dim`; `rstd` gets each row's `1 / rms`.
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f64, out: &mut [f32], rstd: &mut [f32]) {
    let dim = w.len();
    out.par_chunks_mut(dim * ROW_BLOCK)
        .zip(rstd.par_chunks_mut(ROW_BLOCK))
        .zip(x.par_chunks(dim * ROW_BLOCK))
        .for_each(|((out, rstd), x)| rms_norm_rows(x, w, eps as f32, out, rstd));
}

dispatch! {
    fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32], rstd: &mut [f32]) {
        let dim = w.len();
        for ((o, r), x) in out.chunks_mut(dim).zip(rstd.iter_mut()).zip(x.chunks(dim)) {
            let ms = vector_math::dot(x, x) / dim as f32;
            *r = 1.0 / (ms + eps).sqrt();
            for ((o, x), w) in o.iter_mut().zip(x).zip(w) {
                *o = w * (x * *r);
            }
        }
    }
}

/// Backward of [`rms_norm`]: `dx += ∂/∂x`, and `dw += ∂/∂w` when given.
pub(crate) fn rms_norm_backward(
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dw: Option<&mut [f32]>,
) {
    let dim = w.len();
    // One partial sum per fixed block of rows, added in block order: rayon's fold/reduce
    // splits adaptively, so its summation order (and the float result) would vary from run
    // to run, and a resumed run must end with exactly the weights of an uninterrupted one.
    let partials: Vec<Vec<f32>> = dx
        .par_chunks_mut(dim * ROW_BLOCK)
        .zip(dy.par_chunks(dim * ROW_BLOCK))
        .zip(x.par_chunks(dim * ROW_BLOCK))
        .zip(rstd.par_chunks(ROW_BLOCK))
        .map(|(((dx, dy), x), rstd)| {
            let mut acc = vec![0f32; if dw.is_some() { dim } else { 0 }];
            let mut scratch = vec![0f32; dim];
            rms_norm_backward_rows(dy, x, w, rstd, dx, &mut acc, &mut scratch);
            acc
        })
        .collect();
    if let Some(dw) = dw {
        add_in_order(dw, &partials);
    }
}

dispatch! {
    /// [`rms_norm_backward`] over a block of rows; `acc` (empty or `dim` long) sums `∂/∂w`,
    /// `scratch` holds `dy · w` of a row.
    fn rms_norm_backward_rows(
        dy: &[f32],
        x: &[f32],
        w: &[f32],
        rstd: &[f32],
        dx: &mut [f32],
        acc: &mut [f32],
        scratch: &mut [f32],
    ) {
        let dim = w.len();
        for (((dx, dy), x), &r) in dx
            .chunks_mut(dim)
            .zip(dy.chunks(dim))
            .zip(x.chunks(dim))
            .zip(rstd)
        {
            for ((s, dy), w) in scratch.iter_mut().zip(dy).zip(w) {
                *s = dy * w;
            }
            let mean = vector_math::dot(scratch, x) * r / dim as f32;
            for ((dx, s), x) in dx.iter_mut().zip(&*scratch).zip(x) {
                let xhat = x * r;
                *dx += r * (s - xhat * mean);
            }
            for ((a, dy), x) in acc.iter_mut().zip(dy).zip(x) {
                *a += dy * x * r;
            }
        }
    }
}

/// `total += Σ partials`, the partials added one after another in their order.
fn add_in_order(total: &mut [f32], partials: &[Vec<f32>]) {
    let mut sum = vec![0f32; total.len()];
    for p in partials {
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    for (t, s) in total.iter_mut().zip(sum) {
        *t += s;
    }
}

/// Backward of [`vector_math::swiglu`]: overwrites `gate` with `∂/∂gate` and `up` with `∂/∂up`.
pub(crate) fn swiglu_backward(d_out: &[f32], gate: &mut [f32], up: &mut [f32]) {
    gate.par_chunks_mut(4096)
        .zip(up.par_chunks_mut(4096))
        .zip(d_out.par_chunks(4096))
        .for_each(|((g, u), d)| vector_math::silu_mul_backward(d, g, u));
}

/// `dst (+)= v + c · rows` for every row, where each row of `src` is `[v | c]`: `dst` rows of
/// width `w`, `src` rows of width `w + r`, `rows` an `(r, w)` matrix, `r >= 1`. The low-rank
/// term is added while each row is in L1, in place of a product with `r`-wide operands and a
/// pass of its own over `dst`.
pub(crate) fn add_low_rank(dst: &mut [f32], src: &[f32], rows: &[f32], r: usize, accumulate: bool) {
    let w = rows.len() / r;
    dst.par_chunks_mut(w * ROW_BLOCK)
        .zip(src.par_chunks((w + r) * ROW_BLOCK))
        .for_each(|(dst, src)| {
            for (dst, src) in dst.chunks_exact_mut(w).zip(src.chunks_exact(w + r)) {
                let (v, c) = src.split_at(w);
                add_low_rank_row(dst, v, c, rows, accumulate);
            }
        });
}

dispatch! {
    fn add_low_rank_row(dst: &mut [f32], src: &[f32], c: &[f32], rows: &[f32], accumulate: bool) {
        if accumulate {
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
        } else {
            dst.copy_from_slice(src);
        }
        for (&c, row) in c.iter().zip(rows.chunks_exact(dst.len())) {
            dst.iter_mut().zip(row).for_each(|(d, a)| *d += c * a);
        }
    }
}

/// Rotary embedding tables for positions `0..len`: `cos[p * half + i]`, `sin[...]`.
pub(crate) struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTable {
    pub(crate) fn new(inv_freq: &[f32], len: usize) -> Self {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for p in 0..len {
            for &f in inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self { cos, sin, half }
    }

    /// Rotates every head of every row of `x` (rows of `heads * 2 * half`) in place, row `r`
    /// at position `positions[r]`; `inverse` applies the transposed rotation (the backward).
    pub(crate) fn rotate(&self, x: &mut [f32], positions: &[u32], inverse: bool) {
        let half = self.half;
        let width = x.len() / positions.len().max(1);
        let sign = if inverse { -1.0 } else { 1.0 };
        x.par_chunks_mut(width * ROW_BLOCK)
            .zip(positions.par_chunks(ROW_BLOCK))
            .for_each(|(rows, positions)| {
                for (row, &p) in rows.chunks_mut(width).zip(positions) {
                    let cos = &self.cos[p as usize * half..][..half];
                    let sin = &self.sin[p as usize * half..][..half];
                    rotate_row(row, cos, sin, sign);
                }
            });
    }
}

dispatch! {
    /// Rotates each head of `row` by the angles whose cosines and sines (times `sign`) are given.
    fn rotate_row(row: &mut [f32], cos: &[f32], sin: &[f32], sign: f32) {
        let half = cos.len();
        for head in row.chunks_exact_mut(2 * half) {
            let (x1, x2) = head.split_at_mut(half);
            for (((a, b), &c), &s) in x1.iter_mut().zip(x2.iter_mut()).zip(cos).zip(sin) {
                let s = sign * s;
                let (x, y) = (*a, *b);
                *a = x * c - y * s;
                *b = y * c + x * s;
            }
        }
    }
}

/// Adds `bias` to every row of `y`.
pub(crate) fn add_bias(y: &mut [f32], bias: &[f32]) {
    y.par_chunks_mut(bias.len()).for_each(|row| {
        for (y, b) in row.iter_mut().zip(bias) {
            *y += b;
        }
    });
}

/// `db += Σ_rows dy`.
pub(crate) fn bias_backward(dy: &[f32], db: &mut [f32]) {
    let dim = db.len();
    let partials: Vec<Vec<f32>> = dy
        .par_chunks(dim * ROW_BLOCK)
        .map(|rows| {
            let mut acc = vec![0f32; dim];
            for row in rows.chunks(dim) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    add_in_order(db, &partials);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn add_low_rank_equals_its_definition(
            (rows, w, r) in (1usize..40, 1usize..40, 1usize..5),
            accumulate in proptest::bool::ANY,
        ) {
            let src_w = w + r;
            let value = |i: usize, salt: f32| ((i as f32 + salt) * 0.37).sin();
            let src: Vec<f32> = (0..rows * src_w).map(|i| value(i, 0.5)).collect();
            let a: Vec<f32> = (0..r * w).map(|i| value(i, 2.5)).collect();
            let before: Vec<f32> = (0..rows * w).map(|i| value(i, 3.5)).collect();
            let mut dst = before.clone();
            add_low_rank(&mut dst, &src, &a, r, accumulate);
            for i in 0..rows {
                for j in 0..w {
                    let mut want = src[i * src_w + j] + if accumulate { before[i * w + j] } else { 0.0 };
                    for k in 0..r {
                        want += src[i * src_w + w + k] * a[k * w + j];
                    }
                    proptest::prop_assert!((dst[i * w + j] - want).abs() < 1e-5);
                }
            }
        }
    }

    /// Central finite difference of `f` at `x` in coordinate `i`.
    fn numeric(f: &dyn Fn(&[f32]) -> f32, x: &[f32], i: usize) -> f32 {
        let h = 1e-2;
        let mut a = x.to_vec();
        let mut b = x.to_vec();
        a[i] += h;
        b[i] -= h;
        (f(&a) - f(&b)) / (2.0 * h)
    }

    #[test]
    fn rms_norm_backward_matches_finite_differences() {
        let dim = 6;
        let x: Vec<f32> = (0..2 * dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..dim).map(|i| 0.5 + i as f32 * 0.1).collect();
        let dy: Vec<f32> = (0..2 * dim).map(|i| (i as f32 * 0.91).cos()).collect();
        let loss = |x: &[f32]| {
            let mut out = vec![0.0; x.len()];
            let mut rstd = vec![0.0; 2];
            rms_norm(x, &w, 1e-5, &mut out, &mut rstd);
            out.iter().zip(&dy).map(|(o, d)| o * d).sum::<f32>()
        };
        let mut out = vec![0.0; x.len()];
        let mut rstd = vec![0.0; 2];
        rms_norm(&x, &w, 1e-5, &mut out, &mut rstd);
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; dim];
        rms_norm_backward(&dy, &x, &w, &rstd, &mut dx, Some(&mut dw));
        for (i, d) in dx.iter().enumerate() {
            assert!((d - numeric(&loss, &x, i)).abs() < 1e-3, "dx[{i}]");
        }
        let want_dw: Vec<f32> = (0..dim)
            .map(|j| {
                (0..2)
                    .map(|r| dy[r * dim + j] * x[r * dim + j] * rstd[r])
                    .sum()
            })
            .collect();
        for (a, b) in dw.iter().zip(&want_dw) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn swiglu_backward_matches_finite_differences() {
        let g: Vec<f32> = (0..8).map(|i| i as f32 * 0.6 - 2.0).collect();
        let u: Vec<f32> = (0..8).map(|i| (i as f32).cos()).collect();
        let d: Vec<f32> = (0..8).map(|i| 1.0 + i as f32 * 0.1).collect();
        let loss_g = |g: &[f32]| {
            let mut o = vec![0.0; 8];
            vector_math::swiglu(g, &u, &mut o);
            o.iter().zip(&d).map(|(o, d)| o * d).sum::<f32>()
        };
        let (mut dg, mut du) = (g.clone(), u.clone());
        swiglu_backward(&d, &mut dg, &mut du);
        for i in 0..8 {
            assert!((dg[i] - numeric(&loss_g, &g, i)).abs() < 1e-3, "dgate[{i}]");
            assert!(
                (du[i] - d[i] * g[i] * (1.0 / (1.0 + (-g[i]).exp()))).abs() < 1e-6,
                "dup[{i}]"
            );
        }
    }

    #[test]
    fn inverse_rotation_undoes_the_rotation() {
        let table = RopeTable::new(&[1.0, 0.1], 5);
        let x: Vec<f32> = (0..24).map(|i| i as f32 - 7.0).collect();
        let mut y = x.clone();
        table.rotate(&mut y, &[0, 3, 4], false);
        assert_ne!(x, y);
        table.rotate(&mut y, &[0, 3, 4], true);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-4);
        }
    }
}
