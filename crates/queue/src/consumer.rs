//! The worker's side: take a job (first one whose worker's lease ran out, by XAUTOCLAIM,
//! else a new one by XREADGROUP), keep its lease alive while it runs ([`Heartbeat`]), then
//! complete, fail, refuse or reject it. Malformed or foreign entries are moved to the
//! dead-letter stream with their reason and acknowledged, never handed to the caller.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use redis::{Commands, Value};

use crate::error::Result;
use crate::link::Link;
use crate::message::{JobMessage, Outcome, ResultMessage, SCHEMA};
use crate::names::{DEAD, DONE, DONE_MAXLEN, FAILURES, GROUP, JOBS, REFUSALS, RESULTS, RUNNING};
use crate::producer::{create_group, ensure_group};

/// How a worker uses the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// A job whose worker has not renewed its lease for this long goes to another worker.
    pub lease: Duration,
    /// A job that failed this many times is given up and reported with its error.
    pub max_failures: u32,
    /// How long one wait for a new job blocks.
    pub block: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            max_failures: 3,
            block: Duration::from_secs(2),
        }
    }
}

/// A job taken from the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its stream entry id.
    pub id: String,
    /// The job.
    pub job: JobMessage,
    /// Whether it was claimed from a worker whose lease ran out.
    pub reclaimed: bool,
}

/// A worker's handle on the queue.
pub struct Consumer {
    link: Link,
    url: String,
    name: String,
    options: ConsumerOptions,
    /// Where the next XAUTOCLAIM scan starts.
    cursor: String,
    /// Entries this worker refused: left for others.
    refused: HashSet<String>,
}

impl Consumer {
    /// Joins the workers' group on the queue at `url` as consumer `name`.
    pub fn connect(url: &str, name: &str, options: ConsumerOptions) -> Result<Self> {
        let mut link = Link::open(url)?;
        ensure_group(&mut link)?;
        Ok(Self {
            link,
            url: url.to_string(),
            name: name.to_string(),
            options,
            cursor: "0-0".into(),
            refused: HashSet::new(),
        })
    }

    /// This worker's consumer name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL, password removed.
    pub fn url(&self) -> &str {
        self.link.url()
    }

