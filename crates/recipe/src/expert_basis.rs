//! One expert's basis cache entry: building it (the thin SVD of every task-vector matrix,
//! parallel across matrices) and reading it back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cycleqd_weights::{task_vector_tensor, DType, HfModel, ModelWriter, TensorMeta, TensorSource};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::{RecipeError, Result};
use crate::layout::{BasisLayout, LayoutEntry, TensorRole};
use crate::manifest::{BasisManifest, MatrixRecord, MANIFEST_FILE, MANIFEST_FORMAT};
use crate::svd::ThinSvd;
use faer::Par;

/// The stored basis of one matrix: its (possibly truncated) thin SVD and, when truncated, the
/// exact residual `tau - U S Vh`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixBasis {
    /// The kept singular triplets.
    pub svd: ThinSvd,
    /// `tau - U S Vh`, row-major `m x n`, when the basis was truncated.
    pub residual: Option<Vec<f32>>,
}

/// An opened cache entry: one expert's basis, read lazily from memory-mapped safetensors.
#[derive(Debug)]
pub struct ExpertBasis {
    dir: PathBuf,
    manifest: BasisManifest,
    tensors: HfModel,
}

/// What a build needs to know besides the models: where, which layout, and for the manifest.
pub(crate) struct EntryPlan<'a> {
    pub dir: &'a Path,
    pub layout: &'a BasisLayout,
    pub rank_limit: Option<usize>,
    pub base_hash: String,
    pub expert_hash: String,
    pub config: &'a Value,
    pub shard_limit: u64,
}

fn part(name: &str, what: &str) -> String {
    format!("{name}.{what}")
}

impl ExpertBasis {
    /// Opens the entry in `dir` and checks that it holds every tensor of `layout`.
    pub fn open(dir: &Path, layout: &BasisLayout) -> Result<Self> {
        let manifest = BasisManifest::load(dir)?;
        let tensors = HfModel::open(dir)?;
        let basis = Self {
            dir: dir.to_path_buf(),
            manifest,
            tensors,
        };
        for (name, shape) in expected_tensors(layout) {
            let found = basis.tensors.meta(&name).map(|m| &m.shape);
            if found != Some(&shape) {
                return Err(RecipeError::cache(
                    dir,
                    match found {
                        None => format!("tensor `{name}` is missing"),
                        Some(s) => format!("tensor `{name}` has shape {s:?}, expected {shape:?}"),
                    },
                ));
            }
        }
        Ok(basis)
    }

    /// The entry folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its manifest: hashes, rank limit, per-matrix errors.
    pub fn manifest(&self) -> &BasisManifest {
        &self.manifest
    }

    /// The basis of a matrix entry.
    pub fn matrix(&self, entry: &LayoutEntry) -> Result<MatrixBasis> {
        let TensorRole::Matrix { m, n, residual, .. } = entry.role else {
            return Err(RecipeError::Invalid(format!(
                "tensor `{}` is not a matrix",
                entry.name
            )));
        };
        let read = |what| self.tensors.read_f32(&part(&entry.name, what));
        Ok(MatrixBasis {
            svd: ThinSvd {
                m,
                n,
                u: read("U")?,
                s: read("S")?,
                vh: read("Vh")?,
            },
            residual: if residual {
                Some(read("residual")?)
            } else {
                None
            },
        })
    }

    /// The task vector of a tensor that is not a matrix (stored as is).
    pub fn scalar_task_vector(&self, entry: &LayoutEntry) -> Result<Vec<f32>> {
        Ok(self.tensors.read_f32(&part(&entry.name, "tau"))?)
    }

