//! The compact binary form of a recipe, and its serde form (base64 of the bytes in
//! human-readable formats such as JSON, the raw bytes in binary ones).
//!
//! Layout, little-endian: `CQDRCP01`, the 32-byte basis fingerprint, expert count (u32),
//! tensor count (u32); then per expert, per tensor: the scalar (f32) and a tag byte:
//! 0 no directions, 1 uniform (one f32), 2 dense (u32 length, then that many f32).

use base64::Engine;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{RecipeError, Result};
use crate::recipe::{Coefficients, Directions, Recipe};
use crate::ContentHash;

/// The first bytes of every binary recipe.
pub const RECIPE_MAGIC: &[u8; 8] = b"CQDRCP01";

impl Recipe {
    /// The compact binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(RECIPE_MAGIC);
        out.extend_from_slice(&self.basis.0);
        let tensors = self.experts.first().map_or(0, Vec::len);
        out.extend_from_slice(&(self.experts.len() as u32).to_le_bytes());
        out.extend_from_slice(&(tensors as u32).to_le_bytes());
        for c in self.experts.iter().flatten() {
            out.extend_from_slice(&c.scalar.to_le_bytes());
            match &c.directions {
                Directions::None => out.push(0),
                Directions::Uniform(v) => {
                    out.push(1);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Directions::Dense(v) => {
                    out.push(2);
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    v.iter()
                        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                }
            }
        }
        out
    }

    /// Size of [`Recipe::to_bytes`] in bytes.
    pub fn encoded_len(&self) -> usize {
        48 + self
            .experts
            .iter()
            .flatten()
            .map(|c| {
                5 + match &c.directions {
                    Directions::None => 0,
                    Directions::Uniform(_) => 4,
                    Directions::Dense(v) => 4 + 4 * v.len(),
                }
            })
            .sum::<usize>()
    }

    /// Parses [`Recipe::to_bytes`] output; the error says where the bytes stop making sense.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != RECIPE_MAGIC {
            return Err(RecipeError::Recipe(
                "not a recipe (expected the bytes to start with CQDRCP01)".into(),
            ));
        }
        let basis = ContentHash(r.take(32)?.try_into().expect("took 32 bytes"));
        let experts = r.u32()? as usize;
        let tensors = r.u32()? as usize;
        // Every coefficient set takes at least 5 bytes, and a header with zero tensors must
        // not promise billions of experts: bounds the allocation by the input.
        if experts.saturating_mul(tensors.max(1)).saturating_mul(5) > bytes.len() {
            return Err(RecipeError::Recipe(format!(
                "header promises {experts} experts x {tensors} tensors, more than {} bytes hold",
                bytes.len()
            )));
        }
        let mut out = Vec::with_capacity(experts);
        for _ in 0..experts {
            let mut coefficients = Vec::with_capacity(tensors);
            for _ in 0..tensors {
                let scalar = r.f32()?;
                let directions = match r.take(1)?[0] {
                    0 => Directions::None,
                    1 => Directions::Uniform(r.f32()?),
                    2 => {
                        let len = r.u32()? as usize;
                        let raw = r.take(len.checked_mul(4).ok_or_else(|| r.error("length"))?)?;
                        Directions::Dense(
                            raw.chunks_exact(4)
                                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                                .collect(),
                        )
                    }
                    tag => return Err(r.error(&format!("unknown coefficient tag {tag}"))),
                };
                coefficients.push(Coefficients { scalar, directions });
            }
            out.push(coefficients);
        }
        if r.at != bytes.len() {
            return Err(r.error("trailing bytes after the last coefficient"));
        }
        Ok(Self {
            basis,
            experts: out,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> RecipeError {
        RecipeError::Recipe(format!("byte {}: {what}", self.at))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| self.error(&format!("truncated ({} bytes in all)", self.bytes.len())))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

impl Serialize for Recipe {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let bytes = self.to_bytes();
        if serializer.is_human_readable() {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            serializer.serialize_bytes(&bytes)
        }
    }
}

impl<'de> Deserialize<'de> for Recipe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let bytes = if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| de::Error::custom(format!("recipe is not base64: {e}")))?
        } else {
            Vec::<u8>::deserialize(deserializer)?
        };
        Recipe::from_bytes(&bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn coefficients() -> impl Strategy<Value = Coefficients> {
        let directions = prop_oneof![
            Just(Directions::None),
            any::<f32>().prop_map(Directions::Uniform),
            proptest::collection::vec(any::<f32>(), 0..20).prop_map(Directions::Dense),
        ];
        (any::<f32>(), directions)
            .prop_map(|(scalar, directions)| Coefficients { scalar, directions })
    }

    fn recipe() -> impl Strategy<Value = Recipe> {
        (1usize..4, 0usize..6, any::<[u8; 32]>()).prop_flat_map(|(k, t, hash)| {
            proptest::collection::vec(proptest::collection::vec(coefficients(), t), k).prop_map(
                move |experts| Recipe {
                    basis: ContentHash(hash),
                    experts,
                },
            )
        })
    }

    fn same_bits(a: &Recipe, b: &Recipe) -> bool {
        a.to_bytes() == b.to_bytes()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn bytes_and_json_round_trip(r in recipe()) {
            let bytes = r.to_bytes();
            prop_assert_eq!(bytes.len(), r.encoded_len());
            prop_assert!(same_bits(&Recipe::from_bytes(&bytes).unwrap(), &r));
            let json = serde_json::to_string(&r).unwrap();
            prop_assert!(same_bits(&serde_json::from_str::<Recipe>(&json).unwrap(), &r));
        }

        #[test]
        fn truncated_or_garbled_bytes_are_errors_not_panics(r in recipe(), cut in 0usize..200, flip in 0usize..200) {
            let bytes = r.to_bytes();
            let cut = cut.min(bytes.len().saturating_sub(1));
            prop_assert!(Recipe::from_bytes(&bytes[..cut]).is_err());
            let mut garbled = bytes.clone();
            let i = flip % garbled.len();
            garbled[i] ^= 0xa5;
            let _ = Recipe::from_bytes(&garbled);
        }
    }

    #[test]
    fn a_header_promising_too_many_experts_is_refused_before_allocating() {
        let mut bytes = RECIPE_MAGIC.to_vec();
        bytes.extend_from_slice(&[0u8; 32]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        let err = Recipe::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    #[test]
    fn wrong_magic_is_named() {
        let err = Recipe::from_bytes(b"not a recipe at all").unwrap_err();
        assert!(err.to_string().contains("CQDRCP01"), "{err}");
    }
}
