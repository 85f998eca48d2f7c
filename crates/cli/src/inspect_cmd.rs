//! `cycleqd inspect MODEL`: architecture, parameter count, tensors and size on disk.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use cycleqd_weights::{ByteSize, ModelInput};
use serde_json::{json, Value};

/// Arguments of `cycleqd inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// A Hugging Face model folder, a GGUF file, or a PEFT LoRA adapter folder.
    model: PathBuf,
    /// The base model a PEFT adapter folder given as MODEL is applied to (default: the
    /// adapter's `base_model_name_or_path`, when that is a local folder).
    #[arg(long)]
    base: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Leave out the tensor list.
    #[arg(long)]
    summary: bool,
}

/// Prints the report.
pub fn run(args: InspectArgs) -> Result<()> {
    let input = ModelInput::open_with_base(&args.model, args.base.as_deref())?;
    let report = report(&input, &args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn report(input: &ModelInput, args: &InspectArgs) -> Result<Value> {
    let config = input.config_json();
    let source = input.source();
    let mut size = 0u64;
    let files = input.files();
    for f in &files {
        size += std::fs::metadata(f)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
            .len();
    }
    let mut dtypes: BTreeMap<String, usize> = BTreeMap::new();
    for m in source.metas() {
        *dtypes.entry(m.dtype.to_string()).or_default() += 1;
    }
    let get = |k: &str| config.get(k).cloned().unwrap_or(Value::Null);
    let mut report = json!({
        "model": args.model.display().to_string(),
        "format": input.kind(),
        "architecture": config.pointer("/architectures/0").cloned().unwrap_or(Value::Null),
        "model_type": get("model_type"),
        "num_hidden_layers": get("num_hidden_layers"),
        "hidden_size": get("hidden_size"),
        "intermediate_size": get("intermediate_size"),
        "num_attention_heads": get("num_attention_heads"),
        "num_key_value_heads": get("num_key_value_heads"),
        "vocab_size": get("vocab_size"),
        "tie_word_embeddings": get("tie_word_embeddings"),
        "parameters": source.parameter_count(),
        "tensor_count": source.metas().len(),
        "dtypes": dtypes,
        "files": files.len(),
        "size_on_disk_bytes": size,
    });
    if !args.summary {
        report["tensors"] = source
            .metas()
            .iter()
            .map(|m| json!({"name": m.name, "shape": m.shape, "dtype": m.dtype.to_string()}))
            .collect();
    }
    Ok(report)
}

fn render(r: &Value) -> String {
    let s = |k: &str| match &r[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    let params = r["parameters"].as_u64().unwrap_or(0);
    let mut out = format!(
        "model         {}\nformat        {}\narchitecture  {} ({})\nlayers        {}\nhidden        {} (intermediate {})\nheads         {} (key/value {})\nvocab         {}\ntied embed.   {}\nparameters    {} ({:.1}M)\ntensors       {}\ndtypes        {}\non disk       {} in {} files\n",
        s("model"),
        s("format"),
        s("architecture"),
        s("model_type"),
        s("num_hidden_layers"),
        s("hidden_size"),
        s("intermediate_size"),
        s("num_attention_heads"),
        s("num_key_value_heads"),
        s("vocab_size"),
        s("tie_word_embeddings"),
        params,
        params as f64 / 1e6,
        s("tensor_count"),
        r["dtypes"]
            .as_object()
            .map(|o| o
                .iter()
                .map(|(k, v)| format!("{k} x {v}"))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        ByteSize(r["size_on_disk_bytes"].as_u64().unwrap_or(0)),
        s("files"),
    );
    if let Some(tensors) = r["tensors"].as_array() {
        let width = tensors
            .iter()
            .filter_map(|t| t["name"].as_str())
            .map(str::len)
            .max()
            .unwrap_or(0);
        out.push('\n');
        for t in tensors {
            out.push_str(&format!(
                "{:width$}  {:>16}  {}\n",
                t["name"].as_str().unwrap_or(""),
                t["shape"].to_string(),
                t["dtype"].as_str().unwrap_or("")
            ));
        }
    }
    out
}
