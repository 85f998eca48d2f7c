//! Scoring models on the run's tasks: every result cached by the model's identity and the
//! task, so a resumed or repeated evaluation costs nothing. A miss is evaluated here, through
//! one inference engine whose weights are swapped per model ([`TaskScorer`], which the
//! workers use too), or, for runs with `[evaluation] queue`, sent to the workers as a job
//! and read back into the same cache (`crate::queued`).

use std::path::PathBuf;

use cycleqd_engine_model::EngineModel;
use cycleqd_infer::{load_engine, parse_device, parse_dtype};
use cycleqd_tasks::{
    task_from_spec, EvalOptions, ResultCache, Task, TaskContext, TaskResult, TextModel,
};
use cycleqd_weights::TensorSource;

use crate::error::{EvolveError, Result};
use crate::eval_job::{EvalJob, JobModel, JobSite, JobTask};
use crate::queued::QueueSide;
use crate::report::ResultRow;
use crate::run_config::RunConfig;

/// Which split of every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The optimisation split: archive qualities and BCs.
    Optimize,
    /// The held-out split: every reported number.
    Test,
    /// The held-out skills (`[[held_out]]`): retention, reported, never optimised.
    HeldOut,
}

/// Where the engine comes from, loaded at the first evaluation that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    /// The model folder whose config and tokenizer the engine uses (the base).
    pub model: PathBuf,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// `f32` or `bf16`.
    pub dtype: String,
    /// Prompts per generation batch.
    pub batch_size: usize,
}

/// Tasks scored through one engine, results cached: the evaluation code shared by runs and
/// workers.
pub struct TaskScorer {
    spec: EngineSpec,
    model: Option<EngineModel>,
    cache: ResultCache,
    options: EvalOptions,
    /// The identity of the weights now in the engine.
    loaded: Option<String>,
}

impl TaskScorer {
    /// A scorer caching in `cache`; the engine is loaded from `spec` when first needed.
    pub fn new(spec: EngineSpec, cache: ResultCache, options: EvalOptions) -> Self {
        Self {
            spec,
            model: None,
            cache,
            options,
            loaded: None,
        }
    }

    /// The engine's source.
    pub fn engine_spec(&self) -> &EngineSpec {
        &self.spec
    }

    /// The cached results of `identity` on `tasks` (`None` where missing).
    pub fn cached(&self, identity: &str, tasks: &[Box<dyn Task>]) -> Vec<Option<TaskResult>> {
        tasks
            .iter()
            .map(|t| {
                self.cache
                    .get(identity, t.name(), &t.fingerprint(), self.options.limit)
            })
            .collect()
    }

    /// Stores results computed elsewhere (by a worker).
    pub fn store(&self, results: &[TaskResult]) -> Result<()> {
        for r in results {
            self.cache.put(r)?;
        }
        Ok(())
    }

