//! A llama-architecture GGUF seen as a Hugging Face `LlamaForCausalLM` folder: tensor names and
//! shapes, `config.json`, and f32 tensors with llama.cpp's Q/K row permutation undone.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::error::GgufError;
use super::file::{GgufFile, TensorInfo};
use super::ggml_type::GgmlType;
use super::keys::{opt_count, opt_f64, opt_str, opt_u64, req_count, req_f64, req_str};
use super::permute::unpermute_rows;
use super::tokenizer::TokenizerFiles;
use crate::llama_names::{LayerPart, MODEL_TENSORS};

/// One tensor of the Hugging Face model and where it comes from in the GGUF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfTensorEntry {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub hf_name: String,
    /// GGUF name, e.g. `blk.0.attn_q.weight`.
    pub gguf_name: String,
    /// Row-major shape (outermost first): the GGUF dims reversed.
    pub shape: Vec<usize>,
    /// How the GGUF stores it.
    pub gguf_type: GgmlType,
}

/// Whether llama.cpp permuted a layer part's rows: `Some(true)` by `n_head` (queries),
/// `Some(false)` by `n_head_kv` (keys).
fn permuted(part: LayerPart) -> Option<bool> {
    match part {
        LayerPart::Q => Some(true),
        LayerPart::K => Some(false),
        _ => None,
    }
}

/// Orders Hugging Face tensors: (group: embeddings, layers, norm, head; layer; part; weight/bias).
type SortKey = (u8, usize, usize, u8);

/// Model hyper-parameters read from `llama.*` metadata.
#[derive(Debug, Clone)]
struct Hyper {
    n_layer: usize,
    hidden: usize,
    ffn: usize,
    n_head: usize,
    n_head_kv: usize,
    head_dim: usize,
    rms_eps: f64,
    rope_theta: f64,
    context: usize,
    vocab: usize,
    rope_scaling: Value,
}

/// A llama-architecture GGUF file mapped onto Hugging Face's `LlamaForCausalLM` layout.
#[derive(Debug)]
pub struct LlamaGguf {
    file: GgufFile,
    hyper: Hyper,
    entries: Vec<HfTensorEntry>,
    /// Parallel to `entries`: the head count to un-permute rows with, for Q and K.
    permute_heads: Vec<Option<usize>>,
    by_hf_name: HashMap<String, usize>,
}

