//! Which tensors of a model enter recipes how: 2-D tensors through SVD coefficient vectors, the
//! rest through one scalar per expert.

use cycleqd_weights::TensorMeta;

/// How one tensor is described in recipes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TensorRole {
    /// A 2-D tensor, `m x n`: per expert a coefficient for each of its `rank` singular
    /// directions, and one for the residual when `residual` (the basis was truncated).
    Matrix {
        /// Rows.
        m: usize,
        /// Columns.
        n: usize,
        /// Singular triplets kept: `min(m, n)`, or the truncation rank when smaller.
        rank: usize,
        /// Whether the exact truncation residual is stored (`rank < min(m, n)`).
        residual: bool,
    },
    /// Any other tensor (norms, biases): per expert one scalar on its task vector.
    Scalar,
}

/// One tensor of the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutEntry {
    /// Tensor name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How recipes describe it.
    pub role: TensorRole,
}

/// The recipe layout of a model: every tensor, in the model's order, with its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasisLayout {
    /// The tensors.
    pub entries: Vec<LayoutEntry>,
}

impl BasisLayout {
    /// The layout of a model with these tensors, keeping at most `rank_limit` singular triplets
    /// per matrix (`None`: all of them, the exact thin SVD).
    pub fn new(metas: &[TensorMeta], rank_limit: Option<usize>) -> Self {
        let entries = metas
            .iter()
            .map(|meta| {
                let role = match meta.shape[..] {
                    [m, n] => {
                        let full = m.min(n);
                        let rank = rank_limit.map_or(full, |r| r.min(full));
                        TensorRole::Matrix {
                            m,
                            n,
                            rank,
                            residual: rank < full,
                        }
                    }
                    _ => TensorRole::Scalar,
                };
                LayoutEntry {
                    name: meta.name.clone(),
                    shape: meta.shape.clone(),
                    role,
                }
            })
            .collect();
        Self { entries }
    }

    /// The entry of a tensor.
    pub fn entry(&self, name: &str) -> Option<&LayoutEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Coefficients one expert takes in a recipe: ranks plus one scalar per tensor.
    pub fn coefficients_per_expert(&self) -> usize {
        self.entries
            .iter()
            .map(|e| match e.role {
                TensorRole::Matrix { rank, .. } => rank + 1,
                TensorRole::Scalar => 1,
            })
            .sum()
    }
}

impl LayoutEntry {
    /// Multiply-adds to rebuild this tensor from one expert's basis: the cost used to order
    /// parallel work largest first.
    pub fn cost(&self) -> usize {
        match self.role {
            TensorRole::Matrix { m, n, rank, .. } => m * n * (rank + 1),
            TensorRole::Scalar => self.shape.iter().product(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cycleqd_weights::{DType, LlamaShape};

    #[test]
    fn matrices_get_ranks_and_vectors_scalars() {
        let metas = LlamaShape::tiny().tensors(DType::F32);
        let full = BasisLayout::new(&metas, None);
        let embed = full.entry("model.embed_tokens.weight").unwrap();
        assert_eq!(
            embed.role,
            TensorRole::Matrix {
                m: 64,
                n: 32,
                rank: 32,
                residual: false
            }
        );
        assert_eq!(
            full.entry("model.norm.weight").unwrap().role,
            TensorRole::Scalar
        );
        let cut = BasisLayout::new(&metas, Some(8));
        assert!(matches!(
            cut.entry("model.embed_tokens.weight").unwrap().role,
            TensorRole::Matrix {
                rank: 8,
                residual: true,
                ..
            }
        ));
        assert!(cut.coefficients_per_expert() < full.coefficients_per_expert());
    }
}
