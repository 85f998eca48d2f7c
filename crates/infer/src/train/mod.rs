//! Supervised fine-tuning, full or with LoRA adapters: AdamW, a cosine schedule with warmup,
//! and a loss on completion tokens only. On the CPU a hand-written backward over packed
//! sequences does the work; on other devices candle's autograd.

mod adamw;
mod attention;
mod autograd;
mod backprop;
mod kernels;
mod lora;
mod matmul;
mod params;
mod schedule;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{InferError, Result};
use crate::model::{f32_elements, CausalLm, Rope};
use backprop::{Adapters, Batch, Model};
use kernels::RopeTable;
pub use lora::{LoraAdapters, LoraConfig, LORA_MODULES};
use params::{Layout, ModelT};
pub use schedule::cosine_with_warmup;
use state::TrainerState;

/// One training example: the model learns to produce `completion` after `prompt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SftExample {
    /// Context tokens; no loss is taken on them.
    pub prompt: Vec<u32>,
    /// Target tokens (end with EOS to teach the model to stop).
    pub completion: Vec<u32>,
}

impl SftExample {
    /// Tokens the example runs through the model: prompt and completion.
    pub(crate) fn tokens(&self) -> usize {
        self.prompt.len() + self.completion.len()
    }
}

/// Hyper-parameters of a fine-tuning run.
#[derive(Clone, Debug, PartialEq)]
pub struct SftConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Steps of linear warmup.
    pub warmup_steps: usize,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Seed of the example order (and of LoRA's initial adapters).
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            steps: 100,
            batch_size: 8,
            learning_rate: 1e-3,
            warmup_steps: 10,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

/// What happened at one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// 0-based step.
    pub step: usize,
    /// Mean loss per completion token of the step's batch, before the update.
    pub loss: f32,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Tokens the step ran through the model (prompts and completions).
    pub tokens: usize,
}

/// Where a run keeps its state so that a stopped run (Ctrl-C, kill -9, a crash) continues
/// exactly where it was: same batches, same moments, same final weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoints {
    /// The state file, rewritten atomically at each checkpoint.
    pub file: PathBuf,
    /// Steps between checkpoints (at least 1): a stop loses at most this many steps.
    pub every: usize,
    /// Continue from `file` when it exists (otherwise start from step 0).
    pub resume: bool,
}

/// The steps a checkpoint file has done (its header only), to say where a run will resume.
pub fn checkpoint_steps(file: &std::path::Path) -> Result<usize> {
    TrainerState::steps_in(file)
}

/// Fine-tunes every weight of `model` in place on `examples` (f32 arithmetic whatever the
/// model's dtype); `on_step` sees every step. Returns the report of each step.
pub fn train_sft(
    model: &mut CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    on_step: impl FnMut(&StepReport),
) -> Result<Vec<StepReport>> {
    train_sft_with(model, examples, config, None, on_step)
}

/// [`train_sft`] with checkpoints: the reports are those of the steps this call ran (from the
/// checkpoint's step on when it resumed). Checkpoints need the CPU trainer.
pub fn train_sft_with(
    model: &mut CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    checkpoints: Option<&Checkpoints>,
    on_step: impl FnMut(&StepReport),
) -> Result<Vec<StepReport>> {
    if !model.device().is_cpu() {
        if checkpoints.is_some() {
            return Err(InferError::Invalid(
                "checkpoints need the CPU trainer; train on the CPU or without checkpoints".into(),
            ));
        }
        return train_sft_autograd(model, examples, config, on_step);
    }
    check(model, examples, config)?;
    crate::allocator::keep_freed_buffers();
    let arch = model.config().clone();
    let layout = Layout::new(&arch);
    let mut state = match resumed(checkpoints, layout.len())? {
        Some(state) => state,
        None => TrainerState::fresh(read_weights(model, layout.len())?, config.weight_decay),
    };
    let rope = rope_table(model, examples);
    let reports = optimize(
        examples,
        config,
        &mut state,
        checkpoints,
        on_step,
        |values, grads, batch| {
            let params = layout.view(&arch, values);
            let model = Model {
                config: &arch,
                params: &params,
                rope: &rope,
            };
            let mut grads = layout.view_mut(&arch, grads);
            backprop::loss_and_grads(&model, Some(&mut grads), None, batch)
        },
    )?;
    let trained: HashMap<String, Tensor> = layout
        .tensors(&state.values)
        .map(|(spec, t)| {
            let tensor = Tensor::from_slice(t, spec.shape.as_slice(), model.device())?
                .to_dtype(model.dtype())?;
            Ok((spec.name.clone(), tensor))
        })
        .collect::<candle_core::Result<_>>()?;
    model.set_weights_from_tensors(&trained)?;
    Ok(reports)
}

