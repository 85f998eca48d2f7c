//! The inference engine as the tasks see it: a `TextModel` answering with greedy, batched
//! generation under a fixed identity.

use cycleqd_infer::{Engine, GenerationConfig, Message, Sampling};
use cycleqd_tasks::{ChatMessage, GenParams, ModelError, TextModel};

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
