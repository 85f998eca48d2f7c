//! `cycleqd basis BASE EXPERT... --out DIR`: builds (or finds) the experts' SVD bases.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use cycleqd_recipe::{BasisEvent, BasisOptions, BasisSet};
use cycleqd_weights::{ByteSize, ModelInput, TensorSource};
use indicatif::ProgressBar;

use crate::progress;

/// Arguments of `cycleqd basis`.
#[derive(Args)]
pub struct BasisArgs {
    /// The base model (a Hugging Face folder).
    base: PathBuf,
    /// The experts, fine-tuned from the base (model folders, GGUF files, or PEFT LoRA adapter
    /// folders, which are applied to the base).
    #[arg(required = true)]
    experts: Vec<PathBuf>,
    /// The cache folder; entries already there are reused.
    #[arg(long)]
    out: PathBuf,
    /// Keep only the top R singular triplets of each matrix, plus the exact residual.
    #[arg(long, value_name = "R")]
    rank: Option<usize>,
    /// Largest safetensors shard of a cache entry, e.g. 500MB, 2GB.
    #[arg(long, default_value = "2GB")]
    shard_size: ByteSize,
}

/// Builds or reuses every expert's entry and prints a summary per expert.
pub fn run(args: BasisArgs) -> Result<()> {
    let start = Instant::now();
    let base = ModelInput::open(&args.base)?;
    let experts = ModelInput::open_all_with_base(&args.experts, &args.base)?;
    let sources: Vec<&dyn TensorSource> = experts.iter().map(ModelInput::source).collect();
    let options = BasisOptions {
        rank_limit: args.rank,
        shard_limit: args.shard_size.0,
    };
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let on_event = |event: BasisEvent<'_>| {
        let mut bar = bar.lock().expect("progress lock poisoned");
        match event {
            BasisEvent::Hashing { what } => eprintln!("hashing {what}"),
            BasisEvent::Cached { expert, dir } => {
                eprintln!("expert {expert}: cached in {}", dir.display())
            }
            BasisEvent::Building {
                expert, tensors, ..
            } => *bar = Some(progress::bar(tensors as u64, &format!("expert {expert}"))),
            BasisEvent::TensorDone { .. } => {
                if let Some(bar) = bar.as_ref() {
                    bar.inc(1);
                }
            }
            BasisEvent::Built { expert, seconds } => {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("expert {expert}: built in {seconds:.1}s");
            }
        }
    };
    let basis = BasisSet::open_or_build(
        &args.out,
        base.source(),
        &base.config_json(),
        &sources,
        &options,
        &on_event,
    )
    .with_context(|| format!("building the basis cache in {}", args.out.display()))?;
    for (k, (expert, path)) in basis.experts().iter().zip(&args.experts).enumerate() {
        let m = expert.manifest();
        let worst = m
            .matrices
            .iter()
            .map(|r| r.rebuild_error)
            .fold(0.0, f64::max);
        let truncation = m
            .matrices
            .iter()
            .map(|r| r.truncation_error)
            .fold(0.0, f64::max);
        println!(
            "expert {k} {}: {} ({} matrices, max rebuild error {worst:.2e}, max truncation error {truncation:.2e})",
            path.display(),
            expert.dir().display(),
            m.matrices.len(),
        );
    }
    println!(
        "basis set {} ({} coefficients per expert), ready in {:.1}s",
        basis.fingerprint(),
        basis.layout().coefficients_per_expert(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
