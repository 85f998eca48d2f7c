//! Files of a run directory written whole (through a temporary sibling renamed into place),
//! and the folder the plots go to.

use std::path::Path;

use cycleqd_atomic_write::Durability;
use serde::Serialize;

use crate::error::Result;

/// Heatmaps and curves.
pub const PLOTS_DIR: &str = "plots";

/// Writes `bytes` to `path` through a temporary sibling renamed into place. Not synced:
/// every such file is rebuilt from the journals when a run is resumed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(cycleqd_atomic_write::write_atomic(
        path,
        bytes,
        Durability::OsBuffer,
    )?)
}

/// Writes `value` as pretty-printed JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("results serialise");
    write_atomic(path, &bytes)
}
