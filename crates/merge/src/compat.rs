//! Checks, before any work, that input models can be merged: the same architecture and the
//! same tensor names and shapes. Errors say which model and which field or tensor differs.

use cycleqd_weights::{ModelConfig, TensorSource};

use crate::error::{MergeError, Result};

/// Checks that every source has the same tensor names and shapes as the first one.
/// Storage dtypes may differ: everything is merged in f32.
pub fn check_tensors(sources: &[&dyn TensorSource]) -> Result<()> {
    let Some((first, rest)) = sources.split_first() else {
        return Ok(());
    };
    for other in rest {
        for m in first.metas() {
            let o = other.meta(&m.name).ok_or_else(|| {
                MergeError::Incompatible(format!(
                    "tensor `{}` is in {} but not in {}",
                    m.name,
                    first.describe(),
                    other.describe()
                ))
            })?;
            if o.shape != m.shape {
                return Err(MergeError::Incompatible(format!(
                    "tensor `{}` has shape {:?} in {} but {:?} in {}",
                    m.name,
                    m.shape,
                    first.describe(),
                    o.shape,
                    other.describe()
                )));
            }
        }
        if let Some(extra) = other.metas().iter().find(|m| first.meta(&m.name).is_none()) {
            return Err(MergeError::Incompatible(format!(
                "tensor `{}` is in {} but not in {}",
                extra.name,
                other.describe(),
                first.describe()
            )));
        }
    }
    Ok(())
}

/// Checks that every config describes the same architecture as the first one.
pub fn check_architectures(configs: &[&ModelConfig]) -> Result<()> {
    let Some((first, rest)) = configs.split_first() else {
        return Ok(());
    };
    for other in rest {
        let fields: [(&str, String, String); 9] = [
            (
                "architectures[0]",
                first.architecture.clone(),
                other.architecture.clone(),
            ),
            (
                "model_type",
                first.model_type.clone(),
                other.model_type.clone(),
            ),
            (
                "hidden_size",
                first.hidden_size.to_string(),
                other.hidden_size.to_string(),
            ),
            (
                "intermediate_size",
                first.intermediate_size.to_string(),
                other.intermediate_size.to_string(),
            ),
            (
                "num_hidden_layers",
                first.num_hidden_layers.to_string(),
                other.num_hidden_layers.to_string(),
            ),
            (
                "num_attention_heads",
                first.num_attention_heads.to_string(),
                other.num_attention_heads.to_string(),
            ),
            (
                "num_key_value_heads",
                first.num_key_value_heads.to_string(),
                other.num_key_value_heads.to_string(),
            ),
            (
                "vocab_size",
                first.vocab_size.to_string(),
                other.vocab_size.to_string(),
            ),
            (
                "tie_word_embeddings",
                first.tie_word_embeddings.to_string(),
                other.tie_word_embeddings.to_string(),
            ),
        ];
        if let Some((field, a, b)) = fields.iter().find(|(_, a, b)| a != b) {
            return Err(MergeError::Incompatible(format!(
                "`{field}` is {a} in {} but {b} in {}",
                first.path.display(),
                other.path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape};

    #[test]
    fn differences_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let shape = LlamaShape::tiny();
        let a = write_random_llama(&tmp.path().join("a"), &shape, 1, DType::F32, u64::MAX).unwrap();
        let b =
            write_random_llama(&tmp.path().join("b"), &shape, 2, DType::BF16, u64::MAX).unwrap();
        let wider = LlamaShape {
            intermediate_size: 64,
            ..shape.clone()
        };
        let c = write_random_llama(&tmp.path().join("c"), &wider, 3, DType::F32, u64::MAX).unwrap();
        let (a, b, c) = (
            HfModel::open(&a).unwrap(),
            HfModel::open(&b).unwrap(),
            HfModel::open(&c).unwrap(),
        );
        check_tensors(&[&a, &b]).unwrap();
        check_architectures(&[a.config(), b.config()]).unwrap();
        let err = check_tensors(&[&a, &c]).unwrap_err().to_string();
        assert!(
            err.contains("layers.0.mlp.") && err.contains("48]") && err.contains("64]"),
            "{err}"
        );
        let err = check_architectures(&[a.config(), c.config()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("intermediate_size") && err.contains("48") && err.contains("64"),
            "{err}"
        );
    }
}
