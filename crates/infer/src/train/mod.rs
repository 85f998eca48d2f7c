//! Supervised fine-tuning on the inference model's own code: AdamW, a cosine schedule with
//! warmup, and a loss on completion tokens only.

mod schedule;

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{InferError, Result};
use crate::model::{CausalLm, SlotLayout};
pub use schedule::cosine_with_warmup;

/// One training example: the model learns to produce `completion` after `prompt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SftExample {
    /// Context tokens; no loss is taken on them.
    pub prompt: Vec<u32>,
    /// Target tokens (end with EOS to teach the model to stop).
    pub completion: Vec<u32>,
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
    /// Seed of the example order.
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
}

/// Fine-tunes `model` in place on `examples` (f32 arithmetic whatever the model's dtype);
/// `on_step` sees every step. Returns the report of each step.
pub fn train_sft(
    model: &mut CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    mut on_step: impl FnMut(&StepReport),
) -> Result<Vec<StepReport>> {
    check(model, examples, config)?;
    let named = model.named_tensors();
    let vars: Vec<Var> = named
        .iter()
        .map(|(_, t)| Var::from_tensor(&t.to_dtype(DType::F32)?))
        .collect::<candle_core::Result<_>>()?;
    let by_name: HashMap<&str, &Var> = named.iter().map(|(n, _)| n.as_str()).zip(&vars).collect();
    let trainee = CausalLm::from_parts(model, |spec| {
        Ok(by_name[spec.name.as_str()].as_tensor().clone())
    })?;
    let mut optimizer = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = Vec::new();
    let mut reports = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let mut batch = Vec::with_capacity(config.batch_size);
        while batch.len() < config.batch_size {
            if order.is_empty() {
                order = (0..examples.len()).collect();
                order.shuffle(&mut rng);
            }
            batch.push(&examples[order.pop().expect("refilled above")]);
        }
        let lr = cosine_with_warmup(
            config.learning_rate,
            step,
            config.warmup_steps,
            config.steps,
        );
        optimizer.set_learning_rate(lr);
        let loss = completion_loss(&trainee, &batch)?;
        optimizer.backward_step(&loss)?;
        let report = StepReport {
            step,
            loss: loss.to_scalar::<f32>()?,
            learning_rate: lr,
        };
        on_step(&report);
        reports.push(report);
    }
    let trained: HashMap<String, Tensor> = named
        .iter()
        .zip(&vars)
        .map(|((name, _), var)| {
            Ok((
                name.clone(),
                var.as_detached_tensor().to_dtype(model.dtype())?,
            ))
        })
        .collect::<candle_core::Result<_>>()?;
    model.set_weights_from_tensors(&trained)?;
    Ok(reports)
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

/// Mean cross-entropy over the completion tokens of a right-padded batch.
pub(crate) fn completion_loss(model: &CausalLm, batch: &[&SftExample]) -> Result<Tensor> {
    let t = batch
        .iter()
        .map(|e| e.prompt.len() + e.completion.len() - 1)
        .max()
        .unwrap_or(0);
    let mut inputs = Vec::with_capacity(batch.len());
    let mut targets = Vec::with_capacity(batch.len() * t);
    let mut weights = Vec::with_capacity(batch.len() * t);
    for e in batch {
        let seq: Vec<u32> = e.prompt.iter().chain(&e.completion).copied().collect();
        let mut input = seq[..seq.len() - 1].to_vec();
        input.resize(t, 0);
        inputs.push(input);
        for i in 0..t {
            // Position i predicts token i + 1; only completion tokens count.
            let counted = i + 1 >= e.prompt.len() && i + 1 < seq.len();
            targets.push(if counted { seq[i + 1] } else { 0 });
            weights.push(if counted { 1f32 } else { 0.0 });
        }
    }
    let device = model.device();
    let layout = SlotLayout {
        starts: vec![0; batch.len()],
        past: 0,
        t,
    };
    let hidden = model.forward(&model.token_tensor(&inputs)?, &layout, None, true)?;
    let logits = model
        .logits(&hidden)?
        .reshape((batch.len() * t, model.config().vocab_size))?;
    let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let targets = Tensor::from_vec(targets, (batch.len() * t, 1), device)?;
    let picked = logprobs.gather(&targets, 1)?.squeeze(1)?;
    let count: f32 = weights.iter().sum();
    let weights = Tensor::from_vec(weights, batch.len() * t, device)?;
    Ok(((picked * weights)?.sum_all()? * (-1.0 / count as f64))?)
}
