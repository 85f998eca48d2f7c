//! Reading GGUF files (llama.cpp's format) and converting llama models to Hugging Face form.
//!
//! [`GgufFile`] memory-maps a GGUF (v2 or v3) and reads its metadata and tensor infos; tensor data
//! is dequantized to f32 one tensor at a time, in parallel over blocks. [`LlamaGguf`] maps a
//! llama-architecture file onto `LlamaForCausalLM`: Hugging Face tensor names and shapes,
//! `config.json`, un-permuted Q/K projections, and the tokenizer files ([`TokenizerFiles`]).
//!
//! ```no_run
//! use cycleqd_weights::gguf::{GgufFile, LlamaGguf};
//!
//! let llama = LlamaGguf::from_file(GgufFile::open("model.gguf")?)?;
//! for entry in llama.tensors() {
//!     let values = llama.read_f32(&entry.hf_name)?;
//!     assert_eq!(values.len(), entry.shape.iter().product::<usize>());
//! }
//! let config = llama.config_json();
//! # Ok::<(), cycleqd_weights::gguf::GgufError>(())
//! ```

mod byte_alphabet;
mod dequant;
mod error;
mod file;
mod ggml_type;
mod keys;
mod llama;
mod metadata;
mod permute;
mod spm_merges;
mod tokenizer;

pub use dequant::{dequantize, DequantizeError};
pub use error::GgufError;
pub use file::{GgufFile, TensorInfo, DEFAULT_ALIGNMENT};
pub use ggml_type::{GgmlType, DEQUANTIZABLE};
pub use llama::{HfTensorEntry, LlamaGguf};
pub use metadata::MetadataValue;
pub use tokenizer::TokenizerFiles;
