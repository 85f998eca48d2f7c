//! PEFT LoRA adapter folders named as models, through the binary: `inspect`, `convert`,
//! `similarity`, `basis` and `merge` (mergekit's `MODEL+ADAPTER`) on the tiny fixture of
//! `scripts/peft_adapter_fixture.py`, `generate` on SmolLM2 with an adapter, and the errors
//! for adapters that cannot be applied.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cycleqd_weights::{
    write_peft_adapter, ContentHash, GgufModel, HfModel, LoraAdapterConfig, PeftAdapter,
    SafetensorsFile, TensorSource, ADAPTER_CONFIG,
};
use tempfile::TempDir;

fn cycleqd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The fixture's base and adapter copied into a temp folder, as `base` and `adapter` (whose
/// `base_model_name_or_path` is `../base`).
fn fixture() -> TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../merge/tests/fixtures/golden/peft");
    let tmp = TempDir::new().unwrap();
    for sub in ["base", "adapter"] {
        std::fs::create_dir(tmp.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(src.join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tmp.path().join(sub).join(entry.file_name())).unwrap();
        }
    }
    std::fs::copy(
        src.join("merged.safetensors"),
        tmp.path().join("merged.safetensors"),
    )
    .unwrap();
    tmp
}

/// Checks the folder `model` holds PEFT's merged values for the adapted tensors and the base's
/// for the others.
fn assert_is_peft_merge(dir: &Path, model: &str) {
    let model = HfModel::open(&dir.join(model)).unwrap();
    let base = HfModel::open(&dir.join("base")).unwrap();
    let merged = SafetensorsFile::open(&dir.join("merged.safetensors")).unwrap();
    let adapted: Vec<&str> = merged
        .spans()
        .iter()
        .map(|s| s.meta.name.as_str())
        .collect();
    for span in merged.spans() {
        let mut want = Vec::new();
        span.meta.dtype.decode(merged.bytes(span), &mut want);
        let got = model.read_f32(&span.meta.name).unwrap();
        let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        let err = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= 1e-5 * scale, "{}: {err}", span.meta.name);
    }
    for m in base.metas() {
        if !adapted.contains(&m.name.as_str()) {
            assert_eq!(
                model.raw_bytes(&m.name),
                base.raw_bytes(&m.name),
                "{}",
                m.name
            );
        }
    }
}

#[test]
fn adapter_folders_are_models_wherever_a_model_is_named() {
    let tmp = fixture();
    let dir = tmp.path();

    // No --base: `../base` is not found from the working directory, but is beside the adapter.
    let report: serde_json::Value = serde_json::from_str(&ok(cycleqd(
        dir,
        &["inspect", "adapter", "--json", "--summary"],
    )))
    .unwrap();
    let base_params = HfModel::open(&dir.join("base")).unwrap().parameter_count();
    assert_eq!(report["parameters"], base_params, "{report}");

    ok(cycleqd(
        dir,
        &["convert", "adapter", "merged", "--base", "base"],
    ));
    assert_is_peft_merge(dir, "merged");

    std::fs::write(
        dir.join("merge.yaml"),
        "models:\n  - model: base+adapter\n    parameters: {weight: 1.0}\nmerge_method: linear\ndtype: float32\n",
    )
    .unwrap();
    ok(cycleqd(dir, &["merge", "merge.yaml", "via-merge"]));
    assert_is_peft_merge(dir, "via-merge");

    let out = ok(cycleqd(
        dir,
        &["similarity", "adapter", "merged", "--base", "base"],
    ));
    let s: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("similarity "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((s - 1.0).abs() < 1e-4, "{out}");

    ok(cycleqd(
        dir,
        &["basis", "base", "adapter", "merged", "--out", "cache"],
    ));
}

#[test]
fn adapters_that_cannot_be_applied_are_named() {
    let tmp = fixture();
    let dir = tmp.path();
    let config = dir.join("adapter").join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("\"../base\"", "\"HuggingFaceTB/SmolLM2-135M\""),
    )
    .unwrap();
    let err = failed(cycleqd(dir, &["inspect", "adapter"]));
    assert!(
        err.contains("names base model `HuggingFaceTB/SmolLM2-135M`, which is not a local folder")
            && err.contains("pass the base with --base"),
        "{err}"
    );
    ok(cycleqd(dir, &["inspect", "adapter", "--base", "base"]));

    // Written for another base: the recorded content hash differs from this base's.
    let adapter = PeftAdapter::open(&dir.join("adapter")).unwrap();
    let other = "0".repeat(64);
    write_peft_adapter(
        &dir.join("foreign"),
        adapter.config(),
        &adapter.tensors(),
        Some(&other),
    )
    .unwrap();
    let actual = ContentHash::of_model(&HfModel::open(&dir.join("base")).unwrap())
        .unwrap()
        .hex();
    let err = failed(cycleqd(
        dir,
        &["similarity", "foreign", "adapter", "--base", "base"],
    ));
    assert!(
        err.contains("foreign: the adapter was made for another base")
            && err.contains(&format!("records base content hash {other}"))
            && err.contains(&actual),
        "{err}"
    );

    for (model, expected) in [
        ("base+base", "is not a PEFT adapter folder"),
        (
            "base+adapter+adapter",
            "cannot parse `base+adapter+adapter`",
        ),
        ("missing+adapter", "does not exist"),
    ] {
        std::fs::write(
            dir.join("merge.yaml"),
            format!("models:\n  - model: {model}\n    parameters: {{weight: 1.0}}\nmerge_method: linear\n"),
        )
        .unwrap();
        let err = failed(cycleqd(dir, &["merge", "merge.yaml", "out"]));
        assert!(
            err.contains("models[0].model") && err.contains(expected),
            "{model}: {err}"
        );
    }
}

fn smollm2() -> PathBuf {
    std::env::var_os("CYCLEQD_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .expect("CYCLEQD_SMOLLM2_GGUF is not set: run `eval \"$(bash scripts/fetch-test-models.sh)\"` first")
}

#[test]
fn generate_applies_an_adapter_to_a_gguf_base() {
    let gguf = smollm2();
    let model = GgufModel::open(&gguf).unwrap();
    let tmp = TempDir::new().unwrap();
    let target = "model.layers.0.self_attn.q_proj";
    let shape = &model.meta(&format!("{target}.weight")).unwrap().shape;
    let (out, inp, r) = (shape[0], shape[1], 2);
    let key = |f: &str| format!("base_model.model.{target}.lora_{f}.weight");
    let write = |name: &str, b: f32| {
        let tensors = vec![
            (key("A"), vec![r, inp], vec![0.05; r * inp]),
            (key("B"), vec![out, r], vec![b; out * r]),
        ];
        let config = LoraAdapterConfig {
            rank: r,
            alpha: r as f64,
            target_modules: vec!["q_proj".into()],
            base_model: gguf.display().to_string(),
        };
        write_peft_adapter(&tmp.path().join(name), &config, &tensors, None).unwrap();
    };
    // B = 0 is PEFT's initial adapter: the model is the base, so greedy text is the base's.
    write("zero", 0.0);
    let generate = |model: &str| {
        ok(cycleqd(
            tmp.path(),
            &[
                "generate",
                model,
                "--prompt",
                "The capital of France is",
                "--max-new-tokens",
                "6",
            ],
        ))
    };
    let base_text = generate(gguf.to_str().unwrap());
    assert_eq!(generate("zero"), base_text);
}
