//! [`Engine`]: a model with its tokenizer and chat template, the text-level entry point for
//! generation and scoring.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use cycleqd_weights::{HfModel, ModelWriter, TensorMeta, TensorSource};
use serde_json::Value;

use crate::chat_template::{ChatTemplate, Message};
use crate::config::ArchConfig;
use crate::error::{InferError, Result};
use crate::generate::{generate_tokens_reporting, Generation, GenerationConfig};
use crate::model::CausalLm;
use crate::score::{score_continuations, ContinuationScore};
use crate::tokenizer::TextTokenizer;

/// Sequences scored per forward pass by [`Engine::loglikelihood`].
const SCORE_BATCH: usize = 8;

/// A loaded model ready to generate and score text.
#[derive(Debug)]
pub struct Engine {
    model: CausalLm,
    config_json: Value,
    tokenizer: TextTokenizer,
    chat_template: Option<ChatTemplate>,
    eos_ids: Vec<u32>,
}

impl Engine {
    /// Loads a Hugging Face model folder: `config.json`, safetensors, `tokenizer.json`,
    /// `tokenizer_config.json`, `generation_config.json` (optional).
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let source = HfModel::open(dir)?;
        let tokenizer = TextTokenizer::load(dir)?;
        let mut engine =
            Self::from_source(&source.config().raw, tokenizer, &source, device, dtype)?;
        let generation_path = dir.join("generation_config.json");
        if generation_path.is_file() {
            let generation = ArchConfig::load_eos(&generation_path)?;
            engine.add_eos(&generation);
        }
        Ok(engine)
    }

    /// Builds an engine from a parsed `config.json`, a tokenizer and any tensor source (e.g. a
    /// child materialized in memory).
    pub fn from_source(
        config_json: &Value,
        tokenizer: TextTokenizer,
        source: &dyn TensorSource,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let origin = PathBuf::from(format!("config.json of {}", source.describe()));
        let config = ArchConfig::from_json(&origin, config_json)?;
        let model = CausalLm::from_source(config, source, device, dtype)?;
        Self::assemble(model, config_json.clone(), tokenizer)
    }

    /// Builds an engine from tensors by Hugging Face name (no copy when they already have the
    /// right dtype and device).
    pub fn from_tensors(
        config_json: &Value,
        tokenizer: TextTokenizer,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let config = ArchConfig::from_json(Path::new("config.json"), config_json)?;
        let model = CausalLm::from_tensors(config, tensors, device, dtype)?;
        Self::assemble(model, config_json.clone(), tokenizer)
    }

    fn assemble(model: CausalLm, config_json: Value, tokenizer: TextTokenizer) -> Result<Self> {
        let chat_template = tokenizer
            .chat_template
            .as_deref()
            .map(ChatTemplate::new)
            .transpose()?;
        let mut engine = Self {
            eos_ids: Vec::new(),
            model,
            config_json,
            tokenizer,
            chat_template,
        };
        let from_config = engine.model.config().eos_token_ids.clone();
        engine.add_eos(&from_config);
        if let Some(id) = engine
            .tokenizer
            .eos_token
            .as_deref()
            .and_then(|t| engine.tokenizer.token_id(t))
        {
            engine.add_eos(&[id]);
        }
        Ok(engine)
    }

    fn add_eos(&mut self, ids: &[u32]) {
        for &id in ids {
            if !self.eos_ids.contains(&id) {
                self.eos_ids.push(id);
            }
        }
    }

    /// Swaps in another child's weights (same architecture); tokenizer, config and template stay.
    pub fn set_weights(&mut self, source: &dyn TensorSource) -> Result<()> {
        self.model.set_weights_from_source(source)
    }

    /// Swaps in weights given as tensors by Hugging Face name.
    pub fn set_weights_from_tensors(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.model.set_weights_from_tensors(tensors)
    }

    /// The model.
    pub fn model(&self) -> &CausalLm {
        &self.model
    }

    /// The model, for training it in place.
    pub fn model_mut(&mut self) -> &mut CausalLm {
        &mut self.model
    }

    /// The architecture.
    pub fn config(&self) -> &ArchConfig {
        self.model.config()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Token ids that end generation.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// Whether the tokenizer has a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Renders `messages` with the model's chat template.
    pub fn apply_chat_template(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.chat_template.as_ref().ok_or_else(|| {
            InferError::Template(
                "the model has no chat template (tokenizer_config.json has no `chat_template`)"
                    .into(),
            )
        })?;
        template.render(
            messages,
            add_generation_prompt,
            self.tokenizer.bos_token.as_deref(),
            self.tokenizer.eos_token.as_deref(),
        )
    }

    /// Continues each prompt; prompts are tokenized as `tokenizer(prompt)` is in Transformers
    /// (special tokens such as a leading BOS added).
    pub fn generate<S: AsRef<str>>(
        &self,
        prompts: &[S],
        config: &GenerationConfig,
    ) -> Result<Vec<Generation>> {
        let ids = prompts
            .iter()
            .map(|p| self.tokenizer.encode(p.as_ref(), true))
            .collect::<Result<Vec<_>>>()?;
        self.generate_tokens(&ids, config)
    }

    /// Answers each conversation: the chat template with a generation prompt, then generation.
    pub fn generate_chat(
        &self,
        conversations: &[Vec<Message>],
        config: &GenerationConfig,
    ) -> Result<Vec<Generation>> {
        let ids = conversations
            .iter()
            .map(|c| {
                self.tokenizer
                    .encode(&self.apply_chat_template(c, true)?, false)
            })
            .collect::<Result<Vec<_>>>()?;
        self.generate_tokens(&ids, config)
    }

    /// Continues prompts given as token ids.
    pub fn generate_tokens(
        &self,
        prompts: &[Vec<u32>],
        config: &GenerationConfig,
    ) -> Result<Vec<Generation>> {
        self.generate_tokens_reporting(prompts, config, &mut |_| {})
    }

    /// [`Self::generate_tokens`], calling `on_batch` with the number of prompts finished
    /// after each batch (for progress bars).
    pub fn generate_tokens_reporting(
        &self,
        prompts: &[Vec<u32>],
        config: &GenerationConfig,
        on_batch: &mut dyn FnMut(usize),
    ) -> Result<Vec<Generation>> {
        generate_tokens_reporting(
            &self.model,
            prompts,
            config,
            &self.eos_ids,
            Some(&self.tokenizer),
            on_batch,
        )
    }

    /// Log-probability of each continuation after its context. Tokenized as lm-evaluation-harness
    /// does: trailing spaces of the context move to the continuation, and the continuation's
    /// tokens are those of `context + continuation` after the context's.
    pub fn loglikelihood(&self, requests: &[(String, String)]) -> Result<Vec<f64>> {
        Ok(self
            .score(requests)?
            .into_iter()
            .map(|s| s.logprob)
            .collect())
    }

    /// [`Self::loglikelihood`] with, for each request, whether the continuation is the greedy one.
    pub fn score(&self, requests: &[(String, String)]) -> Result<Vec<ContinuationScore>> {
        let tokens = requests
            .iter()
            .enumerate()
            .map(|(i, (context, continuation))| self.split_tokens(i, context, continuation))
            .collect::<Result<Vec<_>>>()?;
        score_continuations(&self.model, &tokens, SCORE_BATCH)
    }

    fn split_tokens(
        &self,
        index: usize,
        context: &str,
        continuation: &str,
    ) -> Result<(Vec<u32>, Vec<u32>)> {
        let trimmed = context.trim_end();
        let (context, continuation) = (
            trimmed,
            format!("{}{continuation}", &context[trimmed.len()..]),
        );
        if continuation.is_empty() {
            return Err(InferError::Invalid(format!(
                "request {index}: the continuation is empty"
            )));
        }
        if context.is_empty() {
            let prefix = self
                .config()
                .bos_token_id
                .or_else(|| self.eos_ids.first().copied())
                .ok_or_else(|| InferError::Invalid(format!("request {index}: empty context and the model has no BOS or EOS token to start from")))?;
            return Ok((vec![prefix], self.tokenizer.encode(&continuation, false)?));
        }
        let whole = self
            .tokenizer
            .encode(&format!("{context}{continuation}"), true)?;
        let context_ids = self.tokenizer.encode(context, true)?;
        let continuation_ids = if whole.starts_with(&context_ids) && whole.len() > context_ids.len()
        {
            whole[context_ids.len()..].to_vec()
        } else {
            self.tokenizer.encode(&continuation, false)?
        };
        Ok((context_ids, continuation_ids))
    }

    /// Writes the model as a Hugging Face folder (weights in `dtype`, config, tokenizer files).
    pub fn save(&self, dir: &Path, dtype: cycleqd_weights::DType) -> Result<PathBuf> {
        let named = self.model.named_tensors();
        let metas: Vec<TensorMeta> = named
            .iter()
            .map(|(name, t)| TensorMeta {
                name: name.clone(),
                shape: t.dims().to_vec(),
                dtype,
            })
            .collect();
        let writer = ModelWriter::create(dir, &metas, u64::MAX)?;
        for (name, t) in &named {
            let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            writer.write_f32(name, &values)?;
        }
        let mut companions = vec![
            (
                "tokenizer.json".to_string(),
                self.tokenizer.tokenizer_json().to_vec(),
            ),
            (
                "tokenizer_config.json".to_string(),
                serde_json::to_vec_pretty(self.tokenizer.tokenizer_config())
                    .expect("JSON values serialize"),
            ),
        ];
        if let Some(template) = &self.tokenizer.chat_template {
            if self
                .tokenizer
                .tokenizer_config()
                .get("chat_template")
                .is_none()
            {
                companions.push((
                    "chat_template.jinja".to_string(),
                    template.clone().into_bytes(),
                ));
            }
        }
        Ok(writer.finish(&self.config_json, &companions)?)
    }
}
