//! Materialization: the weights of a genome, tensor by tensor, in f32, in parallel over
//! tensors; into memory (for evaluation) or into a Hugging Face folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cycleqd_weights::{DType, ModelWriter, Tensor, TensorSource};
use rayon::prelude::*;
use serde_json::Value;

use crate::basis_set::BasisSet;
use crate::error::{RecipeError, Result};
use crate::genome::{Ancestors, Genome, Lineage, LineagePlan, WeightMutation};
use crate::layout::{LayoutEntry, TensorRole};
use crate::recipe::Recipe;
use crate::weight_ops::{crossover_tau, mutate_gaussian, mutate_svd_child, mutate_svd_expert};

/// Rebuilds children over one base and its experts' bases.
pub struct Materializer<'a> {
    base: &'a dyn TensorSource,
    basis: &'a BasisSet,
}

/// A genome checked against the bases, with its lineage resolved: ready to be rebuilt.
enum Plan<'g> {
    Recipe(&'g Recipe),
    Lineage(&'g Lineage, LineagePlan<'g>),
}

impl<'a> Materializer<'a> {
    /// A materializer over `base` (the model `basis` was built over).
    pub fn new(base: &'a dyn TensorSource, basis: &'a BasisSet) -> Self {
        Self { base, basis }
    }

    /// The task vector of `recipe` for tensor `index` of the layout: per matrix
    /// `sum_k U_k diag(c_k S_k) Vh_k + sum_k rho_k R_k`, otherwise `sum_k a_k tau(E_k)`.
    /// Experts whose coefficients are all zero are not read.
    pub fn recipe_task_vector(&self, recipe: &Recipe, index: usize) -> Result<Vec<f32>> {
        let entry = self.entry(index)?;
        let numel = entry.shape.iter().product();
        let mut tau = vec![0f32; numel];
        for (k, expert) in self.basis.experts().iter().enumerate() {
            let c = &recipe.experts[k][index];
            match entry.role {
                TensorRole::Matrix { rank, .. } => {
                    let directions = c.directions.to_vec(rank);
                    let residual_used = self.has_residual(entry) && c.scalar != 0.0;
                    if directions.iter().all(|d| *d == 0.0) && !residual_used {
                        continue;
                    }
                    let basis = expert.matrix(entry)?;
                    basis.svd.add_scaled_product(&directions, &mut tau);
                    if let (Some(r), true) = (&basis.residual, residual_used) {
                        add_scaled(&mut tau, r, c.scalar);
                    }
                }
                TensorRole::Scalar => {
                    if c.scalar != 0.0 {
                        add_scaled(&mut tau, &expert.scalar_task_vector(entry)?, c.scalar);
                    }
                }
            }
        }
        Ok(tau)
    }

    /// The task vector of any genome for tensor `index`; lineage children are rebuilt from
    /// their ancestors in `ancestors`, tensor by tensor.
    pub fn task_vector(
        &self,
        genome: &Genome,
        ancestors: &Ancestors,
        index: usize,
    ) -> Result<Vec<f32>> {
        let plan = self.plan(genome, ancestors)?;
        self.planned_task_vector(&plan, index)
    }

    /// All weights of `genome` (base + task vector), in memory, computed in parallel.
    pub fn materialize(
        &self,
        genome: &Genome,
        ancestors: &Ancestors,
    ) -> Result<BTreeMap<String, Tensor>> {
        let plan = self.plan(genome, ancestors)?;
        self.largest_first()
            .par_bridge()
            .map(|index| {
                let entry = &self.basis.layout().entries[index];
                let data = self.weights(&plan, index)?;
                Ok((
                    entry.name.clone(),
                    Tensor {
                        shape: entry.shape.clone(),
                        data,
                    },
                ))
            })
            .collect()
    }

