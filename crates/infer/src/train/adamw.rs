//! AdamW over one flat buffer of parameters, updated in place and in parallel; the same
//! arithmetic as candle-nn's `AdamW` (bias-corrected moments, decoupled weight decay).

use rayon::prelude::*;

use crate::prefault::prefault;

/// Values per rayon task.
const BLOCK: usize = 1 << 14;

/// Optimizer state for `len` parameters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AdamW {
    pub(crate) m: Vec<f32>,
    pub(crate) v: Vec<f32>,
    /// Updates taken so far (the bias correction's exponent).
    pub(crate) step: i32,
    pub(crate) weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    pub(crate) fn new(len: usize, weight_decay: f64) -> Self {
        let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
        prefault(&mut m);
        prefault(&mut v);
        Self {
            m,
            v,
            step: 0,
            weight_decay,
        }
    }

    /// A state read back from a checkpoint.
    pub(crate) fn from_parts(m: Vec<f32>, v: Vec<f32>, step: i32, weight_decay: f64) -> Self {
        Self {
            m,
            v,
            step,
            weight_decay,
        }
    }

    /// One update of `params` by `grads` at learning rate `lr`.
    pub(crate) fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) {
        self.step += 1;
        let scale_m = (1.0 / (1.0 - BETA1.powi(self.step))) as f32;
        let scale_v = (1.0 / (1.0 - BETA2.powi(self.step))) as f32;
        let decay = (1.0 - lr * self.weight_decay) as f32;
        let (b1, b2, eps, lr) = (BETA1 as f32, BETA2 as f32, EPS as f32, lr as f32);
        params
            .par_chunks_mut(BLOCK)
            .zip(grads.par_chunks(BLOCK))
            .zip(self.m.par_chunks_mut(BLOCK))
            .zip(self.v.par_chunks_mut(BLOCK))
            .for_each(|(((p, g), m), v)| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    *m = *m * b1 + g * (1.0 - b1);
                    *v = *v * b2 + g * g * (1.0 - b2);
                    let adjusted = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
                    *p = *p * decay - adjusted * lr;
                }
            });
    }
}
