//! Loading the inference engine from whatever the user names, and handing it to the tasks.

use std::path::Path;

use cycleqd_infer::{DType, Device, Engine, GenerationConfig, Message, Sampling, TextTokenizer};
use cycleqd_tasks::{ChatMessage, GenParams, ModelError, TextModel};

use crate::error::{EvolveError, Result};
use crate::model_input::ModelInput;

/// Parses a device name: `cpu` or `cuda:N`.
pub fn parse_device(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = name
        .strip_prefix("cuda")
        .map(|rest| rest.strip_prefix(':').unwrap_or(rest))
        .map(|n| {
            if n.is_empty() {
                Ok(0)
            } else {
                n.parse::<usize>()
            }
        });
    match ordinal {
        Some(Ok(n)) => Device::new_cuda(n).map_err(|e| {
            EvolveError::Invalid(format!(
                "device {name}: CUDA is not available ({e}); build with the `cuda` feature on a machine with a GPU"
            ))
        }),
        _ => Err(EvolveError::Invalid(format!(
            "device '{name}' is not a device (use cpu or cuda:N)"
        ))),
    }
}

/// Parses a compute dtype: f32 or bf16.
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        other => Err(EvolveError::Invalid(format!(
            "compute dtype '{other}' is not supported (use f32 or bf16)"
        ))),
    }
}

/// Loads a Hugging Face folder, a GGUF file or an adapter folder (on the base it names) into
/// the engine.
pub fn load_engine(model: &Path, device: &Device, dtype: DType) -> Result<Engine> {
    load_engine_with_base(model, None, device, dtype)
}

/// Loads `model` into the engine; an adapter folder is applied to `base` when given.
pub fn load_engine_with_base(
    model: &Path,
    base: Option<&Path>,
    device: &Device,
    dtype: DType,
) -> Result<Engine> {
    let input = ModelInput::open_with_base(model, base)?;
    let tokenizer = TextTokenizer::from_companions(&input.companions()?, model)?;
    Engine::from_source(
        &input.config_json(),
        tokenizer,
        input.source(),
        device,
        dtype,
    )
    .map_err(EvolveError::from)
}

/// The engine as the tasks see it: greedy, batched generation under a fixed identity.
pub struct EngineModel {
    /// The loaded model.
    pub engine: Engine,
    /// What results are cached under: a content hash of the weights plus the settings.
    pub identity: String,
    /// Prompts per generation batch.
    pub batch_size: usize,
}

impl TextModel for EngineModel {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let messages: Vec<Message> = messages
            .iter()
            .map(|m| Message::new(m.role.as_str(), m.content.clone()))
            .collect();
        Ok(self.engine.apply_chat_template(&messages, true)?)
    }

    fn generate(&self, prompts: &[String], params: &GenParams) -> Result<Vec<String>, ModelError> {
        // Prompts arrive rendered by the chat template, which already holds the BOS token.
        let ids = prompts
            .iter()
            .map(|p| self.engine.tokenizer().encode(p, false))
            .collect::<cycleqd_infer::Result<Vec<_>>>()?;
        let config = GenerationConfig {
            max_new_tokens: params.max_new_tokens,
            stop: params.stop.clone(),
            sampling: Sampling::Greedy,
            batch_size: self.batch_size,
        };
        Ok(self
            .engine
            .generate_tokens(&ids, &config)?
            .into_iter()
            .map(|g| g.text)
            .collect())
    }
}
