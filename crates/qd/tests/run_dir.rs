//! The run directory's contract: clear errors on misuse and corruption, re-issued jobs,
//! fallback past unusable snapshots, statistics on disk.

mod common;

use std::fs;

use common::{drive, evaluate, fingerprint, test_config, test_experts, TestGenome};
use cycleqd_qd::run::{CONFIG_FILE, JOURNAL_FILE, SNAPSHOT_DIR};
use cycleqd_qd::stats::CSV_HEADER;
use cycleqd_qd::{Ask, Durability, ParentSampler, QdError, Run, RunOptions};

fn options() -> RunOptions {
    RunOptions {
        snapshot_every: 5,
        keep_snapshots: 2,
        durability: Durability::OsBuffer,
    }
}

fn config() -> cycleqd_qd::CycleConfig {
    test_config(3, 20, 3, 9, ParentSampler::PAPER)
}

fn seeded(dir: &std::path::Path) -> Run<TestGenome> {
    let mut run = Run::create(dir, config(), options()).unwrap();
    run.seed(test_experts(3, 4)).unwrap();
    run
}

#[test]
fn create_open_and_config_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    assert!(matches!(
        Run::<TestGenome>::open(&dir, options()),
        Err(QdError::NoRun { .. })
    ));
    drop(seeded(&dir));
    assert!(matches!(
        Run::<TestGenome>::create(&dir, config(), options()),
        Err(QdError::RunExists { .. })
    ));
    let mut other = config();
    other.generations = 21;
    let err = Run::<TestGenome>::open_or_create(&dir, other, options()).unwrap_err();
    assert!(
        matches!(&err, QdError::ConfigMismatch { field, .. } if field == "generations"),
        "{err}"
    );
    let (_, report) = Run::<TestGenome>::open_or_create(&dir, config(), options()).unwrap();
    assert_eq!(report.unwrap().journal_records, 1);

    fs::write(
        dir.join(CONFIG_FILE),
        b"{\"format\":1,\"cycle\":{\"tasks\":[]}}",
    )
    .unwrap();
    let err = Run::<TestGenome>::open(&dir, options())
        .unwrap_err()
        .to_string();
    assert!(err.contains(CONFIG_FILE), "{err}");
    let bad = RunOptions {
        snapshot_every: 0,
        ..options()
    };
    let err = Run::<TestGenome>::create(&tmp.path().join("x"), config(), bad).unwrap_err();
    assert!(err.to_string().contains("snapshot_every"));
}

#[test]
fn jobs_in_flight_at_a_crash_are_handed_out_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut run = seeded(&dir);
    let mut jobs = Vec::new();
    while let Ask::Job(job) = run.ask().unwrap() {
        jobs.push(job);
    }
    assert_eq!(jobs.len(), 3);
    let (child, scores) = evaluate(&jobs[1], 3);
    run.tell(2, child, scores).unwrap();
    drop(run);

    let (mut resumed, report) = Run::<TestGenome>::open(&dir, options()).unwrap();
    assert_eq!(report.reissued_jobs, 2);
    assert_eq!(report.replayed_records, 2);
    // A job of the previous process cannot be told before it is asked again.
    let (child, scores) = evaluate(&jobs[0], 3);
    assert!(matches!(
        resumed.tell(1, child.clone(), scores.clone()),
        Err(QdError::NotAsked { generation: 1 })
    ));
    let mut again = Vec::new();
    while let Ask::Job(job) = resumed.ask().unwrap() {
        again.push(job);
    }
    let ids = |js: &[cycleqd_qd::Job<TestGenome>]| {
        js.iter()
            .map(|j| (j.generation, j.parent_ids(), j.seed))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), vec![ids(&jobs)[0], ids(&jobs)[2]]);
    assert!(matches!(
        resumed.tell(2, child.clone(), scores.clone()),
        Err(QdError::AlreadyTold { .. })
    ));
    resumed.tell(1, child, scores).unwrap();
    assert_eq!(resumed.cycle().inserted_generations(), 2);
}

