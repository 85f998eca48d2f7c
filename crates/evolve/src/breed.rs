//! Making a child from a job: crossover of the parents, then the configured mutation, as a
//! recipe when both parents are recipes and the mutation keeps recipes closed, else as a
//! lineage genome. Every draw comes from the job's seed, so a child is a function of its
//! job alone.

use cycleqd_recipe::{BasisLayout, CrossoverWeights, Genome, Lineage, Recipe, WeightMutation};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::run_config::{MutationKind, RunConfig};

/// The genome of the child of `parents` (genomes and individual ids) for quality task
/// `quality_task`, with all randomness drawn from `seed`.
pub fn breed(
    config: &RunConfig,
    layout: &BasisLayout,
    parents: [(&Genome, u64); 2],
    quality_task: usize,
    seed: u64,
) -> Result<Genome> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weights = CrossoverWeights::draw(&mut rng, config.crossover.mu, config.crossover.sigma)?;
    let mutation_seed = rng.next_u64();
    let m = &config.mutation;
    let mutation = match m.kind {
        MutationKind::SvdExpert => WeightMutation::SvdExpert {
            expert: quality_task,
            seed: mutation_seed,
            rate: m.rate,
        },
        MutationKind::SvdChild => WeightMutation::SvdChild {
            seed: mutation_seed,
            rate: m.rate,
        },
        MutationKind::Gaussian => WeightMutation::Gaussian {
            seed: mutation_seed,
            std: m.std,
        },
        MutationKind::None => WeightMutation::None,
    };
    if let (Genome::Recipe { recipe: a }, Genome::Recipe { recipe: b }) =
        (parents[0].0, parents[1].0)
    {
        match mutation {
            WeightMutation::None => {
                return Ok(Recipe::crossover(a, b, weights)?.into());
            }
            WeightMutation::SvdExpert { expert, seed, rate } => {
                let mut child = Recipe::crossover(a, b, weights)?;
                child.mutate_svd_expert(layout, expert, seed, rate)?;
                return Ok(child.into());
            }
            _ => {}
        }
    }
    Ok(Genome::Lineage(Lineage {
        parents: [parents[0].1, parents[1].1],
        weights,
        mutation,
    }))
}

/// A content identity of a genome for result caching: a recipe by its bytes (which hold
/// the basis fingerprint), a lineage child by its crossover weights, mutation and its
/// parents' identities (`parent_identity` looks them up).
pub fn genome_identity(
    genome: &Genome,
    parent_identity: impl Fn(u64) -> Option<String>,
) -> Option<String> {
    let mut hasher = Sha256::new();
    match genome {
        Genome::Recipe { recipe } => {
            hasher.update(b"cycleqd recipe\0");
            hasher.update(recipe.to_bytes());
        }
        Genome::Lineage(lineage) => {
            hasher.update(b"cycleqd lineage\0");
            hasher.update(
                serde_json::to_vec(&(&lineage.weights, &lineage.mutation))
                    .expect("lineage fields serialise"),
            );
            for parent in lineage.parents {
                hasher.update(parent_identity(parent)?.as_bytes());
                hasher.update(b"\0");
            }
        }
    }
    Some(format!("{:x}", hasher.finalize()))
}

/// The identity of a weighted sum of models given by identity.
pub fn blend_identity(members: &[(f64, String)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"cycleqd blend\0");
    for (beta, identity) in members {
        hasher.update(beta.to_bits().to_le_bytes());
        hasher.update(identity.as_bytes());
        hasher.update(b"\0");
    }
    format!("{:x}", hasher.finalize())
}
