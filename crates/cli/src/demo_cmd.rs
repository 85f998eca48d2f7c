//! `cycleqd demo [--quick]`: the whole story on a CPU from nothing: a tiny base and three
//! specialist experts are trained, the baselines are merged and scored, CycleQD and its
//! ablations run, and the table of test scores is printed. Every stage is cached in the
//! output folder, so a second run only reads results back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use cycleqd_demo::{build_models, DemoModels, DemoScale, Skill};
use cycleqd_evolve::baselines::{folder_identity, score_folder};
use cycleqd_evolve::{
    run_merge_baseline, MergeBaseline, ResultRow, RunConfig, RunContext, RunResults, Split,
};
use cycleqd_tasks::generators::Split as DataSplit;

use crate::evolve_cmd::EvolveProgress;

/// Arguments of `cycleqd demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The small version: a smaller model, fewer problems and generations (CI runs it).
    #[arg(long)]
    quick: bool,
    /// Seed of the models, the data draw and the searches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (default: demo-out, or demo-quick-out with --quick); reused as a cache.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the ablation runs (uniform sampling, Gaussian mutation).
    #[arg(long)]
    no_ablations: bool,
}

/// Sizes of the search stage at one scale.
struct SearchPlan {
    optimize_count: usize,
    test_count: usize,
    generations: u64,
}

fn search_plan(scale: DemoScale) -> SearchPlan {
    match scale {
        DemoScale::Quick => SearchPlan {
            optimize_count: 15,
            test_count: 30,
            generations: 24,
        },
        DemoScale::Full => SearchPlan {
            optimize_count: 24,
            test_count: 60,
            generations: 96,
        },
    }
}

