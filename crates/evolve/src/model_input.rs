//! Opens whatever the user names as a model: a Hugging Face folder or a GGUF file.

use std::path::{Path, PathBuf};

use cycleqd_weights::{GgufModel, HfModel, TensorSource};
use serde_json::Value;

use crate::error::{EvolveError, Result};

/// A model opened for reading, with what is needed to write it out again.
pub enum ModelInput {
    /// A Hugging Face folder.
    Hf(HfModel),
    /// A llama GGUF file.
    Gguf(GgufModel),
}

impl ModelInput {
    /// Opens `path`, deciding by what it is.
    pub fn open(path: &Path) -> Result<Self> {
        let model_err = |source| EvolveError::model(path, source);
        if !path.exists() {
            return Err(EvolveError::Invalid(format!(
                "{}: no such file or folder",
                path.display()
            )));
        }
        if path.is_dir() {
            Ok(Self::Hf(HfModel::open(path).map_err(model_err)?))
        } else {
            Ok(Self::Gguf(GgufModel::open(path).map_err(model_err)?))
        }
    }

    /// Opens every model of `paths`, in order.
    pub fn open_all(paths: &[PathBuf]) -> Result<Vec<Self>> {
        paths.iter().map(|p| Self::open(p)).collect()
    }

    /// The tensors.
    pub fn source(&self) -> &dyn TensorSource {
        match self {
            Self::Hf(m) => m,
            Self::Gguf(m) => m,
        }
    }

    /// What kind of input this is, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hf(_) => "Hugging Face folder",
            Self::Gguf(_) => "GGUF file",
        }
    }

    /// The `config.json` to write with a converted copy.
    pub fn config_json(&self) -> Value {
        match self {
            Self::Hf(m) => m.config().raw.clone(),
            Self::Gguf(m) => m.config_json(),
        }
    }

    /// Tokenizer and generation files to write beside the weights: (file name, bytes).
    pub fn companions(&self) -> Result<Vec<(String, Vec<u8>)>> {
        match self {
            Self::Hf(m) => m
                .companion_files()
                .into_iter()
                .map(|p| {
                    let bytes = std::fs::read(&p).map_err(|e| EvolveError::io(&p, e))?;
                    let name = p
                        .file_name()
                        .expect("companion files have names")
                        .to_string_lossy()
                        .into_owned();
                    Ok((name, bytes))
                })
                .collect(),
            Self::Gguf(m) => Ok(m.companion_files()?),
        }
    }

    /// Files the model occupies on disk.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Self::Hf(m) => {
                let mut files: Vec<PathBuf> =
                    m.shard_paths().into_iter().map(Path::to_path_buf).collect();
                files.push(m.dir().join("config.json"));
                files.extend(m.companion_files());
                let index = m.dir().join(cycleqd_weights::WEIGHTS_INDEX);
                if index.is_file() {
                    files.push(index);
                }
                files
            }
            Self::Gguf(m) => vec![m.path().to_path_buf()],
        }
    }
}

impl TensorSource for ModelInput {
    fn describe(&self) -> String {
        self.source().describe()
    }

    fn metas(&self) -> &[cycleqd_weights::TensorMeta] {
        self.source().metas()
    }

    fn read_f32(&self, name: &str) -> cycleqd_weights::Result<Vec<f32>> {
        self.source().read_f32(name)
    }

    fn raw_bytes(&self, name: &str) -> Option<&[u8]> {
        self.source().raw_bytes(name)
    }
}
