//! Models built from in-memory tensors, and weights swapped into a loaded model.

mod common;

use std::collections::HashMap;

use common::{fixture, load};
use cycleqd_infer::{ArchConfig, CausalLm, DType, Device, Tensor};
use cycleqd_weights::HfModel;

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

const TOKENS: [u32; 6] = [5, 9, 200, 31, 31, 7];

#[test]
fn swapping_in_a_folders_weights_equals_loading_it() {
    for name in ["tiny-llama", "tiny-qwen2", "tiny-qwen3"] {
        let dir = fixture(name);
        let source = HfModel::open(&dir).unwrap();
        let config = ArchConfig::from_json(&dir.join("config.json"), &source.config().raw).unwrap();
        let mut model = CausalLm::random(config, 1, 0.02, &Device::Cpu, DType::F32).unwrap();
        let loaded = load(&dir, DType::F32);
        let expected = loaded.sequence_logits(&TOKENS).unwrap();
        assert!(max_diff(&model.sequence_logits(&TOKENS).unwrap(), &expected) > 1e-3);
        model.set_weights_from_source(&source).unwrap();
        assert_eq!(
            max_diff(&model.sequence_logits(&TOKENS).unwrap(), &expected),
            0.0,
            "{name}"
        );
    }
}

#[test]
fn in_memory_tensors_give_the_same_model_and_can_be_swapped_back() {
    let dir = fixture("tiny-llama");
    let loaded = load(&dir, DType::F32);
    let tensors: HashMap<String, Tensor> = loaded.named_tensors().into_iter().collect();
    let config = loaded.config().clone();
    let mut from_memory =
        CausalLm::from_tensors(config, &tensors, &Device::Cpu, DType::F32).unwrap();
    let expected = loaded.sequence_logits(&TOKENS).unwrap();
    assert_eq!(
        max_diff(&from_memory.sequence_logits(&TOKENS).unwrap(), &expected),
        0.0
    );

    let scaled: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                if n.contains("up_proj") {
                    (t * 1.5).unwrap()
                } else {
                    t.clone()
                },
            )
        })
        .collect();
    from_memory.set_weights_from_tensors(&scaled).unwrap();
    assert!(max_diff(&from_memory.sequence_logits(&TOKENS).unwrap(), &expected) > 1e-3);
    // Swapping from a source after tensors were handed over must not write into the caller's.
    from_memory
        .set_weights_from_source(&HfModel::open(&dir).unwrap())
        .unwrap();
    assert_eq!(
        max_diff(&from_memory.sequence_logits(&TOKENS).unwrap(), &expected),
        0.0
    );
    let up = "model.layers.0.mlp.up_proj.weight";
    assert!(
        max_diff(&scaled[up], &tensors[up]) > 0.0,
        "the caller's scaled tensor was overwritten"
    );
}

#[test]
fn wrong_shape_and_missing_tensor_name_the_tensor() {
    let loaded = load(&fixture("tiny-llama"), DType::F32);
    let mut tensors: HashMap<String, Tensor> = loaded.named_tensors().into_iter().collect();
    tensors.insert(
        "model.norm.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let err = CausalLm::from_tensors(loaded.config().clone(), &tensors, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.norm.weight") && err.contains("[3]") && err.contains("[64]"),
        "{err}"
    );
    tensors.remove("lm_head.weight");
    tensors.insert(
        "model.norm.weight".into(),
        Tensor::zeros(64, DType::F32, &Device::Cpu).unwrap(),
    );
    let err = CausalLm::from_tensors(loaded.config().clone(), &tensors, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lm_head.weight") && err.contains("missing"),
        "{err}"
    );
}
