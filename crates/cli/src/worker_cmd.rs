//! `cycleqd worker --queue URL`: an evaluation worker. Joins the queue's consumer group,
//! takes one job at a time, rebuilds the model from the models it holds (found by content
//! hash), scores it with the run's own scoring code and writes the result. `Ctrl-C` (or
//! SIGTERM) finishes the job in hand first; a second one stops at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cycleqd_evolve::{EvalJob, JobError, Worker, WorkerSetup};
use cycleqd_queue::{Consumer, ConsumerOptions};
use cycleqd_tasks::ResultCache;

/// Arguments of `cycleqd worker`.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// The queue: `redis://HOST:PORT/DB` or `rediss://...` (password in the URL or in
    /// `CYCLEQD_REDIS_PASSWORD`).
    #[arg(long)]
    queue: String,
    /// Device to evaluate on: `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Folders holding the run's base and experts (found by content hash, three levels
    /// deep) and SVD basis caches; the current folder when none is given.
    #[arg(long, num_args = 1..)]
    models: Vec<PathBuf>,
    /// This worker's name in the consumer group (default: host name and process id).
    #[arg(long)]
    name: Option<String>,
    /// Seconds without a renewed lease after which a job goes to another worker.
    #[arg(long, default_value_t = 60.0)]
    lease_secs: f64,
    /// A job that failed this many times is reported as failed, not retried.
    #[arg(long, default_value_t = 3)]
    max_failures: u32,
    /// The worker's result cache (default: the user's cycleqd cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Where SVD bases not found under --models are built.
    #[arg(long)]
    basis_cache: Option<PathBuf>,
    /// Stop after this many jobs (default: run until interrupted).
    #[arg(long)]
    max_jobs: Option<u64>,
}

/// Interrupts received (SIGINT, SIGTERM).
static STOP: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    if STOP.fetch_add(1, Ordering::SeqCst) >= 1 {
        // The second interrupt: stop now (the job goes back to the queue after its lease).
        unsafe { libc::_exit(130) };
    }
}

fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst) > 0
}

/// Runs the worker until interrupted (or `--max-jobs`).
pub fn run(args: WorkerArgs) -> Result<()> {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only touches an atomic and calls the async-signal-safe _exit.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
    let name = args.name.clone().unwrap_or_else(default_name);
    let options = ConsumerOptions {
        lease: Duration::from_secs_f64(args.lease_secs.max(0.1)),
        max_failures: args.max_failures.max(1),
        ..ConsumerOptions::default()
    };
    let mut queue = Consumer::connect(&args.queue, &name, options)
        .with_context(|| format!("joining the queue as {name}"))?;
    let cache = args.cache.clone().unwrap_or_else(ResultCache::default_dir);
    let basis_cache = args
        .basis_cache
        .clone()
        .unwrap_or_else(|| cache.with_file_name("basis"));
    let models = if args.models.is_empty() {
        vec![std::env::current_dir().context("the current folder")?]
    } else {
        args.models.clone()
    };
    let mut worker = Worker::new(WorkerSetup {
        models,
        device: args.device.clone(),
        cache,
        basis_cache,
    });
    eprintln!("worker {name}: waiting for jobs on {}", queue.url());
    let mut done = 0u64;
    while !stop_requested() && args.max_jobs.is_none_or(|m| done < m) {
        let Some(delivery) = queue.next(&mut |m| eprintln!("worker {name}: {m}"))? else {
            continue;
        };
        let key = short(&delivery.job.key);
        if queue.already_done(&delivery)? {
            eprintln!("worker {name}: job {key} already has a result");
            continue;
        }
        let job: EvalJob = match serde_json::from_value(delivery.job.body.clone()) {
            Ok(job) => job,
            Err(e) => {
                let reason = format!("the job body is not an evaluation job: {e}");
                eprintln!("worker {name}: set aside job {key}: {reason}");
                queue.reject(&delivery, &reason)?;
                continue;
            }
        };
        eprintln!(
            "worker {name}: took job {key}{}",
            if delivery.reclaimed {
                " (re-delivered)"
            } else {
                ""
            }
        );
        if !queue.begin(&delivery)? {
            eprintln!("worker {name}: gave up job {key}: its workers stopped in the middle of it too often");
            continue;
        }
        let started = Instant::now();
        let beat = queue.heartbeat(&delivery.id)?;
        let outcome = worker.evaluate(&job);
        drop(beat);
        match outcome {
            Ok(result) => {
                let body = serde_json::to_value(&result).context("serialising a result")?;
                queue.complete(&delivery, body)?;
                done += 1;
                let scores: Vec<String> = result
                    .results
                    .iter()
                    .map(|r| format!("{} {:.3}", r.task, r.score))
                    .collect();
                eprintln!(
                    "worker {name}: job {key} done in {:.1}s: {}",
                    started.elapsed().as_secs_f64(),
                    scores.join(", ")
                );
            }
            Err(JobError::Refuse(reason)) => {
                eprintln!("worker {name}: refused job {key}: {reason}");
                queue.refuse(&delivery, &reason)?;
            }
            Err(JobError::Fail(e)) => {
                let error = format!("{e}");
                let given_up = queue.fail(&delivery, &error)?;
                eprintln!(
                    "worker {name}: job {key} failed{}: {error}",
                    if given_up {
                        " for the last time"
                    } else {
                        "; it will be retried"
                    }
                );
            }
        }
    }
    eprintln!("worker {name}: stopped after {done} jobs");
    Ok(())
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}
