//! The CycleQD search: seed the archives with the experts' optimisation-split scores, then
//! breed, materialize in memory, score and tell one child per generation, journaled so that
//! a killed run resumes with nothing lost; at the end, its statistics, plots and archives.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use cycleqd_qd::{Ask, Durability, Run, RunOptions, Seed};
use cycleqd_recipe::{Ancestors, Genome, Recipe};
use serde::{Deserialize, Serialize};

use crate::blend::Blend;
use crate::breed::breed;
use crate::error::{EvolveError, Result};
use crate::eval_job::JobModel;
use crate::individuals::Individuals;
use crate::run_context::RunContext;
use crate::run_events::{EventSink, EvolveEvent, GenerationReport};
use crate::run_files::{write_json, PLOTS_DIR};
use crate::scorer::{Scorer, Split, Ticket};

/// The QD run's folder inside the run directory.
pub const QD_DIR: &str = "qd";
/// Every archive's elites, for inspection and comparing runs.
pub const ARCHIVES_FILE: &str = "archives.json";

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

/// A child handed out and not told yet.
struct Child {
    genome: Genome,
    /// Its content identity.
    content: String,
    quality_task: usize,
    /// Its scores, once evaluated.
    scores: Option<Vec<f64>>,
}

/// A finished CycleQD search: its archives and every individual's identity.
pub(crate) struct CycleQdOutcome {
    /// The QD run, complete.
    pub run: Run<Genome>,
    /// Every individual of the run.
    pub individuals: Individuals,
}

