//! External evaluators: a command that is given a model folder and prints JSON scores
//! (for example lm-evaluation-harness through `scripts/tasks_lm_eval.sh`). The command is
//! the user's own tool, run as it is (not sandboxed), with a timeout.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::model::TextModel;
use crate::task::{fingerprint_of, EvalOptions, SampleRecord, Task, TaskResult, Verdict};

/// The placeholder in a command line replaced by the model folder.
pub const MODEL_PLACEHOLDER: &str = "{model}";

/// How much of the command's error output is quoted in errors.
const STDERR_TAIL: usize = 2_000;

/// An external evaluator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandTask {
    /// The task's name.
    pub name: String,
    /// The command line; every `{model}` in it becomes the model folder's path.
    pub command: Vec<String>,
    /// The metric that is the task's score (a key of the flattened JSON, nested keys
    /// joined with `/`); it must lie in [0, 1].
    pub score_key: String,
    /// The command is killed after this long.
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Flattens nested JSON objects into `a/b` keys, keeping numbers (and booleans as 0/1);
/// other values are dropped.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}/{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        serde_json::Value::Bool(b) => {
            out.insert(prefix.to_string(), f64::from(u8::from(*b)));
        }
        _ => {}
    }
}

/// Reads scores from a command's standard output: the whole output as one JSON object, or
/// else its last line that is one (tools often log to standard output first).
pub fn parse_scores(stdout: &str) -> Result<BTreeMap<String, f64>, String> {
    let object = serde_json::from_str::<serde_json::Value>(stdout.trim())
        .ok()
        .filter(serde_json::Value::is_object)
        .or_else(|| {
            stdout.lines().rev().find_map(|line| {
                serde_json::from_str::<serde_json::Value>(line.trim())
                    .ok()
                    .filter(serde_json::Value::is_object)
            })
        })
        .ok_or_else(|| {
            let shown: String = stdout.chars().take(300).collect();
            format!("its output holds no JSON object; it printed {shown:?}")
        })?;
    let mut scores = BTreeMap::new();
    flatten("", &object, &mut scores);
    Ok(scores)
}

impl CommandTask {
    /// A command task with a one-hour timeout.
    pub fn new(
        name: impl Into<String>,
        command: Vec<String>,
        score_key: impl Into<String>,
    ) -> Self {
        CommandTask {
            name: name.into(),
            command,
            score_key: score_key.into(),
            timeout: Duration::from_secs(3600),
        }
    }

    fn fail(&self, message: impl Into<String>) -> TaskError {
        TaskError::External {
            task: self.name.clone(),
            message: message.into(),
        }
    }

    /// Runs the command on a model folder and reads its scores.
    pub fn run_on_folder(&self, folder: &Path) -> Result<(BTreeMap<String, f64>, f64), TaskError> {
        let folder_text = folder.to_str().ok_or_else(|| {
            self.fail(format!(
                "model folder {} is not valid UTF-8",
                folder.display()
            ))
        })?;
        let argv: Vec<String> = self
            .command
            .iter()
            .map(|a| a.replace(MODEL_PLACEHOLDER, folder_text))
            .collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(self.fail("the command line is empty"));
        };
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout ends everything it started.
            .process_group(0)
            .spawn()
            .map_err(|e| self.fail(format!("could not start {program:?}: {e}")))?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let out_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(self.fail(format!("waiting for {program:?}: {e}"))),
            }
        };
        if status.is_none() {
            // SAFETY: signals the process group this command leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        let tail: String = {
            let chars: Vec<char> = stderr.chars().collect();
            chars[chars.len().saturating_sub(STDERR_TAIL)..]
                .iter()
                .collect()
        };
        let Some(status) = status else {
            return Err(self.fail(format!(
                "{program:?} timed out after {:?}; its last error output:\n{tail}",
                self.timeout
            )));
        };
        if !status.success() {
            return Err(self.fail(format!(
                "{program:?} failed ({status}); its last error output:\n{tail}"
            )));
        }
        let scores = parse_scores(&stdout).map_err(|e| self.fail(format!("{program:?}: {e}")))?;
        let score = *scores.get(&self.score_key).ok_or_else(|| {
            let keys: Vec<&str> = scores.keys().map(String::as_str).collect();
            self.fail(format!(
                "no score {:?} in its output; it reported {keys:?}",
                self.score_key
            ))
        })?;
        if !(0.0..=1.0).contains(&score) {
            return Err(self.fail(format!(
                "score {:?} is {score}, outside [0, 1]",
                self.score_key
            )));
        }
        Ok((scores, score))
    }
}

