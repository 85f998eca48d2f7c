//! Writes a Llama model folder with seeded random weights, for merge benchmarks:
//! `cargo run --release -p cycleqd-merge --example random_llama -- DIR SEED [SHAPE] [DTYPE]`.
//! SHAPE is `tinyllama-1.1b` (default: 22 layers, hidden 2048, vocab 32000, 1.1B parameters)
//! or `tiny`; DTYPE is bf16 (default), f16 or f32.

use std::path::PathBuf;
use std::process::ExitCode;

use cycleqd_weights::{write_random_llama, DType, LlamaShape};

fn shape(name: &str) -> Option<LlamaShape> {
    match name {
        "tinyllama-1.1b" => Some(LlamaShape {
            vocab_size: 32_000,
            hidden_size: 2048,
            intermediate_size: 5632,
            num_hidden_layers: 22,
            num_attention_heads: 32,
            num_key_value_heads: 4,
            tie_word_embeddings: false,
        }),
        "tiny" => Some(LlamaShape::tiny()),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: random_llama DIR SEED [tinyllama-1.1b|tiny] [bf16|f16|f32]";
    let (Some(dir), Some(seed)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("{usage}");
        return ExitCode::FAILURE;
    };
    let Some(shape) = shape(args.get(2).map_or("tinyllama-1.1b", String::as_str)) else {
        eprintln!("unknown shape; {usage}");
        return ExitCode::FAILURE;
    };
    let dtype: DType = match args.get(3).map_or(Ok(DType::BF16), |d| d.parse()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}; {usage}");
            return ExitCode::FAILURE;
        }
    };
    match write_random_llama(&PathBuf::from(dir), &shape, seed, dtype, 2_000_000_000) {
        Ok(out) => {
            let params: usize = shape.tensors(dtype).iter().map(|m| m.numel()).sum();
            eprintln!("wrote {} ({params} parameters, {dtype})", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
