//! Grouped-query attention for f32 on the CPU, computed straight on the key/value cache: new keys
//! and values are written in place, padding and out-of-window slots are skipped instead of
//! masked, and each (row, head) is one task, so no mask, score or probability tensor is built.

use candle_core::Tensor;
use rayon::prelude::*;

use super::host::with_slice;
use super::kv_cache::HostLayer;
use super::mask::SlotLayout;
use crate::error::{InferError, Result};
use crate::vector_math;

/// Attention of `q` `(b, heads, t, head_dim)` over the cached slots plus the new `k`, `v`
/// `(b, kv_heads, t, head_dim)`, which are written into `cache` at slots `past..past + t`.
/// Returns `(b, heads, t, head_dim)`. A query slot sees the real slots of its row up to itself
/// (within `window`); a padding query sees only itself, as in [`SlotLayout::mask`].
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    layout: &SlotLayout,
    window: Option<usize>,
    cache: HostLayer<'_>,
) -> Result<Tensor> {
    let (b, heads, t, d) = q.dims4()?;
    let kv_heads = k.dim(1)?;
    let (past, capacity) = (layout.past, cache.capacity);
    if layout.starts.len() != b || cache.rows.len() != b || layout.t != t {
        return Err(InferError::Invalid(format!(
            "attention over {b} rows of {t} slots does not match a layout of {} rows of {} \
             slots and a cache of {} rows",
            layout.starts.len(),
            layout.t,
            cache.rows.len()
        )));
    }
    if past + t > capacity {
        return Err(InferError::Invalid(format!(
            "key/value cache holds {capacity} slots, {t} more do not fit after {past}"
        )));
    }
    let block = t * d;
    with_slice(k, |k| {
        with_slice(v, |v| {
            for (i, &r) in cache.rows.iter().enumerate() {
                for h in 0..kv_heads {
                    let from = (i * kv_heads + h) * block;
                    let to = ((r * kv_heads + h) * capacity + past) * d;
                    cache.k[to..to + block].copy_from_slice(&k[from..from + block]);
                    cache.v[to..to + block].copy_from_slice(&v[from..from + block]);
                }
            }
        })
    })??;
    *cache.len = past + t;
    let (keys, values, rows) = (&*cache.k, &*cache.v, cache.rows);
    let group = heads / kv_heads;
    let scale = (1.0 / (d as f64).sqrt()) as f32;
    let mut out = vec![0f32; b * heads * block];
    with_slice(q, |q| {
        out.par_chunks_mut(block)
            .enumerate()
            .for_each(|(task, out)| {
                let (i, h) = (task / heads, task % heads);
                let at = (rows[i] * kv_heads + h / group) * capacity * d;
                let head = Head {
                    q: &q[task * block..(task + 1) * block],
                    keys: &keys[at..at + capacity * d],
                    values: &values[at..at + capacity * d],
                    start: layout.starts[i],
                    past,
                    window,
                    scale,
                    d,
                };
                head.run(out);
            });
    })?;
    Ok(Tensor::from_vec(out, (b, heads, t, d), q.device())?)
}

/// One query head of one row: its `t` queries of width `d` and the key/value slots of its row.
struct Head<'a> {
    q: &'a [f32],
    keys: &'a [f32],
    values: &'a [f32],
    start: usize,
    past: usize,
    window: Option<usize>,
    scale: f32,
    d: usize,
}

impl Head<'_> {
    fn run(&self, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { self.run_avx2(out) };
            return;
        }
        self.run_portable(out);
    }

    /// The same code compiled for AVX2; without fused multiply-adds, so it computes exactly
    /// what the portable version does.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, out: &mut [f32]) {
        self.run_portable(out);
    }

    #[inline(always)]
    fn run_portable(&self, out: &mut [f32]) {
        let d = self.d;
        let mut query = vec![0f32; d];
        let mut scores = Vec::new();
        for (j, (q, out)) in self
            .q
            .chunks_exact(d)
            .zip(out.chunks_exact_mut(d))
            .enumerate()
        {
            let slot = self.past + j;
            let first = if slot < self.start {
                slot
            } else {
                let window_start = self.window.map_or(0, |w| (slot + 1).saturating_sub(w));
                self.start.max(window_start)
            };
            for (x, &y) in query.iter_mut().zip(q) {
                *x = y * self.scale;
            }
            scores.clear();
            let mut max = f32::NEG_INFINITY;
            for key in self.keys[first * d..(slot + 1) * d].chunks_exact(d) {
                let s = vector_math::dot(&query, key);
                max = max.max(s);
                scores.push(s);
            }
            let sum = vector_math::exp_shifted_sum(&mut scores, max) as f32;
            out.fill(0.0);
            let values = self.values[first * d..(slot + 1) * d].chunks_exact(d);
            for (value, &e) in values.zip(&scores) {
                let p = e / sum;
                for (o, &x) in out.iter_mut().zip(value) {
                    *o += p * x;
                }
            }
        }
    }
}
