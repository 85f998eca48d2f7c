//! The architecture of a Llama-family causal LM, read and checked from its `config.json`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{InferError, Result};

/// Which member of the Llama family a model is; they differ only in a few switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `llama` (SmolLM2 included).
    Llama,
    /// `mistral`.
    Mistral,
    /// `qwen2`: biases on the Q/K/V projections.
    Qwen2,
    /// `qwen3`: RMS norms on each head of Q and K.
    Qwen3,
}

impl Family {
    const SUPPORTED: &'static str = "llama, mistral, qwen2, qwen3";

    fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "llama" => Some(Self::Llama),
            "mistral" => Some(Self::Mistral),
            "qwen2" => Some(Self::Qwen2),
            "qwen3" => Some(Self::Qwen3),
            _ => None,
        }
    }
}

/// How rotary position frequencies are derived from the base ones.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Positions divided by `factor`.
    Linear {
        /// The divisor.
        factor: f32,
    },
    /// Llama 3.1's frequency-dependent scaling.
    Llama3 {
        /// Scale of low frequencies.
        factor: f32,
        /// Wavelength bound (as a fraction of the original context) of the low band.
        low_freq_factor: f32,
        /// Wavelength bound of the high band.
        high_freq_factor: f32,
        /// The context length the model was first trained with.
        original_max_position_embeddings: f32,
    },
}

/// Everything the forward pass needs to know about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchConfig {
    /// Where the config came from, for messages.
    pub path: PathBuf,
    /// The family member.
    pub family: Family,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Epsilon of every RMS norm.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f32,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// Whether `lm_head` is the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on Q, K and V projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// RMS norms on Q and K heads (Qwen3).
    pub qk_norm: bool,
    /// Per layer: the attention window, `None` for full attention.
    pub sliding_windows: Vec<Option<usize>>,
    /// Token ids that end generation (`eos_token_id`, a number or a list).
    pub eos_token_ids: Vec<u32>,
    /// `bos_token_id`, when given.
    pub bos_token_id: Option<u32>,
}

impl ArchConfig {
    /// Reads and checks `path` (a `config.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InferError::file(path, format!("cannot read: {e}")))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| InferError::file(path, format!("not valid JSON: {e}")))?;
        Self::from_json(path, &raw)
    }

    /// Checks an already parsed `config.json`; `path` is only used in messages.
    pub fn from_json(path: &Path, raw: &Value) -> Result<Self> {
        let reader = Fields { path, raw };
        if !raw.is_object() {
            return Err(InferError::file(path, "expected a JSON object"));
        }
        let model_type = reader.string("model_type")?;
        let family = Family::from_model_type(&model_type).ok_or_else(|| {
            InferError::config(
                path,
                "model_type",
                format!(
                    "'{model_type}' is not supported (supported: {})",
                    Family::SUPPORTED
                ),
            )
        })?;
        let hidden_size = reader.count("hidden_size")?;
        let num_attention_heads = reader.count("num_attention_heads")?;
        let num_key_value_heads = reader
            .opt_count("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(InferError::config(
                path,
                "num_key_value_heads",
                format!("{num_key_value_heads} does not divide num_attention_heads {num_attention_heads}"),
            ));
        }
        let head_dim = match reader.opt_count("head_dim")? {
            Some(d) => d,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => {
                return Err(InferError::config(
                    path,
                    "head_dim",
                    format!("missing, and hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}"),
                ))
            }
        };
        if head_dim % 2 != 0 {
            return Err(InferError::config(
                path,
                "head_dim",
                format!("{head_dim} is odd; rotary embeddings need an even width"),
            ));
        }
        let num_hidden_layers = reader.count("num_hidden_layers")?;
        let attention_bias = reader.opt_bool("attention_bias")?;
        let (qkv_bias, o_bias) = match family {
            Family::Qwen2 => (true, false),
            _ => {
                let b = attention_bias.unwrap_or(false);
                (b, b)
            }
        };
        let rope = reader.rope()?;
        Ok(Self {
            path: path.to_path_buf(),
            family,
            vocab_size: reader.count("vocab_size")?,
            hidden_size,
            intermediate_size: reader.count("intermediate_size")?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: reader.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta: rope.0,
            rope_scaling: rope.1,
            tie_word_embeddings: reader.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            qkv_bias,
            o_bias,
            mlp_bias: reader.opt_bool("mlp_bias")?.unwrap_or(false),
            qk_norm: family == Family::Qwen3,
            sliding_windows: reader.sliding_windows(family, num_hidden_layers)?,
            eos_token_ids: reader.token_ids("eos_token_id")?,
            bos_token_id: reader.token_ids("bos_token_id")?.first().copied(),
        })
    }

    /// `eos_token_id` (a number or a list) of a JSON file such as `generation_config.json`.
    pub fn load_eos(path: &Path) -> Result<Vec<u32>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InferError::file(path, format!("cannot read: {e}")))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| InferError::file(path, format!("not valid JSON: {e}")))?;
        Fields { path, raw: &raw }.token_ids("eos_token_id")
    }

    /// Number of query heads that share one key/value head.
    pub fn group_size(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }
}

