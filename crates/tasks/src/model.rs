//! What the tasks need from a model: chat formatting and batched greedy generation. The
//! inference engine implements [`TextModel`]; tasks never see tensors.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Who says a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions before the conversation.
    System,
    /// The person (or the environment reporting back to the model).
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The name chat templates use: `system`, `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The speaker.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Generation settings of one batch. Decoding is greedy, so results are deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GenParams {
    /// At most this many new tokens per prompt.
    pub max_new_tokens: usize,
    /// Generation of a prompt stops at the first of these strings (which is not returned).
    pub stop: Vec<String>,
}

/// Errors a model reports; any error type of the engine converts into it with `?` or
/// `.into()`.
pub type ModelError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A language model the tasks can query.
pub trait TextModel {
    /// A string that changes whenever the model's outputs could (weights, tokenizer,
    /// template, quantization): results are cached under it.
    fn identity(&self) -> String;

    /// Renders a conversation into the prompt text the model continues, ending where the
    /// assistant's next reply begins (the chat template with its generation prompt).
    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError>;

    /// Greedy continuations of every prompt, in order: only the new text, cut before the
    /// first stop string. Batching is the implementation's choice.
    fn generate(&self, prompts: &[String], params: &GenParams) -> Result<Vec<String>, ModelError>;

    /// The Hugging Face folder the model was loaded from, for evaluators that run outside
    /// this process ([`crate::external::CommandTask`]). `None` when there is none.
    fn folder(&self) -> Option<&Path> {
        None
    }
}

/// Cuts `text` before the first of `stop`, for engines that return the stop string or run
/// past it.
pub fn cut_at_stop(text: &str, stop: &[String]) -> String {
    let end = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
        .unwrap_or(text.len());
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_at_stop_keeps_text_before_the_earliest_stop_string() {
        let stop = vec!["\ndef ".to_string(), "\n#".to_string(), String::new()];
        assert_eq!(
            cut_at_stop("    return 1\n# x\ndef g", &stop),
            "    return 1"
        );
        assert_eq!(cut_at_stop("plain", &stop), "plain");
        assert_eq!(cut_at_stop("", &stop), "");
    }

    #[test]
    fn chat_messages_serialise_with_lowercase_roles() {
        let json = serde_json::to_string(&ChatMessage::assistant("hi")).unwrap();
        assert_eq!(json, r#"{"role":"assistant","content":"hi"}"#);
    }
}
