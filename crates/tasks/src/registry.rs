//! Tasks by name, for command lines: `NAME` or `NAME:key=value,key=value`.
//!
//! | name | options |
//! | --- | --- |
//! | `humaneval` | `path` (default `$CYCLEQD_HUMANEVAL`, else the cached copy `cycleqd data fetch humaneval` or `scripts/tasks_fetch_data.sh` fetched), `style` = `instruct` or `completion`, `count` (the first N problems; default all) |
//! | `mbpp` | `path` (required), `count` |
//! | `os` | `path` (required), `mode` = `single` or `agent`, `rounds` (default 5) |
//! | `db` | `path` (required), `backend` = `sqlite` or `postgres`, `url` (default `$CYCLEQD_POSTGRES_URL`) |
//! | `gen-coding`, `gen-os`, `gen-db`, `gen-compare` | `split` (default `test`), `difficulty` (default `mixed`), `count` (default 100), `seed` (default 0), and `gen-os`'s `mode`/`rounds`, `gen-db`'s `backend`/`url` |
//! | `capitals` | `count` (the first N of 100 countries; default all): "What is the capital of X?", passed when the reply names it |
//! | `external` | `spec`: a JSON file holding a [`CommandTask`] |

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::answer::AnswerTask;
use crate::coding::{CodingTask, PromptStyle};
use crate::db::{DbBackend, DbTask};
use crate::error::TaskError;
use crate::external::CommandTask;
use crate::generators::{self, Difficulty, GenConfig, Split};
use crate::oracle::{ProvidesReferences, ReferenceDialogue};
use crate::os::{OsMode, OsTask};
use crate::pypi_data::HUMANEVAL;
use crate::suite_settings::WithSettings;
use crate::task::Task;

/// Where data and servers are, for tasks that need them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskContext {
    /// HumanEval's JSON-lines file.
    pub humaneval: Option<PathBuf>,
    /// A PostgreSQL URL.
    pub postgres_url: Option<String>,
}

impl TaskContext {
    /// From `CYCLEQD_HUMANEVAL` (else HumanEval in the project's cache, `$CYCLEQD_CACHE` or
    /// `~/.cache/cycleqd`, when it is there) and `CYCLEQD_POSTGRES_URL`.
    pub fn from_env() -> Self {
        TaskContext {
            humaneval: HUMANEVAL.find(),
            postgres_url: std::env::var("CYCLEQD_POSTGRES_URL").ok(),
        }
    }
}

struct Spec<'a> {
    text: &'a str,
    name: &'a str,
    options: BTreeMap<&'a str, &'a str>,
}

impl<'a> Spec<'a> {
    fn parse(text: &'a str) -> Result<Self, TaskError> {
        let text = text.trim();
        let (name, rest) = text.split_once(':').unwrap_or((text, ""));
        let mut options = BTreeMap::new();
        for pair in rest.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| TaskError::Config {
                task: text.to_string(),
                message: format!("option {pair:?} is not key=value"),
            })?;
            options.insert(k.trim(), v.trim());
        }
        Ok(Spec {
            text,
            name,
            options,
        })
    }

    /// The `count` option (default: no limit).
    fn count(&self) -> Result<usize, TaskError> {
        match self.options.get("count") {
            None => Ok(usize::MAX),
            Some(v) => v
                .parse()
                .map_err(|_| self.err(format!("count {v:?}: expected a whole number"))),
        }
    }

    fn err(&self, message: impl Into<String>) -> TaskError {
        TaskError::Config {
            task: self.text.to_string(),
            message: message.into(),
        }
    }

    fn only(&self, allowed: &[&str]) -> Result<(), TaskError> {
        match self.options.keys().find(|k| !allowed.contains(k)) {
            Some(k) => Err(self.err(format!(
                "unknown option {k:?}; {} takes {}",
                self.name,
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ))),
            None => Ok(()),
        }
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, TaskError>
    where
        T::Err: std::fmt::Display,
    {
        match self.options.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| self.err(format!("option {key}={v}: {e}"))),
        }
    }

    fn path(&self) -> Result<PathBuf, TaskError> {
        self.options
            .get("path")
            .map(PathBuf::from)
            .ok_or_else(|| self.err("needs path=FILE"))
    }

    fn gen_config(&self) -> Result<GenConfig, TaskError> {
        Ok(GenConfig {
            seed: self.get("seed", 0)?,
            split: self.get("split", Split::Test)?,
            difficulty: self.get("difficulty", Difficulty::Mixed)?,
            count: self.get("count", 100)?,
        })
    }

    fn os_mode(&self) -> Result<OsMode, TaskError> {
        match self.options.get("mode").copied().unwrap_or("single") {
            "single" => Ok(OsMode::SingleTurn),
            "agent" => Ok(OsMode::Agent {
                max_rounds: self.get("rounds", 5)?,
            }),
            other => Err(self.err(format!("mode {other:?}: expected single or agent"))),
        }
    }

    fn backend(&self, ctx: &TaskContext) -> Result<DbBackend, TaskError> {
        match self.options.get("backend").copied().unwrap_or("sqlite") {
            "sqlite" => Ok(DbBackend::Sqlite),
            "postgres" => {
                let url = self
                    .options
                    .get("url")
                    .map(|u| u.to_string())
                    .or_else(|| ctx.postgres_url.clone())
                    .ok_or_else(|| {
                        self.err(
                            "backend=postgres needs url=postgres://... or CYCLEQD_POSTGRES_URL",
                        )
                    })?;
                Ok(DbBackend::Postgres { url })
            }
            other => Err(self.err(format!("backend {other:?}: expected sqlite or postgres"))),
        }
    }
}

