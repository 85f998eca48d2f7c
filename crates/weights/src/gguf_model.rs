//! A llama GGUF file seen as a model source: tensors under Hugging Face names, dequantized on
//! demand, with the `config.json` and tokenizer files a converted folder needs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::dtype::DType;
use crate::error::Result;
use crate::gguf::{GgmlType, GgufFile, LlamaGguf};
use crate::tensor::{TensorMeta, TensorSource};

/// A llama-architecture GGUF opened for reading.
#[derive(Debug)]
pub struct GgufModel {
    path: PathBuf,
    llama: LlamaGguf,
    metas: Vec<TensorMeta>,
}

impl GgufModel {
    /// Opens `path` and maps it onto `LlamaForCausalLM`.
    pub fn open(path: &Path) -> Result<Self> {
        let llama = LlamaGguf::from_file(GgufFile::open(path)?)?;
        let metas = llama
            .tensors()
            .iter()
            .map(|e| TensorMeta {
                name: e.hf_name.clone(),
                shape: e.shape.clone(),
                // Quantized tensors have no safetensors dtype; their exact value is f32.
                dtype: match e.gguf_type {
                    GgmlType::F16 => DType::F16,
                    GgmlType::BF16 => DType::BF16,
                    _ => DType::F32,
                },
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            llama,
            metas,
        })
    }

    /// The Hugging Face `config.json`.
    pub fn config_json(&self) -> Value {
        self.llama.config_json()
    }

    /// `tokenizer.json`, `tokenizer_config.json` and `generation_config.json`, as bytes.
    pub fn companion_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let tokenizer = self.llama.tokenizer()?;
        let pretty =
            |v: &Value| serde_json::to_vec_pretty(v).expect("JSON values always serialize");
        Ok(vec![
            (
                "tokenizer.json".into(),
                tokenizer.tokenizer_json.into_bytes(),
            ),
            (
                "tokenizer_config.json".into(),
                pretty(&tokenizer.tokenizer_config_json),
            ),
            (
                "generation_config.json".into(),
                pretty(&self.llama.generation_config_json()),
            ),
        ])
    }

    /// The GGUF file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TensorSource for GgufModel {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn metas(&self) -> &[TensorMeta] {
        &self.metas
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self.llama.read_f32(name)?)
    }
}
