//! CycleQD's task suites: skills graded by executing what the model wrote.
//!
//! - [`coding`]: Python functions graded by unit tests (HumanEval, MBPP format, generated).
//! - [`os`]: questions about files answered with shell commands, single-turn or as an agent.
//! - [`db`]: SQL on SQLite or PostgreSQL, graded by result sets.
//! - [`answer`]: short questions with one exact answer, graded by exact match.
//! - [`generators`]: seeded generators of all four with disjoint splits, for tiny models.
//! - [`external`]: any evaluator command that prints JSON scores (lm-evaluation-harness).
//! - [`pypi_data`]: HumanEval and the SmolLM2 GGUF, fetched from PyPI into the project's cache.
//! - [`sandbox`]: namespaces, a private uid and resource limits for model-written programs.
//!
//! Every suite implements [`Task`]: given a [`TextModel`] it returns a score in [0, 1] and
//! per-sample records; [`ResultCache`] keeps results by model identity. The oracles in
//! [`oracle`] prove the graders end to end.

pub mod answer;
pub mod cache;
pub mod capitals;
pub mod coding;
pub mod db;
pub mod error;
pub mod external;
pub mod generators;
mod jsonl;
pub mod model;
pub mod oracle;
pub mod os;
pub mod pypi_data;
pub mod registry;
pub mod sandbox;
pub mod sft;
mod suite_settings;
pub mod task;

pub use cache::{CacheHit, ResultCache};
pub use error::TaskError;
pub use model::{ChatMessage, GenParams, ModelError, Role, TextModel};
pub use registry::{reference_dialogues_from_spec, task_from_spec, TaskContext};
pub use suite_settings::{SuiteSettings, WithSettings};
pub use task::{EvalOptions, SampleRecord, Task, TaskResult, Verdict};
