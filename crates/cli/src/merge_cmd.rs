//! `cycleqd merge CONFIG.yaml OUT_DIR`: a mergekit-style merge, streamed tensor by tensor.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use cycleqd_merge::{MergeConfig, MergeJob, StreamOptions};
use cycleqd_weights::ByteSize;

use crate::progress;

/// Arguments of `cycleqd merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// A mergekit-style YAML config (models or slices, base_model, merge_method, parameters,
    /// dtype, out_dtype). Relative model paths are taken from the working directory.
    config: PathBuf,
    /// The folder to write (must not exist, or be empty); it appears only once complete.
    out_dir: PathBuf,
    /// Largest safetensors shard, e.g. 500MB, 5GB.
    #[arg(long, default_value = "5GB")]
    shard_size: ByteSize,
    /// Tensor bytes merged at once across threads, e.g. 4GB. Default: the largest tensor's
    /// working set (its inputs and result in f32), so big tensors merge one at a time.
    #[arg(long)]
    memory_budget: Option<ByteSize>,
}

/// Checks the config and the models, then merges with a progress bar.
pub fn run(args: MergeArgs) -> Result<()> {
    let start = Instant::now();
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let config = MergeConfig::load(&args.config, &cwd)?;
    let job = MergeJob::prepare(config)?;
    let tensors = job.plan().tensors.len();
    let bar = progress::bar(tensors as u64, "merging");
    let out = job
        .run(
            &args.out_dir,
            &StreamOptions {
                shard_limit: args.shard_size.0,
                memory_budget: args.memory_budget.map(|b| b.0),
            },
            &|_| bar.inc(1),
        )
        .with_context(|| format!("writing {}", args.out_dir.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} ({} of {} models, {tensors} tensors) in {:.1}s",
        out.display(),
        job.config().method,
        job.config().models.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
