//! Storage dtypes of weights (f32, f16, bf16) and conversion of their bytes to and from f32.

use std::fmt;
use std::str::FromStr;

use half::{bf16, f16};

/// A floating-point storage type of a tensor in a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }

    /// The name safetensors headers use.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
        }
    }

    /// The name `config.json`'s `torch_dtype` uses.
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
        }
    }

    /// Parses a safetensors header dtype; `None` for dtypes this crate does not handle.
    pub fn from_safetensors(name: &str) -> Option<Self> {
        match name {
            "F32" => Some(DType::F32),
            "F16" => Some(DType::F16),
            "BF16" => Some(DType::BF16),
            _ => None,
        }
    }

    /// Decodes little-endian elements of this dtype into f32 (exact for every dtype here).
    pub fn decode(self, bytes: &[u8], out: &mut Vec<f32>) {
        out.clear();
        out.reserve(bytes.len() / self.size());
        match self {
            DType::F32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            DType::F16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
            DType::BF16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
        }
    }

    /// Encodes f32 values as little-endian elements of this dtype, rounding to nearest even.
    pub fn encode(self, values: &[f32], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(values.len() * self.size());
        match self {
            DType::F32 => values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            DType::F16 => values
                .iter()
                .for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
            DType::BF16 => values
                .iter()
                .for_each(|v| out.extend_from_slice(&bf16::from_f32(*v).to_le_bytes())),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        })
    }
}

impl FromStr for DType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "fp32" => Ok(DType::F32),
            "f16" | "float16" | "fp16" | "half" => Ok(DType::F16),
            "bf16" | "bfloat16" => Ok(DType::BF16),
            other => Err(format!(
                "unknown dtype `{other}`: expected one of f32, f16, bf16"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_encode_round_trips_bits(bits in proptest::collection::vec(any::<u16>(), 0..64)) {
            let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
            for dtype in [DType::F16, DType::BF16] {
                let mut values = Vec::new();
                dtype.decode(&bytes, &mut values);
                let mut back = Vec::new();
                dtype.encode(&values, &mut back);
                for (i, (a, b)) in bytes.chunks(2).zip(back.chunks(2)).enumerate() {
                    if !values[i].is_nan() {
                        prop_assert_eq!(a, b);
                    }
                }
            }
        }
    }

    #[test]
    fn parses_names() {
        assert_eq!("bfloat16".parse::<DType>().unwrap(), DType::BF16);
        assert!("int8"
            .parse::<DType>()
            .unwrap_err()
            .contains("f32, f16, bf16"));
    }
}
