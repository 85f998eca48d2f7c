//! Kill-and-resume equivalence: a run cut off at a random point (journal truncated at any
//! byte, mid-record included; snapshots lost; a half-written snapshot left behind) and
//! resumed ends bit-identical to the same run never interrupted.

mod common;

use std::fs;
use std::path::Path;

use common::{copy_run_dir, drive, fingerprint, test_config, test_experts, TestGenome};
use cycleqd_qd::run::{JOURNAL_FILE, SNAPSHOT_DIR, STATS_LOG_FILE};
use cycleqd_qd::{Durability, ParentSampler, QualityMode, Run, RunOptions};
use proptest::prelude::*;

fn options(snapshot_every: u64) -> RunOptions {
    RunOptions {
        snapshot_every,
        keep_snapshots: 2,
        durability: Durability::OsBuffer,
    }
}

fn journal_len(dir: &Path) -> usize {
    fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len() as usize
}

struct Case {
    k: usize,
    in_flight: u64,
    generations: u64,
    snapshot_every: u64,
    sampler: ParentSampler,
    quality: QualityMode,
    seed: u64,
    crash_after: u64,
    torn_fraction: f64,
    drop_snapshots: u8,
    /// Keep only this fraction of the statistics log: worse than any crash, it makes
    /// the snapshots unusable and forces the fallback to a full replay.
    stats_kept: Option<f64>,
    order_before: u64,
    order_after: u64,
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut config = test_config(
        case.k,
        case.generations,
        case.in_flight,
        case.seed,
        case.sampler,
    );
    config.quality = case.quality;
    let opts = options(case.snapshot_every);

    // The uninterrupted run, copied aside right after tell number `crash_after`.
    let mut run = Run::create(&a, config, opts).unwrap();
    run.seed(test_experts(case.k, case.k + 2)).unwrap();
    let copy_at_crash = |run: &Run<TestGenome>| {
        copy_run_dir(&a, &b);
        (fingerprint(run), journal_len(&a))
    };
    let mut at_crash = (case.crash_after == 0).then(|| copy_at_crash(&run));
    let mut next_record = Vec::new();
    drive(&mut run, case.order_before, |run, tells| {
        if tells == case.crash_after {
            at_crash = Some(copy_at_crash(run));
        } else if tells == case.crash_after + 1 {
            let (_, len) = at_crash.as_ref().unwrap();
            next_record = fs::read(a.join(JOURNAL_FILE)).unwrap()[*len..].to_vec();
        }
        true
    });
    let uninterrupted = fingerprint(&run);
    let (crash_state, _) = at_crash.expect("the crash point is within the run");

    // The crash: part of the next record reached the file, some snapshots did not
    // survive, and a snapshot write was cut short.
    let torn = (case.torn_fraction * next_record.len() as f64) as usize;
    let mut journal = fs::read(b.join(JOURNAL_FILE)).unwrap();
    journal.extend_from_slice(&next_record[..torn]);
    fs::write(b.join(JOURNAL_FILE), journal).unwrap();
    let mut snapshots: Vec<_> = fs::read_dir(b.join(SNAPSHOT_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    snapshots.sort();
    for (i, path) in snapshots.iter().enumerate() {
        if case.drop_snapshots & (1 << i) != 0 {
            fs::remove_file(path).unwrap();
        }
    }
    if let Some(fraction) = case.stats_kept {
        let log = fs::read(b.join(STATS_LOG_FILE)).unwrap();
        fs::write(
            b.join(STATS_LOG_FILE),
            &log[..(fraction * log.len() as f64) as usize],
        )
        .unwrap();
    }
    fs::write(
        b.join(SNAPSHOT_DIR).join("snapshot-000000999999.json.tmp"),
        b"{\"format\":1,",
    )
    .unwrap();

    let (mut resumed, report) = Run::<TestGenome>::open(&b, opts).unwrap();
    prop_assert_eq!(report.torn_bytes as usize, torn);
    if case.stats_kept.is_none() {
        prop_assert!(report.unusable_snapshots.is_empty());
    }
    prop_assert_eq!(&fingerprint(&resumed), &crash_state);
    drive(&mut resumed, case.order_after, |_, _| true);
    prop_assert_eq!(fingerprint(&resumed), uninterrupted);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kill_and_resume_equals_uninterrupted(
        k in 2usize..=4,
        in_flight in 1u64..=4,
        generations in 1u64..30,
        snapshot_every in 1u64..8,
        elite in any::<bool>(),
        fixed_quality in proptest::bool::weighted(0.25),
        seed in any::<u64>(),
        crash_pick in any::<u64>(),
        torn_fraction in 0.0f64..1.0,
        drop_snapshots in any::<u8>(),
        stats_kept in proptest::option::weighted(0.25, 0.0f64..1.0),
        order_before in any::<u64>(),
        order_after in any::<u64>(),
    ) {
        check(Case {
            k,
            in_flight,
            generations,
            snapshot_every,
            sampler: if elite { ParentSampler::PAPER } else { ParentSampler::Uniform },
            quality: if fixed_quality { QualityMode::FixedMean } else { QualityMode::Cyclic },
            seed,
            crash_after: crash_pick % (generations + 1),
            torn_fraction,
            drop_snapshots,
            stats_kept,
            order_before,
            order_after,
        })?;
    }
}

/// Two runs with the same config and scores but different numbers of evaluations
/// finishing in different orders agree bit for bit.
#[test]
fn same_seed_same_scores_same_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let mut prints = Vec::new();
    for (i, order) in [1u64, 99, 12345].into_iter().enumerate() {
        let config = test_config(3, 80, 4, 77, ParentSampler::PAPER);
        let mut run = Run::create(&tmp.path().join(i.to_string()), config, options(10)).unwrap();
        run.seed(test_experts(3, 5)).unwrap();
        drive(&mut run, order, |_, _| true);
        prints.push(fingerprint(&run));
    }
    assert_eq!(prints[0], prints[1]);
    assert_eq!(prints[0], prints[2]);
}
