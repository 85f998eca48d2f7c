//! The quality colour scale (viridis) and its colour bar.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::font::FAMILY;

/// A quality range mapped onto viridis.
#[derive(Debug, Clone, Copy)]
pub(super) struct QualityScale {
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl QualityScale {
    /// The scale spanning `values`; widened around a single value so it is never empty.
    pub(super) fn spanning(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        match (lo.is_finite(), hi > lo) {
            (false, _) => QualityScale { lo: 0.0, hi: 1.0 },
            (true, false) => QualityScale {
                lo: lo - 0.05,
                hi: hi + 0.05,
            },
            (true, true) => QualityScale { lo, hi },
        }
    }

    /// The colour of a quality value.
    pub(super) fn colour(&self, q: f64) -> RGBColor {
        let t = ((q - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        ViridisRGB.get_color(t as f32)
    }

    /// Draws a vertical colour bar with tick labels into `area`.
    pub(super) fn draw_bar<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        label: &str,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let mut chart = ChartBuilder::on(area)
            .margin_top(34)
            .margin_bottom(44)
            .margin_right(6)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..1.0, self.lo..self.hi)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.3}"))
            .y_desc(label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .draw()?;
        let steps = 120;
        let height = (self.hi - self.lo) / steps as f64;
        chart.draw_series((0..steps).map(|i| {
            let y0 = self.lo + i as f64 * height;
            Rectangle::new(
                [(0.0, y0), (1.0, y0 + height)],
                self.colour(y0 + height / 2.0).filled(),
            )
        }))?;
        Ok(())
    }
}
