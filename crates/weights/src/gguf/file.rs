//! A memory-mapped GGUF file: header, metadata, tensor infos, and tensor data one tensor at a time.
//!
//! Layout (all little-endian): `"GGUF"`, version u32, tensor count u64, metadata count u64,
//! metadata key/value pairs, tensor infos (name, dims innermost first, ggml type, offset), padding
//! to `general.alignment` (default 32), then the tensor data, each tensor at its offset from there.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::dequant::{dequantize, DequantizeError};
use super::error::GgufError;
use super::ggml_type::{GgmlType, DEQUANTIZABLE};
use super::metadata::MetadataValue;

/// The alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// ggml tensors have at most this many dimensions.
const MAX_DIMS: u32 = 4;

/// Arrays of arrays deeper than this are rejected instead of recursing further.
const MAX_ARRAY_NESTING: u32 = 8;

/// Where and how one tensor is stored in a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The GGUF tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions as GGUF lists them: innermost (fastest-varying) first, the reverse of the
    /// row-major shape PyTorch and safetensors use.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        // Checked to fit when the file was opened; saturating keeps a hand-made info from panicking.
        self.dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// Number of bytes the data occupies.
    pub fn n_bytes(&self) -> u64 {
        (self.n_elements() / self.ggml_type.block_size()).saturating_mul(self.ggml_type.type_size())
    }

    /// The row-major shape (outermost first), as Hugging Face and safetensors write it.
    pub fn row_major_shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

/// An open GGUF file (version 2 or 3), memory-mapped; tensor data is read on demand.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    map: Mmap,
    version: u32,
    metadata: BTreeMap<String, MetadataValue>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_offset: u64,
}

impl GgufFile {
    /// Opens and validates a GGUF file: header, metadata, tensor infos, and that every tensor's
    /// data lies inside the file. No tensor data is read.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io = |error| GgufError::Io {
            path: path.clone(),
            error,
        };
        let file = File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only and private to this value. Like every reader of mapped
        // model files we rely on nobody truncating or rewriting the file while it is open.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let header = parse(&path, &map)?;
        Ok(GgufFile {
            by_name: header
                .tensors
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i))
                .collect(),
            path,
            map,
            version: header.version,
            metadata: header.metadata,
            tensors: header.tensors,
            alignment: header.alignment,
            data_offset: header.data_offset,
        })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, by key.
    pub fn metadata(&self) -> &BTreeMap<String, MetadataValue> {
        &self.metadata
    }

    /// One metadata value.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.metadata.get(key)
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The info of the tensor with this GGUF name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// Alignment of the data section and of every tensor offset.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset where the data section starts.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// The raw stored bytes of a tensor of this file.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        let start = self.data_offset.saturating_add(info.offset);
        let end = start.saturating_add(info.n_bytes());
        // Both bounds were checked against the file length in `open`; `get` keeps a foreign
        // `TensorInfo` from panicking.
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| self.map.get(s..e))
            .ok_or_else(|| GgufError::TensorDataOutOfBounds {
                path: self.path.clone(),
                tensor: info.name.clone(),
                start,
                end,
                file_len: self.map.len() as u64,
            })
    }

    /// The tensor with this GGUF name, dequantized to f32 in storage order (which is row-major
    /// for [`TensorInfo::row_major_shape`]).
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        let info = self.tensor(name).ok_or_else(|| GgufError::NoSuchTensor {
            path: self.path.clone(),
            name: name.to_string(),
        })?;
        let bytes = self.tensor_bytes(info)?;
        dequantize(info.ggml_type, bytes).map_err(|err| match err {
            DequantizeError::Unsupported(ty) => GgufError::UnsupportedTensorType {
                path: self.path.clone(),
                tensor: info.name.clone(),
                type_id: ty.id(),
                type_name: ty.name(),
                supported: DEQUANTIZABLE.map(GgmlType::name).join(", "),
            },
            DequantizeError::PartialBlock { .. } => GgufError::Malformed {
                path: self.path.clone(),
                what: format!("tensor '{}'", info.name),
                problem: err.to_string(),
            },
        })
    }
}

struct Header {
    version: u32,
    metadata: BTreeMap<String, MetadataValue>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    data_offset: u64,
}

