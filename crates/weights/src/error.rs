//! The error type of the weights crate: every variant names the file or tensor at fault.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or combining model weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// An operating-system error on a file or folder.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// A file whose content does not follow its format.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
    },
    /// A model folder that cannot be used as it is.
    #[error("{path}: {problem}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
    },
    /// A `config.json` that lacks a field or has one of the wrong type.
    #[error("{path}: field `{field}`: {problem}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor that is not in a model.
    #[error("tensor `{name}` is not in {model}")]
    MissingTensor {
        /// The tensor name.
        name: String,
        /// The model (its path).
        model: String,
    },
    /// Two models that should line up tensor by tensor do not.
    #[error("tensor `{name}`: {problem}")]
    Mismatch {
        /// The tensor name.
        name: String,
        /// Which property differs, with both values.
        problem: String,
    },
    /// A LoRA adapter applied to a base other than the one it records.
    #[error("{adapter}: the adapter was made for another base: it records base content hash {recorded}, but the base {base} has {actual}")]
    AdapterBase {
        /// The adapter folder.
        adapter: PathBuf,
        /// The base it was applied to.
        base: String,
        /// The hash the adapter records.
        recorded: String,
        /// The hash of the base given.
        actual: String,
    },
    /// A model that cannot be opened or read, with the path it was opened as.
    #[error("{path}: {source}")]
    Model {
        /// The model folder or file.
        path: PathBuf,
        /// Why it cannot be opened.
        source: Box<WeightsError>,
    },
    /// An error from the GGUF reader.
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    /// A caller-side mistake: a bad option value or a misuse of a writer.
    #[error("{0}")]
    Invalid(String),
}

impl From<cycleqd_atomic_write::AtomicWriteError> for WeightsError {
    fn from(e: cycleqd_atomic_write::AtomicWriteError) -> Self {
        WeightsError::io(e.path, e.error)
    }
}

impl WeightsError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn model(path: impl Into<PathBuf>, source: WeightsError) -> Self {
        Self::Model {
            path: path.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn folder(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Folder {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = WeightsError> = std::result::Result<T, E>;
