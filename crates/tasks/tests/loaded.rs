//! Suites loaded from files (the fixtures are small problems written for these tests in
//! each loader's format): references pass, silence fails, in every mode; results are
//! cached by model identity.

use std::path::PathBuf;

use cycleqd_tasks::coding::CodingTask;
use cycleqd_tasks::db::{DbBackend, DbTask};
use cycleqd_tasks::oracle::{EmptyModel, ProvidesReferences, ReferenceAnswers};
use cycleqd_tasks::os::{OsMode, OsTask};
use cycleqd_tasks::{task_from_spec, CacheHit, EvalOptions, ResultCache, Task, TaskContext};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scores<T: Task + ProvidesReferences>(task: &T) -> (f64, f64) {
    let options = EvalOptions::default();
    let gold = ReferenceAnswers::new(task.name(), task.reference_dialogues()).unwrap();
    let good = task.evaluate(&gold, &options).unwrap();
    let details: Vec<String> = good
        .samples
        .iter()
        .map(|s| format!("{}: {}", s.id, s.verdict.detail))
        .collect();
    assert_eq!(good.score, 1.0, "{details:#?}");
    (
        good.score,
        task.evaluate(&EmptyModel, &options).unwrap().score,
    )
}

#[test]
fn mbpp_format_problems_pass_with_their_reference_code() {
    let task = CodingTask::mbpp(&fixture("mbpp_format.jsonl")).unwrap();
    assert_eq!(task.len(), 3);
    assert_eq!(scores(&task), (1.0, 0.0));
}

#[test]
fn os_problems_grade_by_match_example_and_check_script_in_both_modes() {
    for mode in [OsMode::SingleTurn, OsMode::Agent { max_rounds: 3 }] {
        let task = OsTask::from_jsonl(&fixture("os_problems.jsonl"), mode).unwrap();
        assert_eq!(scores(&task), (1.0, 0.0), "{mode:?}");
    }
}

#[test]
fn db_problems_with_joins_nulls_order_and_changes_grade_on_sqlite() {
    let task = DbTask::from_jsonl(&fixture("db_problems.jsonl"), &DbBackend::Sqlite).unwrap();
    assert_eq!(scores(&task), (1.0, 0.0));
    let problems = task.problems();
    let wrong_order = task
        .grade(&problems[1], "SELECT name FROM customers ORDER BY id")
        .unwrap();
    assert!(!wrong_order.passed, "{}", wrong_order.detail);
    let any_order = task
        .grade(
            &problems[0],
            "SELECT name, SUM(amount) FROM customers JOIN orders ON customer_id = id GROUP BY 1 ORDER BY 1 DESC",
        )
        .unwrap();
    assert!(any_order.passed, "{}", any_order.detail);
}

#[test]
fn registry_specs_load_the_same_files() {
    let ctx = TaskContext::default();
    for (spec, len) in [
        (
            format!("mbpp:path={}", fixture("mbpp_format.jsonl").display()),
            3,
        ),
        (
            format!(
                "os:path={},mode=agent,rounds=4",
                fixture("os_problems.jsonl").display()
            ),
            3,
        ),
        (
            format!("db:path={}", fixture("db_problems.jsonl").display()),
            3,
        ),
    ] {
        let task = task_from_spec(&spec, &ctx).unwrap();
        assert_eq!(task.len(), len, "{spec}");
        assert_eq!(task.name(), spec);
    }
}

#[test]
fn a_second_evaluation_of_the_same_model_comes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResultCache::new(dir.path());
    let task = DbTask::from_jsonl(&fixture("db_problems.jsonl"), &DbBackend::Sqlite).unwrap();
    let gold = ReferenceAnswers::new("db", task.reference_dialogues()).unwrap();
    let options = EvalOptions::default();
    let (first, hit) = cache.evaluate(&task, &gold, &options).unwrap();
    assert_eq!(hit, CacheHit::Miss);
    let (second, hit) = cache.evaluate(&task, &gold, &options).unwrap();
    assert_eq!(hit, CacheHit::Hit);
    assert_eq!(first, second);
    let (other, hit) = cache.evaluate(&task, &EmptyModel, &options).unwrap();
    assert_eq!(hit, CacheHit::Miss);
    assert_eq!(other.score, 0.0);
    let limited = EvalOptions {
        limit: Some(1),
        ..EvalOptions::default()
    };
    let (one, hit) = cache.evaluate(&task, &gold, &limited).unwrap();
    assert_eq!((hit, one.total), (CacheHit::Miss, 1));
}
