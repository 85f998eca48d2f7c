//! Test objectives and drivers for exercising the QD core: synthetic score functions of a
//! vector genome (sphere-like bumps), not model evaluators.

#![allow(dead_code)] // Each integration test uses a different part of this module.

use std::path::Path;

use cycleqd_qd::{Ask, BcAxis, CycleConfig, Job, ParentSampler, Run, Seed};

/// The genome of the test objectives: a point in R^d.
pub type TestGenome = Vec<f32>;

/// A config over `k` test tasks named `task0..`, with ranges suited to the test objective.
pub fn test_config(
    k: usize,
    generations: u64,
    in_flight: u64,
    seed: u64,
    sampler: ParentSampler,
) -> CycleConfig {
    let axes = (0..k).map(|_| BcAxis::new(0.2, 0.9, 6).unwrap()).collect();
    let mut config = CycleConfig::paper((0..k).map(|t| format!("task{t}")).collect(), axes);
    config.generations = generations;
    config.in_flight = in_flight;
    config.seed = seed;
    config.sampler = sampler;
    config
}

/// The sphere-bump test objective: task t scores `1 / (1 + |x - c_t|^2)` with
/// `c_t = 1.25 e_t`, so each "expert" (a unit vector) is good at one task only, and
/// not yet optimal at it.
pub fn sphere_scores(genome: &[f32], k: usize) -> Vec<f64> {
    (0..k)
        .map(|t| {
            let d2: f64 = genome
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let c = if i == t { 1.25 } else { 0.0 };
                    (f64::from(x) - c).powi(2)
                })
                .sum();
            1.0 / (1.0 + d2)
        })
        .collect()
}

/// The K test "experts": the unit vectors of R^dim (dim >= k), scored by the objective.
pub fn test_experts(k: usize, dim: usize) -> Vec<Seed<TestGenome>> {
    (0..k)
        .map(|t| {
            let genome: TestGenome = (0..dim).map(|i| if i == t { 1.0 } else { 0.0 }).collect();
            Seed {
                scores: sphere_scores(&genome, k),
                genome,
            }
        })
        .collect()
}

/// splitmix64: a tiny deterministic generator for test variation and tell orders.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The test variation operator: a weighted mean of the parents plus noise drawn from the
/// job's seed, so the child is a function of the job alone.
pub fn breed(job: &Job<TestGenome>) -> TestGenome {
    let mut rng = SplitMix(job.seed);
    let w = 0.5 + 0.4 * rng.symmetric();
    let (a, b) = (&job.parents[0].genome, &job.parents[1].genome);
    a.iter()
        .zip(b)
        .map(|(&x, &y)| w * x + (1.0 - w) * y + 0.15 * rng.symmetric())
        .collect()
}

/// Evaluates a job with the test objective.
pub fn evaluate(job: &Job<TestGenome>, k: usize) -> (TestGenome, Vec<f64>) {
    let child = breed(job);
    let scores = sphere_scores(&child, k);
    (child, scores)
}

/// Drives a run to completion in steady state: keeps every available job in flight and
/// tells a randomly chosen one at a time (order from `order_seed`). Calls `after_tell`
/// with the number of tells so far; it returns false to stop early (a simulated crash).
pub fn drive(
    run: &mut Run<TestGenome>,
    order_seed: u64,
    mut after_tell: impl FnMut(&Run<TestGenome>, u64) -> bool,
) {
    let k = run.cycle().config().task_count();
    let mut order = SplitMix(order_seed);
    let mut in_flight: Vec<Job<TestGenome>> = Vec::new();
    let mut tells = 0;
    loop {
        while let Ask::Job(job) = run.ask().unwrap() {
            in_flight.push(job);
        }
        if in_flight.is_empty() {
            assert!(run.cycle().is_complete());
            return;
        }
        let job = in_flight.swap_remove(order.below(in_flight.len()));
        let (child, scores) = evaluate(&job, k);
        run.tell(job.generation, child, scores).unwrap();
        tells += 1;
        if !after_tell(run, tells) {
            return;
        }
    }
}

/// The full state of a run as JSON: equal strings mean bit-identical archives, sample
/// counts, statistics and created jobs.
pub fn fingerprint(run: &Run<TestGenome>) -> String {
    let state = cycleqd_qd::snapshot::CycleState::of(run.cycle(), |i| i.genome.clone()).unwrap();
    serde_json::to_string(&(state, run.cycle().stats())).unwrap()
}

/// Copies a run directory (flat files and the snapshot folder).
pub fn copy_run_dir(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    std::fs::create_dir_all(to.join(cycleqd_qd::run::SNAPSHOT_DIR)).unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