/// A task built from a spec, by kind: what can grade a model, and for most kinds also say
/// the reference answers (training data).
enum SpecTask {
    Coding(CodingTask),
    Os(OsTask),
    Db(DbTask),
    Answer(AnswerTask),
    Command(CommandTask),
}

/// Builds the task a spec names.
pub fn task_from_spec(spec: &str, ctx: &TaskContext) -> Result<Box<dyn Task>, TaskError> {
    Ok(match build(spec, ctx)? {
        SpecTask::Coding(t) => Box::new(t),
        SpecTask::Os(t) => Box::new(t),
        SpecTask::Db(t) => Box::new(t),
        SpecTask::Answer(t) => Box::new(t),
        SpecTask::Command(t) => Box::new(t),
    })
}

/// The reference dialogue of every problem of the task a spec names, in problem order: what a
/// fine-tune on that task trains on. External tasks have none (an error that says so).
pub fn reference_dialogues_from_spec(
    spec: &str,
    ctx: &TaskContext,
) -> Result<Vec<ReferenceDialogue>, TaskError> {
    Ok(match build(spec, ctx)? {
        SpecTask::Coding(t) => t.reference_dialogues(),
        SpecTask::Os(t) => t.reference_dialogues(),
        SpecTask::Db(t) => t.reference_dialogues(),
        SpecTask::Answer(t) => t.reference_dialogues(),
        SpecTask::Command(_) => {
            return Err(TaskError::Config {
                task: spec.to_string(),
                message: "an external task has no reference answers to train on".into(),
            })
        }
    })
}

