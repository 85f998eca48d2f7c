//! Copying a model's tensors from any source into a new Hugging Face folder, in parallel.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use crate::dtype::DType;
use crate::error::Result;
use crate::model_writer::ModelWriter;
use crate::tensor::{TensorMeta, TensorSource};

/// How to write the copy.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Output dtype for every tensor; `None` keeps each tensor's source dtype.
    pub dtype: Option<DType>,
    /// Largest shard in bytes.
    pub shard_limit: u64,
}

/// Writes every tensor of `source` to a new folder `out` with `config` and `companions`
/// (file name, bytes). Tensors whose dtype does not change are copied bit for bit.
/// `on_tensor` is called once per finished tensor (for progress).
pub fn copy_model(
    source: &dyn TensorSource,
    out: &Path,
    config: &Value,
    companions: &[(String, Vec<u8>)],
    options: &CopyOptions,
    on_tensor: &(dyn Fn(&TensorMeta) + Sync),
) -> Result<PathBuf> {
    let planned: Vec<TensorMeta> = source
        .metas()
        .iter()
        .map(|m| TensorMeta {
            dtype: options.dtype.unwrap_or(m.dtype),
            ..m.clone()
        })
        .collect();
    let writer = ModelWriter::create(out, &planned, options.shard_limit)?;
    planned.par_iter().try_for_each(|m| -> Result<()> {
        let same_dtype = source.meta(&m.name).map(|s| s.dtype) == Some(m.dtype);
        match source.raw_bytes(&m.name).filter(|_| same_dtype) {
            Some(bytes) => writer.write_raw(&m.name, bytes)?,
            None => writer.write_f32(&m.name, &source.read_f32(&m.name)?)?,
        }
        on_tensor(m);
        Ok(())
    })?;
    writer.finish(config, companions)
}
