//! `cycleqd export DIR --pick NAME --out MODEL_DIR`: write one of a finished run's final
//! models as a Hugging Face folder.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cycleqd_evolve::{load_picks, load_run_config, RunContext};
use cycleqd_weights::DType;

/// Arguments of `cycleqd export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The run directory.
    dir: PathBuf,
    /// Which model: `aggregate` (the spec's merge of the archives' best elites),
    /// `best-mean`, or `best:TASK`.
    #[arg(long, default_value = "aggregate")]
    pick: String,
    /// The folder to write (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Storage dtype of the written tensors (default: the base's): bf16, f16 or f32.
    #[arg(long)]
    dtype: Option<DType>,
}

/// Writes the chosen model.
pub fn run(args: ExportArgs) -> Result<()> {
    let picks = load_picks(&args.dir)?;
    let pick = picks.get(&args.pick).with_context(|| {
        format!(
            "--pick {}: the run has no such model; it has {}",
            args.pick,
            picks.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let config = load_run_config(&args.dir)?;
    let ctx = RunContext::open(config, &mut |_| {})?;
    let written = ctx.write(&pick.blend, &args.out, args.dtype)?;
    eprintln!("{} ({})", args.pick, pick.description);
    println!("{}", written.display());
    Ok(())
}
