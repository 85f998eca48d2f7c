//! The errors of task loading, evaluation and caching.

use std::path::PathBuf;

use crate::model::ModelError;
use crate::sandbox::SandboxError;

/// Everything that can stop a task (a wrong answer is a verdict, not an error).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A data file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A data file holds something other than what was expected.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line (or record) number; 0 when it concerns the whole file.
        line: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The model failed to produce text.
    #[error("model {model}: {source}")]
    Model {
        /// The model's identity.
        model: String,
        /// The engine's error.
        source: ModelError,
    },
    /// The model broke the [`crate::TextModel`] contract.
    #[error("model {model}: {message}")]
    ModelContract {
        /// The model's identity.
        model: String,
        /// What was wrong.
        message: String,
    },
    /// The sandbox could not be built or used.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A database backend failed outside the model's own SQL (setup, connection).
    #[error("database: {0}")]
    Database(String),
    /// Data the project fetches from PyPI (`cycleqd data fetch`) is unknown or could not be
    /// fetched.
    #[error("data {name}: {message}")]
    Fetch {
        /// The data's name (`humaneval`).
        name: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// A task was configured wrongly.
    #[error("task {task}: {message}")]
    Config {
        /// The task's name.
        task: String,
        /// What was wrong and what is expected.
        message: String,
    },
    /// An external evaluator failed.
    #[error("external evaluator {task}: {message}")]
    External {
        /// The task's name.
        task: String,
        /// What went wrong, with the command's error output where useful.
        message: String,
    },
    /// The result cache could not be read or written.
    #[error("result cache {path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
