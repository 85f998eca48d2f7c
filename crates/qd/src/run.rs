//! A run directory: the config, the journal of every finished evaluation, the statistics
//! log and periodic snapshots, so a run killed at any moment resumes exactly where it
//! stood.
//!
//! Layout: `config.json` (the [`CycleConfig`]), `journal.jsonl` (seeds, then one line per
//! told result, in the order told), `stats.jsonl` (one line per inserted generation),
//! `snapshots/snapshot-<generation>.json` (the newest few). Resuming loads the newest
//! usable snapshot with the statistics up to it, and replays the journal records it does
//! not contain; with no snapshot it replays the whole journal. Either way the archives,
//! sample counts, statistics and created jobs equal those of an uninterrupted run, and
//! jobs that were in flight are handed out again.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::CycleConfig;
use crate::error::QdError;
use crate::individual::{Individual, IndividualId, Seed};
use crate::journal::{JournalEntry, JournalRecord};
use crate::jsonl::{read_jsonl, read_record_at, truncate, JsonlWriter};
use crate::scheduler::{Ask, Cycle, Inserted};
use crate::snapshot::CycleState;
use crate::stats::{write_csv, GenerationStats};
use cycleqd_atomic_write::{sync_dir, write_atomic, Durability};

/// The config file of a run directory.
pub const CONFIG_FILE: &str = "config.json";
/// The journal file of a run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// The statistics log of a run directory.
pub const STATS_LOG_FILE: &str = "stats.jsonl";
/// The snapshot folder of a run directory.
pub const SNAPSHOT_DIR: &str = "snapshots";
/// The statistics table [`Run::write_stats_csv`] writes.
pub const STATS_CSV_FILE: &str = "stats.csv";

const CONFIG_FORMAT: u32 = 1;

/// Runtime choices that do not change a run's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Write a snapshot whenever the inserted generation passes a multiple of this
    /// (and when the run completes); >= 1.
    pub snapshot_every: u64,
    /// How many snapshots to keep (older ones are deleted); >= 1.
    pub keep_snapshots: usize,
    /// How far each journal record (and each snapshot) is pushed before returning.
    pub durability: Durability,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            snapshot_every: 50,
            keep_snapshots: 2,
            durability: Durability::Fsync,
        }
    }
}

/// What `open` found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumeReport {
    /// The inserted generation of the snapshot resumed from; `None` when the whole
    /// journal was replayed.
    pub snapshot: Option<u64>,
    /// Snapshots that could not be used, newest first, with the reason.
    pub unusable_snapshots: Vec<(PathBuf, String)>,
    /// Complete journal records read.
    pub journal_records: u64,
    /// Records applied on top of the snapshot (the rest were already in it).
    pub replayed_records: u64,
    /// Bytes of a torn last journal line, cut off.
    pub torn_bytes: u64,
    /// Created jobs without a result, to be handed out again by `ask`.
    pub reissued_jobs: u64,
}

/// Where a genome lies in the journal: snapshots store this instead of the genome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRef {
    /// The byte offset of the journal record holding the genome.
    pub offset: u64,
    /// For a seed, its index in the seeds record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
}

/// The serialised config file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    format: u32,
    cycle: CycleConfig,
}

/// A cycle whose every result is journaled and whose state is periodically snapshotted.
#[derive(Debug)]
pub struct Run<G> {
    dir: PathBuf,
    cycle: Cycle<G>,
    journal: JsonlWriter,
    stats_log: JsonlWriter,
    /// Rows of `cycle.stats()` already in the statistics log.
    stats_logged: usize,
    /// The journal record of every individual a snapshot may need.
    genome_refs: HashMap<IndividualId, JournalRef>,
    options: RunOptions,
    last_snapshot: u64,
}

impl<G: Serialize + DeserializeOwned + Clone> Run<G> {
    /// Starts a new run in `dir` (created if missing; it must not hold a run yet).
    pub fn create(dir: &Path, config: CycleConfig, options: RunOptions) -> Result<Self, QdError> {
        config.validate()?;
        check_options(&options)?;
        let config_path = dir.join(CONFIG_FILE);
        if config_path.exists() {
            return Err(QdError::RunExists {
                path: dir.to_path_buf(),
            });
        }
        let snapshots = dir.join(SNAPSHOT_DIR);
        fs::create_dir_all(&snapshots).map_err(|e| QdError::io(&snapshots, e))?;
        // Leftovers of an earlier create that died before writing the config.
        for file in [JOURNAL_FILE, STATS_LOG_FILE] {
            let path = dir.join(file);
            if path.exists() {
                truncate(&path, 0)?;
            }
        }
        let journal = JsonlWriter::open(&dir.join(JOURNAL_FILE))?;
        let stats_log = JsonlWriter::open(&dir.join(STATS_LOG_FILE))?;
        // The config goes last: a directory without it is not a run yet.
        let file = ConfigFile {
            format: CONFIG_FORMAT,
            cycle: config.clone(),
        };
        let json = serde_json::to_vec_pretty(&file).expect("a config serialises");
        write_atomic(&config_path, &json, options.durability)?;
        Ok(Run {
            dir: dir.to_path_buf(),
            cycle: Cycle::new(config)?,
            journal,
            stats_log,
            stats_logged: 0,
            genome_refs: HashMap::new(),
            options,
            last_snapshot: 0,
        })
    }

