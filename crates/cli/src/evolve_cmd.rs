//! `cycleqd evolve RUN.toml` and `cycleqd evolve --resume DIR`: run CycleQD with progress,
//! then print the results table.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use cycleqd_evolve::{EvolveEvent, RunConfig, RunResults};
use cycleqd_recipe::BasisEvent;
use indicatif::ProgressBar;

use crate::progress::bar;

/// Arguments of `cycleqd evolve`.
#[derive(clap::Args)]
pub struct EvolveArgs {
    /// The run config (TOML; see the README's config reference).
    config: Option<PathBuf>,
    /// Continue the run in this directory (killed or finished: nothing is redone).
    #[arg(long, conflicts_with = "config")]
    resume: Option<PathBuf>,
    /// Run directory, overriding the config's `out`.
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
}

/// Runs or resumes a search and prints its results.
pub fn run(args: EvolveArgs) -> Result<()> {
    let mut progress = EvolveProgress::new();
    let dir = match (&args.config, &args.resume) {
        (Some(path), None) => {
            let mut config = RunConfig::load(path)?;
            if let Some(out) = &args.out {
                config.out =
                    std::path::absolute(out).with_context(|| format!("--out {}", out.display()))?;
            }
            cycleqd_evolve::start(config, &mut |e| progress.show(e))?
        }
        (None, Some(dir)) => cycleqd_evolve::resume(dir, &mut |e| progress.show(e))?,
        _ => bail!("give a run config (cycleqd evolve RUN.toml) or --resume DIR"),
    };
    progress.finish();
    let results = RunResults::load(&dir)?;
    println!("{}", results.markdown());
    println!("run directory: {}", dir.display());
    Ok(())
}

/// Progress of one run: a bar on a terminal, log lines otherwise.
pub struct EvolveProgress {
    terminal: bool,
    bar: Option<ProgressBar>,
}

impl EvolveProgress {
    /// A display on stderr.
    pub fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    /// Shows one event.
    pub fn show(&mut self, event: EvolveEvent<'_>) {
        match event {
            EvolveEvent::Stage(stage) => {
                self.finish();
                eprintln!("== {stage}");
            }
            EvolveEvent::Basis(BasisEvent::Built { expert, seconds }) => {
                eprintln!("   basis of expert {expert} built in {seconds:.1} s");
            }
            EvolveEvent::Basis(BasisEvent::Cached { expert, .. }) => {
                eprintln!("   basis of expert {expert} found in the cache");
            }
            EvolveEvent::Basis(_) => {}
            EvolveEvent::Scored {
                what,
                split,
                scores,
            } => {
                let s: Vec<String> = scores.iter().map(|s| format!("{s:.3}")).collect();
                eprintln!("   {what} ({split}): {}", s.join(" "));
            }
            EvolveEvent::Resumed(report) => eprintln!(
                "   resumed: snapshot {:?}, {} journal records replayed, {} jobs reissued, {} torn bytes dropped",
                report.snapshot, report.replayed_records, report.reissued_jobs, report.torn_bytes
            ),
            EvolveEvent::Generation(g) => {
                let rate = g.elapsed / g.done_here as f64;
                let eta = rate * (g.total - g.generation) as f64;
                let best: Vec<String> = g.best.iter().map(|b| format!("{b:.3}")).collect();
                let elites: Vec<String> = g.elites.iter().map(|e| e.to_string()).collect();
                let line = format!(
                    "q={} child {} -> {} archives | best {} | elites {} | {:.2} s/gen",
                    g.quality_task,
                    g.scores
                        .iter()
                        .map(|s| format!("{s:.2}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    g.accepted,
                    best.join(" "),
                    elites.join(" "),
                    rate
                );
                self.step(g.generation, g.total, "generations", "gen", line, eta);
            }
            EvolveEvent::Search(s) => {
                let rate = s.elapsed / s.done_here.max(1) as f64;
                let eta = rate * (s.total - s.evaluation) as f64;
                let fmt = |v: &[f64]| {
                    v.iter()
                        .map(|x| format!("{x:.2}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let line = format!(
                    "{} gen {} weights {} -> {} | best mean {:.3} | {:.2} s/eval",
                    s.method,
                    s.generation,
                    fmt(&s.weights),
                    fmt(&s.scores),
                    s.best_mean,
                    rate
                );
                self.step(s.evaluation, s.total, "evaluations", "eval", line, eta);
            }
        }
    }

    /// Moves the bar to `done` of `total` with `line`, or logs the line.
    fn step(&mut self, done: u64, total: u64, unit: &str, short: &str, line: String, eta: f64) {
        if self.terminal {
            let bar = self.bar.get_or_insert_with(|| {
                let b = bar(total, unit);
                b.set_position(done - 1);
                b
            });
            bar.set_position(done);
            bar.set_message(line);
        } else {
            eprintln!("   {short} {done}/{total} {line} | eta {eta:.0} s");
        }
    }

    /// Clears the bar, if any.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
