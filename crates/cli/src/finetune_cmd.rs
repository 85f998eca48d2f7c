//! `cycleqd finetune BASE --task SPEC --out DIR`: supervised fine-tuning of a model on tasks'
//! reference answers or on JSON-lines files, every weight or LoRA adapters, with checkpoints
//! that a stopped run resumes from and an output folder that appears only when complete.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cycleqd_infer::{
    checkpoint_steps, load_engine, train_lora_with, train_sft_with, Checkpoints, DType, Device,
    Engine, LoraAdapters, LoraConfig, SftConfig, SftExample, StepReport, LORA_MODULES,
};
use cycleqd_recipe::ContentHash;
use cycleqd_weights::ModelInput;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::eval_cmd::split_specs;
use crate::finetune_data::{file_examples, task_examples};

/// Arguments of `cycleqd finetune`.
#[derive(clap::Args)]
pub struct FinetuneArgs {
    /// The model to fine-tune: a Hugging Face folder or a llama GGUF file.
    pub(crate) base: PathBuf,
    /// Train on these tasks' reference answers, comma-separated specs as `cycleqd eval` takes
    /// them, e.g. `gen-os:split=train,count=500` (the generators' train split is disjoint from
    /// validation and test). Repeat --task for specs whose options contain commas.
    #[arg(long = "task")]
    pub(crate) tasks: Vec<String>,
    /// Train on a JSON-lines file: `{"messages": [{"role", "content"}, ...]}` per line (the
    /// last message is the reply to learn) or `{"prompt": "...", "completion": "..."}`.
    #[arg(long = "data")]
    pub(crate) data: Vec<PathBuf>,
    /// Output folder: a Hugging Face folder, or with --lora-rank a PEFT adapter folder.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Train LoRA adapters of this rank on the frozen base instead of every weight.
    #[arg(long)]
    pub(crate) lora_rank: Option<usize>,
    /// LoRA's alpha (the update is alpha / rank · B A); default twice the rank.
    #[arg(long, requires = "lora_rank")]
    pub(crate) lora_alpha: Option<f64>,
    /// Projections that get adapters, comma-separated (default all seven:
    /// q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).
    #[arg(long, requires = "lora_rank", value_delimiter = ',')]
    pub(crate) target_modules: Vec<String>,
    /// With LoRA, also write the base with the adapters merged in, as a Hugging Face folder
    /// OUT/merged.
    #[arg(long, requires = "lora_rank")]
    pub(crate) merge: bool,
    /// Optimizer steps (default: one epoch, or what --epochs gives).
    #[arg(long, conflicts_with = "epochs")]
    pub(crate) steps: Option<usize>,
    /// Passes over the examples (steps = epochs x examples / batch size, rounded up).
    #[arg(long)]
    pub(crate) epochs: Option<f64>,
    /// Examples per step.
    #[arg(long, default_value_t = 8)]
    pub(crate) batch_size: usize,
    /// Peak learning rate (default 2e-5 for every weight, 2e-4 for LoRA).
    #[arg(long)]
    pub(crate) lr: Option<f64>,
    /// Fraction of the steps with a linear warmup (then cosine decay to 0).
    #[arg(long, default_value_t = 0.1)]
    pub(crate) warmup_ratio: f64,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) weight_decay: f64,
    /// Seed of the example order (and of LoRA's initial adapters).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Keep a checkpoint every N steps: a stop (Ctrl-C, kill -9) loses at most N steps.
    #[arg(long, default_value_t = 50)]
    pub(crate) checkpoint_every: usize,
    /// Continue the stopped run that the same command left behind.
    #[arg(long)]
    pub(crate) resume: bool,
}

/// Everything that decides the trained weights: a resumed run must match it exactly.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Stamp {
    base: String,
    base_content_hash: String,
    data_fingerprint: String,
    examples: usize,
    steps: usize,
    batch_size: usize,
    learning_rate: f64,
    warmup_steps: usize,
    weight_decay: f64,
    seed: u64,
    lora: Option<LoraStamp>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct LoraStamp {
    rank: usize,
    alpha: f64,
    target_modules: Vec<String>,
}

/// The files of a run's work folder and of its output.
const STAMP: &str = "finetune.json";
const STATE: &str = "trainer-state.bin";
const LOG: &str = "training.jsonl";
const LOSS_PNG: &str = "loss.png";

