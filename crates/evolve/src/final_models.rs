//! The end of a run: its final models (a CycleQD run's best elite per archive, best-mean
//! elite and the spec's aggregate; a weight search's reported model) as `picks.json`, and
//! the test-split results of those models, the base and the experts.

use std::collections::BTreeMap;
use std::path::Path;

use cycleqd_recipe::{Ancestors, Genome};
use serde::{Deserialize, Serialize};

use crate::blend::{aggregate_weights, Blend};
use crate::breed::blend_identity;
use crate::cycleqd_search::CycleQdOutcome;
use crate::error::{EvolveError, Result};
use crate::eval_job::JobModel;
use crate::report::RunResults;
use crate::result_rows::{reference_rows, scored_row, write_results};
use crate::run_context::RunContext;
use crate::run_events::{EventSink, EvolveEvent};
use crate::run_files::write_json;
use crate::scorer::Scorer;
use crate::weight_search::WeightSearchOutcome;

/// The final models of a run, by pick name.
pub const PICKS_FILE: &str = "picks.json";

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

/// Picks a CycleQD run's final models and reports them with the base and the experts.
pub(crate) fn finish_cycleqd(
    ctx: &RunContext,
    scorer: &mut Scorer,
    outcome: &CycleQdOutcome,
    on_event: &mut EventSink<'_>,
) -> Result<()> {
    let config = &ctx.config;
    let out = &config.out;
    let cycle = outcome.run.cycle();
    let individuals = &outcome.individuals;
    let tasks = config.task_names();
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
    let order = std::iter::once("aggregate".to_string())
        .chain(std::iter::once("best-mean".to_string()))
        .chain(tasks.iter().map(|t| format!("best:{t}")));
    let mut reported = Vec::new();
    for name in order {
        let wanted = config.result.report.is_empty() || config.result.report.contains(&name);
        let Some(pick) = picks.get(&name).filter(|_| wanted) else {
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
        reported.push((name, pick, identity, JobModel::Blend(pick.blend.clone())));
    }
    for (_, _, identity, model) in &reported {
        scorer.send_ahead(identity, model)?;
    }
    let mut rows = reference_rows(ctx, scorer, on_event)?;
    for (name, pick, identity, model) in reported {
        let label = format!("cycleqd {name}");
        let optimize = (pick.optimize.len() == 1).then(|| pick.optimize[0].clone());
        rows.push(scored_row(
            scorer,
            &label,
            &identity,
            optimize,
            &model,
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
    write_results(out, &results)
}

/// Records a weight search's reported model as its pick and reports it with the base and
/// the experts.
pub(crate) fn finish_weight_search(
    ctx: &RunContext,
    scorer: &mut Scorer,
    outcome: &WeightSearchOutcome,
    on_event: &mut EventSink<'_>,
) -> Result<()> {
    let config = &ctx.config;
    let out = &config.out;
    let method = config.search.method.name();
    let chosen = &outcome.chosen;
    let genome = &outcome.genome;
    let pick = Pick {
        description: format!("{}; weights {:?}", outcome.description, chosen.weights),
        ids: vec![chosen.index],
        optimize: vec![chosen.scores.clone()],
        blend: Blend::single(genome.clone(), Ancestors::new()),
    };
    let picks = BTreeMap::from([("best".to_string(), pick)]);
    write_json(&out.join(PICKS_FILE), &picks)?;

    on_event(EvolveEvent::Stage("scoring on the test split"));
    let label = format!("{method} best");
    let identity = ctx.recipe_identity(genome)?;
    let blend = Blend::single(genome.clone(), Ancestors::new());
    scorer.send_ahead(&identity, &JobModel::Blend(blend.clone()))?;
    let mut rows = reference_rows(ctx, scorer, on_event)?;
    rows.push(scored_row(
        scorer,
        &label,
        &identity,
        Some(chosen.scores.clone()),
        &JobModel::Blend(blend.clone()),
        || ctx.materialize(&blend, &label),
        on_event,
    )?);
    let results = RunResults {
        tasks: config.task_names(),
        held_out_tasks: config.held_out.iter().map(|h| h.name.clone()).collect(),
        generations: outcome.evaluations,
        rows,
    };
    write_results(out, &results)
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
