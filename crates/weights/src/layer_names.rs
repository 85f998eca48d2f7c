//! Layer numbers in tensor names: `model.layers.3.mlp.up_proj.weight` belongs to layer 3,
//! as do GPT-2's `h.3`, GGUF's `blk.3` and `blocks.3` / `layer.3` in other families. Merge
//! slices and per-layer merge weights both read layers this way.

/// Components that name the layer list in tensor names, before the layer number.
pub const LAYER_LISTS: [&str; 5] = ["layers", "h", "blocks", "blk", "layer"];

/// The layer a tensor belongs to: the number after the first layer-list component
/// ([`LAYER_LISTS`]) of its name, if any.
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    layer_number(&parts).map(|(_, layer)| layer)
}

/// `name` with its layer number (see [`layer_index`]) replaced by `layer`; names without
/// one are returned as they are.
pub fn with_layer(name: &str, layer: usize) -> String {
    let mut parts: Vec<&str> = name.split('.').collect();
    let renumbered = layer.to_string();
    if let Some((i, _)) = layer_number(&parts) {
        parts[i] = &renumbered;
    }
    parts.join(".")
}

/// Whether a tensor outside the layers sits on the input side of the model (token or position
/// embeddings: Llama's `embed_tokens`, GGUF's `token_embd`, GPT-2's `wte` / `wpe`), so that it
/// goes with the first layers rather than the last (final norm, head).
pub fn is_input_side(name: &str) -> bool {
    ["embed", "token_embd", "wte", "wpe"]
        .iter()
        .any(|s| name.contains(s))
}

/// The position of the layer number among a name's dot-separated parts, and its value.
fn layer_number(parts: &[&str]) -> Option<(usize, usize)> {
    (1..parts.len()).find_map(|i| {
        let layer = parts[i].parse().ok()?;
        LAYER_LISTS.contains(&parts[i - 1]).then_some((i, layer))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_numbers_come_from_the_names_of_every_family() {
        assert_eq!(layer_index("model.layers.12.mlp.up_proj.weight"), Some(12));
        assert_eq!(layer_index("blk.3.attn_q.weight"), Some(3));
        assert_eq!(layer_index("transformer.h.7.attn.c_attn.weight"), Some(7));
        assert_eq!(layer_index("model.blocks.2.ffn.weight"), Some(2));
        assert_eq!(layer_index("model.embed_tokens.weight"), None);
        assert_eq!(layer_index("lm_head.weight"), None);
        assert_eq!(layer_index("model.layers.norm.weight"), None);
    }

    #[test]
    fn embeddings_are_on_the_input_side() {
        for name in [
            "model.embed_tokens.weight",
            "token_embd.weight",
            "transformer.wte.weight",
            "transformer.wpe.weight",
        ] {
            assert!(is_input_side(name), "{name}");
        }
        for name in ["model.norm.weight", "lm_head.weight", "output.weight"] {
            assert!(!is_input_side(name), "{name}");
        }
    }

    #[test]
    fn with_layer_renumbers_only_the_layer() {
        assert_eq!(
            with_layer("model.layers.12.mlp.up_proj.weight", 3),
            "model.layers.3.mlp.up_proj.weight"
        );
        assert_eq!(with_layer("blk.0.attn_q.weight", 9), "blk.9.attn_q.weight");
        assert_eq!(with_layer("lm_head.weight", 4), "lm_head.weight");
    }
}
