//! A model held in memory as f32 tensors, served through [`TensorSource`] so that the
//! engine can swap it in like a folder.

use std::collections::BTreeMap;

use crate::dtype::DType;
use crate::error::{Result, WeightsError};
use crate::tensor::{Tensor, TensorMeta, TensorSource};

/// Materialized weights by Hugging Face tensor name.
pub struct MemoryModel {
    what: String,
    metas: Vec<TensorMeta>,
    tensors: BTreeMap<String, Tensor>,
}

impl MemoryModel {
    /// Wraps `tensors`, described as `what` in messages.
    pub fn new(what: impl Into<String>, tensors: BTreeMap<String, Tensor>) -> Self {
        let metas = tensors
            .iter()
            .map(|(name, t)| TensorMeta {
                name: name.clone(),
                shape: t.shape.clone(),
                dtype: DType::F32,
            })
            .collect();
        Self {
            what: what.into(),
            metas,
            tensors,
        }
    }
}

impl TensorSource for MemoryModel {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn metas(&self) -> &[TensorMeta] {
        &self.metas
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.tensors
            .get(name)
            .map(|t| t.data.clone())
            .ok_or_else(|| WeightsError::MissingTensor {
                name: name.to_string(),
                model: self.what.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_its_tensors_and_names_a_missing_one() {
        let mut tensors = BTreeMap::new();
        tensors.insert(
            "w".to_string(),
            Tensor {
                shape: vec![2],
                data: vec![1.0, 2.0],
            },
        );
        let model = MemoryModel::new("child 7", tensors);
        assert_eq!(model.read_f32("w").unwrap(), vec![1.0, 2.0]);
        assert_eq!(model.metas()[0].shape, vec![2]);
        let err = model.read_f32("v").unwrap_err().to_string();
        assert!(err.contains("child 7") && err.contains('v'), "{err}");
    }
}
