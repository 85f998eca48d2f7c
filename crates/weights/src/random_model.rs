//! Llama-shaped model folders with seeded random weights, for tests, fixtures and benchmarks.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::dtype::DType;
use crate::error::Result;
use crate::llama_names::{weight, LayerPart, EMBED, FINAL_NORM, LM_HEAD};
use crate::model_writer::ModelWriter;
use crate::tensor::TensorMeta;

/// The sizes of a Llama-architecture model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlamaShape {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads.
    pub num_key_value_heads: usize,
    /// Whether `lm_head` shares the embedding (then it is not stored).
    pub tie_word_embeddings: bool,
}

impl LlamaShape {
    /// A model small enough for unit tests: a few thousand parameters per layer.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 64,
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            tie_word_embeddings: false,
        }
    }

    /// The Hugging Face `config.json` of this shape.
    pub fn config_json(&self) -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.hidden_size / self.num_attention_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "attention_bias": false,
            "mlp_bias": false,
        })
    }

    /// Every tensor of the model, in Hugging Face naming, stored as `dtype`.
    pub fn tensors(&self, dtype: DType) -> Vec<TensorMeta> {
        let h = self.hidden_size;
        let head_dim = h / self.num_attention_heads;
        let kv = self.num_key_value_heads * head_dim;
        let meta = |name: String, shape: Vec<usize>| TensorMeta { name, shape, dtype };
        let mut out = vec![meta(weight(EMBED), vec![self.vocab_size, h])];
        for l in 0..self.num_hidden_layers {
            let i = self.intermediate_size;
            out.extend(
                [
                    (LayerPart::InputNorm, vec![h]),
                    (LayerPart::Q, vec![h, h]),
                    (LayerPart::K, vec![kv, h]),
                    (LayerPart::V, vec![kv, h]),
                    (LayerPart::O, vec![h, h]),
                    (LayerPart::PostAttentionNorm, vec![h]),
                    (LayerPart::Gate, vec![i, h]),
                    (LayerPart::Up, vec![i, h]),
                    (LayerPart::Down, vec![h, i]),
                ]
                .map(|(part, shape)| meta(part.name(l, "weight"), shape)),
            );
        }
        out.push(meta(weight(FINAL_NORM), vec![h]));
        if !self.tie_word_embeddings {
            out.push(meta(weight(LM_HEAD), vec![self.vocab_size, h]));
        }
        out
    }
}

/// Writes a model folder of `shape` with weights drawn from a seeded generator: norms near 1,
/// matrices uniform in +-1/sqrt(fan_in), as a freshly initialised model looks.
pub fn write_random_llama(
    dir: &Path,
    shape: &LlamaShape,
    seed: u64,
    dtype: DType,
    shard_limit: u64,
) -> Result<PathBuf> {
    let metas = shape.tensors(dtype);
    let writer = ModelWriter::create(dir, &metas, shard_limit)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for m in &metas {
        let values: Vec<f32> = if m.shape.len() == 1 {
            (0..m.numel())
                .map(|_| 1.0 + rng.random_range(-0.1..0.1))
                .collect()
        } else {
            let bound = 1.0 / (m.shape[1] as f32).sqrt();
            (0..m.numel())
                .map(|_| rng.random_range(-bound..bound))
                .collect()
        };
        writer.write_f32(&m.name, &values)?;
    }
    writer.finish(&shape.config_json(), &[])
}
