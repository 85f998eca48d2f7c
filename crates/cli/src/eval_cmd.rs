//! `cycleqd eval MODEL --task NAME[,NAME...]`: score one model, print a table, keep the records.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use cycleqd_recipe::ContentHash;
use cycleqd_tasks::{task_from_spec, CacheHit, EvalOptions, ResultCache, TaskContext, TextModel};

use cycleqd_engine_model::EngineModel;
use cycleqd_infer::{load_engine_with_base, parse_device, parse_dtype};
use cycleqd_weights::ModelInput;

use crate::progress;
use crate::reply_progress::ReplyProgress;

/// Arguments of `cycleqd eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model: a Hugging Face folder, a llama GGUF file, or a PEFT LoRA adapter folder.
    model: PathBuf,
    /// The base model a PEFT adapter folder given as MODEL is applied to (default: the
    /// adapter's `base_model_name_or_path`, when that is a local folder).
    #[arg(long)]
    base: Option<PathBuf>,
    /// Tasks, comma-separated, each `NAME[:key=value,...]`: humaneval, mbpp:path=FILE,
    /// gen-coding, gen-os, gen-db (options split, difficulty, count, seed), os, db, external.
    /// Repeat --task for tasks whose options contain commas.
    #[arg(long = "task", required = true)]
    tasks: Vec<String>,
    /// Evaluate only the first N problems of each task.
    #[arg(long)]
    limit: Option<usize>,
    /// Write each task's per-sample records as OUT/<task>.jsonl and the scores as
    /// OUT/scores.json.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Reuse and store results here, keyed by the model's content hash and the task.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Prompts generated together.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Compute dtype: f32 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Device: cpu, or cuda:N when built with CUDA.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs the evaluation.
pub fn run(args: EvalArgs) -> Result<()> {
    let ctx = TaskContext::from_env();
    let specs: Vec<&str> = args.tasks.iter().flat_map(|t| split_specs(t)).collect();
    let tasks = specs
        .iter()
        .map(|s| task_from_spec(s, &ctx).with_context(|| format!("--task {s}")))
        .collect::<Result<Vec<_>>>()?;
    let dtype = parse_dtype(&args.dtype)?;
    let base = args.base.as_deref();
    let weights_hash =
        ContentHash::of_model(ModelInput::open_with_base(&args.model, base)?.source())?;
    let model = EngineModel {
        engine: load_engine_with_base(&args.model, base, &parse_device(&args.device)?, dtype)?,
        identity: format!("{}:{dtype:?}", weights_hash.hex()),
        batch_size: args.batch_size,
    };
    let options = EvalOptions {
        limit: args.limit,
        batch_size: args.batch_size,
        ..EvalOptions::default()
    };
    let cache = args.cache.as_deref().map(ResultCache::new);
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let mut rows = Vec::new();
    for task in &tasks {
        let started = Instant::now();
        let expected = args.limit.map_or(task.len(), |l| l.min(task.len()));
        let progress = ReplyProgress::new(&model, progress::bar(expected as u64, task.name()));
        let (result, hit) = match &cache {
            Some(cache) => cache.evaluate(task.as_ref(), &progress, &options)?,
            None => (task.evaluate(&progress, &options)?, CacheHit::Miss),
        };
        progress.finish();
        let secs = started.elapsed().as_secs_f64();
        if let Some(out) = &args.out {
            let path = out.join(format!("{}.jsonl", file_stem(task.name())));
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&path).with_context(|| format!("{}", path.display()))?,
            );
            for sample in &result.samples {
                serde_json::to_writer(&mut file, sample)?;
                file.write_all(b"\n")?;
            }
            file.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        rows.push((result, secs, hit));
    }
    println!(
        "{:<28} {:>7} {:>9} {:>9}",
        "task", "score", "passed", "seconds"
    );
    for (r, secs, hit) in &rows {
        let cached = if matches!(hit, CacheHit::Hit) {
            " (cached)"
        } else {
            ""
        };
        println!(
            "{:<28} {:>7.3} {:>9} {:>9.1}{cached}",
            r.task,
            r.score,
            format!("{}/{}", r.passed, r.total),
            secs
        );
    }
    if let Some(out) = &args.out {
        let scores: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(r, _, _)| (r.task.clone(), serde_json::json!(r.score)))
            .collect();
        let path = out.join("scores.json");
        let body = serde_json::json!({"model": model.identity(), "scores": scores});
        std::fs::write(&path, serde_json::to_vec_pretty(&body)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Splits `a,b:x=1,y=2,c` into task specs: a comma starts a new spec unless what follows
/// is an option (`key=value`).
pub(crate) fn split_specs(text: &str) -> Vec<&str> {
    let mut specs = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices(',') {
        let next = &text[i + 1..];
        let piece = next.split(',').next().unwrap_or("");
        if !piece.contains('=') {
            specs.push(&text[start..i]);
            start = i + 1;
        }
    }
    specs.push(&text[start..]);
    specs.into_iter().filter(|s| !s.is_empty()).collect()
}

fn file_stem(task: &str) -> String {
    task.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_specs;

    #[test]
    fn specs_split_at_commas_that_start_a_task() {
        assert_eq!(
            split_specs("gen-db:split=test,count=5,gen-os,humaneval"),
            vec!["gen-db:split=test,count=5", "gen-os", "humaneval"]
        );
        assert_eq!(split_specs("mbpp:path=a.jsonl"), vec!["mbpp:path=a.jsonl"]);
    }
}
