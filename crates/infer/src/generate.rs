//! Batched generation: prompts are prefilled so that each row computes what it would alone, then
//! all rows decode together, right-aligned in one key/value cache behind left padding that
//! attention never sees; finished rows leave the batch.

use crate::error::{InferError, Result};
use crate::model::{CausalLm, KvCache, SlotLayout};
use crate::sampling::{Sampler, Sampling};
use crate::tokenizer::TextTokenizer;

/// What to generate and when to stop.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationConfig {
    /// Upper bound on generated tokens per prompt.
    pub max_new_tokens: usize,
    /// Generation stops when the text contains one of these; the text is cut before it.
    pub stop: Vec<String>,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Prompts run together; more is faster up to memory and core limits.
    pub batch_size: usize,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            stop: Vec::new(),
            sampling: Sampling::Greedy,
            batch_size: 16,
        }
    }
}

/// Why generation of one prompt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence token was generated (it is the last of `tokens`).
    Eos,
    /// The text reached this stop string.
    StopString(String),
    /// `max_new_tokens` were generated.
    MaxTokens,
}

/// The result for one prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Decoded text of `tokens` (special tokens left out), cut before a stop string; empty when
    /// generating without a tokenizer.
    pub text: String,
    /// The generated token ids, the final EOS or the tokens of a stop string included.
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub stop_reason: StopReason,
}

struct Row {
    start: usize,
    tokens: Vec<u32>,
    sampler: Sampler,
    stop: Option<StopReason>,
}

/// Generates a continuation of each prompt (token ids). `eos_ids` end a sequence; stop strings
/// need `tokenizer`, which also fills [`Generation::text`].
pub fn generate_tokens(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
) -> Result<Vec<Generation>> {
    generate_tokens_reporting(model, prompts, config, eos_ids, tokenizer, &mut |_| {})
}

/// [`generate_tokens`], calling `on_batch` with the number of prompts finished after each
/// batch of `config.batch_size` prompts.
pub fn generate_tokens_reporting(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Vec<Generation>> {
    config.sampling.check()?;
    crate::allocator::keep_freed_buffers();
    if config.batch_size == 0 {
        return Err(InferError::Invalid("batch_size must be at least 1".into()));
    }
    if tokenizer.is_none() && !config.stop.is_empty() {
        return Err(InferError::Invalid("stop strings need a tokenizer".into()));
    }
    if let Some(empty) = config.stop.iter().position(String::is_empty) {
        return Err(InferError::Invalid(format!("stop string {empty} is empty")));
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(InferError::Invalid(format!("prompt {i} has no tokens")));
    }
    let mut out = Vec::with_capacity(prompts.len());
    for (chunk_index, chunk) in prompts.chunks(config.batch_size).enumerate() {
        let first = chunk_index * config.batch_size;
        out.extend(generate_chunk(
            model, chunk, first, config, eos_ids, tokenizer,
        )?);
        on_batch(out.len());
    }
    Ok(out)
}

fn generate_chunk(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    first_index: usize,
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
) -> Result<Vec<Generation>> {
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut rows: Vec<Row> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| Row {
            start: longest - p.len(),
            tokens: Vec::new(),
            sampler: Sampler::new(&config.sampling, first_index + i),
            stop: (config.max_new_tokens == 0).then_some(StopReason::MaxTokens),
        })
        .collect();
    if config.max_new_tokens > 0 {
        let mut cache = model.new_cache(prompts.len(), longest + config.max_new_tokens)?;
        if cache.is_host() {
            prefill_groups(
                model, prompts, &mut rows, &mut cache, config, eos_ids, tokenizer,
            )?;
        } else {
            prefill_one_by_one(
                model, prompts, &mut rows, &mut cache, config, eos_ids, tokenizer,
            )?;
        }
        cache.set_len(longest);
        decode(model, &mut rows, &mut cache, config, eos_ids, tokenizer)?;
    }
    rows.into_iter().map(|row| finish(row, tokenizer)).collect()
}

