//! PNG plots of a run: archive heatmaps (one 2-D map per archive for 2 and 3 tasks, a grid
//! of 2-D projections for more) and QD-score and best-quality curves; for the merge-weight
//! search baselines, search curves and fronts; a fine-tuning run's loss curve.
//!
//! Text is drawn with the DejaVu Sans font embedded from the `dejavu` crate, so plotting
//! needs no system font library.

mod colour;
mod curves;
mod font;
mod loss;
mod maps;
mod search;

use std::path::{Path, PathBuf};

use crate::error::QdError;
use crate::scheduler::Cycle;

pub use curves::{curves, CurveMetric};
pub use loss::loss_curve;
pub use maps::archive_maps;
pub use search::{front_projections, search_curves, CurvePoint};

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
    let labels = cycle.archive_labels();
    let maps = dir.join(ARCHIVES_PNG);
    archive_maps(cycle.archives(), tasks, &maps)?;
    let qd = dir.join(QD_SCORE_PNG);
    curves(cycle.stats(), &labels, CurveMetric::QdScore, &qd)?;
    let best = dir.join(BEST_QUALITY_PNG);
    curves(cycle.stats(), &labels, CurveMetric::BestQuality, &best)?;
    Ok(vec![maps, qd, best])
}

/// Turns a drawing error into a [`QdError::Plot`] for `path`.
fn plot_error<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> QdError + '_ {
    move |e| QdError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The range of `values` with 5% padding (at least 0.01), or [0, 1] when there are none.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() {
        let pad = ((hi - lo) * 0.05).max(0.01);
        (lo - pad, hi + pad)
    } else {
        (0.0, 1.0)
    }
}
