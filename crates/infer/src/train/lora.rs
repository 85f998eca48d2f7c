//! Low-rank adapters (LoRA) on a model's projections: `W x + (alpha / r) · B A x`, with A and B
//! in one flat buffer, initialised as PEFT does.

use std::collections::HashMap;

use cycleqd_weights::llama_names::LayerPart;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};

use super::params::ModelT;
use crate::config::ArchConfig;
use crate::error::{InferError, Result};

/// The projections of a decoder layer that can carry an adapter, by their Hugging Face names
/// ([`LayerPart::PROJECTIONS`]).
pub const LORA_MODULES: [&str; 7] = {
    let mut names = [""; 7];
    let mut i = 0;
    while i < 7 {
        names[i] = LayerPart::PROJECTIONS[i].module();
        i += 1;
    }
    names
};

/// What to adapt and how.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    /// Rank `r` of each adapter.
    pub rank: usize,
    /// Scale numerator: the update is `(alpha / r) · B A`.
    pub alpha: f64,
    /// Module names out of [`LORA_MODULES`].
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            target_modules: LORA_MODULES.iter().map(|m| m.to_string()).collect(),
        }
    }
}

impl LoraConfig {
    /// `alpha / rank`.
    pub fn scale(&self) -> f32 {
        (self.alpha / self.rank as f64) as f32
    }

