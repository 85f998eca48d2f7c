//! Database skill, AgentBench-DB style: each problem has tables and a question; the model
//! writes one SQL statement, which runs on embedded SQLite (the default) or on a real
//! PostgreSQL server. A query is graded by comparing its result set with the reference's
//! (order-insensitive unless the question orders); a change to data by comparing a check
//! query's rows after the model's statement with those after the reference statement.

mod postgres;
mod problem;
mod sqlite;
mod statement;
mod value;

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use self::postgres::PostgresEngine;
pub use problem::{Cell, Column, ColumnType, DbProblem, Table};
pub use sqlite::SqliteEngine;
pub use statement::{classify, extract_sql, StatementKind};
pub use value::{compare, ResultSet, Value};

use crate::error::TaskError;
use crate::jsonl::read_records;
use crate::model::{ChatMessage, GenParams, TextModel};
use crate::oracle::{ProvidesReferences, ReferenceDialogue, ReferenceTurn};
use crate::suite_settings::{SuiteSettings, WithSettings};
use crate::task::{
    chat_prompts, fingerprint_of, grade_in_parallel, limited, EvalOptions, SampleRecord, Task,
    TaskResult, Verdict,
};

/// Limits on one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbLimits {
    /// The statement is cancelled after this long.
    pub statement_timeout: Duration,
    /// Results with more rows fail.
    pub max_rows: usize,
}

impl Default for DbLimits {
    fn default() -> Self {
        DbLimits {
            statement_timeout: Duration::from_secs(5),
            max_rows: 10_000,
        }
    }
}

/// The reference's rows and the model's (or the model's error).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// What the reference produced.
    pub expected: ResultSet,
    /// What the model's statement produced, or its error message.
    pub actual: Result<ResultSet, String>,
}

/// A database engine that can run attempts in isolation.
pub trait Engine: Send + Sync {
    /// Creates the problem's tables afresh, runs the reference and `sql` (already checked to
    /// be one allowed statement; it may change rows only when `may_change`), and returns
    /// both results. Failures of `sql` are in [`Attempt::actual`]; `Err` is the engine's
    /// own failure or a broken reference.
    fn attempt(
        &self,
        problem: &DbProblem,
        sql: &str,
        may_change: bool,
        limits: &DbLimits,
    ) -> Result<Attempt, TaskError>;
}

/// Where the SQL runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DbBackend {
    /// Embedded SQLite.
    Sqlite,
    /// A PostgreSQL server (`postgres://user:password@host:port/database`).
    Postgres {
        /// The connection URL.
        url: String,
    },
}

/// Loads problems from JSON lines, one [`DbProblem`] per line, each validated.
pub fn load_db_problems(path: &Path) -> Result<Vec<DbProblem>, TaskError> {
    read_records::<DbProblem>(path)?
        .into_iter()
        .map(|(line, p)| {
            p.validate().map_err(|e| TaskError::Data {
                path: path.to_path_buf(),
                line,
                message: e.to_string(),
            })?;
            Ok(p)
        })
        .collect()
}

/// A suite of database problems on one engine.
pub struct DbTask {
    settings: SuiteSettings<DbLimits>,
    problems: Vec<DbProblem>,
    engine: Box<dyn Engine>,
    engine_kind: &'static str,
}

impl std::fmt::Debug for DbTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTask")
            .field("name", &self.settings.name)
            .field("problems", &self.problems.len())
            .field("engine", &self.engine_kind)
            .finish()
    }
}

#[derive(Serialize)]
struct Fingerprinted<'a> {
    problems: &'a [DbProblem],
    system: &'a Option<String>,
    generation: &'a GenParams,
    limits: &'a DbLimits,
}

/// The system prompt for instruct models.
pub const DB_SYSTEM_PROMPT: &str = "You answer questions about database tables by writing \
one SQL statement. Reply with the statement only, or in one ```sql code block.";