    /// Every task's result for the model `identity`, evaluated (and cached) where not
    /// cached; `weights` is called only then, at most once.
    pub fn results(
        &mut self,
        identity: &str,
        tasks: &[Box<dyn Task>],
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Vec<TaskResult>> {
        let cached = self.cached(identity, tasks);
        if cached.iter().all(Option::is_some) {
            return Ok(cached.into_iter().flatten().collect());
        }
        let model = match &mut self.model {
            Some(m) => m,
            None => {
                let s = &self.spec;
                let engine =
                    load_engine(&s.model, &parse_device(&s.device)?, parse_dtype(&s.dtype)?)?;
                self.loaded = None;
                self.model.insert(EngineModel {
                    engine,
                    identity: String::new(),
                    batch_size: s.batch_size,
                })
            }
        };
        if self.loaded.as_deref() != Some(identity) {
            let source = weights()?;
            self.loaded = None;
            model.engine.set_weights(source.as_ref())?;
            model.identity = identity.to_string();
            self.loaded = Some(identity.to_string());
        }
        let mut results = Vec::with_capacity(tasks.len());
        for (task, hit) in tasks.iter().zip(cached) {
            let result = match hit {
                Some(r) => r,
                None => {
                    let r = task.evaluate(&*model, &self.options)?;
                    debug_assert_eq!(r.model, model.identity());
                    self.cache.put(&r)?;
                    r
                }
            };
            results.push(result);
        }
        Ok(results)
    }
}

/// What a started evaluation is: scores at hand, or a queue job to collect.
#[derive(Debug, Clone, PartialEq)]
pub enum Ticket {
    /// Cached or evaluated here.
    Ready(Vec<f64>),
    /// Outstanding on the queue under this key.
    Queued(String),
}

/// One split's tasks and the specs they were built from (what a queue job names).
type SplitTasks = (Vec<Box<dyn Task>>, Vec<String>);

/// The run's tasks on every split, evaluated here or on the queue's workers.
pub struct Scorer {
    local: TaskScorer,
    /// Per split (optimize, test, held-out): the tasks and their specs.
    splits: [SplitTasks; 3],
    queue: Option<QueueSide>,
}

impl Scorer {
    /// Loads the tasks of `config` (every split); the engine comes from `engine` when a
    /// model is evaluated here. With `site` (the run's models by content hash) and
    /// `[evaluation] queue` set, evaluations of models a worker can rebuild go to the queue.
    pub fn new(config: &RunConfig, engine: EngineSpec, site: Option<JobSite>) -> Result<Self> {
        let ctx = TaskContext::from_env();
        let load = |field: String, spec: &str| {
            task_from_spec(spec, &ctx).map_err(|e| EvolveError::Config {
                path: config.out.join(crate::run_config::RUN_CONFIG_FILE),
                field,
                problem: e.to_string(),
            })
        };
        let mut splits: [SplitTasks; 3] = Default::default();
        for (i, task) in config.tasks.iter().enumerate() {
            splits[0]
                .0
                .push(load(format!("task[{i}].optimize"), &task.optimize)?);
            splits[0].1.push(task.optimize.clone());
            splits[1]
                .0
                .push(load(format!("task[{i}].test"), &task.test)?);
            splits[1].1.push(task.test.clone());
        }
        for (i, h) in config.held_out.iter().enumerate() {
            splits[2]
                .0
                .push(load(format!("held_out[{i}].test"), &h.test)?);
            splits[2].1.push(h.test.clone());
        }
        let queue = match (&config.evaluation.queue, site) {
            (Some(url), Some(site)) => Some(QueueSide::connect(url, site)?),
            _ => None,
        };
        Ok(Self {
            local: TaskScorer::new(
                engine,
                ResultCache::new(config.eval_cache()),
                EvalOptions {
                    limit: config.evaluation.limit,
                    batch_size: config.evaluation.batch_size,
                    workers: config.evaluation.workers,
                },
            ),
            splits,
            queue,
        })
    }

    /// Whether evaluations go to a queue.
    pub fn is_queued(&self) -> bool {
        self.queue.is_some()
    }

    fn index(split: Split) -> usize {
        match split {
            Split::Optimize => 0,
            Split::Test => 1,
            Split::HeldOut => 2,
        }
    }

