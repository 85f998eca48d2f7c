//! The evaluation queue on Redis Streams: the run (producer) adds one job per evaluation to
//! a stream, workers in a consumer group take, score and acknowledge them, and results land
//! in a hash keyed by the job's key (the model's identity and the task fingerprints), so a
//! duplicate completion is harmless. Jobs whose worker died are re-delivered with
//! XAUTOCLAIM after a lease timeout; malformed or foreign messages and jobs that failed too
//! often go to a dead-letter stream with their reason. The queue knows nothing about models:
//! a job's body is the caller's JSON data (`docs/distributed.md`).

pub mod consumer;
pub mod error;
pub mod link;
pub mod message;
pub mod names;
pub mod producer;

pub use consumer::{Consumer, ConsumerOptions, Delivery, Heartbeat};
pub use error::{QueueError, Result};
pub use link::{redact, Link};
pub use message::{JobMessage, Outcome, ResultMessage, SCHEMA};
pub use producer::{Producer, Progress};
