//! `RUN.toml`: what one evolve run needs (base, one expert and task per skill, budget,
//! search, crossover, mutation, evaluation and result settings), parsed and checked.

use std::path::{Path, PathBuf};

use cycleqd_qd::{BcAxis, CycleConfig, ParentSampler};
use serde::{Deserialize, Serialize};

use crate::error::{EvolveError, Result};
use crate::search_config::{SamplerKind, SearchConfig};

/// A whole run configuration. Paths are relative to the file they were read from; after
/// [`RunConfig::load`] they are absolute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The base model B (Hugging Face folder or GGUF file).
    pub base: PathBuf,
    /// The run directory (journal, snapshots, statistics, plots, results).
    pub out: PathBuf,
    /// One entry per skill, in configured task order (K >= 2).
    #[serde(rename = "task")]
    pub tasks: Vec<TaskConfig>,
    /// Skills nobody optimises, scored on every reported model (skill retention).
    #[serde(default, rename = "held_out", skip_serializing_if = "Vec::is_empty")]
    pub held_out: Vec<HeldOutTask>,
    /// The search method, budget, schedule, sampler and archive settings. Either a table
    /// or just the method's name (`search = "cma-es"`).
    #[serde(default, deserialize_with = "crate::search_config::table_or_method")]
    pub search: SearchConfig,
    /// Settings of the merge-weight searches (`cma-es`, `nsga2`).
    #[serde(default)]
    pub weight_search: WeightSearchConfig,
    /// Model-wise linear crossover.
    #[serde(default)]
    pub crossover: CrossoverConfig,
    /// The mutation applied to every child.
    #[serde(default)]
    pub mutation: MutationConfig,
    /// How children are scored.
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    /// The final models.
    #[serde(default)]
    pub result: ResultConfig,
}

/// One skill: its expert and its task on the optimisation and test splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The task's name in archives, tables and plots.
    pub name: String,
    /// The expert fine-tuned for this task.
    pub expert: PathBuf,
    /// Task spec scored during the search (archive qualities and BCs), as `cycleqd eval
    /// --task` takes it, e.g. `gen-coding:split=validation,count=40`.
    pub optimize: String,
    /// Task spec of the held-out split every reported number comes from.
    pub test: String,
    /// Fixed BC range `[lo, hi]` instead of the paper's rule from the experts' scores.
    #[serde(default)]
    pub bc_range: Option<[f64; 2]>,
    /// BC bins of this task (default: `search.bins`).
    #[serde(default)]
    pub bins: Option<u32>,
}

/// A held-out skill: no expert, never optimised; every reported model is scored on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOutTask {
    /// Its name in tables.
    pub name: String,
    /// The task spec it is scored on.
    pub test: String,
}

/// The merge-weight searches' genome and optimiser settings. A child is
/// `theta(B) + sum_k w_k tau(E_k)`, with one weight per expert, or one per expert per
/// group of layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightSearchConfig {
    /// Groups of consecutive layers with a weight of their own (1: one weight per expert).
    /// Embeddings go with the first group, the final norm and the LM head with the last.
    pub layer_groups: usize,
    /// The range `[lo, hi]` of every weight.
    pub bounds: [f64; 2],
    /// CMA-ES's initial step size as a fraction of the range (its mean starts at the
    /// range's middle).
    pub sigma: f64,
    /// Candidates per generation: CMA-ES's lambda (unset: 4 + floor(3 ln n)) and
    /// NSGA-II's population (unset: 2 K + 2, at most the budget).
    pub population: Option<usize>,
}

impl Default for WeightSearchConfig {
    fn default() -> Self {
        Self {
            layer_groups: 1,
            bounds: [0.0, 1.0],
            sigma: 0.3,
            population: None,
        }
    }
}

/// Crossover weight distribution: `w ~ Normal(1 + mu, sigma)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossoverConfig {
    /// Mean offset mu.
    pub mu: f32,
    /// Standard deviation sigma.
    pub sigma: f32,
}

impl Default for CrossoverConfig {
    fn default() -> Self {
        Self {
            mu: 0.0,
            sigma: 0.01,
        }
    }
}

/// Which mutation follows crossover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationKind {
    /// Along the quality task's expert's singular directions (the default).
    SvdExpert,
    /// The child's own singular values grown by up to `rate` (the paper's text; an SVD
    /// per matrix per child, children stored by lineage).
    SvdChild,
    /// `theta += Normal(0, std)` elementwise (the ablation baseline).
    Gaussian,
    /// No mutation (an ablation).
    None,
}

