//! Evaluated individuals: an opaque genome with its scores on every task and its lineage.

use serde::{Deserialize, Serialize};

/// The identity of an evaluated individual. Seeds get `0..S` in seeding order; the child
/// of generation `g` gets `S + g - 1`. Identities are thus a function of the run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IndividualId(pub u64);

impl std::fmt::Display for IndividualId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An evaluated individual: its genome (the caller's recipe, opaque here), its scores on
/// all K tasks, its parents and the generation that produced it (0 for seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Individual<G> {
    /// Its identity.
    pub id: IndividualId,
    /// The generation that produced it; 0 for seeds.
    pub generation: u64,
    /// Its two parents (the same one twice when sampled from a single-elite archive);
    /// empty for seeds.
    pub parents: Vec<IndividualId>,
    /// Its scores, one per task in configured task order.
    pub scores: Vec<f64>,
    /// The caller's description of it (a merge recipe, a lineage record, ...).
    pub genome: G,
}

/// A seed offered to the archives before the first generation: normally an expert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seed<G> {
    /// Its scores, one per task in configured task order.
    pub scores: Vec<f64>,
    /// The caller's description of it.
    pub genome: G,
}
