//! Scoring models on the run's tasks through one inference engine: weights swapped in per
//! model, every result cached by the model's identity and the task, so a resumed or
//! repeated evaluation costs nothing.

use cycleqd_engine_model::EngineModel;
use cycleqd_tasks::{
    task_from_spec, EvalOptions, ResultCache, Task, TaskContext, TaskResult, TextModel,
};
use cycleqd_weights::TensorSource;

use crate::error::{EvolveError, Result};
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

/// The run's tasks on both splits and the engine that answers them.
pub struct Scorer {
    model: EngineModel,
    optimize: Vec<Box<dyn Task>>,
    test: Vec<Box<dyn Task>>,
    held_out: Vec<Box<dyn Task>>,
    cache: ResultCache,
    options: EvalOptions,
    /// The identity of the weights now in the engine.
    loaded: Option<String>,
}

impl Scorer {
    /// Loads the tasks of `config` (both splits) around `model`, whose weights are treated
    /// as unknown until the first [`Scorer::score`].
    pub fn new(config: &RunConfig, model: EngineModel) -> Result<Self> {
        let ctx = TaskContext::from_env();
        let load = |field: String, spec: &str| {
            task_from_spec(spec, &ctx).map_err(|e| EvolveError::Config {
                path: config.out.join(crate::run_config::RUN_CONFIG_FILE),
                field,
                problem: e.to_string(),
            })
        };
        let mut optimize = Vec::new();
        let mut test = Vec::new();
        for (i, task) in config.tasks.iter().enumerate() {
            optimize.push(load(format!("task[{i}].optimize"), &task.optimize)?);
            test.push(load(format!("task[{i}].test"), &task.test)?);
        }
        let held_out = config
            .held_out
            .iter()
            .enumerate()
            .map(|(i, h)| load(format!("held_out[{i}].test"), &h.test))
            .collect::<Result<_>>()?;
        Ok(Self {
            model,
            optimize,
            test,
            held_out,
            cache: ResultCache::new(config.eval_cache()),
            options: EvalOptions {
                limit: config.evaluation.limit,
                batch_size: config.evaluation.batch_size,
                workers: config.evaluation.workers,
            },
            loaded: None,
        })
    }

    /// The scores (fractions in [0, 1], configured task order) of the model `identity` on
    /// `split`. `weights` is called only when some result is not cached.
    pub fn score(
        &mut self,
        identity: &str,
        split: Split,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Vec<f64>> {
        Ok(self
            .results(identity, split, weights)?
            .iter()
            .map(|r| r.score)
            .collect())
    }

    /// The reported row of model `identity`: its test-split scores and its held-out skills'
    /// scores (`weights` is called at most once).
    pub fn report_row(
        &mut self,
        name: &str,
        identity: &str,
        optimize: Option<Vec<f64>>,
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
        let test = self.score(identity, Split::Test, &mut take)?;
        let held_out = if self.held_out.is_empty() {
            Vec::new()
        } else {
            self.score(identity, Split::HeldOut, &mut take)?
        };
        Ok(ResultRow {
            name: name.to_string(),
            test,
            optimize,
            held_out,
        })
    }

    /// Like [`Scorer::score`], with every task's full result (samples, verdicts).
    pub fn results(
        &mut self,
        identity: &str,
        split: Split,
        weights: impl FnOnce() -> Result<Box<dyn TensorSource>>,
    ) -> Result<Vec<TaskResult>> {
        let tasks = match split {
            Split::Optimize => &self.optimize,
            Split::Test => &self.test,
            Split::HeldOut => &self.held_out,
        };
        let cached: Vec<Option<TaskResult>> = tasks
            .iter()
            .map(|t| {
                self.cache
                    .get(identity, t.name(), &t.fingerprint(), self.options.limit)
            })
            .collect();
        if cached.iter().all(Option::is_some) {
            return Ok(cached.into_iter().flatten().collect());
        }
        if self.loaded.as_deref() != Some(identity) {
            let source = weights()?;
            self.loaded = None;
            self.model.engine.set_weights(source.as_ref())?;
            self.model.identity = identity.to_string();
            self.loaded = Some(identity.to_string());
        }
        let mut results = Vec::with_capacity(tasks.len());
        for (task, hit) in tasks.iter().zip(cached) {
            let result = match hit {
                Some(r) => r,
                None => {
                    let r = task.evaluate(&self.model, &self.options)?;
                    debug_assert_eq!(r.model, self.model.identity());
                    self.cache.put(&r)?;
                    r
                }
            };
            results.push(result);
        }
        Ok(results)
    }
}
