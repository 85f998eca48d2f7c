//! Snapshots of a cycle's full state (the run directory writes them atomically).
//!
//! A snapshot stores each genome as a reference of the caller's choosing (the run
//! directory uses the byte offset of the genome's journal record), so snapshots stay small
//! whatever the genome size and never duplicate what the journal already holds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::archive::{Archive, Elite};
use crate::cell::CellIndex;
use crate::config::CycleConfig;
use crate::individual::{Individual, IndividualId};
use crate::scheduler::{Cycle, Job, Pending, Slot};
use crate::stats::GenerationStats;

/// The version written into every snapshot.
const FORMAT: u32 = 1;

/// Everything of a seeded cycle that the config, the journal and the statistics log do
/// not already say: archives with their sample counts and the created jobs of
/// generations not yet inserted, with every genome replaced by a reference `R`. Results
/// told but not yet inserted are not in it (they are in the journal), nor are the
/// statistics (they are in the statistics log).
#[derive(Debug, Serialize, Deserialize)]
pub struct CycleState<R> {
    format: u32,
    seed_count: u64,
    inserted: u64,
    /// Every individual an elite or a pending job refers to, by ascending id, with its
    /// genome reference.
    individuals: Vec<Individual<R>>,
    /// Per archive in task order, its elites in cell order.
    archives: Vec<Vec<StoredElite>>,
    /// The created jobs of generations inserted + 1, ...
    pending: Vec<StoredJob>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredElite {
    cell: CellIndex,
    id: IndividualId,
    times_sampled: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredJob {
    generation: u64,
    quality_task: usize,
    parents: [IndividualId; 2],
    seed: u64,
}

impl<R> CycleState<R> {
    /// The state of a seeded cycle, each genome replaced by `reference(individual)`;
    /// `None` before seeding (nothing to save then).
    pub fn of<G>(cycle: &Cycle<G>, mut reference: impl FnMut(&Individual<G>) -> R) -> Option<Self> {
        let seed_count = cycle.seed_count?;
        let mut individuals = BTreeMap::new();
        let mut keep = |ind: &Arc<Individual<G>>| {
            individuals.entry(ind.id).or_insert_with(|| Individual {
                id: ind.id,
                generation: ind.generation,
                parents: ind.parents.clone(),
                scores: ind.scores.clone(),
                genome: reference(ind),
            });
        };
        let archives = cycle
            .archives
            .iter()
            .map(|a| {
                a.elites()
                    .map(|(cell, e)| {
                        keep(e.individual());
                        StoredElite {
                            cell: cell.clone(),
                            id: e.id(),
                            times_sampled: e.times_sampled(),
                        }
                    })
                    .collect()
            })
            .collect();
        let pending = cycle
            .pending
            .iter()
            .map(|p| {
                p.job.parents.iter().for_each(&mut keep);
                StoredJob {
                    generation: p.job.generation,
                    quality_task: p.job.quality_task,
                    parents: p.job.parent_ids(),
                    seed: p.job.seed,
                }
            })
            .collect();
        Some(CycleState {
            format: FORMAT,
            seed_count,
            inserted: cycle.inserted,
            individuals: individuals.into_values().collect(),
            archives,
            pending,
        })
    }

    /// The last generation inserted at the time of the snapshot.
    pub fn inserted_generations(&self) -> u64 {
        self.inserted
    }

    /// The stored individuals with their genome references.
    pub fn individuals(&self) -> &[Individual<R>] {
        &self.individuals
    }

    /// Rebuilds the cycle from this state and the statistics of generations
    /// `0..=inserted`, checking both against `config`, with `genome(individual)`
    /// resolving each reference; every created job comes back ready to be handed out
    /// again.
    pub fn restore<G>(
        self,
        config: CycleConfig,
        stats: Vec<GenerationStats>,
        mut genome: impl FnMut(&Individual<R>) -> Result<G, String>,
    ) -> Result<Cycle<G>, String> {
        if self.format != FORMAT {
            return Err(format!(
                "snapshot format {} (this build reads {FORMAT})",
                self.format
            ));
        }
        let mut cycle = Cycle::new(config).map_err(|e| e.to_string())?;
        let k = cycle.config.task_count();
        let archives = cycle.config.archive_count();
        let g_max = cycle.config.generations;
        if self.archives.len() != archives {
            return Err(format!(
                "{} archives, the config makes {archives}",
                self.archives.len()
            ));
        }
        if self.inserted > g_max {
            return Err(format!(
                "generation {} is past the config's {g_max}",
                self.inserted
            ));
        }
        let expected_rows = self.inserted + 1;
        if stats.len() as u64 != expected_rows
            || stats
                .iter()
                .enumerate()
                .any(|(g, row)| row.generation != g as u64 || row.archives.len() != archives)
        {
            return Err(format!(
                "needs the statistics of generations 0..={} for {archives} archives, got {} rows",
                self.inserted,
                stats.len()
            ));
        }
        let mut by_id = BTreeMap::new();
        for ind in &self.individuals {
            if ind.scores.len() != k {
                return Err(format!(
                    "individual {} has {} scores, expected {k}",
                    ind.id,
                    ind.scores.len()
                ));
            }
            let resolved = Individual {
                id: ind.id,
                generation: ind.generation,
                parents: ind.parents.clone(),
                scores: ind.scores.clone(),
                genome: genome(ind)?,
            };
            by_id.insert(ind.id, Arc::new(resolved));
        }
        let lookup = |id: &IndividualId| {
            by_id
                .get(id)
                .cloned()
                .ok_or_else(|| format!("individual {id} is referred to but not stored"))
        };
        for (task, stored) in self.archives.into_iter().enumerate() {
            let archive: &mut Archive<G> = &mut cycle.archives[task];
            for e in stored {
                let ind = lookup(&e.id)?;
                if archive.cell_of(&ind.scores) != e.cell {
                    return Err(format!(
                        "individual {} is stored in cell {:?} of archive {task}, its scores map to {:?}",
                        e.id,
                        e.cell.bins(),
                        archive.cell_of(&ind.scores).bins()
                    ));
                }
                archive.restore(e.cell, Elite::new(ind, e.times_sampled));
            }
        }
        let mut pending = VecDeque::new();
        for (i, job) in self.pending.into_iter().enumerate() {
            let expected = self.inserted + 1 + i as u64;
            if job.generation != expected || job.quality_task >= k {
                return Err(format!(
                    "pending job {i} is generation {} for task {}, expected generation {expected}",
                    job.generation, job.quality_task
                ));
            }
            pending.push_back(Pending {
                job: Job {
                    generation: job.generation,
                    quality_task: job.quality_task,
                    parents: [lookup(&job.parents[0])?, lookup(&job.parents[1])?],
                    seed: job.seed,
                },
                slot: Slot::Ready,
            });
        }
        let window_end = (self.inserted + cycle.config.in_flight).min(g_max);
        if self.inserted + pending.len() as u64 != window_end {
            return Err(format!(
                "{} pending jobs after generation {}, the config's window needs {}",
                pending.len(),
                self.inserted,
                window_end - self.inserted
            ));
        }
        cycle.seed_count = Some(self.seed_count);
        cycle.inserted = self.inserted;
        cycle.pending = pending;
        cycle.stats = stats;
        Ok(cycle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::BcAxis;
    use crate::individual::Seed;
    use crate::scheduler::Ask;

    fn cycle() -> Cycle<String> {
        let axes = (0..2).map(|_| BcAxis::new(0.0, 1.0, 4).unwrap()).collect();
        let mut config = CycleConfig::paper(vec!["x".into(), "y".into()], axes);
        config.generations = 10;
        config.in_flight = 3;
        let mut c = Cycle::new(config).unwrap();
        c.seed(vec![
            Seed {
                scores: vec![0.8, 0.2],
                genome: "x".into(),
            },
            Seed {
                scores: vec![0.2, 0.8],
                genome: "y".into(),
            },
        ])
        .unwrap();
        c
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut c = cycle();
        for g in 1..=3 {
            let Ask::Job(_) = c.ask().unwrap() else {
                panic!()
            };
            if g != 2 {
                c.tell(g, format!("child {g}"), vec![0.1 * g as f64, 0.5])
                    .unwrap();
            }
        }
        let state = CycleState::of(&c, |i| i.genome.clone()).unwrap();
        let json = serde_json::to_string(&state).unwrap();
        let back: CycleState<String> = serde_json::from_str(&json).unwrap();
        let restored = back
            .restore(c.config().clone(), c.stats()[..2].to_vec(), |i| {
                Ok(i.genome.clone())
            })
            .unwrap();
        let again =
            serde_json::to_string(&CycleState::of(&restored, |i| i.genome.clone()).unwrap())
                .unwrap();
        assert_eq!(json, again);
        assert_eq!(restored.inserted_generations(), 1);
        // Pending jobs come back ready, to be handed out again.
        assert_eq!(restored.in_flight().count(), 0);
    }

    #[test]
    fn restore_rejects_inconsistent_states() {
        let c = cycle();
        let json =
            serde_json::to_string(&CycleState::of(&c, |i| i.genome.clone()).unwrap()).unwrap();
        let state = || serde_json::from_str::<CycleState<String>>(&json).unwrap();
        let stats = || c.stats().to_vec();
        let mut other = c.config().clone();
        other.tasks.push("z".into());
        other.axes.push(BcAxis::new(0.0, 1.0, 4).unwrap());
        assert!(state()
            .restore(other, stats(), |i| Ok(i.genome.clone()))
            .unwrap_err()
            .contains("archives"));
        let mut wider = c.config().clone();
        wider.in_flight = 5;
        assert!(state()
            .restore(wider, stats(), |i| Ok(i.genome.clone()))
            .unwrap_err()
            .contains("window"));
        let err = state()
            .restore(c.config().clone(), vec![], |i| Ok(i.genome.clone()))
            .unwrap_err();
        assert!(err.contains("statistics"), "{err}");
        let moved = json.replacen("\"cell\":[", "\"cell\":[3,", 1);
        let state: CycleState<String> = serde_json::from_str(&moved).unwrap();
        let err = state
            .restore(c.config().clone(), stats(), |i| Ok(i.genome.clone()))
            .unwrap_err();
        assert!(err.contains("cell"), "{err}");
        let err = state_of(&json)
            .restore(c.config().clone(), stats(), |_| {
                Err::<String, _>("genome gone".into())
            })
            .unwrap_err();
        assert_eq!(err, "genome gone");
    }

    fn state_of(json: &str) -> CycleState<String> {
        serde_json::from_str(json).unwrap()
    }
}