#[test]
fn a_torn_seeds_record_leaves_the_run_unseeded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    drop(seeded(&dir));
    let journal = fs::read(dir.join(JOURNAL_FILE)).unwrap();
    fs::write(dir.join(JOURNAL_FILE), &journal[..journal.len() / 2]).unwrap();
    let (mut run, report) = Run::<TestGenome>::open(&dir, options()).unwrap();
    assert_eq!(report.torn_bytes as usize, journal.len() / 2);
    assert!(!run.cycle().is_seeded());
    assert!(matches!(run.ask(), Err(QdError::NotSeeded)));
    run.seed(test_experts(3, 4)).unwrap();
    assert_eq!(fs::read(dir.join(JOURNAL_FILE)).unwrap(), journal);
}

#[test]
fn corrupt_or_foreign_journals_are_reported_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut run = seeded(&dir);
    drive(&mut run, 3, |_, tells| tells < 4);
    drop(run);
    fs::remove_dir_all(dir.join(SNAPSHOT_DIR)).unwrap();
    let journal = fs::read_to_string(dir.join(JOURNAL_FILE)).unwrap();

    // A garbled record in the middle.
    let lines: Vec<&str> = journal.lines().collect();
    let garbled = format!(
        "{}\n{}\n{{\"result\":3}}\n{}\n",
        lines[0],
        lines[1],
        lines[3..].join("\n")
    );
    fs::write(dir.join(JOURNAL_FILE), garbled).unwrap();
    let err = Run::<TestGenome>::open(&dir, options())
        .unwrap_err()
        .to_string();
    assert!(err.contains("journal.jsonl, line 3"), "{err}");

    // The journal of a run with another seed: its parents do not match.
    fs::write(dir.join(JOURNAL_FILE), &journal).unwrap();
    let text = fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
    fs::write(
        dir.join(CONFIG_FILE),
        text.replace("\"seed\": 9", "\"seed\": 10"),
    )
    .unwrap();
    let err = Run::<TestGenome>::open(&dir, options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("parents") && err.contains("journal.jsonl, line"),
        "{err}"
    );
}

#[test]
fn unusable_snapshots_fall_back_to_older_ones_or_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut run = seeded(&dir);
    drive(&mut run, 5, |_, tells| tells < 13);
    let expected = fingerprint(&run);
    drop(run);
    let mut snapshots: Vec<_> = fs::read_dir(dir.join(SNAPSHOT_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    snapshots.sort();
    assert_eq!(snapshots.len(), 2, "keep_snapshots = 2");
    fs::write(&snapshots[1], b"not json").unwrap();
    let (resumed, report) = Run::<TestGenome>::open(&dir, options()).unwrap();
    assert_eq!(report.unusable_snapshots.len(), 1);
    assert!(report.unusable_snapshots[0].1.contains("line 1"));
    let older: u64 = snapshots[0].to_str().unwrap()[..]
        .rsplit('-')
        .next()
        .unwrap()
        .trim_end_matches(".json")
        .parse()
        .unwrap();
    assert_eq!(report.snapshot, Some(older));
    assert_eq!(fingerprint(&resumed), expected);
    drop(resumed);
    fs::write(&snapshots[0], b"{}").unwrap();
    let (resumed, report) = Run::<TestGenome>::open(&dir, options()).unwrap();
    assert_eq!(
        (report.snapshot, report.unusable_snapshots.len()),
        (None, 2)
    );
    assert_eq!(fingerprint(&resumed), expected);
}

#[test]
fn statistics_csv_has_a_row_per_archive_and_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = seeded(&tmp.path().join("run"));
    drive(&mut run, 8, |_, _| true);
    let csv = fs::read_to_string(run.write_stats_csv().unwrap()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 1 + 21 * 3);
    assert!(lines[1].starts_with("0,task0,3,"));
    assert!(lines.last().unwrap().starts_with("20,task2,"));
    // A completed run ends with a snapshot of its final state.
    let (reopened, report) = Run::<TestGenome>::open(run.dir(), options()).unwrap();
    assert_eq!((report.snapshot, report.replayed_records), (Some(20), 0));
    assert_eq!(fingerprint(&reopened), fingerprint(&run));
}
