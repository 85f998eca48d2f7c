//! A queue worker's evaluation of one job: the run's base, experts and SVD basis found
//! among the worker's own model folders by content hash (never by path), the tasks rebuilt
//! from their specs and checked by fingerprint, the model materialized from its recipe and
//! scored by the same [`TaskScorer`] a local run uses. A worker whose copies differ refuses
//! the job, saying which hash or fingerprint it lacks, and leaves it for another.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cycleqd_recipe::{BasisOptions, BasisSet, ContentHash};
use cycleqd_tasks::{task_from_spec, EvalOptions, ResultCache, Task, TaskContext};
use cycleqd_weights::{ModelInput, TensorSource};

use crate::blend::materialize_in_memory;
use crate::error::{EvolveError, Result};
use crate::eval_job::{EvalJob, EvalResult, JobModel, JobSite};
use crate::scorer::{EngineSpec, TaskScorer};

/// Where a worker finds models and keeps its caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSetup {
    /// Folders holding model folders (searched three levels deep) and SVD basis caches.
    pub models: Vec<PathBuf>,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// The worker's result cache.
    pub cache: PathBuf,
    /// Where bases not found under `models` are built.
    pub basis_cache: PathBuf,
}

/// Why a job was not done.
#[derive(Debug)]
pub enum JobError {
    /// This worker's copies differ from the run's (or it lacks one): leave the job for
    /// another worker.
    Refuse(String),
    /// The evaluation failed.
    Fail(EvolveError),
}

macro_rules! fails {
    ($($ty:ty),*) => {$(
        impl From<$ty> for JobError {
            fn from(e: $ty) -> Self {
                Self::Fail(e.into())
            }
        }
    )*};
}

fails!(
    EvolveError,
    cycleqd_recipe::RecipeError,
    cycleqd_weights::WeightsError
);

/// The models of one run site, opened.
struct Site {
    site: JobSite,
    base: ModelInput,
    basis: BasisSet,
    scorer: TaskScorer,
}

/// A worker: its model folders by content hash, the site it has open, its tasks by spec.
pub struct Worker {
    setup: WorkerSetup,
    /// Content hash -> folder, of every model folder under `setup.models`.
    folders: HashMap<String, PathBuf>,
    scanned: bool,
    open: Option<Site>,
    tasks: HashMap<String, Box<dyn Task>>,
    task_ctx: TaskContext,
}

impl Worker {
    /// A worker over `setup`; folders are hashed at the first job.
    pub fn new(setup: WorkerSetup) -> Self {
        Self {
            setup,
            folders: HashMap::new(),
            scanned: false,
            open: None,
            tasks: HashMap::new(),
            task_ctx: TaskContext::from_env(),
        }
    }

    /// Model folders found so far (hash, folder), for the worker's log.
    pub fn folders(&self) -> impl Iterator<Item = (&String, &PathBuf)> {
        self.folders.iter()
    }

    /// Evaluates `job`: every task's result, in the job's task order.
    pub fn evaluate(&mut self, job: &EvalJob) -> Result<EvalResult, JobError> {
        self.open_site(&job.site)?;
        let mut tasks = Vec::with_capacity(job.tasks.len());
        for t in &job.tasks {
            if !self.tasks.contains_key(&t.spec) {
                let task = task_from_spec(&t.spec, &self.task_ctx).map_err(|e| {
                    JobError::Refuse(format!("task `{}` (`{}`): {e}", t.name, t.spec))
                })?;
                self.tasks.insert(t.spec.clone(), task);
            }
            let task = &self.tasks[&t.spec];
            if task.name() != t.name || task.fingerprint() != t.fingerprint {
                return Err(JobError::Refuse(format!(
                    "task `{}` (`{}`) here is `{}` with fingerprint {}, the run's has {}: this worker's task data differ",
                    t.name,
                    t.spec,
                    task.name(),
                    task.fingerprint(),
                    t.fingerprint
                )));
            }
            tasks.push(t.spec.clone());
        }
        let folder = match &job.model {
            JobModel::Folder { hash } => Some(self.folder(hash, "the job's model")?),
            JobModel::Blend(_) => None,
        };
        let site = self.open.as_mut().expect("opened above");
        let tasks: Vec<Box<dyn Task>> = tasks
            .iter()
            .map(|spec| self.tasks.remove(spec).expect("loaded above"))
            .collect();
        let base_path = site.scorer.engine_spec().model.clone();
        let (base, basis) = (&site.base, &site.basis);
        let outcome =
            site.scorer
                .results(&job.identity, &tasks, || match (&job.model, &folder) {
                    (JobModel::Folder { .. }, Some(path)) => Ok(Box::new(
                        ModelInput::open_with_base(path, Some(&base_path))?,
                    )
                        as Box<dyn TensorSource>),
                    (JobModel::Blend(blend), _) => {
                        materialize_in_memory(blend, base.source(), basis, &job.identity)
                    }
                    (JobModel::Folder { hash }, None) => {
                        Err(EvolveError::Invalid(format!("no folder for model {hash}")))
                    }
                });
        for (t, task) in job.tasks.iter().zip(tasks) {
            self.tasks.insert(t.spec.clone(), task);
        }
        let results = outcome?;
        Ok(EvalResult { results })
    }

