//! The cycle as an ask/tell engine: hands out breeding jobs, takes their evaluated
//! children back in any order and inserts them in generation order.
//!
//! With W = `in_flight`, the job of generation g is sampled the moment generation g - W
//! has been inserted (generations 1..=W are sampled right after seeding), so it is bred
//! from the archives exactly as they stand after 1..=g-W, whatever the timing of the
//! calls. Each job's randomness comes from the (run seed, g) stream and parents are
//! counted as sampled when the job is created; a run is thus a function of its config and
//! the scores alone.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::RngCore;

use crate::archive::{Archive, Elite, Insertion};
use crate::config::{CycleConfig, QualityMode};
use crate::error::QdError;
use crate::individual::{Individual, IndividualId, Seed};
use crate::stats::{ArchiveStats, GenerationStats};
use crate::stream::generation_rng;

/// One breeding job: make a child from `parents` for `quality_task`, evaluate it on all
/// tasks and `tell` the result under `generation`.
#[derive(Debug)]
pub struct Job<G> {
    /// The generation this job produces.
    pub generation: u64,
    /// The index of the task this generation optimises (its mutation direction).
    pub quality_task: usize,
    /// The two parents; the same individual twice if the archive had a single elite.
    pub parents: [Arc<Individual<G>>; 2],
    /// A seed for the caller's own randomness (crossover weights, mutation), derived
    /// from (run seed, generation).
    pub seed: u64,
}

impl<G> Clone for Job<G> {
    fn clone(&self) -> Self {
        Job {
            generation: self.generation,
            quality_task: self.quality_task,
            parents: [Arc::clone(&self.parents[0]), Arc::clone(&self.parents[1])],
            seed: self.seed,
        }
    }
}

impl<G> Job<G> {
    /// The parents' identities.
    pub fn parent_ids(&self) -> [IndividualId; 2] {
        [self.parents[0].id, self.parents[1].id]
    }
}

/// What `ask` has to offer.
#[derive(Debug, Clone)]
pub enum Ask<G> {
    /// A job to run.
    Job(Job<G>),
    /// Nothing now: W jobs are in flight; tell one of them (the oldest unlocks the next).
    Wait,
    /// Every generation has been handed out; tell the ones still in flight.
    Exhausted,
}

/// One child inserted into the archives.
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// Its generation (0 for seeds).
    pub generation: u64,
    /// Its identity.
    pub id: IndividualId,
    /// What each archive did with it, in task order.
    pub outcomes: Vec<Insertion>,
}

/// Where a created job stands.
#[derive(Debug)]
pub(crate) enum Slot<G> {
    /// Created, not handed out (or handed out before a resume).
    Ready,
    /// Handed out by `ask`.
    Issued,
    /// Its result arrived and waits for its predecessors.
    Told { genome: G, scores: Vec<f64> },
}

/// A created job and its state.
#[derive(Debug)]
pub(crate) struct Pending<G> {
    pub(crate) job: Job<G>,
    pub(crate) slot: Slot<G>,
}

/// The CycleQD loop as an ask/tell engine over K archives. It does no I/O; see
/// [`crate::run::Run`] for the journaled, resumable form.
#[derive(Debug)]
pub struct Cycle<G> {
    pub(crate) config: CycleConfig,
    pub(crate) archives: Vec<Archive<G>>,
    /// The number of seeds, once seeded.
    pub(crate) seed_count: Option<u64>,
    /// Generations 1..=inserted are in the archives.
    pub(crate) inserted: u64,
    /// Created jobs of generations inserted + 1, inserted + 2, ...
    pub(crate) pending: VecDeque<Pending<G>>,
    pub(crate) stats: Vec<GenerationStats>,
}

