//! Recipes: a child as per-expert coefficients over the expert bases. Per matrix,
//! `tau = sum_k U_k diag(c_k * S_k) Vh_k (+ sum_k rho_k R_k when truncated)`; per other tensor,
//! `tau = sum_k a_k tau(E_k)`. Crossover and `svd_expert` mutation act on the coefficients.

use crate::basis_set::BasisSet;
use crate::draws::{check_rate, uniform_draws, CrossoverWeights, Stream};
use crate::error::{RecipeError, Result};
use crate::layout::{BasisLayout, TensorRole};
use crate::ContentHash;

/// Coefficients of the singular directions of one expert's matrix.
#[derive(Clone, Debug, PartialEq)]
pub enum Directions {
    /// The tensor is not a matrix: no directions.
    None,
    /// The same coefficient for every direction (experts and unmutated crossovers).
    Uniform(f32),
    /// One coefficient per direction.
    Dense(Vec<f32>),
}

impl Directions {
    /// The coefficient of direction `i`.
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Self::None => 0.0,
            Self::Uniform(c) => *c,
            Self::Dense(c) => c[i],
        }
    }

    /// All `rank` coefficients.
    pub fn to_vec(&self, rank: usize) -> Vec<f32> {
        (0..rank).map(|i| self.get(i)).collect()
    }
}

/// What one expert contributes to one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Coefficients {
    /// For a matrix: the coefficient of the truncation residual (unused when the basis is the
    /// full SVD). For any other tensor: the coefficient `a_k` of the expert's task vector.
    pub scalar: f32,
    /// For a matrix: the coefficient of each kept singular direction.
    pub directions: Directions,
}

/// A child described by coefficients over the experts' bases: `experts[k][t]` is expert k's
/// contribution to tensor t of the basis layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// The [`BasisSet::fingerprint`] of the bases the coefficients refer to.
    pub basis: ContentHash,
    /// Per expert, per layout entry.
    pub experts: Vec<Vec<Coefficients>>,
}

impl Recipe {
    /// Expert `k` itself: all its coefficients 1, every other expert's 0.
    pub fn expert(basis: &BasisSet, k: usize) -> Result<Self> {
        let count = basis.experts().len();
        if k >= count {
            return Err(RecipeError::Invalid(format!(
                "expert index {k} is out of range: the basis has {count} experts"
            )));
        }
        Ok(Self::weighted(basis, |e, _| if e == k { 1.0 } else { 0.0 }))
    }

