//! Line plots of a statistic per archive over the generations.

use std::path::Path;

use plotters::prelude::*;

use super::font::{ensure_registered, FAMILY};
use super::{padded_range, plot_error};
use crate::error::QdError;
use crate::stats::{ArchiveStats, GenerationStats};

/// Which statistic a curve plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveMetric {
    /// The sum of elite qualities.
    QdScore,
    /// The best elite quality.
    BestQuality,
}

impl CurveMetric {
    fn value(self, s: &ArchiveStats) -> Option<f64> {
        match self {
            CurveMetric::QdScore => Some(s.qd_score),
            CurveMetric::BestQuality => s.best_quality,
        }
    }

    fn label(self) -> &'static str {
        match self {
            CurveMetric::QdScore => "QD-score (sum of elite qualities)",
            CurveMetric::BestQuality => "best quality",
        }
    }
}

const SIZE: (u32, u32) = (900, 560);

/// Matplotlib's tab10 colours: distinct on white, unlike plotters' default palette.
const LINE_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws one line per archive of `metric` against the generation into the PNG `path`;
/// `tasks` names the archives (their quality tasks, or `mean`).
pub fn curves(
    stats: &[GenerationStats],
    tasks: &[String],
    metric: CurveMetric,
    path: &Path,
) -> Result<(), QdError> {
    if let Some(row) = stats.iter().find(|r| r.archives.len() != tasks.len()) {
        return Err(QdError::Plot {
            path: path.to_path_buf(),
            reason: format!(
                "generation {} has {} archives, expected one per task ({})",
                row.generation,
                row.archives.len(),
                tasks.len()
            ),
        });
    }
    ensure_registered();
    let fail = plot_error(path);
    let last = stats.last().map_or(1, |r| r.generation.max(1));
    let values = stats
        .iter()
        .flat_map(|r| r.archives.iter().filter_map(|a| metric.value(a)));
    let (lo, hi) = padded_range(values);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(&fail)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("CycleQD: {} per archive", metric.label()),
            (FAMILY, 22),
        )
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..last, lo..hi)
        .map_err(&fail)?;
    chart
        .configure_mesh()
        .x_desc("generation")
        .y_desc(metric.label())
        .y_label_formatter(&|v| format!("{v:.3}"))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(&fail)?;
    for (k, task) in tasks.iter().enumerate() {
        let colour = LINE_COLOURS[k % LINE_COLOURS.len()];
        let points = stats
            .iter()
            .filter_map(|r| metric.value(&r.archives[k]).map(|v| (r.generation, v)));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(&fail)?
            .label(format!("{task} archive"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .draw()
        .map_err(&fail)?;
    root.present().map_err(&fail)?;
    Ok(())
}