    fn check(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(InferError::Invalid("LoRA rank must be at least 1".into()));
        }
        if !self.alpha.is_finite() {
            return Err(InferError::Invalid(format!(
                "LoRA alpha must be a finite number, got {}",
                self.alpha
            )));
        }
        if self.target_modules.is_empty() {
            return Err(InferError::Invalid(
                "LoRA needs at least one target module".into(),
            ));
        }
        for m in &self.target_modules {
            if !LORA_MODULES.contains(&m.as_str()) {
                return Err(InferError::Invalid(format!(
                    "unknown LoRA target module `{m}` (expected some of {})",
                    LORA_MODULES.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// One adapter: which layer and projection, and its shapes `A (rank, inp)`, `B (out, rank)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdapterSpec {
    pub(crate) layer: usize,
    /// Index into [`LORA_MODULES`].
    pub(crate) module: usize,
    pub(crate) out: usize,
    pub(crate) inp: usize,
}

impl AdapterSpec {
    /// The Hugging Face name of the adapted weight, e.g. `model.layers.3.mlp.up_proj.weight`.
    pub(crate) fn weight_name(&self) -> String {
        LayerPart::PROJECTIONS[self.module].name(self.layer, "weight")
    }
}

/// The A and B of one adapter.
pub(crate) struct AdapterT<S> {
    pub(crate) a: S,
    pub(crate) b: S,
}

/// The adapters of one layer, by index into [`LORA_MODULES`].
pub(crate) type LayerAdapters<S> = [Option<AdapterT<S>>; 7];

/// Each adapted projection's frozen weight `W (out, inp)` with its adapter's scaled
/// `s·B (out, r)` beside it, `(out, inp + r)` row-major. The backward then gets `∂x` and
/// `∂(x Aᵀ)` from one product `∂y · [W | s·B]`, which costs little more than `∂y · W`; on its own
/// `∂y · B`, a product with `r` output columns, ran at a fifth of gemm's speed.
pub(crate) struct ExtendedWeights {
    values: Vec<f32>,
}

/// Trained adapters for one model: the config and every A and B.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraAdapters {
    config: LoraConfig,
    specs: Vec<AdapterSpec>,
    pub(crate) values: Vec<f32>,
}

impl LoraAdapters {
    /// Fresh adapters for `model`: A uniform in ±1/√inp (PEFT's Kaiming init), B zero, so the
    /// adapted model starts equal to the base.
    pub fn new(model: &ArchConfig, config: &LoraConfig, seed: u64) -> Result<Self> {
        config.check()?;
        let (h, i) = (model.hidden_size, model.intermediate_size);
        let q_out = model.num_attention_heads * model.head_dim;
        let kv_out = model.num_key_value_heads * model.head_dim;
        let shapes = [
            (q_out, h),
            (kv_out, h),
            (kv_out, h),
            (h, q_out),
            (i, h),
            (i, h),
            (h, i),
        ];
        let mut specs = Vec::new();
        for layer in 0..model.num_hidden_layers {
            for (module, &(out, inp)) in shapes.iter().enumerate() {
                if config
                    .target_modules
                    .iter()
                    .any(|m| m == LORA_MODULES[module])
                {
                    specs.push(AdapterSpec {
                        layer,
                        module,
                        out,
                        inp,
                    });
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values = Vec::new();
        for spec in &specs {
            let bound = 1.0 / (spec.inp as f32).sqrt();
            let uniform = Uniform::new_inclusive(-bound, bound)
                .map_err(|e| InferError::Invalid(format!("LoRA init: {e}")))?;
            values.extend((0..config.rank * spec.inp).map(|_| uniform.sample(&mut rng)));
            values.extend(std::iter::repeat_n(0.0, spec.out * config.rank));
        }
        Ok(Self {
            config: config.clone(),
            specs,
            values,
        })
    }

    /// The adapters' config.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.values.len()
    }

    /// Every A and B with the name PEFT gives it
    /// (`base_model.model.<weight path>.lora_A.weight`, shape `(r, in)`; `lora_B`, `(out, r)`).
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        let r = self.config.rank;
        let mut out = Vec::with_capacity(2 * self.specs.len());
        for (spec, (a, b)) in self.specs.iter().zip(self.pairs()) {
            let stem = spec.weight_name();
            let stem = format!("base_model.model.{}", stem.trim_end_matches(".weight"));
            out.push((format!("{stem}.lora_A.weight"), vec![r, spec.inp], a));
            out.push((format!("{stem}.lora_B.weight"), vec![spec.out, r], b));
        }
        out
    }

    /// `W + (alpha / r) · B A` for every adapted weight, by the weight's Hugging Face name;
    /// `base` gives each base weight `(out, in)` row-major.
    pub fn merged(
        &self,
        mut base: impl FnMut(&str) -> Result<Vec<f32>>,
    ) -> Result<HashMap<String, Vec<f32>>> {
        let (r, scale) = (self.config.rank, self.config.scale());
        let mut out = HashMap::new();
        for (spec, (a, b)) in self.specs.iter().zip(self.pairs()) {
            let name = spec.weight_name();
            let mut w = base(&name)?;
            if w.len() != spec.out * spec.inp {
                return Err(InferError::Tensor {
                    name,
                    source_desc: "the base model".into(),
                    problem: format!(
                        "has {} values, the adapter needs ({}, {})",
                        w.len(),
                        spec.out,
                        spec.inp
                    ),
                });
            }
            for (o, w_row) in w.chunks_mut(spec.inp).enumerate() {
                for (k, &b_ok) in b[o * r..(o + 1) * r].iter().enumerate() {
                    let coef = scale * b_ok;
                    for (w, a) in w_row.iter_mut().zip(&a[k * spec.inp..(k + 1) * spec.inp]) {
                        *w += coef * a;
                    }
                }
            }
            out.insert(name, w);
        }
        Ok(out)
    }

    fn pairs(&self) -> impl Iterator<Item = (&[f32], &[f32])> {
        self.pairs_of(&self.values)
    }

    /// Each adapter's A and B in `values` (laid out as the adapters' own).
    fn pairs_of<'v>(
        &self,
        values: &'v [f32],
    ) -> impl Iterator<Item = (&'v [f32], &'v [f32])> + use<'_, 'v> {
        let r = self.config.rank;
        let mut rest = values;
        self.specs.iter().map(move |s| {
            let (a, tail) = rest.split_at(r * s.inp);
            let (b, tail) = tail.split_at(s.out * r);
            rest = tail;
            (a, b)
        })
    }

    /// The adapted projections' frozen weights in `base` beside the scaled B of the adapters'
    /// `values`.
    pub(crate) fn extended_weights(
        &self,
        base: &ModelT<&[f32]>,
        values: &[f32],
    ) -> ExtendedWeights {
        let r = self.config.rank;
        let total = self.specs.iter().map(|s| s.out * (s.inp + r)).sum();
        let mut weights = Vec::with_capacity(total);
        for spec in &self.specs {
            let w = base.layers[spec.layer].projection(spec.module).w;
            for row in w.chunks_exact(spec.inp) {
                weights.extend_from_slice(row);
                weights.extend(std::iter::repeat_n(0.0, r));
            }
        }
        assert_eq!(weights.len(), total, "base weights of the adapters' shapes");
        let mut extended = ExtendedWeights { values: weights };
        self.refresh(&mut extended, values);
        extended
    }

    /// Writes `(alpha / r) · B` of the adapters' `values` into `extended`.
    pub(crate) fn refresh(&self, extended: &mut ExtendedWeights, values: &[f32]) {
        let (r, scale) = (self.config.rank, self.config.scale());
        let mut rest = extended.values.as_mut_slice();
        for (spec, (_, b)) in self.specs.iter().zip(self.pairs_of(values)) {
            let (mine, tail) = rest.split_at_mut(spec.out * (spec.inp + r));
            rest = tail;
            for (row, b) in mine.chunks_exact_mut(spec.inp + r).zip(b.chunks_exact(r)) {
                for (w, b) in row[spec.inp..].iter_mut().zip(b) {
                    *w = scale * b;
                }
            }
        }
    }

    /// Per layer, per module of [`LORA_MODULES`]: the adapted projection's `[W | s·B]`.
    pub(crate) fn extended_views<'a>(
        &self,
        layers: usize,
        extended: &'a ExtendedWeights,
    ) -> Vec<[Option<&'a [f32]>; 7]> {
        let r = self.config.rank;
        let mut out: Vec<[Option<&[f32]>; 7]> = vec![[None; 7]; layers];
        let mut rest = extended.values.as_slice();
        for s in &self.specs {
            let (mine, tail) = rest.split_at(s.out * (s.inp + r));
            rest = tail;
            out[s.layer][s.module] = Some(mine);
        }
        out
    }

    /// Per layer, per module of [`LORA_MODULES`]: the adapter's A and B in `values` (the
    /// adapters' own values, or gradients in their layout).
    pub(crate) fn layer_views<'a>(
        &self,
        layers: usize,
        values: &'a [f32],
    ) -> Vec<LayerAdapters<&'a [f32]>> {
        let mut out: Vec<LayerAdapters<&[f32]>> = (0..layers).map(|_| Default::default()).collect();
        for (s, (a, b)) in self.specs.iter().zip(self.pairs_of(values)) {
            out[s.layer][s.module] = Some(AdapterT { a, b });
        }
        out
    }

    /// As [`Self::layer_views`], writable.
    pub(crate) fn layer_views_mut<'a>(
        &self,
        layers: usize,
        values: &'a mut [f32],
    ) -> Vec<LayerAdapters<&'a mut [f32]>> {
        let r = self.config.rank;
        let mut out: Vec<LayerAdapters<&mut [f32]>> =
            (0..layers).map(|_| Default::default()).collect();
        let mut rest = values;
        for s in &self.specs {
            let (a, tail) = rest.split_at_mut(r * s.inp);
            let (b, tail) = tail.split_at_mut(s.out * r);
            rest = tail;
            out[s.layer][s.module] = Some(AdapterT { a, b });
        }
        out
    }
}