impl LlamaGguf {
    /// Checks that `file` is a complete llama model and builds the name mapping.
    ///
    /// Fails on another architecture, a missing `llama.*` key, a tensor with no Hugging Face
    /// counterpart (e.g. `rope_freqs.weight`), a missing layer tensor, or shapes that disagree
    /// with the metadata.
    pub fn from_file(file: GgufFile) -> Result<LlamaGguf, GgufError> {
        let arch = req_str(&file, "general.architecture")?;
        if arch != "llama" {
            return Err(unconvertible(
                &file,
                format!("architecture '{arch}' is not supported (only 'llama')"),
            ));
        }
        let hyper = read_hyper(&file)?;
        let mut mapped: Vec<(SortKey, HfTensorEntry, Option<usize>)> = Vec::new();
        for info in file.tensors() {
            let (key, hf_name, permuted) = hf_name(&file, info, hyper.n_layer)?;
            let heads = permuted.map(|is_q| if is_q { hyper.n_head } else { hyper.n_head_kv });
            let shape = info
                .row_major_shape()
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    unconvertible(
                        &file,
                        format!("tensor '{}' is too large for this machine", info.name),
                    )
                })?;
            if let Some(n) = heads {
                let rows = shape.first().copied().unwrap_or(0);
                if rows == 0 || !rows.is_multiple_of(n) || !(rows / n).is_multiple_of(2) {
                    return Err(unconvertible(
                        &file,
                        format!(
                            "tensor '{}' has {rows} rows, which do not split into {n} heads of an even number of rows",
                            info.name
                        ),
                    ));
                }
            }
            mapped.push((
                key,
                HfTensorEntry {
                    hf_name,
                    gguf_name: info.name.clone(),
                    shape,
                    gguf_type: info.ggml_type,
                },
                heads,
            ));
        }
        mapped.sort_by_key(|(key, ..)| *key);
        let llama = LlamaGguf {
            by_hf_name: mapped
                .iter()
                .enumerate()
                .map(|(i, (_, e, _))| (e.hf_name.clone(), i))
                .collect(),
            permute_heads: mapped.iter().map(|(_, _, h)| *h).collect(),
            entries: mapped.into_iter().map(|(_, e, _)| e).collect(),
            file,
            hyper,
        };
        llama.check_shapes()?;
        Ok(llama)
    }

    /// The underlying GGUF file.
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The tensors of the Hugging Face model, in a stable order: embeddings, then each layer
    /// (norm, q, k, v, o, norm, gate, up, down; weight before bias), then the final norm and
    /// `lm_head`. `lm_head.weight` is absent when the GGUF ties it to the embeddings.
    pub fn tensors(&self) -> &[HfTensorEntry] {
        &self.entries
    }

    /// Whether the output projection reuses the token embeddings (no `output.weight` in the GGUF).
    pub fn tie_word_embeddings(&self) -> bool {
        self.file.tensor("output.weight").is_none()
    }

    /// A tensor by Hugging Face name, dequantized to f32, row-major in [`HfTensorEntry::shape`],
    /// with the Q/K row permutation undone.
    pub fn read_f32(&self, hf_name: &str) -> Result<Vec<f32>, GgufError> {
        let index = *self
            .by_hf_name
            .get(hf_name)
            .ok_or_else(|| GgufError::NoSuchTensor {
                path: self.file.path().to_path_buf(),
                name: hf_name.to_string(),
            })?;
        let entry = &self.entries[index];
        let values = self.file.read_f32(&entry.gguf_name)?;
        Ok(match self.permute_heads[index] {
            None => values,
            Some(n_head) => {
                let rows = entry.shape[0];
                let cols = entry.shape[1..].iter().product();
                unpermute_rows(&values, rows, cols, n_head)
            }
        })
    }

    /// `config.json` for `LlamaForCausalLM`. `torch_dtype` says `float32`, what
    /// [`LlamaGguf::read_f32`] returns; a writer that stores another dtype should change it.
    pub fn config_json(&self) -> Value {
        let h = &self.hyper;
        let has_bias = |stem: &str| {
            self.entries
                .iter()
                .any(|e| e.gguf_name.contains(stem) && e.gguf_name.ends_with(".bias"))
        };
        let mut config = json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": h.hidden,
            "intermediate_size": h.ffn,
            "num_hidden_layers": h.n_layer,
            "num_attention_heads": h.n_head,
            "num_key_value_heads": h.n_head_kv,
            "head_dim": h.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": h.rms_eps,
            "rope_theta": h.rope_theta,
            "rope_scaling": h.rope_scaling,
            "max_position_embeddings": h.context,
            "vocab_size": h.vocab,
            "tie_word_embeddings": self.tie_word_embeddings(),
            "attention_bias": has_bias(".attn_"),
            "mlp_bias": has_bias(".ffn_"),
            "torch_dtype": "float32",
        });
        for (gguf_key, hf_key) in [
            ("tokenizer.ggml.bos_token_id", "bos_token_id"),
            ("tokenizer.ggml.eos_token_id", "eos_token_id"),
            ("tokenizer.ggml.padding_token_id", "pad_token_id"),
        ] {
            if let Some(id) = self.file.get(gguf_key).and_then(|v| v.as_u64()) {
                config[hf_key] = json!(id);
            }
        }
        config
    }

    /// `generation_config.json`: the bos/eos/pad token ids the file declares.
    pub fn generation_config_json(&self) -> Value {
        let config = self.config_json();
        let mut generation = json!({ "_from_model_config": true });
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
            if let Some(id) = config.get(key) {
                generation[key] = id.clone();
            }
        }
        generation
    }

    /// `tokenizer.json` (Hugging Face `tokenizers` format) and `tokenizer_config.json` built from
    /// the `tokenizer.*` metadata. Fails when the file has no tokenizer or one of a kind that
    /// cannot be converted (see [`TokenizerFiles::from_gguf`]).
    pub fn tokenizer(&self) -> Result<TokenizerFiles, GgufError> {
        TokenizerFiles::from_gguf(&self.file)
    }

    fn check_shapes(&self) -> Result<(), GgufError> {
        let h = &self.hyper;
        let q_rows = h.n_head * h.head_dim;
        let kv_rows = h.n_head_kv * h.head_dim;
        let mut expected: Vec<(String, Vec<usize>)> = vec![
            ("token_embd.weight".into(), vec![h.vocab, h.hidden]),
            ("output_norm.weight".into(), vec![h.hidden]),
        ];
        if !self.tie_word_embeddings() {
            expected.push(("output.weight".into(), vec![h.vocab, h.hidden]));
        }
        for layer in 0..h.n_layer {
            for (stem, shape) in [
                ("attn_norm", vec![h.hidden]),
                ("attn_q", vec![q_rows, h.hidden]),
                ("attn_k", vec![kv_rows, h.hidden]),
                ("attn_v", vec![kv_rows, h.hidden]),
                ("attn_output", vec![h.hidden, q_rows]),
                ("ffn_norm", vec![h.hidden]),
                ("ffn_gate", vec![h.ffn, h.hidden]),
                ("ffn_up", vec![h.ffn, h.hidden]),
                ("ffn_down", vec![h.hidden, h.ffn]),
            ] {
                expected.push((format!("blk.{layer}.{stem}.weight"), shape));
            }
        }
        for (name, shape) in expected {
            let Some(info) = self.file.tensor(&name) else {
                return Err(unconvertible(
                    &self.file,
                    format!("tensor '{name}' is missing"),
                ));
            };
            let found = info.row_major_shape();
            if found != shape.iter().map(|&d| d as u64).collect::<Vec<_>>() {
                return Err(unconvertible(
                    &self.file,
                    format!("tensor '{name}' has row-major shape {found:?}, but the llama.* metadata implies {shape:?}"),
                ));
            }
        }
        Ok(())
    }
}

