//! Content hashes of models: SHA-256 over every tensor's name, shape, dtype and stored bytes.
//! They live with the weights so that everything reading models (adapters checking their
//! base, the basis cache, result caches) identifies a model the same way.

use std::fmt;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::tensor::TensorSource;

/// A SHA-256 digest identifying the content of a model (or of anything derived from models).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of a model's tensors. Tensors are hashed in parallel, each on its own, then
    /// combined in name order, so the result does not depend on sharding or file layout, only
    /// on names, shapes, dtypes and stored bytes.
    pub fn of_model(model: &dyn TensorSource) -> Result<Self> {
        let mut metas: Vec<_> = model.metas().iter().collect();
        metas.sort_by(|a, b| a.name.cmp(&b.name));
        let digests = metas
            .par_iter()
            .map(|m| {
                let mut h = Sha256::new();
                match model.raw_bytes(&m.name) {
                    Some(bytes) => h.update(bytes),
                    None => {
                        for v in model.read_f32(&m.name)? {
                            h.update(v.to_le_bytes());
                        }
                    }
                }
                Ok(h.finalize())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut h = Sha256::new();
        h.update(b"cycleqd model content v1");
        for (m, d) in metas.iter().zip(&digests) {
            h.update((m.name.len() as u64).to_le_bytes());
            h.update(m.name.as_bytes());
            h.update(m.dtype.safetensors_name().as_bytes());
            h.update((m.shape.len() as u64).to_le_bytes());
            for d in &m.shape {
                h.update((*d as u64).to_le_bytes());
            }
            h.update(d);
        }
        Ok(Self(h.finalize().into()))
    }

    /// The hash of a sequence of byte strings, each length-prefixed so that boundaries count.
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Self(h.finalize().into())
    }

    /// Lower-case hexadecimal, 64 characters.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`ContentHash::hex`] output.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.hex()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{write_random_llama, DType, HfModel, LlamaShape};

    #[test]
    fn hex_round_trips() {
        let h = ContentHash::of_parts(&[b"a", b"bc"]);
        assert_eq!(ContentHash::from_hex(&h.hex()), Some(h));
        assert_eq!(ContentHash::from_hex("zz"), None);
    }

    #[test]
    fn parts_boundaries_matter() {
        assert_ne!(
            ContentHash::of_parts(&[b"ab", b"c"]),
            ContentHash::of_parts(&[b"a", b"bc"])
        );
    }

    #[test]
    fn model_hash_depends_on_content_not_sharding() {
        let dir = tempfile::tempdir().unwrap();
        let shape = LlamaShape::tiny();
        let one =
            write_random_llama(&dir.path().join("one"), &shape, 7, DType::F32, 1 << 30).unwrap();
        let many =
            write_random_llama(&dir.path().join("many"), &shape, 7, DType::F32, 4096).unwrap();
        let other =
            write_random_llama(&dir.path().join("other"), &shape, 8, DType::F32, 1 << 30).unwrap();
        let hash = |p: &std::path::Path| ContentHash::of_model(&HfModel::open(p).unwrap()).unwrap();
        assert_eq!(hash(&one), hash(&many));
        assert_ne!(hash(&one), hash(&other));
    }
}
