//! `cycleqd convert SRC DST`: GGUF or Hugging Face folder in, Hugging Face folder out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use cycleqd_weights::{copy_model, ByteSize, CopyOptions, DType, ModelInput};

use crate::progress;

/// Arguments of `cycleqd convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// A GGUF file, a Hugging Face model folder, or a PEFT LoRA adapter folder (written out
    /// merged into its base).
    src: PathBuf,
    /// The folder to write (must not exist, or be empty).
    dst: PathBuf,
    /// Output dtype: f32, f16 or bf16. Default: keep each tensor's dtype (GGUF quantized
    /// tensors become f32).
    #[arg(long)]
    dtype: Option<DType>,
    /// Largest safetensors shard, e.g. 500MB, 2GB, 1GiB.
    #[arg(long, default_value = "2GB")]
    shard_size: ByteSize,
    /// The base model a PEFT adapter folder given as SRC is applied to (default: the
    /// adapter's `base_model_name_or_path`, when that is a local folder).
    #[arg(long)]
    base: Option<PathBuf>,
}

/// Runs the conversion with a progress bar.
pub fn run(args: ConvertArgs) -> Result<()> {
    convert_with(
        &args.src,
        args.base.as_deref(),
        &args.dst,
        args.dtype,
        args.shard_size.0,
    )
}

/// Converts `src` into the Hugging Face folder `dst` (2 GB shards), with a progress bar.
pub fn convert(src: &Path, dst: &Path, dtype: Option<DType>) -> Result<()> {
    convert_with(src, None, dst, dtype, 2_000_000_000)
}

fn convert_with(
    src: &Path,
    base: Option<&Path>,
    dst: &Path,
    dtype: Option<DType>,
    shard_limit: u64,
) -> Result<()> {
    let start = Instant::now();
    let input = ModelInput::open_with_base(src, base)?;
    let source = input.source();
    let bar = progress::bar(source.metas().len() as u64, "converting");
    let out = copy_model(
        source,
        dst,
        &input.config_json(),
        &input.companions()?,
        &CopyOptions { dtype, shard_limit },
        &|_| bar.inc(1),
    )
    .with_context(|| format!("writing {}", dst.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} ({} tensors, {} parameters) from {} in {:.1}s",
        out.display(),
        source.metas().len(),
        source.parameter_count(),
        input.kind(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
