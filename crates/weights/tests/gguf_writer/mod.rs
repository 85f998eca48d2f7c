//! A small GGUF writer for tests, written from the format description (not from the reader), and
//! a tiny llama model built with it.

#![allow(dead_code)] // Each test crate uses a different part.

use half::f16;

/// GGUF metadata value type ids.
pub const T_U8: u32 = 0;
pub const T_I8: u32 = 1;
pub const T_U16: u32 = 2;
pub const T_I16: u32 = 3;
pub const T_U32: u32 = 4;
pub const T_I32: u32 = 5;
pub const T_F32: u32 = 6;
pub const T_BOOL: u32 = 7;
pub const T_STRING: u32 = 8;
pub const T_ARRAY: u32 = 9;
pub const T_U64: u32 = 10;
pub const T_I64: u32 = 11;
pub const T_F64: u32 = 12;

/// ggml type ids used by the tests.
pub const GGML_F32: u32 = 0;
pub const GGML_F16: u32 = 1;
pub const GGML_Q8_0: u32 = 8;
pub const GGML_IQ2_XXS: u32 = 16;

pub fn string_bytes(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// An array value's bytes (element type, count, elements), for `GgufBuilder::kv`.
pub fn array_bytes(element_type: u32, items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = element_type.to_le_bytes().to_vec();
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub data: Vec<u8>,
    /// Written instead of the computed offset, to make bad files.
    pub offset_override: Option<u64>,
}

/// Collects metadata and tensors and lays them out as a GGUF file.
pub struct GgufBuilder {
    pub version: u32,
    pub alignment: u64,
    kvs: Vec<(String, u32, Vec<u8>)>,
    pub tensors: Vec<Tensor>,
}

impl Default for GgufBuilder {
    fn default() -> Self {
        GgufBuilder {
            version: 3,
            alignment: 32,
            kvs: Vec::new(),
            tensors: Vec::new(),
        }
    }
}

impl GgufBuilder {
    pub fn kv(&mut self, key: &str, type_id: u32, value: Vec<u8>) -> &mut Self {
        self.kvs.retain(|(k, ..)| k != key);
        self.kvs.push((key.to_string(), type_id, value));
        self
    }

    /// Adds `key` even if it is already there, to make bad files.
    pub fn kv_again(&mut self, key: &str, type_id: u32, value: Vec<u8>) -> &mut Self {
        self.kvs.push((key.to_string(), type_id, value));
        self
    }

    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.kvs.retain(|(k, ..)| k != key);
        self
    }

    pub fn u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.kv(key, T_U32, v.to_le_bytes().to_vec())
    }

    pub fn f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.kv(key, T_F32, v.to_le_bytes().to_vec())
    }

    pub fn string(&mut self, key: &str, v: &str) -> &mut Self {
        self.kv(key, T_STRING, string_bytes(v))
    }

    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.kv(key, T_BOOL, vec![v as u8])
    }

    pub fn tensor(&mut self, name: &str, dims: &[u64], type_id: u32, data: Vec<u8>) -> &mut Self {
        self.tensors.push(Tensor {
            name: name.to_string(),
            dims: dims.to_vec(),
            type_id,
            data,
            offset_override: None,
        });
        self
    }

    pub fn f32_tensor(&mut self, name: &str, dims: &[u64], values: &[f32]) -> &mut Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, dims, GGML_F32, data)
    }

    /// Offset of each tensor's data from the start of the data section.
    pub fn offsets(&self) -> Vec<u64> {
        let mut offsets = Vec::new();
        let mut at = 0u64;
        for t in &self.tensors {
            offsets.push(at);
            at = (at + t.data.len() as u64).div_ceil(self.alignment) * self.alignment;
        }
        offsets
    }

    /// Length of the header and metadata, i.e. where the tensor infos start.
    pub fn metadata_end(&self) -> usize {
        24 + self
            .kvs
            .iter()
            .map(|(key, _, value)| 8 + key.len() + 4 + value.len())
            .sum::<usize>()
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (key, type_id, value) in &self.kvs {
            out.extend_from_slice(&string_bytes(key));
            out.extend_from_slice(&type_id.to_le_bytes());
            out.extend_from_slice(value);
        }
        for (t, offset) in self.tensors.iter().zip(self.offsets()) {
            out.extend_from_slice(&string_bytes(&t.name));
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.type_id.to_le_bytes());
            out.extend_from_slice(&t.offset_override.unwrap_or(offset).to_le_bytes());
        }
        let data_start = (out.len() as u64).div_ceil(self.alignment) * self.alignment;
        out.resize(data_start as usize, 0);
        for (t, offset) in self.tensors.iter().zip(self.offsets()) {
            out.resize((data_start + offset) as usize, 0);
            out.extend_from_slice(&t.data);
        }
        out
    }
}

