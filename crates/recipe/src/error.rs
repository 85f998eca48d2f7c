//! The error type of the recipe crate: every variant names the file, tensor or field at fault.

use std::path::PathBuf;

/// Everything that can go wrong building a basis, reading a recipe or materializing a child.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// Reading or writing model weights failed.
    #[error(transparent)]
    Weights(#[from] cycleqd_weights::WeightsError),
    /// An operating-system error on a file or folder.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// A basis cache entry that is not what its manifest promises.
    #[error("basis cache {path}: {problem}")]
    Cache {
        /// The cache entry folder or file.
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
    },
    /// A recipe that does not fit the basis it is used with, or bytes that are not a recipe.
    #[error("recipe: {0}")]
    Recipe(String),
    /// A genome whose lineage cannot be resolved.
    #[error("genome: {0}")]
    Genome(String),
    /// The SVD of a tensor did not converge.
    #[error("tensor `{name}`: SVD did not converge")]
    Svd {
        /// The tensor.
        name: String,
    },
    /// A caller-side mistake: a bad option value or inputs that do not line up.
    #[error("{0}")]
    Invalid(String),
}

impl RecipeError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn cache(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Cache {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = RecipeError> = std::result::Result<T, E>;
