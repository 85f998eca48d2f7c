//! A model as a merge config names it: a folder, or mergekit's `MODEL+ADAPTER` (a PEFT LoRA
//! adapter applied to a model).

use std::fmt;
use std::path::PathBuf;

/// One input model of a merge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModelRef {
    /// The model folder.
    pub path: PathBuf,
    /// A PEFT LoRA adapter folder applied to it, from `MODEL+ADAPTER`.
    pub adapter: Option<PathBuf>,
}

impl ModelRef {
    /// A plain model folder.
    pub fn folder(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            adapter: None,
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.adapter {
            Some(a) => write!(f, "{}+{}", self.path.display(), a.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}
