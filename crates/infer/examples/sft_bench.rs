//! SFT throughput on a real model: tokens per second and peak memory of `train_sft` (full),
//! `train_lora`, or the candle-autograd trainer, on fixed-length examples cut from a text.
//!
//! ```text
//! cargo run --release -p cycleqd-infer --example sft_bench -- MODEL_DIR TEXT_FILE \
//!     [--mode full|lora|autograd] [--steps 4] [--batch 8] [--len 100] [--dump examples.jsonl]
//! ```
//! Each example is `len` tokens: the first half prompt, the second half completion; every step
//! trains on the same `batch` examples, so the losses can be checked against torch's step by
//! step. The first step is a warm-up and not timed. `--dump` writes the examples' token ids for the torch side
//! (`scripts/sft_bench_torch.py`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use cycleqd_infer::{
    train_lora, train_sft, train_sft_autograd, DType, Device, Engine, LoraConfig, SftConfig,
    SftExample, StepReport,
};

struct Args {
    model: PathBuf,
    text: PathBuf,
    mode: String,
    steps: usize,
    batch: usize,
    len: usize,
    dump: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let usage = "usage: sft_bench MODEL_DIR TEXT_FILE [--mode full|lora|autograd] [--steps N] [--batch N] [--len N] [--dump FILE]";
    let model = it.next().ok_or(usage)?.into();
    let text = it.next().ok_or(usage)?.into();
    let mut args = Args {
        model,
        text,
        mode: "full".into(),
        steps: 4,
        batch: 8,
        len: 100,
        dump: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--mode" => args.mode = value.clone(),
            "--steps" => args.steps = number()?,
            "--batch" => args.batch = number()?,
            "--len" => args.len = number()?,
            "--dump" => args.dump = Some(value.clone().into()),
            _ => return Err(format!("unknown flag {flag}\n{usage}")),
        }
    }
    if !["full", "lora", "autograd"].contains(&args.mode.as_str()) {
        return Err(format!(
            "--mode must be full, lora or autograd, not {}",
            args.mode
        ));
    }
    if args.len < 2 || args.steps < 2 {
        return Err("--len and --steps must be at least 2".into());
    }
    Ok(args)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let mut engine = Engine::load(&args.model, &Device::Cpu, DType::F32)?;
    let text = std::fs::read_to_string(&args.text)?;
    let ids = engine.tokenizer().encode(&text, false)?;
    if ids.len() < args.len {
        return Err(format!(
            "{} has {} tokens, fewer than --len",
            args.text.display(),
            ids.len()
        )
        .into());
    }
    // Exactly one batch of examples: every step then trains on all of them (in some order), so
    // each step's loss is comparable with torch's on the same examples.
    let examples: Vec<SftExample> = (0..args.batch)
        .map(|i| {
            let start = (i * args.len) % (ids.len() - args.len + 1);
            let seq = &ids[start..start + args.len];
            SftExample {
                prompt: seq[..args.len / 2].to_vec(),
                completion: seq[args.len / 2..].to_vec(),
            }
        })
        .collect();
    if let Some(path) = &args.dump {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for e in &examples {
            writeln!(
                f,
                "{{\"prompt\": {:?}, \"completion\": {:?}}}",
                e.prompt, e.completion
            )?;
        }
    }
    let config = SftConfig {
        steps: args.steps,
        batch_size: args.batch,
        learning_rate: 1e-5,
        warmup_steps: 0,
        weight_decay: 0.0,
        seed: 0,
    };
    let mut last = Instant::now();
    let mut timed = (0usize, 0f64);
    let mut on_step = |r: &StepReport| {
        let secs = last.elapsed().as_secs_f64();
        last = Instant::now();
        eprintln!(
            "step {} loss {:.4} {} tokens {:.2} s",
            r.step, r.loss, r.tokens, secs
        );
        if r.step > 0 {
            timed.0 += r.tokens;
            timed.1 += secs;
        }
    };
    let rss_before = peak_rss_mib();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    match args.mode.as_str() {
        "full" => {
            train_sft(engine.model_mut(), &examples, &config, &mut on_step)?;
        }
        "autograd" => {
            train_sft_autograd(engine.model_mut(), &examples, &config, &mut on_step)?;
        }
        _ => {
            train_lora(
                engine.model(),
                &examples,
                &config,
                &LoraConfig::default(),
                &mut on_step,
            )?;
        }
    }
    println!(
        "{{\"mode\": \"{}\", \"tokens_per_s\": {:.1}, \"s_per_step\": {:.2}, \"batch\": {}, \"len\": {}, \"threads\": \"{threads}\", \"peak_rss_mib\": {:.0}, \"rss_after_load_mib\": {:.0}}}",
        args.mode,
        timed.0 as f64 / timed.1,
        timed.1 / (args.steps - 1) as f64,
        args.batch,
        args.len,
        peak_rss_mib(),
        rss_before
    );
    Ok(())
}