impl MutationKind {
    /// Whether children are stored by lineage (their weights are not a recipe).
    pub fn makes_lineages(self) -> bool {
        matches!(self, MutationKind::SvdChild | MutationKind::Gaussian)
    }
}

/// Mutation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutationConfig {
    /// The mutation.
    pub kind: MutationKind,
    /// `svd_expert`'s and `svd_child`'s upper bound of the singular-value draws.
    pub rate: f32,
    /// Gaussian mutation's standard deviation.
    pub std: f32,
    /// Keep at most this many singular triplets per matrix (plus the exact residual);
    /// unset: full rank.
    pub rank: Option<usize>,
}

impl Default for MutationConfig {
    fn default() -> Self {
        Self {
            kind: MutationKind::SvdExpert,
            rate: 0.1,
            std: 3e-4,
            rank: None,
        }
    }
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Compute dtype: `f32` or `bf16`.
    pub dtype: String,
    /// Prompts generated together.
    pub batch_size: usize,
    /// Threads grading answers.
    pub workers: usize,
    /// Evaluate only the first N problems of each task.
    pub limit: Option<usize>,
    /// Result cache (default: `eval-cache` in the run directory).
    pub cache: Option<PathBuf>,
    /// SVD basis cache (default: `basis` in the run directory).
    pub basis_cache: Option<PathBuf>,
    /// Evaluate on `cycleqd worker`s through this Redis queue (`redis://HOST:PORT/DB` or
    /// `rediss://`, password in the URL or `CYCLEQD_REDIS_PASSWORD`) instead of in this
    /// process; `search.in_flight` jobs are outstanding at once (`docs/distributed.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            dtype: "f32".into(),
            batch_size: 64,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            limit: None,
            cache: None,
            basis_cache: None,
            queue: None,
        }
    }
}

/// Settings of the final models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResultConfig {
    /// Softmax temperature T of the aggregate's expert weights.
    pub temperature: f64,
    /// The picks of a CycleQD run that get a reported row (test split and held-out skills):
    /// `aggregate`, `best-mean`, `best:TASK`; empty (the default) reports them all. Every
    /// pick stays exportable either way; this only saves the evaluations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub report: Vec<String>,
}

impl Default for ResultConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            report: Vec::new(),
        }
    }
}

/// The name of the resolved copy of the config inside a run directory.
pub const RUN_CONFIG_FILE: &str = "run.toml";