    /// Opens the base, experts and basis of `site` unless open already.
    fn open_site(&mut self, site: &JobSite) -> Result<(), JobError> {
        if self.open.as_ref().is_some_and(|s| &s.site == site) {
            return Ok(());
        }
        self.open = None;
        let base_path = self.folder(&site.base, "the run's base")?;
        let expert_paths = site
            .experts
            .iter()
            .enumerate()
            .map(|(k, h)| self.folder(h, &format!("the run's expert {k}")))
            .collect::<Result<Vec<_>, _>>()?;
        let base = ModelInput::open(&base_path)?;
        let experts = ModelInput::open_all_with_base(&expert_paths, &base_path)?;
        let sources: Vec<&dyn TensorSource> = experts.iter().map(ModelInput::source).collect();
        let options = BasisOptions {
            rank_limit: site.rank_limit,
            ..BasisOptions::default()
        };
        let quiet = |_: cycleqd_recipe::BasisEvent<'_>| {};
        let mut basis = None;
        for dir in basis_candidates(&self.setup.models) {
            if let Ok(found) = BasisSet::open(&dir, base.source(), &sources, &options, &quiet) {
                basis = Some(found);
                break;
            }
        }
        let basis = match basis {
            Some(b) => b,
            None => BasisSet::open_or_build(
                &self.setup.basis_cache,
                base.source(),
                &base.config_json(),
                &sources,
                &options,
                &quiet,
            )?,
        };
        if basis.fingerprint().hex() != site.basis {
            return Err(JobError::Refuse(format!(
                "the SVD basis here has fingerprint {}, the run's has {}",
                basis.fingerprint().hex(),
                site.basis
            )));
        }
        let scorer = TaskScorer::new(
            EngineSpec {
                model: base_path,
                device: self.setup.device.clone(),
                dtype: site.dtype.clone(),
                batch_size: site.batch_size,
            },
            ResultCache::new(&self.setup.cache),
            EvalOptions {
                limit: site.limit,
                batch_size: site.batch_size,
                workers: site.workers,
            },
        );
        self.open = Some(Site {
            site: site.clone(),
            base,
            basis,
            scorer,
        });
        Ok(())
    }

    /// The folder whose weights have content hash `hash`, hashing the model folders under
    /// `setup.models` first (once, and again when a hash is not found).
    fn folder(&mut self, hash: &str, what: &str) -> Result<PathBuf, JobError> {
        if ContentHash::from_hex(hash).is_none() {
            return Err(JobError::Refuse(format!(
                "{what}: `{hash}` is not a content hash (64 hex digits)"
            )));
        }
        if !self.folders.contains_key(hash) {
            self.scan()?;
        }
        self.folders.get(hash).cloned().ok_or_else(|| {
            JobError::Refuse(format!(
                "{what} has content hash {hash}; no model folder under {} has it (this worker's copy differs or is missing)",
                self.setup
                    .models
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn scan(&mut self) -> Result<()> {
        let mut found = Vec::new();
        for dir in &self.setup.models {
            model_folders(dir, 3, &mut found);
        }
        for path in found {
            if self.folders.values().any(|p| p == &path) && self.scanned {
                continue;
            }
            let Ok(model) = ModelInput::open(&path) else {
                continue;
            };
            let hash = ContentHash::of_model(model.source())?.hex();
            self.folders.entry(hash).or_insert(path);
        }
        self.scanned = true;
        Ok(())
    }
}

/// Folders holding a `config.json` and safetensors weights under `dir`, `depth` levels deep.
fn model_folders(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs = Vec::new();
    let mut has_config = false;
    let mut has_weights = false;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() && !name.starts_with('.') {
            subdirs.push(path);
        } else if name == "config.json" {
            has_config = true;
        } else if name.ends_with(".safetensors") {
            has_weights = true;
        }
    }
    if has_config && has_weights {
        out.push(dir.to_path_buf());
    }
    if depth > 0 {
        subdirs.sort();
        for sub in subdirs {
            model_folders(&sub, depth - 1, out);
        }
    }
}

/// Folders that may be SVD basis caches: each models folder and its subfolders (two levels).
fn basis_candidates(models: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in models {
        out.push(dir.clone());
        for sub in subfolders(dir) {
            out.push(sub.clone());
            out.extend(subfolders(&sub));
        }
    }
    out
}

/// The folders in `dir`, sorted (none when it cannot be read).
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    subs.sort();
    subs
}
