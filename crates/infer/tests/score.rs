//! Batched log-likelihood scoring against log-softmax of Transformers' reference logits.

mod common;

use common::{fixture, floats, ids, load, read_json};
use cycleqd_infer::{score_continuations, DType};

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = row
        .iter()
        .map(|&x| (x as f64 - max).exp())
        .sum::<f64>()
        .ln()
        + max;
    row.iter().map(|&x| x as f64 - lse).collect()
}

#[test]
fn batched_scores_match_transformers_logits() {
    for name in ["tiny-llama", "tiny-qwen2", "tiny-mistral"] {
        let model = load(&fixture(name), DType::F32);
        let reference = read_json(&fixture(name).join("reference.json"));
        let mut requests = Vec::new();
        let mut expected = Vec::new();
        for prompt in reference["prompts"].as_array().unwrap() {
            let tokens = ids(&prompt["ids"]);
            let logits: Vec<Vec<f32>> = prompt["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(floats)
                .collect();
            // Every split of the prompt into a non-empty context and continuation.
            for split in 1..tokens.len() {
                let (context, continuation) = tokens.split_at(split);
                let logprob: f64 = continuation
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| log_softmax(&logits[split - 1 + i])[t as usize])
                    .sum();
                let greedy = continuation
                    .iter()
                    .enumerate()
                    .all(|(i, &t)| cycleqd_infer_argmax(&logits[split - 1 + i]) == t);
                requests.push((context.to_vec(), continuation.to_vec()));
                expected.push((logprob, greedy));
            }
        }
        for batch_size in [1, 5, requests.len()] {
            let scores = score_continuations(&model, &requests, batch_size).unwrap();
            for (i, (score, (logprob, greedy))) in scores.iter().zip(&expected).enumerate() {
                assert!(
                    (score.logprob - logprob).abs() < 1e-3,
                    "{name} request {i}: {} vs {logprob}",
                    score.logprob
                );
                assert_eq!(score.is_greedy, *greedy, "{name} request {i}");
            }
        }
    }
}

fn cycleqd_infer_argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
fn empty_context_or_continuation_is_rejected() {
    let model = load(&fixture("tiny-llama"), DType::F32);
    let err = score_continuations(&model, &[(vec![], vec![1])], 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("request 0"), "{err}");
}
