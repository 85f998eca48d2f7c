//! Fine-tuning through candle's autograd on the model's own forward pass: the trainer for
//! models on a GPU, and the reference the CPU trainer is tested against.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::{cosine_with_warmup, ExampleOrder, SftConfig, SftExample, StepReport};
use crate::error::Result;
use crate::model::{CausalLm, SlotLayout};

/// [`super::train_sft`] through candle's autograd.
pub(crate) fn train_sft(
    model: &mut CausalLm,
    examples: &[SftExample],
    config: &SftConfig,
    mut on_step: impl FnMut(&StepReport),
) -> Result<Vec<StepReport>> {
    let named = model.named_tensors();
    let vars: Vec<Var> = named
        .iter()
        .map(|(_, t)| Var::from_tensor(&t.to_dtype(DType::F32)?))
        .collect::<candle_core::Result<_>>()?;
    let trainee = trainee(model, &named, &vars)?;
    let mut optimizer = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut order = ExampleOrder::new(examples, config.seed);
    let mut reports = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let batch = order.next_batch(config.batch_size);
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
            tokens: batch.iter().map(|e| e.tokens()).sum(),
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

/// A model of the same architecture whose weights are `vars`.
pub(crate) fn trainee(
    model: &CausalLm,
    named: &[(String, Tensor)],
    vars: &[Var],
) -> Result<CausalLm> {
    let by_name: HashMap<&str, &Var> = named.iter().map(|(n, _)| n.as_str()).zip(vars).collect();
    CausalLm::from_parts(model, |spec| {
        Ok(by_name[spec.name.as_str()].as_tensor().clone())
    })
}

/// Mean cross-entropy over the completion tokens of a right-padded batch.
pub(crate) fn completion_loss(model: &CausalLm, batch: &[&SftExample]) -> Result<Tensor> {
    let t = batch.iter().map(|e| e.tokens() - 1).max().unwrap_or(0);
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
