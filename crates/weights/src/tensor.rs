//! Tensors as the rest of the system sees them: a name, a shape, a dtype, and f32 values on demand.

use crate::dtype::DType;
use crate::error::Result;

/// Name, shape and storage dtype of one tensor of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorMeta {
    /// Hugging Face tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// How the tensor is stored at its source.
    pub dtype: DType,
}

impl TensorMeta {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A tensor held in memory as f32, the type all arithmetic on weights is done in.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Anything that can serve a model's tensors one at a time: a Hugging Face folder, a GGUF file.
pub trait TensorSource: Sync {
    /// A short description of where the tensors come from, for messages.
    fn describe(&self) -> String;

    /// All tensors, in the order the source lists them.
    fn metas(&self) -> &[TensorMeta];

    /// One tensor's values as f32.
    fn read_f32(&self, name: &str) -> Result<Vec<f32>>;

    /// One tensor's stored bytes, when they are already in its `meta().dtype`, little-endian.
    /// Lets copies stay bit-exact; sources that must decode (GGUF) return `None`.
    fn raw_bytes(&self, _name: &str) -> Option<&[u8]> {
        None
    }

    /// Every tensor's metadata, with the dtype replaced by `dtype` when given: the tensor
    /// list of a copy of this model written in another storage dtype.
    fn metas_as(&self, dtype: Option<crate::dtype::DType>) -> Vec<TensorMeta> {
        self.metas()
            .iter()
            .map(|m| TensorMeta {
                dtype: dtype.unwrap_or(m.dtype),
                ..m.clone()
            })
            .collect()
    }

    /// The metadata of one tensor.
    fn meta(&self, name: &str) -> Option<&TensorMeta> {
        self.metas().iter().find(|m| m.name == name)
    }

    /// One tensor with its shape.
    fn read_tensor(&self, name: &str) -> Result<Tensor> {
        let shape = self
            .meta(name)
            .ok_or_else(|| crate::error::WeightsError::MissingTensor {
                name: name.to_string(),
                model: self.describe(),
            })?
            .shape
            .clone();
        Ok(Tensor {
            shape,
            data: self.read_f32(name)?,
        })
    }

    /// Total number of parameters.
    fn parameter_count(&self) -> u64 {
        self.metas().iter().map(|m| m.numel() as u64).sum()
    }
}
