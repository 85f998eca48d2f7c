//! The error type of the merge crate: every variant names the config key, model or tensor at fault.

use std::path::PathBuf;

use cycleqd_weights::WeightsError;

/// Everything that can go wrong configuring or running a merge.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A merge config that cannot be read, has an unknown or unsupported key, or a bad value.
    #[error("{path}: `{key}`: {problem}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The key, as a path into the document, e.g. `models[1].parameters.weight`.
        key: String,
        /// What is wrong with it and what was expected.
        problem: String,
    },
    /// Input models that cannot be merged with each other.
    #[error("models cannot be merged: {0}")]
    Incompatible(String),
    /// A problem specific to one tensor: a parameter that resolves to nothing or to a bad value,
    /// inputs of the wrong length, a division by a zero weight sum.
    #[error("tensor `{name}`: {problem}")]
    Tensor {
        /// The tensor name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A caller-side mistake: a bad option value, inputs that do not fit together.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing model files.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

impl MergeError {
    pub(crate) fn tensor(name: &str, problem: impl Into<String>) -> Self {
        Self::Tensor {
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = MergeError> = std::result::Result<T, E>;
