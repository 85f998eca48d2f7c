//! The demo's tokenizer: a byte-level BPE trained on the skills' text, small enough that
//! embeddings stay a minor part of a tiny model, saved as a standard `tokenizer.json` with a
//! `tokenizer_config.json` (special tokens and a chat template) that Transformers loads.

use std::path::Path;

use cycleqd_infer::TextTokenizer;
use serde_json::json;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, TokenizerBuilder, TokenizerImpl};

use crate::error::{DemoError, Result};

/// Start of every sequence.
pub(crate) const BOS: &str = "<s>";
/// End of every reply and document.
pub(crate) const EOS: &str = "</s>";
/// Special tokens, in id order (BOS is 0, EOS is 1).
const SPECIAL: [&str; 5] = [BOS, EOS, "<|system|>", "<|user|>", "<|assistant|>"];

/// The chat template: each turn is `<|role|>` and a newline, the text, and a newline; an
/// assistant turn ends with EOS before its newline, which is what the model learns to stop on.
pub const CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] }}{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/// Trains a byte-level BPE of at most `vocab_size` tokens (special tokens included) on
/// `texts`. Deterministic: the same texts give the same tokenizer.
pub fn train_tokenizer(texts: &[String], vocab_size: usize) -> Result<TextTokenizer> {
    let err = |e: tokenizers::Error| DemoError::Tokenizer(e.to_string());
    if vocab_size < SPECIAL.len() + ByteLevel::alphabet().len() {
        return Err(DemoError::Recipe(format!(
            "vocab_size {vocab_size} is below the {} byte and special tokens a byte-level BPE needs",
            SPECIAL.len() + ByteLevel::alphabet().len()
        )));
    }
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(SPECIAL.iter().map(|t| AddedToken::from(*t, true)).collect())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer: TokenizerImpl<
        BPE,
        NormalizerWrapper,
        ByteLevel,
        TemplateProcessing,
        ByteLevelDecoder,
    > = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(None)
        .with_decoder(Some(ByteLevelDecoder::default()))
        .build()
        .map_err(err)?;
    tokenizer.train(&mut trainer, texts.iter()).map_err(err)?;
    let bos_id = tokenizer
        .token_to_id(BOS)
        .ok_or_else(|| DemoError::Tokenizer(format!("the trained vocabulary lacks {BOS}")))?;
    // `tokenizer(text)` starts with BOS, as Llama tokenizers do.
    let processor = TemplateProcessing::builder()
        .try_single(format!("{BOS} $A"))
        .and_then(|b| b.try_pair(format!("{BOS} $A {BOS} $B")))
        .map_err(DemoError::Tokenizer)?
        .special_tokens(vec![(BOS.to_string(), bos_id)])
        .build()
        .map_err(|e| DemoError::Tokenizer(e.to_string()))?;
    tokenizer.with_post_processor(Some(processor));
    let tokenizer_json = tokenizer.to_string(true).map_err(err)?.into_bytes();
    let config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "model_max_length": 1024,
        "clean_up_tokenization_spaces": false,
        "chat_template": CHAT_TEMPLATE,
    });
    TextTokenizer::from_parts(tokenizer_json, config, Path::new("demo tokenizer"))
        .map_err(|e| DemoError::Tokenizer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cycleqd_infer::{ChatTemplate, Message};

    fn texts() -> Vec<String> {
        (0..200)
            .map(|i| format!("def f(x):\n    return x + {i}\nSELECT name FROM t WHERE v > {i}"))
            .collect()
    }

    #[test]
    fn text_round_trips_through_the_tokenizer_exactly() {
        let tokenizer = train_tokenizer(&texts(), 400).unwrap();
        for text in [
            "def f(xs):\n    return sum(1 for v in xs if v > 8)\n",
            "awk '{s += $1} END {print s}' logs/grape.json",
            "Table t: a TEXT\nWhat is ü?  two  spaces\ttab",
        ] {
            let ids = tokenizer.encode(text, false).unwrap();
            assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        }
    }

    #[test]
    fn special_tokens_are_single_tokens_and_bos_leads() {
        let tokenizer = train_tokenizer(&texts(), 400).unwrap();
        assert_eq!(tokenizer.token_id(BOS), Some(0));
        assert_eq!(tokenizer.token_id(EOS), Some(1));
        let ids = tokenizer.encode("<|user|>\nhi</s>", true).unwrap();
        assert_eq!(ids[0], 0);
        assert_eq!(ids[1], tokenizer.token_id("<|user|>").unwrap());
        assert_eq!(*ids.last().unwrap(), 1);
    }

    #[test]
    fn training_is_deterministic_and_respects_the_vocabulary_size() {
        let a = train_tokenizer(&texts(), 300).unwrap();
        let b = train_tokenizer(&texts(), 300).unwrap();
        assert_eq!(a.tokenizer_json(), b.tokenizer_json());
        let json: serde_json::Value = serde_json::from_slice(a.tokenizer_json()).unwrap();
        let vocab = json["model"]["vocab"].as_object().unwrap().len();
        assert!(vocab <= 300, "{vocab}");
    }

    #[test]
    fn the_chat_template_renders_turns_and_the_generation_prompt() {
        let template = ChatTemplate::new(CHAT_TEMPLATE).unwrap();
        let text = template
            .render(
                &[Message::new("user", "Q?"), Message::new("assistant", "A")],
                true,
                Some(BOS),
                Some(EOS),
            )
            .unwrap();
        assert_eq!(
            text,
            "<s><|user|>\nQ?\n<|assistant|>\nA</s>\n<|assistant|>\n"
        );
    }

    #[test]
    fn a_vocabulary_below_the_byte_alphabet_is_refused() {
        let err = train_tokenizer(&texts(), 100).unwrap_err().to_string();
        assert!(err.contains("vocab_size 100"), "{err}");
    }
}
