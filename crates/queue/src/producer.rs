//! The run's side: add jobs (once: a job already added and still in the stream, or already
//! answered, is not added again, so a resumed run re-attaches to its outstanding jobs) and
//! wait for their results.

use std::time::Duration;

use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::Commands;

use crate::error::{QueueError, Result};
use crate::link::Link;
use crate::message::{JobMessage, ResultMessage};
use crate::names::{DONE, JOBS, JOB_FIELD, REFUSALS, RESULTS, SUBMITTED};

/// The run's handle on the queue.
pub struct Producer {
    link: Link,
    /// The last notification of [`DONE`] seen.
    last_done: String,
}

/// What [`Producer::wait`] found.
#[derive(Debug, Default)]
pub struct Progress {
    /// Results of some of the keys waited for.
    pub results: Vec<ResultMessage>,
    /// `(key, refusal)` of keys some worker refused (the job stays for another worker).
    pub refusals: Vec<(String, String)>,
}

impl Producer {
    /// Connects to the queue at `url` and makes sure the stream and group exist.
    pub fn connect(url: &str) -> Result<Self> {
        let mut link = Link::open(url)?;
        ensure_group(&mut link)?;
        let last: StreamRangeReply = link.run("XREVRANGE done", |c| {
            redis::cmd("XREVRANGE")
                .arg(DONE)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(c)
        })?;
        let last_done = last.ids.first().map_or("0-0".into(), |e| e.id.clone());
        Ok(Self { link, last_done })
    }

    /// The URL, password removed.
    pub fn url(&self) -> &str {
        self.link.url()
    }

    /// Adds `job` to the stream unless it has a result already or was added before and is
    /// still there (a resumed run re-attaches to it). Returns whether it was added.
    pub fn submit(&mut self, job: &JobMessage) -> Result<bool> {
        let key = job.key.clone();
        if self.result(&key)?.is_some() {
            return Ok(false);
        }
        let previous: Option<String> = self
            .link
            .run("HGET submitted", |c| c.hget(SUBMITTED, &key))?;
        if let Some(id) = previous {
            let still: StreamRangeReply =
                self.link.run("XRANGE jobs", |c| c.xrange(JOBS, &id, &id))?;
            if !still.ids.is_empty() {
                return Ok(false);
            }
            // Gone without a result (a result written since is checked below).
            if self.result(&key)?.is_some() {
                return Ok(false);
            }
        }
        let json = job.to_json();
        let id: String = self
            .link
            .run("XADD jobs", |c| c.xadd(JOBS, "*", &[(JOB_FIELD, &json)]))?;
        self.link.run("HSET submitted", |c| {
            c.hset::<_, _, _, ()>(SUBMITTED, &key, &id)
        })?;
        Ok(true)
    }

    /// The result stored under `key`, if any.
    pub fn result(&mut self, key: &str) -> Result<Option<ResultMessage>> {
        let text: Option<String> = self.link.run("HGET results", |c| c.hget(RESULTS, key))?;
        text.map(|t| self.parse(key, &t)).transpose()
    }

    /// Results (and refusals) of `keys`, blocking up to `block` for the first one when none
    /// is there yet. An empty [`Progress`] means nothing arrived in time.
    pub fn wait(&mut self, keys: &[String], block: Duration) -> Result<Progress> {
        let mut progress = self.look(keys)?;
        if progress.results.is_empty() && !keys.is_empty() {
            let from = self.last_done.clone();
            let options = StreamReadOptions::default()
                .block(block.as_millis().max(1) as usize)
                .count(1000);
            let reply: Option<StreamReadReply> = self.link.run("XREAD done", |c| {
                c.xread_options(&[DONE], &[&from], &options)
            })?;
            if let Some(last) = reply
                .iter()
                .flat_map(|r| &r.keys)
                .flat_map(|k| &k.ids)
                .last()
            {
                self.last_done = last.id.clone();
            }
            progress = self.look(keys)?;
        }
        Ok(progress)
    }

    fn look(&mut self, keys: &[String]) -> Result<Progress> {
        if keys.is_empty() {
            return Ok(Progress::default());
        }
        let found: Vec<Option<String>> = self.link.run("HMGET results", |c| {
            redis::cmd("HMGET").arg(RESULTS).arg(keys).query(c)
        })?;
        let mut results = Vec::new();
        for (key, text) in keys.iter().zip(found) {
            if let Some(text) = text {
                results.push(self.parse(key, &text)?);
            }
        }
        let refused: Vec<Option<String>> = self.link.run("HMGET refusals", |c| {
            redis::cmd("HMGET").arg(REFUSALS).arg(keys).query(c)
        })?;
        let refusals = keys
            .iter()
            .zip(refused)
            .filter_map(|(k, r)| r.map(|r| (k.clone(), r)))
            .collect();
        Ok(Progress { results, refusals })
    }

    fn parse(&self, key: &str, text: &str) -> Result<ResultMessage> {
        let result = ResultMessage::from_json(text).map_err(|problem| QueueError::Message {
            url: self.link.url().to_string(),
            what: format!("the result of {key} in {RESULTS}"),
            problem,
        })?;
        if result.key != key {
            return Err(QueueError::Message {
                url: self.link.url().to_string(),
                what: format!("the result of {key} in {RESULTS}"),
                problem: format!("it names key {}", result.key),
            });
        }
        Ok(result)
    }
}

/// Creates the jobs stream and the workers' group (delivering entries added before it).
pub(crate) fn ensure_group(link: &mut Link) -> Result<()> {
    link.run("XGROUP CREATE", create_group)
}

/// `XGROUP CREATE ... MKSTREAM`, content when the group exists.
pub(crate) fn create_group(c: &mut redis::Connection) -> redis::RedisResult<()> {
    match c.xgroup_create_mkstream::<_, _, _, ()>(JOBS, crate::names::GROUP, "0") {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}
