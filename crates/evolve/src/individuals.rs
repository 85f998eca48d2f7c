//! Every individual of a CycleQD run by id: its content identity, and for runs whose
//! children are lineages its genome, rebuilt from the journal on resume.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::Path;

use cycleqd_qd::journal::JournalRecord;
use cycleqd_qd::jsonl::read_jsonl;
use cycleqd_qd::run::JOURNAL_FILE;
use cycleqd_recipe::{Ancestors, Genome};

use crate::breed::genome_identity;
use crate::error::{EvolveError, Result};

/// Identities (always) and genomes (for runs whose children are lineages) of every
/// individual of the run, by id.
pub struct Individuals {
    identities: HashMap<u64, String>,
    genomes: Option<Ancestors>,
}

impl Individuals {
    fn new(keep_genomes: bool) -> Self {
        Self {
            identities: HashMap::new(),
            genomes: keep_genomes.then(BTreeMap::new),
        }
    }

    pub(crate) fn record(&mut self, id: u64, genome: &Genome, identity: String) {
        self.identities.insert(id, identity);
        if let Some(genomes) = &mut self.genomes {
            genomes.insert(id, genome.clone());
        }
    }

    /// The identity of a genome whose parents (if a lineage) are recorded.
    pub fn identity_of(&self, genome: &Genome) -> Result<String> {
        genome_identity(genome, |id| self.identities.get(&id).cloned()).ok_or_else(|| {
            EvolveError::Invalid("a lineage child names a parent the run has not recorded".into())
        })
    }

    /// The ancestors lineage children are rebuilt from (empty for recipe runs).
    pub fn ancestors(&self) -> Ancestors {
        self.genomes.clone().unwrap_or_default()
    }

    /// Reads every individual of the journal in `qd_dir`.
    pub(crate) fn from_journal(qd_dir: &Path, keep_genomes: bool) -> Result<Self> {
        let mut this = Self::new(keep_genomes);
        let mut seed_count = 0u64;
        let mut failure = None;
        read_jsonl::<JournalRecord<Genome>>(&qd_dir.join(JOURNAL_FILE), |_, record| {
            let entries: Vec<(u64, Genome)> = match record {
                JournalRecord::Seeds(seeds) => {
                    seed_count = seeds.len() as u64;
                    seeds
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| (i as u64, s.genome))
                        .collect()
                }
                JournalRecord::Result(r) => vec![(seed_count + r.generation - 1, r.genome)],
            };
            for (id, genome) in entries {
                match this.identity_of(&genome) {
                    Ok(identity) => this.record(id, &genome, identity),
                    Err(e) => {
                        failure = Some(e);
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(this),
        }
    }
}
