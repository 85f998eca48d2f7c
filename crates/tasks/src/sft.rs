//! Supervised fine-tuning data from tasks with reference answers: each example is the exact
//! conversation the task would show a model, followed by the reference reply, so that a
//! model trained on it is trained on the prompts it is later evaluated with.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::model::ChatMessage;
use crate::oracle::{ReferenceDialogue, ReferenceTurn};

/// One training conversation, ending with the assistant's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftExample {
    /// The messages; the last one is the assistant's.
    pub messages: Vec<ChatMessage>,
}

/// Single-turn examples from reference dialogues (dialogues whose first reply is fixed).
pub fn sft_examples(dialogues: &[ReferenceDialogue]) -> Vec<SftExample> {
    dialogues
        .iter()
        .filter_map(|d| match d.turns.first() {
            Some(ReferenceTurn::Reply(reply)) => {
                let mut messages = d.opening.clone();
                messages.push(ChatMessage::assistant(reply.clone()));
                Some(SftExample { messages })
            }
            _ => None,
        })
        .collect()
}

/// Writes examples as JSON lines (`{"messages": [...]}` per line).
pub fn write_jsonl(path: &Path, examples: &[SftExample]) -> Result<(), TaskError> {
    let io_err = |source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io_err)?);
    for example in examples {
        serde_json::to_writer(&mut out, example).map_err(|e| io_err(e.into()))?;
        out.write_all(b"\n").map_err(io_err)?;
    }
    out.flush().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_append_the_first_fixed_reply_and_round_trip_through_jsonl() {
        let dialogues = vec![
            ReferenceDialogue {
                opening: vec![ChatMessage::user("q")],
                turns: vec![ReferenceTurn::Reply("a".into())],
            },
            ReferenceDialogue {
                opening: vec![ChatMessage::user("agent")],
                turns: vec![ReferenceTurn::Derived(|_| String::new())],
            },
        ];
        let examples = sft_examples(&dialogues);
        assert_eq!(
            examples,
            vec![SftExample {
                messages: vec![ChatMessage::user("q"), ChatMessage::assistant("a")]
            }]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sft.jsonl");
        write_jsonl(&path, &examples).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n"
        );
    }
}
