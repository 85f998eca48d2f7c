//! A base model with a LoRA adapter applied, served as one model, tensor by tensor.

use crate::content_hash::ContentHash;
use crate::dtype::DType;
use crate::error::{Result, WeightsError};
use crate::tensor::{TensorMeta, TensorSource};

use super::read::PeftAdapter;

/// `base` with `adapter` merged in on demand: adapted tensors read as `W + scale·B·A` (rounded
/// to the base tensor's dtype, as PEFT's `merge_and_unload` and a written copy would round
/// them), every other tensor as the base's. The tensor list is the base's.
pub struct AdaptedModel<B> {
    base: B,
    adapter: PeftAdapter,
}

impl<B: TensorSource> AdaptedModel<B> {
    /// Applies `adapter` to `base`, checking that every adapted tensor exists in the base with
    /// the adapter's `(out, in)` shape, and, when the adapter records the content hash of the
    /// base it was made for, that `base` has that hash. `base_hash` is the hex
    /// [`ContentHash`] of `base` when the caller already knows it; otherwise it is computed
    /// here, and only for adapters that record one (it reads every byte of the base).
    pub fn new(base: B, adapter: PeftAdapter, base_hash: Option<&str>) -> Result<Self> {
        if let Some(recorded) = adapter.base_content_hash() {
            let actual = match base_hash {
                Some(h) => h.to_string(),
                None => ContentHash::of_model(&base)?.hex(),
            };
            if !recorded.eq_ignore_ascii_case(&actual) {
                return Err(WeightsError::AdapterBase {
                    adapter: adapter.dir().to_path_buf(),
                    base: base.describe(),
                    recorded: recorded.to_string(),
                    actual,
                });
            }
        }
        for pair in adapter.pairs() {
            let wanted = pair.shape.to_vec();
            match base.meta(&pair.target) {
                None => {
                    return Err(WeightsError::folder(
                        adapter.dir(),
                        format!(
                            "adapts tensor `{}`, which is not in the base {} (an adapter for another architecture?)",
                            pair.target,
                            base.describe()
                        ),
                    ))
                }
                Some(m) if m.shape != wanted => {
                    return Err(WeightsError::folder(
                        adapter.dir(),
                        format!(
                            "adapts tensor `{}` as shape {wanted:?} (out, in), but the base {} has shape {:?} (an adapter for another base?)",
                            pair.target,
                            base.describe(),
                            m.shape
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(Self { base, adapter })
    }

    /// The base model.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The adapter.
    pub fn adapter(&self) -> &PeftAdapter {
        &self.adapter
    }
}

impl<B: TensorSource> TensorSource for AdaptedModel<B> {
    fn describe(&self) -> String {
        format!(
            "{} + adapter {}",
            self.base.describe(),
            self.adapter.dir().display()
        )
    }

    fn metas(&self) -> &[TensorMeta] {
        self.base.metas()
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let mut values = self.base.read_f32(name)?;
        let Some(pair) = self.adapter.pair(name) else {
            return Ok(values);
        };
        for (w, d) in values.iter_mut().zip(self.adapter.delta(pair)) {
            *w += d;
        }
        let dtype = self.base.meta(name).map_or(DType::F32, |m| m.dtype);
        if dtype != DType::F32 {
            let mut bytes = Vec::new();
            dtype.encode(&values, &mut bytes);
            dtype.decode(&bytes, &mut values);
        }
        Ok(values)
    }

    fn raw_bytes(&self, name: &str) -> Option<&[u8]> {
        // Adapted tensors have no stored bytes; the rest are the base's, bit for bit.
        match self.adapter.pair(name) {
            Some(_) => None,
            None => self.base.raw_bytes(name),
        }
    }

    fn meta(&self, name: &str) -> Option<&TensorMeta> {
        self.base.meta(name)
    }
}
