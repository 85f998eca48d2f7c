//! The evolve loop over real models: open the base and experts, build or reuse the SVD
//! bases, seed the archives with the experts' optimisation-split scores, then breed,
//! materialize in memory, score and tell one child per generation, journaled so that a
//! killed run resumes with nothing lost; at the end, the final models and the report.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cycleqd_qd::journal::JournalRecord;
use cycleqd_qd::jsonl::read_jsonl;
use cycleqd_qd::run::JOURNAL_FILE;
use cycleqd_qd::{Ask, Durability, ResumeReport, Run, RunOptions, Seed};
use cycleqd_recipe::{Ancestors, BasisEvent, BasisOptions, BasisSet, Genome, Materializer, Recipe};
use cycleqd_weights::TensorSource;

use crate::blend::Blend;
use crate::breed::{breed, genome_identity};
use crate::engine_model::{load_engine, parse_device, parse_dtype, EngineModel};
use crate::error::{EvolveError, Result};
use crate::final_models::finish;
use crate::memory_model::MemoryModel;
use crate::model_input::ModelInput;
use crate::run_config::{RunConfig, SearchMethod, RUN_CONFIG_FILE};
use crate::scorer::{Scorer, Split};
use crate::weight_search::SearchReport;

/// The QD run's folder inside the run directory.
pub const QD_DIR: &str = "qd";

