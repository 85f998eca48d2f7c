//! Plots of the merge-weight search baselines: CMA-ES's best-so-far and generation-mean
//! curves, and NSGA-II's evaluated points and final front on every pair of tasks.

use std::path::Path;

use plotters::prelude::*;

use super::font::{ensure_registered, FAMILY};
use super::{padded_range, plot_error};
use crate::error::QdError;

const CURVE_SIZE: (u32, u32) = (900, 560);
const PANEL: u32 = 430;
const TITLE_HEIGHT: u32 = 44;
const BEST: RGBColor = RGBColor(31, 119, 180);
const MEAN: RGBColor = RGBColor(255, 127, 14);
const FRONT: RGBColor = RGBColor(214, 39, 40);
const EVALUATED: RGBColor = RGBColor(160, 160, 160);

/// One point of a search curve: the evaluations done, the best mean score so far and the
/// generation's mean score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Evaluations done after the generation.
    pub evaluations: u64,
    /// The best mean score so far.
    pub best: f64,
    /// The mean over the generation's candidates.
    pub mean: f64,
}

/// Draws the best-so-far and generation-mean curves of a search into the PNG `path`.
pub fn search_curves(points: &[CurvePoint], title: &str, path: &Path) -> Result<(), QdError> {
    ensure_registered();
    let fail = plot_error(path);
    let last = points.last().map_or(1, |p| p.evaluations.max(1));
    let values = points.iter().flat_map(|p| [p.best, p.mean]);
    let (lo, hi) = padded_range(values);
    let root = BitMapBackend::new(path, CURVE_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(&fail)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..last, lo..hi)
        .map_err(&fail)?;
    chart
        .configure_mesh()
        .x_desc("evaluations")
        .y_desc("mean optimisation-split score")
        .y_label_formatter(&|v| format!("{v:.3}"))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(&fail)?;
    type Value = fn(&CurvePoint) -> f64;
    let lines: [(&str, RGBColor, Value); 2] = [
        ("best so far", BEST, |p| p.best),
        ("generation mean", MEAN, |p| p.mean),
    ];
    for (label, colour, value) in lines {
        let series = points.iter().map(|p| (p.evaluations, value(p)));
        chart
            .draw_series(LineSeries::new(series, colour.stroke_width(2)))
            .map_err(&fail)?
            .label(label)
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

/// Draws every evaluated score vector (grey) and the final front (red) on each pair of
/// tasks, one panel per pair, into the PNG `path`; `tasks` names the score columns.
pub fn front_projections(
    evaluated: &[Vec<f64>],
    front: &[Vec<f64>],
    tasks: &[String],
    title: &str,
    path: &Path,
) -> Result<(), QdError> {
    let k = tasks.len();
    if k < 2 || evaluated.iter().chain(front).any(|p| p.len() != k) {
        return Err(QdError::Plot {
            path: path.to_path_buf(),
            reason: format!("expected score vectors of {k} >= 2 tasks"),
        });
    }
    ensure_registered();
    let fail = plot_error(path);
    let pairs: Vec<(usize, usize)> = (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .collect();
    let cols = pairs.len().min(3);
    let rows = pairs.len().div_ceil(cols);
    let size = (cols as u32 * PANEL, TITLE_HEIGHT + rows as u32 * PANEL);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(&fail)?;
    let (heading, body) = root.split_vertically(TITLE_HEIGHT);
    heading.titled(title, (FAMILY, 20)).map_err(&fail)?;
    for (panel, &(a, b)) in body.split_evenly((rows, cols)).iter().zip(&pairs) {
        let (x_lo, x_hi) = padded_range(evaluated.iter().map(|p| p[a]));
        let (y_lo, y_hi) = padded_range(evaluated.iter().map(|p| p[b]));
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .x_desc(format!("{} score", tasks[a]))
            .y_desc(format!("{} score", tasks[b]))
            .x_label_formatter(&|v| format!("{v:.2}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(&fail)?;
        chart
            .draw_series(
                evaluated
                    .iter()
                    .map(|p| Circle::new((p[a], p[b]), 4, EVALUATED.filled())),
            )
            .map_err(&fail)?;
        chart
            .draw_series(
                front
                    .iter()
                    .map(|p| Circle::new((p[a], p[b]), 5, FRONT.filled())),
            )
            .map_err(&fail)?;
    }
    root.present().map_err(&fail)?;
    Ok(())
}
