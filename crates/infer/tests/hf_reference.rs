//! Logits and greedy tokens of tiny random llama, qwen2, qwen3 and mistral models against
//! Hugging Face Transformers (fixtures written by `scripts/infer_reference.py`).

mod common;

use common::{fixture, floats, ids, load, read_json};
use cycleqd_infer::{generate_tokens, DType, GenerationConfig, Sampling, StopReason};

const MODELS: [&str; 4] = ["tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-mistral"];

fn greedy(max_new_tokens: usize, batch_size: usize) -> GenerationConfig {
    GenerationConfig {
        max_new_tokens,
        stop: Vec::new(),
        sampling: Sampling::Greedy,
        batch_size,
    }
}

#[test]
fn f32_logits_match_transformers_within_1e4() {
    for name in MODELS {
        let model = load(&fixture(name), DType::F32);
        let reference = read_json(&fixture(name).join("reference.json"));
        for prompt in reference["prompts"].as_array().unwrap() {
            let tokens = ids(&prompt["ids"]);
            let ours = model
                .sequence_logits(&tokens)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let theirs = prompt["logits"].as_array().unwrap();
            assert_eq!(ours.len(), theirs.len());
            let mut max_diff = 0f32;
            for (o, t) in ours.iter().zip(theirs) {
                for (a, b) in o.iter().zip(floats(t)) {
                    max_diff = max_diff.max((a - b).abs());
                }
            }
            assert!(
                max_diff < 1e-4,
                "{name} {tokens:?}: max abs logit difference {max_diff}"
            );
        }
    }
}

#[test]
fn greedy_generation_matches_transformers_unbatched_and_batched() {
    for name in MODELS {
        let model = load(&fixture(name), DType::F32);
        let reference = read_json(&fixture(name).join("reference.json"));
        let prompts: Vec<Vec<u32>> = reference["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| ids(&p["ids"]))
            .collect();
        let expected: Vec<Vec<u32>> = reference["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| ids(&p["greedy"]))
            .collect();
        let n = expected[0].len();
        for batch_size in [1, 2, prompts.len()] {
            let out = generate_tokens(&model, &prompts, &greedy(n, batch_size), &[], None).unwrap();
            for (i, g) in out.iter().enumerate() {
                assert_eq!(
                    g.tokens, expected[i],
                    "{name} prompt {i}, batch size {batch_size}"
                );
                assert_eq!(g.stop_reason, StopReason::MaxTokens);
            }
        }
    }
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn bf16_logits_track_transformers_bf16() {
    for name in MODELS {
        let model = load(&fixture(name), DType::BF16);
        let reference = read_json(&fixture(name).join("reference.json"));
        let tokens = ids(&reference["bf16"]["ids"]);
        let theirs: Vec<Vec<f32>> = reference["bf16"]["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let f32_reference: Vec<Vec<f32>> = reference["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| ids(&p["ids"]) == tokens)
            .unwrap()["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let ours = model
            .sequence_logits(&tokens)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let to_theirs = max_abs_diff(&ours, &theirs);
        let precision_loss = max_abs_diff(&theirs, &f32_reference);
        eprintln!("{name}: ours vs transformers bf16 {to_theirs}, transformers bf16 vs f32 {precision_loss}");
        assert!(to_theirs < precision_loss, "{name}: bf16 logits differ from transformers' by {to_theirs} (bf16 vs f32: {precision_loss})");
    }
}

#[test]
fn seeded_sampling_is_reproducible_and_independent_of_batching() {
    let model = load(&fixture("tiny-llama"), DType::F32);
    let prompts: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![9], vec![40, 41, 42, 43, 44, 45, 46]];
    let config = |batch_size, seed| GenerationConfig {
        max_new_tokens: 10,
        stop: Vec::new(),
        sampling: Sampling::Sample {
            temperature: 1.0,
            top_p: 0.9,
            seed,
        },
        batch_size,
    };
    let batched = generate_tokens(&model, &prompts, &config(3, 5), &[], None).unwrap();
    let one_by_one = generate_tokens(&model, &prompts, &config(1, 5), &[], None).unwrap();
    assert_eq!(batched, one_by_one);
    let other_seed = generate_tokens(&model, &prompts, &config(3, 6), &[], None).unwrap();
    assert_ne!(batched, other_seed);
}
