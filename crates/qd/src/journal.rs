//! The journal's records: the seeds, then one line per finished evaluation, written
//! before the result is used, so no finished evaluation is ever lost.

use serde::{Deserialize, Serialize};

use crate::individual::{IndividualId, Seed};

/// One journal line, as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalRecord<G> {
    /// The seeds, in seeding order.
    Seeds(Vec<Seed<G>>),
    /// The evaluated child of one generation.
    Result(ResultRecord<G>),
}

/// The evaluated child of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord<G> {
    /// Its generation.
    pub generation: u64,
    /// The parents its job named (checked against the replayed job on resume).
    pub parents: [IndividualId; 2],
    /// Its scores on all tasks.
    pub scores: Vec<f64>,
    /// The caller's genome.
    pub genome: G,
}

/// A journal line as written: borrows what it writes, serialises like [`JournalRecord`].
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JournalEntry<'a, G> {
    Seeds(&'a [Seed<G>]),
    Result {
        generation: u64,
        parents: [IndividualId; 2],
        scores: &'a [f64],
        genome: &'a G,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_entries_read_back_as_records() {
        let seeds = vec![Seed {
            scores: vec![0.5, 0.25],
            genome: "e0".to_string(),
        }];
        let line = serde_json::to_string(&JournalEntry::Seeds(&seeds)).unwrap();
        assert_eq!(
            serde_json::from_str::<JournalRecord<String>>(&line).unwrap(),
            JournalRecord::Seeds(seeds)
        );
        let genome = "child".to_string();
        let entry = JournalEntry::Result {
            generation: 7,
            parents: [IndividualId(1), IndividualId(0)],
            scores: &[0.1, 0.2],
            genome: &genome,
        };
        let line = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            line,
            r#"{"result":{"generation":7,"parents":[1,0],"scores":[0.1,0.2],"genome":"child"}}"#
        );
        let JournalRecord::Result(r) =
            serde_json::from_str::<JournalRecord<String>>(&line).unwrap()
        else {
            panic!("a result record")
        };
        assert_eq!((r.generation, r.genome.as_str()), (7, "child"));
    }
}
