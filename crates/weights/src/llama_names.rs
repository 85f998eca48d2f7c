//! The Llama family's tensor names as data, in one place: the model-level tensors and each
//! decoder layer's parts, with their Hugging Face and GGUF names, in the order models store
//! them. Model shapes, GGUF conversion, the engine's weights and LoRA targets all read them here.

/// Hugging Face stem of the token embeddings.
pub const EMBED: &str = "model.embed_tokens";
/// Hugging Face stem of the final norm.
pub const FINAL_NORM: &str = "model.norm";
/// Hugging Face stem of the output projection (absent when tied to the embeddings).
pub const LM_HEAD: &str = "lm_head";

/// The model-level tensors, as (GGUF stem, Hugging Face stem), in storage order: embeddings
/// before the layers, the final norm and head after them.
pub const MODEL_TENSORS: [(&str, &str); 3] = [
    ("token_embd", EMBED),
    ("output_norm", FINAL_NORM),
    ("output", LM_HEAD),
];

/// A part of a decoder layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerPart {
    /// RMS norm in front of attention.
    InputNorm,
    /// Query projection.
    Q,
    /// Key projection.
    K,
    /// Value projection.
    V,
    /// Attention output projection.
    O,
    /// Per-head query norm (Qwen3-style models only).
    QNorm,
    /// Per-head key norm (Qwen3-style models only).
    KNorm,
    /// RMS norm in front of the MLP.
    PostAttentionNorm,
    /// MLP gate projection.
    Gate,
    /// MLP up projection.
    Up,
    /// MLP down projection.
    Down,
}

impl LayerPart {
    /// Every part, in the order a layer stores them.
    pub const ALL: [LayerPart; 11] = [
        LayerPart::InputNorm,
        LayerPart::Q,
        LayerPart::K,
        LayerPart::V,
        LayerPart::O,
        LayerPart::QNorm,
        LayerPart::KNorm,
        LayerPart::PostAttentionNorm,
        LayerPart::Gate,
        LayerPart::Up,
        LayerPart::Down,
    ];

    /// The attention projections, in storage order.
    pub const ATTENTION: [LayerPart; 4] = [LayerPart::Q, LayerPart::K, LayerPart::V, LayerPart::O];

    /// The MLP projections, in storage order.
    pub const MLP: [LayerPart; 3] = [LayerPart::Gate, LayerPart::Up, LayerPart::Down];

    /// The linear projections (attention, then MLP): the modules an adapter can target.
    pub const PROJECTIONS: [LayerPart; 7] = [
        LayerPart::Q,
        LayerPart::K,
        LayerPart::V,
        LayerPart::O,
        LayerPart::Gate,
        LayerPart::Up,
        LayerPart::Down,
    ];

    /// The part's names: its path inside a layer, its module's own name and its GGUF stem.
    const fn names(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            LayerPart::InputNorm => ("input_layernorm", "input_layernorm", Some("attn_norm")),
            LayerPart::Q => ("self_attn.q_proj", "q_proj", Some("attn_q")),
            LayerPart::K => ("self_attn.k_proj", "k_proj", Some("attn_k")),
            LayerPart::V => ("self_attn.v_proj", "v_proj", Some("attn_v")),
            LayerPart::O => ("self_attn.o_proj", "o_proj", Some("attn_output")),
            LayerPart::QNorm => ("self_attn.q_norm", "q_norm", None),
            LayerPart::KNorm => ("self_attn.k_norm", "k_norm", None),
            LayerPart::PostAttentionNorm => (
                "post_attention_layernorm",
                "post_attention_layernorm",
                Some("ffn_norm"),
            ),
            LayerPart::Gate => ("mlp.gate_proj", "gate_proj", Some("ffn_gate")),
            LayerPart::Up => ("mlp.up_proj", "up_proj", Some("ffn_up")),
            LayerPart::Down => ("mlp.down_proj", "down_proj", Some("ffn_down")),
        }
    }

    /// The part's path inside a layer, e.g. `self_attn.q_proj`.
    pub const fn path(self) -> &'static str {
        self.names().0
    }

    /// The module's own name, e.g. `q_proj`: what PEFT's `target_modules` lists.
    pub const fn module(self) -> &'static str {
        self.names().1
    }

    /// The GGUF stem llama.cpp writes, e.g. `attn_q`; `None` for parts its llama
    /// architecture does not have.
    pub const fn gguf(self) -> Option<&'static str> {
        self.names().2
    }

    /// The Hugging Face name of this part of `layer`: `model.layers.{layer}.{path}.{suffix}`,
    /// with `suffix` `weight` or `bias`.
    pub fn name(self, layer: usize, suffix: &str) -> String {
        format!("model.layers.{layer}.{}.{suffix}", self.path())
    }
}

/// `{stem}.weight`, e.g. `model.norm.weight`.
pub fn weight(stem: &str) -> String {
    format!("{stem}.weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_hugging_face_and_llama_cpp() {
        assert_eq!(
            LayerPart::Up.name(3, "weight"),
            "model.layers.3.mlp.up_proj.weight"
        );
        assert_eq!(LayerPart::Q.module(), "q_proj");
        assert_eq!(LayerPart::InputNorm.module(), "input_layernorm");
        assert_eq!(LayerPart::O.gguf(), Some("attn_output"));
        assert_eq!(LayerPart::QNorm.gguf(), None);
        assert_eq!(weight(LM_HEAD), "lm_head.weight");
        for part in LayerPart::ALL {
            assert!(part.path().ends_with(part.module()), "{part:?}");
        }
    }

    #[test]
    fn the_groups_are_the_parts_in_storage_order() {
        let position = |p: &LayerPart| LayerPart::ALL.iter().position(|a| a == p).unwrap();
        for group in [
            &LayerPart::ATTENTION[..],
            &LayerPart::MLP[..],
            &LayerPart::PROJECTIONS[..],
        ] {
            assert!(group.windows(2).all(|w| position(&w[0]) < position(&w[1])));
        }
        assert_eq!(
            [&LayerPart::ATTENTION[..], &LayerPart::MLP[..]].concat(),
            LayerPart::PROJECTIONS
        );
    }
}
