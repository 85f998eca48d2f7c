//! Builds the demo models and prints their test-split score matrix (rows: base, experts,
//! all-data, optionally task-arithmetic merges of the experts; columns: skills, then the
//! held-out skill the base alone was taught).
//!
//! `cargo run --release -p cycleqd-demo --example specialists -- --scale full --seed 0`
//! Options: `--out DIR` (default `demo-models/<scale>-<seed>`), `--count N` test problems per
//! skill (default 60), `--merge` to add task-arithmetic merges, `--set path=value` to override
//! a recipe field given by its JSON path (e.g. `--set expert.steps=400`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cycleqd_demo::{
    build_models_with, demo_task, retention_task, DemoRecipe, DemoScale, Skill, RETENTION_SKILL,
};
use cycleqd_engine_model::EngineModel;
use cycleqd_infer::{DType, Device, Engine, Tensor};
use cycleqd_tasks::generators::Split;
use cycleqd_tasks::EvalOptions;

struct Args {
    scale: DemoScale,
    seed: u64,
    out: Option<PathBuf>,
    count: usize,
    merge: bool,
    overrides: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        scale: DemoScale::Full,
        seed: 0,
        out: None,
        count: 60,
        merge: false,
        overrides: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--scale" => args.scale = value()?.parse()?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--merge" => args.merge = true,
            "--set" => {
                let v = value()?;
                let (path, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--set {v}: expected path=value"))?;
                args.overrides.push((path.to_string(), val.to_string()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// The recipe of the scale with `path=value` overrides applied to its JSON form.
fn recipe(scale: DemoScale, overrides: &[(String, String)]) -> Result<DemoRecipe, String> {
    let mut json = serde_json::to_value(DemoRecipe::for_scale(scale)).expect("recipes serialize");
    for (path, value) in overrides {
        let pointer = format!("/{}", path.replace('.', "/"));
        let slot = json
            .pointer_mut(&pointer)
            .ok_or_else(|| format!("--set {path}: no such recipe field"))?;
        *slot = serde_json::from_str(value).map_err(|e| format!("--set {path}={value}: {e}"))?;
    }
    serde_json::from_value(json).map_err(|e| format!("recipe: {e}"))
}

fn score_row(
    engine: Engine,
    name: &str,
    args: &Args,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let model = EngineModel {
        engine,
        identity: name.to_string(),
        batch_size: 64,
    };
    let options = EvalOptions {
        limit: None,
        batch_size: 64,
        workers: 2,
    };
    let mut tasks = Skill::ALL
        .into_iter()
        .map(|skill| demo_task(skill, Split::Test, args.count, args.seed))
        .collect::<Result<Vec<_>, _>>()?;
    tasks.push(retention_task(Split::Test, args.count, args.seed)?);
    tasks
        .iter()
        .map(|task| Ok(task.evaluate(&model, &options)?.score))
        .collect()
}

/// `base + lambda * sum(expert - base)` over every weight.
fn task_arithmetic(
    base: &Path,
    experts: &[PathBuf],
    lambda: f64,
) -> Result<Engine, Box<dyn std::error::Error>> {
    let base_engine = Engine::load(base, &Device::Cpu, DType::F32)?;
    let mut merged: HashMap<String, Tensor> =
        base_engine.model().named_tensors().into_iter().collect();
    for expert in experts {
        let e = Engine::load(expert, &Device::Cpu, DType::F32)?;
        for (name, t) in e.model().named_tensors() {
            let b = &base_engine
                .model()
                .named_tensors()
                .into_iter()
                .find(|(n, _)| *n == name)
                .expect("same architecture")
                .1;
            let delta = ((t - b)? * lambda)?;
            let sum = (&merged[&name] + delta)?;
            merged.insert(name, sum);
        }
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("config.json"))?)?;
    Ok(Engine::from_tensors(
        &config,
        base_engine.tokenizer().clone(),
        &merged,
        &Device::Cpu,
        DType::F32,
    )?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let recipe = recipe(args.scale, &args.overrides)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("demo-models/{}-{}", args.scale.name(), args.seed))
    });
    let start = Instant::now();
    let models = build_models_with(&recipe, args.seed, &out, &mut |m| eprintln!("{m}"))?;
    let build_seconds = start.elapsed().as_secs_f64();
    eprintln!("built in {build_seconds:.1} s");
    let mut rows: Vec<(String, PathBuf)> = vec![("base".into(), models.base.clone())];
    rows.extend(
        models
            .experts
            .iter()
            .map(|(s, p)| (format!("expert-{s}"), p.clone())),
    );
    rows.push(("all-data".into(), models.all_data.clone()));
    let eval_start = Instant::now();
    println!(
        "scale {} seed {} ({} test problems per skill), build {build_seconds:.1} s",
        args.scale.name(),
        args.seed,
        args.count
    );
    println!(
        "{:<22} {:>7} {:>7} {:>7} {:>9}",
        "model",
        "coding",
        "os",
        "db",
        format!("{RETENTION_SKILL}*")
    );
    let print = |name: &str, row: &[f64]| {
        println!(
            "{name:<22} {:>7.3} {:>7.3} {:>7.3} {:>9.3}",
            row[0], row[1], row[2], row[3]
        );
    };
    for (name, path) in &rows {
        let row = score_row(Engine::load(path, &Device::Cpu, DType::F32)?, name, &args)?;
        print(name, &row);
    }
    if args.merge {
        let experts: Vec<PathBuf> = models.experts.iter().map(|(_, p)| p.clone()).collect();
        for lambda in [0.5, 1.0] {
            let name = format!("task-arith l={lambda}");
            let row = score_row(
                task_arithmetic(&models.base, &experts, lambda)?,
                &name,
                &args,
            )?;
            print(&name, &row);
        }
    }
    println!("* held out: taught to the base only");
    eprintln!("evaluated in {:.1} s", eval_start.elapsed().as_secs_f64());
    Ok(())
}
