//! A Hugging Face model folder on disk: `config.json`, single or sharded safetensors, tokenizer files.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::ModelConfig;
use crate::error::{Result, WeightsError};
use crate::tensor::{TensorMeta, TensorSource};
use crate::{SafetensorsFile, TensorSpan};

/// The single-file weights name.
pub const SINGLE_WEIGHTS: &str = "model.safetensors";
/// The index of sharded weights.
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
/// Files beside the weights that a model folder carries along: tokenizer and generation settings.
pub const COMPANION_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
];

/// An opened Hugging Face model folder; tensors are read lazily from memory-mapped shards.
#[derive(Debug)]
pub struct HfModel {
    dir: PathBuf,
    config: ModelConfig,
    shards: Vec<SafetensorsFile>,
    metas: Vec<TensorMeta>,
    /// tensor name -> (shard index, span index)
    locations: HashMap<String, (usize, usize)>,
}

impl HfModel {
    /// Opens `dir`, reading `config.json` and every shard's header.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(WeightsError::folder(
                dir,
                "not a folder (expected a Hugging Face model folder with config.json and *.safetensors)",
            ));
        }
        let config = ModelConfig::load(&dir.join("config.json"))?;
        let shard_names = shard_names(dir)?;
        let mut shards = Vec::with_capacity(shard_names.len());
        let mut locations = HashMap::new();
        let mut metas = Vec::new();
        for (file_name, expected) in &shard_names {
            let shard = SafetensorsFile::open(&dir.join(file_name))?;
            let index = shards.len();
            for (i, span) in shard.spans().iter().enumerate() {
                if let Some(expected) = expected {
                    if !expected.contains(&span.meta.name) {
                        continue;
                    }
                }
                if locations
                    .insert(span.meta.name.clone(), (index, i))
                    .is_some()
                {
                    return Err(WeightsError::folder(
                        dir,
                        format!(
                            "tensor `{}` is stored in more than one shard",
                            span.meta.name
                        ),
                    ));
                }
                metas.push(span.meta.clone());
            }
            if let Some(expected) = expected {
                if let Some(name) = expected.iter().find(|n| !locations.contains_key(*n)) {
                    return Err(WeightsError::format(
                        dir.join(WEIGHTS_INDEX),
                        format!("maps tensor `{name}` to {file_name}, which does not contain it"),
                    ));
                }
            }
            shards.push(shard);
        }
        metas.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            shards,
            metas,
            locations,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checked `config.json`.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Companion files (tokenizer, generation config) present in the folder.
    pub fn companion_files(&self) -> Vec<PathBuf> {
        COMPANION_FILES
            .iter()
            .map(|f| self.dir.join(f))
            .filter(|p| p.is_file())
            .collect()
    }

    /// The companion files' names and bytes, to write beside merged or converted weights.
    pub fn read_companions(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.companion_files()
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).map_err(|e| WeightsError::io(&p, e))?;
                let name = p
                    .file_name()
                    .expect("companion files have names")
                    .to_string_lossy()
                    .into_owned();
                Ok((name, bytes))
            })
            .collect()
    }

    /// The shard files, in index order.
    pub fn shard_paths(&self) -> Vec<&Path> {
        self.shards.iter().map(|s| s.path()).collect()
    }

    fn span(&self, name: &str) -> Result<(&SafetensorsFile, &TensorSpan)> {
        let (shard, span) =
            *self
                .locations
                .get(name)
                .ok_or_else(|| WeightsError::MissingTensor {
                    name: name.to_string(),
                    model: self.describe(),
                })?;
        let file = &self.shards[shard];
        Ok((file, &file.spans()[span]))
    }
}

impl TensorSource for HfModel {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn metas(&self) -> &[TensorMeta] {
        &self.metas
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let (file, span) = self.span(name)?;
        let mut out = Vec::new();
        span.meta.dtype.decode(file.bytes(span), &mut out);
        Ok(out)
    }

    fn raw_bytes(&self, name: &str) -> Option<&[u8]> {
        self.span(name).ok().map(|(file, span)| file.bytes(span))
    }

    fn meta(&self, name: &str) -> Option<&TensorMeta> {
        let (file, span) = self.locations.get(name)?;
        Some(&self.shards[*file].spans()[*span].meta)
    }
}

/// The shard files to open, each with the tensor names the index assigns to it (None: all).
type ShardList = Vec<(String, Option<Vec<String>>)>;

fn shard_names(dir: &Path) -> Result<ShardList> {
    let index_path = dir.join(WEIGHTS_INDEX);
    if index_path.is_file() {
        return read_index(&index_path);
    }
    if dir.join(SINGLE_WEIGHTS).is_file() {
        return Ok(vec![(SINGLE_WEIGHTS.to_string(), None)]);
    }
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| WeightsError::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors") || n.ends_with(".bin") || n.ends_with(".gguf"))
        .collect();
    others.sort();
    let found = if others.is_empty() {
        "no weight files at all".to_string()
    } else {
        format!("found only {}", others.join(", "))
    };
    Err(WeightsError::folder(
        dir,
        format!("no weights: expected {SINGLE_WEIGHTS} or {WEIGHTS_INDEX}, {found} (GGUF files convert with `cycleqd convert`)"),
    ))
}

fn read_index(path: &Path) -> Result<ShardList> {
    let text = std::fs::read_to_string(path).map_err(|e| WeightsError::io(path, e))?;
    let index: Value = serde_json::from_str(&text)
        .map_err(|e| WeightsError::format(path, format!("not valid JSON: {e}")))?;
    let map = index
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| WeightsError::format(path, "has no `weight_map` object"))?;
    let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tensor, shard) in map {
        let shard = shard.as_str().ok_or_else(|| {
            WeightsError::format(path, format!("`weight_map.{tensor}` is not a file name"))
        })?;
        if shard.contains('/') || shard.contains('\\') || shard == ".." {
            return Err(WeightsError::format(
                path,
                format!("`weight_map.{tensor}` = `{shard}` must be a file name in the folder"),
            ));
        }
        by_shard
            .entry(shard.to_string())
            .or_default()
            .push(tensor.clone());
    }
    if by_shard.is_empty() {
        return Err(WeightsError::format(path, "`weight_map` is empty"));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    for shard in by_shard.keys() {
        if !dir.join(shard).is_file() {
            return Err(WeightsError::format(
                path,
                format!(
                    "names shard {shard}, which does not exist in {}",
                    dir.display()
                ),
            ));
        }
    }
    Ok(by_shard.into_iter().map(|(k, v)| (k, Some(v))).collect())
}

/// Orders names so that embedded numbers compare as numbers: `layers.2` before `layers.10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let mut a = a.as_bytes();
    let mut b = b.as_bytes();
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (trim_zeros(&a[..na]), trim_zeros(&b[..nb]));
                let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering;

    #[test]
    fn natural_order_compares_numbers() {
        assert_eq!(natural_cmp("layers.2.w", "layers.10.w"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("a.1", "a.01"), Ordering::Equal);
        assert_eq!(natural_cmp("b", "a.1"), Ordering::Greater);
    }
}
