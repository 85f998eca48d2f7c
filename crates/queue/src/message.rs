//! Job and result messages: JSON data with a schema version, never code. A stream entry is
//! one field, [`crate::names::JOB_FIELD`], holding a [`JobMessage`]; anything else is
//! refused with a reason.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::JOB_FIELD;

/// The message schema this build reads and writes.
pub const SCHEMA: u32 = 1;
/// The `kind` of an evaluation job.
pub const JOB_KIND: &str = "cycleqd.eval";

/// One evaluation to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    /// [`SCHEMA`].
    pub schema: u32,
    /// [`JOB_KIND`].
    pub kind: String,
    /// The result's key: the model's identity and the tasks' fingerprints.
    pub key: String,
    /// What to evaluate, in the caller's terms.
    pub body: Value,
}

impl JobMessage {
    /// A job of this build's schema.
    pub fn new(key: impl Into<String>, body: Value) -> Self {
        Self {
            schema: SCHEMA,
            kind: JOB_KIND.into(),
            key: key.into(),
            body,
        }
    }

    /// Reads the fields of a stream entry; the error is the reason it is set aside.
    pub fn from_fields(fields: &HashMap<String, redis::Value>) -> Result<Self, String> {
        if fields.len() != 1 || !fields.contains_key(JOB_FIELD) {
            let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(format!(
                "expected exactly one field `{JOB_FIELD}`, found fields {names:?}"
            ));
        }
        let text = match &fields[JOB_FIELD] {
            redis::Value::BulkString(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| format!("field `{JOB_FIELD}` is not UTF-8"))?
                .to_string(),
            redis::Value::SimpleString(s) => s.clone(),
            other => return Err(format!("field `{JOB_FIELD}` is not a string: {other:?}")),
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("field `{JOB_FIELD}` is not JSON: {e}"))?;
        let schema = value.get("schema").and_then(Value::as_u64);
        if schema != Some(u64::from(SCHEMA)) {
            return Err(format!(
                "field `{JOB_FIELD}`: `schema` is {}, expected {SCHEMA}",
                value
                    .get("schema")
                    .map_or("missing".into(), Value::to_string)
            ));
        }
        let job: JobMessage = serde_json::from_value(value)
            .map_err(|e| format!("field `{JOB_FIELD}` is not a job message: {e}"))?;
        if job.kind != JOB_KIND {
            return Err(format!(
                "field `{JOB_FIELD}`: `kind` is `{}`, expected `{JOB_KIND}`",
                job.kind
            ));
        }
        if job.key.is_empty() {
            return Err(format!("field `{JOB_FIELD}`: `key` is empty"));
        }
        Ok(job)
    }

    /// The JSON text of the stream entry.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job message serialises")
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Evaluated: the caller's result data.
    Done(Value),
    /// Given up after `attempts` failures; `error` is the last one.
    Failed {
        /// The last error.
        error: String,
        /// How many times it failed.
        attempts: u32,
    },
}

/// A job's result, stored under its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultMessage {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The job's key.
    pub key: String,
    /// The worker that wrote it.
    pub worker: String,
    /// What happened.
    pub outcome: Outcome,
}

impl ResultMessage {
    /// Reads a stored result.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let result: ResultMessage =
            serde_json::from_str(text).map_err(|e| format!("not a result message: {e}"))?;
        if result.schema != SCHEMA {
            return Err(format!("result schema {} is not {SCHEMA}", result.schema));
        }
        Ok(result)
    }

    /// Its JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a result message serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, redis::Value> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    redis::Value::BulkString(v.as_bytes().to_vec()),
                )
            })
            .collect()
    }

    #[test]
    fn a_job_survives_the_stream() {
        let job = JobMessage::new("abc", serde_json::json!({"x": [1, 2]}));
        let back = JobMessage::from_fields(&fields(&[(JOB_FIELD, &job.to_json())])).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let cases = [
            (fields(&[("junk", "1")]), "expected exactly one field `job`"),
            (fields(&[(JOB_FIELD, "{not json")]), "is not JSON"),
            (
                fields(&[(
                    JOB_FIELD,
                    r#"{"schema":7,"kind":"cycleqd.eval","key":"k","body":1}"#,
                )]),
                "`schema` is 7, expected 1",
            ),
            (
                fields(&[(
                    JOB_FIELD,
                    r#"{"schema":1,"kind":"celery.task","key":"k","body":1}"#,
                )]),
                "`kind` is `celery.task`",
            ),
            (
                fields(&[(JOB_FIELD, r#"{"schema":1,"kind":"cycleqd.eval","body":1}"#)]),
                "missing field `key`",
            ),
        ];
        for (entry, expected) in cases {
            let reason = JobMessage::from_fields(&entry).unwrap_err();
            assert!(reason.contains(expected), "{reason} lacks {expected}");
        }
    }

    #[test]
    fn results_round_trip_and_check_their_schema() {
        let r = ResultMessage {
            schema: SCHEMA,
            key: "k".into(),
            worker: "w".into(),
            outcome: Outcome::Failed {
                error: "boom".into(),
                attempts: 3,
            },
        };
        assert_eq!(ResultMessage::from_json(&r.to_json()).unwrap(), r);
        let wrong = r.to_json().replace("\"schema\":1", "\"schema\":2");
        assert!(ResultMessage::from_json(&wrong)
            .unwrap_err()
            .contains("schema 2"));
    }
}