    /// The next job, or `None` when none came within the block time. Entries that are not
    /// jobs of this schema are set aside (`log` hears why) and never returned.
    pub fn next(&mut self, log: &mut dyn FnMut(String)) -> Result<Option<Delivery>> {
        let lease = self.options.lease.as_millis() as usize;
        let (name, cursor) = (self.name.clone(), self.cursor.clone());
        let claimed: StreamAutoClaimReply = self.link.run("XAUTOCLAIM jobs", |c| {
            with_group(c, |c| {
                c.xautoclaim_options(
                    JOBS,
                    GROUP,
                    &name,
                    lease,
                    &cursor,
                    StreamAutoClaimOptions::default().count(1),
                )
            })
        })?;
        self.cursor = claimed.next_stream_id.clone();
        for entry in claimed.claimed {
            if self.refused.contains(&entry.id) {
                self.release(&entry.id)?;
                continue;
            }
            if let Some(d) = self.accept(entry, true, log)? {
                return Ok(Some(d));
            }
        }
        let options = StreamReadOptions::default()
            .group(GROUP, &name)
            .count(1)
            .block(self.options.block.as_millis().max(1) as usize);
        let read: Option<StreamReadReply> = self.link.run("XREADGROUP jobs", |c| {
            c.xread_options(&[JOBS], &[">"], &options)
        })?;
        for entry in read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            if let Some(d) = self.accept(entry, false, log)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    fn accept(
        &mut self,
        entry: StreamId,
        reclaimed: bool,
        log: &mut dyn FnMut(String),
    ) -> Result<Option<Delivery>> {
        match JobMessage::from_fields(&entry.map) {
            Ok(job) => Ok(Some(Delivery {
                id: entry.id,
                job,
                reclaimed,
            })),
            Err(reason) => {
                log(format!("set aside entry {}: {reason}", entry.id));
                self.dead_letter(&entry.id, &reason, &fields_json(&entry.map))?;
                Ok(None)
            }
        }
    }

    /// Whether the job's result is already stored (then the entry is acknowledged).
    pub fn already_done(&mut self, d: &Delivery) -> Result<bool> {
        let key = d.job.key.clone();
        let done: bool = self
            .link
            .run("HEXISTS results", |c| c.hexists(RESULTS, &key))?;
        if done {
            self.ack(&d.id)?;
        }
        Ok(done)
    }

    /// Stores the job's result, notifies the run and acknowledges the entry, atomically.
    pub fn complete(&mut self, d: &Delivery, body: serde_json::Value) -> Result<()> {
        let result = ResultMessage {
            schema: SCHEMA,
            key: d.job.key.clone(),
            worker: self.name.clone(),
            outcome: Outcome::Done(body),
        };
        self.store(&d.id, &result, None)
    }

    /// Marks the job as running on this worker, to be called before it starts. A job taken
    /// again while still marked running lost its last worker in the middle of it: that counts
    /// as a failure, so a job that kills every worker it runs on (out of memory, say) is
    /// given up after [`ConsumerOptions::max_failures`] like one that fails. Returns whether
    /// to run it (`false`: given up, reported to the run).
    pub fn begin(&mut self, d: &Delivery) -> Result<bool> {
        let key = d.job.key.clone();
        let previous: Option<String> = self.link.run("HGET running", |c| c.hget(RUNNING, &key))?;
        if let Some(previous) = previous {
            let error = format!(
                "worker {previous} stopped in the middle of it (killed, out of memory or its machine gone)"
            );
            if self.count_failure(d, &error)? {
                return Ok(false);
            }
        }
        let name = self.name.clone();
        self.link.run("HSET running", |c| {
            c.hset::<_, _, _, ()>(RUNNING, &key, &name)
        })?;
        Ok(true)
    }

    /// Records a failure of the job; after [`ConsumerOptions::max_failures`] the job is
    /// given up (a failed result, a dead letter) and `true` is returned, else it is left
    /// for the next worker at once.
    pub fn fail(&mut self, d: &Delivery, error: &str) -> Result<bool> {
        let given_up = self.count_failure(d, error)?;
        if !given_up {
            self.not_running(&d.job.key)?;
            self.release(&d.id)?;
        }
        Ok(given_up)
    }

    /// Counts one failure; gives the job up (and returns `true`) at the limit.
    fn count_failure(&mut self, d: &Delivery, error: &str) -> Result<bool> {
        let key = d.job.key.clone();
        let n: u32 = self
            .link
            .run("HINCRBY failures", |c| c.hincr(FAILURES, &key, 1))?;
        if n < self.options.max_failures {
            return Ok(false);
        }
        let result = ResultMessage {
            schema: SCHEMA,
            key,
            worker: self.name.clone(),
            outcome: Outcome::Failed {
                error: error.to_string(),
                attempts: n,
            },
        };
        let reason = format!("failed {n} times; last error: {error}");
        self.store(&d.id, &result, Some(reason))?;
        Ok(true)
    }

    fn not_running(&mut self, key: &str) -> Result<()> {
        self.link
            .run("HDEL running", |c| c.hdel::<_, _, ()>(RUNNING, key))
    }

    /// Leaves the job for another worker (this one will not take it again) and records
    /// why, so the run can tell its user.
    pub fn refuse(&mut self, d: &Delivery, reason: &str) -> Result<()> {
        let (key, text) = (d.job.key.clone(), format!("{}: {reason}", self.name));
        self.link.run("HSET refusals", |c| {
            c.hset::<_, _, _, ()>(REFUSALS, &key, &text)
        })?;
        self.refused.insert(d.id.clone());
        self.not_running(&key)?;
        self.release(&d.id)
    }

    /// Gives up a job whose body this worker cannot read: a failed result (so the run does
    /// not wait for it) and a dead letter.
    pub fn reject(&mut self, d: &Delivery, reason: &str) -> Result<()> {
        let result = ResultMessage {
            schema: SCHEMA,
            key: d.job.key.clone(),
            worker: self.name.clone(),
            outcome: Outcome::Failed {
                error: reason.to_string(),
                attempts: 1,
            },
        };
        self.store(&d.id, &result, Some(reason.to_string()))
    }

    /// Keeps the lease of entry `id` alive from a thread until the returned guard drops.
    pub fn heartbeat(&self, id: &str) -> Result<Heartbeat> {
        Heartbeat::start(&self.url, &self.name, id, self.options.lease)
    }

    fn store(&mut self, id: &str, result: &ResultMessage, dead: Option<String>) -> Result<()> {
        let json = result.to_json();
        let mut cmds = vec![
            redis::cmd("HSET")
                .arg(RESULTS)
                .arg(&result.key)
                .arg(&json)
                .to_owned(),
            redis::cmd("XADD")
                .arg(DONE)
                .arg("MAXLEN")
                .arg("~")
                .arg(DONE_MAXLEN)
                .arg("*")
                .arg("key")
                .arg(&result.key)
                .to_owned(),
        ];
        cmds.push(redis::cmd("HDEL").arg(RUNNING).arg(&result.key).to_owned());
        if let Some(reason) = &dead {
            let fields = format!("{{\"job\":{json}}}");
            cmds.push(dead_entry(id, reason, &fields, &self.name));
        }
        self.finish("store result", id, cmds)
    }

    fn dead_letter(&mut self, id: &str, reason: &str, fields: &str) -> Result<()> {
        let cmds = vec![dead_entry(id, reason, fields, &self.name)];
        self.finish("dead-letter", id, cmds)
    }

    fn ack(&mut self, id: &str) -> Result<()> {
        self.finish("XACK jobs", id, Vec::new())
    }

    /// Runs `cmds`, then acknowledges and deletes entry `id`, in one MULTI/EXEC.
    fn finish(&mut self, what: &str, id: &str, cmds: Vec<redis::Cmd>) -> Result<()> {
        self.link.run(what, |c| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for cmd in &cmds {
                pipe.add_command(cmd.clone()).ignore();
            }
            pipe.xack(JOBS, GROUP, &[id]).ignore();
            pipe.xdel(JOBS, &[id]).ignore();
            pipe.query::<()>(c)
        })
    }

