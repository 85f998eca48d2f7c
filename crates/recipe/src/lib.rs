//! Expert SVD bases, CycleQD crossover and mutation on recipes and on weights, and
//! materialization of children.
//!
//! The spec's identity drives the design: every child reachable by crossover and `svd_expert`
//! mutation has, per 2-D tensor, `tau = sum_k U_k diag(c_k * S_k) Vh_k` over the thin SVDs of
//! the experts' task vectors, and per other tensor `tau = sum_k a_k tau(E_k)`. So a child is a
//! [`Recipe`] of coefficients, a few hundred kilobytes instead of a model, and
//! [`Materializer`] rebuilds its weights from the base and the cached [`BasisSet`].
//! Gaussian and `svd_child` children are [`Genome::Lineage`]: parents, weights and a seed.

mod basis_set;
#[cfg(feature = "cuda")]
mod cuda_svd;
mod draws;
mod error;
mod expert_basis;
mod genome;
mod layout;
mod manifest;
mod materialize;
mod perturbed;
mod recipe;
mod recipe_codec;
mod similarity;
mod svd;
mod weight_ops;

pub use basis_set::{entry_key, BasisEvent, BasisOptions, BasisSet};
#[cfg(feature = "cuda")]
pub use cuda_svd::GpuSvd;
pub use cycleqd_weights::ContentHash;
pub use draws::{draw_crossover_weights, weighted_mean, CrossoverWeights};
pub use error::{RecipeError, Result};
pub use expert_basis::{ExpertBasis, MatrixBasis};
pub use faer::Par;
pub use genome::{Ancestors, Genome, GenomeFile, Lineage, WeightMutation};
pub use layout::{BasisLayout, LayoutEntry, TensorRole};
pub use manifest::{BasisManifest, MatrixRecord, MANIFEST_FILE, MANIFEST_FORMAT};
pub use materialize::Materializer;
pub use perturbed::{write_perturbed_expert, Perturbation};
pub use recipe::{Coefficients, Directions, Recipe};
pub use recipe_codec::RECIPE_MAGIC;
pub use similarity::{task_vector_similarity, MatrixSimilarity, Similarity, TaskVectorGeometry};
pub use svd::{Precision, ThinSvd, F32_TOLERANCE};
pub use weight_ops::{crossover_tau, mutate_gaussian, mutate_svd_child, mutate_svd_expert};
