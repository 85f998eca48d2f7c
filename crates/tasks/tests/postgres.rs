//! The DB suite on a real PostgreSQL server and on SQLite: the same answers get the same
//! verdicts on both, the reference answers pass, and nothing is left in the server.
//! Needs `CYCLEQD_POSTGRES_URL` (`eval "$(bash scripts/tasks_start_postgres.sh)"`).

use std::time::Duration;

use cycleqd_tasks::db::{DbBackend, DbLimits, DbProblem, DbTask};
use cycleqd_tasks::generators::{self, Difficulty, GenConfig, Split};
use cycleqd_tasks::oracle::{EmptyModel, ProvidesReferences, ReferenceAnswers};
use cycleqd_tasks::WithSettings;
use cycleqd_tasks::{EvalOptions, Task};

fn postgres_url() -> String {
    std::env::var("CYCLEQD_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "CYCLEQD_POSTGRES_URL is not set: run `eval \"$(bash scripts/tasks_start_postgres.sh)\"` \
             first (it starts a private PostgreSQL on 127.0.0.1)"
        )
    })
}

fn problems() -> Vec<DbProblem> {
    [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard]
        .into_iter()
        .flat_map(|difficulty| {
            generators::db::generate(&GenConfig {
                seed: 11,
                split: Split::Test,
                difficulty,
                count: 20,
            })
            .unwrap()
        })
        .collect()
}

/// Right, wrong and hostile answers to one problem.
fn answers(p: &DbProblem) -> Vec<String> {
    let t = &p.tables[0].name;
    let gold = &p.answer_sql;
    vec![
        gold.clone(),
        format!("```sql\n{gold};\n```"),
        gold.to_lowercase(),
        gold.replace(" DESC", " ASC"),
        gold.replace("SUM(", "AVG("),
        gold.replace(" > ", " >= "),
        format!("SELECT * FROM {t}"),
        format!("SELECT COUNT(*) FROM {t}"),
        format!("SELECT name FROM {t} ORDER BY name"),
        format!("DELETE FROM {t}"),
        format!("UPDATE {t} SET name = 'x'"),
        format!("{gold}; DROP TABLE {t}"),
        format!("DROP TABLE {t}"),
        "COMMIT".to_string(),
        format!("WITH gone AS (DELETE FROM {t} RETURNING *) SELECT COUNT(*) FROM gone"),
        format!("SELECT * FROM no_such_table_{t}"),
        String::new(),
    ]
}

#[test]
fn both_engines_give_the_same_verdicts() {
    let url = postgres_url();
    let problems = problems();
    let sqlite = DbTask::new("db", problems.clone(), &DbBackend::Sqlite).unwrap();
    let postgres = DbTask::new("db", problems.clone(), &DbBackend::Postgres { url }).unwrap();
    let mut checked = 0;
    let mut passed = 0;
    for p in &problems {
        for answer in answers(p) {
            let a = sqlite.grade(p, &answer).unwrap();
            let b = postgres.grade(p, &answer).unwrap();
            assert_eq!(
                a.passed, b.passed,
                "{}: {:?}\n  sqlite: {}\n  postgres: {}",
                p.question, answer, a.detail, b.detail
            );
            checked += 1;
            passed += usize::from(a.passed);
        }
        assert!(
            postgres.grade(p, &p.answer_sql).unwrap().passed,
            "{}",
            p.question
        );
    }
    // Gold, fenced gold and lower-case gold at least; not everything.
    assert!(
        passed >= 3 * problems.len() && passed < checked / 2,
        "{passed} of {checked}"
    );
}

#[test]
fn a_runaway_query_times_out_on_both_engines() {
    let url = postgres_url();
    let limits = DbLimits {
        statement_timeout: Duration::from_millis(500),
        max_rows: 100,
    };
    let problems: Vec<DbProblem> = problems().into_iter().take(1).collect();
    let p = &problems[0];
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c";
    let huge = format!("SELECT * FROM {t} a, {t} b, {t} c", t = p.tables[0].name);
    for backend in [DbBackend::Sqlite, DbBackend::Postgres { url: url.clone() }] {
        let task = DbTask::new("db", problems.clone(), &backend)
            .unwrap()
            .with_limits(limits.clone());
        let verdict = task.grade(p, endless).unwrap();
        assert!(!verdict.passed);
        assert!(
            verdict.detail.contains("timed out"),
            "{:?}: {}",
            backend,
            verdict.detail
        );
        // A generous timeout here: a loaded machine must not turn this into a timeout.
        let task = DbTask::new("db", problems.clone(), &backend)
            .unwrap()
            .with_limits(DbLimits {
                max_rows: 100,
                ..DbLimits::default()
            });
        let verdict = task.grade(p, &huge).unwrap();
        assert!(
            verdict.detail.contains("more than 100 rows"),
            "{:?}: {}",
            backend,
            verdict.detail
        );
    }
}

#[test]
fn the_reference_scores_one_and_silence_zero_on_postgres_leaving_nothing_behind() {
    let url = postgres_url();
    let task = generators::db_task(
        &GenConfig {
            seed: 4,
            split: Split::Validation,
            difficulty: Difficulty::Mixed,
            count: 30,
        },
        &DbBackend::Postgres { url: url.clone() },
    )
    .unwrap();
    let gold = ReferenceAnswers::new("db", task.reference_dialogues()).unwrap();
    let options = EvalOptions::default();
    assert_eq!(task.evaluate(&gold, &options).unwrap().score, 1.0);
    assert_eq!(task.evaluate(&EmptyModel, &options).unwrap().score, 0.0);

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let left: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 'cqd_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "schemas were left behind");
}

#[test]
fn joins_nulls_reals_and_changes_grade_alike_on_both_engines() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db_problems.jsonl");
    let url = postgres_url();
    let sqlite = DbTask::from_jsonl(&path, &DbBackend::Sqlite).unwrap();
    let postgres = DbTask::from_jsonl(&path, &DbBackend::Postgres { url }).unwrap();
    let gold = ReferenceAnswers::new("db", postgres.reference_dialogues()).unwrap();
    let options = EvalOptions::default();
    assert_eq!(postgres.evaluate(&gold, &options).unwrap().score, 1.0);
    let tries = [
        "SELECT c.name, AVG(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
        "SELECT name, (SELECT SUM(amount) FROM orders WHERE customer_id = id) FROM customers",
        "SELECT name FROM customers ORDER BY name DESC",
        "DELETE FROM orders WHERE amount < 3",
        "UPDATE orders SET amount = 0 WHERE amount IS NULL",
        "DELETE FROM orders WHERE NOT amount IS NOT NULL",
    ];
    for p in sqlite.problems() {
        for sql in tries {
            let a = sqlite.grade(p, sql).unwrap();
            let b = postgres.grade(p, sql).unwrap();
            assert_eq!(
                a.passed, b.passed,
                "{}: {sql}\n{}\n{}",
                p.id, a.detail, b.detail
            );
        }
    }
}