fn unconvertible(file: &GgufFile, problem: String) -> GgufError {
    GgufError::Unconvertible {
        path: file.path().to_path_buf(),
        problem,
    }
}

fn read_hyper(file: &GgufFile) -> Result<Hyper, GgufError> {
    let n_layer = req_count(file, "llama.block_count")?;
    let hidden = req_count(file, "llama.embedding_length")?;
    let ffn = req_count(file, "llama.feed_forward_length")?;
    let n_head = req_count(file, "llama.attention.head_count")?;
    let n_head_kv = opt_count(file, "llama.attention.head_count_kv")?.unwrap_or(n_head);
    let context = req_count(file, "llama.context_length")?;
    let rms_eps = req_f64(file, "llama.attention.layer_norm_rms_epsilon")?;
    let rope_theta = opt_f64(file, "llama.rope.freq_base")?.unwrap_or(10000.0);
    if !n_head.is_multiple_of(n_head_kv) {
        return Err(unconvertible(
            file,
            format!("{n_head} attention heads cannot be grouped over {n_head_kv} key/value heads"),
        ));
    }
    let head_dim = match opt_count(file, "llama.attention.key_length")? {
        Some(d) => d,
        None if hidden.is_multiple_of(n_head) => hidden / n_head,
        None => {
            return Err(unconvertible(
                file,
                format!("hidden size {hidden} is not a multiple of {n_head} heads and llama.attention.key_length is absent"),
            ))
        }
    };
    if let Some(value_length) = opt_count(file, "llama.attention.value_length")? {
        if value_length != head_dim {
            return Err(unconvertible(
                file,
                format!("value head size {value_length} differs from key head size {head_dim}"),
            ));
        }
    }
    if let Some(rot) = opt_count(file, "llama.rope.dimension_count")? {
        if rot != head_dim {
            return Err(unconvertible(
                file,
                format!("rotary dimension {rot} differs from head size {head_dim} (partial rotary embeddings are not Llama)"),
            ));
        }
    }
    let rope_scaling = match opt_str(file, "llama.rope.scaling.type")? {
        None | Some("none") => Value::Null,
        Some("linear") => {
            let factor = req_f64(file, "llama.rope.scaling.factor")?;
            json!({ "rope_type": "linear", "factor": factor })
        }
        Some(other) => {
            return Err(unconvertible(
                file,
                format!("rope scaling '{other}' is not supported"),
            ));
        }
    };
    let embedding = file
        .tensor("token_embd.weight")
        .ok_or_else(|| unconvertible(file, "tensor 'token_embd.weight' is missing".to_string()))?;
    let vocab_rows = embedding.dims.get(1).copied().unwrap_or(0);
    if let Some(declared) = opt_u64(file, "llama.vocab_size")? {
        if declared != vocab_rows {
            return Err(unconvertible(
                file,
                format!(
                    "llama.vocab_size is {declared}, but token_embd.weight has {vocab_rows} rows"
                ),
            ));
        }
    }
    let vocab = usize::try_from(vocab_rows).map_err(|_| {
        unconvertible(
            file,
            format!("vocabulary of {vocab_rows} tokens is too large"),
        )
    })?;
    Ok(Hyper {
        n_layer,
        hidden,
        ffn,
        n_head,
        n_head_kv,
        head_dim,
        rms_eps,
        rope_theta,
        context,
        vocab,
        rope_scaling,
    })
}

