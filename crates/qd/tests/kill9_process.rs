//! A real crash: a child process running a cycle on the sphere test objective is killed
//! with SIGKILL mid-run; the run is resumed here and must end bit-identical to the same
//! run never interrupted. (A custom harness: the child is this same binary, told apart
//! by an environment variable.)

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{drive, fingerprint, test_config, test_experts};
use cycleqd_qd::{CycleConfig, Durability, ParentSampler, Run, RunOptions};

const CHILD_DIR_ENV: &str = "CYCLEQD_QD_KILL9_CHILD_DIR";
const KILL_AFTER_TELLS: usize = 40;

fn config() -> CycleConfig {
    test_config(3, 300, 4, 2024, ParentSampler::PAPER)
}

fn options(durability: Durability) -> RunOptions {
    RunOptions {
        snapshot_every: 7,
        keep_snapshots: 2,
        durability,
    }
}

/// The child: runs the cycle with fsync'd journaling, printing a line after each tell.
fn child(dir: &Path) {
    let mut run = Run::create(dir, config(), options(Durability::Fsync)).unwrap();
    run.seed(test_experts(3, 5)).unwrap();
    drive(&mut run, 17, |_, tells| {
        println!("told {tells}");
        true
    });
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        child(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("killed");
    let mut process = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_DIR_ENV, &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    for _ in 0..KILL_AFTER_TELLS {
        lines.next().expect("the child reports its tells").unwrap();
    }
    process.kill().unwrap();
    let status = process.wait().unwrap();
    drop(lines);
    assert!(
        !status.success(),
        "the child was killed before finishing: {status}"
    );

    let (mut run, report) = Run::open(&dir, options(Durability::Fsync)).unwrap();
    let resumed_at = run.cycle().inserted_generations();
    assert!(resumed_at >= (KILL_AFTER_TELLS as u64).saturating_sub(4));
    assert!(resumed_at < 300);
    drive(&mut run, 5, |_, _| true);

    let mut reference = Run::create(
        &tmp.path().join("reference"),
        config(),
        options(Durability::OsBuffer),
    )
    .unwrap();
    reference.seed(test_experts(3, 5)).unwrap();
    drive(&mut reference, 99, |_, _| true);
    assert_eq!(fingerprint(&run), fingerprint(&reference));

    println!(
        "kill9_process: child {status} after {KILL_AFTER_TELLS}+ tells; resumed at generation {resumed_at} \
         from snapshot {:?} with {} records replayed, {} torn bytes, {} jobs re-issued; final state equals the uninterrupted run",
        report.snapshot, report.replayed_records, report.torn_bytes, report.reissued_jobs
    );
    println!("test kill9_process ... ok");
}