/// Bounds-checked little-endian reads over the file bytes; every failure names the file.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let available = (self.bytes.len() - self.pos) as u64;
        if n > available {
            return Err(GgufError::Truncated {
                path: self.path.to_path_buf(),
                what: what.to_string(),
                offset: self.pos as u64,
                needed: n,
                file_len: self.bytes.len() as u64,
            });
        }
        let start = self.pos;
        // n <= available, which fits in usize.
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let at = self.pos;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|err| self.malformed(what, format!("string at byte {at} is not UTF-8: {err}")))
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn malformed(&self, what: &str, problem: String) -> GgufError {
        GgufError::Malformed {
            path: self.path.to_path_buf(),
            what: what.to_string(),
            problem,
        }
    }

    fn value(&mut self, type_id: u32, what: &str, depth: u32) -> Result<MetadataValue, GgufError> {
        Ok(match type_id {
            0 => MetadataValue::U8(u8::from_le_bytes(self.array(what)?)),
            1 => MetadataValue::I8(i8::from_le_bytes(self.array(what)?)),
            2 => MetadataValue::U16(u16::from_le_bytes(self.array(what)?)),
            3 => MetadataValue::I16(i16::from_le_bytes(self.array(what)?)),
            4 => MetadataValue::U32(u32::from_le_bytes(self.array(what)?)),
            5 => MetadataValue::I32(i32::from_le_bytes(self.array(what)?)),
            6 => MetadataValue::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match u8::from_le_bytes(self.array(what)?) {
                0 => MetadataValue::Bool(false),
                1 => MetadataValue::Bool(true),
                other => {
                    return Err(
                        self.malformed(what, format!("bool byte is {other}, expected 0 or 1"))
                    )
                }
            },
            8 => MetadataValue::String(self.string(what)?),
            9 => {
                if depth >= MAX_ARRAY_NESTING {
                    return Err(self.malformed(
                        what,
                        format!("arrays nested more than {MAX_ARRAY_NESTING} deep"),
                    ));
                }
                let element_type = self.u32(what)?;
                let count = self.u64(what)?;
                let min_size = match element_type {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => {
                        return Err(self.malformed(
                            what,
                            format!("array element type {other} is not a GGUF value type (0-12)"),
                        ))
                    }
                };
                // Checked before allocating, so a garbage count cannot exhaust memory.
                if count.saturating_mul(min_size) > self.remaining() {
                    return Err(GgufError::Truncated {
                        path: self.path.to_path_buf(),
                        what: format!("{what}: array of {count} elements"),
                        offset: self.pos as u64,
                        needed: count.saturating_mul(min_size),
                        file_len: self.bytes.len() as u64,
                    });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(element_type, what, depth + 1)?);
                }
                MetadataValue::Array(items)
            }
            10 => MetadataValue::U64(u64::from_le_bytes(self.array(what)?)),
            11 => MetadataValue::I64(i64::from_le_bytes(self.array(what)?)),
            12 => MetadataValue::F64(f64::from_le_bytes(self.array(what)?)),
            other => {
                return Err(self.malformed(
                    what,
                    format!("value type {other} is not a GGUF value type (0-12)"),
                ))
            }
        })
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Header, GgufError> {
    let mut r = Reader {
        path,
        bytes,
        pos: 0,
    };
    let magic_len = bytes.len().min(4);
    if bytes[..magic_len] != b"GGUF"[..magic_len] {
        return Err(GgufError::BadMagic {
            path: path.to_path_buf(),
            found: bytes[..magic_len].to_vec(),
        });
    }
    r.take(4, "header magic")?;
    let version = r.u32("header version")?;
    if version != 2 && version != 3 {
        let hint = if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            "; the file looks big-endian, and only little-endian GGUF is supported".to_string()
        } else if version == 1 {
            "; version 1 predates 64-bit counts: re-convert the model with a current llama.cpp"
                .to_string()
        } else {
            String::new()
        };
        return Err(GgufError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
            hint,
        });
    }
    let tensor_count = r.u64("header tensor count")?;
    let kv_count = r.u64("header metadata count")?;

    let mut metadata = BTreeMap::new();
    for i in 0..kv_count {
        let key = r.string(&format!("metadata key #{i}"))?;
        let what = format!("metadata key '{key}'");
        let type_id = r.u32(&what)?;
        let value = r.value(type_id, &what, 0)?;
        if metadata.insert(key, value).is_some() {
            return Err(r.malformed(&what, "the key appears twice".to_string()));
        }
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(value) => match value.as_u64() {
            Some(a) if a.is_power_of_two() => a,
            _ => {
                return Err(GgufError::BadKey {
                    path: path.to_path_buf(),
                    key: "general.alignment".to_string(),
                    expected: "a power of two".to_string(),
                    found: value.describe(),
                })
            }
        },
    };

    let mut tensors = Vec::new();
    let mut names = HashMap::new();
    for i in 0..tensor_count {
        let info = tensor_info(&mut r, i)?;
        if names.insert(info.name.clone(), i).is_some() {
            return Err(r.malformed(
                &format!("tensor info #{i}"),
                format!("tensor name '{}' appears twice", info.name),
            ));
        }
        tensors.push(info);
    }

    let end_of_infos = r.pos as u64;
    let data_offset = end_of_infos.div_ceil(alignment) * alignment;
    let file_len = bytes.len() as u64;
    for info in &tensors {
        if !info.offset.is_multiple_of(alignment) {
            return Err(r.malformed(
                &format!("tensor info of '{}'", info.name),
                format!(
                    "data offset {} is not a multiple of the alignment {alignment}",
                    info.offset
                ),
            ));
        }
        let start = data_offset.saturating_add(info.offset);
        let end = start.saturating_add(info.n_bytes());
        if end > file_len {
            return Err(GgufError::TensorDataOutOfBounds {
                path: path.to_path_buf(),
                tensor: info.name.clone(),
                start,
                end,
                file_len,
            });
        }
    }
    Ok(Header {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}

fn tensor_info(r: &mut Reader<'_>, index: u64) -> Result<TensorInfo, GgufError> {
    let what = format!("tensor info #{index}");
    let name = r.string(&what)?;
    let what = format!("tensor info of '{name}'");
    let n_dims = r.u32(&what)?;
    if n_dims > MAX_DIMS {
        return Err(r.malformed(
            &what,
            format!("{n_dims} dimensions, but ggml tensors have at most {MAX_DIMS}"),
        ));
    }
    let dims = (0..n_dims)
        .map(|_| r.u64(&what))
        .collect::<Result<Vec<_>, _>>()?;
    let type_id = r.u32(&what)?;
    let offset = r.u64(&what)?;
    let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
        path: r.path.to_path_buf(),
        tensor: name.clone(),
        type_id,
    })?;
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n.checked_mul(ggml_type.type_size()).is_some())
        .ok_or_else(|| r.malformed(&what, format!("dimensions {dims:?} overflow a 64-bit size")))?;
    let block = ggml_type.block_size();
    if !dims.first().copied().unwrap_or(1).is_multiple_of(block)
        || !n_elements.is_multiple_of(block)
    {
        return Err(r.malformed(
            &what,
            format!("innermost dimension of {dims:?} is not a multiple of the {ggml_type} block size {block}"),
        ));
    }
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
    })
}
