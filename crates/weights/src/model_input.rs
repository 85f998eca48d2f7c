//! Opens whatever the user names as a model: a Hugging Face folder, a GGUF file, or a PEFT
//! LoRA adapter folder applied to a base.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::content_hash::ContentHash;
use crate::error::{Result, WeightsError};
use crate::gguf_model::GgufModel;
use crate::hf_folder::{HfModel, WEIGHTS_INDEX};
use crate::peft_adapter::{
    is_peft_adapter, AdaptedModel, PeftAdapter, ADAPTER_CONFIG, ADAPTER_WEIGHTS,
};
use crate::tensor::{TensorMeta, TensorSource};

/// A model opened for reading, with what is needed to write it out again.
pub enum ModelInput {
    /// A Hugging Face folder.
    Hf(HfModel),
    /// A llama GGUF file.
    Gguf(GgufModel),
    /// A PEFT LoRA adapter folder applied to its base (config and tokenizer are the base's).
    Adapted(Box<AdaptedModel<ModelInput>>),
}

impl ModelInput {
    /// Opens `path`, deciding by what it is. An adapter folder is applied to the base its
    /// `base_model_name_or_path` names, which must then be a local model.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_base(path, None)
    }

    /// Opens `path`; an adapter folder is applied to `base` when given (else as
    /// [`ModelInput::open`] does). Models that are not adapters ignore `base`.
    pub fn open_with_base(path: &Path, base: Option<&Path>) -> Result<Self> {
        let hash = OnceCell::new();
        Self::open_sharing_hash(path, base, &hash)
    }

    /// Opens every model of `paths`, in order, applying adapter folders to `base`; the base's
    /// content hash is computed at most once for them all.
    pub fn open_all_with_base(paths: &[PathBuf], base: &Path) -> Result<Vec<Self>> {
        let hash = OnceCell::new();
        paths
            .iter()
            .map(|p| Self::open_sharing_hash(p, Some(base), &hash))
            .collect()
    }

    fn open_sharing_hash(
        path: &Path,
        base: Option<&Path>,
        base_hash: &OnceCell<String>,
    ) -> Result<Self> {
        if !path.exists() {
            return Err(WeightsError::Invalid(format!(
                "{}: no such file or folder; give a Hugging Face model folder, a llama GGUF \
                 file or a PEFT adapter folder (`cycleqd data fetch smollm2` fetches a GGUF)",
                path.display()
            )));
        }
        if is_peft_adapter(path) {
            return Self::open_adapter(path, base, base_hash);
        }
        let model_err = |source| WeightsError::model(path, source);
        if path.is_dir() {
            Ok(Self::Hf(HfModel::open(path).map_err(model_err)?))
        } else {
            Ok(Self::Gguf(GgufModel::open(path).map_err(model_err)?))
        }
    }

    fn open_adapter(
        path: &Path,
        base: Option<&Path>,
        base_hash: &OnceCell<String>,
    ) -> Result<Self> {
        let adapter = PeftAdapter::open(path)?;
        let base_path = match base {
            Some(b) => b.to_path_buf(),
            None => recorded_base(&adapter)?,
        };
        if is_peft_adapter(&base_path) {
            return Err(WeightsError::Invalid(format!(
                "{}: the base of adapter {} is itself an adapter folder; give a model as the base",
                base_path.display(),
                path.display()
            )));
        }
        let base = Self::open_sharing_hash(&base_path, None, &OnceCell::new())?;
        // Hashing a base costs a read of every byte: done only when the adapter can be
        // checked, and once for all the adapters of one base.
        let hash = match adapter.base_content_hash() {
            Some(_) => {
                if base_hash.get().is_none() {
                    let _ = base_hash.set(ContentHash::of_model(base.source())?.hex());
                }
                base_hash.get().cloned()
            }
            None => None,
        };
        Ok(Self::Adapted(Box::new(AdaptedModel::new(
            base,
            adapter,
            hash.as_deref(),
        )?)))
    }

    /// The tensors.
    pub fn source(&self) -> &dyn TensorSource {
        match self {
            Self::Hf(m) => m,
            Self::Gguf(m) => m,
            Self::Adapted(m) => m.as_ref(),
        }
    }

    /// What kind of input this is, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hf(_) => "Hugging Face folder",
            Self::Gguf(_) => "GGUF file",
            Self::Adapted(_) => "PEFT LoRA adapter on its base",
        }
    }

    /// The `config.json` to write with a converted copy.
    pub fn config_json(&self) -> Value {
        match self {
            Self::Hf(m) => m.config().raw.clone(),
            Self::Gguf(m) => m.config_json(),
            Self::Adapted(m) => m.base().config_json(),
        }
    }

    /// Tokenizer and generation files to write beside the weights: (file name, bytes).
    pub fn companions(&self) -> Result<Vec<(String, Vec<u8>)>> {
        match self {
            Self::Hf(m) => m.read_companions(),
            Self::Gguf(m) => Ok(m.companion_files()?),
            Self::Adapted(m) => m.base().companions(),
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
                let index = m.dir().join(WEIGHTS_INDEX);
                if index.is_file() {
                    files.push(index);
                }
                files
            }
            Self::Gguf(m) => vec![m.path().to_path_buf()],
            Self::Adapted(m) => {
                let dir = m.adapter().dir();
                let mut files = vec![dir.join(ADAPTER_CONFIG), dir.join(ADAPTER_WEIGHTS)];
                files.extend(m.base().files());
                files
            }
        }
    }
}

/// The base an adapter names in `base_model_name_or_path`, when that is a local model: as
/// PEFT reads it (relative to the working directory), else relative to the adapter folder
/// (an adapter kept beside its base).
fn recorded_base(adapter: &PeftAdapter) -> Result<PathBuf> {
    let dir = adapter.dir();
    let named = adapter.base_model_name_or_path().unwrap_or_default();
    let found = [PathBuf::from(named), dir.join(named)]
        .into_iter()
        .find(|p| !named.is_empty() && p.exists());
    found.ok_or_else(|| {
        let what = if named.is_empty() {
            "names no base model (`base_model_name_or_path` is empty)".to_string()
        } else {
            format!("names base model `{named}`, which is not a local folder or file")
        };
        WeightsError::Invalid(format!(
            "{}: the adapter {what}; pass the base with --base",
            dir.display()
        ))
    })
}

impl TensorSource for ModelInput {
    fn describe(&self) -> String {
        self.source().describe()
    }

    fn metas(&self) -> &[TensorMeta] {
        self.source().metas()
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.source().read_f32(name)
    }

    fn raw_bytes(&self, name: &str) -> Option<&[u8]> {
        self.source().raw_bytes(name)
    }
}