    /// Marks entry `id` idle for long, so the next XAUTOCLAIM of any worker takes it.
    fn release(&mut self, id: &str) -> Result<()> {
        let name = self.name.clone();
        self.link.run("XCLAIM release", |c| {
            redis::cmd("XCLAIM")
                .arg(JOBS)
                .arg(GROUP)
                .arg(&name)
                .arg(0)
                .arg(id)
                .arg("IDLE")
                .arg(1_000_000_000u64)
                .arg("JUSTID")
                .query::<Value>(c)
                .map(|_| ())
        })
    }
}

/// Runs `f`; when the group is missing (a server restarted without its data), makes it
/// again and runs `f` once more.
fn with_group<T>(
    c: &mut redis::Connection,
    f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
) -> redis::RedisResult<T> {
    match f(c) {
        Err(e) if e.code() == Some("NOGROUP") => {
            create_group(c)?;
            f(c)
        }
        other => other,
    }
}

/// The XADD of a dead letter.
fn dead_entry(id: &str, reason: &str, fields: &str, worker: &str) -> redis::Cmd {
    redis::cmd("XADD")
        .arg(DEAD)
        .arg("*")
        .arg("reason")
        .arg(reason)
        .arg("source_id")
        .arg(id)
        .arg("worker")
        .arg(worker)
        .arg("fields")
        .arg(fields)
        .to_owned()
}

/// An entry's fields as JSON text (strings lossily decoded), for the dead-letter stream.
fn fields_json(fields: &HashMap<String, Value>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                other => format!("{other:?}"),
            };
            (k.clone(), serde_json::Value::String(text))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Renews a job's lease (XCLAIM by its own worker, which resets the idle time) every third
/// of the lease until dropped.
pub struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    fn start(url: &str, name: &str, id: &str, lease: Duration) -> Result<Self> {
        let mut link = Link::open(url)?;
        link.reconnect_for = lease / 3;
        let (name, id) = (name.to_string(), id.to_string());
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3) {
                // A missed beat only risks a duplicate evaluation, which is harmless.
                let _ = link.run("XCLAIM heartbeat", |c| {
                    redis::cmd("XCLAIM")
                        .arg(JOBS)
                        .arg(GROUP)
                        .arg(&name)
                        .arg(0)
                        .arg(&id)
                        .arg("JUSTID")
                        .query::<Value>(c)
                });
            }
        });
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