    /// Writes `genome` as a Hugging Face folder in `out` with `config` and `companions`,
    /// each tensor in `dtype` (default: the base's dtype), calling `on_tensor` after each.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        genome: &Genome,
        ancestors: &Ancestors,
        out: &Path,
        config: &Value,
        companions: &[(String, Vec<u8>)],
        dtype: Option<DType>,
        shard_limit: u64,
        on_tensor: &(dyn Fn(&str) + Sync),
    ) -> Result<PathBuf> {
        let plan = self.plan(genome, ancestors)?;
        let writer = ModelWriter::create(out, &self.base.metas_as(dtype), shard_limit)?;
        self.largest_first().par_bridge().try_for_each(|index| {
            let name = &self.basis.layout().entries[index].name;
            writer.write_f32(name, &self.weights(&plan, index)?)?;
            on_tensor(name);
            Ok::<_, RecipeError>(())
        })?;
        Ok(writer.finish(config, companions)?)
    }

    fn plan<'g>(&self, genome: &'g Genome, ancestors: &'g Ancestors) -> Result<Plan<'g>> {
        let check = |recipe: &Recipe| recipe.check_basis(self.basis);
        match genome {
            Genome::Recipe { recipe } => {
                check(recipe)?;
                Ok(Plan::Recipe(recipe))
            }
            Genome::Lineage(lineage) => {
                let plan = LineagePlan::new(lineage, ancestors)?;
                for (id, genome, _) in &plan.steps {
                    match genome {
                        Genome::Recipe { recipe } => check(recipe)
                            .map_err(|e| RecipeError::Genome(format!("ancestor {id}: {e}")))?,
                        Genome::Lineage(l) => self.check_mutation(&l.mutation)?,
                    }
                }
                self.check_mutation(&lineage.mutation)?;
                Ok(Plan::Lineage(lineage, plan))
            }
        }
    }

    fn check_mutation(&self, mutation: &WeightMutation) -> Result<()> {
        match mutation {
            WeightMutation::SvdExpert { expert, .. } if *expert >= self.basis.experts().len() => {
                Err(RecipeError::Genome(format!(
                    "svd_expert mutation along expert {expert}, but the basis has {}",
                    self.basis.experts().len()
                )))
            }
            _ => Ok(()),
        }
    }

    fn weights(&self, plan: &Plan<'_>, index: usize) -> Result<Vec<f32>> {
        let mut theta = self.planned_task_vector(plan, index)?;
        let base = self
            .base
            .read_f32(&self.basis.layout().entries[index].name)?;
        theta.iter_mut().zip(&base).for_each(|(t, b)| *t += b);
        Ok(theta)
    }

    fn planned_task_vector(&self, plan: &Plan<'_>, index: usize) -> Result<Vec<f32>> {
        let (target, steps) = match plan {
            Plan::Recipe(recipe) => return self.recipe_task_vector(recipe, index),
            Plan::Lineage(target, lineage) => (target, &lineage.steps),
        };
        let mut values: HashMap<u64, (Vec<f32>, usize)> = HashMap::new();
        let take = |values: &mut HashMap<u64, (Vec<f32>, usize)>, id: u64| -> Vec<f32> {
            let slot = values.get_mut(&id).expect("planned: parents come first");
            slot.1 -= 1;
            if slot.1 == 0 {
                values.remove(&id).expect("present").0
            } else {
                slot.0.clone()
            }
        };
        for (id, genome, uses) in steps {
            let tau = match genome {
                Genome::Recipe { recipe } => self.recipe_task_vector(recipe, index)?,
                Genome::Lineage(l) => {
                    let a = take(&mut values, l.parents[0]);
                    let b = take(&mut values, l.parents[1]);
                    self.child(l, &a, &b, index)?
                }
            };
            values.insert(*id, (tau, *uses));
        }
        let a = take(&mut values, target.parents[0]);
        let b = take(&mut values, target.parents[1]);
        self.child(target, &a, &b, index)
    }

    /// Crossover of the parents' task vectors, then the lineage's mutation.
    fn child(&self, lineage: &Lineage, a: &[f32], b: &[f32], index: usize) -> Result<Vec<f32>> {
        let entry = self.entry(index)?;
        let mut tau = crossover_tau(&[a, b], &lineage.weights.as_array())?;
        match (lineage.mutation, &entry.role) {
            (WeightMutation::None, _) => {}
            (WeightMutation::Gaussian { seed, std }, _) => {
                mutate_gaussian(&entry.name, &mut tau, seed, std)?
            }
            (WeightMutation::SvdExpert { expert, seed, rate }, TensorRole::Matrix { .. }) => {
                let basis = self.basis.experts()[expert].matrix(entry)?;
                mutate_svd_expert(&entry.name, &mut tau, &basis, seed, rate)?;
            }
            (WeightMutation::SvdChild { seed, rate }, TensorRole::Matrix { m, n, .. }) => {
                mutate_svd_child(&entry.name, &mut tau, *m, *n, seed, rate)?
            }
            (
                WeightMutation::SvdExpert { .. } | WeightMutation::SvdChild { .. },
                TensorRole::Scalar,
            ) => {}
        }
        Ok(tau)
    }

    fn entry(&self, index: usize) -> Result<&LayoutEntry> {
        self.basis.layout().entries.get(index).ok_or_else(|| {
            RecipeError::Invalid(format!(
                "tensor index {index} is out of range: the model has {} tensors",
                self.basis.layout().entries.len()
            ))
        })
    }

    fn has_residual(&self, entry: &LayoutEntry) -> bool {
        matches!(entry.role, TensorRole::Matrix { residual: true, .. })
    }

    /// Layout indices, most expensive tensor first, so that parallel work ends together.
    fn largest_first(&self) -> std::vec::IntoIter<usize> {
        let entries = &self.basis.layout().entries;
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(entries[*i].cost()));
        order.into_iter()
    }
}

fn add_scaled(out: &mut [f32], x: &[f32], c: f32) {
    out.iter_mut().zip(x).for_each(|(o, x)| *o += c * x);
}
