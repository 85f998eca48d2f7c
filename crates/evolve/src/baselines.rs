//! The fixed-merge baselines of the paper's comparison (task arithmetic, TIES, DARE) over
//! a run's base and experts: each merged by the merge engine for every scale of a grid,
//! the scale chosen by the mean optimisation-split score, the chosen model scored on the
//! test split. Scores are cached and each scale's model identity is kept beside its YAML
//! (`METHOD-LAMBDA.identity`), so a repeated call only reads them back; only the chosen
//! scale's folder is kept (a 135M-parameter f32 model is 540 MB, fifteen of them 8 GB).

use std::path::{Path, PathBuf};

use cycleqd_merge::{MergeConfig, MergeJob, StreamOptions};
use cycleqd_weights::is_peft_adapter;

use crate::error::{EvolveError, Result};
use crate::report::ResultRow;
use crate::result_rows::{folder_identity, folder_row, open_folder};
use crate::run_config::RunConfig;
use crate::run_context::RunContext;
use crate::run_files::write_atomic;
use crate::scorer::{Scorer, Split};

/// A merge method with the scales to try.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeBaseline {
    /// The row name (`task arithmetic`).
    pub name: String,
    /// The mergekit method (`task_arithmetic`, `ties`, `dare_linear`).
    pub method: String,
    /// Fraction of each task vector kept (TIES, DARE).
    pub density: Option<f64>,
    /// The scales lambda tried.
    pub lambdas: Vec<f64>,
}

impl MergeBaseline {
    /// Task arithmetic, TIES (density 0.5, normalized) and DARE (linear, density 0.5),
    /// with scale grids around each method's usual range.
    pub fn standard() -> Vec<Self> {
        let grid = |v: &[f64]| v.to_vec();
        vec![
            Self {
                name: "task arithmetic".into(),
                method: "task_arithmetic".into(),
                density: None,
                lambdas: grid(&[0.2, 0.4, 0.6, 0.8, 1.0]),
            },
            Self {
                name: "TIES".into(),
                method: "ties".into(),
                density: Some(0.5),
                lambdas: grid(&[0.5, 1.0, 1.5, 2.0, 3.0]),
            },
            Self {
                name: "DARE".into(),
                method: "dare_linear".into(),
                density: Some(0.5),
                lambdas: grid(&[0.2, 0.4, 0.6, 0.8, 1.0]),
            },
        ]
    }

    /// The mergekit-style YAML config of this merge at scale `lambda`.
    pub fn yaml(&self, config: &RunConfig, lambda: f64) -> String {
        let mut yaml = format!(
            "merge_method: {}\nbase_model: {}\nparameters:\n  lambda: {lambda}\nmodels:\n",
            self.method,
            quote(&config.base)
        );
        for task in &config.tasks {
            // An adapter expert is named as mergekit names a LoRA applied to a model.
            let model = if is_peft_adapter(&task.expert) {
                quote(Path::new(&format!(
                    "{}+{}",
                    config.base.display(),
                    task.expert.display()
                )))
            } else {
                quote(&task.expert)
            };
            yaml.push_str(&format!(
                "  - model: {model}\n    parameters:\n      weight: 1.0\n"
            ));
            if let Some(d) = self.density {
                yaml.push_str(&format!("      density: {d}\n"));
            }
        }
        yaml.push_str("dtype: float32\n");
        yaml
    }
}

fn quote(path: &Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).expect("a string serialises")
}

/// What one baseline gave.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineOutcome {
    /// The row name.
    pub name: String,
    /// Every scale tried with its optimisation-split scores.
    pub tried: Vec<(f64, Vec<f64>)>,
    /// The chosen scale (best mean; the smaller on ties).
    pub lambda: f64,
    /// The chosen model's folder.
    pub folder: PathBuf,
    /// Its reported row: test-split and held-out skills' scores.
    pub row: ResultRow,
}

/// Runs `baseline` over the base and experts of `ctx`, merging into `dir`.
pub fn run_merge_baseline(
    ctx: &RunContext,
    scorer: &mut Scorer,
    baseline: &MergeBaseline,
    dir: &Path,
    on_scored: &mut dyn FnMut(&str, &[f64]),
) -> Result<BaselineOutcome> {
    let mut tried = Vec::new();
    let mut best: Option<(f64, f64, String)> = None;
    for &lambda in &baseline.lambdas {
        let folder = scale_folder(baseline, dir, lambda);
        let identity = scale_identity(ctx, baseline, dir, lambda)?;
        let scores = scorer.score(&identity, Split::Optimize, || {
            merge_scale(ctx, baseline, dir, lambda)?;
            open_folder(&folder, None)
        })?;
        on_scored(
            &format!("{} lambda {lambda} (optimize)", baseline.name),
            &scores,
        );
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        if best.as_ref().is_none_or(|(m, ..)| mean > *m) {
            best = Some((mean, lambda, identity));
        }
        tried.push((lambda, scores));
    }
    let (_, lambda, identity) = best.ok_or_else(|| {
        EvolveError::Invalid(format!("baseline {} has no scales to try", baseline.name))
    })?;
    for &other in baseline.lambdas.iter().filter(|&&l| l != lambda) {
        let folder = scale_folder(baseline, dir, other);
        if folder.exists() {
            std::fs::remove_dir_all(&folder).map_err(|e| EvolveError::io(&folder, e))?;
        }
    }
    let folder = merge_scale(ctx, baseline, dir, lambda)?;
    let name = format!("{} (lambda {lambda})", baseline.name);
    let row = folder_row(scorer, &name, &identity, &folder, None)?;
    on_scored(&format!("{name} (test)"), &row.test);
    Ok(BaselineOutcome {
        name: baseline.name.clone(),
        tried,
        lambda,
        folder,
        row,
    })
}

fn scale_folder(baseline: &MergeBaseline, dir: &Path, lambda: f64) -> PathBuf {
    dir.join(format!("{}-{lambda}", baseline.method))
}

/// The folder of `baseline` at scale `lambda`, merged unless it is already there.
fn merge_scale(
    ctx: &RunContext,
    baseline: &MergeBaseline,
    dir: &Path,
    lambda: f64,
) -> Result<PathBuf> {
    let folder = scale_folder(baseline, dir, lambda);
    if !folder.join("config.json").is_file() {
        let yaml = baseline.yaml(&ctx.config, lambda);
        let source = dir.join(format!("{}-{lambda}.yaml", baseline.method));
        let config = MergeConfig::from_yaml(&yaml, &source, dir)?;
        MergeJob::prepare(config)?.run(
            &folder,
            &StreamOptions {
                shard_limit: 2_000_000_000,
                memory_budget: None,
            },
            &|_| {},
        )?;
    }
    Ok(folder)
}

/// The cache identity of `baseline` at scale `lambda`: read from its `.identity` file, else
/// hashed from its merged folder and written there. Merges are deterministic (DARE under its
/// fixed seed), so a folder merged again has the same identity.
fn scale_identity(
    ctx: &RunContext,
    baseline: &MergeBaseline,
    dir: &Path,
    lambda: f64,
) -> Result<String> {
    let path = dir.join(format!("{}-{lambda}.identity", baseline.method));
    match std::fs::read_to_string(&path) {
        Ok(identity) if !identity.trim().is_empty() => return Ok(identity.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EvolveError::io(&path, e)),
    }
    let folder = merge_scale(ctx, baseline, dir, lambda)?;
    let identity = folder_identity(ctx, &folder)?;
    write_atomic(&path, identity.as_bytes())?;
    Ok(identity)
}
