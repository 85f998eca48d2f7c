//! Archive heatmaps: the colour of a cell is its elite's quality. With 2 tasks each archive
//! is a strip over its one BC, with 3 a 2-D map; with more, each archive gets a row of
//! 2-D projections onto every pair of its BCs, a projected cell showing the best quality
//! over the hidden BCs.

use std::collections::HashMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::colour::QualityScale;
use super::font::{ensure_registered, FAMILY};
use super::plot_error;
use crate::archive::Archive;
use crate::error::QdError;

const PANEL_WIDTH: u32 = 430;
const MAP_HEIGHT: u32 = 400;
const STRIP_HEIGHT: u32 = 230;
const BAR_WIDTH: u32 = 110;
const TITLE_HEIGHT: u32 = 44;
const EMPTY_CELL: RGBColor = RGBColor(228, 228, 228);

/// What one panel shows of an archive.
#[derive(Debug, Clone, Copy)]
enum View {
    /// The single BC dimension (2 tasks).
    Strip,
    /// BC dimensions `a` (x) and `b` (y), by position in the cell key.
    Pair(usize, usize),
}

/// Draws the heatmaps of `archives` (one per task in task order, or the fixed-quality
/// ablation's single archive) into the PNG `path`; `tasks` names the tasks.
pub fn archive_maps<G>(
    archives: &[Archive<G>],
    tasks: &[String],
    path: &Path,
) -> Result<(), QdError> {
    let dims = archives.first().map_or(0, |a| a.mapping().bc_tasks().len());
    if tasks.len() < 2
        || archives.is_empty()
        || archives
            .iter()
            .any(|a| a.task_count() != tasks.len() || a.mapping().bc_tasks().len() != dims)
    {
        return Err(QdError::Plot {
            path: path.to_path_buf(),
            reason: format!(
                "expected archives over {} tasks with the same number of BCs, got {} archives over {:?} tasks",
                tasks.len(),
                archives.len(),
                archives.iter().map(Archive::task_count).collect::<Vec<_>>()
            ),
        });
    }
    ensure_registered();
    let views: Vec<View> = if dims == 1 {
        vec![View::Strip]
    } else {
        (0..dims)
            .flat_map(|a| (a + 1..dims).map(move |b| View::Pair(a, b)))
            .collect()
    };
    // One map per archive goes in a single row; projection grids get a row each.
    let (rows, cols) = if views.len() == 1 {
        (1, archives.len())
    } else {
        (archives.len(), 1)
    };
    let block_width = views.len() as u32 * PANEL_WIDTH + BAR_WIDTH;
    let panel_height = if dims == 1 { STRIP_HEIGHT } else { MAP_HEIGHT };
    let size = (
        cols as u32 * block_width,
        TITLE_HEIGHT + rows as u32 * panel_height,
    );
    let fail = plot_error(path);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(&fail)?;
    let (title, body) = root.split_vertically(TITLE_HEIGHT);
    let heading = match views.len() {
        1 => "CycleQD archives: colour = elite quality, grey = empty cell".to_string(),
        _ => "CycleQD archives: projections onto BC pairs, colour = best quality over hidden BCs, grey = empty".to_string(),
    };
    title.titled(&heading, (FAMILY, 20)).map_err(&fail)?;
    for (block, archive) in body.split_evenly((rows, cols)).iter().zip(archives) {
        draw_block(block, archive, tasks, &views).map_err(&fail)?;
    }
    root.present().map_err(&fail)?;
    Ok(())
}

/// One archive: its panels side by side, then its colour bar.
fn draw_block<G, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    archive: &Archive<G>,
    tasks: &[String],
    views: &[View],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let scale = QualityScale::spanning(archive.qualities());
    let width = area.dim_in_pixel().0;
    let (maps, bar) = area.split_horizontally(width.saturating_sub(BAR_WIDTH));
    for (panel, view) in maps.split_evenly((1, views.len())).iter().zip(views) {
        draw_panel(panel, archive, tasks, *view, &scale, views.len() > 1)?;
    }
    let quality = match archive.task() {
        Some(t) => format!("{} score (quality)", tasks[t]),
        None => "mean score (quality)".to_string(),
    };
    scale.draw_bar(&bar, &quality)
}

/// Best quality per displayed (x bin, y bin); y is 0 for a strip.
fn project<G>(archive: &Archive<G>, view: View) -> HashMap<(u32, u32), f64> {
    let mut cells: HashMap<(u32, u32), f64> = HashMap::new();
    for (cell, elite) in archive.elites() {
        let bins = cell.bins();
        let key = match view {
            View::Strip => (bins[0], 0),
            View::Pair(a, b) => (bins[a], bins[b]),
        };
        let q = archive.quality(elite.scores());
        cells
            .entry(key)
            .and_modify(|best| *best = best.max(q))
            .or_insert(q);
    }
    cells
}

fn draw_panel<G, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    archive: &Archive<G>,
    tasks: &[String],
    view: View,
    scale: &QualityScale,
    in_grid: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mapping = archive.mapping();
    let name = |dim: usize| tasks[mapping.bc_tasks()[dim]].as_str();
    let (x_dim, y_dim) = match view {
        View::Strip => (0, None),
        View::Pair(a, b) => (a, Some(b)),
    };
    let x_axis = &mapping.axes()[x_dim];
    let (y_lo, y_hi) = y_dim.map_or((0.0, 1.0), |b| {
        (mapping.axes()[b].lo(), mapping.axes()[b].hi())
    });
    let caption = match y_dim {
        Some(b) if in_grid => format!(
            "{} archive: {} x {}",
            archive.label(tasks),
            name(x_dim),
            name(b)
        ),
        _ => format!(
            "{} archive ({} elites)",
            archive.label(tasks),
            archive.len()
        ),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 17))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(if y_dim.is_some() { 60 } else { 10 })
        .build_cartesian_2d(x_axis.lo()..x_axis.hi(), y_lo..y_hi)?;
    chart.plotting_area().fill(&EMPTY_CELL)?;
    let x_edges = x_axis.edges();
    let y_edges: Vec<f64> = y_dim.map_or(vec![0.0, 1.0], |b| mapping.axes()[b].edges().to_vec());
    chart.draw_series(project(archive, view).into_iter().map(|((i, j), q)| {
        let (i, j) = (i as usize, j as usize);
        Rectangle::new(
            [(x_edges[i], y_edges[j]), (x_edges[i + 1], y_edges[j + 1])],
            scale.colour(q).filled(),
        )
    }))?;
    let x_desc = format!("{} score", name(x_dim));
    let y_desc = y_dim
        .map(|b| format!("{} score", name(b)))
        .unwrap_or_default();
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 14));
    if y_dim.is_none() {
        mesh.disable_y_axis();
    }
    mesh.draw()
}
