//! The run's side of the evaluation queue: jobs sent to the workers, results read back and
//! checked against their job. Refusals (a worker whose copy of a model or task differs) are
//! told on stderr, once each; a job the workers gave up on fails the run with its error.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cycleqd_queue::{JobMessage, Outcome, Producer, QueueError};
use cycleqd_tasks::TaskResult;

use crate::error::{EvolveError, Result};
use crate::eval_job::{EvalJob, EvalResult, JobSite};

/// How long one wait for results blocks before looking again.
const WAIT: Duration = Duration::from_secs(2);
/// Waits without a result after which the outstanding jobs are sent again where they are
/// gone from the stream without a result (a Redis that lost data): 30 s.
const RESEND_AFTER_WAITS: u32 = 15;

/// The producer, the run's shared job fields, and the jobs sent and not yet collected.
pub(crate) struct QueueSide {
    producer: Producer,
    site: JobSite,
    jobs: HashMap<String, EvalJob>,
    told: HashSet<(String, String)>,
}

impl QueueSide {
    /// Connects to the queue at `url`.
    pub fn connect(url: &str, site: JobSite) -> Result<Self> {
        Ok(Self {
            producer: Producer::connect(url)?,
            site,
            jobs: HashMap::new(),
            told: HashSet::new(),
        })
    }

    /// The fields every job of the run shares.
    pub fn site(&self) -> &JobSite {
        &self.site
    }

    /// Sends `job` (unless it is on the queue or answered already); returns its key.
    pub fn submit(&mut self, job: EvalJob) -> Result<String> {
        let key = job.key();
        let body = serde_json::to_value(&job).expect("a job serialises");
        self.producer.submit(&JobMessage::new(key.clone(), body))?;
        self.jobs.insert(key.clone(), job);
        Ok(key)
    }

    /// Results of some of `keys` (at least one), blocking until one is there.
    pub fn collect(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<TaskResult>)>> {
        let mut idle = 0u32;
        loop {
            let progress = self.producer.wait(keys, WAIT)?;
            for (key, refusal) in progress.refusals {
                if self.told.insert((key.clone(), refusal.clone())) {
                    eprintln!(
                        "queue {}: job {key} refused by {refusal}; it waits for another worker",
                        self.producer.url()
                    );
                }
            }
            if progress.results.is_empty() {
                idle += 1;
                if idle.is_multiple_of(RESEND_AFTER_WAITS) {
                    for key in keys {
                        if let Some(job) = self.jobs.get(key) {
                            let body = serde_json::to_value(job).expect("a job serialises");
                            if self.producer.submit(&JobMessage::new(key.clone(), body))? {
                                eprintln!(
                                    "queue {}: job {key} was gone from the stream without a result; sent again",
                                    self.producer.url()
                                );
                            }
                        }
                    }
                }
                continue;
            }
            let mut out = Vec::with_capacity(progress.results.len());
            for result in progress.results {
                let job = self.jobs.remove(&result.key).ok_or_else(|| {
                    EvolveError::Invalid(format!(
                        "a result for job {} that was not sent",
                        result.key
                    ))
                })?;
                match result.outcome {
                    Outcome::Done(body) => {
                        let bad = |problem: String| {
                            EvolveError::Invalid(format!(
                                "queue {}: the result of job {} from worker {}: {problem}",
                                self.producer.url(),
                                result.key,
                                result.worker
                            ))
                        };
                        let parsed: EvalResult =
                            serde_json::from_value(body).map_err(|e| bad(e.to_string()))?;
                        parsed.check(&job).map_err(bad)?;
                        out.push((result.key, parsed.results));
                    }
                    Outcome::Failed { error, attempts } => {
                        return Err(QueueError::JobFailed {
                            key: result.key,
                            attempts,
                            error,
                        }
                        .into())
                    }
                }
            }
            return Ok(out);
        }
    }

    /// The results of the one job `key`, blocking until they are there.
    pub fn wait_for(&mut self, key: &str) -> Result<Vec<TaskResult>> {
        let keys = [key.to_string()];
        let mut done = self.collect(&keys)?;
        Ok(done.pop().expect("collect returns at least one").1)
    }
}
