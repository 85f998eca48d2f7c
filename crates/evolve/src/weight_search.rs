//! The merge-weight search baselines, CMA-ES and NSGA-II over task-arithmetic weights, on
//! the same tasks, splits, engine and evaluation budget as a CycleQD run. Every evaluation
//! is journaled (fsync) before it is used; the optimisers are deterministic functions of
//! their seed and the scores they are told, so a killed run resumes by replaying its
//! journal through ask/tell and goes on with the first evaluation it lacks.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use cycleqd_optim::{hypervolume, CmaEs, CmaEsConfig, Nsga2, Nsga2Config};
use cycleqd_qd::jsonl::{read_jsonl, truncate, JsonlWriter};
use cycleqd_qd::plot::{front_projections, search_curves, CurvePoint};
use cycleqd_recipe::Genome;
use serde::{Deserialize, Serialize};

use crate::error::{EvolveError, Result};
use crate::run_config::RunConfig;
use crate::run_context::RunContext;
use crate::run_events::{EventSink, EvolveEvent, SearchReport};
use crate::run_files::{write_atomic, write_json, PLOTS_DIR};
use crate::scorer::{Scorer, Split};
use crate::search_config::SearchMethod;
use crate::weight_genome::WeightLayout;

/// The weight search's folder inside the run directory.
pub const SEARCH_DIR: &str = "search";
/// Every evaluation, in order (JSON lines).
pub const EVALUATIONS_FILE: &str = "evaluations.jsonl";
/// The optimiser's state after its last generation.
pub const STATE_FILE: &str = "state.json";
/// One row per generation.
pub const STATS_FILE: &str = "stats.csv";
/// NSGA-II's final population, CMA-ES's final distribution.
pub const POPULATION_FILE: &str = "population.json";
/// The best-so-far and generation-mean curves (in the run's plots folder).
pub const SEARCH_PNG: &str = "search.png";
/// NSGA-II's front on every pair of tasks (in the run's plots folder).
pub const FRONT_PNG: &str = "front.png";

/// How far below a zero score the hypervolume's reference point lies.
const HYPERVOLUME_MARGIN: f64 = 0.1;

/// One journaled evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// 0-based, in evaluation order.
    pub index: u64,
    /// The optimiser generation that asked for it (0-based).
    pub generation: u64,
    /// What the optimiser proposed.
    pub candidate: Vec<f64>,
    /// The weights evaluated (the candidate clipped to the bounds).
    pub weights: Vec<f64>,
    /// Optimisation-split scores in task order.
    pub scores: Vec<f64>,
}

impl Evaluation {
    fn mean(&self) -> f64 {
        mean(&self.scores)
    }
}

/// One generation's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRow {
    /// The generation (0-based).
    pub generation: u64,
    /// Evaluations done after it.
    pub evaluations: u64,
    /// The best mean optimisation score so far.
    pub best_mean: f64,
    /// The mean over this generation's candidates of their mean score.
    pub generation_mean: f64,
    /// The best mean score in this generation.
    pub generation_best: f64,
    /// CMA-ES's step size after the generation.
    pub sigma: Option<f64>,
    /// NSGA-II's first-front size after the generation.
    pub front: Option<usize>,
    /// The hypervolume of NSGA-II's first front in score space (reference: every score
    /// -0.1).
    pub hypervolume: Option<f64>,
}

enum Optimiser {
    Cma(Box<CmaEs>),
    Nsga(Box<Nsga2>),
}

impl Optimiser {
    fn new(config: &RunConfig, layout: &WeightLayout, budget: u64) -> Result<Self> {
        let w = &config.weight_search;
        let [lo, hi] = w.bounds;
        let n = layout.dimension();
        let seed = config.search.seed;
        let invalid = |e: cycleqd_optim::OptimError| EvolveError::Invalid(e.to_string());
        match config.search.method {
            SearchMethod::CmaEs => Ok(Self::Cma(Box::new(
                CmaEs::new(CmaEsConfig {
                    mean: vec![(lo + hi) / 2.0; n],
                    sigma: w.sigma * (hi - lo),
                    population: w.population,
                    seed,
                })
                .map_err(invalid)?,
            ))),
            SearchMethod::Nsga2 => {
                let population = w
                    .population
                    .unwrap_or((2 * n + 2).max(8))
                    .min(budget as usize)
                    .max(2);
                let k = config.tasks.len();
                let initial = (0..k)
                    .map(|e| layout.expert(e).iter().map(|x| x.clamp(lo, hi)).collect())
                    .take(population)
                    .collect();
                let mut c = Nsga2Config::pymoo_defaults(vec![[lo, hi]; n], population, seed);
                c.initial = initial;
                Ok(Self::Nsga(Box::new(Nsga2::new(c).map_err(invalid)?)))
            }
            SearchMethod::CycleQd => Err(EvolveError::Invalid(
                "the weight search was asked to run CycleQD".into(),
            )),
        }
    }

