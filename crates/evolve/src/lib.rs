//! CycleQD runs end to end over real models and tasks: the run config (`RUN.toml`), the
//! evolve loop (bases, seeding, crossover, mutation, evaluation, archives), the final
//! models, their export and the results report.

pub mod baselines;
pub mod blend;
pub mod breed;
pub mod cycleqd_search;
pub mod error;
pub mod eval_job;
pub mod evolve_run;
pub mod final_models;
pub mod individuals;
mod queued;
pub mod report;
pub mod result_rows;
pub mod run_config;
pub mod run_context;
pub mod run_events;
mod run_files;
pub mod scorer;
pub mod search_config;
pub mod weight_genome;
pub mod weight_search;
pub mod worker;

pub use baselines::{run_merge_baseline, BaselineOutcome, MergeBaseline};
pub use blend::{aggregate_weights, Blend};
pub use error::{EvolveError, Result};
pub use eval_job::{EvalJob, EvalResult, JobModel, JobSite, JobTask};
pub use evolve_run::{load_run_config, resume, start};
pub use final_models::{load_picks, Pick};
pub use report::{ResultRow, RunResults};
pub use run_config::{MutationKind, RunConfig};
pub use run_context::RunContext;
pub use run_events::{EventSink, EvolveEvent, GenerationReport, SearchReport};
pub use scorer::{EngineSpec, Scorer, Split, TaskScorer, Ticket};
pub use search_config::{SamplerKind, SearchConfig, SearchMethod};
pub use worker::{JobError, Worker, WorkerSetup};
