//! Genomes: how an archive describes a child. Recipe children carry their coefficients;
//! children of Gaussian or `svd_child` mutation (or of parents that are not recipes) carry
//! their lineage: parents' ids, crossover weights and the mutation with its seed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::draws::CrossoverWeights;
use crate::error::{RecipeError, Result};
use crate::recipe::Recipe;

/// A child's description: enough to rebuild its weights exactly from the base, the expert
/// bases and (for lineage children) its ancestors' genomes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Genome {
    /// Coefficients over the expert bases.
    Recipe {
        /// The coefficients.
        recipe: Recipe,
    },
    /// Crossover of two earlier individuals, then a mutation applied to weights.
    Lineage(Lineage),
}

/// How a lineage child was made from its parents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The parents' ids (the same id twice for a crossover of an elite with itself).
    pub parents: [u64; 2],
    /// The crossover weights.
    pub weights: CrossoverWeights,
    /// The mutation applied after crossover.
    pub mutation: WeightMutation,
}

/// A mutation applied to weights, with what it needs to be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WeightMutation {
    /// No mutation.
    None,
    /// `svd_expert` along expert `expert`'s basis (used when a parent is not a recipe).
    SvdExpert {
        /// The quality task's expert index.
        expert: usize,
        /// Seed of the per-tensor draws.
        seed: u64,
        /// Upper bound of the draws.
        rate: f32,
    },
    /// `svd_child`: the child's own singular values grown by up to `rate`.
    SvdChild {
        /// Seed of the per-tensor draws.
        seed: u64,
        /// Upper bound of the draws.
        rate: f32,
    },
    /// `theta += Normal(0, std)` elementwise.
    Gaussian {
        /// Seed of the per-tensor noise.
        seed: u64,
        /// Standard deviation.
        std: f32,
    },
}

/// Genomes of earlier individuals by id: what lineage children are resolved against.
pub type Ancestors = BTreeMap<u64, Genome>;

/// A genome with the ancestors it needs: the file `cycleqd materialize` reads (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenomeFile {
    /// The individual to materialize.
    pub genome: Genome,
    /// Every lineage ancestor, by id (empty for a recipe).
    #[serde(default)]
    pub ancestors: Ancestors,
}

impl From<Recipe> for Genome {
    fn from(recipe: Recipe) -> Self {
        Self::Recipe { recipe }
    }
}

/// The order in which a lineage child's ancestors are rebuilt, tensor by tensor: parents
/// before children, each value dropped after its last use.
#[derive(Debug)]
pub(crate) struct LineagePlan<'a> {
    /// Ancestors in dependency order, with how many times each is read.
    pub steps: Vec<(u64, &'a Genome, usize)>,
}

impl<'a> LineagePlan<'a> {
    /// Resolves every ancestor of `lineage`; fails naming a missing id or a cycle.
    pub fn new(lineage: &'a Lineage, ancestors: &'a Ancestors) -> Result<Self> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        let mut uses: BTreeMap<u64, usize> = BTreeMap::new();
        for p in lineage.parents {
            *uses.entry(p).or_default() += 1;
        }
        // Iterative depth-first post-order: (id, parents pushed yet).
        let mut stack: Vec<(u64, bool)> =
            lineage.parents.iter().rev().map(|p| (*p, false)).collect();
        let mut on_path = BTreeSet::new();
        while let Some((id, expanded)) = stack.pop() {
            if done.contains(&id) {
                continue;
            }
            let genome = ancestors.get(&id).ok_or_else(|| {
                RecipeError::Genome(format!("ancestor {id} is not among the ancestors given"))
            })?;
            if expanded {
                on_path.remove(&id);
                done.insert(id);
                order.push((id, genome));
                continue;
            }
            if !on_path.insert(id) {
                return Err(RecipeError::Genome(format!(
                    "the lineage of ancestor {id} leads back to itself"
                )));
            }
            stack.push((id, true));
            if let Genome::Lineage(l) = genome {
                stack.extend(l.parents.iter().rev().map(|p| (*p, false)));
            }
        }
        for (_, genome) in &order {
            if let Genome::Lineage(l) = genome {
                for p in l.parents {
                    *uses.entry(p).or_default() += 1;
                }
            }
        }
        let steps = order
            .into_iter()
            .map(|(id, g)| (id, g, uses.get(&id).copied().unwrap_or(0)))
            .collect();
        Ok(Self { steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContentHash;

    fn lineage(p1: u64, p2: u64) -> Genome {
        Genome::Lineage(Lineage {
            parents: [p1, p2],
            weights: CrossoverWeights { w1: 1.0, w2: 1.0 },
            mutation: WeightMutation::Gaussian { seed: 1, std: 3e-4 },
        })
    }

    fn leaf() -> Genome {
        Genome::Recipe {
            recipe: Recipe {
                basis: ContentHash([0; 32]),
                experts: vec![],
            },
        }
    }

    #[test]
    fn plan_orders_parents_first_and_counts_uses() {
        let ancestors: Ancestors = [
            (0, leaf()),
            (1, leaf()),
            (2, lineage(0, 1)),
            (3, lineage(2, 0)),
        ]
        .into_iter()
        .collect();
        let Genome::Lineage(target) = lineage(3, 2) else {
            unreachable!()
        };
        let plan = LineagePlan::new(&target, &ancestors).unwrap();
        let ids: Vec<u64> = plan.steps.iter().map(|s| s.0).collect();
        let pos = |id| ids.iter().position(|x| *x == id).unwrap();
        assert_eq!(ids.len(), 4);
        assert!(pos(0) < pos(2) && pos(1) < pos(2) && pos(2) < pos(3));
        let uses: BTreeMap<u64, usize> = plan.steps.iter().map(|s| (s.0, s.2)).collect();
        assert_eq!(uses, [(0, 2), (1, 1), (2, 2), (3, 1)].into_iter().collect());
    }

    #[test]
    fn missing_ancestors_and_cycles_are_errors() {
        let Genome::Lineage(target) = lineage(5, 5) else {
            unreachable!()
        };
        let err = LineagePlan::new(&target, &Ancestors::new()).unwrap_err();
        assert!(err.to_string().contains("ancestor 5"), "{err}");
        let cyclic: Ancestors = [(1, lineage(2, 2)), (2, lineage(1, 1))]
            .into_iter()
            .collect();
        let Genome::Lineage(target) = lineage(1, 1) else {
            unreachable!()
        };
        let err = LineagePlan::new(&target, &cyclic).unwrap_err();
        assert!(err.to_string().contains("leads back"), "{err}");
    }

    #[test]
    fn genome_files_round_trip_through_json() {
        let file = GenomeFile {
            genome: lineage(0, 1),
            ancestors: [(0, leaf()), (1, leaf())].into_iter().collect(),
        };
        let json = serde_json::to_string_pretty(&file).unwrap();
        assert_eq!(serde_json::from_str::<GenomeFile>(&json).unwrap(), file);
    }
}
