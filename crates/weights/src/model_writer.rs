//! Writes a Hugging Face model folder: safetensors shards planned up front so that tensors can
//! be written in any order from any thread, an index, the config and companion files, all in a
//! temporary folder that is renamed into place only when complete.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::dtype::DType;
use crate::error::{Result, WeightsError};
use crate::hf_folder::{SINGLE_WEIGHTS, WEIGHTS_INDEX};
use crate::tensor::TensorMeta;

/// Where one tensor goes.
#[derive(Clone, Debug)]
struct Slot {
    meta: TensorMeta,
    shard: usize,
    /// Absolute file offset of its first byte.
    offset: u64,
}

/// One output shard: its file name, and its header already written.
struct Shard {
    name: String,
    file: File,
    tensors: Vec<String>,
}

/// A model folder being written. Create it with every tensor's name, shape and output dtype;
/// write each tensor exactly once (any order, any thread); then [`ModelWriter::finish`].
pub struct ModelWriter {
    out_dir: PathBuf,
    tmp_dir: PathBuf,
    shards: Vec<Shard>,
    slots: HashMap<String, Slot>,
    written: Mutex<HashSet<String>>,
    finished: bool,
}

impl ModelWriter {
    /// Plans shards of at most `shard_limit` bytes each (a larger tensor gets a shard of its
    /// own) and creates them, pre-sized, in a temporary folder beside `out_dir`.
    /// `out_dir` must not exist yet, or be an empty folder.
    pub fn create(out_dir: &Path, tensors: &[TensorMeta], shard_limit: u64) -> Result<Self> {
        if tensors.is_empty() {
            return Err(WeightsError::Invalid(
                "a model folder needs at least one tensor".into(),
            ));
        }
        check_out_dir(out_dir)?;
        let tmp_dir = temp_sibling(out_dir);
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir).map_err(|e| WeightsError::io(&tmp_dir, e))?;
        }
        std::fs::create_dir_all(&tmp_dir).map_err(|e| WeightsError::io(&tmp_dir, e))?;
        let groups = plan_shards(tensors, shard_limit);
        let count = groups.len();
        let mut shards = Vec::with_capacity(count);
        let mut slots = HashMap::with_capacity(tensors.len());
        for (i, group) in groups.into_iter().enumerate() {
            let name = if count == 1 {
                SINGLE_WEIGHTS.to_string()
            } else {
                format!("model-{:05}-of-{count:05}.safetensors", i + 1)
            };
            let path = tmp_dir.join(&name);
            let (header, offsets, data_len) = shard_header(&group);
            let file = File::create(&path).map_err(|e| WeightsError::io(&path, e))?;
            let data_start = 8 + header.len() as u64;
            file.set_len(data_start + data_len)
                .map_err(|e| WeightsError::io(&path, e))?;
            file.write_all_at(&(header.len() as u64).to_le_bytes(), 0)
                .and_then(|_| file.write_all_at(&header, 8))
                .map_err(|e| WeightsError::io(&path, e))?;
            for (meta, offset) in group.iter().zip(offsets) {
                if slots
                    .insert(
                        meta.name.clone(),
                        Slot {
                            meta: (*meta).clone(),
                            shard: i,
                            offset: data_start + offset,
                        },
                    )
                    .is_some()
                {
                    return Err(WeightsError::Invalid(format!(
                        "tensor `{}` is listed twice for the output",
                        meta.name
                    )));
                }
            }
            shards.push(Shard {
                name,
                file,
                tensors: group.iter().map(|m| m.name.clone()).collect(),
            });
        }
        Ok(Self {
            out_dir: out_dir.to_path_buf(),
            tmp_dir,
            shards,
            slots,
            written: Mutex::new(HashSet::new()),
            finished: false,
        })
    }

    /// The planned output dtype and shape of a tensor.
    pub fn meta(&self, name: &str) -> Option<&TensorMeta> {
        self.slots.get(name).map(|s| &s.meta)
    }

    /// Number of shard files.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Writes one tensor from f32 values, rounding once to its output dtype.
    pub fn write_f32(&self, name: &str, values: &[f32]) -> Result<()> {
        let slot = self.slot(name, values.len())?;
        let mut bytes = Vec::new();
        slot.meta.dtype.encode(values, &mut bytes);
        self.write_bytes(slot, &bytes)
    }

    /// Writes one tensor's bytes, already in its output dtype (bit-exact copies).
    pub fn write_raw(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let numel = self
            .slots
            .get(name)
            .map(|s| bytes.len() / s.meta.dtype.size())
            .unwrap_or(0);
        let slot = self.slot(name, numel)?;
        if bytes.len() != numel * slot.meta.dtype.size() {
            return Err(WeightsError::Invalid(format!(
                "tensor `{name}`: {} bytes is not a whole number of {} elements",
                bytes.len(),
                slot.meta.dtype
            )));
        }
        self.write_bytes(slot, bytes)
    }

    fn slot(&self, name: &str, numel: usize) -> Result<&Slot> {
        let slot = self.slots.get(name).ok_or_else(|| {
            WeightsError::Invalid(format!("tensor `{name}` was not planned for this output"))
        })?;
        if slot.meta.numel() != numel {
            return Err(WeightsError::Mismatch {
                name: name.to_string(),
                problem: format!(
                    "planned shape {:?} has {} elements, {numel} were given",
                    slot.meta.shape,
                    slot.meta.numel()
                ),
            });
        }
        Ok(slot)
    }

    fn write_bytes(&self, slot: &Slot, bytes: &[u8]) -> Result<()> {
        {
            let mut written = self.written.lock().expect("writer lock poisoned");
            if !written.insert(slot.meta.name.clone()) {
                return Err(WeightsError::Invalid(format!(
                    "tensor `{}` written twice",
                    slot.meta.name
                )));
            }
        }
        let shard = &self.shards[slot.shard];
        shard
            .file
            .write_all_at(bytes, slot.offset)
            .map_err(|e| WeightsError::io(self.tmp_dir.join(&shard.name), e))
    }

    /// Checks every tensor was written, writes the index (when sharded), `config.json` (with
    /// `torch_dtype` set to the dominant output dtype) and the companion files, syncs, and
    /// renames the folder into place. Returns the output folder.
    pub fn finish(mut self, config: &Value, companions: &[(String, Vec<u8>)]) -> Result<PathBuf> {
        let done = self.written.lock().expect("writer lock poisoned").clone();
        if done.len() != self.slots.len() {
            let missing = self
                .slots
                .keys()
                .find(|n| !done.contains(*n))
                .cloned()
                .unwrap_or_default();
            return Err(WeightsError::Invalid(format!(
                "{} of {} tensors were never written, e.g. `{missing}`",
                self.slots.len() - done.len(),
                self.slots.len()
            )));
        }
        for shard in &self.shards {
            shard
                .file
                .sync_all()
                .map_err(|e| WeightsError::io(self.tmp_dir.join(&shard.name), e))?;
        }
        if self.shards.len() > 1 {
            let mut weight_map = Map::new();
            let mut total = 0u64;
            for shard in &self.shards {
                for t in &shard.tensors {
                    weight_map.insert(t.clone(), Value::String(shard.name.clone()));
                    let m = &self.slots[t].meta;
                    total += (m.numel() * m.dtype.size()) as u64;
                }
            }
            let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
            self.write_file(WEIGHTS_INDEX, &pretty(&index))?;
        }
        let mut config = config.clone();
        if let Some(obj) = config.as_object_mut() {
            obj.insert(
                "torch_dtype".into(),
                Value::String(self.dominant_dtype().torch_name().into()),
            );
        }
        self.write_file("config.json", &pretty(&config))?;
        for (name, bytes) in companions {
            self.write_file(name, bytes)?;
        }
        if self.out_dir.exists() {
            std::fs::remove_dir(&self.out_dir).map_err(|e| WeightsError::io(&self.out_dir, e))?;
        }
        std::fs::rename(&self.tmp_dir, &self.out_dir)
            .map_err(|e| WeightsError::io(&self.out_dir, e))?;
        self.finished = true;
        Ok(self.out_dir.clone())
    }

    fn dominant_dtype(&self) -> DType {
        let mut bytes: HashMap<DType, usize> = HashMap::new();
        for s in self.slots.values() {
            *bytes.entry(s.meta.dtype).or_default() += s.meta.numel();
        }
        bytes
            .into_iter()
            .max_by_key(|(d, n)| (*n, d.size()))
            .map(|(d, _)| d)
            .unwrap_or(DType::F32)
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.tmp_dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| WeightsError::io(&path, e))
    }
}

