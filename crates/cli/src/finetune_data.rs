//! What `cycleqd finetune` trains on: the reference conversations of task specs (the
//! generators' train split, JSON-lines task files) and JSON-lines files of chat messages or
//! prompt/completion pairs, turned into token sequences with the model's own chat template.

use std::path::Path;

use anyhow::{bail, Context, Result};
use cycleqd_infer::{Engine, Message, SftExample};
use cycleqd_tasks::{reference_dialogues_from_spec, ChatMessage, TaskContext};
use serde::Deserialize;

/// The examples of every task spec (each problem's opening, then its reference reply).
pub fn task_examples(engine: &Engine, specs: &[&str]) -> Result<Vec<SftExample>> {
    let ctx = TaskContext::from_env();
    let mut examples = Vec::new();
    for spec in specs {
        let dialogues =
            reference_dialogues_from_spec(spec, &ctx).with_context(|| format!("--task {spec}"))?;
        let before = examples.len();
        for conversation in cycleqd_tasks::sft::sft_examples(&dialogues) {
            let messages: Vec<Message> = conversation.messages.iter().map(message).collect();
            examples
                .push(chat_example(engine, &messages).with_context(|| format!("--task {spec}"))?);
        }
        if examples.len() == before {
            bail!("--task {spec}: no problem of this task has a fixed reference reply to train on");
        }
    }
    Ok(examples)
}

fn message(m: &ChatMessage) -> Message {
    Message::new(m.role.as_str(), m.content.clone())
}

/// One line of a training file: `{"messages": [{"role", "content"}, ...]}` (the last message
/// is the assistant's reply) or `{"prompt": "...", "completion": "..."}` (plain text).
#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Chat { messages: Vec<Message> },
    Text { prompt: String, completion: String },
}

/// The examples of a JSON-lines file; errors name the file and line.
pub fn file_examples(engine: &Engine, path: &Path) -> Result<Vec<SftExample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut examples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let parsed: Line = serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; expected {{\"messages\": [{{\"role\", \"content\"}}, ...]}} or \
                 {{\"prompt\": \"...\", \"completion\": \"...\"}}",
                at()
            )
        })?;
        let example = match parsed {
            Line::Chat { messages } => chat_example(engine, &messages),
            Line::Text { prompt, completion } => text_example(engine, &prompt, &completion),
        };
        examples.push(example.with_context(at)?);
    }
    if examples.is_empty() {
        bail!("{}: no training examples in the file", path.display());
    }
    Ok(examples)
}

/// The conversation's opening rendered as the model sees it when asked (chat template with the
/// generation prompt), then the reply and the end-of-turn token; loss on the reply and EOS.
pub fn chat_example(engine: &Engine, conversation: &[Message]) -> Result<SftExample> {
    let (reply, opening) = conversation.split_last().context("an empty conversation")?;
    if reply.role != "assistant" {
        bail!(
            "the last message is the {}'s; it must be the assistant's reply to learn",
            reply.role
        );
    }
    let prompt = engine.apply_chat_template(opening, true)?;
    let tokenizer = engine.tokenizer();
    let mut completion = tokenizer.encode(&reply.content, false)?;
    completion.push(end_of_reply(engine)?);
    Ok(SftExample {
        prompt: tokenizer.encode(&prompt, false)?,
        completion,
    })
}

/// Plain text: the prompt as the tokenizer encodes it (special tokens such as BOS added), the
/// completion and EOS.
fn text_example(engine: &Engine, prompt: &str, completion: &str) -> Result<SftExample> {
    let tokenizer = engine.tokenizer();
    let prompt = tokenizer.encode(prompt, true)?;
    let mut completion = tokenizer.encode(completion, false)?;
    if prompt.is_empty() || completion.is_empty() {
        bail!("the prompt and the completion must each have some text");
    }
    completion.push(end_of_reply(engine)?);
    Ok(SftExample { prompt, completion })
}

/// The token that ends a reply: the tokenizer's EOS token (for chat models, the end-of-turn
/// marker the template closes replies with), else the first of the model's EOS ids.
fn end_of_reply(engine: &Engine) -> Result<u32> {
    let tokenizer = engine.tokenizer();
    tokenizer
        .eos_token
        .as_deref()
        .and_then(|t| tokenizer.token_id(t))
        .or_else(|| engine.eos_token_ids().first().copied())
        .context("the model names no EOS token (tokenizer_config.json `eos_token`, config.json `eos_token_id`)")
}
