//! The result rows of a run's end: the base and the experts, each final model, and any
//! model folder (the baselines'), scored on the test split and the held-out skills; the
//! results written as `results.json` and `report.md`.

use std::path::Path;

use cycleqd_recipe::ContentHash;
use cycleqd_weights::{HfModel, ModelInput, TensorSource};

use crate::error::{EvolveError, Result};
use crate::eval_job::JobModel;
use crate::report::{ResultRow, RunResults, REPORT_FILE, RESULTS_FILE};
use crate::run_context::RunContext;
use crate::run_events::{EventSink, EvolveEvent};
use crate::run_files::{write_atomic, write_json};
use crate::scorer::Scorer;

/// The test-split rows of the base and each expert.
pub(crate) fn reference_rows(
    ctx: &RunContext,
    scorer: &mut Scorer,
    on_event: &mut EventSink<'_>,
) -> Result<Vec<ResultRow>> {
    let config = &ctx.config;
    scorer.send_ahead(&ctx.base_identity(), &ctx.base_model())?;
    for k in 0..config.tasks.len() {
        scorer.send_ahead(&ctx.expert_identity(k), &ctx.expert_model(k))?;
    }
    let base = scorer.report_row(
        "base",
        &ctx.base_identity(),
        None,
        Some(&ctx.base_model()),
        || open_folder(&config.base, Some(&config.base)),
    )?;
    let mut rows = vec![announced(base, on_event)];
    for (k, task) in config.tasks.iter().enumerate() {
        let name = format!("expert {}", task.name);
        let row = scorer.report_row(
            &name,
            &ctx.expert_identity(k),
            None,
            Some(&ctx.expert_model(k)),
            || open_folder(&task.expert, Some(&config.base)),
        )?;
        rows.push(announced(row, on_event));
    }
    Ok(rows)
}

/// The cache identity of a model folder's weights.
pub fn folder_identity(ctx: &RunContext, folder: &Path) -> Result<String> {
    let model = HfModel::open(folder).map_err(|source| EvolveError::model(folder, source))?;
    Ok(ctx.identity(&ContentHash::of_model(&model)?.hex()))
}

/// The weights of the model at `path` (an adapter folder applies to `base` when given).
pub(crate) fn open_folder(path: &Path, base: Option<&Path>) -> Result<Box<dyn TensorSource>> {
    Ok(Box::new(ModelInput::open_with_base(path, base)?))
}

/// The reported row (test split, held-out skills) of the model at `path` (an adapter
/// folder applies to `base` when given), opened only when a result is not cached; always
/// evaluated in this process (a worker has no copy of the folder).
pub fn folder_row(
    scorer: &mut Scorer,
    name: &str,
    identity: &str,
    path: &Path,
    base: Option<&Path>,
) -> Result<ResultRow> {
    scorer.report_row(name, identity, None, None, || open_folder(path, base))
}

/// A reported model's row (test split and held-out skills), announced as it is scored.
pub(crate) fn scored_row(
    scorer: &mut Scorer,
    name: &str,
    identity: &str,
    optimize: Option<Vec<f64>>,
    model: &JobModel,
    weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    on_event: &mut EventSink<'_>,
) -> Result<ResultRow> {
    let row = scorer.report_row(name, identity, optimize, Some(model), weights)?;
    Ok(announced(row, on_event))
}

fn announced(row: ResultRow, on_event: &mut EventSink<'_>) -> ResultRow {
    on_event(EvolveEvent::Scored {
        what: &row.name,
        split: "test",
        scores: &row.test,
    });
    if !row.held_out.is_empty() {
        on_event(EvolveEvent::Scored {
            what: &row.name,
            split: "held-out skills",
            scores: &row.held_out,
        });
    }
    row
}

/// Writes `results.json` and its Markdown table, `report.md`, into `out`.
pub(crate) fn write_results(out: &Path, results: &RunResults) -> Result<()> {
    write_json(&out.join(RESULTS_FILE), results)?;
    write_atomic(&out.join(REPORT_FILE), results.markdown().as_bytes())
}
