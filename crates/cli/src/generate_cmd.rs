//! `cycleqd generate`: continue prompts with a model, to try it, and report tokens per second.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cycleqd_infer::{
    load_engine_with_base, parse_device, parse_dtype, GenerationConfig, Message, Sampling,
    StopReason,
};
use indicatif::ProgressBar;
use serde_json::{json, Value};

use crate::progress;

/// Arguments of `cycleqd generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The model: a Hugging Face folder, a llama GGUF file, or a PEFT LoRA adapter folder.
    model: PathBuf,
    /// The base model a PEFT adapter folder given as MODEL is applied to (default: the
    /// adapter's `base_model_name_or_path`, when that is a local folder).
    #[arg(long)]
    base: Option<PathBuf>,
    /// A prompt to continue (repeat for several).
    #[arg(long = "prompt")]
    prompts: Vec<String>,
    /// A JSONL file, one prompt per line: {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}]}.
    #[arg(long = "prompts")]
    prompts_file: Option<PathBuf>,
    /// Require the chat template (an error if the model has none). Without --chat or
    /// --raw, each --prompt (and each "prompt" line) is sent as a user turn through the
    /// chat template whenever the tokenizer has one, as instruct models expect.
    #[arg(long, conflicts_with = "raw")]
    chat: bool,
    /// Continue each --prompt (and each "prompt" line) as raw text, without the chat
    /// template ("messages" lines still use it).
    #[arg(long)]
    raw: bool,
    /// Most tokens to generate per prompt.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Stop when the text contains this string (repeat for several).
    #[arg(long)]
    stop: Vec<String>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Seed of sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prompts generated together.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Compute dtype: f32 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Device: cpu, or cuda:N when built with CUDA.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Print one JSON object per prompt instead of plain text.
    #[arg(long)]
    json: bool,
}

/// One thing to continue: plain text or a conversation.
enum Prompt {
    Text(String),
    Chat(Vec<Message>),
}

/// Runs `cycleqd generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    let prompts = collect_prompts(&args)?;
    let dtype = parse_dtype(&args.dtype)?;
    let loading = Instant::now();
    let engine = load_engine_with_base(
        &args.model,
        args.base.as_deref(),
        &parse_device(&args.device)?,
        dtype,
    )?;
    let load_secs = loading.elapsed().as_secs_f64();
    if args.chat && !engine.has_chat_template() {
        bail!(
            "{} has no chat template (tokenizer_config.json has no `chat_template`): drop \
             --chat to continue the prompts as raw text",
            args.model.display()
        );
    }
    let as_chat = !args.raw && engine.has_chat_template();
    let prompts: Vec<Prompt> = prompts
        .into_iter()
        .map(|p| match p {
            Prompt::Text(text) if as_chat => Prompt::Chat(vec![Message::new("user", text)]),
            p => p,
        })
        .collect();

    let ids = prompts
        .iter()
        .map(|p| match p {
            Prompt::Text(t) => engine.tokenizer().encode(t, true),
            Prompt::Chat(m) => engine
                .tokenizer()
                .encode(&engine.apply_chat_template(m, true)?, false),
        })
        .collect::<cycleqd_infer::Result<Vec<_>>>()?;
    let config = GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        stop: args.stop.clone(),
        sampling: if args.temperature > 0.0 {
            Sampling::Sample {
                temperature: args.temperature,
                top_p: args.top_p,
                seed: args.seed,
            }
        } else {
            Sampling::Greedy
        },
        batch_size: args.batch_size,
    };
    let started = Instant::now();
    // One bar tick per batch: shown only when there is more than one.
    let bar = if ids.len() > args.batch_size {
        progress::bar(ids.len() as u64, "prompts")
    } else {
        ProgressBar::hidden()
    };
    let generations = engine
        .generate_tokens_reporting(&ids, &config, &mut |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();

    for (i, (prompt, g)) in prompts.iter().zip(&generations).enumerate() {
        if args.json {
            let prompt = match prompt {
                Prompt::Text(t) => json!(t),
                Prompt::Chat(m) => json!(m),
            };
            let line = json!({"prompt": prompt, "text": g.text, "tokens": g.tokens.len(), "stop_reason": reason(&g.stop_reason)});
            println!("{line}");
        } else {
            println!(
                "=== {} ({} tokens, {}) ===\n{}",
                i + 1,
                g.tokens.len(),
                reason(&g.stop_reason),
                g.text
            );
        }
    }
    let tokens: usize = generations.iter().map(|g| g.tokens.len()).sum();
    eprintln!(
        "{tokens} tokens for {} prompts in {secs:.2} s: {:.1} tokens/s (batch size {}, {dtype:?}, {}; loading took {load_secs:.2} s)",
        prompts.len(),
        tokens as f64 / secs.max(1e-9),
        args.batch_size,
        args.device,
    );
    Ok(())
}

fn reason(r: &StopReason) -> String {
    match r {
        StopReason::Eos => "eos".into(),
        StopReason::StopString(s) => format!("stop {s:?}"),
        StopReason::MaxTokens => "max tokens".into(),
    }
}

/// The prompts as given; plain ones become user turns later, once the model is known.
fn collect_prompts(args: &GenerateArgs) -> Result<Vec<Prompt>> {
    let mut prompts: Vec<Prompt> = args.prompts.iter().cloned().map(Prompt::Text).collect();
    if let Some(path) = &args.prompts_file {
        prompts.extend(read_jsonl(path)?);
    }
    if prompts.is_empty() {
        bail!("no prompts: give --prompt TEXT or --prompts FILE.jsonl");
    }
    Ok(prompts)
}

fn read_jsonl(path: &Path) -> Result<Vec<Prompt>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut prompts = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", path.display(), n + 1);
        let value: Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not valid JSON", at()))?;
        if let Some(text) = value.get("prompt").and_then(Value::as_str) {
            prompts.push(Prompt::Text(text.to_string()));
        } else if let Some(messages) = value.get("messages") {
            let messages: Vec<Message> =
                serde_json::from_value(messages.clone()).with_context(|| {
                    format!(
                        "{}: \"messages\" must be a list of {{\"role\", \"content\"}} objects",
                        at()
                    )
                })?;
            prompts.push(Prompt::Chat(messages));
        } else {
            bail!(
                "{}: expected {{\"prompt\": \"...\"}} or {{\"messages\": [...]}}",
                at()
            );
        }
    }
    Ok(prompts)
}
