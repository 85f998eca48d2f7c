//! Files of a run directory written whole (through a temporary sibling renamed into place),
//! and the folder the plots go to.

use std::path::Path;

use serde::Serialize;

use crate::error::{EvolveError, Result};

/// Heatmaps and curves.
pub const PLOTS_DIR: &str = "plots";

/// Writes `bytes` to `path` through a temporary sibling renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| EvolveError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EvolveError::io(path, e))
}

/// Writes `value` as pretty-printed JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("results serialise");
    write_atomic(path, &bytes)
}
