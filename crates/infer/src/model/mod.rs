//! A Llama-family causal LM on candle: weights from any source, forward passes with or without
//! a key/value cache.

mod host;
mod host_attention;
mod kv_cache;
mod layers;
mod mask;
mod rope;
mod weights;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use cycleqd_weights::TensorSource;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::config::ArchConfig;
use crate::error::{InferError, Result};
pub(crate) use host::f32_elements;
pub(crate) use kv_cache::KvCache;
use layers::Pass;
pub(crate) use mask::SlotLayout;
pub(crate) use rope::Rope;
use weights::{check_shape, tensor_from_f32, Weights};
pub use weights::{tensor_specs, TensorSpec};

/// A loaded model: its architecture and weights on one device in one dtype.
#[derive(Debug)]
pub struct CausalLm {
    config: ArchConfig,
    weights: Weights,
    rope: Rope,
    device: Device,
    dtype: DType,
    /// Whether the weight buffers were allocated here (and may be overwritten in place), rather
    /// than handed over by a caller who may still hold them.
    owns_buffers: bool,
}

impl CausalLm {
    /// Loads every tensor `config` needs from `source` (a model folder, a GGUF, a materialized
    /// child), converting to `dtype` on `device`.
    pub fn from_source(
        config: ArchConfig,
        source: &dyn TensorSource,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        check_dtype(dtype)?;
        let weights = Weights::build(&config, |spec| {
            tensor_from_f32(spec, read_checked(source, spec)?, device, dtype)
        })?;
        Ok(Self::assemble(config, weights, device, dtype, true))
    }

    /// Builds the model from tensors by Hugging Face name, taking them as they are when they
    /// are already in `dtype` on `device` (no copy).
    pub fn from_tensors(
        config: ArchConfig,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        check_dtype(dtype)?;
        let weights = Weights::build(&config, |spec| take_checked(tensors, spec, device, dtype))?;
        Ok(Self::assemble(config, weights, device, dtype, false))
    }

