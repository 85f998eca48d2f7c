//! Model merging for CycleQD: every merge method of mergekit 0.1.5 (linear, task arithmetic,
//! TIES, DARE, breadcrumbs, DELLA, SCE, SLERP, NuSLERP, Multi-SLERP, Karcher, model stock,
//! NearSwap, Arcee Fusion, RAM, RAM+, passthrough with layer-range slices) with mergekit's
//! semantics, and CycleQD's crossover.
//!
//! Three layers, usable separately:
//! - [`methods`]: one tensor at a time, in memory: [`MergeMethod::merge`] takes the base's and
//!   the models' values as f32 slices and per-model [`ModelParams`]; the crossover is also
//!   available as plain functions ([`crossover_tensor`], [`draw_crossover_weights`]).
//! - [`config`] and [`plan`]: a mergekit-style YAML config, checked up front, resolved into one
//!   task per tensor (filters, gradients over layers, defaults).
//! - [`stream`] and [`MergeJob`]: whole models streamed tensor by tensor, in parallel, with
//!   bounded memory, into an atomically written Hugging Face folder.

pub mod compat;
pub mod config;
mod convert;
mod error;
mod job;
mod memory_gate;
pub mod methods;
pub mod plan;
mod seeding;
mod shard_reader;
pub mod stream;

pub use config::{MergeConfig, ModelRef};
pub use error::{MergeError, Result};
pub use job::MergeJob;
pub use methods::{
    crossover_tensor, draw_crossover_weights, MergeMethod, MethodSpec, ModelParams, TensorInputs,
};
pub use plan::{MergePlan, TensorTask};
pub use seeding::tensor_rng;
pub use stream::{merge_to_folder, StreamOptions};