impl RunConfig {
    /// Reads, resolves (paths made absolute, relative to the file's folder) and checks a
    /// config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EvolveError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses config text read from `path`, resolving relative paths against its folder.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut config: RunConfig = toml::from_str(text).map_err(|e| EvolveError::Config {
            path: path.to_path_buf(),
            field: e
                .span()
                .map(|s| format!("at bytes {}..{}", s.start, s.end))
                .unwrap_or_else(|| "(file)".into()),
            problem: e.message().to_string(),
        })?;
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let root = std::path::absolute(folder).map_err(|e| EvolveError::io(folder, e))?;
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = root.join(&*p);
            }
        };
        resolve(&mut config.base);
        resolve(&mut config.out);
        for task in &mut config.tasks {
            resolve(&mut task.expert);
        }
        if let Some(p) = &mut config.evaluation.cache {
            resolve(p);
        }
        if let Some(p) = &mut config.evaluation.basis_cache {
            resolve(p);
        }
        config.validate(path)?;
        Ok(config)
    }

    /// The config as TOML (what a run directory keeps, paths absolute).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a run config serialises")
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(EvolveError::Config {
                path: path.to_path_buf(),
                field: field.to_string(),
                problem,
            })
        };
        if self.tasks.len() < 2 {
            return bad(
                "task",
                format!(
                    "CycleQD needs at least 2 [[task]] entries (one per skill), got {}",
                    self.tasks.len()
                ),
            );
        }
        for (i, task) in self.tasks.iter().enumerate() {
            if task.name.trim().is_empty() {
                return bad(&format!("task[{i}].name"), "empty task name".into());
            }
            if self.tasks[..i].iter().any(|t| t.name == task.name) {
                return bad(
                    &format!("task[{i}].name"),
                    format!("task name {:?} appears twice", task.name),
                );
            }
            for (field, spec) in [("optimize", &task.optimize), ("test", &task.test)] {
                if spec.trim().is_empty() {
                    return bad(
                        &format!("task[{i}].{field}"),
                        "empty task spec; expected e.g. gen-coding:split=validation,count=40"
                            .into(),
                    );
                }
            }
            if task.optimize == task.test {
                return bad(
                    &format!("task[{i}].test"),
                    "the test spec equals the optimize spec; reported numbers must come from a held-out split".into(),
                );
            }
            if let Some([lo, hi]) = task.bc_range {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return bad(
                        &format!("task[{i}].bc_range"),
                        format!("expected [lo, hi] with lo < hi, got [{lo}, {hi}]"),
                    );
                }
            }
            if task.bins == Some(0) {
                return bad(&format!("task[{i}].bins"), "expected >= 1, got 0".into());
            }
        }
        for (i, h) in self.held_out.iter().enumerate() {
            if h.name.trim().is_empty() {
                return bad(&format!("held_out[{i}].name"), "empty name".into());
            }
            let taken = self
                .tasks
                .iter()
                .map(|t| &t.name)
                .chain(self.held_out[..i].iter().map(|h| &h.name));
            if taken.into_iter().any(|n| *n == h.name) {
                return bad(
                    &format!("held_out[{i}].name"),
                    format!("name {:?} is already used by a task", h.name),
                );
            }
            if h.test.trim().is_empty() {
                return bad(
                    &format!("held_out[{i}].test"),
                    "empty task spec; expected e.g. gen-coding:split=test,count=40".into(),
                );
            }
        }
        let s = &self.search;
        if s.generations == 0 {
            return bad("search.generations", "expected >= 1, got 0".into());
        }
        if s.flip_interval == 0 {
            return bad("search.flip_interval", "expected >= 1, got 0".into());
        }
        if s.in_flight == 0 {
            return bad("search.in_flight", "expected >= 1, got 0".into());
        }
        if s.bins == 0 {
            return bad("search.bins", "expected >= 1, got 0".into());
        }
        if let Err(e) = self.sampler().validate("search.elite_range") {
            return bad("search.elite_range", e.to_string());
        }
        let w = &self.weight_search;
        if w.layer_groups == 0 {
            return bad("weight_search.layer_groups", "expected >= 1, got 0".into());
        }
        let [lo, hi] = w.bounds;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad(
                "weight_search.bounds",
                format!("expected [lo, hi] with lo < hi, got [{lo}, {hi}]"),
            );
        }
        if !(w.sigma.is_finite() && w.sigma > 0.0) {
            return bad(
                "weight_search.sigma",
                format!("expected > 0, got {}", w.sigma),
            );
        }
        if w.population.is_some_and(|p| p < 2) {
            return bad(
                "weight_search.population",
                format!("expected >= 2, got {}", w.population.unwrap_or(0)),
            );
        }
        let c = &self.crossover;
        if !(c.mu.is_finite() && c.sigma.is_finite() && c.sigma >= 0.0) {
            return bad(
                "crossover",
                format!(
                    "expected finite mu and sigma >= 0, got mu {} sigma {}",
                    c.mu, c.sigma
                ),
            );
        }
        let m = &self.mutation;
        if !(m.rate.is_finite() && m.rate >= 0.0) {
            return bad("mutation.rate", format!("expected >= 0, got {}", m.rate));
        }
        if !(m.std.is_finite() && m.std >= 0.0) {
            return bad("mutation.std", format!("expected >= 0, got {}", m.std));
        }
        if m.rank == Some(0) {
            return bad(
                "mutation.rank",
                "expected >= 1 (or leave unset for full rank)".into(),
            );
        }
        if self.evaluation.batch_size == 0 {
            return bad("evaluation.batch_size", "expected >= 1, got 0".into());
        }
        if self.evaluation.workers == 0 {
            return bad("evaluation.workers", "expected >= 1, got 0".into());
        }
        if let Some(url) = &self.evaluation.queue {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return bad(
                    "evaluation.queue",
                    format!(
                        "expected a redis://HOST:PORT/DB or rediss:// URL, got `{}`",
                        cycleqd_queue::redact(url)
                    ),
                );
            }
        }
        let t = self.result.temperature;
        if !(t.is_finite() && t > 0.0) {
            return bad("result.temperature", format!("expected > 0, got {t}"));
        }
        for pick in &self.result.report {
            let known = pick == "aggregate"
                || pick == "best-mean"
                || pick
                    .strip_prefix("best:")
                    .is_some_and(|t| self.tasks.iter().any(|task| task.name == t));
            if !known {
                return bad(
                    "result.report",
                    format!(
                        "unknown pick {pick:?}: expected \"aggregate\", \"best-mean\" or \
                         \"best:TASK\" with TASK one of {:?}",
                        self.task_names()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Task names in configured order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// The configured parent sampler.
    pub fn sampler(&self) -> ParentSampler {
        match self.search.sampler {
            SamplerKind::Uniform => ParentSampler::Uniform,
            SamplerKind::Elite => ParentSampler::Elite {
                a_lo: self.search.elite_range[0],
                a_hi: self.search.elite_range[1],
            },
        }
    }

    /// The cycle's config, with BC axes from fixed ranges or from the experts' scores on
    /// the optimisation split (`expert_scores[e][j]`: expert e on task j).
    pub fn cycle_config(&self, expert_scores: &[Vec<f64>]) -> Result<CycleConfig> {
        let axes = self
            .tasks
            .iter()
            .enumerate()
            .map(|(j, task)| {
                let bins = task.bins.unwrap_or(self.search.bins);
                match task.bc_range {
                    Some([lo, hi]) => Ok(BcAxis::new(lo, hi, bins)?),
                    None => {
                        let column: Vec<f64> = expert_scores.iter().map(|s| s[j]).collect();
                        Ok(BcAxis::from_expert_scores(&task.name, &column, bins)?)
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let config = CycleConfig {
            tasks: self.task_names(),
            axes,
            generations: self.search.generations,
            flip_interval: self.search.flip_interval,
            sampler: self.sampler(),
            in_flight: self.search.in_flight,
            seed: self.search.seed,
            quality: self.search.quality,
        };
        config.validate()?;
        Ok(config)
    }

    /// Where SVD bases are cached.
    pub fn basis_cache(&self) -> PathBuf {
        self.evaluation
            .basis_cache
            .clone()
            .unwrap_or_else(|| self.out.join("basis"))
    }

    /// Where evaluation results are cached.
    pub fn eval_cache(&self) -> PathBuf {
        self.evaluation
            .cache
            .clone()
            .unwrap_or_else(|| self.out.join("eval-cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search_config::SearchMethod;
    use cycleqd_qd::QualityMode;

    const MINIMAL: &str = r#"
base = "models/base"
out = "runs/one"

[[task]]
name = "coding"
expert = "models/expert-coding"
optimize = "gen-coding:split=validation,count=10"
test = "gen-coding:split=test,count=10"

[[task]]
name = "db"
expert = "/abs/expert-db"
optimize = "gen-db:split=validation,count=10"
test = "gen-db:split=test,count=10"
bc_range = [0.0, 0.5]
"#;

    fn parse(text: &str) -> Result<RunConfig> {
        let dir = tempfile::tempdir().unwrap();
        RunConfig::parse(text, &dir.path().join("RUN.toml"))
    }

    #[test]
    fn defaults_are_the_papers_and_paths_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = RunConfig::parse(MINIMAL, &dir.path().join("RUN.toml")).unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(config.base, root.join("models/base"));
        assert_eq!(config.tasks[1].expert, PathBuf::from("/abs/expert-db"));
        assert_eq!(config.search.generations, 1200);
        assert_eq!(config.sampler(), ParentSampler::PAPER);
        assert_eq!(config.mutation.kind, MutationKind::SvdExpert);
        assert_eq!(config.mutation.rate, 0.1);
        assert_eq!(config.crossover.sigma, 0.01);
        assert_eq!(config.result.temperature, 1.0);
        let reparsed = RunConfig::parse(&config.to_toml(), &dir.path().join("x.toml")).unwrap();
        assert_eq!(reparsed, config);
    }

    #[test]
    fn axes_come_from_fixed_ranges_or_the_experts_scores() {
        let config = parse(MINIMAL).unwrap();
        let cycle = config
            .cycle_config(&[vec![0.6, 0.1], vec![0.2, 0.4]])
            .unwrap();
        assert_eq!(
            cycle.axes[0],
            BcAxis::new(0.85 * 0.2, 1.15 * 0.6, 15).unwrap()
        );
        assert_eq!(cycle.axes[1], BcAxis::new(0.0, 0.5, 15).unwrap());
    }

    #[test]
    fn the_search_method_is_a_name_or_a_table_key() {
        let short = parse(&format!("search = \"cma-es\"\n{MINIMAL}")).unwrap();
        assert_eq!(short.search.method, SearchMethod::CmaEs);
        assert_eq!(short.search.generations, 1200);
        let table = parse(&format!(
            "{MINIMAL}\n[search]\nmethod = \"nsga2\"\ngenerations = 30\nquality = \"fixed_mean\"\n\n[weight_search]\nlayer_groups = 2\nbounds = [0.0, 1.5]\n"
        ))
        .unwrap();
        assert_eq!(table.search.method, SearchMethod::Nsga2);
        assert_eq!(table.search.quality, QualityMode::FixedMean);
        assert_eq!(table.weight_search.layer_groups, 2);
        let dir = tempfile::tempdir().unwrap();
        let reparsed = RunConfig::parse(&table.to_toml(), &dir.path().join("x.toml")).unwrap();
        assert_eq!(reparsed, table);
        assert_eq!(parse(MINIMAL).unwrap().search.method, SearchMethod::CycleQd);

        let err = parse(&format!("search = \"random\"\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("random") && err.contains("cma-es"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}\n[weight_search]\nbounds = [1.0, 0.0]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("weight_search.bounds"), "{err}");
        let err = parse(&format!("{MINIMAL}\n[mutation]\nkind = \"svd_child\"\n"))
            .map(|c| c.mutation.kind);
        assert_eq!(err.unwrap(), MutationKind::SvdChild);
    }

    #[test]
    fn held_out_skills_need_a_fresh_name_and_a_spec() {
        let ok = parse(&format!(
            "{MINIMAL}\n[[held_out]]\nname = \"compare\"\ntest = \"gen-db:split=test,count=5\"\n"
        ))
        .unwrap();
        assert_eq!(ok.held_out[0].name, "compare");
        let err = parse(&format!(
            "{MINIMAL}\n[[held_out]]\nname = \"db\"\ntest = \"gen-db:split=test,count=5\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("held_out[0].name"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}\n[[held_out]]\nname = \"x\"\ntest = \" \"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("held_out[0].test"), "{err}");
    }

    #[test]
    fn the_queue_is_a_redis_url_kept_in_the_run_config() {
        let config = parse(&format!(
            "{MINIMAL}\n[evaluation]\nqueue = \"redis://10.0.0.5:6379/2\"\n"
        ))
        .unwrap();
        assert_eq!(
            config.evaluation.queue.as_deref(),
            Some("redis://10.0.0.5:6379/2")
        );
        let again = parse(&config.to_toml()).unwrap();
        assert_eq!(again.evaluation.queue, config.evaluation.queue);
        assert!(!parse(MINIMAL).unwrap().to_toml().contains("queue"));

        let err = parse(&format!(
            "{MINIMAL}\n[evaluation]\nqueue = \"amqp://user:s3cret@host/\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("evaluation.queue") && err.contains("redis://"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "the password leaked: {err}");
    }

    #[test]
    fn bad_fields_are_named() {
        let one_task = MINIMAL.split("[[task]]\nname = \"db\"").next().unwrap();
        let err = parse(one_task).unwrap_err().to_string();
        assert!(
            err.contains("`task`") && err.contains("at least 2"),
            "{err}"
        );

        let err = parse(&MINIMAL.replace("bc_range = [0.0, 0.5]", "bc_range = [0.5, 0.5]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("task[1].bc_range"), "{err}");

        let err = parse(&format!("{MINIMAL}\n[search]\ngenerations = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("search.generations"), "{err}");

        let err = parse(&format!("{MINIMAL}\n[mutation]\nkind = \"swirl\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("swirl") || err.contains("unknown variant"),
            "{err}"
        );

        let err = parse(&format!("{MINIMAL}\n[search]\ngenrations = 5\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("genrations"), "{err}");

        let err = parse(&MINIMAL.replace(
            "test = \"gen-coding:split=test,count=10\"",
            "test = \"gen-coding:split=validation,count=10\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("task[0].test") && err.contains("held-out"),
            "{err}"
        );

        let err = parse(&format!("{MINIMAL}\n[result]\nreport = [\"best:os\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("result.report") && err.contains("best:os"),
            "{err}"
        );
        let config = parse(&format!(
            "{MINIMAL}\n[result]\nreport = [\"aggregate\", \"best:db\"]\n"
        ))
        .unwrap();
        assert_eq!(config.result.report, ["aggregate", "best:db"]);
    }
}
