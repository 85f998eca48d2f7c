//! The error type of the QD core: every failure names the field, file or generation at fault.

use std::path::PathBuf;

/// Everything that can go wrong in the QD core.
#[derive(Debug, thiserror::Error)]
pub enum QdError {
    /// A configuration value is out of its allowed range.
    #[error("invalid config: `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `axes[1].bins`.
        field: String,
        /// What was expected instead.
        reason: String,
    },
    /// A score vector does not have one score per task.
    #[error("scores of {what}: expected {expected} values (one per task), got {got}")]
    ScoreCount {
        /// Which individual the scores belong to, e.g. `generation 12` or `seed 0`.
        what: String,
        /// The number of tasks.
        expected: usize,
        /// The number of scores given.
        got: usize,
    },
    /// A score is NaN or infinite.
    #[error("scores of {what}: the score of task `{task}` is {value}, expected a finite number")]
    NonFiniteScore {
        /// Which individual the scores belong to.
        what: String,
        /// The task whose score is bad.
        task: String,
        /// The bad value.
        value: f64,
    },
    /// `seed` was called twice.
    #[error("the archives are already seeded; seeding happens once, before the first generation")]
    AlreadySeeded,
    /// `ask` or `tell` came before `seed`.
    #[error("the archives are not seeded yet: seed them with the experts first")]
    NotSeeded,
    /// `seed` was called with no individuals.
    #[error(
        "no seeds given: at least one individual (normally the K experts) must seed the archives"
    )]
    NoSeeds,
    /// Parent sampling met an empty archive (cannot happen once seeded).
    #[error("the archive of task `{task}` is empty: there are no parents to sample")]
    EmptyArchive {
        /// The quality task of the empty archive.
        task: String,
    },
    /// `tell` for a generation outside `1..=generations`.
    #[error("generation {generation} is outside this run's generations 1..={generations}")]
    GenerationOutOfRange {
        /// The generation told.
        generation: u64,
        /// The run's last generation.
        generations: u64,
    },
    /// `tell` for a generation whose job was never handed out by `ask`.
    #[error("generation {generation} was never asked for: tell only results of jobs that ask() returned")]
    NotAsked {
        /// The generation told.
        generation: u64,
    },
    /// `tell` for a generation that was already told.
    #[error("generation {generation} was already told; each job's result is told once")]
    AlreadyTold {
        /// The generation told.
        generation: u64,
    },
    /// A file of a run directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run directory's config file is unreadable or invalid.
    #[error("{}: {reason}", path.display())]
    ConfigFile {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A line of the journal or statistics log is corrupt or disagrees with the run.
    #[error("{}, line {line}: {reason}", path.display())]
    Record {
        /// The journal or statistics log.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
        /// What is wrong with the line.
        reason: String,
    },
    /// A snapshot is unreadable or inconsistent with the run's config.
    #[error("{}: {reason}", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `create` was pointed at a directory that already holds a run.
    #[error("{} already holds a run (it has a config.json); resume it with open() or pick a new directory", path.display())]
    RunExists {
        /// The run directory.
        path: PathBuf,
    },
    /// `open` was pointed at a directory without a run.
    #[error("{} holds no run (no config.json): create one first", path.display())]
    NoRun {
        /// The directory.
        path: PathBuf,
    },
    /// `open_or_create` found a run whose config differs from the one given.
    #[error("{} holds a run with a different config ({field} differs): resume it with its own config or pick a new directory", path.display())]
    ConfigMismatch {
        /// The run directory.
        path: PathBuf,
        /// The first field that differs.
        field: String,
    },
    /// A plot could not be drawn or written.
    #[error("plot {}: {reason}", path.display())]
    Plot {
        /// The PNG file being written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl From<cycleqd_atomic_write::AtomicWriteError> for QdError {
    fn from(e: cycleqd_atomic_write::AtomicWriteError) -> Self {
        QdError::io(e.path, e.error)
    }
}

impl QdError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        QdError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`QdError::InvalidConfig`].
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        QdError::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
