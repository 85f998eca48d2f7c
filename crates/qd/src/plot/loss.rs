//! The loss curve of a fine-tuning run: every step's loss and its moving average.

use std::path::Path;

use plotters::prelude::*;

use super::font::{ensure_registered, FAMILY};
use super::{padded_range, plot_error};
use crate::error::QdError;

const SIZE: (u32, u32) = (900, 560);
const RAW: RGBColor = RGBColor(120, 150, 200);
const SMOOTH: RGBColor = RGBColor(31, 119, 180);

/// Draws `losses` (the loss of steps 1, 2, ...) and their moving average over `window` steps
/// into the PNG `path`.
pub fn loss_curve(losses: &[f64], window: usize, title: &str, path: &Path) -> Result<(), QdError> {
    ensure_registered();
    let fail = plot_error(path);
    let steps = losses.len().max(1) as u64;
    let window = window.max(1);
    let smooth: Vec<(u64, f64)> = (0..losses.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(window);
            let part = &losses[from..=i];
            ((i + 1) as u64, part.iter().sum::<f64>() / part.len() as f64)
        })
        .collect();
    let (lo, hi) = padded_range(losses.iter().copied().filter(|l| l.is_finite()));
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(&fail)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..steps, lo..hi)
        .map_err(&fail)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss per completion token")
        .y_label_formatter(&|v| format!("{v:.3}"))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(&fail)?;
    let raw = losses.iter().enumerate().map(|(i, &l)| ((i + 1) as u64, l));
    chart
        .draw_series(LineSeries::new(raw, RAW.stroke_width(1)))
        .map_err(&fail)?
        .label("step loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RAW.stroke_width(3)));
    if window > 1 {
        chart
            .draw_series(LineSeries::new(smooth, SMOOTH.stroke_width(2)))
            .map_err(&fail)?
            .label(format!("mean of the last {window} steps"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], SMOOTH.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .draw()
        .map_err(&fail)?;
    root.present().map_err(&fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_curve_is_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let losses: Vec<f64> = (0..50).map(|i| 3.0 / (1.0 + i as f64 * 0.1)).collect();
        loss_curve(&losses, 10, "fine-tune", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        loss_curve(&[], 10, "empty", &path).unwrap();
    }
}
