//! `config.json` of a Hugging Face causal LM: the fields the system needs, checked, plus the raw JSON.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Result, WeightsError};

/// The architecture facts of a model, read from its `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// `architectures[0]`, e.g. `LlamaForCausalLM`.
    pub architecture: String,
    /// `model_type`, e.g. `llama`.
    pub model_type: String,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (defaults to `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `tie_word_embeddings` (defaults to false).
    pub tie_word_embeddings: bool,
    /// The whole file, for copying and for fields not modelled here.
    pub raw: Value,
}

impl ModelConfig {
    /// Reads and checks `path` (a `config.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightsError::io(path, e))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| WeightsError::format(path, format!("not valid JSON: {e}")))?;
        Self::from_json(path, raw)
    }

    /// Checks an already parsed `config.json`; `path` is only used in messages.
    pub fn from_json(path: &Path, raw: Value) -> Result<Self> {
        if !raw.is_object() {
            return Err(WeightsError::format(path, "expected a JSON object"));
        }
        let field = |name: &str| -> Result<usize> {
            match raw.get(name) {
                None => Err(missing(path, name)),
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| WeightsError::Config {
                        path: path.to_path_buf(),
                        field: name.to_string(),
                        problem: format!("expected a positive integer, found {v}"),
                    }),
            }
        };
        let architecture = raw
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .ok_or_else(|| missing(path, "architectures"))?
            .to_string();
        let model_type = raw
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(path, "model_type"))?
            .to_string();
        let num_attention_heads = field("num_attention_heads")?;
        let num_key_value_heads = match raw.get("num_key_value_heads") {
            None | Some(Value::Null) => num_attention_heads,
            Some(_) => field("num_key_value_heads")?,
        };
        Ok(Self {
            path: path.to_path_buf(),
            architecture,
            model_type,
            hidden_size: field("hidden_size")?,
            intermediate_size: field("intermediate_size")?,
            num_hidden_layers: field("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            vocab_size: field("vocab_size")?,
            tie_word_embeddings: raw
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            raw,
        })
    }
}

fn missing(path: &Path, field: &str) -> WeightsError {
    WeightsError::Config {
        path: path.to_path_buf(),
        field: field.to_string(),
        problem: "missing (a causal LM config.json must have it)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn llama() -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 100
        })
    }

    #[test]
    fn reads_fields_and_defaults() {
        let c = ModelConfig::from_json(Path::new("c.json"), llama()).unwrap();
        assert_eq!(c.num_key_value_heads, 4);
        assert!(!c.tie_word_embeddings);
        assert_eq!(c.architecture, "LlamaForCausalLM");
    }

    #[test]
    fn missing_field_names_file_and_field() {
        let mut raw = llama();
        raw.as_object_mut().unwrap().remove("hidden_size");
        let err = ModelConfig::from_json(Path::new("m/config.json"), raw)
            .unwrap_err()
            .to_string();
        assert!(err.contains("m/config.json"), "{err}");
        assert!(err.contains("hidden_size"), "{err}");
    }

    #[test]
    fn wrong_type_is_reported() {
        let mut raw = llama();
        raw["vocab_size"] = json!("many");
        let err = ModelConfig::from_json(Path::new("config.json"), raw)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("vocab_size") && err.contains("positive integer"),
            "{err}"
        );
    }
}