/// Runs the fine-tune.
pub fn run(args: FinetuneArgs) -> Result<()> {
    let work = work_folder(&args.out)?;
    if args.out.exists() {
        bail!(
            "{} already exists; choose another --out or delete it",
            args.out.display()
        );
    }
    if work.exists() && !args.resume {
        bail!(
            "{} holds a stopped fine-tune for {}; add --resume to continue it, or delete it to \
             start over",
            work.display(),
            args.out.display()
        );
    }
    if args.tasks.is_empty() && args.data.is_empty() {
        bail!("nothing to train on: give --task SPEC and/or --data FILE.jsonl");
    }
    let lora = lora_config(&args)?;
    eprintln!("loading {}", args.base.display());
    let mut engine = load_engine(&args.base, &Device::Cpu, DType::F32)?;
    let base_hash = ContentHash::of_model(ModelInput::open(&args.base)?.source())?;
    let examples = examples(&engine, &args)?;
    let config = sft_config(&args, examples.len(), lora.is_some())?;
    let stamp = Stamp {
        base: args.base.display().to_string(),
        base_content_hash: base_hash.hex(),
        data_fingerprint: fingerprint(&examples),
        examples: examples.len(),
        steps: config.steps,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        warmup_steps: config.warmup_steps,
        weight_decay: config.weight_decay,
        seed: config.seed,
        lora: lora.as_ref().map(|l| LoraStamp {
            rank: l.rank,
            alpha: l.alpha,
            target_modules: l.target_modules.clone(),
        }),
    };
    let mut log = open_work(&work, &stamp)?;
    let tokens: usize = examples
        .iter()
        .map(|e| e.prompt.len() + e.completion.len())
        .sum();
    eprintln!(
        "{} examples ({tokens} tokens), {} steps of {}, lr {:e}, {}",
        examples.len(),
        config.steps,
        config.batch_size,
        config.learning_rate,
        match &lora {
            Some(l) => format!(
                "LoRA rank {} alpha {} on {}",
                l.rank,
                l.alpha,
                l.target_modules.join(",")
            ),
            None => "every weight".to_string(),
        }
    );
    let checkpoints = Checkpoints {
        file: work.join(STATE),
        every: args.checkpoint_every,
        resume: true,
    };
    let done = log.steps_done();
    if done > 0 {
        eprintln!("resuming at step {done} of {}", config.steps);
    }
    let mut progress = Progress::new(config.steps, done);
    let on_step = |r: &StepReport| {
        progress.step(r);
        log.append(r, progress.elapsed());
    };
    let staging = work.join("output");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    match &lora {
        None => {
            train_sft_with(
                engine.model_mut(),
                &examples,
                &config,
                Some(&checkpoints),
                on_step,
            )
            .context("fine-tuning")?;
            progress.finish();
            eprintln!("writing {}", args.out.display());
            engine
                .save(&staging, cycleqd_weights::DType::F32)
                .with_context(|| format!("writing {}", staging.display()))?;
        }
        Some(lora) => {
            let (adapters, _) = train_lora_with(
                engine.model(),
                &examples,
                &config,
                lora,
                Some(&checkpoints),
                on_step,
            )
            .context("training LoRA adapters")?;
            progress.finish();
            eprintln!("writing {}", args.out.display());
            write_adapter(&staging, &adapters, &args.base, &base_hash)?;
            if args.merge {
                merge_into(&mut engine, &adapters)?;
                engine
                    .save(&staging.join("merged"), cycleqd_weights::DType::F32)
                    .context("writing the merged model")?;
            }
        }
    }
    finish(&work, &staging, &args.out, &log.losses)
}

/// The hidden sibling folder where a run keeps its checkpoint, log and stamp until done.
fn work_folder(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: not a folder name", out.display()))?;
    let parent = out.parent().unwrap_or(Path::new(""));
    Ok(parent.join(format!(".{}.finetune", name.to_string_lossy())))
}

fn lora_config(args: &FinetuneArgs) -> Result<Option<LoraConfig>> {
    let Some(rank) = args.lora_rank else {
        return Ok(None);
    };
    let target_modules = if args.target_modules.is_empty() {
        LORA_MODULES.iter().map(|m| m.to_string()).collect()
    } else {
        args.target_modules.clone()
    };
    for m in &target_modules {
        if !LORA_MODULES.contains(&m.as_str()) {
            bail!(
                "--target-modules: unknown module `{m}`; expected some of {}",
                LORA_MODULES.join(",")
            );
        }
    }
    if rank == 0 {
        bail!("--lora-rank must be at least 1");
    }
    Ok(Some(LoraConfig {
        rank,
        alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
        target_modules,
    }))
}

fn examples(engine: &Engine, args: &FinetuneArgs) -> Result<Vec<SftExample>> {
    let specs: Vec<&str> = args.tasks.iter().flat_map(|t| split_specs(t)).collect();
    let mut examples = task_examples(engine, &specs)?;
    for path in &args.data {
        examples.extend(file_examples(engine, path)?);
    }
    Ok(examples)
}

