//! `RUN.toml`: what one evolve run needs (base, one expert and task per skill, budget,
//! search, crossover, mutation, evaluation and result settings), parsed and checked.

use std::path::{Path, PathBuf};

use cycleqd_qd::{BcAxis, CycleConfig, ParentSampler, PAPER_BINS};
use serde::{Deserialize, Serialize};

use crate::error::{EvolveError, Result};

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
    /// Budget, schedule, sampler and archive settings.
    #[serde(default)]
    pub search: SearchConfig,
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

/// Parent sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// The paper's elite sampling.
    Elite,
    /// Two distinct elites, uniformly.
    Uniform,
}

/// Budget and archive settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Generations G (one child each).
    pub generations: u64,
    /// Generations per quality task before cycling to the next.
    pub flip_interval: u64,
    /// Parent sampling.
    pub sampler: SamplerKind,
    /// Elite sampling's scaling range `[a_lo, a_hi]`.
    pub elite_range: [f64; 2],
    /// BC bins per task.
    pub bins: u32,
    /// Evaluations in flight W (the run is the same function of its seed whatever W).
    pub in_flight: u64,
    /// The run seed.
    pub seed: u64,
    /// Also seed the archives with the base model.
    pub seed_base: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            generations: 1200,
            flip_interval: 1,
            sampler: SamplerKind::Elite,
            elite_range: [0.5, 0.8],
            bins: PAPER_BINS,
            in_flight: 1,
            seed: 0,
            seed_base: false,
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
    /// `theta += Normal(0, std)` elementwise (the ablation baseline).
    Gaussian,
    /// No mutation (an ablation).
    None,
}

/// Mutation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutationConfig {
    /// The mutation.
    pub kind: MutationKind,
    /// `svd_expert`'s upper bound of the singular-value draws.
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
        }
    }
}

/// Settings of the final models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResultConfig {
    /// Softmax temperature T of the aggregate's expert weights.
    pub temperature: f64,
}

impl Default for ResultConfig {
    fn default() -> Self {
        Self { temperature: 1.0 }
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
        let t = self.result.temperature;
        if !(t.is_finite() && t > 0.0) {
            return bad("result.temperature", format!("expected > 0, got {t}"));
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
    }
}
