//! `cycleqd merge` through the binary: a complete folder on success, and on bad input a clear
//! error naming the key, tensor or model, with nothing left behind that looks like a model.

use std::path::{Path, PathBuf};
use std::process::Command;

use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape, TensorSource};
use tempfile::TempDir;

fn cycleqd(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A base and two experts (bf16, tiny Llama) in `dir`, named base, e1, e2.
fn models(dir: &Path) {
    for (name, seed) in [("base", 1), ("e1", 2), ("e2", 3)] {
        write_random_llama(
            &dir.join(name),
            &LlamaShape::tiny(),
            seed,
            DType::BF16,
            20_000,
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("base/generation_config.json"),
        "{\"bos_token_id\": 1, \"eos_token_id\": 2}\n",
    )
    .unwrap();
}

fn run_config(dir: &Path, yaml: &str) -> (std::process::Output, PathBuf) {
    std::fs::write(dir.join("merge.yaml"), yaml).unwrap();
    let out = dir.join("out");
    (
        cycleqd(dir, &["merge", "merge.yaml", "out", "--shard-size", "30KB"]),
        out,
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails unless the run failed, and checks no output or partial folder was left.
fn assert_failed_cleanly(dir: &Path, run: &std::process::Output) -> String {
    assert!(!run.status.success(), "expected a failure");
    assert!(
        !dir.join("out").exists(),
        "a failed merge left an output folder"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "partial folders left: {leftovers:?}");
    stderr(run)
}

#[test]
fn ties_merge_writes_a_complete_sharded_folder() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let (run, out) = run_config(
        dir,
        "models:\n  - model: e1\n    parameters: {weight: 1.0, density: 0.5}\n  - model: e2\n    parameters: {weight: 0.5, density: 0.7}\nbase_model: base\nmerge_method: ties\ndtype: bfloat16\n",
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let merged = HfModel::open(&out).unwrap();
    let base = HfModel::open(&dir.join("base")).unwrap();
    assert!(merged.shard_paths().len() > 1);
    assert_eq!(merged.metas().len(), base.metas().len());
    assert_eq!(merged.config().raw["torch_dtype"], "bfloat16");
    assert_eq!(merged.config().architecture, "LlamaForCausalLM");
    assert!(
        out.join("generation_config.json").is_file(),
        "the base's companion files are copied"
    );
    let name = "model.layers.1.mlp.up_proj.weight";
    assert_ne!(merged.read_f32(name).unwrap(), base.read_f32(name).unwrap());
}

#[test]
fn task_arithmetic_with_weight_zero_returns_the_base_exactly() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let (run, out) = run_config(
        dir,
        "models:\n  - model: e1\n    parameters: {weight: 0.0}\nbase_model: base\nmerge_method: task_arithmetic\n",
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let merged = HfModel::open(&out).unwrap();
    let base = HfModel::open(&dir.join("base")).unwrap();
    for m in base.metas() {
        assert_eq!(merged.meta(&m.name).unwrap().dtype, DType::BF16);
        assert_eq!(
            merged.read_f32(&m.name).unwrap(),
            base.read_f32(&m.name).unwrap(),
            "{}",
            m.name
        );
    }
}

#[test]
fn unknown_and_unsupported_keys_are_named() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let cases = [
        ("models:\n  - model: e1\nbase_model: base\nmerge_metod: ties\n", "merge_metod"),
        ("models:\n  - model: e1\n    parameters: {weight: 1, density: 1.5}\nbase_model: base\nmerge_method: della\n", "models[0].parameters.density`: `density` must be in [0, 1], found 1.5"),
        ("models:\n  - model: e1\nbase_model: base\nmerge_method: nuslerp\n", "`nuslerp` merges exactly 2 model(s) besides the base, the config has 1"),
        ("slices:\n  - sources:\n      - {model: e1, layer_range: [0, 1]}\n      - {model: e2, layer_range: [0, 1]}\nmerge_method: passthrough\n", "`slices[0].sources`: `passthrough` merges exactly 1 model(s), the config has 2"),
        ("models:\n  - model: e1\n    parameters: {weight: 1, densty: 0.5}\nbase_model: base\nmerge_method: ties\n", "models[0].parameters.densty"),
        ("models:\n  - model: e1\n    parameters: {weight: 1}\nbase_model: base\nmerge_method: ties\ntokenizer_source: union\n", "tokenizer_source"),
        ("models:\n  - model: e1\n    parameters: {weight: 1}\nbase_model: base\nmerge_method: ties\nmodules: {}\n", "modules"),
        ("models:\n  - model: e1\n    parameters: {normalize: true, weight: 1}\nbase_model: base\nmerge_method: ties\n", "global parameter"),
        ("models:\n  - model: e1\n  - model: e2\nmerge_method: slerp\nbase_model: base\nparameters: {t: 0.5}\n", "exactly 1"),
        ("models:\n  - model: e1\n    parameters: {weight: 1}\nbase_model: org/missing-model\nmerge_method: ties\n", "hub ids are not downloaded"),
    ];
    for (yaml, needle) in cases {
        let (run, _) = run_config(dir, yaml);
        let err = assert_failed_cleanly(dir, &run);
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
        assert!(
            err.contains("merge.yaml"),
            "the message names the file: {err}"
        );
    }
}

#[test]
fn a_missing_weight_names_the_parameter_and_the_model() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let (run, _) = run_config(dir, "models:\n  - model: e1\n  - model: e2\n    parameters: {weight: 1}\nbase_model: base\nmerge_method: task_arithmetic\n");
    let err = assert_failed_cleanly(dir, &run);
    assert!(
        err.contains("`weight`") && err.contains("e1") && err.contains("models[0].parameters"),
        "{err}"
    );
}

#[test]
fn incompatible_models_are_refused_before_any_work() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let wide = LlamaShape {
        intermediate_size: 64,
        ..LlamaShape::tiny()
    };
    write_random_llama(&dir.join("wide"), &wide, 4, DType::BF16, u64::MAX).unwrap();
    let (run, _) = run_config(dir, "models:\n  - model: wide\n    parameters: {weight: 1}\nbase_model: base\nmerge_method: task_arithmetic\n");
    let err = assert_failed_cleanly(dir, &run);
    assert!(
        err.contains("intermediate_size") && err.contains("48") && err.contains("64"),
        "{err}"
    );
}

#[test]
fn a_failure_midway_leaves_no_output_folder() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    // The weights sum to zero only on MLP tensors, which the merge meets after others are written.
    let (run, _) = run_config(
        dir,
        "models:\n  - model: e1\n    parameters: {weight: 1}\n  - model: e2\n    parameters:\n      weight:\n        - filter: mlp.down_proj\n          value: -1\n        - value: 1\nmerge_method: linear\n",
    );
    let err = assert_failed_cleanly(dir, &run);
    assert!(
        err.contains("mlp.down_proj") && err.contains("sum to 0"),
        "{err}"
    );
}

#[test]
fn an_existing_output_folder_is_not_overwritten() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    std::fs::create_dir(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/keep.txt"), "mine").unwrap();
    let (run, _) = run_config(dir, "models:\n  - model: e1\n    parameters: {weight: 1}\nbase_model: base\nmerge_method: task_arithmetic\n");
    assert!(!run.status.success());
    assert!(stderr(&run).contains("not empty"), "{}", stderr(&run));
    assert_eq!(
        std::fs::read_to_string(dir.join("out/keep.txt")).unwrap(),
        "mine"
    );
}
