//! The queue's errors: each names the queue (its URL without the password), the command or
//! key, and what went wrong.

use thiserror::Error;

/// The queue's result type.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// What can go wrong talking to the queue.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The URL does not name a Redis server this build can reach.
    #[error("queue URL `{url}`: {problem}")]
    Url {
        /// The URL, password removed.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A command failed (after reconnecting, for lost connections).
    #[error("queue {url}: {what}: {source}")]
    Redis {
        /// The URL, password removed.
        url: String,
        /// The command and key.
        what: String,
        /// Redis's error.
        source: redis::RedisError,
    },
    /// A job failed on the workers as many times as allowed.
    #[error("job {key} failed {attempts} times on the workers; last error: {error}")]
    JobFailed {
        /// The job's key.
        key: String,
        /// How many attempts.
        attempts: u32,
        /// The last worker's error.
        error: String,
    },
    /// A message we wrote or read does not have the expected shape.
    #[error("queue {url}: {what}: {problem}")]
    Message {
        /// The URL, password removed.
        url: String,
        /// Which message.
        what: String,
        /// What was expected.
        problem: String,
    },
}