/// What the loop reports as it goes, for progress bars and logs.
pub enum EvolveEvent<'a> {
    /// A stage starts (models opened, bases, expert scoring, final models).
    Stage(&'a str),
    /// Progress of the SVD bases.
    Basis(BasisEvent<'a>),
    /// A model's scores on a split (experts at the start, final models at the end).
    Scored {
        /// The model, in words.
        what: &'a str,
        /// `test` or `optimize`.
        split: &'a str,
        /// Scores in task order.
        scores: &'a [f64],
    },
    /// The run was resumed.
    Resumed(&'a ResumeReport),
    /// One generation was scored and told.
    Generation(&'a GenerationReport),
    /// A merge-weight search evaluated one candidate.
    Search(&'a SearchReport),
}

/// Where events go: a progress display (called from the loop's thread, and from the
/// basis build's threads under a lock).
pub type EventSink<'a> = dyn FnMut(EvolveEvent<'_>) + Send + 'a;

/// One generation, as progress shows it.
#[derive(Debug, Clone)]
pub struct GenerationReport {
    /// The generation.
    pub generation: u64,
    /// G.
    pub total: u64,
    /// The quality task's name.
    pub quality_task: String,
    /// The child's optimisation-split scores.
    pub scores: Vec<f64>,
    /// Archives the child entered.
    pub accepted: usize,
    /// Per archive, the best quality so far.
    pub best: Vec<f64>,
    /// Per archive, the number of elites.
    pub elites: Vec<usize>,
    /// Generations done by this process and the seconds they took.
    pub done_here: u64,
    /// Seconds since this process started the loop.
    pub elapsed: f64,
}

/// Everything a run keeps open: models, bases, scorer and the run's journal.
pub struct RunContext {
    /// The resolved config.
    pub config: RunConfig,
    base: ModelInput,
    basis: BasisSet,
    tensor_names: Vec<String>,
    dtype_tag: String,
}

impl RunContext {
    /// Opens the base and experts and builds (or reuses) their SVD bases.
    pub fn open(config: RunConfig, on_event: &mut EventSink<'_>) -> Result<Self> {
        on_event(EvolveEvent::Stage("opening models"));
        let base = ModelInput::open(&config.base)?;
        let expert_paths: Vec<PathBuf> = config.tasks.iter().map(|t| t.expert.clone()).collect();
        let experts = ModelInput::open_all_with_base(&expert_paths, &config.base)?;
        let sources: Vec<&dyn TensorSource> = experts.iter().map(ModelInput::source).collect();
        on_event(EvolveEvent::Stage("SVD bases of the experts' task vectors"));
        let options = BasisOptions {
            rank_limit: config.mutation.rank,
            ..BasisOptions::default()
        };
        let events = std::sync::Mutex::new(on_event);
        let basis = BasisSet::open_or_build(
            &config.basis_cache(),
            base.source(),
            &base.config_json(),
            &sources,
            &options,
            &|e| {
                if let Ok(mut f) = events.lock() {
                    f(EvolveEvent::Basis(e))
                }
            },
        )?;
        let tensor_names = basis
            .layout()
            .entries
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let dtype_tag = format!("{:?}", parse_dtype(&config.evaluation.dtype)?);
        Ok(Self {
            config,
            base,
            basis,
            tensor_names,
            dtype_tag,
        })
    }

    /// The base model.
    pub fn base(&self) -> &ModelInput {
        &self.base
    }

    /// The experts' SVD bases.
    pub fn basis(&self) -> &BasisSet {
        &self.basis
    }

    /// A scorer over the run's tasks, with the engine loaded from the base.
    pub fn scorer(&self) -> Result<Scorer> {
        let c = &self.config.evaluation;
        let dtype = parse_dtype(&c.dtype)?;
        let engine = load_engine(&self.config.base, &parse_device(&c.device)?, dtype)?;
        let model = EngineModel {
            engine,
            identity: String::new(),
            batch_size: c.batch_size,
        };
        Scorer::new(&self.config, model)
    }

    /// A cache identity: the model's content identity and the compute dtype.
    pub fn identity(&self, content: &str) -> String {
        format!("{content}:{}", self.dtype_tag)
    }

    /// The cache identity of a genome that is a recipe (experts, merge-weight children).
    pub fn recipe_identity(&self, genome: &Genome) -> Result<String> {
        let content = genome_identity(genome, |_| None).ok_or_else(|| {
            EvolveError::Invalid("a lineage genome has no identity without its parents".into())
        })?;
        Ok(self.identity(&content))
    }

    /// The scores of a recipe genome on `split`, materialized only when not cached.
    pub fn score_recipe(
        &self,
        scorer: &mut Scorer,
        genome: &Genome,
        split: Split,
        what: &str,
    ) -> Result<Vec<f64>> {
        scorer.score(&self.recipe_identity(genome)?, split, || {
            self.materialize(&Blend::single(genome.clone(), Ancestors::new()), what)
        })
    }

    /// The identity of the base folder's weights.
    pub fn base_identity(&self) -> String {
        self.identity(&self.basis.base_hash().hex())
    }

    /// The identity of expert `k`'s folder weights.
    pub fn expert_identity(&self, k: usize) -> String {
        self.identity(&self.basis.expert_hashes()[k].hex())
    }

    /// The weights of a blend, in memory.
    pub fn materialize(&self, blend: &Blend, what: &str) -> Result<Box<dyn TensorSource>> {
        let materializer = Materializer::new(self.base.source(), &self.basis);
        let tensors = blend.materialize(&materializer, self.base.source(), &self.tensor_names)?;
        Ok(Box::new(MemoryModel::new(what, tensors)))
    }

    /// Writes a blend as a Hugging Face folder with the base's config and tokenizer.
    pub fn write(
        &self,
        blend: &Blend,
        out: &Path,
        dtype: Option<cycleqd_weights::DType>,
    ) -> Result<PathBuf> {
        let materializer = Materializer::new(self.base.source(), &self.basis);
        blend.write(
            &materializer,
            self.base.source(),
            &self.tensor_names,
            out,
            &self.base.config_json(),
            &self.base.companions()?,
            dtype,
        )
    }

    /// Expert `k` as a recipe (coefficients 1 on its own basis, 0 elsewhere).
    pub fn expert_genome(&self, k: usize) -> Result<Genome> {
        Ok(Recipe::expert(&self.basis, k)?.into())
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
}

/// Identities (always) and genomes (for runs whose children are lineages) of every
/// individual of the run, by id.
pub struct Individuals {
    identities: HashMap<u64, String>,
    genomes: Option<Ancestors>,
}

impl Individuals {
    fn new(keep_genomes: bool) -> Self {
        Self {
            identities: HashMap::new(),
            genomes: keep_genomes.then(BTreeMap::new),
        }
    }

    fn record(&mut self, id: u64, genome: &Genome, identity: String) {
        self.identities.insert(id, identity);
        if let Some(genomes) = &mut self.genomes {
            genomes.insert(id, genome.clone());
        }
    }

    /// The identity of a genome whose parents (if a lineage) are recorded.
    pub fn identity_of(&self, genome: &Genome) -> Result<String> {
        genome_identity(genome, |id| self.identities.get(&id).cloned()).ok_or_else(|| {
            EvolveError::Invalid("a lineage child names a parent the run has not recorded".into())
        })
    }

    /// The ancestors lineage children are rebuilt from (empty for recipe runs).
    pub fn ancestors(&self) -> Ancestors {
        self.genomes.clone().unwrap_or_default()
    }

    /// Reads every individual of the journal in `qd_dir`.
    fn from_journal(qd_dir: &Path, keep_genomes: bool) -> Result<Self> {
        let mut this = Self::new(keep_genomes);
        let mut seed_count = 0u64;
        let mut failure = None;
        read_jsonl::<JournalRecord<Genome>>(&qd_dir.join(JOURNAL_FILE), |_, record| {
            let entries: Vec<(u64, Genome)> = match record {
                JournalRecord::Seeds(seeds) => {
                    seed_count = seeds.len() as u64;
                    seeds
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| (i as u64, s.genome))
                        .collect()
                }
                JournalRecord::Result(r) => vec![(seed_count + r.generation - 1, r.genome)],
            };
            for (id, genome) in entries {
                match this.identity_of(&genome) {
                    Ok(identity) => this.record(id, &genome, identity),
                    Err(e) => {
                        failure = Some(e);
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(this),
        }
    }
}

/// Starts the run of `config` in `config.out` (which must not hold a run yet).
pub fn start(config: RunConfig, on_event: &mut EventSink<'_>) -> Result<PathBuf> {
    let out = config.out.clone();
    let marker = out.join(RUN_CONFIG_FILE);
    if marker.exists() {
        return Err(EvolveError::RunDir {
            path: out.clone(),
            problem: format!(
                "already holds a run; continue it with `cycleqd evolve --resume {}` or choose another `out`",
                out.display()
            ),
        });
    }
    std::fs::create_dir_all(&out).map_err(|e| EvolveError::io(&out, e))?;
    write_atomic(&marker, config.to_toml().as_bytes())?;
    drive(config, on_event)?;
    Ok(out)
}

/// Resumes (or, when complete, re-finishes) the run in `dir`.
pub fn resume(dir: &Path, on_event: &mut EventSink<'_>) -> Result<PathBuf> {
    let config = load_run_config(dir)?;
    drive(config, on_event)?;
    Ok(dir.to_path_buf())
}

/// The config a run directory was started with.
pub fn load_run_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(RUN_CONFIG_FILE);
    if !path.is_file() {
        return Err(EvolveError::RunDir {
            path: dir.to_path_buf(),
            problem: format!("no {RUN_CONFIG_FILE}: not a run directory made by `cycleqd evolve`"),
        });
    }
    RunConfig::load(&path)
}

fn drive(config: RunConfig, on_event: &mut EventSink<'_>) -> Result<()> {
    let ctx = RunContext::open(config, on_event)?;
    let mut scorer = ctx.scorer()?;
    if ctx.config.search.method != SearchMethod::CycleQd {
        return crate::weight_search::drive(&ctx, &mut scorer, on_event);
    }
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
        let scores = ctx.score_recipe(&mut scorer, &genome, Split::Optimize, &what)?;
        on_event(EvolveEvent::Scored {
            what: &what,
            split: "optimize",
            scores: &scores,
        });
        seeds.push(Seed { scores, genome });
    }
    let expert_scores: Vec<Vec<f64>> = seeds.iter().map(|s| s.scores.clone()).collect();
    if config.search.seed_base {
        let genome: Genome = Recipe::weighted(&ctx.basis, |_, _| 0.0).into();
        let scores = scorer.score(&ctx.base_identity(), Split::Optimize, || {
            ctx.materialize(&Blend::single(genome.clone(), Ancestors::new()), "base")
        })?;
        on_event(EvolveEvent::Scored {
            what: "base",
            split: "optimize",
            scores: &scores,
        });
        seeds.push(Seed { scores, genome });
    }
    let cycle_config = config.cycle_config(&expert_scores)?;
    let qd_dir = config.out.join(QD_DIR);
    let (mut run, report) =
        Run::<Genome>::open_or_create(&qd_dir, cycle_config, RunContext::qd_options())?;
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
    while !run.cycle().is_complete() {
        let job = match run.ask()? {
            Ask::Job(job) => job,
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
        let child = breed(
            config,
            ctx.basis.layout(),
            [(&parents[0].0, parents[0].1), (&parents[1].0, parents[1].1)],
            job.quality_task,
            job.seed,
        )?;
        let content = individuals.identity_of(&child)?;
        let identity = ctx.identity(&content);
        let what = format!("generation {}", job.generation);
        let scores = scorer.score(&identity, Split::Optimize, || {
            ctx.materialize(
                &Blend::single(child.clone(), individuals.ancestors()),
                &what,
            )
        })?;
        let id = run.cycle().seed_count() + job.generation - 1;
        let inserted = run.tell(job.generation, child.clone(), scores.clone())?;
        individuals.record(id, &child, content);
        done_here += 1;
        let archives = run.cycle().archives();
        let report = GenerationReport {
            generation: job.generation,
            total: config.search.generations,
            quality_task: tasks[job.quality_task].clone(),
            scores,
            accepted: inserted
                .iter()
                .find(|i| i.generation == job.generation)
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
    run.snapshot()?;
    finish(&ctx, &mut scorer, &run, &individuals, on_event)
}

/// Writes `bytes` to `path` through a temporary sibling renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| EvolveError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EvolveError::io(path, e))
}
