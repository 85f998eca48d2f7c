//! `cycleqd similarity A B --base BASE`: how alike two fine-tunes of one base are, as the
//! mean over weight matrices of the cosine between their task vectors' singular values, and
//! how far each moved from the base (relative task-vector norms) and in which directions.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cycleqd_evolve::ModelInput;
use cycleqd_recipe::task_vector_similarity;

/// Arguments of `cycleqd similarity`.
#[derive(clap::Args)]
pub struct SimilarityArgs {
    /// Model A (Hugging Face folder or GGUF file).
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
    let open =
        |p: &PathBuf| ModelInput::open(p).with_context(|| format!("opening {}", p.display()));
    let (base, a, b) = (open(&args.base)?, open(&args.a)?, open(&args.b)?);
    let s = task_vector_similarity(base.source(), a.source(), b.source()).with_context(|| {
        format!(
            "similarity of {} and {}",
            args.a.display(),
            args.b.display()
        )
    })?;
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
