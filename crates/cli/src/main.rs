//! The `cycleqd` command line: evolve one LLM with many skills from a base and its experts.

mod convert_cmd;
mod inspect_cmd;
mod model_input;
mod progress;

use clap::{Parser, Subcommand};

/// Evolve one LLM with many skills out of a base model and its expert fine-tunes (CycleQD).
#[derive(Parser)]
#[command(name = "cycleqd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a GGUF file or a Hugging Face folder into a Hugging Face folder.
    Convert(convert_cmd::ConvertArgs),
    /// Show a model's architecture, parameter count, tensors and size on disk.
    Inspect(inspect_cmd::InspectArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => convert_cmd::run(args),
        Command::Inspect(args) => inspect_cmd::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
