//! Hugging Face `tokenizer.json` and `tokenizer_config.json` from a GGUF's `tokenizer.*` metadata.
//!
//! Two kinds are converted: byte-level BPE (`tokenizer.ggml.model = "gpt2"`, e.g. SmolLM2,
//! Llama 3) and SentencePiece BPE (`"llama"`, e.g. Llama 2). The result follows what
//! `transformers` builds from the same file (its GGUF tokenizer conversion, checked by
//! `tests/gguf_tokenizer.rs`), with two deliberate differences listed in `docs/gguf.md`: each
//! llama.cpp pre-tokenizer gets llama.cpp's split, and `add_space_prefix = false` is honoured.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use super::byte_alphabet::ByteAlphabet;
use super::error::GgufError;
use super::file::GgufFile;
use super::keys::{opt_array, opt_bool, opt_str, opt_u64, req_array, req_str};
use super::spm_merges::spm_merges;

/// llama.cpp's token type for control tokens such as `<|im_start|>`.
const TOKEN_TYPE_CONTROL: i64 = 3;
/// llama.cpp's token type for user-defined tokens such as `<think>`: matched whole, not special.
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// The split Llama 3 (llama.cpp `llama-bpe`) applies before byte-level BPE.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.pre` values handled, for error messages.
const SUPPORTED_PRE: &str =
    "absent, 'gpt-2', 'smollm', 'llama-bpe', 'llama3', 'llama-v3', 'smaug-bpe', 'dbrx'";

/// The two tokenizer files of a Hugging Face model folder.
#[derive(Debug, Clone)]
pub struct TokenizerFiles {
    /// The text of `tokenizer.json` (vocabulary in token-id order).
    pub tokenizer_json: String,
    /// The content of `tokenizer_config.json`.
    pub tokenizer_config_json: Value,
}

/// What differs between the two supported tokenizer kinds.
enum Kind {
    ByteLevel,
    SentencePiece { prefix_space: bool },
}