impl Drop for ModelWriter {
    fn drop(&mut self) {
        if !self.finished {
            // An abandoned write must not leave anything that looks like a model behind.
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_vec_pretty(v).expect("JSON values always serialize");
    s.push(b'\n');
    s
}

fn check_out_dir(out_dir: &Path) -> Result<()> {
    if out_dir.exists() {
        let empty = out_dir.is_dir()
            && std::fs::read_dir(out_dir)
                .map_err(|e| WeightsError::io(out_dir, e))?
                .next()
                .is_none();
        if !empty {
            return Err(WeightsError::folder(
                out_dir,
                "already exists and is not empty; choose another output or remove it",
            ));
        }
    }
    Ok(())
}

fn temp_sibling(out_dir: &Path) -> PathBuf {
    let name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    out_dir.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Groups tensors into shards of at most `limit` bytes, in the given order, largest element
/// size first inside a shard so every tensor stays aligned to its element size.
fn plan_shards(tensors: &[TensorMeta], limit: u64) -> Vec<Vec<&TensorMeta>> {
    let mut shards: Vec<Vec<&TensorMeta>> = vec![Vec::new()];
    let mut size = 0u64;
    for t in tensors {
        let bytes = (t.numel() * t.dtype.size()) as u64;
        let current = shards.last().expect("never empty");
        if !current.is_empty() && size + bytes > limit {
            shards.push(Vec::new());
            size = 0;
        }
        shards.last_mut().expect("never empty").push(t);
        size += bytes;
    }
    for shard in &mut shards {
        shard.sort_by_key(|m| std::cmp::Reverse(m.dtype.size()));
    }
    shards
}

/// The header bytes (padded with spaces to a multiple of 8), each tensor's data offset, and the
/// data length.
fn shard_header(group: &[&TensorMeta]) -> (Vec<u8>, Vec<u64>, u64) {
    let mut header = Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offsets = Vec::with_capacity(group.len());
    let mut at = 0u64;
    for m in group {
        let len = (m.numel() * m.dtype.size()) as u64;
        header.insert(
            m.name.clone(),
            json!({"dtype": m.dtype.safetensors_name(), "shape": m.shape, "data_offsets": [at, at + len]}),
        );
        offsets.push(at);
        at += len;
    }
    let mut bytes =
        serde_json::to_vec(&Value::Object(header)).expect("JSON values always serialize");
    while !bytes.len().is_multiple_of(8) {
        bytes.push(b' ');
    }
    (bytes, offsets, at)
}