/// [`train_sft`] through candle's autograd on the model's own forward pass, on any device: what
/// `train_sft` runs on a GPU, and the reference its CPU path is tested against (slower and
/// heavier on the CPU).
pub fn train_sft_autograd(
    model: &mut CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    on_step: impl FnMut(&StepReport),
) -> Result<Vec<StepReport>> {
    check(model, examples, config)?;
    crate::allocator::keep_freed_buffers();
    autograd::train_sft(model, examples, config, on_step)
}

/// Trains LoRA adapters on the frozen `model` (on the CPU, whatever its device) and returns
/// them with the report of each step; `model` is left as it was.
pub fn train_lora(
    model: &CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    lora: &LoraConfig,
    on_step: impl FnMut(&StepReport),
) -> Result<(LoraAdapters, Vec<StepReport>)> {
    train_lora_with(model, examples, config, lora, None, on_step)
}

/// [`train_lora`] with checkpoints (of the adapters and their moments only).
pub fn train_lora_with(
    model: &CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    lora: &LoraConfig,
    checkpoints: Option<&Checkpoints>,
    on_step: impl FnMut(&StepReport),
) -> Result<(LoraAdapters, Vec<StepReport>)> {
    check(model, examples, config)?;
    crate::allocator::keep_freed_buffers();
    let arch = model.config().clone();
    let tensors = host_f32(model)?;
    let guards: Vec<_> = tensors.iter().map(Tensor::storage_and_layout).collect();
    let slices = guards
        .iter()
        .zip(&tensors)
        .map(|((storage, layout), t)| f32_elements(storage, layout, t.elem_count()))
        .collect::<Result<Vec<&[f32]>>>()?;
    let params = ModelT::assemble(&arch, slices.into_iter());
    let rope = rope_table(model, examples);
    let mut adapters = LoraAdapters::new(&arch, lora, config.seed)?;
    let fresh = std::mem::take(&mut adapters.values);
    let mut state = match resumed(checkpoints, fresh.len())? {
        Some(state) => state,
        None => TrainerState::fresh(fresh, config.weight_decay),
    };
    let shape = adapters.clone();
    let layers = arch.num_hidden_layers;
    let mut extended = shape.extended_weights(&params, &state.values);
    let reports = optimize(
        examples,
        config,
        &mut state,
        checkpoints,
        on_step,
        |values, grads, batch| {
            let model = Model {
                config: &arch,
                params: &params,
                rope: &rope,
            };
            shape.refresh(&mut extended, values);
            let mut adapters = Adapters {
                layers: shape.layer_views(layers, values),
                extended: shape.extended_views(layers, &extended),
                grads: Some(shape.layer_views_mut(layers, grads)),
                rank: lora.rank,
                scale: lora.scale(),
            };
            backprop::loss_and_grads(&model, None, Some(&mut adapters), batch)
        },
    )?;
    adapters.values = state.values;
    Ok((adapters, reports))
}

/// The state a run continues from, when it resumes from an existing checkpoint.
fn resumed(checkpoints: Option<&Checkpoints>, len: usize) -> Result<Option<TrainerState>> {
    match checkpoints {
        Some(c) if c.resume && c.file.exists() => Ok(Some(TrainerState::load(&c.file, len)?)),
        _ => Ok(None),
    }
}

