//! A run from start to end: the run directory and its config, then the search the config
//! names (CycleQD, or a merge-weight search) and the end of the run (final models and
//! results); a killed run resumes where it stopped, a finished one is re-finished.

use std::path::{Path, PathBuf};

use crate::cycleqd_search;
use crate::error::{EvolveError, Result};
use crate::final_models::{finish_cycleqd, finish_weight_search};
use crate::run_config::{RunConfig, RUN_CONFIG_FILE};
use crate::run_context::RunContext;
use crate::run_events::EventSink;
use crate::run_files::write_atomic;
use crate::search_config::SearchMethod;
use crate::weight_search;

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
    if ctx.config.search.method == SearchMethod::CycleQd {
        let outcome = cycleqd_search::search(&ctx, &mut scorer, on_event)?;
        finish_cycleqd(&ctx, &mut scorer, &outcome, on_event)
    } else {
        let outcome = weight_search::search(&ctx, &mut scorer, on_event)?;
        finish_weight_search(&ctx, &mut scorer, &outcome, on_event)
    }
}