impl<G> Cycle<G> {
    /// A cycle with empty archives; seed it before asking.
    pub fn new(config: CycleConfig) -> Result<Self, QdError> {
        config.validate()?;
        let archives = match config.quality {
            QualityMode::Cyclic => (0..config.task_count())
                .map(|k| Archive::new(k, &config.axes))
                .collect(),
            QualityMode::FixedMean => vec![Archive::mean(&config.axes)],
        };
        Ok(Cycle {
            config,
            archives,
            seed_count: None,
            inserted: 0,
            pending: VecDeque::new(),
            stats: Vec::new(),
        })
    }

    /// The config.
    pub fn config(&self) -> &CycleConfig {
        &self.config
    }

    /// The archives, one per task in configured order.
    pub fn archives(&self) -> &[Archive<G>] {
        &self.archives
    }

    /// Whether the archives have been seeded.
    pub fn is_seeded(&self) -> bool {
        self.seed_count.is_some()
    }

    /// The number of seeds (0 before seeding).
    pub fn seed_count(&self) -> u64 {
        self.seed_count.unwrap_or(0)
    }

    /// The last generation inserted: generations 1..=this are in the archives.
    pub fn inserted_generations(&self) -> u64 {
        self.inserted
    }

    /// Whether all generations are inserted.
    pub fn is_complete(&self) -> bool {
        self.is_seeded() && self.inserted == self.config.generations
    }

    /// Statistics after seeding (generation 0) and after each inserted generation.
    pub fn stats(&self) -> &[GenerationStats] {
        &self.stats
    }

    /// The job of a created, not yet inserted generation (to hand it out again, e.g.
    /// when a worker died).
    pub fn job(&self, generation: u64) -> Option<&Job<G>> {
        self.pending_slot(generation).map(|p| &p.job)
    }

    /// Jobs handed out and not yet told.
    pub fn in_flight(&self) -> impl Iterator<Item = &Job<G>> {
        self.pending
            .iter()
            .filter(|p| matches!(p.slot, Slot::Issued))
            .map(|p| &p.job)
    }

    /// Per task k, the best elite on task k: archive k's highest-quality elite, or in the
    /// fixed-quality ablation the single archive's elite with the best score on task k
    /// (the first in cell order among equals).
    pub fn best_per_task(&self) -> Vec<Option<&Elite<G>>> {
        match self.config.quality {
            QualityMode::Cyclic => self.archives.iter().map(Archive::best).collect(),
            QualityMode::FixedMean => (0..self.config.task_count())
                .map(|k| first_max(self.archives[0].elites().map(|(_, e)| e), |e| e.scores()[k]))
                .collect(),
        }
    }

    /// The archives' names: their quality tasks' names, or `mean`.
    pub fn archive_labels(&self) -> Vec<String> {
        self.archives
            .iter()
            .map(|a| a.label(&self.config.tasks))
            .collect()
    }

    /// The elite with the best mean score over all tasks, across all archives (the first
    /// found in task and cell order among equals).
    pub fn best_mean(&self) -> Option<&Elite<G>> {
        first_max(
            self.archives
                .iter()
                .flat_map(|a| a.elites().map(|(_, e)| e)),
            |e| e.scores().iter().sum::<f64>() / e.scores().len() as f64,
        )
    }

    /// Offers the seeds (normally the K experts), in order, to every archive, then
    /// creates the first W jobs.
    pub fn seed(&mut self, seeds: Vec<Seed<G>>) -> Result<Vec<Inserted>, QdError> {
        self.check_seeds(&seeds)?;
        let count = seeds.len() as u64;
        let inserted = seeds
            .into_iter()
            .enumerate()
            .map(|(i, seed)| {
                self.insert(Individual {
                    id: IndividualId(i as u64),
                    generation: 0,
                    parents: Vec::new(),
                    scores: seed.scores,
                    genome: seed.genome,
                })
            })
            .collect();
        self.seed_count = Some(count);
        self.record_stats(0);
        self.extend_window()?;
        Ok(inserted)
    }

