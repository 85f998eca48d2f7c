//! Task vectors: tau = expert - base, tensor by tensor, and back.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::error::{Result, WeightsError};
use crate::tensor::{Tensor, TensorSource};

/// Checks that `other` lines up with `base`: the same tensor names, shapes and dtypes.
/// The error names the first tensor that differs and both values.
pub fn check_compatible(base: &dyn TensorSource, other: &dyn TensorSource) -> Result<()> {
    for m in base.metas() {
        let o = other.meta(&m.name).ok_or_else(|| WeightsError::Mismatch {
            name: m.name.clone(),
            problem: format!(
                "present in {} but missing from {}",
                base.describe(),
                other.describe()
            ),
        })?;
        if o.shape != m.shape {
            return Err(WeightsError::Mismatch {
                name: m.name.clone(),
                problem: format!(
                    "shape {:?} in {} but {:?} in {}",
                    m.shape,
                    base.describe(),
                    o.shape,
                    other.describe()
                ),
            });
        }
        if o.dtype != m.dtype {
            return Err(WeightsError::Mismatch {
                name: m.name.clone(),
                problem: format!(
                    "dtype {} in {} but {} in {}",
                    m.dtype,
                    base.describe(),
                    o.dtype,
                    other.describe()
                ),
            });
        }
    }
    if let Some(extra) = other.metas().iter().find(|m| base.meta(&m.name).is_none()) {
        return Err(WeightsError::Mismatch {
            name: extra.name.clone(),
            problem: format!(
                "present in {} but missing from {}",
                other.describe(),
                base.describe()
            ),
        });
    }
    Ok(())
}

/// One tensor of a task vector: `expert[name] - base[name]` in f32.
pub fn task_vector_tensor(
    base: &dyn TensorSource,
    expert: &dyn TensorSource,
    name: &str,
) -> Result<Vec<f32>> {
    let b = base.read_f32(name)?;
    let mut e = expert.read_f32(name)?;
    e.iter_mut().zip(&b).for_each(|(e, b)| *e -= b);
    Ok(e)
}

/// The difference between an expert and its base, every tensor, in f32.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskVector {
    /// Tensor name -> difference.
    pub tensors: BTreeMap<String, Tensor>,
}

impl TaskVector {
    /// `expert - base` for every tensor (parallel over tensors). Fails on any name, shape or
    /// dtype mismatch, naming the tensor.
    pub fn between(base: &dyn TensorSource, expert: &dyn TensorSource) -> Result<Self> {
        check_compatible(base, expert)?;
        let tensors = base
            .metas()
            .par_iter()
            .map(|m| {
                let data = task_vector_tensor(base, expert, &m.name)?;
                Ok((
                    m.name.clone(),
                    Tensor {
                        shape: m.shape.clone(),
                        data,
                    },
                ))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(Self { tensors })
    }

    /// `base + self` for every tensor: the model the task vector came from, in f32.
    pub fn apply_to(&self, base: &dyn TensorSource) -> Result<BTreeMap<String, Tensor>> {
        self.tensors
            .par_iter()
            .map(|(name, tau)| {
                let mut w = base.read_tensor(name)?;
                if w.shape != tau.shape {
                    return Err(WeightsError::Mismatch {
                        name: name.clone(),
                        problem: format!(
                            "task vector has shape {:?}, base {} has {:?}",
                            tau.shape,
                            base.describe(),
                            w.shape
                        ),
                    });
                }
                w.data.iter_mut().zip(&tau.data).for_each(|(w, t)| *w += t);
                Ok((name.clone(), w))
            })
            .collect()
    }
}