impl DbTask {
    /// A task over `problems` (validated) on `backend`, at most 256 new tokens per reply.
    /// A PostgreSQL backend is connected to and checked now.
    pub fn new(
        name: impl Into<String>,
        problems: Vec<DbProblem>,
        backend: &DbBackend,
    ) -> Result<Self, TaskError> {
        for p in &problems {
            p.validate()?;
        }
        let (engine, engine_kind): (Box<dyn Engine>, _) = match backend {
            DbBackend::Sqlite => (Box::new(SqliteEngine), "sqlite"),
            DbBackend::Postgres { url } => (Box::new(PostgresEngine::connect(url)?), "postgres"),
        };
        Ok(DbTask {
            settings: SuiteSettings::new(name, Some(DB_SYSTEM_PROMPT), 256, DbLimits::default()),
            problems,
            engine,
            engine_kind,
        })
    }

    /// Problems from a JSON-lines file (see [`load_db_problems`]).
    pub fn from_jsonl(path: &Path, backend: &DbBackend) -> Result<Self, TaskError> {
        DbTask::new("db", load_db_problems(path)?, backend)
    }

    /// The problems.
    pub fn problems(&self) -> &[DbProblem] {
        &self.problems
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn engine_kind(&self) -> &'static str {
        self.engine_kind
    }

    /// The conversation the model is given.
    pub fn opening(&self, problem: &DbProblem) -> Vec<ChatMessage> {
        self.settings
            .opening(format!("{}\n{}", problem.schema_text(), problem.question))
    }

    /// Runs a reply's SQL against the problem and grades it.
    pub fn grade(&self, problem: &DbProblem, reply: &str) -> Result<Verdict, TaskError> {
        let sql = extract_sql(reply);
        let may_change = problem.check_sql.is_some();
        match classify(&sql) {
            Err(why) => return Ok(Verdict::fail(why)),
            Ok(StatementKind::Change) if !may_change => {
                return Ok(Verdict::fail("the question asks for a query, not a change"))
            }
            Ok(_) => {}
        }
        let attempt = self
            .engine
            .attempt(problem, &sql, may_change, &self.settings.limits)?;
        Ok(match attempt.actual {
            Err(message) => Verdict::fail(format!("the statement failed: {message}")),
            Ok(actual) => match compare(&attempt.expected, &actual, problem.is_ordered()) {
                Ok(()) => Verdict::pass(format!("{} rows match", actual.rows.len())),
                Err(difference) => Verdict::fail(difference),
            },
        })
    }
}

impl WithSettings for DbTask {
    type Limits = DbLimits;

    fn settings_mut(&mut self) -> &mut SuiteSettings<DbLimits> {
        &mut self.settings
    }
}

impl Task for DbTask {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// The engine is not part of the fingerprint: both engines grade alike.
    fn fingerprint(&self) -> String {
        fingerprint_of(
            "db",
            &Fingerprinted {
                problems: &self.problems,
                system: &self.settings.system,
                generation: &self.settings.generation,
                limits: &self.settings.limits,
            },
        )
    }

    fn len(&self) -> usize {
        self.problems.len()
    }

    fn evaluate(
        &self,
        model: &dyn TextModel,
        options: &EvalOptions,
    ) -> Result<TaskResult, TaskError> {
        let problems = limited(&self.problems, options.limit);
        let openings: Vec<_> = problems.iter().map(|p| self.opening(p)).collect();
        let prompts = chat_prompts(model, &openings)?;
        let outputs = self
            .settings
            .generate(model, &prompts, options.batch_size)?;
        let jobs: Vec<_> = problems.iter().zip(prompts).zip(outputs).collect();
        let samples = grade_in_parallel(
            &jobs,
            options.workers,
            |((problem, prompt), (output, gen_s))| {
                let start = Instant::now();
                let verdict = self.grade(problem, output)?;
                Ok(SampleRecord {
                    id: problem.id.clone(),
                    prompt: prompt.clone(),
                    output: output.clone(),
                    verdict,
                    generation_seconds: *gen_s,
                    grading_seconds: start.elapsed().as_secs_f64(),
                    transcript: vec![],
                })
            },
        )?;
        Ok(TaskResult::from_samples(
            self,
            model,
            options.limit,
            samples,
        ))
    }
}

impl ProvidesReferences for DbTask {
    fn reference_dialogues(&self) -> Vec<ReferenceDialogue> {
        self.problems
            .iter()
            .map(|p| ReferenceDialogue {
                opening: self.opening(p),
                turns: vec![ReferenceTurn::Reply(p.answer_sql.clone())],
            })
            .collect()
    }
}