    /// The scores (fractions in [0, 1], configured task order) of the model `identity` on
    /// `split`, evaluated here. `weights` is called only when some result is not cached.
    pub fn score(
        &mut self,
        identity: &str,
        split: Split,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Vec<f64>> {
        Ok(scores(&self.results(identity, split, None, weights)?))
    }

    /// Like [`Scorer::score`] for a model a worker can rebuild (`model`): on the queue
    /// when the run has one.
    pub fn score_model(
        &mut self,
        identity: &str,
        split: Split,
        model: &JobModel,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Vec<f64>> {
        Ok(scores(&self.results(
            identity,
            split,
            Some(model),
            weights,
        )?))
    }

    /// Starts the evaluation of `model` on `split`: cached or evaluated here (`Ready`), or
    /// sent to the queue (`Queued`, see [`Scorer::collect`]).
    pub fn start(
        &mut self,
        identity: &str,
        split: Split,
        model: &JobModel,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Ticket> {
        let tasks = &self.splits[Self::index(split)].0;
        let cached = self.local.cached(identity, tasks);
        if self.queue.is_none() || cached.iter().all(Option::is_some) {
            let results = self.results(identity, split, Some(model), weights)?;
            return Ok(Ticket::Ready(scores(&results)));
        }
        let job = self.job(identity, split, model);
        let queue = self.queue.as_mut().expect("checked");
        Ok(Ticket::Queued(queue.submit(job)?))
    }

    /// On a queued run, sends the test-split (and held-out skills') evaluations of `model`
    /// that are not cached, so that workers score reported models in parallel while
    /// [`Scorer::report_row`] reads them back one by one; nothing on an in-process run.
    pub fn send_ahead(&mut self, identity: &str, model: &JobModel) -> Result<()> {
        if self.queue.is_none() {
            return Ok(());
        }
        for split in [Split::Test, Split::HeldOut] {
            let tasks = &self.splits[Self::index(split)].0;
            let cached = self.local.cached(identity, tasks);
            if tasks.is_empty() || cached.iter().all(Option::is_some) {
                continue;
            }
            let job = self.job(identity, split, model);
            self.queue.as_mut().expect("checked").submit(job)?;
        }
        Ok(())
    }

    /// Scores of some of the queued `keys` (at least one), blocking until one is done.
    pub fn collect(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<f64>)>> {
        let queue = self.queue.as_mut().ok_or_else(|| {
            EvolveError::Invalid("results collected from a run without a queue".into())
        })?;
        let done = queue.collect(keys)?;
        let mut out = Vec::with_capacity(done.len());
        for (key, results) in done {
            self.local.store(&results)?;
            out.push((key, scores(&results)));
        }
        Ok(out)
    }

    fn job(&self, identity: &str, split: Split, model: &JobModel) -> EvalJob {
        let (tasks, specs) = &self.splits[Self::index(split)];
        EvalJob {
            site: self
                .queue
                .as_ref()
                .expect("queued runs only")
                .site()
                .clone(),
            model: model.clone(),
            identity: identity.to_string(),
            tasks: tasks
                .iter()
                .zip(specs)
                .map(|(t, spec)| JobTask {
                    name: t.name().to_string(),
                    spec: spec.clone(),
                    fingerprint: t.fingerprint(),
                })
                .collect(),
        }
    }

    /// The reported row of model `identity`: its test-split scores and its held-out skills'
    /// scores (`weights` is called at most once; `model` sends it to the queue, if any).
    pub fn report_row(
        &mut self,
        name: &str,
        identity: &str,
        optimize: Option<Vec<f64>>,
        model: Option<&JobModel>,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<ResultRow> {
        let mut weights = Some(weights);
        let mut take = || {
            weights.take().map_or_else(
                || {
                    Err(EvolveError::Invalid(
                        "the model's weights were asked for twice".into(),
                    ))
                },
                |w| w(),
            )
        };
        let test = scores(&self.results(identity, Split::Test, model, &mut take)?);
        let held_out = if self.splits[2].0.is_empty() {
            Vec::new()
        } else {
            scores(&self.results(identity, Split::HeldOut, model, &mut take)?)
        };
        Ok(ResultRow {
            name: name.to_string(),
            test,
            optimize,
            held_out,
        })
    }

    /// Every task's full result (samples, verdicts) of `identity` on `split`: from the
    /// cache, else from the queue (when `model` is given and the run has one), else
    /// evaluated here.
    pub fn results(
        &mut self,
        identity: &str,
        split: Split,
        model: Option<&JobModel>,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Vec<TaskResult>> {
        let tasks = &self.splits[Self::index(split)].0;
        if let (Some(model), Some(_)) = (model, &self.queue) {
            let cached = self.local.cached(identity, tasks);
            if cached.iter().all(Option::is_some) {
                return Ok(cached.into_iter().flatten().collect());
            }
            let job = self.job(identity, split, model);
            let queue = self.queue.as_mut().expect("checked");
            let key = queue.submit(job)?;
            let results = queue.wait_for(&key)?;
            self.local.store(&results)?;
            return Ok(results);
        }
        self.local.results(identity, tasks, weights)
    }
}

fn scores(results: &[TaskResult]) -> Vec<f64> {
    results.iter().map(|r| r.score).collect()
}