/// Runs (or resumes) the CycleQD search of `ctx.config` to its last generation and writes
/// its statistics, plots and archives.
pub(crate) fn search(
    ctx: &RunContext,
    scorer: &mut Scorer,
    on_event: &mut EventSink<'_>,
) -> Result<CycleQdOutcome> {
    let config = &ctx.config;
    let tasks = config.task_names();
    let k = tasks.len();

    on_event(EvolveEvent::Stage(
        "scoring the experts on the optimisation split",
    ));
    let mut seeds = Vec::with_capacity(k);
    for (e, task) in config.tasks.iter().enumerate() {
        let genome = ctx.expert_genome(e)?;
        let what = format!("expert {}", task.name);
        let scores = ctx.score_recipe(scorer, &genome, Split::Optimize, &what)?;
        on_event(EvolveEvent::Scored {
            what: &what,
            split: "optimize",
            scores: &scores,
        });
        seeds.push(Seed { scores, genome });
    }
    let expert_scores: Vec<Vec<f64>> = seeds.iter().map(|s| s.scores.clone()).collect();
    if config.search.seed_base {
        let genome: Genome = Recipe::weighted(ctx.basis(), |_, _| 0.0).into();
        let scores = scorer.score_model(
            &ctx.base_identity(),
            Split::Optimize,
            &ctx.base_model(),
            || ctx.materialize(&Blend::single(genome.clone(), Ancestors::new()), "base"),
        )?;
        on_event(EvolveEvent::Scored {
            what: "base",
            split: "optimize",
            scores: &scores,
        });
        seeds.push(Seed { scores, genome });
    }
    let cycle_config = config.cycle_config(&expert_scores)?;
    let qd_dir = config.out.join(QD_DIR);
    let (mut run, report) = Run::<Genome>::open_or_create(&qd_dir, cycle_config, qd_options())?;
    if let Some(report) = &report {
        on_event(EvolveEvent::Resumed(report));
    }
    if !run.cycle().is_seeded() {
        run.seed(seeds)?;
    }
    let lineage_run = config.mutation.kind.makes_lineages();
    let mut individuals = Individuals::from_journal(&qd_dir, lineage_run)?;

    on_event(EvolveEvent::Stage("evolving"));
    let started = Instant::now();
    let mut done_here = 0u64;
    // Children handed out and not told yet, by generation; results are told strictly in
    // generation order, so the journal is the same whatever order the workers finish in.
    let mut children: BTreeMap<u64, Child> = BTreeMap::new();
    // Queue jobs outstanding: key -> the generations waiting for it.
    let mut queued: HashMap<String, Vec<u64>> = HashMap::new();
    loop {
        while let Some(next) = children.first_entry() {
            if next.get().scores.is_none() {
                break;
            }
            let (generation, child) = next.remove_entry();
            let scores = child.scores.expect("checked");
            let id = run.cycle().seed_count() + generation - 1;
            let inserted = run.tell(generation, child.genome.clone(), scores.clone())?;
            individuals.record(id, &child.genome, child.content);
            done_here += 1;
            let archives = run.cycle().archives();
            let report = GenerationReport {
                generation,
                total: config.search.generations,
                quality_task: tasks[child.quality_task].clone(),
                scores,
                accepted: inserted
                    .iter()
                    .find(|i| i.generation == generation)
                    .map_or(0, |i| i.outcomes.iter().filter(|o| o.accepted()).count()),
                best: archives
                    .iter()
                    .map(|a| a.best().map_or(0.0, |e| a.quality(e.scores())))
                    .collect(),
                elites: archives.iter().map(|a| a.len()).collect(),
                done_here,
                elapsed: started.elapsed().as_secs_f64(),
            };
            on_event(EvolveEvent::Generation(&report));
        }
        if run.cycle().is_complete() {
            break;
        }
        let job = match run.ask()? {
            Ask::Job(job) => job,
            Ask::Wait | Ask::Exhausted if !queued.is_empty() => {
                let keys: Vec<String> = queued.keys().cloned().collect();
                for (key, scores) in scorer.collect(&keys)? {
                    for g in queued.remove(&key).unwrap_or_default() {
                        if let Some(child) = children.get_mut(&g) {
                            child.scores = Some(scores.clone());
                        }
                    }
                }
                continue;
            }
            Ask::Wait | Ask::Exhausted => {
                return Err(EvolveError::Invalid(format!(
                    "the cycle has no job to hand out at generation {} of {}",
                    run.cycle().inserted_generations(),
                    config.search.generations
                )))
            }
        };
        let parents = [
            (job.parents[0].genome.clone(), job.parents[0].id.0),
            (job.parents[1].genome.clone(), job.parents[1].id.0),
        ];
        let genome = breed(
            config,
            ctx.basis().layout(),
            [(&parents[0].0, parents[0].1), (&parents[1].0, parents[1].1)],
            job.quality_task,
            job.seed,
        )?;
        let content = individuals.identity_of(&genome)?;
        let identity = ctx.identity(&content);
        let what = format!("generation {}", job.generation);
        let blend = Blend::single(genome.clone(), individuals.ancestors());
        let model = JobModel::Blend(blend.clone());
        let ticket = scorer.start(&identity, Split::Optimize, &model, || {
            ctx.materialize(&blend, &what)
        })?;
        let scores = match ticket {
            Ticket::Ready(scores) => Some(scores),
            Ticket::Queued(key) => {
                queued.entry(key).or_default().push(job.generation);
                None
            }
        };
        children.insert(
            job.generation,
            Child {
                genome,
                content,
                quality_task: job.quality_task,
                scores,
            },
        );
    }
    run.snapshot()?;
    write_statistics(ctx, &run, on_event)?;
    Ok(CycleQdOutcome { run, individuals })
}

fn qd_options() -> RunOptions {
    // A snapshot every 10 generations keeps resume cheap; each is tiny next to an
    // evaluation.
    RunOptions {
        durability: Durability::Fsync,
        snapshot_every: 10,
        ..RunOptions::default()
    }
}

/// `stats.csv`, the plots and `archives.json` of a complete run.
fn write_statistics(
    ctx: &RunContext,
    run: &Run<Genome>,
    on_event: &mut EventSink<'_>,
) -> Result<()> {
    let out = &ctx.config.out;
    let cycle = run.cycle();
    let tasks = ctx.config.task_names();
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
    write_json(&out.join(ARCHIVES_FILE), &archives)
}
