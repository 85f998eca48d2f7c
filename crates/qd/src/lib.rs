//! CycleQD's quality-diversity core: archives, parent sampling, the cycle scheduler and
//! run state. Pure Rust with no ML dependency: genomes are the caller's opaque recipes.
//!
//! - [`BcAxis`] and [`CellMapping`] bin scores into cells exactly as the spec's numpy
//!   rule does; [`Archive`] keeps one elite per cell for one quality task.
//! - [`ParentSampler`] draws two parents uniformly or by the paper's elite sampling.
//! - [`Cycle`] is the loop as an ask/tell engine with W evaluations in flight.
//! - [`Run`] adds the run directory: journal, snapshots and exact resume.
//! - [`stats`] and [`plot`] report per-archive statistics as CSV and PNG.

pub mod archive;
pub mod axis;
pub mod cell;
pub mod config;
pub mod error;
pub mod individual;
pub mod journal;
pub mod jsonl;
pub mod plot;
pub mod run;
pub mod sampler;
pub mod scheduler;
pub mod snapshot;
pub mod stats;
pub mod stream;

pub use archive::{Archive, Elite, Insertion};
pub use axis::{BcAxis, PAPER_BINS};
pub use cell::{CellIndex, CellMapping};
pub use config::{CycleConfig, QualityMode};
pub use cycleqd_atomic_write::Durability;
pub use error::QdError;
pub use individual::{Individual, IndividualId, Seed};
pub use run::{ResumeReport, Run, RunOptions};
pub use sampler::ParentSampler;
pub use scheduler::{Ask, Cycle, Inserted, Job};
pub use stats::{ArchiveStats, GenerationStats};