    /// Task arithmetic: `tau = sum_k w(k, t) tau(E_k)` per layout entry t, every
    /// coefficient of expert k on tensor t equal to `weight(k, t)` (the merge-weight
    /// searches' children; all weights 0 is the base itself).
    pub fn weighted(basis: &BasisSet, weight: impl Fn(usize, usize) -> f32) -> Self {
        let layout = basis.layout();
        let experts = (0..basis.experts().len())
            .map(|k| {
                layout
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(t, entry)| {
                        let c = weight(k, t);
                        Coefficients {
                            scalar: c,
                            directions: match entry.role {
                                TensorRole::Matrix { .. } => Directions::Uniform(c),
                                TensorRole::Scalar => Directions::None,
                            },
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            basis: basis.fingerprint(),
            experts,
        }
    }

    /// The CycleQD crossover in recipe space: every coefficient becomes
    /// `(w1 c(p1) + w2 c(p2)) / (w1 + w2)`, the spec's merge of task vectors.
    pub fn crossover(p1: &Self, p2: &Self, w: CrossoverWeights) -> Result<Self> {
        if p1.basis != p2.basis || p1.experts.len() != p2.experts.len() {
            return Err(RecipeError::Recipe(
                "crossover of recipes made over different bases".into(),
            ));
        }
        let experts = p1
            .experts
            .iter()
            .zip(&p2.experts)
            .map(|(a, b)| {
                if a.len() != b.len() {
                    return Err(RecipeError::Recipe(
                        "crossover of recipes with different tensor counts".into(),
                    ));
                }
                a.iter().zip(b).map(|(a, b)| mix(a, b, w)).collect()
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            basis: p1.basis,
            experts,
        })
    }

    /// The `svd_expert` mutation in recipe space for quality task (expert) `q`: for every
    /// matrix, `c_q += r` with `r ~ Uniform[0, rate)^rank` drawn from `(seed, tensor name)`.
    /// The same draws as [`crate::mutate_svd_expert`] on weights.
    pub fn mutate_svd_expert(
        &mut self,
        layout: &BasisLayout,
        q: usize,
        seed: u64,
        rate: f32,
    ) -> Result<()> {
        check_rate("svd_expert rate", rate)?;
        self.check_layout(layout)?;
        let coefficients = self.experts.get_mut(q).ok_or_else(|| {
            RecipeError::Invalid(format!("quality task {q} has no expert in the basis"))
        })?;
        for (entry, c) in layout.entries.iter().zip(coefficients) {
            if let TensorRole::Matrix { rank, .. } = entry.role {
                let r = uniform_draws(seed, &entry.name, Stream::SvdExpert, rank, rate);
                let mut dense = c.directions.to_vec(rank);
                dense.iter_mut().zip(&r).for_each(|(c, r)| *c += r);
                c.directions = Directions::Dense(dense);
            }
        }
        Ok(())
    }

    /// Checks that the recipe fits `layout`: one coefficient set per tensor, directions of
    /// the right length for matrices and none for the rest.
    pub fn check_layout(&self, layout: &BasisLayout) -> Result<()> {
        for (k, coefficients) in self.experts.iter().enumerate() {
            if coefficients.len() != layout.entries.len() {
                return Err(RecipeError::Recipe(format!(
                    "expert {k} has coefficients for {} tensors, the basis has {}",
                    coefficients.len(),
                    layout.entries.len()
                )));
            }
            for (entry, c) in layout.entries.iter().zip(coefficients) {
                let fits = match (&entry.role, &c.directions) {
                    (TensorRole::Matrix { rank, .. }, Directions::Dense(v)) => v.len() == *rank,
                    (TensorRole::Matrix { .. }, Directions::Uniform(_)) => true,
                    (TensorRole::Scalar, Directions::None) => true,
                    _ => false,
                };
                if !fits {
                    return Err(RecipeError::Recipe(format!(
                        "expert {k}, tensor `{}`: coefficients do not fit its role {:?}",
                        entry.name, entry.role
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that the recipe was made over `basis` and fits its layout.
    pub fn check_basis(&self, basis: &BasisSet) -> Result<()> {
        if self.basis != basis.fingerprint() {
            return Err(RecipeError::Recipe(format!(
                "made over basis set {}, but the bases given are {} (another base, other experts, \
                 another order or another rank limit)",
                self.basis.hex(),
                basis.fingerprint().hex()
            )));
        }
        if self.experts.len() != basis.experts().len() {
            return Err(RecipeError::Recipe(format!(
                "has {} experts, the basis {}",
                self.experts.len(),
                basis.experts().len()
            )));
        }
        self.check_layout(basis.layout())
    }
}

fn mix(a: &Coefficients, b: &Coefficients, w: CrossoverWeights) -> Result<Coefficients> {
    let directions = match (&a.directions, &b.directions) {
        (Directions::None, Directions::None) => Directions::None,
        (Directions::Uniform(x), Directions::Uniform(y)) => Directions::Uniform(w.mix(*x, *y)),
        (Directions::None, _) | (_, Directions::None) => {
            return Err(RecipeError::Recipe(
                "crossover of a matrix's coefficients with a scalar's".into(),
            ))
        }
        (Directions::Dense(u), Directions::Dense(v)) if u.len() != v.len() => {
            return Err(RecipeError::Recipe(
                "crossover of coefficient vectors of different ranks".into(),
            ))
        }
        (x @ Directions::Dense(v), y) | (x, y @ Directions::Dense(v)) => {
            Directions::Dense((0..v.len()).map(|i| w.mix(x.get(i), y.get(i))).collect())
        }
    };
    Ok(Coefficients {
        scalar: w.mix(a.scalar, b.scalar),
        directions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(directions: Vec<Directions>) -> Recipe {
        Recipe {
            basis: ContentHash([1; 32]),
            experts: vec![directions
                .into_iter()
                .map(|directions| Coefficients {
                    scalar: 1.0,
                    directions,
                })
                .collect()],
        }
    }

    #[test]
    fn crossover_mixes_uniform_and_dense_coefficients() {
        let w = CrossoverWeights { w1: 1.0, w2: 3.0 };
        let a = recipe(vec![
            Directions::Uniform(4.0),
            Directions::Dense(vec![0.0, 4.0]),
            Directions::None,
        ]);
        let b = recipe(vec![
            Directions::Uniform(8.0),
            Directions::Uniform(4.0),
            Directions::None,
        ]);
        let c = Recipe::crossover(&a, &b, w).unwrap();
        assert_eq!(c.experts[0][0].directions, Directions::Uniform(7.0));
        assert_eq!(
            c.experts[0][1].directions,
            Directions::Dense(vec![3.0, 4.0])
        );
        assert_eq!(c.experts[0][2].directions, Directions::None);
        assert_eq!(c.experts[0][0].scalar, 1.0);
    }

    #[test]
    fn crossover_refuses_mismatched_coefficients() {
        let w = CrossoverWeights { w1: 1.0, w2: 1.0 };
        let dense = |n| recipe(vec![Directions::Dense(vec![0.0; n])]);
        assert!(Recipe::crossover(&dense(2), &dense(3), w).is_err());
        assert!(Recipe::crossover(&dense(2), &recipe(vec![Directions::None]), w).is_err());
        let mut other = dense(2);
        other.basis = ContentHash([2; 32]);
        assert!(Recipe::crossover(&dense(2), &other, w).is_err());
    }
}