    /// Checks that seeding with `seeds` would succeed.
    pub fn check_seeds(&self, seeds: &[Seed<G>]) -> Result<(), QdError> {
        if self.is_seeded() {
            return Err(QdError::AlreadySeeded);
        }
        if seeds.is_empty() {
            return Err(QdError::NoSeeds);
        }
        for (i, seed) in seeds.iter().enumerate() {
            self.check_scores(&format!("seed {i}"), &seed.scores)?;
        }
        Ok(())
    }

    /// The next job, or why there is none.
    pub fn ask(&mut self) -> Result<Ask<G>, QdError> {
        if !self.is_seeded() {
            return Err(QdError::NotSeeded);
        }
        if let Some(p) = self
            .pending
            .iter_mut()
            .find(|p| matches!(p.slot, Slot::Ready))
        {
            p.slot = Slot::Issued;
            return Ok(Ask::Job(p.job.clone()));
        }
        if self.created_generations() == self.config.generations {
            Ok(Ask::Exhausted)
        } else {
            Ok(Ask::Wait)
        }
    }

    /// Takes the evaluated child of an issued job. It is inserted at once if all earlier
    /// generations are in, else it waits for them; returns every generation this call
    /// inserted, in order.
    pub fn tell(
        &mut self,
        generation: u64,
        genome: G,
        scores: Vec<f64>,
    ) -> Result<Vec<Inserted>, QdError> {
        self.check_tell(generation, &scores)?;
        self.accept(generation, genome, scores)
    }

    /// Checks that `tell(generation, _, scores)` would be accepted, without changing
    /// anything.
    pub fn check_tell(&self, generation: u64, scores: &[f64]) -> Result<(), QdError> {
        self.check_result(generation, scores, false)
    }

    /// The checks of `tell`; `replaying` also accepts jobs not handed out in this
    /// process (a resumed run replaying its journal).
    pub(crate) fn check_result(
        &self,
        generation: u64,
        scores: &[f64],
        replaying: bool,
    ) -> Result<(), QdError> {
        if !self.is_seeded() {
            return Err(QdError::NotSeeded);
        }
        if generation == 0 || generation > self.config.generations {
            return Err(QdError::GenerationOutOfRange {
                generation,
                generations: self.config.generations,
            });
        }
        self.check_scores(&format!("generation {generation}"), scores)?;
        if generation <= self.inserted {
            return Err(QdError::AlreadyTold { generation });
        }
        match self.pending_slot(generation).map(|p| &p.slot) {
            None => Err(QdError::NotAsked { generation }),
            Some(Slot::Ready) if !replaying => Err(QdError::NotAsked { generation }),
            Some(Slot::Told { .. }) => Err(QdError::AlreadyTold { generation }),
            Some(Slot::Ready | Slot::Issued) => Ok(()),
        }
    }

    /// Stores a checked result and inserts every generation that is now complete.
    pub(crate) fn accept(
        &mut self,
        generation: u64,
        genome: G,
        scores: Vec<f64>,
    ) -> Result<Vec<Inserted>, QdError> {
        let index = (generation - self.inserted - 1) as usize;
        self.pending[index].slot = Slot::Told { genome, scores };
        let mut inserted = Vec::new();
        while matches!(
            self.pending.front(),
            Some(Pending {
                slot: Slot::Told { .. },
                ..
            })
        ) {
            let Some(Pending {
                job,
                slot: Slot::Told { genome, scores },
            }) = self.pending.pop_front()
            else {
                unreachable!("the front was just matched as told")
            };
            let generation = job.generation;
            inserted.push(self.insert(Individual {
                id: IndividualId(self.seed_count() + generation - 1),
                generation,
                parents: job.parent_ids().to_vec(),
                scores,
                genome,
            }));
            self.inserted = generation;
            self.record_stats(generation);
            self.extend_window()?;
        }
        Ok(inserted)
    }

    /// Created jobs whose result has not arrived.
    pub(crate) fn pending_without_result(&self) -> u64 {
        self.pending
            .iter()
            .filter(|p| !matches!(p.slot, Slot::Told { .. }))
            .count() as u64
    }

