//! Test oracles that stand where a model would: [`ReferenceAnswers`] replies with each
//! problem's reference answer, [`EmptyModel`] replies with nothing. They are not models;
//! they prove that the graders accept correct answers (score 1.0) and reject absent ones
//! (score 0.0) end to end, through prompts, generation, sandboxes and databases.

use std::collections::HashMap;

use crate::error::TaskError;
use crate::model::{ChatMessage, GenParams, ModelError, Role, TextModel};

/// One reply of a reference dialogue.
#[derive(Clone)]
pub enum ReferenceTurn {
    /// A fixed reply.
    Reply(String),
    /// A reply that depends on what the environment said so far (an agent answering with
    /// what its command printed).
    Derived(fn(&[ChatMessage]) -> String),
}

impl std::fmt::Debug for ReferenceTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReferenceTurn::Reply(text) => f.debug_tuple("Reply").field(text).finish(),
            ReferenceTurn::Derived(_) => f.write_str("Derived"),
        }
    }
}

/// The reference replies to one problem: the conversation the model is first given (or,
/// for raw completion prompts, a single user message holding the prompt) and the replies
/// of a correct solver, turn by turn.
#[derive(Debug, Clone)]
pub struct ReferenceDialogue {
    /// The opening messages (system and user).
    pub opening: Vec<ChatMessage>,
    /// The correct replies, in order.
    pub turns: Vec<ReferenceTurn>,
}

impl ReferenceDialogue {
    /// The first user message, which identifies the problem.
    pub fn key(&self) -> Option<&str> {
        self.opening
            .iter()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
    }
}

/// Tasks that know a correct answer to each of their problems.
pub trait ProvidesReferences {
    /// One reference dialogue per problem, in problem order.
    fn reference_dialogues(&self) -> Vec<ReferenceDialogue>;
}

/// Renders conversations as JSON so that the oracles can read them back.
fn render(messages: &[ChatMessage]) -> Result<String, ModelError> {
    Ok(serde_json::to_string(messages)?)
}

/// A test oracle that answers every known problem with its reference answer.
#[derive(Debug, Clone)]
pub struct ReferenceAnswers {
    identity: String,
    turns: HashMap<String, Vec<ReferenceTurn>>,
}

impl ReferenceAnswers {
    /// Builds the oracle from dialogues. Two dialogues with the same opening user message
    /// must agree on their first fixed reply.
    pub fn new(
        identity: impl Into<String>,
        dialogues: Vec<ReferenceDialogue>,
    ) -> Result<Self, TaskError> {
        let identity = identity.into();
        let mut turns: HashMap<String, Vec<ReferenceTurn>> = HashMap::new();
        for dialogue in dialogues {
            let key = dialogue
                .key()
                .map(str::to_string)
                .ok_or_else(|| TaskError::Config {
                    task: identity.clone(),
                    message: "a reference dialogue has no user message".to_string(),
                })?;
            if let Some(existing) = turns.get(&key) {
                let first = |t: &[ReferenceTurn]| match t.first() {
                    Some(ReferenceTurn::Reply(r)) => Some(r.clone()),
                    _ => None,
                };
                if first(existing) != first(&dialogue.turns) {
                    return Err(TaskError::Config {
                        task: identity,
                        message: format!(
                            "two problems share the prompt {key:?} but not the answer"
                        ),
                    });
                }
                continue;
            }
            turns.insert(key, dialogue.turns);
        }
        Ok(ReferenceAnswers {
            identity: format!("reference-answers:{identity}"),
            turns,
        })
    }

    fn reply(&self, prompt: &str) -> Result<String, ModelError> {
        let (key, messages) = match serde_json::from_str::<Vec<ChatMessage>>(prompt) {
            Ok(messages) => {
                let key = messages
                    .iter()
                    .find(|m| m.role == Role::User)
                    .map(|m| m.content.clone())
                    .ok_or("a conversation without a user message")?;
                (key, messages)
            }
            // Raw completion prompts are their own key.
            Err(_) => (prompt.to_string(), vec![ChatMessage::user(prompt)]),
        };
        let turns = self
            .turns
            .get(&key)
            .ok_or_else(|| format!("no reference answer for the prompt {key:?}"))?;
        let said = messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        match turns.get(said) {
            Some(ReferenceTurn::Reply(text)) => Ok(text.clone()),
            Some(ReferenceTurn::Derived(derive)) => Ok(derive(&messages)),
            None => Ok(String::new()),
        }
    }
}

impl TextModel for ReferenceAnswers {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        render(messages)
    }

    fn generate(&self, prompts: &[String], _params: &GenParams) -> Result<Vec<String>, ModelError> {
        prompts.iter().map(|p| self.reply(p)).collect()
    }
}

/// A test oracle that replies with empty text to everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyModel;

impl TextModel for EmptyModel {
    fn identity(&self) -> String {
        "empty-output".to_string()
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        render(messages)
    }

    fn generate(&self, prompts: &[String], _params: &GenParams) -> Result<Vec<String>, ModelError> {
        Ok(vec![String::new(); prompts.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> GenParams {
        GenParams {
            max_new_tokens: 8,
            stop: vec![],
        }
    }

    fn last_user(messages: &[ChatMessage]) -> String {
        format!("saw {}", messages.last().map_or("", |m| m.content.as_str()))
    }

    #[test]
    fn replies_follow_the_turns_of_the_matching_dialogue() {
        let oracle = ReferenceAnswers::new(
            "t",
            vec![ReferenceDialogue {
                opening: vec![ChatMessage::system("rules"), ChatMessage::user("q1")],
                turns: vec![
                    ReferenceTurn::Reply("first".into()),
                    ReferenceTurn::Derived(last_user),
                ],
            }],
        )
        .unwrap();
        let mut conversation = vec![ChatMessage::system("rules"), ChatMessage::user("q1")];
        let p1 = oracle.chat_prompt(&conversation).unwrap();
        assert_eq!(oracle.generate(&[p1], &params()).unwrap(), ["first"]);
        conversation.push(ChatMessage::assistant("first"));
        conversation.push(ChatMessage::user("output 42"));
        let p2 = oracle.chat_prompt(&conversation).unwrap();
        assert_eq!(
            oracle.generate(&[p2], &params()).unwrap(),
            ["saw output 42"]
        );
        let unknown = oracle.chat_prompt(&[ChatMessage::user("q2")]).unwrap();
        let err = oracle.generate(&[unknown], &params()).unwrap_err();
        assert!(err.to_string().contains("q2"), "{err}");
    }

    #[test]
    fn conflicting_references_for_one_prompt_are_refused() {
        let d = |answer: &str| ReferenceDialogue {
            opening: vec![ChatMessage::user("same")],
            turns: vec![ReferenceTurn::Reply(answer.into())],
        };
        assert!(ReferenceAnswers::new("t", vec![d("a"), d("a")]).is_ok());
        assert!(ReferenceAnswers::new("t", vec![d("a"), d("b")]).is_err());
    }

    #[test]
    fn the_empty_model_says_nothing() {
        let out = EmptyModel
            .generate(&["a".into(), "b".into()], &params())
            .unwrap();
        assert_eq!(out, ["", ""]);
    }
}