    fn ask(&self) -> Vec<Vec<f64>> {
        match self {
            Self::Cma(c) => c.ask(),
            Self::Nsga(n) => n.ask(),
        }
    }

    /// Tells the evaluated candidates of one generation; CMA-ES minimises the negated
    /// mean score plus the squared distance of the candidate to its clipped weights.
    fn tell(&mut self, evaluated: &[Evaluation]) -> Result<()> {
        let candidates: Vec<Vec<f64>> = evaluated.iter().map(|e| e.candidate.clone()).collect();
        let invalid = |e: cycleqd_optim::OptimError| EvolveError::Invalid(e.to_string());
        match self {
            Self::Cma(c) => {
                let fitness: Vec<f64> = evaluated
                    .iter()
                    .map(|e| {
                        let outside: f64 = e
                            .candidate
                            .iter()
                            .zip(&e.weights)
                            .map(|(c, w)| (c - w).powi(2))
                            .sum();
                        -e.mean() + outside
                    })
                    .collect();
                c.tell(&candidates, &fitness).map_err(invalid)
            }
            Self::Nsga(n) => {
                let objectives: Vec<Vec<f64>> = evaluated
                    .iter()
                    .map(|e| e.scores.iter().map(|s| -s).collect())
                    .collect();
                n.tell(&candidates, &objectives).map_err(invalid)
            }
        }
    }

    fn state_json(&self) -> Vec<u8> {
        match self {
            Self::Cma(c) => serde_json::to_vec_pretty(c),
            Self::Nsga(n) => serde_json::to_vec_pretty(n),
        }
        .expect("optimiser states serialise")
    }
}

/// A finished weight search: the model it reports.
pub(crate) struct WeightSearchOutcome {
    /// The reported evaluation.
    pub chosen: Evaluation,
    /// Its weights as a recipe.
    pub genome: Genome,
    /// How it was chosen, in words.
    pub description: &'static str,
    /// Evaluations done.
    pub evaluations: u64,
}