/// Prompt tokens prefilled together in one pass, at most: bounds the activations of a pass.
const PREFILL_TOKENS: usize = 4096;

/// Prefills the prompts straight into their rows of a host cache: the token prefix they all
/// share once (every task prompt starts with the same system prompt and instructions), copied
/// into every row, then the rest in groups of consecutive prompts, left-padded to the longest
/// of the group. The host attention skips padding slots rather than masking them, so each row
/// computes what it would alone.
fn prefill_groups(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    rows: &mut [Row],
    cache: &mut KvCache,
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
) -> Result<()> {
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let starts: Vec<usize> = rows.iter().map(|r| r.start).collect();
    let shared = shared_prefix(prompts);
    if shared > 0 {
        cache.set_rows(0..1)?;
        let layout = SlotLayout {
            starts: vec![starts[0]],
            past: starts[0],
            t: shared,
        };
        let ids = model.token_tensor(&[prompts[0][..shared].to_vec()])?;
        model.forward(&ids, &layout, Some(cache), false)?;
        cache.share_prefix(&starts, shared)?;
    }
    let mut first = 0;
    while first < prompts.len() {
        let mut end = first + 1;
        let mut t = prompts[first].len();
        while end < prompts.len()
            && (end + 1 - first) * (t.max(prompts[end].len()) - shared) <= PREFILL_TOKENS
        {
            t = t.max(prompts[end].len());
            end += 1;
        }
        // Slots `past..longest` hold what the group's rows do not share (for rows shorter than
        // the group's longest, some shared tokens again, or padding).
        let past = longest - t + shared;
        let ids: Vec<Vec<u32>> = (first..end)
            .map(|i| {
                (past..longest)
                    .map(|slot| slot.checked_sub(starts[i]).map_or(0, |p| prompts[i][p]))
                    .collect()
            })
            .collect();
        let layout = SlotLayout {
            starts: starts[first..end].to_vec(),
            past,
            t: longest - past,
        };
        cache.set_rows(first..end)?;
        let hidden = model.forward(&model.token_tensor(&ids)?, &layout, Some(cache), false)?;
        let logits = model
            .inference_logits(&hidden.narrow(1, layout.t - 1, 1)?.squeeze(1)?)?
            .to_vec2::<f32>()?;
        for (row, logits) in rows[first..end].iter_mut().zip(&logits) {
            push_token(row, logits, config, eos_ids, tokenizer)?;
        }
        first = end;
    }
    cache.set_rows(0..prompts.len())
}

/// How many leading tokens all prompts share, leaving each at least one of its own (whose
/// logits give its first token); 0 for a single prompt, which gains nothing from sharing.
fn shared_prefix(prompts: &[Vec<u32>]) -> usize {
    let Some((first, rest)) = prompts.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return 0;
    }
    let shortest = prompts.iter().map(Vec::len).min().unwrap_or(0);
    (0..shortest.saturating_sub(1))
        .take_while(|&i| rest.iter().all(|p| p[i] == first[i]))
        .count()
}

/// Prefills each prompt alone (no padding, so its first token is exactly the unbatched one)
/// and copies its keys and values into its row of a tensor cache.
fn prefill_one_by_one(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    rows: &mut [Row],
    cache: &mut KvCache,
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
) -> Result<()> {
    for (i, prompt) in prompts.iter().enumerate() {
        let mut single = model.new_cache(1, prompt.len())?;
        let ids = model.token_tensor(std::slice::from_ref(prompt))?;
        let layout = SlotLayout {
            starts: vec![0],
            past: 0,
            t: prompt.len(),
        };
        let hidden = model.forward(&ids, &layout, Some(&mut single), false)?;
        let logits = model
            .inference_logits(&hidden.narrow(1, prompt.len() - 1, 1)?)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        cache.place_row(i, rows[i].start, &single)?;
        push_token(&mut rows[i], &logits, config, eos_ids, tokenizer)?;
    }
    Ok(())
}

