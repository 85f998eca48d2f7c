//! One `.safetensors` file, memory-mapped, its header checked up front.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde_json::Value;

use crate::dtype::DType;
use crate::error::{Result, WeightsError};
use crate::tensor::TensorMeta;

/// Headers above this size are refused: real ones are kilobytes, and a garbage length must not
/// make us allocate gigabytes.
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// A tensor's place inside a safetensors file.
#[derive(Clone, Debug)]
pub struct TensorSpan {
    /// Name, shape, dtype.
    pub meta: TensorMeta,
    /// Absolute byte range in the file.
    pub range: std::ops::Range<usize>,
}

/// A memory-mapped safetensors file.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    map: Mmap,
    spans: Vec<TensorSpan>,
    metadata: BTreeMap<String, String>,
}

impl SafetensorsFile {
    /// Opens and validates `path`: header length, JSON, dtypes, shapes, and that every tensor's
    /// bytes lie inside the file and match its shape.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| WeightsError::io(path, e))?;
        // SAFETY: the map is read-only; a file truncated under us by another process can fault,
        // the same contract every mmap-based model loader has.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| WeightsError::io(path, e))?;
        let (spans, metadata) = parse_header(path, &map)?;
        Ok(Self {
            path: path.to_path_buf(),
            map,
            spans,
            metadata,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its tensors in header order.
    pub fn spans(&self) -> &[TensorSpan] {
        &self.spans
    }

    /// The header's `__metadata__` (string to string; empty when the file has none).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The bytes of one span.
    pub fn bytes(&self, span: &TensorSpan) -> &[u8] {
        &self.map[span.range.clone()]
    }
}

/// The file's tensors and its `__metadata__`.
type Header = (Vec<TensorSpan>, BTreeMap<String, String>);

fn parse_header(path: &Path, map: &[u8]) -> Result<Header> {
    let bad = |problem: String| WeightsError::format(path, problem);
    if map.len() < 8 {
        return Err(bad(format!(
            "not a safetensors file: {} bytes, too short for the 8-byte header length (truncated?)",
            map.len()
        )));
    }
    let header_len = u64::from_le_bytes(map[..8].try_into().expect("8 bytes"));
    if header_len > MAX_HEADER_BYTES || header_len + 8 > map.len() as u64 {
        return Err(bad(format!(
            "corrupt safetensors header: it claims {header_len} bytes but the file has {} (truncated or not safetensors)",
            map.len()
        )));
    }
    let data_start = 8 + header_len as usize;
    let header: Value = serde_json::from_slice(&map[8..data_start])
        .map_err(|e| bad(format!("corrupt safetensors header: not valid JSON ({e})")))?;
    let entries = header
        .as_object()
        .ok_or_else(|| bad("corrupt safetensors header: expected a JSON object".into()))?;
    let data_len = map.len() - data_start;
    let mut spans = Vec::with_capacity(entries.len());
    let mut metadata = BTreeMap::new();
    for (name, entry) in entries {
        if name == "__metadata__" {
            metadata = string_map(entry).ok_or_else(|| {
                bad("corrupt safetensors header: `__metadata__` must map strings to strings".into())
            })?;
            continue;
        }
        let field = |key: &str| {
            entry
                .get(key)
                .ok_or_else(|| bad(format!("tensor `{name}`: header entry has no `{key}`")))
        };
        let dtype_name = field("dtype")?.as_str().unwrap_or("?");
        let dtype = DType::from_safetensors(dtype_name).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has dtype {dtype_name}; supported: F32, F16, BF16"
            ))
        })?;
        let shape = usize_list(field("shape")?).ok_or_else(|| {
            bad(format!(
                "tensor `{name}`: `shape` must be a list of integers"
            ))
        })?;
        let offsets = usize_list(field("data_offsets")?)
            .filter(|o| o.len() == 2 && o[0] <= o[1])
            .ok_or_else(|| {
                bad(format!(
                    "tensor `{name}`: `data_offsets` must be [begin, end] with begin <= end"
                ))
            })?;
        if offsets[1] > data_len {
            return Err(bad(format!(
                "tensor `{name}` ends at data byte {} but the file holds only {data_len} data bytes (truncated?)",
                offsets[1]
            )));
        }
        let meta = TensorMeta {
            name: name.clone(),
            shape,
            dtype,
        };
        let expected = meta
            .shape
            .iter()
            .try_fold(dtype.size(), |acc, d| acc.checked_mul(*d));
        if expected != Some(offsets[1] - offsets[0]) {
            return Err(bad(format!(
                "tensor `{name}`: shape {:?} in {dtype} does not fit the {} bytes the header gives",
                meta.shape,
                offsets[1] - offsets[0]
            )));
        }
        spans.push(TensorSpan {
            meta,
            range: data_start + offsets[0]..data_start + offsets[1],
        });
    }
    check_no_overlap(path, &mut spans)?;
    Ok((spans, metadata))
}

fn string_map(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn check_no_overlap(path: &Path, spans: &mut [TensorSpan]) -> Result<()> {
    spans.sort_by_key(|s| s.range.start);
    for pair in spans.windows(2) {
        if pair[1].range.start < pair[0].range.end {
            return Err(WeightsError::format(
                path,
                format!(
                    "corrupt safetensors header: tensors `{}` and `{}` overlap",
                    pair[0].meta.name, pair[1].meta.name
                ),
            ));
        }
    }
    Ok(())
}

fn usize_list(v: &Value) -> Option<Vec<usize>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_u64().map(|n| n as usize))
        .collect()
}