/// Runs (or resumes) the weight search of `ctx.config` to its budget and writes its
/// statistics, final population and plots.
pub(crate) fn search(
    ctx: &RunContext,
    scorer: &mut Scorer,
    on_event: &mut EventSink<'_>,
) -> Result<WeightSearchOutcome> {
    let config = &ctx.config;
    let method = config.search.method.name();
    let layout = WeightLayout::new(ctx.basis(), config.weight_search.layer_groups)?;
    let budget = config.tasks.len() as u64 + config.search.generations;
    let dir = config.out.join(SEARCH_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| EvolveError::io(&dir, e))?;
    let journal_path = dir.join(EVALUATIONS_FILE);
    let journaled = read_journal(&journal_path)?;
    if !journaled.is_empty() {
        on_event(EvolveEvent::Stage(
            "resuming: replaying the journaled evaluations",
        ));
    }
    let mut journal = JsonlWriter::open(&journal_path)?;
    let [lo, hi] = config.weight_search.bounds;

    on_event(EvolveEvent::Stage(match config.search.method {
        SearchMethod::CmaEs => "CMA-ES over merge weights",
        _ => "NSGA-II over merge weights",
    }));
    let mut optimiser = Optimiser::new(config, &layout, budget)?;
    let mut evaluations: Vec<Evaluation> = Vec::new();
    let mut rows: Vec<GenerationRow> = Vec::new();
    let started = Instant::now();
    let mut done_here = 0u64;
    let mut generation = 0u64;
    while (evaluations.len() as u64) < budget {
        let candidates = optimiser.ask();
        let asked = candidates.len();
        let first = evaluations.len();
        // On a queue, the next `in_flight` candidates are sent ahead, so that workers score
        // them in parallel while the loop below reads them back in order.
        let mut sent = 0usize;
        for (pos, candidate) in candidates.iter().cloned().enumerate() {
            let index = evaluations.len() as u64;
            if scorer.is_queued() {
                let window = (pos + config.search.in_flight as usize).min(asked);
                while sent < window {
                    let ahead = (first + sent) as u64;
                    if ahead >= journaled.len() as u64 && ahead < budget {
                        let weights: Vec<f64> =
                            candidates[sent].iter().map(|x| x.clamp(lo, hi)).collect();
                        let genome = layout.genome(ctx.basis(), &weights)?;
                        ctx.start_recipe(scorer, &genome, Split::Optimize)?;
                    }
                    sent += 1;
                }
            }
            if index == budget {
                break;
            }
            let weights: Vec<f64> = candidate.iter().map(|x| x.clamp(lo, hi)).collect();
            let evaluation = match journaled.get(index as usize) {
                Some(e) => {
                    if e.candidate != candidate || e.generation != generation {
                        return Err(EvolveError::RunDir {
                            path: journal_path.clone(),
                            problem: format!(
                                "evaluation {index} of the journal is not what the optimiser asks for on replay; was the run's config changed?"
                            ),
                        });
                    }
                    e.clone()
                }
                None => {
                    let genome = layout.genome(ctx.basis(), &weights)?;
                    let what = format!("{method} evaluation {}", index + 1);
                    let scores = ctx.score_recipe(scorer, &genome, Split::Optimize, &what)?;
                    let e = Evaluation {
                        index,
                        generation,
                        candidate,
                        weights,
                        scores,
                    };
                    journal.append(&e)?;
                    journal.sync()?;
                    done_here += 1;
                    e
                }
            };
            evaluations.push(evaluation);
            let e = evaluations.last().expect("just pushed");
            if index as usize >= journaled.len() {
                on_event(EvolveEvent::Search(&SearchReport {
                    method,
                    evaluation: index + 1,
                    total: budget,
                    generation,
                    weights: e.weights.clone(),
                    scores: e.scores.clone(),
                    best_mean: best(&evaluations).map_or(0.0, Evaluation::mean),
                    done_here,
                    elapsed: started.elapsed().as_secs_f64(),
                }));
            }
        }
        let told = &evaluations[first..];
        let complete = told.len() == asked;
        // NSGA-II's survival takes a short last generation; CMA-ES's update does not.
        if complete || matches!(optimiser, Optimiser::Nsga(_)) {
            optimiser.tell(told)?;
            rows.push(generation_row(&optimiser, generation, &evaluations, told));
            write_atomic(&dir.join(STATE_FILE), &optimiser.state_json())?;
        }
        generation += 1;
    }
    if journaled.len() > evaluations.len() {
        return Err(EvolveError::RunDir {
            path: journal_path,
            problem: format!(
                "holds {} evaluations, more than the budget of {budget}; was the run's config changed?",
                journaled.len()
            ),
        });
    }
    conclude(ctx, &optimiser, &layout, &evaluations, &rows, on_event)
}

fn read_journal(path: &Path) -> Result<Vec<Evaluation>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut records = Vec::new();
    let scan = read_jsonl::<Evaluation>(path, |_, e| {
        records.push(e);
        Ok(ControlFlow::Continue(()))
    })?;
    if scan.torn_bytes > 0 {
        truncate(path, scan.valid_bytes)?;
    }
    Ok(records)
}

fn mean(scores: &[f64]) -> f64 {
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}

/// The evaluation with the best mean score (the earliest among equals).
fn best<'e>(evaluations: impl IntoIterator<Item = &'e Evaluation>) -> Option<&'e Evaluation> {
    evaluations
        .into_iter()
        .fold(None, |b: Option<&Evaluation>, e| match b {
            Some(b) if b.mean() >= e.mean() => Some(b),
            _ => Some(e),
        })
}

fn generation_row(
    optimiser: &Optimiser,
    generation: u64,
    evaluations: &[Evaluation],
    told: &[Evaluation],
) -> GenerationRow {
    let means: Vec<f64> = told.iter().map(Evaluation::mean).collect();
    let (sigma, front, hv) = match optimiser {
        Optimiser::Cma(c) => (Some(c.sigma()), None, None),
        Optimiser::Nsga(n) => {
            let front = n.front();
            let points: Vec<Vec<f64>> = front.iter().map(|m| m.objectives.clone()).collect();
            // Scores of -0.1: like ZDT's (1.1, 1.1), a margin beyond the worst possible
            // point, so that fronts on a zero score still have volume.
            let reference = vec![HYPERVOLUME_MARGIN; points.first().map_or(0, Vec::len)];
            (
                None,
                Some(front.len()),
                hypervolume(&points, &reference).ok(),
            )
        }
    };
    GenerationRow {
        generation,
        evaluations: evaluations.len() as u64,
        best_mean: best(evaluations).map_or(0.0, Evaluation::mean),
        generation_mean: mean(&means),
        generation_best: means.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sigma,
        front,
        hypervolume: hv,
    }
}