fn sft_config(args: &FinetuneArgs, examples: usize, lora: bool) -> Result<SftConfig> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let steps = match (args.steps, args.epochs) {
        (Some(steps), _) => steps,
        (None, Some(epochs)) if epochs > 0.0 && epochs.is_finite() => {
            (epochs * examples as f64 / args.batch_size as f64).ceil() as usize
        }
        (None, Some(epochs)) => bail!("--epochs must be a positive number, got {epochs}"),
        (None, None) => examples.div_ceil(args.batch_size),
    };
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.warmup_ratio) {
        bail!(
            "--warmup-ratio must be within [0, 1], got {}",
            args.warmup_ratio
        );
    }
    let learning_rate = args.lr.unwrap_or(if lora { 2e-4 } else { 2e-5 });
    if !(learning_rate > 0.0 && learning_rate.is_finite()) {
        bail!("--lr must be a positive number, got {learning_rate}");
    }
    Ok(SftConfig {
        steps,
        batch_size: args.batch_size,
        learning_rate,
        warmup_steps: (args.warmup_ratio * steps as f64).round() as usize,
        weight_decay: args.weight_decay,
        seed: args.seed,
    })
}

/// A hash of the token sequences, so that a resumed run refuses other data.
fn fingerprint(examples: &[SftExample]) -> String {
    let bytes: Vec<u8> = examples
        .iter()
        .flat_map(|e| {
            [e.prompt.len() as u32]
                .into_iter()
                .chain(e.prompt.iter().copied())
                .chain([e.completion.len() as u32])
                .chain(e.completion.iter().copied())
        })
        .flat_map(u32::to_le_bytes)
        .collect();
    ContentHash::of_parts(&[&bytes]).hex()
}

/// Creates the work folder with its stamp, or checks a stopped run's stamp and keeps the log
/// of the steps its checkpoint holds.
fn open_work(work: &Path, stamp: &Stamp) -> Result<TrainingLog> {
    let stamp_path = work.join(STAMP);
    if work.exists() {
        let text = std::fs::read_to_string(&stamp_path)
            .with_context(|| format!("reading {}", stamp_path.display()))?;
        let stopped: Stamp = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a fine-tune stamp", stamp_path.display()))?;
        if &stopped != stamp {
            let (a, b) = (json!(stopped), json!(stamp));
            let differ: Vec<String> = a
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                .map(|(k, v)| format!("{k}: {v} then, {} now", b[k.as_str()]))
                .collect();
            bail!(
                "{} was stopped with other settings ({}); rerun it with the same ones, or delete \
                 the folder to start over",
                work.display(),
                differ.join("; ")
            );
        }
        let state = work.join(STATE);
        let done = if state.exists() {
            checkpoint_steps(&state)?
        } else {
            0
        };
        return TrainingLog::resume(work.join(LOG), done);
    }
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    std::fs::write(&stamp_path, serde_json::to_vec_pretty(stamp)?)
        .with_context(|| format!("writing {}", stamp_path.display()))?;
    TrainingLog::resume(work.join(LOG), 0)
}

/// The step reports, one JSON line each, kept in step with the checkpoint.
struct TrainingLog {
    path: PathBuf,
    file: std::fs::File,
    losses: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct LogLine {
    step: usize,
    loss: f32,
    learning_rate: f64,
    tokens: usize,
    seconds: f64,
}

impl TrainingLog {
    /// The log with the lines of the first `done` steps kept (later ones were lost with the
    /// stop and will be run again).
    fn resume(path: PathBuf, done: usize) -> Result<Self> {
        let mut kept = Vec::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            for line in text.lines() {
                match serde_json::from_str::<LogLine>(line) {
                    Ok(l) if l.step < done => kept.push(l),
                    _ => break,
                }
            }
        }
        if kept.len() != done {
            bail!(
                "{}: the log has {} of the checkpoint's {done} steps; delete the work folder to \
                 start over",
                path.display(),
                kept.len()
            );
        }
        let mut body = String::new();
        for l in &kept {
            body.push_str(&serde_json::to_string(l)?);
            body.push('\n');
        }
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path,
            file,
            losses: kept.iter().map(|l| f64::from(l.loss)).collect(),
        })
    }

    fn steps_done(&self) -> usize {
        self.losses.len()
    }

    /// Appends a step; a failed write of the log is reported, not fatal (the weights are what
    /// matters and the checkpoint holds them).
    fn append(&mut self, r: &StepReport, seconds: f64) {
        let line = LogLine {
            step: r.step,
            loss: r.loss,
            learning_rate: r.learning_rate,
            tokens: r.tokens,
            seconds,
        };
        let text = serde_json::to_string(&line).expect("log lines serialize") + "\n";
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            eprintln!("warning: {}: {e}", self.path.display());
        }
        self.losses.push(f64::from(r.loss));
    }
}