/// Shape of the tiny llama test model.
#[derive(Clone, Copy)]
pub struct TinyLlama {
    pub n_layer: usize,
    pub hidden: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub tied: bool,
}

pub const TINY: TinyLlama = TinyLlama {
    n_layer: 2,
    hidden: 16,
    n_head: 4,
    n_head_kv: 2,
    ffn: 32,
    vocab: 40,
    tied: false,
};

/// A deterministic value for element `i` of the tensor named `name`, distinct across tensors.
pub fn value(name: &str, i: usize) -> f32 {
    let seed = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    ((seed % 1000) as f32) + (i as f32) * 0.001
}

/// llama.cpp's Q/K permutation, from its definition:
/// `w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)`.
pub fn llama_cpp_permute(w: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let half = rows / n_head / 2;
    let mut out = vec![0f32; w.len()];
    let mut dst = 0;
    for h in 0..n_head {
        for i in 0..half {
            for j in 0..2 {
                let src = (h * 2 * half + j * half + i) * cols;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src..src + cols]);
                dst += 1;
            }
        }
    }
    out
}

/// Hugging Face name and row-major shape of each tensor of the tiny model, with the GGUF name.
pub fn tiny_tensors(m: TinyLlama) -> Vec<(String, String, Vec<usize>)> {
    let head_dim = m.hidden / m.n_head;
    let kv = m.n_head_kv * head_dim;
    let mut out = vec![(
        "token_embd.weight".to_string(),
        "model.embed_tokens.weight".to_string(),
        vec![m.vocab, m.hidden],
    )];
    for l in 0..m.n_layer {
        for (gguf, hf, shape) in [
            ("attn_norm", "input_layernorm", vec![m.hidden]),
            ("attn_q", "self_attn.q_proj", vec![m.hidden, m.hidden]),
            ("attn_k", "self_attn.k_proj", vec![kv, m.hidden]),
            ("attn_v", "self_attn.v_proj", vec![kv, m.hidden]),
            ("attn_output", "self_attn.o_proj", vec![m.hidden, m.hidden]),
            ("ffn_norm", "post_attention_layernorm", vec![m.hidden]),
            ("ffn_gate", "mlp.gate_proj", vec![m.ffn, m.hidden]),
            ("ffn_up", "mlp.up_proj", vec![m.ffn, m.hidden]),
            ("ffn_down", "mlp.down_proj", vec![m.hidden, m.ffn]),
        ] {
            out.push((
                format!("blk.{l}.{gguf}.weight"),
                format!("model.layers.{l}.{hf}.weight"),
                shape,
            ));
        }
    }
    out.push((
        "output_norm.weight".into(),
        "model.norm.weight".into(),
        vec![m.hidden],
    ));
    if !m.tied {
        out.push((
            "output.weight".into(),
            "lm_head.weight".into(),
            vec![m.vocab, m.hidden],
        ));
    }
    out
}

/// A complete tiny llama GGUF: F32 tensors whose Hugging Face values are `value(hf_name, i)`,
/// stored the way llama.cpp's converter stores them (Q/K permuted, dims reversed), written in
/// reverse order so the reader has to sort.
pub fn tiny_llama(m: TinyLlama) -> GgufBuilder {
    let mut b = GgufBuilder::default();
    b.string("general.architecture", "llama")
        .string("general.name", "tiny")
        .u32("llama.block_count", m.n_layer as u32)
        .u32("llama.context_length", 256)
        .u32("llama.embedding_length", m.hidden as u32)
        .u32("llama.feed_forward_length", m.ffn as u32)
        .u32("llama.attention.head_count", m.n_head as u32)
        .u32("llama.attention.head_count_kv", m.n_head_kv as u32)
        .f32("llama.rope.freq_base", 10000.0)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-6)
        .u32("llama.vocab_size", m.vocab as u32)
        .u32("tokenizer.ggml.bos_token_id", 1)
        .u32("tokenizer.ggml.eos_token_id", 2);
    for (gguf, hf, shape) in tiny_tensors(m).into_iter().rev() {
        let n: usize = shape.iter().product();
        let mut values: Vec<f32> = (0..n).map(|i| value(&hf, i)).collect();
        let cols = shape[1..].iter().product();
        if gguf.contains("attn_q") {
            values = llama_cpp_permute(&values, shape[0], cols, m.n_head);
        } else if gguf.contains("attn_k") {
            values = llama_cpp_permute(&values, shape[0], cols, m.n_head_kv);
        }
        let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        b.f32_tensor(&gguf, &dims, &values);
    }
    b
}

/// Q8_0 blocks for `values` (a multiple of 32), quantized the simple way: d = max|x| / 127.
pub fn q8_0_bytes(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in values.chunks(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        for v in block {
            let q = if d == 0.0 { 0.0 } else { (v / d).round() };
            out.push(q as i8 as u8);
        }
    }
    out
}
