//! Causal grouped-query attention over packed sequences, forward and backward, one small
//! product per (sequence, head) on each core.

use rayon::prelude::*;

use super::matmul::{matmul, MatMut, MatRef, SharedMut, Threads};
use crate::vector_math;

/// The shape of one attention call: packed rows of several sequences.
#[derive(Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
    /// Keys further back than this many positions are hidden (sliding-window layers).
    pub(crate) window: Option<usize>,
}

impl Heads {
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
    fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }
    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// Where each sequence's rows are and where its attention probabilities are kept.
pub(crate) struct Packing {
    /// `(first row, length)` per sequence.
    pub(crate) seqs: Vec<(usize, usize)>,
    /// Per sequence: the offset of its `(heads, len, len)` probabilities.
    prob_offsets: Vec<usize>,
    /// Values of all probabilities for `heads` heads.
    pub(crate) prob_len: usize,
}

impl Packing {
    pub(crate) fn new(lengths: &[usize], heads: usize) -> Self {
        let (mut row, mut prob) = (0, 0);
        let mut seqs = Vec::with_capacity(lengths.len());
        let mut prob_offsets = Vec::with_capacity(lengths.len());
        for &len in lengths {
            seqs.push((row, len));
            prob_offsets.push(prob);
            row += len;
            prob += heads * len * len;
        }
        Self {
            seqs,
            prob_offsets,
            prob_len: prob,
        }
    }
}

/// `out = softmax(q kᵀ / √d + causal mask) v` per sequence and head; `probs` keeps the
/// softmax for the backward.
pub(crate) fn forward(
    shape: Heads,
    packing: &Packing,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &mut [f32],
    out: &mut [f32],
) {
    let (qw, kw, d) = (shape.q_width(), shape.kv_width(), shape.head_dim);
    let out = SharedMut::new(out);
    let jobs: Vec<(usize, usize)> = (0..packing.seqs.len())
        .flat_map(|s| (0..shape.heads).map(move |h| (s, h)))
        .collect();
    let probs = SharedMut::new(probs);
    jobs.into_par_iter().for_each(|(s, h)| {
        let (row, len) = packing.seqs[s];
        let g = h / shape.group();
        let p_off = packing.prob_offsets[s] + h * len * len;
        let qh = MatRef::strided(q, row * qw + h * d, len, d, qw, 1);
        let kh = MatRef::strided(k, row * kw + g * d, len, d, kw, 1);
        let vh = MatRef::strided(v, row * kw + g * d, len, d, kw, 1);
        // SAFETY: task (s, h) alone writes the probabilities of (s, h).
        let p = unsafe { probs.slice(p_off, len * len) };
        matmul(
            MatMut::rows(p, len, len),
            qh,
            kh.t(),
            shape.scale(),
            false,
            Threads::One,
        );
        for (i, row) in p.chunks_mut(len).enumerate() {
            let first = shape.window.map_or(0, |w| (i + 1).saturating_sub(w));
            vector_math::softmax_in_place(&mut row[first..=i]);
            row[..first].fill(0.0);
            row[i + 1..].fill(0.0);
        }
        matmul(
            // SAFETY: task (s, h) alone writes head h's columns of sequence s's rows.
            unsafe { MatMut::shared(out, row * qw + h * d, len, d, qw) },
            MatRef::rows(p, len, len),
            vh,
            1.0,
            false,
            Threads::One,
        );
    });
}

/// Backward of [`forward`]: overwrites `dq`, `dk`, `dv` with the gradients for `d_out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    shape: Heads,
    packing: &Packing,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    d_out: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (qw, kw, d) = (shape.q_width(), shape.kv_width(), shape.head_dim);
    let (dq, dk, dv) = (SharedMut::new(dq), SharedMut::new(dk), SharedMut::new(dv));
    let jobs: Vec<(usize, usize)> = (0..packing.seqs.len())
        .flat_map(|s| (0..shape.kv_heads).map(move |g| (s, g)))
        .collect();
    jobs.into_par_iter().for_each(|(s, g)| {
        let (row, len) = packing.seqs[s];
        let kg = MatRef::strided(k, row * kw + g * d, len, d, kw, 1);
        let vg = MatRef::strided(v, row * kw + g * d, len, d, kw, 1);
        let mut dp = vec![0f32; len * len];
        for h in g * shape.group()..(g + 1) * shape.group() {
            let p_off = packing.prob_offsets[s] + h * len * len;
            let p = &probs[p_off..p_off + len * len];
            let doh = MatRef::strided(d_out, row * qw + h * d, len, d, qw, 1);
            let qh = MatRef::strided(q, row * qw + h * d, len, d, qw, 1);
            let first_head = h == g * shape.group();
            matmul(
                // SAFETY: task (s, g) alone writes kv head g's columns of sequence s's rows.
                unsafe { MatMut::shared(dv, row * kw + g * d, len, d, kw) },
                MatRef::rows(p, len, len).t(),
                doh,
                1.0,
                !first_head,
                Threads::One,
            );
            matmul(
                MatMut::rows(&mut dp, len, len),
                doh,
                vg.t(),
                1.0,
                false,
                Threads::One,
            );
            for (dp, p) in dp.chunks_mut(len).zip(p.chunks(len)) {
                let dot: f32 = dp.iter().zip(p).map(|(a, b)| a * b).sum();
                for (dp, p) in dp.iter_mut().zip(p) {
                    *dp = p * (*dp - dot);
                }
            }
            matmul(
                // SAFETY: head h belongs to group g only, so task (s, g) alone writes it.
                unsafe { MatMut::shared(dq, row * qw + h * d, len, d, qw) },
                MatRef::rows(&dp, len, len),
                kg,
                shape.scale(),
                false,
                Threads::One,
            );
            matmul(
                // SAFETY: as for dv.
                unsafe { MatMut::shared(dk, row * kw + g * d, len, d, kw) },
                MatRef::rows(&dp, len, len).t(),
                qh,
                shape.scale(),
                !first_head,
                Threads::One,
            );
        }
    });
}
