//! Benchmark of the QD bookkeeping alone: `ask` + `tell` cost per child with 3 archives
//! of 15x15 cells, in memory and through a journaled run directory, and the bytes the
//! run directory grows by per child. Genomes are recipes of 300 f32 coefficients; scores
//! are synthetic test scores (no model, no evaluation cost). Run with
//! `cargo bench -p cycleqd-qd`; `CYCLEQD_QD_BENCH_CHILDREN` changes the 100000 children.

use std::path::Path;
use std::time::{Duration, Instant};

use cycleqd_qd::{
    Ask, BcAxis, Cycle, CycleConfig, Durability, Job, ParentSampler, Run, RunOptions, Seed,
};

type Recipe = Vec<f32>;

const TASKS: usize = 3;
const RECIPE_LEN: usize = 300;
const IN_FLIGHT: u64 = 8;

/// splitmix64, for synthetic scores and recipe perturbations.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn config(generations: u64) -> CycleConfig {
    let axes = (0..TASKS)
        .map(|_| BcAxis::new(0.0, 1.0, 15).unwrap())
        .collect();
    let mut c = CycleConfig::paper(vec!["os".into(), "coding".into(), "db".into()], axes);
    c.generations = generations;
    c.in_flight = IN_FLIGHT;
    c
}

fn experts() -> Vec<Seed<Recipe>> {
    (0..TASKS)
        .map(|t| Seed {
            scores: (0..TASKS).map(|j| if j == t { 0.6 } else { 0.2 }).collect(),
            genome: (0..RECIPE_LEN)
                .map(|i| if i % TASKS == t { 1.0 } else { 0.0 })
                .collect(),
        })
        .collect()
}

/// The caller's side, not timed: a child recipe and synthetic scores for a job.
fn evaluate(job: &Job<Recipe>) -> (Recipe, Vec<f64>) {
    let w = unit(mix(job.seed)) as f32;
    let child = job.parents[0]
        .genome
        .iter()
        .zip(&job.parents[1].genome)
        .map(|(a, b)| w * a + (1.0 - w) * b)
        .collect();
    let scores = (0..TASKS as u64)
        .map(|t| unit(mix(job.seed ^ (t + 1))))
        .collect();
    (child, scores)
}

/// Drives `children` generations through `ask`/`tell`, timing only those calls.
fn drive<A, T>(children: u64, mut ask: A, mut tell: T) -> Duration
where
    A: FnMut() -> Ask<Recipe>,
    T: FnMut(u64, Recipe, Vec<f64>),
{
    let mut timed = Duration::ZERO;
    let mut in_flight = Vec::new();
    let mut told = 0;
    while told < children {
        loop {
            let start = Instant::now();
            let next = ask();
            timed += start.elapsed();
            match next {
                Ask::Job(job) => in_flight.push(job),
                Ask::Wait | Ask::Exhausted => break,
            }
        }
        // Results come back out of order: the newest job first.
        let job = in_flight.pop().expect("a job in flight");
        let (child, scores) = evaluate(&job);
        let start = Instant::now();
        tell(job.generation, child, scores);
        timed += start.elapsed();
        told += 1;
    }
    timed
}

fn per_child(d: Duration, children: u64) -> String {
    format!("{:.2} us/child", d.as_secs_f64() * 1e6 / children as f64)
}

fn size(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| size(&e.unwrap().path()))
            .sum()
    } else {
        std::fs::metadata(path).unwrap().len()
    }
}

fn bench_run(label: &str, children: u64, options: RunOptions) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut run = Run::create(&dir, config(children), options).unwrap();
    run.seed(experts()).unwrap();
    let cell = std::cell::RefCell::new(run);
    let timed = drive(
        children,
        || cell.borrow_mut().ask().unwrap(),
        |g, child, scores| {
            cell.borrow_mut().tell(g, child, scores).unwrap();
        },
    );
    let run = cell.into_inner();
    assert!(run.cycle().is_complete());
    let journal = size(&dir.join(cycleqd_qd::run::JOURNAL_FILE));
    let stats = size(&dir.join(cycleqd_qd::run::STATS_LOG_FILE));
    let snapshots = size(&dir.join(cycleqd_qd::run::SNAPSHOT_DIR));
    println!(
        "{label:<44} {children:>6} children  ask+tell {}  journal {:.0} B/child  stats log {:.0} B/child  last snapshots {:.1} MB",
        per_child(timed, children),
        journal as f64 / children as f64,
        stats as f64 / children as f64,
        snapshots as f64 / 1e6,
    );
}

fn main() {
    let children: u64 = std::env::var("CYCLEQD_QD_BENCH_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);

    let mut cycle = Cycle::new(config(children)).unwrap();
    cycle.seed(experts()).unwrap();
    let cell = std::cell::RefCell::new(cycle);
    let timed = drive(
        children,
        || cell.borrow_mut().ask().unwrap(),
        |g, child, scores| {
            cell.borrow_mut().tell(g, child, scores).unwrap();
        },
    );
    let cycle = cell.into_inner();
    let elites: usize = cycle.archives().iter().map(|a| a.len()).sum();
    println!(
        "{:<44} {children:>6} children  ask+tell {}  ({elites} elites in 3 x 225 cells)",
        "Cycle in memory (no I/O)",
        per_child(timed, children)
    );
    assert_eq!(cycle.config().sampler, ParentSampler::PAPER);

    let os = |snapshot_every| RunOptions {
        snapshot_every,
        keep_snapshots: 2,
        durability: Durability::OsBuffer,
    };
    bench_run("Run, OS-buffered, snapshot every 1000", children, os(1000));
    bench_run("Run, OS-buffered, snapshot every 50", children / 10, os(50));
    bench_run(
        "Run, fsync per record, snapshot every 50",
        (children / 50).max(100),
        RunOptions {
            durability: Durability::Fsync,
            ..os(50)
        },
    );
}
