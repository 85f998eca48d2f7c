//! The CPU trainer against candle's autograd on the same model code: losses, gradients, whole
//! runs, and LoRA's algebra.

use std::path::Path;

use candle_core::{backprop::GradStore, DType, Device, Var};
use serde_json::{json, Value};

use super::backprop::{Adapters, Batch, Model};
use super::*;
use crate::config::ArchConfig;

fn arch(extra: Value) -> ArchConfig {
    let mut raw = json!({
        "model_type": "llama", "vocab_size": 40, "hidden_size": 32, "intermediate_size": 48,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "tie_word_embeddings": true, "rms_norm_eps": 1e-5
    });
    for (k, v) in extra.as_object().expect("an object") {
        raw[k] = v.clone();
    }
    ArchConfig::from_json(Path::new("config.json"), &raw).unwrap()
}

/// The architectures the trainer must handle: plain Llama with GQA and tied embeddings,
/// biases and an untied head (Qwen2), per-head Q/K norms (Qwen3), a sliding window
/// (Mistral), and biases everywhere.
fn variants() -> Vec<(&'static str, ArchConfig)> {
    vec![
        ("llama", arch(json!({}))),
        (
            "qwen2",
            arch(json!({"model_type": "qwen2", "tie_word_embeddings": false})),
        ),
        (
            "qwen3",
            arch(json!({"model_type": "qwen3", "head_dim": 8, "num_key_value_heads": 4})),
        ),
        (
            "mistral",
            arch(json!({"model_type": "mistral", "sliding_window": 3})),
        ),
        (
            "llama-biases",
            arch(json!({"attention_bias": true, "mlp_bias": true, "num_key_value_heads": 1})),
        ),
    ]
}

fn examples() -> Vec<SftExample> {
    vec![
        SftExample {
            prompt: vec![1, 5, 9, 2],
            completion: vec![7, 3, 3, 11, 0],
        },
        SftExample {
            prompt: vec![4],
            completion: vec![6, 8],
        },
        SftExample {
            prompt: vec![12, 13, 14, 15, 16, 17],
            completion: vec![39],
        },
    ]
}

