//! The error type of building the demo models: every variant names the stage or file at fault.

use std::path::PathBuf;

/// Everything that can go wrong building the demo models.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or folder the operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The tokenizer could not be trained or serialized.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The inference engine (model, training, saving) failed.
    #[error("{stage}: {source}")]
    Infer {
        /// The stage being built (`base`, `expert-os`, ...).
        stage: String,
        /// What the engine said.
        source: Box<cycleqd_infer::InferError>,
    },
    /// A task generator failed.
    #[error(transparent)]
    Task(#[from] cycleqd_tasks::TaskError),
    /// A recipe value that cannot work, in words.
    #[error("recipe: {0}")]
    Recipe(String),
}

impl DemoError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An engine error while building `stage`.
    pub fn infer(stage: &str, source: cycleqd_infer::InferError) -> Self {
        Self::Infer {
            stage: stage.to_string(),
            source: Box::new(source),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = DemoError> = std::result::Result<T, E>;
