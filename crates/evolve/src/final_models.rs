//! The end of a run: statistics and plots, the archives as JSON, the final models (each
//! archive's best elite, the best-mean elite and the spec's aggregate), and the test-split
//! results of those models, the base and the experts.

use std::collections::BTreeMap;
use std::path::Path;

use cycleqd_qd::Run;
use cycleqd_recipe::{Ancestors, Genome};
use serde::{Deserialize, Serialize};

use crate::blend::{aggregate_weights, Blend};
use crate::breed::blend_identity;
use crate::error::{EvolveError, Result};
use crate::evolve_run::{write_atomic, EventSink, EvolveEvent, Individuals, RunContext};
use crate::model_input::ModelInput;
use crate::report::{ResultRow, RunResults, REPORT_FILE, RESULTS_FILE};
use crate::scorer::Scorer;
use cycleqd_weights::TensorSource;

/// The final models of a run, by pick name.
pub const PICKS_FILE: &str = "picks.json";
/// Every archive's elites, for inspection and comparing runs.
pub const ARCHIVES_FILE: &str = "archives.json";
/// Heatmaps and curves.
pub const PLOTS_DIR: &str = "plots";

/// One final model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// How it was chosen.
    pub description: String,
    /// The individuals it is made of.
    pub ids: Vec<u64>,
    /// Their optimisation-split scores (for the aggregate: each member's).
    pub optimize: Vec<Vec<f64>>,
    /// The model.
    pub blend: Blend,
}

/// One elite as `archives.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    /// Its cell (one bin per BC).
    pub cell: Vec<u32>,
    /// Its individual id.
    pub id: u64,
    /// Its scores on all tasks.
    pub scores: Vec<f64>,
    /// How often it was sampled as a parent.
    pub times_sampled: u64,
}