impl TokenizerFiles {
    /// Builds both files from the `tokenizer.*` metadata of `file`; `model_max_length` comes from
    /// `{general.architecture}.context_length` when present.
    pub fn from_gguf(file: &GgufFile) -> Result<TokenizerFiles, GgufError> {
        let unconvertible = |problem: String| GgufError::Unconvertible {
            path: file.path().to_path_buf(),
            problem,
        };
        let kind = match req_str(file, "tokenizer.ggml.model")? {
            "gpt2" => Kind::ByteLevel,
            "llama" => Kind::SentencePiece {
                prefix_space: opt_bool(file, "tokenizer.ggml.add_space_prefix")?.unwrap_or(true),
            },
            other => {
                return Err(unconvertible(format!(
                    "tokenizer.ggml.model '{other}' cannot be converted; supported: 'gpt2' (byte-level BPE), 'llama' (SentencePiece BPE)"
                )))
            }
        };
        let tokens = req_array(file, "tokenizer.ggml.tokens", "strings", |v| v.as_str())?;
        let token_types = opt_array(file, "tokenizer.ggml.token_type", "integers", |v| {
            v.as_i64()
        })?
        .unwrap_or_default();
        let special = |key: &str| -> Result<Option<&str>, GgufError> {
            let Some(id) = opt_u64(file, key)? else {
                return Ok(None);
            };
            usize::try_from(id)
                .ok()
                .and_then(|i| tokens.get(i).copied())
                .map(Some)
                .ok_or_else(|| GgufError::BadKey {
                    path: file.path().to_path_buf(),
                    key: key.to_string(),
                    expected: format!("a token id below the vocabulary size {}", tokens.len()),
                    found: id.to_string(),
                })
        };
        let bos = special("tokenizer.ggml.bos_token_id")?;
        let eos = special("tokenizer.ggml.eos_token_id")?;
        let unk = special("tokenizer.ggml.unknown_token_id")?;
        let pad = special("tokenizer.ggml.padding_token_id")?;
        // llama.cpp adds BOS to SentencePiece vocabularies that do not say otherwise.
        let add_bos = opt_bool(file, "tokenizer.ggml.add_bos_token")?
            .unwrap_or(matches!(kind, Kind::SentencePiece { .. }));
        let add_eos = opt_bool(file, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);

        let alphabet = matches!(kind, Kind::ByteLevel).then(ByteAlphabet::new);
        let spelled: Vec<String> = match &alphabet {
            Some(alphabet) => tokens.iter().map(|t| alphabet.spell(t)).collect(),
            None => tokens.iter().map(|t| t.to_string()).collect(),
        };
        // A later duplicate wins, as in a Python dict built from the list.
        let vocab: HashMap<&str, usize> = spelled
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let merges = match opt_array(file, "tokenizer.ggml.merges", "strings", |v| v.as_str())? {
            Some(merges) => split_merges(file, &merges)?,
            None if matches!(kind, Kind::SentencePiece { .. }) => {
                let scores = req_array(file, "tokenizer.ggml.scores", "numbers", |v| v.as_f64())?;
                if scores.len() != tokens.len() {
                    return Err(unconvertible(format!(
                        "tokenizer.ggml.scores has {} entries for {} tokens",
                        scores.len(),
                        tokens.len()
                    )));
                }
                let scores: Vec<f32> = scores.iter().map(|&s| s as f32).collect();
                spm_merges(&tokens, &scores, &vocab)
            }
            None => {
                return Err(GgufError::MissingKey {
                    path: file.path().to_path_buf(),
                    key: "tokenizer.ggml.merges".to_string(),
                })
            }
        };

        let (pre_tokenizer, decoder, byte_fallback) = match &kind {
            Kind::ByteLevel => (
                byte_level_split(file, opt_str(file, "tokenizer.ggml.pre")?)?,
                json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
                false,
            ),
            Kind::SentencePiece { prefix_space } => {
                let mut decoders = vec![
                    json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
                    json!({"type": "ByteFallback"}),
                    json!({"type": "Fuse"}),
                ];
                if *prefix_space {
                    decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
                }
                (
                    json!({
                        "type": "Metaspace", "replacement": "▁", "split": false,
                        "prepend_scheme": if *prefix_space { "first" } else { "never" },
                    }),
                    json!({"type": "Sequence", "decoders": decoders}),
                    true,
                )
            }
        };
        let tokenizer = TokenizerJson {
            version: "1.0",
            truncation: Value::Null,
            padding: Value::Null,
            added_tokens: added_tokens(
                &tokens,
                &token_types,
                &vocab,
                alphabet.as_ref(),
                [bos, eos, unk, pad],
            ),
            normalizer: Value::Null,
            pre_tokenizer,
            post_processor: post_processor(
                bos.filter(|_| add_bos),
                eos.filter(|_| add_eos),
                &vocab,
            ),
            decoder,
            model: BpeModel {
                vocab: &spelled,
                vocab_ids: &vocab,
                merges,
                byte_fallback,
            },
        };
        let tokenizer_json =
            serde_json::to_string_pretty(&tokenizer).map_err(|err| GgufError::Malformed {
                path: file.path().to_path_buf(),
                what: "tokenizer metadata".to_string(),
                problem: err.to_string(),
            })?;

        let mut config = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "add_bos_token": add_bos,
            "add_eos_token": add_eos,
            "bos_token": bos,
            "eos_token": eos,
            "unk_token": unk,
            "pad_token": pad,
            "clean_up_tokenization_spaces": false,
        });
        if let Some(template) = opt_str(file, "tokenizer.chat_template")? {
            config["chat_template"] = json!(template);
        }
        if let Some(arch) = opt_str(file, "general.architecture")? {
            if let Some(context) = opt_u64(file, &format!("{arch}.context_length"))? {
                config["model_max_length"] = json!(context);
            }
        }
        Ok(TokenizerFiles {
            tokenizer_json,
            tokenizer_config_json: config,
        })
    }
}

fn split_merges<'a>(
    file: &GgufFile,
    merges: &[&'a str],
) -> Result<Vec<(&'a str, &'a str)>, GgufError> {
    merges
        .iter()
        .enumerate()
        .map(|(i, merge)| {
            merge.split_once(' ').ok_or_else(|| GgufError::BadKey {
                path: file.path().to_path_buf(),
                key: "tokenizer.ggml.merges".to_string(),
                expected: "merges written as two tokens separated by a space".to_string(),
                found: format!("item {i} is {merge:?}"),
            })
        })
        .collect()
}

/// The pre-tokenizer for a byte-level vocabulary: llama.cpp's split for `pre`, then bytes.
fn byte_level_split(file: &GgufFile, pre: Option<&str>) -> Result<Value, GgufError> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    Ok(match pre {
        None | Some("gpt-2") => byte_level(true),
        // llama.cpp: every digit alone, then GPT-2's split.
        Some("smollm") => json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)],
        }),
        Some("llama-bpe" | "llama3" | "llama-v3" | "smaug-bpe" | "dbrx") => json!({
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": false},
                byte_level(false),
            ],
        }),
        Some(other) => {
            return Err(GgufError::Unconvertible {
                path: file.path().to_path_buf(),
                problem: format!(
                    "tokenizer.ggml.pre '{other}' is not a known pre-tokenizer; supported: {SUPPORTED_PRE}"
                ),
            })
        }
    })
}

