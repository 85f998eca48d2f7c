//! What a caller may change on every task suite, in one place: its name, the system prompt in
//! front of each conversation, the generation settings and the sandbox limits.

use crate::error::TaskError;
use crate::model::{ChatMessage, GenParams, TextModel};
use crate::task::generate_all;

/// A suite's settings; `L` is its sandbox limits (`()` for a suite that runs nothing).
#[derive(Debug, Clone)]
pub struct SuiteSettings<L> {
    pub(crate) name: String,
    pub(crate) system: Option<String>,
    pub(crate) generation: GenParams,
    pub(crate) limits: L,
}

impl<L> SuiteSettings<L> {
    /// `name`, `system` in front of every conversation, at most `max_new_tokens` per reply
    /// with no stop strings, under `limits`.
    pub(crate) fn new(
        name: impl Into<String>,
        system: Option<&str>,
        max_new_tokens: usize,
        limits: L,
    ) -> Self {
        SuiteSettings {
            name: name.into(),
            system: system.map(str::to_string),
            generation: GenParams {
                max_new_tokens,
                stop: vec![],
            },
            limits,
        }
    }

    /// The conversation a problem starts from: the system prompt, if any, then `user`.
    pub(crate) fn opening(&self, user: String) -> Vec<ChatMessage> {
        let mut messages: Vec<ChatMessage> = self.system.iter().map(ChatMessage::system).collect();
        messages.push(ChatMessage::user(user));
        messages
    }

    /// The model's replies to `prompts` under these generation settings, `batch_size` at a
    /// time, each with its share of the generation time in seconds.
    pub(crate) fn generate(
        &self,
        model: &dyn TextModel,
        prompts: &[String],
        batch_size: usize,
    ) -> Result<Vec<(String, f64)>, TaskError> {
        generate_all(model, prompts, &self.generation, batch_size)
    }
}

/// The builder methods every task suite shares.
pub trait WithSettings: Sized {
    /// The suite's sandbox limits.
    type Limits;

    /// The settings to change.
    fn settings_mut(&mut self) -> &mut SuiteSettings<Self::Limits>;

    /// Renames the task.
    fn with_name(mut self, name: impl Into<String>) -> Self {
        self.settings_mut().name = name.into();
        self
    }

    /// Replaces the system prompt (`None`: the user's message alone, as tiny models are
    /// trained).
    fn with_system_prompt(mut self, system: Option<String>) -> Self {
        self.settings_mut().system = system;
        self
    }

    /// Generation settings.
    fn with_gen_params(mut self, generation: GenParams) -> Self {
        self.settings_mut().generation = generation;
        self
    }

    /// Sandbox limits of what the model's replies run as.
    fn with_limits(mut self, limits: Self::Limits) -> Self {
        self.settings_mut().limits = limits;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn opening_puts_the_system_prompt_first_when_there_is_one() {
        let mut settings = SuiteSettings::new("t", Some("be brief"), 8, ());
        let both = settings.opening("hi".into());
        assert_eq!(both.len(), 2);
        assert_eq!((both[0].role, both[1].role), (Role::System, Role::User));
        settings.system = None;
        let alone = settings.opening("hi".into());
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].content, "hi");
    }
}