/// The reported model: CMA-ES's best evaluation (the earliest among equals); NSGA-II's
/// first-front member with the best mean optimisation score (the first in the front's
/// order among equals).
fn reported<'e>(optimiser: &Optimiser, evaluations: &'e [Evaluation]) -> Result<&'e Evaluation> {
    let pick = match optimiser {
        Optimiser::Cma(_) => best(evaluations),
        Optimiser::Nsga(n) => {
            let front = n.front();
            best(
                front
                    .iter()
                    .filter_map(|m| evaluations.iter().find(|e| e.candidate == m.x)),
            )
        }
    };
    pick.ok_or_else(|| EvolveError::Invalid("the weight search evaluated nothing".into()))
}

/// Writes `stats.csv`, the final population and the plots of a finished search, and
/// chooses the model it reports.
fn conclude(
    ctx: &RunContext,
    optimiser: &Optimiser,
    layout: &WeightLayout,
    evaluations: &[Evaluation],
    rows: &[GenerationRow],
    on_event: &mut EventSink<'_>,
) -> Result<WeightSearchOutcome> {
    let config = &ctx.config;
    let out = &config.out;
    let dir = out.join(SEARCH_DIR);
    let method = config.search.method.name();
    let tasks = config.task_names();
    on_event(EvolveEvent::Stage("statistics and plots"));
    write_stats(&dir.join(STATS_FILE), rows)?;
    write_population(&dir.join(POPULATION_FILE), optimiser, evaluations)?;
    let plots = out.join(PLOTS_DIR);
    std::fs::create_dir_all(&plots).map_err(|e| EvolveError::io(&plots, e))?;
    let curve: Vec<CurvePoint> = rows
        .iter()
        .map(|r| CurvePoint {
            evaluations: r.evaluations,
            best: r.best_mean,
            mean: r.generation_mean,
        })
        .collect();
    search_curves(
        &curve,
        &format!("{method}: mean optimisation-split score"),
        &plots.join(SEARCH_PNG),
    )?;
    if let Optimiser::Nsga(n) = optimiser {
        let front: Vec<Vec<f64>> = n
            .front()
            .iter()
            .map(|m| m.objectives.iter().map(|o| -o).collect())
            .collect();
        let all: Vec<Vec<f64>> = evaluations.iter().map(|e| e.scores.clone()).collect();
        front_projections(
            &all,
            &front,
            &tasks,
            "NSGA-II: evaluated (grey) and final front (red), optimisation split",
            &plots.join(FRONT_PNG),
        )?;
    }

    let chosen = reported(optimiser, evaluations)?;
    let genome = layout.genome(ctx.basis(), &chosen.weights)?;
    let description = match optimiser {
        Optimiser::Cma(_) => "CMA-ES's best evaluation (mean optimisation-split score)",
        Optimiser::Nsga(_) => {
            "the final front's member with the best mean optimisation-split score"
        }
    };
    Ok(WeightSearchOutcome {
        chosen: chosen.clone(),
        genome,
        description,
        evaluations: evaluations.len() as u64,
    })
}

fn write_stats(path: &Path, rows: &[GenerationRow]) -> Result<()> {
    let mut csv = Vec::new();
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    writeln!(
        csv,
        "generation,evaluations,best_mean,generation_mean,generation_best,sigma,front,hypervolume"
    )
    .expect("writing to memory");
    for r in rows {
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            r.generation,
            r.evaluations,
            r.best_mean,
            r.generation_mean,
            r.generation_best,
            opt(r.sigma),
            r.front.map_or(String::new(), |f| f.to_string()),
            opt(r.hypervolume)
        )
        .expect("writing to memory");
    }
    write_atomic(path, &csv)
}

/// NSGA-II's final population (weights, scores, rank) or CMA-ES's final mean and step.
fn write_population(path: &Path, optimiser: &Optimiser, evaluations: &[Evaluation]) -> Result<()> {
    let value = match optimiser {
        Optimiser::Cma(c) => serde_json::json!({
            "mean": c.mean(),
            "sigma": c.sigma(),
            "generation": c.generation(),
            "evaluations": evaluations.len(),
        }),
        Optimiser::Nsga(n) => serde_json::json!(n
            .population()
            .iter()
            .map(|m| serde_json::json!({
                "weights": m.x,
                "scores": m.objectives.iter().map(|o| -o).collect::<Vec<f64>>(),
                "rank": m.rank,
            }))
            .collect::<Vec<_>>()),
    };
    write_json(path, &value)
}
