//! Task results cached on disk by (model identity, task name, task fingerprint, limit), one
//! JSON file each, so that re-evaluating an unchanged model on an unchanged task is free.

use std::path::{Path, PathBuf};

use cycleqd_atomic_write::{write_atomic, Durability};
use sha2::{Digest, Sha256};

use crate::error::TaskError;
use crate::model::TextModel;
use crate::task::{EvalOptions, Task, TaskResult};

/// A directory of cached [`TaskResult`]s.
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
}

/// Whether a result came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHit {
    /// Read from the cache.
    Hit,
    /// Evaluated now and stored.
    Miss,
}

impl ResultCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ResultCache { dir: dir.into() }
    }

    /// `$CYCLEQD_CACHE/results`, or `~/.cache/cycleqd/results`.
    pub fn default_dir() -> PathBuf {
        let base = std::env::var_os("CYCLEQD_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join(".cache/cycleqd")
            });
        base.join("results")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a result is stored in.
    pub fn path_for(
        &self,
        model: &str,
        task: &str,
        fingerprint: &str,
        limit: Option<usize>,
    ) -> PathBuf {
        let mut hasher = Sha256::new();
        for part in [model, task, fingerprint, &format!("{limit:?}")] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let safe_task: String = task
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir
            .join(safe_task)
            .join(format!("{:x}.json", hasher.finalize()))
    }

    /// The cached result, if one exists for exactly this key. An unreadable or mismatching
    /// file counts as absent (it is overwritten by the next store).
    pub fn get(
        &self,
        model: &str,
        task: &str,
        fingerprint: &str,
        limit: Option<usize>,
    ) -> Option<TaskResult> {
        let path = self.path_for(model, task, fingerprint, limit);
        let text = std::fs::read_to_string(path).ok()?;
        let result: TaskResult = serde_json::from_str(&text).ok()?;
        (result.model == model
            && result.task == task
            && result.fingerprint == fingerprint
            && result.limit == limit)
            .then_some(result)
    }

    /// Stores a result atomically (a temporary file renamed into place).
    pub fn put(&self, result: &TaskResult) -> Result<PathBuf, TaskError> {
        let path = self.path_for(
            &result.model,
            &result.task,
            &result.fingerprint,
            result.limit,
        );
        let cache_err = |message: String| TaskError::Cache {
            path: path.clone(),
            message,
        };
        let dir = path.parent().expect("cache paths have a parent");
        std::fs::create_dir_all(dir).map_err(|e| cache_err(e.to_string()))?;
        let json = serde_json::to_vec_pretty(result).map_err(|e| cache_err(e.to_string()))?;
        write_atomic(&path, &json, Durability::OsBuffer)
            .map_err(|e| cache_err(e.error.to_string()))?;
        Ok(path)
    }

    /// The cached result of `task` on `model`, or a fresh evaluation that is then stored.
    pub fn evaluate(
        &self,
        task: &dyn Task,
        model: &dyn TextModel,
        options: &EvalOptions,
    ) -> Result<(TaskResult, CacheHit), TaskError> {
        let identity = model.identity();
        let fingerprint = task.fingerprint();
        if let Some(hit) = self.get(&identity, task.name(), &fingerprint, options.limit) {
            return Ok((hit, CacheHit::Hit));
        }
        let result = task.evaluate(model, options)?;
        self.put(&result)?;
        Ok((result, CacheHit::Miss))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn result(model: &str, score: f64) -> TaskResult {
        TaskResult {
            task: "gen-db".into(),
            model: model.into(),
            fingerprint: "f1".into(),
            limit: Some(3),
            score,
            passed: 1,
            total: 3,
            metrics: BTreeMap::new(),
            samples: vec![crate::task::SampleRecord {
                id: "p".into(),
                prompt: "q".into(),
                output: "a".into(),
                verdict: crate::task::Verdict::pass("ok"),
                // Values whose shortest decimal form needs all 17 digits.
                generation_seconds: 0.1 + 0.2,
                grading_seconds: 2.0f64.sqrt() / 7.0,
                transcript: vec![],
            }],
        }
    }

    #[test]
    fn results_are_found_only_under_their_exact_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path());
        assert!(cache.get("m", "gen-db", "f1", Some(3)).is_none());
        cache.put(&result("m", 1.0 / 3.0)).unwrap();
        let hit = cache.get("m", "gen-db", "f1", Some(3)).unwrap();
        assert_eq!(hit, result("m", 1.0 / 3.0));
        assert!(cache.get("m2", "gen-db", "f1", Some(3)).is_none());
        assert!(cache.get("m", "gen-db", "f2", Some(3)).is_none());
        assert!(cache.get("m", "gen-db", "f1", None).is_none());
        assert!(cache.get("m", "gen-os", "f1", Some(3)).is_none());
    }

    #[test]
    fn a_corrupt_file_is_a_miss_and_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path());
        let path = cache.put(&result("m", 0.5)).unwrap();
        std::fs::write(&path, "{ not json").unwrap();
        assert!(cache.get("m", "gen-db", "f1", Some(3)).is_none());
        cache.put(&result("m", 0.25)).unwrap();
        assert_eq!(cache.get("m", "gen-db", "f1", Some(3)).unwrap().score, 0.25);
    }
}