fn build(spec: &str, ctx: &TaskContext) -> Result<SpecTask, TaskError> {
    let s = Spec::parse(spec)?;
    let gen_keys = ["split", "difficulty", "count", "seed"];
    let task = match s.name {
        "humaneval" => {
            s.only(&["path", "style", "count"])?;
            let path = s
                .options
                .get("path")
                .map(PathBuf::from)
                .or_else(|| ctx.humaneval.clone())
                .ok_or_else(|| {
                    s.err(format!(
                        "HumanEval not found: {}, or give path=FILE",
                        HUMANEVAL.how_to_fetch()
                    ))
                })?;
            let style = match s.options.get("style").copied().unwrap_or("instruct") {
                "instruct" => PromptStyle::Instruct,
                "completion" => PromptStyle::Completion,
                other => {
                    return Err(s.err(format!("style {other:?}: expected instruct or completion")))
                }
            };
            SpecTask::Coding(
                CodingTask::humaneval(&path)?
                    .with_style(style)?
                    .with_count(s.count()?)
                    .with_name(s.text),
            )
        }
        "mbpp" => {
            s.only(&["path", "count"])?;
            SpecTask::Coding(
                CodingTask::mbpp(&s.path()?)?
                    .with_count(s.count()?)
                    .with_name(s.text),
            )
        }
        "os" => {
            s.only(&["path", "mode", "rounds"])?;
            SpecTask::Os(OsTask::from_jsonl(&s.path()?, s.os_mode()?)?.with_name(s.text))
        }
        "db" => {
            s.only(&["path", "backend", "url"])?;
            SpecTask::Db(DbTask::from_jsonl(&s.path()?, &s.backend(ctx)?)?.with_name(s.text))
        }
        "gen-coding" => {
            s.only(&gen_keys)?;
            SpecTask::Coding(generators::coding_task(&s.gen_config()?)?.with_name(s.text))
        }
        "gen-os" => {
            s.only(&[&gen_keys[..], &["mode", "rounds"]].concat())?;
            SpecTask::Os(generators::os_task(&s.gen_config()?, s.os_mode()?)?.with_name(s.text))
        }
        "gen-db" => {
            s.only(&[&gen_keys[..], &["backend", "url"]].concat())?;
            SpecTask::Db(generators::db_task(&s.gen_config()?, &s.backend(ctx)?)?.with_name(s.text))
        }
        "gen-compare" => {
            s.only(&gen_keys)?;
            SpecTask::Answer(generators::compare_task(&s.gen_config()?)?.with_name(s.text))
        }
        "capitals" => {
            s.only(&["count"])?;
            SpecTask::Answer(crate::capitals::capitals_task(s.text, s.count()?)?)
        }
        "external" => {
            s.only(&["spec"])?;
            let path = PathBuf::from(
                s.options
                    .get("spec")
                    .ok_or_else(|| s.err("needs spec=FILE"))?,
            );
            let text = std::fs::read_to_string(&path).map_err(|source| TaskError::Io {
                path: path.clone(),
                source,
            })?;
            let task: CommandTask = serde_json::from_str(&text).map_err(|e| TaskError::Data {
                path: path.clone(),
                line: e.line(),
                message: format!(
                    "{e}; expected {{\"name\", \"command\": [...], \"score_key\", \"timeout\": seconds}}"
                ),
            })?;
            SpecTask::Command(task)
        }
        other => {
            return Err(s.err(format!(
                "unknown task {other:?}; known: humaneval, mbpp, os, db, gen-coding, gen-os, \
                 gen-db, gen-compare, capitals, external"
            )))
        }
    };
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(spec: &str, ctx: &TaskContext) -> String {
        match task_from_spec(spec, ctx) {
            Ok(task) => panic!("{spec} built task {}", task.name()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn generated_tasks_are_built_from_their_options() {
        let ctx = TaskContext::default();
        let task =
            task_from_spec("gen-coding:split=validation,count=7,difficulty=easy", &ctx).unwrap();
        assert_eq!(task.len(), 7);
        assert_eq!(
            task.name(),
            "gen-coding:split=validation,count=7,difficulty=easy"
        );
        let a = task_from_spec("gen-db:count=5,seed=1", &ctx).unwrap();
        let b = task_from_spec("gen-db:count=5,seed=2", &ctx).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            task_from_spec("gen-os:count=3,mode=agent", &ctx)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn reference_dialogues_come_with_every_problem_and_not_from_external_tasks() {
        let ctx = TaskContext::default();
        for spec in [
            "gen-coding:split=train,count=5",
            "gen-os:split=train,count=5",
            "gen-db:split=train,count=5",
            "gen-compare:split=train,count=5",
            "capitals:count=5",
        ] {
            let dialogues = reference_dialogues_from_spec(spec, &ctx).unwrap();
            assert_eq!(dialogues.len(), 5, "{spec}");
            assert!(dialogues.iter().all(|d| d.key().is_some()), "{spec}");
            let again = reference_dialogues_from_spec(spec, &ctx).unwrap();
            let keys = |d: &[ReferenceDialogue]| -> Vec<String> {
                d.iter().map(|d| d.key().unwrap().to_string()).collect()
            };
            assert_eq!(keys(&dialogues), keys(&again), "{spec}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("external.json");
        std::fs::write(
            &path,
            r#"{"name": "x", "command": ["true"], "score_key": "s", "timeout": 1}"#,
        )
        .unwrap();
        let spec = format!("external:spec={}", path.display());
        let err = reference_dialogues_from_spec(&spec, &ctx).unwrap_err();
        assert!(err.to_string().contains("no reference answers"), "{err}");
    }

    #[test]
    fn compare_specs_round_trip_to_the_generated_task() {
        let ctx = TaskContext::default();
        let spec = "gen-compare:split=test,difficulty=mixed,count=12,seed=3";
        let task = task_from_spec(spec, &ctx).unwrap();
        assert_eq!(task.name(), spec);
        assert_eq!(task.len(), 12);
        let config = GenConfig {
            seed: 3,
            split: Split::Test,
            difficulty: Difficulty::Mixed,
            count: 12,
        };
        let direct = generators::compare_task(&config).unwrap();
        assert_eq!(task.fingerprint(), direct.fingerprint());
        let other = task_from_spec("gen-compare:count=12,seed=4", &ctx).unwrap();
        assert_ne!(task.fingerprint(), other.fingerprint());
        let err = error_of("gen-compare:backend=sqlite", &ctx);
        assert!(err.contains("unknown option \"backend\""), "{err}");
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        let ctx = TaskContext::default();
        let cases = [
            ("nope", "unknown task"),
            ("gen-os:colour=red", "unknown option \"colour\""),
            ("gen-db:split=dev", "expected train, validation or test"),
            ("gen-db:backend=postgres", "CYCLEQD_POSTGRES_URL"),
            ("gen-coding:count", "not key=value"),
            ("humaneval", "CYCLEQD_HUMANEVAL"),
            ("mbpp", "needs path=FILE"),
            ("gen-os:mode=chat", "expected single or agent"),
        ];
        for (spec, expected) in cases {
            let err = error_of(spec, &ctx);
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }

    #[test]
    fn external_tasks_come_from_a_json_spec() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lm-eval.json");
        std::fs::write(
            &path,
            r#"{"name": "arc", "command": ["bash", "x.sh", "{model}"], "score_key": "arc_easy/acc,none", "timeout": 60}"#,
        )
        .unwrap();
        let spec = format!("external:spec={}", path.display());
        let task = task_from_spec(&spec, &TaskContext::default()).unwrap();
        assert_eq!(task.name(), "arc");
        std::fs::write(&path, r#"{"name": "arc"}"#).unwrap();
        let err = error_of(&spec, &TaskContext::default());
        assert!(err.contains("missing field `command`"), "{err}");
    }
}