    /// Builds the entry for `expert` over `base` into `plan.dir` (which must not exist),
    /// calling `on_tensor` after each tensor. Matrices are decomposed in parallel, largest
    /// first, each SVD on one thread.
    pub(crate) fn build(
        plan: &EntryPlan<'_>,
        base: &dyn TensorSource,
        expert: &dyn TensorSource,
        on_tensor: &(dyn Fn() + Sync),
    ) -> Result<Self> {
        let start = Instant::now();
        let metas: Vec<TensorMeta> = expected_tensors(plan.layout)
            .into_iter()
            .map(|(name, shape)| TensorMeta {
                name,
                shape,
                dtype: DType::F32,
            })
            .collect();
        let writer = ModelWriter::create(plan.dir, &metas, plan.shard_limit)?;
        let mut order: Vec<&LayoutEntry> = plan.layout.entries.iter().collect();
        order.sort_by_key(|e| std::cmp::Reverse(e.cost()));
        let mut records = order
            .into_iter()
            .par_bridge()
            .map(|entry| {
                let record = build_tensor(entry, base, expert, &writer)?;
                on_tensor();
                Ok(record)
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let position = |name: &str| plan.layout.entries.iter().position(|e| e.name == name);
        records.sort_by_key(|r| position(&r.name));
        let manifest = BasisManifest {
            format: MANIFEST_FORMAT,
            base_hash: plan.base_hash.clone(),
            expert_hash: plan.expert_hash.clone(),
            rank_limit: plan.rank_limit,
            base_source: base.describe(),
            expert_source: expert.describe(),
            build_seconds: start.elapsed().as_secs_f64(),
            matrices: records,
        };
        writer.finish(plan.config, &[(MANIFEST_FILE.into(), manifest.to_json())])?;
        Self::open(plan.dir, plan.layout)
    }
}

/// Every tensor a cache entry for `layout` stores, with its shape.
fn expected_tensors(layout: &BasisLayout) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for e in &layout.entries {
        match e.role {
            TensorRole::Matrix {
                m,
                n,
                rank,
                residual,
            } => {
                out.push((part(&e.name, "U"), vec![m, rank]));
                out.push((part(&e.name, "S"), vec![rank]));
                out.push((part(&e.name, "Vh"), vec![rank, n]));
                if residual {
                    out.push((part(&e.name, "residual"), vec![m, n]));
                }
            }
            TensorRole::Scalar => out.push((part(&e.name, "tau"), e.shape.clone())),
        }
    }
    out
}

/// Decomposes and writes one tensor; returns the matrix record for 2-D tensors.
fn build_tensor(
    entry: &LayoutEntry,
    base: &dyn TensorSource,
    expert: &dyn TensorSource,
    writer: &ModelWriter,
) -> Result<Option<MatrixRecord>> {
    let tau = task_vector_tensor(base, expert, &entry.name)?;
    let TensorRole::Matrix {
        m,
        n,
        rank,
        residual,
    } = entry.role
    else {
        writer.write_f32(&part(&entry.name, "tau"), &tau)?;
        return Ok(None);
    };
    let (mut svd, full_error) = ThinSvd::compute_measured(&entry.name, &tau, m, n, Par::Seq)?;
    let total: f64 = svd.s.iter().map(|s| (*s as f64).powi(2)).sum();
    let dropped: f64 = svd.s[rank..].iter().map(|s| (*s as f64).powi(2)).sum();
    svd.truncate(rank);
    let norm = norm(&tau);
    let rebuild_error = if residual {
        let mut rest = tau.clone();
        svd.add_scaled_product(&vec![-1.0; rank], &mut rest);
        writer.write_f32(&part(&entry.name, "residual"), &rest)?;
        let mut rebuilt = rest;
        svd.add_scaled_product(&vec![1.0; rank], &mut rebuilt);
        let diff: Vec<f32> = rebuilt.iter().zip(&tau).map(|(a, b)| a - b).collect();
        if norm > 0.0 {
            self::norm(&diff) / norm
        } else {
            0.0
        }
    } else {
        full_error
    };
    writer.write_f32(&part(&entry.name, "U"), &svd.u)?;
    writer.write_f32(&part(&entry.name, "S"), &svd.s)?;
    writer.write_f32(&part(&entry.name, "Vh"), &svd.vh)?;
    Ok(Some(MatrixRecord {
        name: entry.name.clone(),
        shape: vec![m, n],
        rank,
        truncation_error: if total > 0.0 {
            (dropped / total).sqrt()
        } else {
            0.0
        },
        rebuild_error,
        norm,
    }))
}

fn norm(x: &[f32]) -> f64 {
    x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt()
}