    fn pending_slot(&self, generation: u64) -> Option<&Pending<G>> {
        let index = generation.checked_sub(self.inserted + 1)?;
        self.pending.get(usize::try_from(index).ok()?)
    }

    fn check_scores(&self, what: &str, scores: &[f64]) -> Result<(), QdError> {
        let k = self.config.task_count();
        if scores.len() != k {
            return Err(QdError::ScoreCount {
                what: what.to_string(),
                expected: k,
                got: scores.len(),
            });
        }
        if let Some((t, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
            return Err(QdError::NonFiniteScore {
                what: what.to_string(),
                task: self.config.tasks[t].clone(),
                value,
            });
        }
        Ok(())
    }

    /// Offers an individual to every archive.
    fn insert(&mut self, individual: Individual<G>) -> Inserted {
        let individual = Arc::new(individual);
        Inserted {
            generation: individual.generation,
            id: individual.id,
            outcomes: self
                .archives
                .iter_mut()
                .map(|a| a.offer(&individual))
                .collect(),
        }
    }

    fn record_stats(&mut self, generation: u64) {
        self.stats.push(GenerationStats {
            generation,
            archives: self.archives.iter().map(ArchiveStats::of).collect(),
        });
    }

    fn created_generations(&self) -> u64 {
        self.inserted + self.pending.len() as u64
    }

    /// Creates the jobs of generations up to inserted + W (and G).
    fn extend_window(&mut self) -> Result<(), QdError> {
        let last = (self.inserted + self.config.in_flight).min(self.config.generations);
        while self.created_generations() < last {
            let job = self.create_job(self.created_generations() + 1)?;
            self.pending.push_back(Pending {
                job,
                slot: Slot::Ready,
            });
        }
        Ok(())
    }

    fn create_job(&mut self, generation: u64) -> Result<Job<G>, QdError> {
        let k = self.config.quality_task(generation);
        let a = self.config.breeding_archive(generation);
        let mut rng = generation_rng(self.config.seed, generation);
        let seed = rng.next_u64();
        let label = self.archives[a].label(&self.config.tasks);
        let parents = self
            .config
            .sampler
            .sample(&mut self.archives[a], &label, &mut rng)?;
        Ok(Job {
            generation,
            quality_task: k,
            parents,
            seed,
        })
    }
}

/// The item with the highest `key`, the first among equals.
fn first_max<'a, T>(items: impl Iterator<Item = &'a T>, key: impl Fn(&T) -> f64) -> Option<&'a T> {
    items.fold(None, |best, item| match best {
        Some(b) if key(b) >= key(item) => Some(b),
        _ => Some(item),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::BcAxis;
    use crate::sampler::ParentSampler;

    fn config(generations: u64, in_flight: u64) -> CycleConfig {
        let axes = (0..3).map(|_| BcAxis::new(0.0, 1.0, 5).unwrap()).collect();
        let mut c = CycleConfig::paper(vec!["a".into(), "b".into(), "c".into()], axes);
        c.generations = generations;
        c.in_flight = in_flight;
        c.seed = 42;
        c
    }

    fn experts() -> Vec<Seed<u32>> {
        vec![
            Seed {
                scores: vec![0.9, 0.1, 0.1],
                genome: 0,
            },
            Seed {
                scores: vec![0.1, 0.9, 0.1],
                genome: 1,
            },
            Seed {
                scores: vec![0.1, 0.1, 0.9],
                genome: 2,
            },
        ]
    }

    /// A fixed test objective of the job: scores depend on the generation only.
    fn test_scores(g: u64) -> Vec<f64> {
        let x = (g as f64 * 0.618).fract();
        vec![x, (x * 3.0).fract(), (x * 7.0).fract()]
    }

    fn take_job(c: &mut Cycle<u32>) -> Job<u32> {
        match c.ask().unwrap() {
            Ask::Job(job) => job,
            other => panic!("expected a job, got {other:?}"),
        }
    }

    #[test]
    fn seeding_fills_archives_and_the_window() {
        let mut c = Cycle::new(config(10, 3)).unwrap();
        assert!(matches!(c.ask(), Err(QdError::NotSeeded)));
        let ins = c.seed(experts()).unwrap();
        assert_eq!(ins.len(), 3);
        assert!(ins
            .iter()
            .all(|i| i.outcomes.iter().all(Insertion::accepted)));
        assert!(c.archives().iter().all(|a| a.len() == 3));
        assert_eq!(c.stats().len(), 1);
        assert!(matches!(c.seed(experts()), Err(QdError::AlreadySeeded)));
        let jobs: Vec<Job<u32>> = (0..3).map(|_| take_job(&mut c)).collect();
        assert_eq!(
            jobs.iter().map(|j| j.generation).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            jobs.iter().map(|j| j.quality_task).collect::<Vec<_>>(),
            [1, 2, 0]
        );
        assert!(matches!(c.ask().unwrap(), Ask::Wait));
        assert_eq!(c.in_flight().count(), 3);
    }

    #[test]
    fn fixed_quality_keeps_one_archive_of_mean_quality_over_all_k_bcs() {
        let mut config = config(30, 2);
        config.quality = QualityMode::FixedMean;
        let mut c = Cycle::new(config).unwrap();
        c.seed(experts()).unwrap();
        assert_eq!(c.archives().len(), 1);
        assert_eq!(c.archive_labels(), ["mean"]);
        while !c.is_complete() {
            let job = take_job(&mut c);
            c.tell(
                job.generation,
                job.generation as u32,
                test_scores(job.generation),
            )
            .unwrap();
        }
        let archive = &c.archives()[0];
        for (cell, elite) in archive.elites() {
            assert_eq!(cell.bins().len(), 3);
            let mean = elite.scores().iter().sum::<f64>() / 3.0;
            assert_eq!(archive.quality(elite.scores()), mean);
        }
        for (k, best) in c.best_per_task().into_iter().enumerate() {
            let top = archive
                .elites()
                .map(|(_, e)| e.scores()[k])
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(best.unwrap().scores()[k], top);
        }
        let mean_of = |e: &Elite<u32>| e.scores().iter().sum::<f64>();
        let best = archive.best().unwrap();
        assert!(archive.elites().all(|(_, e)| mean_of(e) <= mean_of(best)));
    }

    #[test]
    fn tells_out_of_order_are_buffered_and_inserted_in_order() {
        let mut c = Cycle::new(config(4, 3)).unwrap();
        c.seed(experts()).unwrap();
        let _ = (take_job(&mut c), take_job(&mut c), take_job(&mut c));
        assert!(c.tell(3, 30, test_scores(3)).unwrap().is_empty());
        assert!(c.tell(2, 20, test_scores(2)).unwrap().is_empty());
        assert_eq!(c.inserted_generations(), 0);
        let ins = c.tell(1, 10, test_scores(1)).unwrap();
        assert_eq!(
            ins.iter().map(|i| i.generation).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(ins.iter().map(|i| i.id.0).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(c.stats().len(), 4);
        let last = take_job(&mut c);
        assert_eq!(last.generation, 4);
        assert!(matches!(c.ask().unwrap(), Ask::Exhausted));
        c.tell(4, 40, test_scores(4)).unwrap();
        assert!(c.is_complete());
        assert!(matches!(c.ask().unwrap(), Ask::Exhausted));
    }

    #[test]
    fn bad_tells_are_errors_that_change_nothing() {
        let mut c = Cycle::new(config(5, 2)).unwrap();
        assert!(matches!(
            c.tell(1, 0, test_scores(1)),
            Err(QdError::NotSeeded)
        ));
        c.seed(experts()).unwrap();
        // Created but never handed out.
        assert!(matches!(
            c.tell(1, 0, test_scores(1)),
            Err(QdError::NotAsked { generation: 1 })
        ));
        // Not even created.
        assert!(matches!(
            c.tell(4, 0, test_scores(4)),
            Err(QdError::NotAsked { generation: 4 })
        ));
        assert!(matches!(
            c.tell(6, 0, test_scores(6)),
            Err(QdError::GenerationOutOfRange {
                generation: 6,
                generations: 5
            })
        ));
        assert!(matches!(
            c.tell(0, 0, test_scores(0)),
            Err(QdError::GenerationOutOfRange { .. })
        ));
        take_job(&mut c);
        take_job(&mut c);
        assert!(matches!(
            c.tell(2, 0, vec![0.1]),
            Err(QdError::ScoreCount {
                expected: 3,
                got: 1,
                ..
            })
        ));
        let err = c.tell(2, 0, vec![0.1, f64::NAN, 0.2]).unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
        c.tell(2, 0, test_scores(2)).unwrap();
        assert!(matches!(
            c.tell(2, 0, test_scores(2)),
            Err(QdError::AlreadyTold { generation: 2 })
        ));
        c.tell(1, 0, test_scores(1)).unwrap();
        assert!(matches!(
            c.tell(1, 0, test_scores(1)),
            Err(QdError::AlreadyTold { generation: 1 })
        ));
        assert_eq!(c.inserted_generations(), 2);
    }

    #[test]
    fn seeding_rejects_bad_seeds() {
        let mut c: Cycle<u32> = Cycle::new(config(5, 2)).unwrap();
        assert!(matches!(c.seed(vec![]), Err(QdError::NoSeeds)));
        let mut bad = experts();
        bad[1].scores.pop();
        let err = c.seed(bad).unwrap_err().to_string();
        assert!(err.contains("seed 1"), "{err}");
        assert!(!c.is_seeded());
    }

    /// Runs to completion with W in flight, telling each window's results in the order
    /// `order` gives, and returns a fingerprint of the final state.
    fn run(in_flight: u64, reverse_tells: bool) -> Vec<(u64, Vec<u32>, u64, u64)> {
        let mut c = Cycle::new(config(60, in_flight)).unwrap();
        c.seed(experts()).unwrap();
        loop {
            let mut jobs = Vec::new();
            while let Ask::Job(job) = c.ask().unwrap() {
                jobs.push(job);
            }
            if jobs.is_empty() {
                break;
            }
            if reverse_tells {
                jobs.reverse();
            }
            for job in jobs {
                let g = job.generation;
                c.tell(g, g as u32, test_scores(g)).unwrap();
            }
        }
        assert!(c.is_complete());
        c.archives()
            .iter()
            .flat_map(|a| {
                a.elites()
                    .map(|(cell, e)| {
                        (
                            e.id().0,
                            cell.bins().to_vec(),
                            e.times_sampled(),
                            a.task().unwrap() as u64,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn results_do_not_depend_on_the_order_of_tells() {
        for w in [1, 2, 5] {
            assert_eq!(run(w, false), run(w, true), "W = {w}");
        }
        assert_ne!(run(1, false), run(5, false));
    }

    #[test]
    fn generation_is_bred_from_the_state_after_g_minus_w() {
        // W = 2: the job of generation 3 is created when generation 1 is inserted, before
        // generation 2's result arrives, and must not see generation 2's child.
        let mut c = Cycle::new(config(3, 2)).unwrap();
        c.config.sampler = ParentSampler::Uniform;
        c.seed(experts()).unwrap();
        take_job(&mut c);
        take_job(&mut c);
        c.tell(1, 10, vec![0.5, 0.5, 0.5]).unwrap();
        let job3 = c.job(3).unwrap().clone();
        c.tell(2, 20, vec![0.99, 0.99, 0.99]).unwrap();
        assert!(job3.parents.iter().all(|p| p.id != IndividualId(4)));
        assert_eq!(take_job(&mut c).parent_ids(), job3.parent_ids());
    }
}
