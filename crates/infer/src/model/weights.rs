//! The tensors of a Llama-family model, by Hugging Face name, and how they are loaded and replaced.

use candle_core::{DType, Device, Tensor};
use cycleqd_weights::llama_names::{weight, LayerPart, EMBED, FINAL_NORM, LM_HEAD};

use crate::config::ArchConfig;
use crate::error::{InferError, Result};

/// A projection `y = x W^T + b`.
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
}

/// The tensors of one decoder layer.
#[derive(Clone, Debug)]
pub(crate) struct LayerWeights {
    pub(crate) input_norm: Tensor,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) q_norm: Option<Tensor>,
    pub(crate) k_norm: Option<Tensor>,
    pub(crate) post_norm: Tensor,
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
}

/// All tensors of a model.
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    pub(crate) embed: Tensor,
    pub(crate) layers: Vec<LayerWeights>,
    pub(crate) norm: Tensor,
    /// The embedding itself when the config ties them.
    pub(crate) lm_head: Tensor,
}

/// One tensor the model needs: its Hugging Face name and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
}

/// The tensors a model with `config` reads, in the order [`Weights::build`] consumes them and
/// [`Weights::tensors`] lists them. A tied `lm_head` is not among them.
pub fn tensor_specs(config: &ArchConfig) -> Vec<TensorSpec> {
    let mut specs = Vec::new();
    let mut push = |name: String, shape: Vec<usize>| specs.push(TensorSpec { name, shape });
    let (h, i) = (config.hidden_size, config.intermediate_size);
    let q_out = config.num_attention_heads * config.head_dim;
    let kv_out = config.num_key_value_heads * config.head_dim;
    push(weight(EMBED), vec![config.vocab_size, h]);
    for l in 0..config.num_hidden_layers {
        push(LayerPart::InputNorm.name(l, "weight"), vec![h]);
        let attention_shapes = [
            (q_out, h, config.qkv_bias),
            (kv_out, h, config.qkv_bias),
            (kv_out, h, config.qkv_bias),
            (h, q_out, config.o_bias),
        ];
        for (part, (out, inp, bias)) in LayerPart::ATTENTION.into_iter().zip(attention_shapes) {
            push(part.name(l, "weight"), vec![out, inp]);
            if bias {
                push(part.name(l, "bias"), vec![out]);
            }
        }
        if config.qk_norm {
            push(LayerPart::QNorm.name(l, "weight"), vec![config.head_dim]);
            push(LayerPart::KNorm.name(l, "weight"), vec![config.head_dim]);
        }
        push(LayerPart::PostAttentionNorm.name(l, "weight"), vec![h]);
        for (part, (out, inp)) in LayerPart::MLP.into_iter().zip([(i, h), (i, h), (h, i)]) {
            push(part.name(l, "weight"), vec![out, inp]);
            if config.mlp_bias {
                push(part.name(l, "bias"), vec![out]);
            }
        }
    }
    push(weight(FINAL_NORM), vec![h]);
    if !config.tie_word_embeddings {
        push(weight(LM_HEAD), vec![config.vocab_size, h]);
    }
    specs
}

impl Weights {
    /// Builds the weights from `fetch`, which is called once per spec of [`tensor_specs`], in order,
    /// and must return a tensor of that shape.
    pub(crate) fn build(
        config: &ArchConfig,
        mut fetch: impl FnMut(&TensorSpec) -> Result<Tensor>,
    ) -> Result<Self> {
        let specs = tensor_specs(config);
        let mut tensors = Vec::with_capacity(specs.len());
        for spec in &specs {
            tensors.push(fetch(spec)?);
        }
        let mut next = tensors.into_iter();
        let mut take = || next.next().expect("one tensor per spec");
        let embed = take();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for _ in 0..config.num_hidden_layers {
            let input_norm = take();
            let mut linear = |bias: bool| {
                let weight = take();
                Linear {
                    weight,
                    bias: bias.then(&mut take),
                }
            };
            let q = linear(config.qkv_bias);
            let k = linear(config.qkv_bias);
            let v = linear(config.qkv_bias);
            let o = linear(config.o_bias);
            let (q_norm, k_norm) = if config.qk_norm {
                (Some(take()), Some(take()))
            } else {
                (None, None)
            };
            let post_norm = take();
            let mut linear = |bias: bool| {
                let weight = take();
                Linear {
                    weight,
                    bias: bias.then(&mut take),
                }
            };
            let gate = linear(config.mlp_bias);
            let up = linear(config.mlp_bias);
            let down = linear(config.mlp_bias);
            layers.push(LayerWeights {
                input_norm,
                q,
                k,
                v,
                o,
                q_norm,
                k_norm,
                post_norm,
                gate,
                up,
                down,
            });
        }
        let norm = take();
        let lm_head = if config.tie_word_embeddings {
            embed.clone()
        } else {
            take()
        };
        Ok(Self {
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// The tensors in [`tensor_specs`] order.
    pub(crate) fn tensors(&self, tied: bool) -> Vec<&Tensor> {
        fn linear<'a>(out: &mut Vec<&'a Tensor>, l: &'a Linear) {
            out.push(&l.weight);
            out.extend(l.bias.as_ref());
        }
        let mut out = vec![&self.embed];
        for layer in &self.layers {
            out.push(&layer.input_norm);
            for l in [&layer.q, &layer.k, &layer.v, &layer.o] {
                linear(&mut out, l);
            }
            out.extend(layer.q_norm.as_ref());
            out.extend(layer.k_norm.as_ref());
            out.push(&layer.post_norm);
            for l in [&layer.gate, &layer.up, &layer.down] {
                linear(&mut out, l);
            }
        }
        out.push(&self.norm);
        if !tied {
            out.push(&self.lm_head);
        }
        out
    }
}

/// Checks that `shape` is the one `spec` expects; `source` names where it came from.
pub(crate) fn check_shape(spec: &TensorSpec, shape: &[usize], source: &str) -> Result<()> {
    if shape == spec.shape.as_slice() {
        return Ok(());
    }
    Err(InferError::Tensor {
        name: spec.name.clone(),
        source_desc: source.to_string(),
        problem: format!("has shape {shape:?}, but the config needs {:?}", spec.shape),
    })
}

/// Turns f32 values of `spec` into a tensor of `dtype` on `device`.
pub(crate) fn tensor_from_f32(
    spec: &TensorSpec,
    values: Vec<f32>,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, spec.shape.as_slice(), device)?.to_dtype(dtype)?)
}
