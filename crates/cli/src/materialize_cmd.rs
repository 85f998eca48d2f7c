//! `cycleqd materialize BASE EXPERT... --basis DIR --recipe FILE --out OUT`: writes a child's
//! weights as a Hugging Face folder from its recipe (or lineage genome).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use cycleqd_recipe::{
    Ancestors, BasisOptions, BasisSet, Genome, GenomeFile, Materializer, Recipe, RECIPE_MAGIC,
};
use cycleqd_weights::{ByteSize, DType, ModelInput, TensorSource};

use crate::progress;

/// Arguments of `cycleqd materialize`.
#[derive(Args)]
pub struct MaterializeArgs {
    /// The base model the basis was built over.
    base: PathBuf,
    /// The experts, in the order the recipe uses.
    #[arg(required = true)]
    experts: Vec<PathBuf>,
    /// The basis cache folder (built by `cycleqd basis`).
    #[arg(long)]
    basis: PathBuf,
    /// The rank limit the basis was built with (leave out for the full SVD).
    #[arg(long, value_name = "R")]
    rank: Option<usize>,
    /// A binary recipe (.cqdr) or a JSON genome file (`{"genome": ..., "ancestors": {...}}`).
    #[arg(long)]
    recipe: PathBuf,
    /// The folder to write (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Output dtype: f32, f16 or bf16. Default: the base's.
    #[arg(long)]
    dtype: Option<DType>,
    /// Largest safetensors shard, e.g. 500MB, 2GB.
    #[arg(long, default_value = "2GB")]
    shard_size: ByteSize,
}

/// Reads the genome, opens the cached bases and writes the child.
pub fn run(args: MaterializeArgs) -> Result<()> {
    let start = Instant::now();
    let (genome, ancestors) = read_genome(&args.recipe)?;
    let base = ModelInput::open(&args.base)?;
    let experts = ModelInput::open_all_with_base(&args.experts, &args.base)?;
    let sources: Vec<&dyn TensorSource> = experts.iter().map(ModelInput::source).collect();
    let options = BasisOptions {
        rank_limit: args.rank,
        shard_limit: args.shard_size.0,
    };
    let basis = BasisSet::open(&args.basis, base.source(), &sources, &options, &|_| {})?;
    let opened = start.elapsed().as_secs_f64();
    let materializer = Materializer::new(base.source(), &basis);
    let bar = progress::bar(basis.layout().entries.len() as u64, "materializing");
    let out = materializer
        .write(
            &genome,
            &ancestors,
            &args.out,
            &base.config_json(),
            &base.companions()?,
            args.dtype,
            args.shard_size.0,
            &|_| bar.inc(1),
        )
        .with_context(|| format!("writing {}", args.out.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} in {:.1}s ({:.1}s hashing and opening the bases)",
        out.display(),
        start.elapsed().as_secs_f64(),
        opened
    );
    Ok(())
}

/// A binary recipe, recognised by its magic bytes, or a JSON [`GenomeFile`].
fn read_genome(path: &Path) -> Result<(Genome, Ancestors)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(RECIPE_MAGIC) {
        let recipe =
            Recipe::from_bytes(&bytes).with_context(|| format!("reading {}", path.display()))?;
        return Ok((Genome::from(recipe), Ancestors::new()));
    }
    let file: GenomeFile = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: neither a binary recipe nor a JSON genome file ({{\"genome\": ..., \"ancestors\": {{...}}}})",
            path.display()
        )
    })?;
    Ok((file.genome, file.ancestors))
}
