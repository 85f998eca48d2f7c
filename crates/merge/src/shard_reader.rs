//! Positioned reads of tensor bytes from a Hugging Face folder's safetensors shards.
//!
//! Reading through the file (pread) instead of a memory map keeps page-cache pages out of the
//! process's resident set and avoids a page fault per 4 KiB, and lets a big tensor be read a
//! range of elements at a time. The folder has already been opened and checked by
//! [`HfModel::open`]; this only locates each tensor's bytes.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

use cycleqd_weights::{DType, HfModel, SafetensorsFile, TensorSource, WeightsError, WEIGHTS_INDEX};

use crate::convert::decode_into;
use crate::error::{MergeError, Result};

/// Where one tensor's bytes are.
struct Location {
    file: usize,
    offset: u64,
    dtype: DType,
}

/// Reads element ranges of a model's tensors with positioned reads.
pub struct ShardReader {
    files: Vec<(File, String)>,
    tensors: HashMap<String, Location>,
}

impl ShardReader {
    /// Locates every tensor of `model` in its shards.
    pub fn open(model: &HfModel) -> Result<Self> {
        let assigned = shard_assignment(model.dir())?;
        let mut files = Vec::new();
        let mut tensors = HashMap::new();
        for path in model.shard_paths() {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let shard = SafetensorsFile::open(path)?;
            let index = files.len();
            for span in shard.spans() {
                let owned_here = assigned
                    .as_ref()
                    .is_none_or(|a| a.get(&span.meta.name) == Some(&file_name));
                if owned_here && model.meta(&span.meta.name) == Some(&span.meta) {
                    tensors.insert(
                        span.meta.name.clone(),
                        Location {
                            file: index,
                            offset: span.range.start as u64,
                            dtype: span.meta.dtype,
                        },
                    );
                }
            }
            let file = File::open(path).map_err(|e| weights_io(path, e))?;
            files.push((file, path.display().to_string()));
        }
        if let Some(m) = model
            .metas()
            .iter()
            .find(|m| !tensors.contains_key(&m.name))
        {
            return Err(MergeError::Invalid(format!(
                "{}: cannot locate tensor `{}` in its shards",
                model.describe(),
                m.name
            )));
        }
        Ok(Self { files, tensors })
    }

    /// Reads elements `elements` of tensor `name` into `out` as f32, using `bytes` as the
    /// read buffer (both keep their capacity between calls).
    pub fn read(
        &self,
        name: &str,
        elements: Range<usize>,
        bytes: &mut Vec<u8>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let location = self.tensors.get(name).ok_or_else(|| {
            MergeError::Invalid(format!("tensor `{name}` is not in the shards being read"))
        })?;
        let size = location.dtype.size();
        let (file, path) = &self.files[location.file];
        bytes.resize(elements.len() * size, 0);
        file.read_exact_at(bytes, location.offset + (elements.start * size) as u64)
            .map_err(|e| weights_io(Path::new(path), e))?;
        decode_into(location.dtype, bytes, out);
        Ok(())
    }
}

fn weights_io(path: &Path, error: std::io::Error) -> MergeError {
    MergeError::Weights(WeightsError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// The index's tensor -> shard file map, or `None` for a single-file model.
fn shard_assignment(dir: &Path) -> Result<Option<HashMap<String, String>>> {
    let index = dir.join(WEIGHTS_INDEX);
    if !index.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&index).map_err(|e| weights_io(&index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| MergeError::Invalid(format!("{}: not valid JSON: {e}", index.display())))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| {
            MergeError::Invalid(format!("{}: no `weight_map` object", index.display()))
        })?;
    Ok(Some(
        map.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cycleqd_weights::{write_random_llama, LlamaShape};

    #[test]
    fn reads_the_same_values_as_the_model() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, dtype, shard) in [("one", DType::BF16, u64::MAX), ("many", DType::F32, 20_000)] {
            let dir =
                write_random_llama(&tmp.path().join(name), &LlamaShape::tiny(), 4, dtype, shard)
                    .unwrap();
            let model = HfModel::open(&dir).unwrap();
            let reader = ShardReader::open(&model).unwrap();
            let (mut bytes, mut out) = (Vec::new(), Vec::new());
            for m in model.metas() {
                let all = model.read_f32(&m.name).unwrap();
                let n = all.len();
                reader.read(&m.name, 0..n, &mut bytes, &mut out).unwrap();
                assert_eq!(out, all, "{name}: {}", m.name);
                reader
                    .read(&m.name, n / 3..n / 2, &mut bytes, &mut out)
                    .unwrap();
                assert_eq!(out, all[n / 3..n / 2], "{name}: {}", m.name);
            }
        }
    }
}
