//! The error type of the inference crate: every variant names the file, field or tensor at fault.

use std::path::PathBuf;

/// Everything that can go wrong loading, running or training a model.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A `config.json` field that is missing, of the wrong type, or not supported.
    #[error("{path}: field `{field}`: {problem}")]
    Config {
        /// The config file (or a description of where the JSON came from).
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor that is missing or has the wrong shape.
    #[error("tensor `{name}` in {source_desc}: {problem}")]
    Tensor {
        /// The Hugging Face tensor name.
        name: String,
        /// Where the weights come from.
        source_desc: String,
        /// What is wrong.
        problem: String,
    },
    /// A file that cannot be read or does not follow its format.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
    },
    /// A chat template that does not parse or fails to render.
    #[error("chat template: {0}")]
    Template(String),
    /// A caller-side mistake: an empty prompt, an option out of range.
    #[error("{0}")]
    Invalid(String),
    /// An error from the weights crate (reading a model folder).
    #[error(transparent)]
    Weights(#[from] cycleqd_weights::WeightsError),
    /// An error from candle while computing.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl InferError {
    pub(crate) fn file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn config(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Config {
            path: path.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// `Result` with [`InferError`].
pub type Result<T> = std::result::Result<T, InferError>;
