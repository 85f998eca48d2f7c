//! The SFT trainer teaches a tiny random model a tiny task: the successor of each of two digits.

use std::path::Path;

use cycleqd_infer::{
    generate_tokens, train_sft, ArchConfig, CausalLm, DType, Device, GenerationConfig, Sampling,
    SftConfig, SftExample,
};
use serde_json::json;

const SEP: u32 = 10;
const EOS: u32 = 11;

fn tiny_model() -> CausalLm {
    let config = json!({
        "model_type": "llama", "vocab_size": 16, "hidden_size": 48, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "tie_word_embeddings": true, "eos_token_id": EOS
    });
    let config = ArchConfig::from_json(Path::new("config.json"), &config).unwrap();
    CausalLm::random(config, 7, 0.02, &Device::Cpu, DType::F32).unwrap()
}

/// `a b SEP` -> `(a+1)%10 (b+1)%10 EOS`, all 100 pairs.
fn examples() -> Vec<SftExample> {
    (0..100u32)
        .map(|n| {
            let (a, b) = (n / 10, n % 10);
            SftExample {
                prompt: vec![a, b, SEP],
                completion: vec![(a + 1) % 10, (b + 1) % 10, EOS],
            }
        })
        .collect()
}

fn accuracy(model: &CausalLm, examples: &[SftExample]) -> f64 {
    let prompts: Vec<Vec<u32>> = examples.iter().map(|e| e.prompt.clone()).collect();
    let config = GenerationConfig {
        max_new_tokens: 3,
        stop: vec![],
        sampling: Sampling::Greedy,
        batch_size: 100,
    };
    let out = generate_tokens(model, &prompts, &config, &[EOS], None).unwrap();
    let right = out
        .iter()
        .zip(examples)
        .filter(|(g, e)| g.tokens == e.completion)
        .count();
    right as f64 / examples.len() as f64
}

#[test]
fn loss_falls_and_accuracy_rises() {
    let mut model = tiny_model();
    let examples = examples();
    let before = accuracy(&model, &examples);
    let config = SftConfig {
        steps: 150,
        batch_size: 16,
        learning_rate: 1e-2,
        warmup_steps: 10,
        weight_decay: 0.0,
        seed: 3,
    };
    let reports = train_sft(&mut model, &examples, &config, |_| {}).unwrap();
    let after = accuracy(&model, &examples);
    let first: f32 = reports[..10].iter().map(|r| r.loss).sum::<f32>() / 10.0;
    let last: f32 = reports[reports.len() - 10..]
        .iter()
        .map(|r| r.loss)
        .sum::<f32>()
        / 10.0;
    eprintln!("loss {first:.3} -> {last:.3}, accuracy {before:.2} -> {after:.2}");
    assert!(last < 0.2 * first, "loss only fell from {first} to {last}");
    assert!(
        before < 0.1 && after > 0.9,
        "accuracy went from {before} to {after}"
    );
}

#[test]
fn bad_examples_are_rejected_with_their_index() {
    let mut model = tiny_model();
    let bad = vec![SftExample {
        prompt: vec![1],
        completion: vec![99],
    }];
    let err = train_sft(&mut model, &bad, &SftConfig::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("example 0") && err.contains("99"), "{err}");
}