impl Task for CommandTask {
    fn name(&self) -> &str {
        &self.name
    }

    fn fingerprint(&self) -> String {
        fingerprint_of("command", &(&self.command, &self.score_key))
    }

    fn len(&self) -> usize {
        1
    }

    /// Runs the command on the model's folder; `options` do not apply (the evaluator
    /// decides its own batching and problem count).
    fn evaluate(
        &self,
        model: &dyn TextModel,
        options: &EvalOptions,
    ) -> Result<TaskResult, TaskError> {
        let folder = model.folder().ok_or_else(|| {
            self.fail(format!(
                "model {} has no folder on disk for the external evaluator",
                model.identity()
            ))
        })?;
        let start = Instant::now();
        let (metrics, score) = self.run_on_folder(folder)?;
        let sample = SampleRecord {
            id: self.name.clone(),
            prompt: self.command.join(" "),
            output: serde_json::to_string(&metrics).unwrap_or_default(),
            verdict: Verdict {
                passed: score > 0.0,
                detail: format!("{} = {score}", self.score_key),
            },
            generation_seconds: 0.0,
            grading_seconds: start.elapsed().as_secs_f64(),
            transcript: vec![],
        };
        Ok(TaskResult {
            task: self.name.clone(),
            model: model.identity(),
            fingerprint: self.fingerprint(),
            limit: options.limit,
            score,
            passed: usize::from(sample.verdict.passed),
            total: 1,
            metrics,
            samples: vec![sample],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(name: &str, script: &str, key: &str) -> CommandTask {
        CommandTask::new(
            name,
            vec![
                "sh".into(),
                "-c".into(),
                script.into(),
                "sh".into(),
                "{model}".into(),
            ],
            key,
        )
    }

    #[test]
    fn scores_are_read_flattened_from_the_last_json_line() {
        let task = sh(
            "t",
            r#"echo "loading $1"; echo '{"arc": {"acc": 0.25, "n": 40}, "ok": true, "note": "x"}'"#,
            "arc/acc",
        );
        let (scores, score) = task.run_on_folder(Path::new("/models/m1")).unwrap();
        assert_eq!(score, 0.25);
        assert_eq!(scores["arc/n"], 40.0);
        assert_eq!(scores["ok"], 1.0);
        assert!(!scores.contains_key("note"));
    }

    #[test]
    fn the_model_folder_replaces_the_placeholder() {
        let task = sh("t", r#"test "$1" = /models/m1 && echo '{"s": 1}'"#, "s");
        assert_eq!(task.run_on_folder(Path::new("/models/m1")).unwrap().1, 1.0);
    }

    #[test]
    fn failures_are_explained() {
        let cases = [
            (sh("t", "echo oops >&2; exit 3", "s"), "oops"),
            (sh("t", "echo not json", "s"), "no JSON object"),
            (sh("t", r#"echo '{"a": 0.5}'"#, "s"), "reported [\"a\"]"),
            (sh("t", r#"echo '{"s": 7}'"#, "s"), "outside [0, 1]"),
            (
                CommandTask::new("t", vec!["/no/such/evaluator".into()], "s"),
                "could not start",
            ),
        ];
        for (task, expected) in cases {
            let err = task.run_on_folder(Path::new("/m")).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_slow_evaluator_is_killed_with_its_children() {
        let mut task = sh("t", "sleep 600 & sleep 600; echo '{\"s\": 1}'", "s");
        task.timeout = Duration::from_millis(300);
        let err = task.run_on_folder(Path::new("/m")).unwrap_err().to_string();
        assert!(err.contains("timed out"), "{err}");
    }
}
