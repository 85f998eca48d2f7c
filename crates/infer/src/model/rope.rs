//! Rotary position embeddings: frequencies from the config, cos/sin tables for any positions.

use candle_core::{DType, Device, Tensor, D};

use crate::config::{ArchConfig, RopeScaling};
use crate::error::Result;

/// The inverse frequencies of one model's rotary embedding.
#[derive(Clone, Debug)]
pub(crate) struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    /// Frequencies as Transformers computes them (in f32), scaling included.
    pub(crate) fn new(config: &ArchConfig) -> Self {
        let dim = config.head_dim;
        let base = config.rope_theta;
        let plain = (0..dim / 2).map(|i| 1.0 / base.powf((2 * i) as f32 / dim as f32));
        let inv_freq = match config.rope_scaling {
            RopeScaling::Default => plain.collect(),
            RopeScaling::Linear { factor } => plain.map(|f| f / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old_len,
            } => {
                let low_freq_wavelen = old_len / low_freq_factor;
                let high_freq_wavelen = old_len / high_freq_factor;
                plain
                    .map(|f| {
                        let wavelen = 2.0 * std::f32::consts::PI / f;
                        if wavelen > low_freq_wavelen {
                            f / factor
                        } else if wavelen < high_freq_wavelen {
                            f
                        } else {
                            let smooth = (old_len / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        };
        Self { inv_freq }
    }

    /// The inverse frequency of each rotated pair.
    pub(crate) fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// cos and sin tables of shape `(b, t, head_dim / 2)` for `positions`, `b` rows of `t`.
    pub(crate) fn tables(
        &self,
        positions: &[u32],
        b: usize,
        t: usize,
        device: &Device,
        dtype: DType,
    ) -> Result<RopeTables> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let make = |v: Vec<f32>| -> Result<Tensor> {
            Ok(Tensor::from_vec(v, (b, t, half), device)?.to_dtype(dtype)?)
        };
        Ok(RopeTables {
            cos: make(cos)?,
            sin: make(sin)?,
        })
    }
}

/// cos and sin for the positions of one forward pass, `(b, t, head_dim / 2)`.
pub(crate) struct RopeTables {
    cos: Tensor,
    sin: Tensor,
}

impl RopeTables {
    /// Rotates `x` of shape `(b, heads, t, head_dim)`; `differentiable` picks the composed form
    /// that autograd can go through instead of the fused kernel.
    pub(crate) fn apply(&self, x: &Tensor, differentiable: bool) -> Result<Tensor> {
        if !differentiable {
            return Ok(candle_nn::rotary_emb::rope(
                &x.contiguous()?,
                &self.cos,
                &self.sin,
            )?);
        }
        let cos = Tensor::cat(&[&self.cos, &self.cos], D::Minus1)?.unsqueeze(1)?;
        let sin = Tensor::cat(&[&self.sin, &self.sin], D::Minus1)?.unsqueeze(1)?;
        let half = x.dim(D::Minus1)? / 2;
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn config(extra: serde_json::Value) -> ArchConfig {
        let mut raw = json!({"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 10});
        for (k, v) in extra.as_object().unwrap() {
            raw[k] = v.clone();
        }
        ArchConfig::from_json(Path::new("c.json"), &raw).unwrap()
    }

    #[test]
    fn fused_and_composed_rotations_agree() {
        let rope = Rope::new(&config(json!({})));
        let tables = rope
            .tables(&[3, 4, 5, 0, 1, 2], 2, 3, &Device::Cpu, DType::F32)
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 2, 3, 16), &Device::Cpu).unwrap();
        let fused = tables.apply(&x, false).unwrap();
        let composed = tables.apply(&x, true).unwrap();
        let diff = (fused - composed)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
    }

    #[test]
    fn position_zero_is_identity() {
        let rope = Rope::new(&config(json!({})));
        let tables = rope.tables(&[0], 1, 1, &Device::Cpu, DType::F32).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 2, 1, 16), &Device::Cpu).unwrap();
        let y = tables.apply(&x, false).unwrap();
        assert_eq!(
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let plain = Rope::new(&config(json!({})));
        let scaled = Rope::new(&config(
            json!({"rope_scaling": {"rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}),
        ));
        assert_eq!(plain.inv_freq[0], scaled.inv_freq[0]);
        let last = plain.inv_freq.len() - 1;
        assert!((scaled.inv_freq[last] - plain.inv_freq[last] / 8.0).abs() < 1e-12);
    }
}