/// The sort key, Hugging Face name and permutation of one GGUF tensor.
fn hf_name(
    file: &GgufFile,
    info: &TensorInfo,
    n_layer: usize,
) -> Result<(SortKey, String, Option<bool>), GgufError> {
    let unmapped = || {
        unconvertible(
            file,
            format!(
                "tensor '{}' has no Hugging Face Llama counterpart",
                info.name
            ),
        )
    };
    let (stem, suffix) = info.name.rsplit_once('.').ok_or_else(unmapped)?;
    let suffix_rank = match suffix {
        "weight" => 0,
        "bias" => 1,
        _ => return Err(unmapped()),
    };
    let global = MODEL_TENSORS.iter().position(|(gguf, _)| *gguf == stem);
    if let Some(position) = global {
        // Groups: 0 embeddings, 1 layers, 2 final norm, 3 head.
        let group = if position == 0 { 0 } else { position as u8 + 1 };
        let hf = MODEL_TENSORS[position].1;
        return Ok(((group, 0, 0, suffix_rank), format!("{hf}.{suffix}"), None));
    }
    let rest = stem.strip_prefix("blk.").ok_or_else(unmapped)?;
    let (layer, part) = rest.split_once('.').ok_or_else(unmapped)?;
    let layer: usize = layer.parse().map_err(|_| unmapped())?;
    if layer >= n_layer {
        return Err(unconvertible(
            file,
            format!(
                "tensor '{}' belongs to layer {layer}, but llama.block_count is {n_layer}",
                info.name
            ),
        ));
    }
    let (rank, layer_part) = LayerPart::ALL
        .into_iter()
        .enumerate()
        .find(|(_, p)| p.gguf() == Some(part))
        .ok_or_else(unmapped)?;
    Ok((
        (1, layer, rank, suffix_rank),
        layer_part.name(layer, suffix),
        permuted(layer_part),
    ))
}