/// A progress bar with loss, tokens/s and ETA (lines every 10% when stderr is not a terminal).
struct Progress {
    bar: indicatif::ProgressBar,
    total: usize,
    /// The step this process started at (later than 0 when it resumed).
    first_step: usize,
    started: Instant,
    tokens: usize,
    recent: Vec<f32>,
    terminal: bool,
}

impl Progress {
    fn new(total: usize, done: usize) -> Self {
        let bar = crate::progress::bar(total as u64, "fine-tuning");
        bar.set_position(done as u64);
        bar.reset_eta();
        Self {
            bar,
            total,
            first_step: done,
            started: Instant::now(),
            tokens: 0,
            recent: Vec::new(),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn step(&mut self, r: &StepReport) {
        self.tokens += r.tokens;
        self.recent.push(r.loss);
        if self.recent.len() > 20 {
            self.recent.remove(0);
        }
        let loss = self.recent.iter().sum::<f32>() / self.recent.len() as f32;
        let rate = self.tokens as f64 / self.elapsed().max(1e-9);
        self.bar.set_position((r.step + 1) as u64);
        self.bar
            .set_message(format!("loss {loss:.4} · {rate:.0} tokens/s"));
        let every = (self.total / 10).max(1);
        if !self.terminal && ((r.step + 1).is_multiple_of(every) || r.step + 1 == self.total) {
            let run_here = (r.step + 1 - self.first_step).max(1);
            let left = (self.total - r.step - 1) as f64 * self.elapsed() / run_here as f64;
            eprintln!(
                "step {}/{} loss {loss:.4} lr {:.2e} {rate:.0} tokens/s, {:.0} s, eta {left:.0} s",
                r.step + 1,
                self.total,
                r.learning_rate,
                self.elapsed()
            );
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn write_adapter(
    dir: &Path,
    adapters: &LoraAdapters,
    base: &Path,
    base_hash: &ContentHash,
) -> Result<()> {
    let config = adapters.config();
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = adapters
        .named_tensors()
        .into_iter()
        .map(|(name, shape, values)| (name, shape, values.to_vec()))
        .collect();
    cycleqd_weights::write_peft_adapter(
        dir,
        &cycleqd_weights::LoraAdapterConfig {
            rank: config.rank,
            alpha: config.alpha,
            target_modules: config.target_modules.clone(),
            base_model: base.display().to_string(),
        },
        &tensors,
        Some(&base_hash.hex()),
    )
    .with_context(|| format!("writing the adapter to {}", dir.display()))
}

/// Puts the adapters into the engine's weights: W + alpha / r · B A.
fn merge_into(engine: &mut Engine, adapters: &LoraAdapters) -> Result<()> {
    let named = engine.model().named_tensors();
    let merged = adapters.merged(|name| {
        let t = &named
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| cycleqd_infer::InferError::Invalid(format!("no tensor {name}")))?
            .1;
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    })?;
    let tensors = named
        .iter()
        .map(|(n, t)| match merged.get(n) {
            Some(v) => {
                cycleqd_infer::Tensor::from_slice(v, t.dims(), &Device::Cpu).map(|m| (n.clone(), m))
            }
            None => Ok((n.clone(), t.clone())),
        })
        .collect::<std::result::Result<_, _>>()?;
    engine.set_weights_from_tensors(&tensors)?;
    Ok(())
}

/// Adds the loss curve, the log and the stamp to the staged output, moves it into place and
/// removes the work folder.
fn finish(work: &Path, staging: &Path, out: &Path, losses: &[f64]) -> Result<()> {
    let window = (losses.len() / 20).clamp(1, 50);
    cycleqd_qd::plot::loss_curve(losses, window, "fine-tuning loss", &staging.join(LOSS_PNG))
        .context("drawing the loss curve")?;
    for name in [LOG, STAMP] {
        std::fs::copy(work.join(name), staging.join(name))
            .with_context(|| format!("copying {name} into {}", staging.display()))?;
    }
    std::fs::rename(staging, out)
        .with_context(|| format!("moving {} to {}", staging.display(), out.display()))?;
    std::fs::remove_dir_all(work).with_context(|| format!("removing {}", work.display()))?;
    let tenth = (losses.len() / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    eprintln!(
        "done: {} (mean loss {:.4} over the first tenth of the steps, {:.4} over the last; {})",
        out.display(),
        mean(&losses[..tenth.min(losses.len())]),
        mean(&losses[losses.len().saturating_sub(tenth)..]),
        out.join(LOSS_PNG).display()
    );
    Ok(())
}
