//! `cycleqd similarity A B --base BASE`: how alike two fine-tunes of one base are, as the
//! mean over weight matrices of the cosine between their task vectors' singular values, and
//! how far each moved from the base (relative task-vector norms) and in which directions.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cycleqd_recipe::task_vector_similarity;
use cycleqd_weights::ModelInput;

use crate::progress;

/// Arguments of `cycleqd similarity`.
#[derive(clap::Args)]
pub struct SimilarityArgs {
    /// Model A (Hugging Face folder, GGUF file, or PEFT LoRA adapter folder on the base).
    a: PathBuf,
    /// Model B.
    b: PathBuf,
    /// The base both were fine-tuned from.
    #[arg(long)]
    base: PathBuf,
    /// Also print every matrix's cosine.
    #[arg(long)]
    per_matrix: bool,
}

/// Prints `s(A, B)`.
pub fn run(args: SimilarityArgs) -> Result<()> {
    let base =
        ModelInput::open(&args.base).with_context(|| format!("opening {}", args.base.display()))?;
    // Opened together so that adapters on the base hash it once.
    let pair = ModelInput::open_all_with_base(&[args.a.clone(), args.b.clone()], &args.base)?;
    let (a, b) = (&pair[0], &pair[1]);
    let bar = progress::bar(base.source().metas().len() as u64, "tensors");
    let s = task_vector_similarity(base.source(), a.source(), b.source(), &|_| bar.inc(1))
        .with_context(|| {
            format!(
                "similarity of {} and {}",
                args.a.display(),
                args.b.display()
            )
        })?;
    bar.finish_and_clear();
    if args.per_matrix {
        for m in &s.matrices {
            println!("{:.6}  {}", m.cosine, m.name);
        }
        for name in &s.unchanged {
            println!("   -      {name} (a task vector is zero here)");
        }
    }
    println!(
        "similarity {:.6} (mean over {} weight matrices)",
        s.mean,
        s.matrices.len()
    );
    let g = &s.geometry;
    println!(
        "task vectors: ||A - base|| / ||base|| = {:.6}, ||B - base|| / ||base|| = {:.6}, \
         cosine(A - base, B - base) = {}",
        g.relative_a(),
        g.relative_b(),
        g.cosine().map_or("undefined".into(), |c| format!("{c:.6}"))
    );
    Ok(())
}
