//! Token sequences the demo trains on: the base's pretraining documents (the skills' text
//! without the question-to-answer mapping, and the held-out skill's question-answer pairs)
//! and the experts' chat examples.

use cycleqd_infer::{ChatTemplate, Message, SftExample, TextTokenizer};
use cycleqd_tasks::ChatMessage;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{DemoError, Result};
use crate::vocab::{BOS, EOS};

/// Renders conversations and turns them into token sequences.
pub(crate) struct Formatter<'a> {
    tokenizer: &'a TextTokenizer,
    template: ChatTemplate,
    bos: u32,
    eos: u32,
}

fn message(m: &ChatMessage) -> Message {
    Message::new(m.role.as_str(), m.content.clone())
}

impl<'a> Formatter<'a> {
    /// A formatter for the demo tokenizer (which has the demo's chat template).
    pub(crate) fn new(tokenizer: &'a TextTokenizer) -> Result<Self> {
        let source = tokenizer
            .chat_template
            .as_deref()
            .ok_or_else(|| DemoError::Tokenizer("the tokenizer has no chat template".into()))?;
        let template = ChatTemplate::new(source)
            .map_err(|e| DemoError::Tokenizer(format!("chat template: {e}")))?;
        let id = |token: &str| {
            tokenizer
                .token_id(token)
                .ok_or_else(|| DemoError::Tokenizer(format!("the vocabulary lacks {token}")))
        };
        Ok(Self {
            tokenizer,
            bos: id(BOS)?,
            eos: id(EOS)?,
            template,
        })
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, false)
            .map_err(|e| DemoError::Tokenizer(e.to_string()))
    }

    /// The conversation's prompt exactly as a task renders it (template with generation
    /// prompt), then its last message, the reply, followed by EOS; loss on the reply only.
    pub(crate) fn chat_example(&self, conversation: &[ChatMessage]) -> Result<SftExample> {
        let (reply, opening) = conversation
            .split_last()
            .ok_or_else(|| DemoError::Recipe("an empty conversation".into()))?;
        let opening: Vec<Message> = opening.iter().map(message).collect();
        let prompt = self
            .template
            .render(&opening, true, Some(BOS), Some(EOS))
            .map_err(|e| DemoError::Tokenizer(e.to_string()))?;
        let mut completion = self.encode(&reply.content)?;
        completion.push(self.eos);
        Ok(SftExample {
            prompt: self.encode(&prompt)?,
            completion,
        })
    }

    /// A plain document: BOS, the text, EOS; loss on everything after BOS.
    fn document(&self, text: &str) -> Result<SftExample> {
        let mut completion = self.encode(text)?;
        completion.push(self.eos);
        Ok(SftExample {
            prompt: vec![self.bos],
            completion,
        })
    }

    /// A whole conversation as one document, loss on everything after BOS.
    fn chat_document(&self, conversation: &[ChatMessage]) -> Result<SftExample> {
        let example = self.chat_example(conversation)?;
        Ok(SftExample {
            prompt: vec![self.bos],
            completion: example.prompt[1..]
                .iter()
                .chain(&example.completion)
                .copied()
                .collect(),
        })
    }
}

/// The base's pretraining documents: every question alone, every answer alone, and every
/// question in the chat format followed by the answer of a different, randomly drawn problem
/// of any skill. The base so learns the tokens, the syntax of Python, shell and SQL, and the
/// chat format, but not which answer a question asks for: that is left to the experts.
pub(crate) fn pretraining_examples(
    formatter: &Formatter,
    conversations: &[Vec<ChatMessage>],
    seed: u64,
) -> Result<Vec<SftExample>> {
    let mut examples = Vec::with_capacity(conversations.len() * 3);
    for conversation in conversations {
        for m in conversation {
            examples.push(formatter.document(&m.content)?);
        }
    }
    let mut order: Vec<usize> = (0..conversations.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    // Each question in the shuffled order gets the answer of the next problem.
    for (k, &i) in order.iter().enumerate() {
        let conversation = &conversations[i];
        let other = &conversations[order[(k + 1) % order.len()]];
        let (Some(reply), Some((own, opening))) = (other.last(), conversation.split_last()) else {
            continue;
        };
        if reply.content == own.content {
            continue;
        }
        let mut mismatched = opening.to_vec();
        mismatched.push(reply.clone());
        examples.push(formatter.chat_document(&mismatched)?);
    }
    Ok(examples)
}

/// The held-out skill's pairs for the base: each question in the chat format with its own
/// answer, loss on the answer. This is the one mapping the base is taught, so that the models
/// fine-tuned and merged from it can be scored on how much of it they kept.
pub(crate) fn held_out_examples(
    formatter: &Formatter,
    conversations: &[Vec<ChatMessage>],
) -> Result<Vec<SftExample>> {
    conversations
        .iter()
        .map(|c| formatter.chat_example(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::train_tokenizer;

    fn conversations() -> Vec<Vec<ChatMessage>> {
        (0..20)
            .map(|i| {
                vec![
                    ChatMessage::user(format!("How many lines does the file f{i}.txt have?")),
                    ChatMessage::assistant(format!("wc -l < f{i}.txt")),
                ]
            })
            .collect()
    }

    fn tokenizer() -> TextTokenizer {
        let texts: Vec<String> = conversations()
            .iter()
            .flatten()
            .map(|m| m.content.clone())
            .collect();
        train_tokenizer(&texts, 300).unwrap()
    }

    #[test]
    fn a_chat_example_is_the_rendered_prompt_then_the_reply_and_eos() {
        let tokenizer = tokenizer();
        let formatter = Formatter::new(&tokenizer).unwrap();
        let example = formatter.chat_example(&conversations()[3]).unwrap();
        assert_eq!(
            tokenizer.decode(&example.prompt).unwrap(),
            "\nHow many lines does the file f3.txt have?\n\n"
        );
        assert_eq!(example.prompt[0], tokenizer.token_id(BOS).unwrap());
        assert_eq!(
            *example.completion.last().unwrap(),
            tokenizer.token_id(EOS).unwrap()
        );
        assert_eq!(
            tokenizer.decode(&example.completion).unwrap(),
            "wc -l < f3.txt"
        );
    }

    #[test]
    fn held_out_examples_pair_each_question_with_its_own_answer() {
        let tokenizer = tokenizer();
        let formatter = Formatter::new(&tokenizer).unwrap();
        let conversations = conversations();
        let examples = held_out_examples(&formatter, &conversations).unwrap();
        assert_eq!(examples.len(), conversations.len());
        for (c, e) in conversations.iter().zip(&examples) {
            assert_eq!(
                tokenizer.decode(&e.prompt).unwrap(),
                format!("\n{}\n\n", c[0].content)
            );
            assert_eq!(tokenizer.decode(&e.completion).unwrap(), c[1].content);
        }
    }

    #[test]
    fn pretraining_never_pairs_a_question_with_its_own_answer() {
        let tokenizer = tokenizer();
        let formatter = Formatter::new(&tokenizer).unwrap();
        let conversations = conversations();
        let examples = pretraining_examples(&formatter, &conversations, 5).unwrap();
        assert_eq!(examples.len(), conversations.len() * 3);
        for (i, c) in conversations.iter().enumerate() {
            let own = format!("{}\n\n{}", c[0].content, c[1].content);
            for e in &examples[conversations.len() * 2..] {
                let text = tokenizer.decode(&e.completion).unwrap();
                assert!(
                    !text.contains(&own),
                    "question {i} met its own answer: {text}"
                );
            }
        }
    }
}