/// Decodes all unfinished rows one token per step until every row has stopped.
fn decode(
    model: &CausalLm,
    rows: &mut [Row],
    cache: &mut KvCache,
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
) -> Result<()> {
    // Rows of the prompts still in the cache, in cache order.
    let mut in_cache: Vec<usize> = (0..rows.len()).collect();
    loop {
        let active: Vec<usize> = in_cache
            .iter()
            .copied()
            .filter(|&r| rows[r].stop.is_none())
            .collect();
        if active.is_empty() {
            return Ok(());
        }
        if active.len() < in_cache.len() {
            let keep: Vec<usize> = in_cache
                .iter()
                .enumerate()
                .filter(|(_, r)| rows[**r].stop.is_none())
                .map(|(pos, _)| pos)
                .collect();
            cache.keep_rows(&keep, model.device())?;
            in_cache = active.clone();
        }
        let last: Vec<Vec<u32>> = active
            .iter()
            .map(|&r| vec![*rows[r].tokens.last().expect("a prefilled row has a token")])
            .collect();
        let layout = SlotLayout {
            starts: active.iter().map(|&r| rows[r].start).collect(),
            past: cache.len(),
            t: 1,
        };
        let hidden = model.forward(&model.token_tensor(&last)?, &layout, Some(cache), false)?;
        let logits = model
            .inference_logits(&hidden.squeeze(1)?)?
            .to_vec2::<f32>()?;
        for (&r, logits) in active.iter().zip(&logits) {
            push_token(&mut rows[r], logits, config, eos_ids, tokenizer)?;
        }
    }
}

fn push_token(
    row: &mut Row,
    logits: &[f32],
    config: &GenerationConfig,
    eos_ids: &[u32],
    tokenizer: Option<&TextTokenizer>,
) -> Result<()> {
    let token = row.sampler.next(logits);
    row.tokens.push(token);
    if eos_ids.contains(&token) {
        row.stop = Some(StopReason::Eos);
        return Ok(());
    }
    if let (Some(tokenizer), false) = (tokenizer, config.stop.is_empty()) {
        let text = tokenizer.decode(&row.tokens)?;
        if let Some((_, stop)) = first_stop(&text, &config.stop) {
            row.stop = Some(StopReason::StopString(stop.to_string()));
            return Ok(());
        }
    }
    if row.tokens.len() >= config.max_new_tokens {
        row.stop = Some(StopReason::MaxTokens);
    }
    Ok(())
}

/// The earliest occurrence of any stop string in `text`: its byte offset and the string.
fn first_stop<'a>(text: &str, stops: &'a [String]) -> Option<(usize, &'a str)> {
    stops
        .iter()
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.as_str())))
        .min_by_key(|(at, _)| *at)
}

fn finish(row: Row, tokenizer: Option<&TextTokenizer>) -> Result<Generation> {
    let stop_reason = row.stop.unwrap_or(StopReason::MaxTokens);
    let mut text = match tokenizer {
        Some(t) => t.decode(&row.tokens)?,
        None => String::new(),
    };
    if let StopReason::StopString(stop) = &stop_reason {
        if let Some(at) = text.find(stop.as_str()) {
            text.truncate(at);
        }
    }
    Ok(Generation {
        text,
        tokens: row.tokens,
        stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_leaves_every_prompt_a_token() {
        assert_eq!(shared_prefix(&[vec![1, 2, 3], vec![1, 2, 4, 5]]), 2);
        assert_eq!(shared_prefix(&[vec![1, 2], vec![1, 2, 3]]), 1);
        assert_eq!(shared_prefix(&[vec![7, 2], vec![1, 2]]), 0);
        assert_eq!(shared_prefix(&[vec![1, 2, 3]]), 0);
    }

    #[test]
    fn earliest_stop_string_wins() {
        let stops = vec!["\n\n".to_string(), "Q:".to_string()];
        assert_eq!(first_stop("answer Q: more\n\n", &stops), Some((7, "Q:")));
        assert_eq!(first_stop("nothing here", &stops), None);
    }
}