/// Control tokens become special added tokens and user-defined ones plain added tokens, so they
/// are matched whole; the bos/eos/unk/pad tokens are special whatever their type.
fn added_tokens(
    tokens: &[&str],
    token_types: &[i64],
    vocab: &HashMap<&str, usize>,
    byte_alphabet: Option<&ByteAlphabet>,
    specials: [Option<&str>; 4],
) -> Vec<Value> {
    let mut added: Vec<(usize, &str, bool)> = Vec::new();
    for (id, (&token, &kind)) in tokens.iter().zip(token_types).enumerate() {
        // In a byte-level vocabulary a control token outside the byte alphabet is a llama.cpp
        // mislabel, which transformers skips.
        if kind == TOKEN_TYPE_CONTROL && byte_alphabet.is_none_or(|a| a.spells(token)) {
            added.push((id, token, true));
        } else if kind == TOKEN_TYPE_USER_DEFINED {
            if let Some(&id) = vocab.get(token) {
                added.push((id, token, false));
            }
        }
    }
    for token in specials.into_iter().flatten() {
        if let Some(&id) = vocab.get(token) {
            match added.iter_mut().find(|(_, content, _)| *content == token) {
                Some(entry) => entry.2 = true,
                None => added.push((id, token, true)),
            }
        }
    }
    added.sort_by_key(|(id, ..)| *id);
    added.dedup_by_key(|(id, ..)| *id);
    added
        .into_iter()
        .map(|(id, content, special)| {
            json!({
                "id": id, "content": content, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": special,
            })
        })
        .collect()
}

/// `[bos] $A [eos]`, and for pairs `[bos] $A [eos] [bos] $B [eos]` with the second half typed 1,
/// as transformers writes it.
fn post_processor(bos: Option<&str>, eos: Option<&str>, vocab: &HashMap<&str, usize>) -> Value {
    let part = |seq: &str, type_id: u32| {
        let special = |token: &str| json!({"SpecialToken": {"id": token, "type_id": type_id}});
        let mut items: Vec<Value> = bos.map(special).into_iter().collect();
        items.push(json!({"Sequence": {"id": seq, "type_id": type_id}}));
        items.extend(eos.map(special));
        items
    };
    let single = part("A", 0);
    let pair: Vec<Value> = single.iter().cloned().chain(part("B", 1)).collect();
    let special_tokens: serde_json::Map<String, Value> = [bos, eos]
        .into_iter()
        .flatten()
        .filter_map(|t| {
            vocab
                .get(t)
                .map(|&id| (t.to_string(), json!({"id": t, "ids": [id], "tokens": [t]})))
        })
        .collect();
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special_tokens})
}

#[derive(serde::Serialize)]
struct TokenizerJson<'a> {
    version: &'static str,
    truncation: Value,
    padding: Value,
    added_tokens: Vec<Value>,
    normalizer: Value,
    pre_tokenizer: Value,
    post_processor: Value,
    decoder: Value,
    model: BpeModel<'a>,
}

struct BpeModel<'a> {
    vocab: &'a [String],
    vocab_ids: &'a HashMap<&'a str, usize>,
    merges: Vec<(&'a str, &'a str)>,
    /// SentencePiece: characters missing from the vocabulary become `<0xNN>` byte tokens.
    byte_fallback: bool,
}

/// The vocabulary in token-id order, as Hugging Face writes it (a JSON object keeps order).
struct OrderedVocab<'a>(&'a [String], &'a HashMap<&'a str, usize>);

impl Serialize for OrderedVocab<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (id, token) in self.0.iter().enumerate() {
            // Skip shadowed duplicates: only the id the token maps to is written.
            if self.1.get(token.as_str()) == Some(&id) {
                map.serialize_entry(token, &id)?;
            }
        }
        map.end()
    }
}

impl Serialize for BpeModel<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", "BPE")?;
        map.serialize_entry("dropout", &None::<f32>)?;
        map.serialize_entry("unk_token", &None::<String>)?;
        map.serialize_entry("continuing_subword_prefix", &None::<String>)?;
        map.serialize_entry("end_of_word_suffix", &None::<String>)?;
        map.serialize_entry("fuse_unk", &self.byte_fallback)?;
        map.serialize_entry("byte_fallback", &self.byte_fallback)?;
        map.serialize_entry("ignore_merges", &false)?;
        map.serialize_entry("vocab", &OrderedVocab(self.vocab, self.vocab_ids))?;
        map.serialize_entry("merges", &self.merges)?;
        map.end()
    }
}