struct Fields<'a> {
    path: &'a Path,
    raw: &'a Value,
}

impl Fields<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> InferError {
        InferError::config(self.path, field, problem)
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.raw.get(field).filter(|v| !v.is_null())
    }

    fn string(&self, field: &str) -> Result<String> {
        match self.get(field) {
            None => Err(self.err(field, "missing (a causal LM config.json must have it)")),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| self.err(field, format!("expected a string, found {v}"))),
        }
    }

    fn count(&self, field: &str) -> Result<usize> {
        self.opt_count(field)?
            .ok_or_else(|| self.err(field, "missing (a causal LM config.json must have it)"))
    }

    fn opt_count(&self, field: &str) -> Result<Option<usize>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.err(field, format!("expected a positive integer, found {v}"))),
        }
    }

    fn opt_f64(&self, field: &str) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected a number, found {v}"))),
        }
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected true or false, found {v}"))),
        }
    }

    fn token_ids(&self, field: &str) -> Result<Vec<u32>> {
        let as_id = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    as_id(v)
                        .ok_or_else(|| self.err(field, format!("expected token ids, found {v}")))
                })
                .collect(),
            Some(v) => as_id(v).map(|id| vec![id]).ok_or_else(|| {
                self.err(
                    field,
                    format!("expected a token id or a list of them, found {v}"),
                )
            }),
        }
    }

    /// `rope_theta` and scaling, from Transformers 4 (`rope_theta`, `rope_scaling`) or 5
    /// (`rope_parameters`) style configs.
    fn rope(&self) -> Result<(f32, RopeScaling)> {
        let params = self
            .get("rope_parameters")
            .or_else(|| self.get("rope_scaling"));
        let field = if self.get("rope_parameters").is_some() {
            "rope_parameters"
        } else {
            "rope_scaling"
        };
        let theta = params
            .and_then(|p| p.get("rope_theta"))
            .or_else(|| self.get("rope_theta"))
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.err("rope_theta", format!("expected a number, found {v}")))
            })
            .transpose()?
            .unwrap_or(10000.0) as f32;
        let Some(params) = params else {
            return Ok((theta, RopeScaling::Default));
        };
        let kind = params
            .get("rope_type")
            .or_else(|| params.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let number = |key: &str| -> Result<f32> {
            params
                .get(key)
                .and_then(Value::as_f64)
                .map(|f| f as f32)
                .ok_or_else(|| {
                    self.err(field, format!("rope type '{kind}' needs a number `{key}`"))
                })
        };
        let scaling = match kind {
            "default" => RopeScaling::Default,
            "linear" => RopeScaling::Linear {
                factor: number("factor")?,
            },
            "llama3" => RopeScaling::Llama3 {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_max_position_embeddings: number("original_max_position_embeddings")?,
            },
            other => {
                return Err(self.err(
                    field,
                    format!(
                        "rope type '{other}' is not supported (supported: default, linear, llama3)"
                    ),
                ))
            }
        };
        Ok((theta, scaling))
    }

    fn sliding_windows(&self, family: Family, layers: usize) -> Result<Vec<Option<usize>>> {
        let window = self.opt_count("sliding_window")?;
        if let Some(types) = self.get("layer_types") {
            let types = types
                .as_array()
                .filter(|t| t.len() == layers)
                .ok_or_else(|| {
                    self.err(
                        "layer_types",
                        format!("expected a list of {layers} layer types"),
                    )
                })?;
            return types
                .iter()
                .map(|t| match t.as_str() {
                    Some("full_attention") => Ok(None),
                    Some("sliding_attention") => window.map(Some).ok_or_else(|| {
                        self.err(
                            "sliding_window",
                            "layer_types has sliding layers but no window is given",
                        )
                    }),
                    _ => Err(self.err(
                        "layer_types",
                        format!("expected 'full_attention' or 'sliding_attention', found {t}"),
                    )),
                })
                .collect();
        }
        Ok(match family {
            Family::Mistral => vec![window; layers],
            Family::Qwen2 | Family::Qwen3
                if self.opt_bool("use_sliding_window")?.unwrap_or(false) =>
            {
                let first = self.opt_count("max_window_layers")?.unwrap_or(layers);
                (0..layers)
                    .map(|i| if i >= first { window } else { None })
                    .collect()
            }
            _ => vec![None; layers],
        })
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
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
            "eos_token_id": [2, 7], "bos_token_id": 1, "rope_theta": 500000.0
        })
    }

    #[test]
    fn reads_llama_fields_and_defaults() {
        let c = ArchConfig::from_json(Path::new("c.json"), &llama()).unwrap();
        assert_eq!(c.family, Family::Llama);
        assert_eq!(c.head_dim, 16);
        assert_eq!(c.group_size(), 2);
        assert_eq!(c.eos_token_ids, vec![2, 7]);
        assert_eq!(c.rope_theta, 500000.0);
        assert_eq!(c.rope_scaling, RopeScaling::Default);
        assert!(!c.qkv_bias && !c.qk_norm);
        assert_eq!(c.sliding_windows, vec![None, None]);
    }

    #[test]
    fn transformers5_rope_parameters_are_read() {
        let mut raw = llama();
        raw.as_object_mut().unwrap().remove("rope_theta");
        raw["rope_parameters"] = json!({"rope_theta": 1234.0, "rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
        let c = ArchConfig::from_json(Path::new("c.json"), &raw).unwrap();
        assert_eq!(c.rope_theta, 1234.0);
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 8.0));
    }

    #[test]
    fn qwen_switches() {
        let mut raw = llama();
        raw["model_type"] = json!("qwen2");
        let c = ArchConfig::from_json(Path::new("c.json"), &raw).unwrap();
        assert!(c.qkv_bias && !c.o_bias);
        raw["model_type"] = json!("qwen3");
        raw["head_dim"] = json!(32);
        let c = ArchConfig::from_json(Path::new("c.json"), &raw).unwrap();
        assert!(c.qk_norm && !c.qkv_bias);
        assert_eq!(c.head_dim, 32);
    }

    #[test]
    fn mistral_window_applies_to_every_layer() {
        let mut raw = llama();
        raw["model_type"] = json!("mistral");
        raw["sliding_window"] = json!(4096);
        let c = ArchConfig::from_json(Path::new("c.json"), &raw).unwrap();
        assert_eq!(c.sliding_windows, vec![Some(4096), Some(4096)]);
    }

    #[test]
    fn unsupported_model_type_names_field_and_value() {
        let mut raw = llama();
        raw["model_type"] = json!("gpt2");
        let err = ArchConfig::from_json(Path::new("m/config.json"), &raw)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("m/config.json") && err.contains("model_type") && err.contains("gpt2"),
            "{err}"
        );
    }

    #[test]
    fn bad_head_counts_are_reported() {
        let mut raw = llama();
        raw["num_key_value_heads"] = json!(3);
        let err = ArchConfig::from_json(Path::new("c.json"), &raw)
            .unwrap_err()
            .to_string();
        assert!(err.contains("num_key_value_heads"), "{err}");
        raw["num_key_value_heads"] = json!("two");
        let err = ArchConfig::from_json(Path::new("c.json"), &raw)
            .unwrap_err()
            .to_string();
        assert!(err.contains("positive integer"), "{err}");
    }
}
