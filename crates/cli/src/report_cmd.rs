//! `cycleqd report DIR`: print a finished run's results table and write it as Markdown.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cycleqd_evolve::RunResults;

/// Arguments of `cycleqd report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// The run directory.
    dir: PathBuf,
    /// Where to write the Markdown table (default: DIR/report.md).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Prints and writes the table.
pub fn run(args: ReportArgs) -> Result<()> {
    let results = RunResults::load(&args.dir)?;
    let table = results.markdown();
    let out = args.out.unwrap_or_else(|| args.dir.join("report.md"));
    std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "test-split scores (%) after {} generations\n\n{table}",
        results.generations
    );
    eprintln!("written to {}", out.display());
    Ok(())
}