/// The variants of CycleQD the demo runs: (run folder, row name, sampler, mutation).
const VARIANTS: [(&str, &str, &str, &str); 3] = [
    ("cycleqd", "CycleQD", "elite", "svd_expert"),
    (
        "ablation-uniform",
        "CycleQD, uniform sampling",
        "uniform",
        "svd_expert",
    ),
    (
        "ablation-gaussian",
        "CycleQD, Gaussian mutation",
        "elite",
        "gaussian",
    ),
];

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let scale = if args.quick {
        DemoScale::Quick
    } else {
        DemoScale::Full
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.quick {
            "demo-quick-out"
        } else {
            "demo-out"
        })
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    eprintln!(
        "== cycleqd demo ({}, seed {}) in {}",
        scale.name(),
        args.seed,
        out.display()
    );

    eprintln!("== models: tiny base, one expert per skill, all-data fine-tune");
    let models = build_models(scale, args.seed, &out.join("models"), &mut |m| {
        eprintln!("   {m}")
    })?;
    let plan = search_plan(scale);
    let variants: Vec<_> = VARIANTS
        .iter()
        .filter(|v| !args.no_ablations || v.0 == "cycleqd")
        .collect();
    let mut rows = Vec::new();
    let mut main_results = None;
    for (folder, row_name, sampler, mutation) in variants {
        let dir = out.join("runs").join(folder);
        let mut progress = EvolveProgress::new();
        eprintln!("== {row_name}");
        if dir.join("run.toml").is_file() {
            cycleqd_evolve::resume(&dir, &mut |e| progress.show(e))?;
        } else {
            let text = run_toml(&out, &dir, &models, &plan, args.seed, sampler, mutation);
            let config = RunConfig::parse(&text, &out.join(format!("{folder}.toml")))?;
            cycleqd_evolve::start(config, &mut |e| progress.show(e))?;
        }
        progress.finish();
        let results = RunResults::load(&dir)?;
        let aggregate = find_row(&results, "cycleqd aggregate")?;
        rows.push(ResultRow {
            name: row_name.to_string(),
            ..aggregate
        });
        if *folder == "cycleqd" {
            let best_mean = find_row(&results, "cycleqd best-mean")?;
            rows.push(ResultRow {
                name: format!("{row_name} (best-mean elite)"),
                ..best_mean
            });
            main_results = Some(results);
        }
    }
    let main_results = main_results.context("the main CycleQD run did not run")?;

    eprintln!("== baselines");
    let config = cycleqd_evolve::load_run_config(&out.join("runs").join("cycleqd"))?;
    let ctx = RunContext::open(config, &mut |_| {})?;
    let mut scorer = ctx.scorer()?;
    let mut baseline_rows = Vec::new();
    let identity = folder_identity(&ctx, &models.all_data)?;
    let test = score_folder(&mut scorer, &identity, &models.all_data, Split::Test)?;
    eprintln!("   all-data fine-tuning (test): {}", fmt_scores(&test));
    baseline_rows.push(ResultRow {
        name: "all-data fine-tuning".into(),
        test,
        optimize: None,
    });
    std::fs::create_dir_all(out.join("baselines"))?;
    for baseline in MergeBaseline::standard() {
        let outcome = run_merge_baseline(
            &ctx,
            &mut scorer,
            &baseline,
            &out.join("baselines"),
            &mut |what, scores| eprintln!("   {what}: {}", fmt_scores(scores)),
        )?;
        baseline_rows.push(ResultRow {
            name: format!("{} (lambda {})", outcome.name, outcome.lambda),
            test: outcome.test,
            optimize: None,
        });
    }

    let mut table_rows: Vec<ResultRow> = main_results
        .rows
        .iter()
        .filter(|r| r.name == "base" || r.name.starts_with("expert "))
        .cloned()
        .collect();
    table_rows.extend(baseline_rows);
    table_rows.extend(rows);
    let table = RunResults {
        tasks: main_results.tasks.clone(),
        generations: main_results.generations,
        rows: table_rows,
    };
    let markdown = table.markdown();
    std::fs::write(out.join("demo.md"), &markdown)?;
    std::fs::write(
        out.join("demo-results.json"),
        serde_json::to_vec_pretty(&table)?,
    )?;
    println!(
        "test-split scores (%), {} scale, seed {}, {} generations per search\n\n{markdown}",
        scale.name(),
        args.seed,
        table.generations
    );
    println!(
        "heatmaps and curves: {}\ntotal {:.0} s",
        out.join("runs/cycleqd/plots").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn find_row(results: &RunResults, name: &str) -> Result<ResultRow> {
    results
        .rows
        .iter()
        .find(|r| r.name == name)
        .cloned()
        .with_context(|| format!("the run's results have no row {name:?}"))
}

fn fmt_scores(scores: &[f64]) -> String {
    scores
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The run config of one CycleQD variant over the demo's models and tasks.
fn run_toml(
    out: &Path,
    dir: &Path,
    models: &DemoModels,
    plan: &SearchPlan,
    seed: u64,
    sampler: &str,
    mutation: &str,
) -> String {
    let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).expect("a string serialises");
    let mut text = format!("base = {}\nout = {}\n\n", q(&models.base), q(dir));
    for (skill, expert) in &models.experts {
        let skill: Skill = skill.parse().expect("the demo's skills have valid names");
        let spec = |split: DataSplit, count: usize| {
            cycleqd_demo::demo_task_spec(skill, split, count, seed)
        };
        text.push_str(&format!(
            "[[task]]\nname = {:?}\nexpert = {}\noptimize = {:?}\ntest = {:?}\n\n",
            skill.name(),
            q(expert),
            spec(DataSplit::Validation, plan.optimize_count),
            spec(DataSplit::Test, plan.test_count),
        ));
    }
    text.push_str(&format!(
        "[search]\ngenerations = {}\nsampler = {sampler:?}\nseed = {seed}\n\n[mutation]\nkind = {mutation:?}\n\n[evaluation]\ncache = {}\nbasis_cache = {}\n",
        plan.generations,
        q(&out.join("eval-cache")),
        q(&out.join("basis")),
    ));
    text
}