/// Reads the picks of a finished run.
pub fn load_picks(dir: &Path) -> Result<BTreeMap<String, Pick>> {
    let path = dir.join(PICKS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EvolveError::RunDir {
            path: dir.to_path_buf(),
            problem: format!(
                "no {PICKS_FILE}: the run has not finished (resume it with `cycleqd evolve --resume {}`)",
                dir.display()
            ),
        },
        _ => EvolveError::io(&path, e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| EvolveError::RunDir {
        path,
        problem: format!("not a picks file: {e}"),
    })
}

pub(crate) fn finish(
    ctx: &RunContext,
    scorer: &mut Scorer,
    run: &Run<Genome>,
    individuals: &Individuals,
    on_event: &mut EventSink<'_>,
) -> Result<()> {
    let config = &ctx.config;
    let out = &config.out;
    let cycle = run.cycle();
    let tasks = config.task_names();
    on_event(EvolveEvent::Stage("statistics and plots"));
    run.write_stats_csv()?;
    cycleqd_qd::plot::write_all(cycle, &out.join(PLOTS_DIR))?;
    let archives: BTreeMap<String, Vec<ArchiveEntry>> = cycle
        .archives()
        .iter()
        .map(|a| {
            let label = a.label(&tasks);
            let entries = a
                .elites()
                .map(|(cell, e)| ArchiveEntry {
                    cell: cell.bins().to_vec(),
                    id: e.id().0,
                    scores: e.scores().to_vec(),
                    times_sampled: e.times_sampled(),
                })
                .collect();
            (label, entries)
        })
        .collect();
    write_json(&out.join(ARCHIVES_FILE), &archives)?;

    let ancestors = individuals.ancestors();
    let mut picks = BTreeMap::new();
    let mut best = Vec::new();
    for (k, elite) in cycle.best_per_task().into_iter().enumerate() {
        let elite = elite.ok_or_else(|| {
            EvolveError::Invalid(format!("no elite for task {} after seeding", tasks[k]))
        })?;
        best.push(elite);
        picks.insert(
            format!("best:{}", tasks[k]),
            single_pick(
                format!("the best elite on task {}", tasks[k]),
                elite.id().0,
                elite.scores(),
                elite.genome(),
                &ancestors,
            ),
        );
    }
    if let Some(elite) = cycle.best_mean() {
        picks.insert(
            "best-mean".to_string(),
            single_pick(
                "the elite with the best mean optimisation-split score".into(),
                elite.id().0,
                elite.scores(),
                elite.genome(),
                &ancestors,
            ),
        );
    }
    let qualities: Vec<f64> = best
        .iter()
        .enumerate()
        .map(|(k, e)| e.scores()[k])
        .collect();
    let beta = aggregate_weights(&qualities, config.result.temperature);
    picks.insert(
        "aggregate".to_string(),
        Pick {
            description: format!(
                "theta(B) + sum_k beta_k tau(e_k), beta = softmax(q / {}) = {:?}",
                config.result.temperature, beta
            ),
            ids: best.iter().map(|e| e.id().0).collect(),
            optimize: best.iter().map(|e| e.scores().to_vec()).collect(),
            blend: Blend {
                members: beta
                    .iter()
                    .zip(&best)
                    .map(|(b, e)| (*b, e.genome().clone()))
                    .collect(),
                ancestors: ancestors.clone(),
            },
        },
    );
    write_json(&out.join(PICKS_FILE), &picks)?;

    on_event(EvolveEvent::Stage("scoring on the test split"));
    let mut rows = reference_rows(ctx, scorer, on_event)?;
    let order = std::iter::once("aggregate".to_string())
        .chain(std::iter::once("best-mean".to_string()))
        .chain(tasks.iter().map(|t| format!("best:{t}")));
    for name in order {
        let reported = config.result.report.is_empty() || config.result.report.contains(&name);
        let Some(pick) = picks.get(&name).filter(|_| reported) else {
            continue;
        };
        let member_ids = pick
            .blend
            .members
            .iter()
            .map(|(b, g)| Ok((*b, ctx.identity(&individuals.identity_of(g)?))))
            .collect::<Result<Vec<_>>>()?;
        let identity = if member_ids.len() == 1 && member_ids[0].0 == 1.0 {
            member_ids[0].1.clone()
        } else {
            ctx.identity(&blend_identity(&member_ids))
        };
        let label = format!("cycleqd {name}");
        let optimize = (pick.optimize.len() == 1).then(|| pick.optimize[0].clone());
        rows.push(scored_row(
            scorer,
            &label,
            &identity,
            optimize,
            || ctx.materialize(&pick.blend, &label),
            on_event,
        )?);
    }
    let results = RunResults {
        tasks,
        held_out_tasks: config.held_out.iter().map(|h| h.name.clone()).collect(),
        generations: cycle.inserted_generations(),
        rows,
    };
    write_json(&out.join(RESULTS_FILE), &results)?;
    write_atomic(&out.join(REPORT_FILE), results.markdown().as_bytes())?;
    Ok(())
}

/// The test-split rows of the base and each expert.
pub(crate) fn reference_rows(
    ctx: &RunContext,
    scorer: &mut Scorer,
    on_event: &mut EventSink<'_>,
) -> Result<Vec<ResultRow>> {
    let config = &ctx.config;
    let mut rows = vec![score_folder(
        scorer,
        &ctx.base_identity(),
        &config.base,
        &config.base,
        "base",
        on_event,
    )?];
    for (k, task) in config.tasks.iter().enumerate() {
        let name = format!("expert {}", task.name);
        rows.push(score_folder(
            scorer,
            &ctx.expert_identity(k),
            &task.expert,
            &config.base,
            &name,
            on_event,
        )?);
    }
    Ok(rows)
}

fn single_pick(
    description: String,
    id: u64,
    scores: &[f64],
    genome: &Genome,
    ancestors: &Ancestors,
) -> Pick {
    Pick {
        description,
        ids: vec![id],
        optimize: vec![scores.to_vec()],
        blend: Blend::single(genome.clone(), ancestors.clone()),
    }
}

/// The row of the model at `path` (an adapter folder applies to `base`).
fn score_folder(
    scorer: &mut Scorer,
    identity: &str,
    path: &Path,
    base: &Path,
    name: &str,
    on_event: &mut EventSink<'_>,
) -> Result<ResultRow> {
    let row = scorer.report_row(name, identity, None, || {
        Ok(Box::new(ModelInput::open_with_base(path, Some(base))?) as Box<dyn TensorSource>)
    })?;
    Ok(announced(row, on_event))
}

/// A reported model's row (test split and held-out skills), announced as it is scored.
pub(crate) fn scored_row(
    scorer: &mut Scorer,
    name: &str,
    identity: &str,
    optimize: Option<Vec<f64>>,
    weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    on_event: &mut EventSink<'_>,
) -> Result<ResultRow> {
    let row = scorer.report_row(name, identity, optimize, weights)?;
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

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("results serialise");
    write_atomic(path, &bytes)
}
