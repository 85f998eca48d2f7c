//! An evaluation as a queue job: which model (a folder known by its content hash, or a
//! blend of recipes over the run's base and SVD basis, named by content hashes too), which
//! tasks (spec and fingerprint) and how; and its result, every task's full result. JSON data
//! only. The key names the model's identity and the tasks' fingerprints, like the result
//! cache, so a job and its result are the same whoever computes them.

use cycleqd_tasks::TaskResult;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blend::Blend;

/// The model a job scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum JobModel {
    /// A model folder with this content hash (the base or an expert).
    Folder {
        /// [`cycleqd_recipe::ContentHash::hex`] of its weights.
        hash: String,
    },
    /// A blend of genomes over the base, materialized from the SVD basis.
    Blend(Blend),
}

/// One task of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTask {
    /// Its name.
    pub name: String,
    /// The spec the worker builds it from (`cycleqd eval --task`'s syntax).
    pub spec: String,
    /// Its fingerprint on the run's machine; a worker whose task differs refuses the job.
    pub fingerprint: String,
}

/// What every job of one run shares: the models it is made of (by content hash) and the
/// evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSite {
    /// The base's content hash.
    pub base: String,
    /// The experts' content hashes, in task order.
    pub experts: Vec<String>,
    /// The SVD bases' rank limit.
    pub rank_limit: Option<usize>,
    /// The basis set's fingerprint ([`cycleqd_recipe::BasisSet::fingerprint`]).
    pub basis: String,
    /// Compute dtype (`f32`, `bf16`).
    pub dtype: String,
    /// Problems per task.
    pub limit: Option<usize>,
    /// Prompts generated together.
    pub batch_size: usize,
    /// Threads grading answers.
    pub workers: usize,
}

/// One evaluation: a model on some tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalJob {
    /// The run's models and settings.
    pub site: JobSite,
    /// The model.
    pub model: JobModel,
    /// The model's cache identity (content identity and dtype).
    pub identity: String,
    /// The tasks, in the order their results come back.
    pub tasks: Vec<JobTask>,
}

impl EvalJob {
    /// The job's key: SHA-256 over the identity, every task's name and fingerprint, and the
    /// problem limit.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"cycleqd eval job v1\0");
        h.update(self.identity.as_bytes());
        for t in &self.tasks {
            h.update(b"\0");
            h.update(t.name.as_bytes());
            h.update(b"\0");
            h.update(t.fingerprint.as_bytes());
        }
        h.update(format!("\0{:?}", self.site.limit).as_bytes());
        format!("{:x}", h.finalize())
    }
}

/// A job's result: every task's result, in the job's task order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalResult {
    /// The tasks' results.
    pub results: Vec<TaskResult>,
}

impl EvalResult {
    /// Checks that the results answer `job` (task names, fingerprints, model identity).
    pub fn check(&self, job: &EvalJob) -> Result<(), String> {
        if self.results.len() != job.tasks.len() {
            return Err(format!(
                "{} results for {} tasks",
                self.results.len(),
                job.tasks.len()
            ));
        }
        for (r, t) in self.results.iter().zip(&job.tasks) {
            if r.task != t.name || r.fingerprint != t.fingerprint || r.model != job.identity {
                return Err(format!(
                    "a result of task `{}` (model {}) where task `{}` (model {}) was asked",
                    r.task, r.model, t.name, job.identity
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(identity: &str, fingerprint: &str) -> EvalJob {
        EvalJob {
            site: JobSite {
                base: "b".repeat(64),
                experts: vec!["e".repeat(64)],
                rank_limit: None,
                basis: "f".repeat(64),
                dtype: "f32".into(),
                limit: Some(10),
                batch_size: 8,
                workers: 2,
            },
            model: JobModel::Folder {
                hash: "b".repeat(64),
            },
            identity: identity.into(),
            tasks: vec![JobTask {
                name: "gen-db".into(),
                spec: "gen-db:split=test,count=10".into(),
                fingerprint: fingerprint.into(),
            }],
        }
    }

    #[test]
    fn the_key_is_the_model_identity_and_the_task_fingerprints() {
        let a = job("m1:F32", "fp1");
        assert_eq!(a.key(), job("m1:F32", "fp1").key());
        assert_ne!(a.key(), job("m2:F32", "fp1").key());
        assert_ne!(a.key(), job("m1:F32", "fp2").key());
        // Worker-side settings (device, batch size) do not change what is computed.
        let mut b = a.clone();
        b.site.batch_size = 64;
        assert_eq!(a.key(), b.key());
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(serde_json::from_value::<EvalJob>(json).unwrap(), a);
    }

    #[test]
    fn results_must_answer_their_job() {
        let a = job("m1:F32", "fp1");
        let result = |task: &str, fingerprint: &str, model: &str| TaskResult {
            task: task.into(),
            model: model.into(),
            fingerprint: fingerprint.into(),
            limit: Some(10),
            score: 0.5,
            passed: 5,
            total: 10,
            metrics: Default::default(),
            samples: Vec::new(),
        };
        let good = EvalResult {
            results: vec![result("gen-db", "fp1", "m1:F32")],
        };
        assert!(good.check(&a).is_ok());
        for bad in [
            EvalResult { results: vec![] },
            EvalResult {
                results: vec![result("gen-db", "fp2", "m1:F32")],
            },
            EvalResult {
                results: vec![result("gen-db", "fp1", "m9:F32")],
            },
        ] {
            assert!(bad.check(&a).is_err(), "{bad:?}");
        }
    }
}