/// The loop both trainers share: batches in a seeded order, the schedule, AdamW over the
/// state's values from its step on, a checkpoint every `checkpoints.every` steps; `step`
/// computes a batch's loss and writes the gradients of the values into its second argument
/// (zeroed before each call).
fn optimize(
    examples: &[SftExample],
    config: &SftConfig,
    state: &mut TrainerState,
    checkpoints: Option<&Checkpoints>,
    mut on_step: impl FnMut(&StepReport),
    mut step: impl FnMut(&[f32], &mut [f32], &Batch) -> f64,
) -> Result<Vec<StepReport>> {
    if state.steps_done > config.steps {
        return Err(InferError::Invalid(format!(
            "the checkpoint has done {} steps, more than the run's {}",
            state.steps_done, config.steps
        )));
    }
    if let Some(c) = checkpoints {
        if c.every == 0 {
            return Err(InferError::Invalid(
                "checkpoints need a period of at least 1 step".into(),
            ));
        }
    }
    let mut grads = vec![0f32; state.values.len()];
    crate::prefault::prefault(&mut grads);
    let mut order = ExampleOrder::new(examples, config.seed);
    for _ in 0..state.steps_done {
        order.next_batch(config.batch_size);
    }
    let mut reports = Vec::with_capacity(config.steps - state.steps_done);
    for index in state.steps_done..config.steps {
        let chosen = order.next_batch(config.batch_size);
        let batch = Batch::pack(
            chosen
                .iter()
                .map(|e| (e.prompt.as_slice(), e.completion.as_slice())),
        );
        let lr = cosine_with_warmup(
            config.learning_rate,
            index,
            config.warmup_steps,
            config.steps,
        );
        grads.fill(0.0);
        let loss = step(&state.values, &mut grads, &batch);
        if !loss.is_finite() {
            return Err(InferError::Invalid(format!(
                "the loss became {loss} at step {index} (learning rate {lr:e}); lower the learning rate"
            )));
        }
        state.optimizer.step(&mut state.values, &grads, lr);
        state.steps_done = index + 1;
        let report = StepReport {
            step: index,
            loss: loss as f32,
            learning_rate: lr,
            tokens: chosen.iter().map(|e| e.tokens()).sum(),
        };
        if let Some(c) = checkpoints {
            if state.steps_done.is_multiple_of(c.every) && state.steps_done < config.steps {
                state.save(&c.file)?;
            }
        }
        on_step(&report);
        reports.push(report);
    }
    Ok(reports)
}

/// Every weight of `model` as a contiguous f32 tensor on the CPU, in [`crate::tensor_specs`]
/// order: the model's own buffers when they already are (no copy).
fn host_f32(model: &CausalLm) -> Result<Vec<Tensor>> {
    model
        .named_tensors()
        .into_iter()
        .map(|(_, t)| {
            Ok(t.to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?
                .contiguous()?)
        })
        .collect()
}

/// Every weight of `model` in f32, in [`crate::tensor_specs`] order.
fn read_weights(model: &CausalLm, len: usize) -> Result<Vec<f32>> {
    let mut values = Vec::with_capacity(len);
    for (_, t) in model.named_tensors() {
        values.extend(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(values)
}

/// Rotary tables long enough for the longest example.
fn rope_table(model: &CausalLm, examples: &[SftExample]) -> RopeTable {
    let longest = examples.iter().map(SftExample::tokens).max().unwrap_or(0);
    RopeTable::new(Rope::new(model.config()).inv_freq(), longest)
}

/// Examples in a seeded random order, reshuffled after each pass.
struct ExampleOrder<'a> {
    examples: &'a [SftExample],
    rng: ChaCha8Rng,
    order: Vec<usize>,
}

impl<'a> ExampleOrder<'a> {
    fn new(examples: &'a [SftExample], seed: u64) -> Self {
        Self {
            examples,
            rng: ChaCha8Rng::seed_from_u64(seed),
            order: Vec::new(),
        }
    }

    fn next_batch(&mut self, size: usize) -> Vec<&'a SftExample> {
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            if self.order.is_empty() {
                self.order = (0..self.examples.len()).collect();
                self.order.shuffle(&mut self.rng);
            }
            batch.push(&self.examples[self.order.pop().expect("refilled above")]);
        }
        batch
    }
}

fn check(model: &CausalLm, examples: &[SftExample], config: &SftConfig) -> Result<()> {
    if examples.is_empty() {
        return Err(InferError::Invalid("no training examples".into()));
    }
    if config.steps == 0 || config.batch_size == 0 {
        return Err(InferError::Invalid(
            "steps and batch_size must be at least 1".into(),
        ));
    }
    let vocab = model.config().vocab_size as u32;
    for (i, e) in examples.iter().enumerate() {
        if e.prompt.is_empty() || e.completion.is_empty() {
            return Err(InferError::Invalid(format!(
                "example {i}: prompt and completion must each have at least one token"
            )));
        }
        if let Some(bad) = e.prompt.iter().chain(&e.completion).find(|&&t| t >= vocab) {
            return Err(InferError::Invalid(format!(
                "example {i}: token {bad} is outside the vocabulary of {vocab}"
            )));
        }
    }
    Ok(())
}