    /// A model of `config` with freshly initialized weights, as Transformers initializes them:
    /// normal(0, `init_std`) matrices, unit norms, zero biases; seeded.
    pub fn random(
        config: ArchConfig,
        seed: u64,
        init_std: f32,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        check_dtype(dtype)?;
        let normal = Normal::new(0.0, init_std).map_err(|e| {
            InferError::Invalid(format!(
                "init_std must be a finite number >= 0, got {init_std}: {e}"
            ))
        })?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let weights = Weights::build(&config, |spec| {
            let n: usize = spec.shape.iter().product();
            let values: Vec<f32> = if spec.name.ends_with("norm.weight") {
                vec![1.0; n]
            } else if spec.name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            };
            tensor_from_f32(spec, values, device, dtype)
        })?;
        Ok(Self::assemble(config, weights, device, dtype, true))
    }

    /// A model of the same architecture and device as `like`, in f32, whose weights come from
    /// `fetch` (the trainer runs it on its variables).
    pub(crate) fn from_parts(
        like: &CausalLm,
        fetch: impl FnMut(&TensorSpec) -> Result<Tensor>,
    ) -> Result<Self> {
        let weights = Weights::build(&like.config, fetch)?;
        Ok(Self::assemble(
            like.config.clone(),
            weights,
            &like.device,
            DType::F32,
            false,
        ))
    }

    pub(crate) fn assemble(
        config: ArchConfig,
        weights: Weights,
        device: &Device,
        dtype: DType,
        owns_buffers: bool,
    ) -> Self {
        Self {
            rope: Rope::new(&config),
            config,
            weights,
            device: device.clone(),
            dtype,
            owns_buffers,
        }
    }

    /// Replaces every weight with the one of the same name in `source` (another child of the
    /// same architecture). Buffers allocated by this model are overwritten in place, so the
    /// swap needs no second copy of the model.
    pub fn set_weights_from_source(&mut self, source: &dyn TensorSource) -> Result<()> {
        let specs = tensor_specs(&self.config);
        if !self.owns_buffers {
            let (device, dtype) = (self.device.clone(), self.dtype);
            self.weights = Weights::build(&self.config, |spec| {
                tensor_from_f32(spec, read_checked(source, spec)?, &device, dtype)
            })?;
            self.owns_buffers = true;
            return Ok(());
        }
        // Check every tensor before overwriting any, so a bad source leaves the model intact.
        for spec in &specs {
            let meta = source
                .meta(&spec.name)
                .ok_or_else(|| missing(source, spec))?;
            check_shape(spec, &meta.shape, &source.describe())?;
        }
        let tied = self.config.tie_word_embeddings;
        for (spec, dst) in specs.iter().zip(self.weights.tensors(tied)) {
            let src = tensor_from_f32(spec, read_checked(source, spec)?, &self.device, self.dtype)?;
            dst.slice_set(&src, 0, 0)?;
        }
        Ok(())
    }

    /// Replaces every weight with the tensor of the same name in `tensors`.
    pub fn set_weights_from_tensors(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let (device, dtype) = (self.device.clone(), self.dtype);
        self.weights = Weights::build(&self.config, |spec| {
            take_checked(tensors, spec, &device, dtype)
        })?;
        self.owns_buffers = false;
        Ok(())
    }

    /// The architecture.
    pub fn config(&self) -> &ArchConfig {
        &self.config
    }

    /// Where the weights live.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype of weights and activations.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Every weight with its Hugging Face name, in [`tensor_specs`] order (a tied `lm_head` is
    /// not listed). The tensors share storage with the model.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        tensor_specs(&self.config)
            .into_iter()
            .zip(self.weights.tensors(self.config.tie_word_embeddings))
            .map(|(spec, t)| (spec.name, t.clone()))
            .collect()
    }

    /// Logits `(t, vocab)` in f32 of one sequence at every position, no cache.
    pub fn sequence_logits(&self, tokens: &[u32]) -> Result<Tensor> {
        if tokens.is_empty() {
            return Err(InferError::Invalid(
                "cannot run the model on an empty token sequence".into(),
            ));
        }
        let ids = self.token_tensor(&[tokens.to_vec()])?;
        let layout = SlotLayout {
            starts: vec![0],
            past: 0,
            t: tokens.len(),
        };
        let hidden = self.forward(&ids, &layout, None, false)?;
        self.inference_logits(&hidden.squeeze(0)?)
    }

    /// `(b, t)` u32 ids of equally long rows.
    pub(crate) fn token_tensor(&self, rows: &[Vec<u32>]) -> Result<Tensor> {
        let t = rows.first().map_or(0, Vec::len);
        let flat: Vec<u32> = rows.iter().flatten().copied().collect();
        let vocab = self.config.vocab_size;
        if let Some(bad) = flat.iter().find(|&&id| id as usize >= vocab) {
            return Err(InferError::Invalid(format!(
                "token id {bad} is outside the model's vocabulary of {vocab}"
            )));
        }
        Ok(Tensor::from_vec(flat, (rows.len(), t), &self.device)?)
    }

    /// Hidden states after the final norm, `(b, t, hidden)`, of `ids` laid out as `layout`.
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        layout: &SlotLayout,
        cache: Option<&mut KvCache>,
        differentiable: bool,
    ) -> Result<Tensor> {
        if differentiable && cache.is_some() {
            // The cache's host kernel has no gradient; training runs whole sequences anyway.
            return Err(InferError::Invalid(
                "a differentiable pass takes no key/value cache".into(),
            ));
        }
        let host_cache = cache.as_ref().is_some_and(|c| c.is_host());
        let pass = Pass::new(
            &self.config,
            &self.rope,
            layout,
            ids,
            differentiable,
            host_cache,
            self.dtype,
        )?;
        layers::decoder(&self.config, &self.weights, ids, &pass, cache)
    }

    /// Logits in f32 for hidden states `(..., hidden)`.
    pub(crate) fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let mut dims = hidden.dims().to_vec();
        let h = dims.pop().unwrap_or(1);
        let rows: usize = dims.iter().product();
        let flat = hidden.reshape((rows, h))?;
        let head = &self.weights.lm_head;
        let logits = if self.dtype == DType::BF16 && self.device.is_cpu() {
            flat.to_dtype(DType::F32)?
                .matmul(&head.to_dtype(DType::F32)?.t()?)?
        } else {
            flat.matmul(&head.t()?)?.to_dtype(DType::F32)?
        };
        dims.push(self.config.vocab_size);
        Ok(logits.reshape(dims)?)
    }

    /// [`Self::logits`] without autograd: through the host kernel for f32 on the CPU.
    pub(crate) fn inference_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        if !host::serves(hidden) {
            return self.logits(hidden);
        }
        let mut dims = hidden.dims().to_vec();
        let h = dims.pop().unwrap_or(1);
        let rows: usize = dims.iter().product();
        let logits = host::linear(&hidden.reshape((rows, h))?, &self.weights.lm_head)?;
        dims.push(self.config.vocab_size);
        Ok(logits.reshape(dims)?)
    }

    /// An empty cache for `b` rows of `capacity` slots.
    pub(crate) fn new_cache(&self, b: usize, capacity: usize) -> Result<KvCache> {
        KvCache::new(
            self.config.num_hidden_layers,
            b,
            self.config.num_key_value_heads,
            capacity,
            self.config.head_dim,
            &self.device,
            self.dtype,
        )
    }
}

fn check_dtype(dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::BF16 => Ok(()),
        other => Err(InferError::Invalid(format!(
            "dtype {other:?} is not supported for inference (use f32 or bf16)"
        ))),
    }
}

fn missing(source: &dyn TensorSource, spec: &TensorSpec) -> InferError {
    InferError::Tensor {
        name: spec.name.clone(),
        source_desc: source.describe(),
        problem: "missing (the config.json needs it)".into(),
    }
}

fn read_checked(source: &dyn TensorSource, spec: &TensorSpec) -> Result<Vec<f32>> {
    let meta = source
        .meta(&spec.name)
        .ok_or_else(|| missing(source, spec))?;
    check_shape(spec, &meta.shape, &source.describe())?;
    Ok(source.read_f32(&spec.name)?)
}

fn take_checked(
    tensors: &HashMap<String, Tensor>,
    spec: &TensorSpec,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let t = tensors.get(&spec.name).ok_or_else(|| InferError::Tensor {
        name: spec.name.clone(),
        source_desc: "the given tensors".into(),
        problem: "missing (the config.json needs it)".into(),
    })?;
    check_shape(spec, t.dims(), "the given tensors")?;
    Ok(t.to_device(device)?.to_dtype(dtype)?)
}