/// Loss and per-tensor gradients from candle's autograd.
fn autograd_grads(model: &CausalLm, batch: &[&SftExample]) -> (f64, Vec<Vec<f32>>) {
    let named = model.named_tensors();
    let vars: Vec<Var> = named
        .iter()
        .map(|(_, t)| Var::from_tensor(t).unwrap())
        .collect();
    let trainee = autograd::trainee(model, &named, &vars).unwrap();
    let loss = autograd::completion_loss(&trainee, batch).unwrap();
    let store: GradStore = loss.backward().unwrap();
    let grads = vars
        .iter()
        .map(|v| {
            store
                .get(v.as_tensor())
                .expect("every weight gets a gradient")
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect();
    (loss.to_scalar::<f32>().unwrap() as f64, grads)
}

/// Loss and flat gradients from the CPU trainer.
fn cpu_grads(model: &CausalLm, batch: &[&SftExample]) -> (f64, Vec<f32>, Layout) {
    let arch = model.config().clone();
    let layout = Layout::new(&arch);
    let values = read_weights(model, layout.len()).unwrap();
    let owned: Vec<SftExample> = batch.iter().map(|e| (*e).clone()).collect();
    let rope = rope_table(model, &owned);
    let mut grads = vec![0f32; values.len()];
    let packed = Batch::pack(
        batch
            .iter()
            .map(|e| (e.prompt.as_slice(), e.completion.as_slice())),
    );
    let m = Model {
        config: &arch,
        params: &layout.view(&arch, &values),
        rope: &rope,
    };
    let loss = backprop::loss_and_grads(
        &m,
        Some(&mut layout.view_mut(&arch, &mut grads)),
        None,
        &packed,
    );
    (loss, grads, layout)
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

#[test]
fn loss_and_gradients_equal_autograd_on_every_architecture() {
    for (name, arch) in variants() {
        let model = CausalLm::random(arch, 11, 0.2, &Device::Cpu, DType::F32).unwrap();
        let examples = examples();
        let batch: Vec<&SftExample> = examples.iter().collect();
        let (want_loss, want) = autograd_grads(&model, &batch);
        let (loss, grads, layout) = cpu_grads(&model, &batch);
        assert!(
            ((loss - want_loss) / want_loss).abs() < 1e-5,
            "{name}: loss {loss} vs autograd {want_loss}"
        );
        let mut worst = 0f64;
        for ((spec, got), want) in layout.tensors(&grads).zip(&want) {
            assert!(
                want.iter().any(|g| *g != 0.0),
                "{name}: {} has no gradient",
                spec.name
            );
            let err = rel_err(got, want);
            assert!(err < 1e-4, "{name}: {} gradient off by {err:e}", spec.name);
            worst = worst.max(err);
        }
        eprintln!("{name}: loss {loss:.6} vs {want_loss:.6}, worst gradient error {worst:.2e}");
    }
}

#[test]
fn whole_runs_follow_the_autograd_trainer() {
    for (name, arch) in variants() {
        let config = SftConfig {
            steps: 6,
            batch_size: 2,
            learning_rate: 3e-3,
            warmup_steps: 2,
            weight_decay: 0.01,
            seed: 5,
        };
        let mut fast = CausalLm::random(arch.clone(), 3, 0.2, &Device::Cpu, DType::F32).unwrap();
        let mut slow = CausalLm::random(arch, 3, 0.2, &Device::Cpu, DType::F32).unwrap();
        let a = train_sft(&mut fast, &examples(), &config, |_| {}).unwrap();
        let b = autograd::train_sft(&mut slow, &examples(), &config, |_| {}).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (x.step, x.learning_rate, x.tokens),
                (y.step, y.learning_rate, y.tokens)
            );
            let rel = ((x.loss - y.loss) / y.loss).abs();
            assert!(
                rel < 1e-4,
                "{name} step {}: {} vs {}",
                x.step,
                x.loss,
                y.loss
            );
        }
        for ((n, t), (_, u)) in fast.named_tensors().iter().zip(slow.named_tensors()) {
            let t = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let u = u.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(rel_err(&t, &u) < 1e-4, "{name}: {n} after training");
        }
    }
}

/// The model with `adapters` merged into its weights.
fn merged(model: &CausalLm, adapters: &LoraAdapters) -> CausalLm {
    let named = model.named_tensors();
    let merged = adapters
        .merged(|name| {
            let t = &named.iter().find(|(n, _)| n == name).unwrap().1;
            Ok(t.flatten_all()?.to_vec1::<f32>()?)
        })
        .unwrap();
    let tensors = named
        .iter()
        .map(|(n, t)| {
            let t = match merged.get(n) {
                Some(v) => candle_core::Tensor::from_slice(v, t.dims(), &Device::Cpu).unwrap(),
                None => t.clone(),
            };
            (n.clone(), t)
        })
        .collect();
    CausalLm::from_tensors(model.config().clone(), &tensors, &Device::Cpu, DType::F32).unwrap()
}

fn lora_run(arch: ArchConfig, targets: &[&str]) -> (CausalLm, LoraAdapters, Vec<StepReport>) {
    let model = CausalLm::random(arch, 4, 0.2, &Device::Cpu, DType::F32).unwrap();
    let config = SftConfig {
        steps: 5,
        batch_size: 2,
        learning_rate: 1e-2,
        warmup_steps: 0,
        weight_decay: 0.0,
        seed: 9,
    };
    let lora = LoraConfig {
        rank: 3,
        alpha: 6.0,
        target_modules: targets.iter().map(|t| t.to_string()).collect(),
    };
    let (adapters, reports) = train_lora(&model, &examples(), &config, &lora, |_| {}).unwrap();
    (model, adapters, reports)
}

#[test]
fn lora_with_its_adapters_merged_equals_the_adapted_model() {
    for (name, arch) in variants() {
        let (model, adapters, reports) = lora_run(arch.clone(), &LORA_MODULES);
        assert!(reports[4].loss < reports[0].loss, "{name}: {reports:?}");
        let full = merged(&model, &adapters);
        let examples = examples();
        let batch: Vec<&SftExample> = examples.iter().collect();
        let merged_loss = autograd::completion_loss(&full, &batch)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let layout = Layout::new(&arch);
        let base = read_weights(&model, layout.len()).unwrap();
        let rope = rope_table(&model, &examples);
        let m = Model {
            config: &arch,
            params: &layout.view(&arch, &base),
            rope: &rope,
        };
        let extended = adapters.extended_weights(&layout.view(&arch, &base), &adapters.values);
        let mut views = Adapters {
            layers: adapters.layer_views(arch.num_hidden_layers, &adapters.values),
            extended: adapters.extended_views(arch.num_hidden_layers, &extended),
            grads: None,
            rank: adapters.config().rank,
            scale: adapters.config().scale(),
        };
        let packed = Batch::pack(
            batch
                .iter()
                .map(|e| (e.prompt.as_slice(), e.completion.as_slice())),
        );
        let adapted_loss = backprop::loss_and_grads(&m, None, Some(&mut views), &packed);
        assert!(
            ((adapted_loss - merged_loss) / merged_loss).abs() < 1e-5,
            "{name}: adapted {adapted_loss} vs merged {merged_loss}"
        );
    }
}

#[test]
fn a_lora_step_changes_only_the_adapters() {
    let (arch, targets) = (arch(json!({})), ["q_proj", "down_proj"]);
    let (model, adapters, _) = lora_run(arch, &targets);
    let fresh = CausalLm::random(model.config().clone(), 4, 0.2, &Device::Cpu, DType::F32).unwrap();
    for ((n, t), (_, u)) in model.named_tensors().iter().zip(fresh.named_tensors()) {
        let t = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let u = u.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(t, u, "{n} changed");
    }
    let named = adapters.named_tensors();
    assert_eq!(
        named.len(),
        2 * 2 * 2,
        "A and B of two modules in two layers"
    );
    assert_eq!(
        named[0].0,
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    );
    assert_eq!(named[0].1, vec![3, 32]);
    assert!(named
        .iter()
        .filter(|(n, ..)| n.contains("lora_B"))
        .all(|(_, _, v)| v.iter().any(|x| *x != 0.0)));
}

#[test]
fn lora_gradients_are_the_full_gradient_through_the_factors() {
    // With W' = W + s·B·A and G = ∂L/∂W' (the full trainer's gradient at the merged weights):
    // ∂L/∂A = s·Bᵀ·G and ∂L/∂B = s·G·Aᵀ.
    let arch = arch(json!({}));
    let (model, adapters, _) = lora_run(arch.clone(), &["v_proj"]);
    let full = merged(&model, &adapters);
    let examples = examples();
    let batch: Vec<&SftExample> = examples.iter().collect();
    let (_, g_full, layout) = cpu_grads(&full, &batch);
    let base = read_weights(&model, layout.len()).unwrap();
    let rope = rope_table(&model, &examples);
    let m = Model {
        config: &arch,
        params: &layout.view(&arch, &base),
        rope: &rope,
    };
    let mut g_lora = vec![0f32; adapters.values.len()];
    let extended = adapters.extended_weights(&layout.view(&arch, &base), &adapters.values);
    let mut views = Adapters {
        layers: adapters.layer_views(arch.num_hidden_layers, &adapters.values),
        extended: adapters.extended_views(arch.num_hidden_layers, &extended),
        grads: Some(adapters.layer_views_mut(arch.num_hidden_layers, &mut g_lora)),
        rank: 3,
        scale: 2.0,
    };
    let packed = Batch::pack(
        batch
            .iter()
            .map(|e| (e.prompt.as_slice(), e.completion.as_slice())),
    );
    backprop::loss_and_grads(&m, None, Some(&mut views), &packed);
    let (r, inp, out, s) = (3, 32, 16, 2.0f32);
    for layer in 0..2 {
        let name = format!("model.layers.{layer}.self_attn.v_proj.weight");
        let g = layout
            .tensors(&g_full)
            .find(|(spec, _)| spec.name == name)
            .unwrap()
            .1;
        let views = adapters.layer_views(2, &adapters.values);
        let ad = views[layer][2].as_ref().unwrap();
        let grads = adapters.layer_views(2, &g_lora);
        let gd = grads[layer][2].as_ref().unwrap();
        let mut want_a = vec![0f32; r * inp];
        let mut want_b = vec![0f32; out * r];
        for k in 0..r {
            for o in 0..out {
                for i in 0..inp {
                    want_a[k * inp + i] += s * ad.b[o * r + k] * g[o * inp + i];
                    want_b[o * r + k] += s * g[o * inp + i] * ad.a[k * inp + i];
                }
            }
        }
        assert!(rel_err(gd.a, &want_a) < 1e-4, "layer {layer} dA");
        assert!(rel_err(gd.b, &want_b) < 1e-4, "layer {layer} dB");
    }
}

fn weights_of(model: &CausalLm) -> Vec<Vec<f32>> {
    model
        .named_tensors()
        .iter()
        .map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

#[test]
fn a_run_resumed_from_its_checkpoint_ends_where_an_uninterrupted_run_ends() {
    let (_, arch) = variants().remove(0);
    let config = SftConfig {
        steps: 7,
        batch_size: 2,
        learning_rate: 3e-3,
        warmup_steps: 2,
        weight_decay: 0.01,
        seed: 5,
    };
    let fresh = || CausalLm::random(arch.clone(), 3, 0.2, &Device::Cpu, DType::F32).unwrap();
    let mut whole = fresh();
    let all = train_sft(&mut whole, &examples(), &config, |_| {}).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let checkpoints = Checkpoints {
        file: dir.path().join("state.bin"),
        every: 3,
        resume: true,
    };
    // A run with checkpoints stops after its last one (step 6): what a stop leaves behind.
    let mut stopped = fresh();
    train_sft_with(
        &mut stopped,
        &examples(),
        &config,
        Some(&checkpoints),
        |_| {},
    )
    .unwrap();
    assert_eq!(weights_of(&stopped), weights_of(&whole));
    assert_eq!(checkpoint_steps(&checkpoints.file).unwrap(), 6);

    let mut resumed = fresh();
    let rest = train_sft_with(
        &mut resumed,
        &examples(),
        &config,
        Some(&checkpoints),
        |_| {},
    )
    .unwrap();
    assert_eq!(rest, all[6..].to_vec());
    assert_eq!(weights_of(&resumed), weights_of(&whole));

    let lora = LoraConfig::default();
    let model = fresh();
    let (adapters, _) = train_lora(&model, &examples(), &config, &lora, |_| {}).unwrap();
    let lora_checkpoints = Checkpoints {
        file: dir.path().join("lora.bin"),
        ..checkpoints.clone()
    };
    train_lora_with(
        &model,
        &examples(),
        &config,
        &lora,
        Some(&lora_checkpoints),
        |_| {},
    )
    .unwrap();
    let (again, rest) = train_lora_with(
        &model,
        &examples(),
        &config,
        &lora,
        Some(&lora_checkpoints),
        |_| {},
    )
    .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(again, adapters);
    let err = train_sft_with(
        &mut fresh(),
        &examples(),
        &config,
        Some(&lora_checkpoints),
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("lora.bin") && err.contains("trained values"),
        "{err}"
    );
}
