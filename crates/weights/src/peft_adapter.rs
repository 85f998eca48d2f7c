//! PEFT LoRA adapter folders (`adapter_config.json` + `adapter_model.safetensors`): written,
//! read and checked, and applied to a base model as one [`TensorSource`](crate::TensorSource).
//!
//! The format is PEFT's: tensor `base_model.model.<module>.lora_A.weight` has shape `(r, in)`,
//! `...lora_B.weight` has `(out, r)`, and the adapted base tensor `<module>.weight` becomes
//! `W + scale · B·A` with `scale = lora_alpha / r` (`lora_alpha / sqrt(r)` with `use_rslora`).

mod adapted;
mod read;
mod write;

pub use adapted::AdaptedModel;
pub use read::{LoraPair, PeftAdapter};
pub use write::{write_peft_adapter, LoraAdapterConfig};

use std::path::Path;

/// The adapter's config file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter's weights file.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The safetensors `__metadata__` key holding the hex content hash of the base the adapter was
/// trained on.
pub const BASE_HASH_KEY: &str = "cycleqd.base_content_hash";

/// Whether `path` is a PEFT adapter folder (a folder with `adapter_config.json`), as opposed to
/// a model folder or file.
pub fn is_peft_adapter(path: &Path) -> bool {
    path.join(ADAPTER_CONFIG).is_file()
}

/// The prefix PEFT gives every tensor of a causal-LM adapter.
const KEY_PREFIX: &str = "base_model.model.";

/// Which factor of a LoRA pair a tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Factor {
    /// `(r, in)`.
    A,
    /// `(out, r)`.
    B,
}

/// Splits a PEFT key into the module path and the factor:
/// `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` gives
/// (`model.layers.0.self_attn.q_proj`, A). `None` when the key is not a LoRA factor's weight.
fn split_key(key: &str) -> Option<(&str, Factor)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    if let Some(module) = rest.strip_suffix(".lora_A.weight") {
        Some((module, Factor::A))
    } else {
        rest.strip_suffix(".lora_B.weight")
            .map(|module| (module, Factor::B))
    }
    .filter(|(module, _)| !module.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_module_and_factor() {
        assert_eq!(
            split_key("base_model.model.model.layers.3.mlp.up_proj.lora_B.weight"),
            Some(("model.layers.3.mlp.up_proj", Factor::B))
        );
        assert_eq!(
            split_key("base_model.model.x.lora_A.weight"),
            Some(("x", Factor::A))
        );
        assert_eq!(split_key("model.x.lora_A.weight"), None);
        assert_eq!(split_key("base_model.model.x.lora_B.bias"), None);
        assert_eq!(split_key("base_model.model..lora_A.weight"), None);
        assert_eq!(
            split_key("base_model.model.model.embed_tokens.lora_embedding_A"),
            None
        );
    }
}
