//! The error type of evolve runs: every variant names the file, field or model at fault.

use std::path::PathBuf;

/// Everything that can go wrong configuring, running, exporting or reporting a run.
#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    /// A model that cannot be opened or read.
    #[error("{path}: {source}")]
    Model {
        /// The model folder or file.
        path: PathBuf,
        /// What the weights layer said.
        source: Box<cycleqd_weights::WeightsError>,
    },
    /// A config field that is missing, malformed or out of range.
    #[error("{path}: `{field}`: {problem}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The field, dotted (`tasks[1].spec`).
        field: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A file or folder the operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A run directory that does not hold what the command needs.
    #[error("{path}: {problem}")]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is missing or wrong.
        problem: String,
    },
    /// The inference engine failed.
    #[error(transparent)]
    Infer(Box<cycleqd_infer::InferError>),
    /// A task failed to load or to grade.
    #[error(transparent)]
    Task(Box<cycleqd_tasks::TaskError>),
    /// The bases, recipes or materialization failed.
    #[error(transparent)]
    Recipe(Box<cycleqd_recipe::RecipeError>),
    /// The QD run failed (journal, snapshot, config).
    #[error(transparent)]
    Qd(Box<cycleqd_qd::QdError>),
    /// A merge failed.
    #[error(transparent)]
    Merge(Box<cycleqd_merge::MergeError>),
    /// Weights could not be written or read.
    #[error(transparent)]
    Weights(Box<cycleqd_weights::WeightsError>),
    /// The evaluation queue failed, or a job failed on the workers.
    #[error(transparent)]
    Queue(Box<cycleqd_queue::QueueError>),
    /// A caller-side mistake, in words.
    #[error("{0}")]
    Invalid(String),
}

/// Boxes the wrapped errors so that `Result<T, EvolveError>` stays small.
macro_rules! boxed_from {
    ($($variant:ident: $ty:ty),* $(,)?) => {$(
        impl From<$ty> for EvolveError {
            fn from(e: $ty) -> Self {
                Self::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    Infer: cycleqd_infer::InferError,
    Task: cycleqd_tasks::TaskError,
    Recipe: cycleqd_recipe::RecipeError,
    Qd: cycleqd_qd::QdError,
    Merge: cycleqd_merge::MergeError,
    Weights: cycleqd_weights::WeightsError,
    Queue: cycleqd_queue::QueueError,
);

impl From<cycleqd_atomic_write::AtomicWriteError> for EvolveError {
    fn from(e: cycleqd_atomic_write::AtomicWriteError) -> Self {
        EvolveError::io(e.path, e.error)
    }
}

impl EvolveError {
    /// A model at `path` that the weights layer refused.
    pub fn model(path: impl Into<PathBuf>, source: cycleqd_weights::WeightsError) -> Self {
        Self::Model {
            path: path.into(),
            source: Box::new(source),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = EvolveError> = std::result::Result<T, E>;
