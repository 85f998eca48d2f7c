//! PNG plots of a run: archive heatmaps (one 2-D map per archive for 2 and 3 tasks, a grid
//! of 2-D projections for more) and QD-score and best-quality curves.
//!
//! Text is drawn with the DejaVu Sans font embedded from the `dejavu` crate, so plotting
//! needs no system font library.

mod colour;
mod curves;
mod font;
mod maps;

use std::path::{Path, PathBuf};

use crate::error::QdError;
use crate::scheduler::Cycle;

pub use curves::{curves, CurveMetric};
pub use maps::archive_maps;

/// The file names [`write_all`] uses inside its folder.
pub const ARCHIVES_PNG: &str = "archives.png";
/// See [`ARCHIVES_PNG`].
pub const QD_SCORE_PNG: &str = "qd_score.png";
/// See [`ARCHIVES_PNG`].
pub const BEST_QUALITY_PNG: &str = "best_quality.png";

/// Draws the archive maps and both curves of a cycle into `dir` (created if missing);
/// returns the paths written.
pub fn write_all<G>(cycle: &Cycle<G>, dir: &Path) -> Result<Vec<PathBuf>, QdError> {
    std::fs::create_dir_all(dir).map_err(|e| QdError::io(dir, e))?;
    let tasks = &cycle.config().tasks;
    let maps = dir.join(ARCHIVES_PNG);
    archive_maps(cycle.archives(), tasks, &maps)?;
    let qd = dir.join(QD_SCORE_PNG);
    curves(cycle.stats(), tasks, CurveMetric::QdScore, &qd)?;
    let best = dir.join(BEST_QUALITY_PNG);
    curves(cycle.stats(), tasks, CurveMetric::BestQuality, &best)?;
    Ok(vec![maps, qd, best])
}

/// Turns a drawing error into a [`QdError::Plot`] for `path`.
fn plot_error<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> QdError + '_ {
    move |e| QdError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
