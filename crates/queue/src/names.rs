//! The Redis keys of the queue: one jobs stream with its consumer group, the results hash and
//! its notification stream, failure counts, refusals and the dead-letter stream.

/// The jobs stream (`XADD` by the run, `XREADGROUP` by workers).
pub const JOBS: &str = "cycleqd:eval:jobs";
/// The workers' consumer group on [`JOBS`].
pub const GROUP: &str = "cycleqd-workers";
/// Results by job key (a hash: key -> [`crate::ResultMessage`] JSON).
pub const RESULTS: &str = "cycleqd:eval:results";
/// One entry per written result (field `key`), so the run can block until one arrives.
pub const DONE: &str = "cycleqd:eval:done";
/// Job key -> the jobs-stream entry id it was added as.
pub const SUBMITTED: &str = "cycleqd:eval:submitted";
/// Job key -> how many times a worker failed on it.
pub const FAILURES: &str = "cycleqd:eval:failures";
/// Job key -> the worker running it now; still there when a job is taken again, its last
/// worker stopped in the middle of it (killed, out of memory, machine gone).
pub const RUNNING: &str = "cycleqd:eval:running";
/// Job key -> the last refusal (`worker: reason`).
pub const REFUSALS: &str = "cycleqd:eval:refusals";
/// Dead letters: malformed or foreign messages and jobs that failed too often, with the
/// reason (fields `reason`, `source_id`, `fields`).
pub const DEAD: &str = "cycleqd:eval:dead";
/// The stream field of a job entry holding its [`crate::JobMessage`] JSON.
pub const JOB_FIELD: &str = "job";
/// How many notifications [`DONE`] keeps (approximately).
pub const DONE_MAXLEN: usize = 100_000;
