//! The trainer's parameters: every tensor of the model in one flat f32 buffer (so the optimizer
//! is one loop), and typed per-layer views into it.

use crate::config::ArchConfig;
use crate::model::{tensor_specs, TensorSpec};

/// A projection's weight `(out, in)` and optional bias.
pub(crate) struct LinearT<S> {
    pub(crate) w: S,
    pub(crate) b: Option<S>,
}

/// One decoder layer's tensors.
pub(crate) struct LayerT<S> {
    pub(crate) input_norm: S,
    pub(crate) q: LinearT<S>,
    pub(crate) k: LinearT<S>,
    pub(crate) v: LinearT<S>,
    pub(crate) o: LinearT<S>,
    pub(crate) q_norm: Option<S>,
    pub(crate) k_norm: Option<S>,
    pub(crate) post_norm: S,
    pub(crate) gate: LinearT<S>,
    pub(crate) up: LinearT<S>,
    pub(crate) down: LinearT<S>,
}

impl<S> LayerT<S> {
    /// The projection at `module`, an index into [`super::LORA_MODULES`] (q, k, v, o, gate, up,
    /// down).
    pub(crate) fn projection(&self, module: usize) -> &LinearT<S> {
        match module {
            0 => &self.q,
            1 => &self.k,
            2 => &self.v,
            3 => &self.o,
            4 => &self.gate,
            5 => &self.up,
            6 => &self.down,
            _ => panic!("no projection {module} in a decoder layer"),
        }
    }
}

/// A whole model's tensors; `lm_head` is `None` when tied to `embed`.
pub(crate) struct ModelT<S> {
    pub(crate) embed: S,
    pub(crate) layers: Vec<LayerT<S>>,
    pub(crate) norm: S,
    pub(crate) lm_head: Option<S>,
}

impl<S> ModelT<S> {
    /// Takes one item per tensor of [`tensor_specs`], in that order.
    pub(crate) fn assemble(config: &ArchConfig, mut items: impl Iterator<Item = S>) -> Self {
        let mut take = || items.next().expect("one item per tensor spec");
        let embed = take();
        let layers = (0..config.num_hidden_layers)
            .map(|_| {
                let input_norm = take();
                let mut linear = |bias: bool| {
                    let w = take();
                    LinearT {
                        w,
                        b: bias.then(&mut take),
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
                    let w = take();
                    LinearT {
                        w,
                        b: bias.then(&mut take),
                    }
                };
                let gate = linear(config.mlp_bias);
                let up = linear(config.mlp_bias);
                let down = linear(config.mlp_bias);
                LayerT {
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
                }
            })
            .collect();
        let norm = take();
        let lm_head = (!config.tie_word_embeddings).then(take);
        Self {
            embed,
            layers,
            norm,
            lm_head,
        }
    }
}

/// Where each tensor of a model lies in one flat buffer, in [`tensor_specs`] order.
pub(crate) struct Layout {
    pub(crate) specs: Vec<TensorSpec>,
}

impl Layout {
    pub(crate) fn new(config: &ArchConfig) -> Self {
        Self {
            specs: tensor_specs(config),
        }
    }

    /// Values of the whole model.
    pub(crate) fn len(&self) -> usize {
        self.specs.iter().map(numel).sum()
    }

    /// Each spec with its tensor in `values`, in order.
    pub(crate) fn tensors<'a>(
        &'a self,
        values: &'a [f32],
    ) -> impl Iterator<Item = (&'a TensorSpec, &'a [f32])> {
        let mut rest = values;
        self.specs.iter().map(move |spec| {
            let (head, tail) = rest.split_at(numel(spec));
            rest = tail;
            (spec, head)
        })
    }

    /// Typed read-only views into `values`.
    pub(crate) fn view<'a>(&self, config: &ArchConfig, values: &'a [f32]) -> ModelT<&'a [f32]> {
        let mut rest = values;
        let parts = self.specs.iter().map(move |spec| {
            let (head, tail) = rest.split_at(numel(spec));
            rest = tail;
            head
        });
        ModelT::assemble(config, parts)
    }

    /// Typed writable views into `values`.
    pub(crate) fn view_mut<'a>(
        &self,
        config: &ArchConfig,
        values: &'a mut [f32],
    ) -> ModelT<&'a mut [f32]> {
        let mut rest = values;
        let parts = self.specs.iter().map(move |spec| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(numel(spec));
            rest = tail;
            head
        });
        ModelT::assemble(config, parts)
    }
}

fn numel(spec: &TensorSpec) -> usize {
    spec.shape.iter().product()
}
