//! Text to token ids and back, with the special tokens that `tokenizer_config.json` names.

use std::path::Path;

use serde_json::Value;

use crate::error::{InferError, Result};

/// A Hugging Face tokenizer plus the special tokens and chat template from its config.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    /// `bos_token` of `tokenizer_config.json`.
    pub bos_token: Option<String>,
    /// `eos_token` of `tokenizer_config.json`.
    pub eos_token: Option<String>,
    /// The chat template source, from `tokenizer_config.json` or `chat_template.jinja`.
    pub chat_template: Option<String>,
    tokenizer_json: Vec<u8>,
    tokenizer_config: Value,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Reads `tokenizer.json`, and `tokenizer_config.json` and `chat_template.jinja` when
    /// present, from a model folder.
    pub fn load(dir: &Path) -> Result<Self> {
        let json_path = dir.join("tokenizer.json");
        let tokenizer_json = std::fs::read(&json_path)
            .map_err(|e| InferError::file(&json_path, format!("cannot read the tokenizer: {e}")))?;
        let config_path = dir.join("tokenizer_config.json");
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| InferError::file(&config_path, format!("not valid JSON: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Object(Default::default()),
            Err(e) => return Err(InferError::file(&config_path, format!("cannot read: {e}"))),
        };
        let template_path = dir.join("chat_template.jinja");
        let template_file = match std::fs::read_to_string(&template_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(InferError::file(
                    &template_path,
                    format!("cannot read: {e}"),
                ))
            }
        };
        let mut tokenizer = Self::from_parts(tokenizer_json, config, &json_path)?;
        if template_file.is_some() {
            tokenizer.chat_template = template_file;
        }
        Ok(tokenizer)
    }

    /// Builds the tokenizer from a model's companion files given as (file name, bytes):
    /// `tokenizer.json` (required), `tokenizer_config.json`, `chat_template.jinja`. `origin`
    /// names the model in messages.
    pub fn from_companions(files: &[(String, Vec<u8>)], origin: &Path) -> Result<Self> {
        let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
        let json = file("tokenizer.json").ok_or_else(|| {
            InferError::file(
                origin,
                "has no tokenizer.json (needed to turn text into tokens)",
            )
        })?;
        let config = match file("tokenizer_config.json") {
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                InferError::file(
                    origin.join("tokenizer_config.json"),
                    format!("not valid JSON: {e}"),
                )
            })?,
            None => Value::Object(Default::default()),
        };
        let mut tokenizer = Self::from_parts(json.clone(), config, &origin.join("tokenizer.json"))?;
        if let Some(template) = file("chat_template.jinja") {
            tokenizer.chat_template = Some(String::from_utf8_lossy(template).into_owned());
        }
        Ok(tokenizer)
    }

    /// Builds the tokenizer from the bytes of `tokenizer.json` and the parsed
    /// `tokenizer_config.json`; `origin` names them in messages.
    pub fn from_parts(
        tokenizer_json: Vec<u8>,
        tokenizer_config: Value,
        origin: &Path,
    ) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(&tokenizer_json)
            .map_err(|e| InferError::file(origin, format!("not a valid tokenizer.json: {e}")))?;
        let token = |key: &str| -> Option<String> {
            match tokenizer_config.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
                _ => None,
            }
        };
        let chat_template = match tokenizer_config.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(named)) => named
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .or_else(|| named.first())
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        Ok(Self {
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            chat_template,
            inner,
            tokenizer_json,
            tokenizer_config,
        })
    }

    /// Token ids of `text`; `add_special_tokens` applies the tokenizer's post-processor (e.g. a
    /// leading BOS), as `tokenizer(text)` does in Transformers.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| InferError::Invalid(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| InferError::Invalid(format!("cannot decode token ids {ids:?}: {e}")))
    }

    /// The id of a token given by its text, e.g. `<|im_end|>`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The original `tokenizer.json` bytes, for writing the model back out.
    pub fn tokenizer_json(&self) -> &[u8] {
        &self.tokenizer_json
    }

    /// The original `tokenizer_config.json`.
    pub fn tokenizer_config(&self) -> &Value {
        &self.tokenizer_config
    }
}
