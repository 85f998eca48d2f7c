//! Log-likelihood of continuations given contexts, batched: the scoring behind multiple-choice
//! tasks.

use candle_core::{Tensor, D};

use crate::error::{InferError, Result};
use crate::model::{CausalLm, SlotLayout};

/// How likely a continuation is after its context.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContinuationScore {
    /// Sum over the continuation's tokens of their log-probability.
    pub logprob: f64,
    /// Whether greedy decoding would have produced exactly the continuation.
    pub is_greedy: bool,
}

/// Scores each `(context, continuation)` pair of token ids, `batch_size` sequences per forward
/// pass. Rows are right-padded, which under a causal mask changes nothing before the padding.
pub fn score_continuations(
    model: &CausalLm,
    requests: &[(Vec<u32>, Vec<u32>)],
    batch_size: usize,
) -> Result<Vec<ContinuationScore>> {
    if batch_size == 0 {
        return Err(InferError::Invalid("batch_size must be at least 1".into()));
    }
    crate::allocator::keep_freed_buffers();
    for (i, (context, continuation)) in requests.iter().enumerate() {
        if context.is_empty() || continuation.is_empty() {
            return Err(InferError::Invalid(format!(
                "request {i}: context and continuation must each have at least one token"
            )));
        }
    }
    // Longest first, so that rows of similar length share a batch.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(requests[i].0.len() + requests[i].1.len()));
    let mut scores = vec![None; requests.len()];
    for chunk in order.chunks(batch_size) {
        let batch: Vec<&(Vec<u32>, Vec<u32>)> = chunk.iter().map(|&i| &requests[i]).collect();
        for (&i, score) in chunk.iter().zip(score_batch(model, &batch)?) {
            scores[i] = Some(score);
        }
    }
    Ok(scores
        .into_iter()
        .map(|s| s.expect("every request scored"))
        .collect())
}

fn score_batch(
    model: &CausalLm,
    batch: &[&(Vec<u32>, Vec<u32>)],
) -> Result<Vec<ContinuationScore>> {
    // The last continuation token is only predicted, never fed.
    let inputs: Vec<Vec<u32>> = batch
        .iter()
        .map(|(c, k)| c.iter().chain(&k[..k.len() - 1]).copied().collect())
        .collect();
    let t = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let padded: Vec<Vec<u32>> = inputs
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row.resize(t, 0);
            row
        })
        .collect();
    let layout = SlotLayout {
        starts: vec![0; batch.len()],
        past: 0,
        t,
    };
    let hidden = model.forward(&model.token_tensor(&padded)?, &layout, None, false)?;
    let mut out = Vec::with_capacity(batch.len());
    for (row, (context, continuation)) in batch.iter().enumerate() {
        let from = context.len() - 1;
        let h = hidden.get(row)?.narrow(0, from, continuation.len())?;
        let logprobs = candle_nn::ops::log_softmax(&model.inference_logits(&h)?, D::Minus1)?;
        let targets = Tensor::new(continuation.as_slice(), model.device())?.unsqueeze(1)?;
        let picked = logprobs
            .gather(&targets, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let greedy = logprobs.argmax(D::Minus1)?.to_vec1::<u32>()?;
        out.push(ContinuationScore {
            logprob: picked.iter().map(|&p| p as f64).sum(),
            is_greedy: greedy == *continuation,
        });
    }
    Ok(out)
}