    /// Resumes the run in `dir`.
    pub fn open(dir: &Path, options: RunOptions) -> Result<(Self, ResumeReport), QdError> {
        check_options(&options)?;
        let config = read_config(dir)?;
        let journal_path = dir.join(JOURNAL_FILE);
        let stats_path = dir.join(STATS_LOG_FILE);
        for path in [&journal_path, &stats_path] {
            JsonlWriter::open(path)?;
        }
        remove_temp_files(&dir.join(SNAPSHOT_DIR))?;

        let mut report = ResumeReport::default();
        let mut resumed = None;
        for (generation, path) in list_snapshots(dir)?.into_iter().rev() {
            match load_snapshot::<G>(&path, &journal_path, &stats_path, &config) {
                Ok(found) => {
                    report.snapshot = Some(generation);
                    resumed = Some(found);
                    break;
                }
                Err(reason) => report.unusable_snapshots.push((path, reason)),
            }
        }
        // The statistics log keeps exactly the rows the resumed state has; replay
        // appends the rest.
        let (mut cycle, stats_bytes, mut genome_refs) = match resumed {
            Some(found) => found,
            None => (Cycle::new(config)?, 0, HashMap::new()),
        };
        truncate(&stats_path, stats_bytes)?;

        let from_snapshot = report.snapshot.is_some();
        let mut seeds_seen = false;
        let scan = read_jsonl::<JournalRecord<G>>(&journal_path, |pos, record| {
            let bad = |reason: String| QdError::Record {
                path: journal_path.clone(),
                line: pos.line,
                reason,
            };
            match record {
                JournalRecord::Seeds(seeds) => {
                    if seeds_seen {
                        return Err(bad("a second seeds record".into()));
                    }
                    seeds_seen = true;
                    if !from_snapshot {
                        genome_refs.extend(seed_refs(pos.offset, seeds.len()));
                        cycle.seed(seeds).map_err(|e| bad(e.to_string()))?;
                        report.replayed_records += 1;
                    }
                }
                JournalRecord::Result(r) => {
                    if !seeds_seen {
                        return Err(bad("a result before the seeds record".into()));
                    }
                    if r.generation <= cycle.inserted_generations() {
                        return Ok(ControlFlow::Continue(()));
                    }
                    cycle
                        .check_result(r.generation, &r.scores, true)
                        .map_err(|e| bad(e.to_string()))?;
                    let job = cycle.job(r.generation).expect("checked: the job exists");
                    if job.parent_ids() != r.parents {
                        return Err(bad(format!(
                            "generation {} names parents {:?}, but the run breeds it from {:?}: the config, seed or journal changed",
                            r.generation,
                            r.parents,
                            job.parent_ids()
                        )));
                    }
                    genome_refs.insert(
                        IndividualId(cycle.seed_count() + r.generation - 1),
                        JournalRef {
                            offset: pos.offset,
                            seed: None,
                        },
                    );
                    cycle
                        .accept(r.generation, r.genome, r.scores)
                        .map_err(|e| bad(e.to_string()))?;
                    report.replayed_records += 1;
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        truncate(&journal_path, scan.valid_bytes)?;
        report.journal_records = scan.records;
        report.torn_bytes = scan.torn_bytes;
        report.reissued_jobs = cycle.pending_without_result();

        let stats_logged = report.snapshot.map_or(0, |g| g as usize + 1);
        let mut run = Run {
            dir: dir.to_path_buf(),
            cycle,
            journal: JsonlWriter::open(&journal_path)?,
            stats_log: JsonlWriter::open(&stats_path)?,
            stats_logged,
            genome_refs,
            options,
            last_snapshot: report.snapshot.unwrap_or(0),
        };
        run.log_new_stats()?;
        Ok((run, report))
    }

    /// Resumes the run in `dir` if there is one (its config must equal `config`), else
    /// starts it; the report is `Some` when resumed.
    pub fn open_or_create(
        dir: &Path,
        config: CycleConfig,
        options: RunOptions,
    ) -> Result<(Self, Option<ResumeReport>), QdError> {
        if !dir.join(CONFIG_FILE).exists() {
            return Ok((Run::create(dir, config, options)?, None));
        }
        let stored = read_config(dir)?;
        if let Some(field) = stored.first_difference(&config) {
            return Err(QdError::ConfigMismatch {
                path: dir.to_path_buf(),
                field: field.to_string(),
            });
        }
        let (run, report) = Run::open(dir, options)?;
        Ok((run, Some(report)))
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cycle, for reading archives, jobs in flight and statistics.
    pub fn cycle(&self) -> &Cycle<G> {
        &self.cycle
    }

    /// Journals the seeds, then offers them to the archives (see [`Cycle::seed`]).
    pub fn seed(&mut self, seeds: Vec<Seed<G>>) -> Result<Vec<Inserted>, QdError> {
        self.cycle.check_seeds(&seeds)?;
        let offset = self.journal.append(&JournalEntry::Seeds(&seeds))?;
        self.sync_journal()?;
        self.genome_refs.extend(seed_refs(offset, seeds.len()));
        let inserted = self.cycle.seed(seeds)?;
        self.log_new_stats()?;
        Ok(inserted)
    }

    /// The next job (see [`Cycle::ask`]); nothing is written.
    pub fn ask(&mut self) -> Result<Ask<G>, QdError> {
        self.cycle.ask()
    }

    /// Journals the result (durably, per [`RunOptions::durability`]), then tells the
    /// cycle (see [`Cycle::tell`]), logs the statistics of the generations it inserted
    /// and writes a snapshot when one is due.
    pub fn tell(
        &mut self,
        generation: u64,
        genome: G,
        scores: Vec<f64>,
    ) -> Result<Vec<Inserted>, QdError> {
        self.cycle.check_tell(generation, &scores)?;
        let parents = self
            .cycle
            .job(generation)
            .expect("checked: the job exists")
            .parent_ids();
        let offset = self.journal.append(&JournalEntry::Result {
            generation,
            parents,
            scores: &scores,
            genome: &genome,
        })?;
        self.sync_journal()?;
        self.genome_refs.insert(
            IndividualId(self.cycle.seed_count() + generation - 1),
            JournalRef { offset, seed: None },
        );
        let inserted = self.cycle.accept(generation, genome, scores)?;
        self.log_new_stats()?;
        let now = self.cycle.inserted_generations();
        let every = self.options.snapshot_every;
        if now / every > self.last_snapshot / every
            || (self.cycle.is_complete() && now != self.last_snapshot)
        {
            self.snapshot()?;
        }
        Ok(inserted)
    }

    /// Writes a snapshot of the current state now (nothing before seeding) and deletes
    /// all but the newest [`RunOptions::keep_snapshots`].
    pub fn snapshot(&mut self) -> Result<(), QdError> {
        let refs = &self.genome_refs;
        let Some(state) = CycleState::of(&self.cycle, |ind: &Individual<G>| {
            *refs.get(&ind.id).expect("every individual was journaled")
        }) else {
            return Ok(());
        };
        // A snapshot is only usable with the statistics up to it: make them durable first.
        if self.options.durability == Durability::Fsync {
            self.stats_log.sync()?;
        }
        let generation = state.inserted_generations();
        let json = serde_json::to_vec(&state).expect("a cycle state serialises");
        write_atomic(
            &snapshot_path(&self.dir, generation),
            &json,
            self.options.durability,
        )?;
        self.last_snapshot = generation;
        // Keep the references later snapshots may need: this one's and those of results
        // told but not yet inserted.
        let kept: HashSet<IndividualId> = state.individuals().iter().map(|i| i.id).collect();
        let first_uninserted = self.cycle.seed_count() + generation;
        self.genome_refs
            .retain(|id, _| kept.contains(id) || id.0 >= first_uninserted);
        let snapshots = list_snapshots(&self.dir)?;
        let excess = snapshots.len().saturating_sub(self.options.keep_snapshots);
        for (_, old) in &snapshots[..excess] {
            fs::remove_file(old).map_err(|e| QdError::io(old, e))?;
        }
        match self.options.durability {
            Durability::Fsync => Ok(sync_dir(&self.dir.join(SNAPSHOT_DIR))?),
            Durability::OsBuffer => Ok(()),
        }
    }

    /// Writes the statistics so far as a CSV table, `stats.csv` in the run directory;
    /// returns its path.
    pub fn write_stats_csv(&self) -> Result<PathBuf, QdError> {
        let path = self.dir.join(STATS_CSV_FILE);
        let mut csv = Vec::new();
        write_csv(self.cycle.stats(), &self.cycle.archive_labels(), &mut csv)
            .map_err(|e| QdError::io(&path, e))?;
        write_atomic(&path, &csv, self.options.durability)?;
        Ok(path)
    }

    fn sync_journal(&self) -> Result<(), QdError> {
        match self.options.durability {
            Durability::Fsync => self.journal.sync(),
            Durability::OsBuffer => Ok(()),
        }
    }

    /// Appends the statistics rows not yet in the log.
    fn log_new_stats(&mut self) -> Result<(), QdError> {
        for row in &self.cycle.stats()[self.stats_logged..] {
            self.stats_log.append(row)?;
        }
        self.stats_logged = self.cycle.stats().len();
        Ok(())
    }
}

fn check_options(options: &RunOptions) -> Result<(), QdError> {
    if options.snapshot_every == 0 {
        return Err(QdError::config("snapshot_every", "expected >= 1, got 0"));
    }
    if options.keep_snapshots == 0 {
        return Err(QdError::config("keep_snapshots", "expected >= 1, got 0"));
    }
    Ok(())
}

/// Reads and validates the config of the run in `dir`.
pub fn read_config(dir: &Path) -> Result<CycleConfig, QdError> {
    let path = dir.join(CONFIG_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(QdError::NoRun {
                path: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(QdError::io(&path, e)),
    };
    let bad = |reason: String| QdError::ConfigFile {
        path: path.clone(),
        reason,
    };
    let file: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if file.format != CONFIG_FORMAT {
        return Err(bad(format!(
            "config format {} (this build reads {CONFIG_FORMAT})",
            file.format
        )));
    }
    file.cycle.validate().map_err(|e| bad(e.to_string()))?;
    Ok(file.cycle)
}

fn snapshot_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(SNAPSHOT_DIR)
        .join(format!("snapshot-{generation:012}.json"))
}

/// The snapshots of a run directory, oldest first; leftover temp files are ignored.
fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, QdError> {
    let folder = dir.join(SNAPSHOT_DIR);
    let entries = match fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(QdError::io(&folder, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| QdError::io(&folder, e))?;
        let name = entry.file_name();
        let generation = name
            .to_str()
            .and_then(|n| n.strip_prefix("snapshot-"))
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(generation) = generation {
            found.push((generation, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes the temp files of snapshot writes that a crash interrupted.
fn remove_temp_files(folder: &Path) -> Result<(), QdError> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.map_err(|e| QdError::io(folder, e))?.path();
        if path.extension().is_some_and(|ext| ext == "tmp") {
            fs::remove_file(&path).map_err(|e| QdError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The journal references of the seeds in a seeds record at `offset`.
fn seed_refs(offset: u64, count: usize) -> impl Iterator<Item = (IndividualId, JournalRef)> {
    (0..count).map(move |i| {
        let seed = Some(i as u32);
        (IndividualId(i as u64), JournalRef { offset, seed })
    })
}

/// Reads an individual's genome from its journal record, checking that the record is
/// the individual's.
fn genome_from_journal<G: DeserializeOwned>(
    journal: &Path,
    ind: &Individual<JournalRef>,
) -> Result<G, String> {
    let at = ind.genome;
    let mismatch = || {
        format!(
            "the journal record at byte {} is not that of individual {} (generation {})",
            at.offset, ind.id, ind.generation
        )
    };
    match (
        read_record_at::<JournalRecord<G>>(journal, at.offset)?,
        at.seed,
    ) {
        (JournalRecord::Seeds(seeds), Some(i)) => {
            let seed = seeds.into_iter().nth(i as usize).ok_or_else(mismatch)?;
            (seed.scores == ind.scores)
                .then_some(seed.genome)
                .ok_or_else(mismatch)
        }
        (JournalRecord::Result(r), None) => (r.generation == ind.generation
            && r.scores == ind.scores)
            .then_some(r.genome)
            .ok_or_else(mismatch),
        _ => Err(mismatch()),
    }
}

/// A cycle restored from a snapshot, the byte length of the statistics rows it covers,
/// and the journal references of its individuals.
type Restored<G> = (Cycle<G>, u64, HashMap<IndividualId, JournalRef>);

/// Restores a snapshot with the logged statistics up to it and the genomes from the
/// journal.
fn load_snapshot<G: DeserializeOwned>(
    path: &Path,
    journal_path: &Path,
    stats_path: &Path,
    config: &CycleConfig,
) -> Result<Restored<G>, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    let state: CycleState<JournalRef> =
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let refs = state
        .individuals()
        .iter()
        .map(|i| (i.id, i.genome))
        .collect();
    let upto = state.inserted_generations();
    let mut stats = Vec::new();
    let scan = read_jsonl::<GenerationStats>(stats_path, |_, row| {
        if row.generation > upto {
            return Ok(ControlFlow::Break(()));
        }
        stats.push(row);
        Ok(ControlFlow::Continue(()))
    })
    .map_err(|e| e.to_string())?;
    let cycle = state.restore(config.clone(), stats, |ind| {
        genome_from_journal(journal_path, ind)
    })?;
    Ok((cycle, scan.valid_bytes, refs))
}
