//! The [`Task`] interface every suite implements, its results, and the shared steps of an
//! evaluation: batched generation through the model and parallel grading.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::TaskError;
use crate::model::{cut_at_stop, ChatMessage, GenParams, TextModel};

/// How to run an evaluation. Only `limit` changes results; the rest changes speed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalOptions {
    /// Evaluate only the first `limit` problems.
    pub limit: Option<usize>,
    /// Prompts per call of [`TextModel::generate`].
    pub batch_size: usize,
    /// Programs graded at once (each in its own sandbox).
    pub workers: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            limit: None,
            batch_size: 16,
            workers: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// The grade of one sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the sample counts as solved.
    pub passed: bool,
    /// Why: the failing test, the program's error, the expected and actual answers.
    pub detail: String,
}

impl Verdict {
    /// A pass with a note.
    pub fn pass(detail: impl Into<String>) -> Self {
        Verdict {
            passed: true,
            detail: detail.into(),
        }
    }

    /// A failure with its reason.
    pub fn fail(detail: impl Into<String>) -> Self {
        Verdict {
            passed: false,
            detail: detail.into(),
        }
    }
}

/// One problem's record: what the model saw and said, and its grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The problem's id.
    pub id: String,
    /// The first prompt the model was given.
    pub prompt: String,
    /// The model's (last) output.
    pub output: String,
    /// The grade.
    pub verdict: Verdict,
    /// This sample's share of generation time, in seconds.
    pub generation_seconds: f64,
    /// Time spent grading (running programs or queries), in seconds.
    pub grading_seconds: f64,
    /// The whole conversation, for multi-turn tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<ChatMessage>,
}

/// The result of one task on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task's name.
    pub task: String,
    /// The model's identity.
    pub model: String,
    /// The task's configuration fingerprint.
    pub fingerprint: String,
    /// The problem limit it ran with.
    pub limit: Option<usize>,
    /// The score in [0, 1]: the fraction of samples passed (or an external evaluator's
    /// primary metric).
    pub score: f64,
    /// Samples passed.
    pub passed: usize,
    /// Samples graded.
    pub total: usize,
    /// Further named metrics (external evaluators report several).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Per-sample records, in problem order.
    pub samples: Vec<SampleRecord>,
}

impl TaskResult {
    /// Scores a list of samples: the fraction passed (0 for an empty list).
    pub fn from_samples(
        task: &dyn Task,
        model: &dyn TextModel,
        limit: Option<usize>,
        samples: Vec<SampleRecord>,
    ) -> TaskResult {
        let passed = samples.iter().filter(|s| s.verdict.passed).count();
        let total = samples.len();
        TaskResult {
            task: task.name().to_string(),
            model: model.identity(),
            fingerprint: task.fingerprint(),
            limit,
            score: if total == 0 {
                0.0
            } else {
                passed as f64 / total as f64
            },
            passed,
            total,
            metrics: BTreeMap::new(),
            samples,
        }
    }
}

/// A suite of problems that grades a model. Evaluation is deterministic for a given model
/// (greedy decoding, fixed problem order, sandboxed programs with a fixed hash seed).
pub trait Task: Send + Sync {
    /// The task's name, as used on the command line and in caches.
    fn name(&self) -> &str;

    /// A hash of everything that decides the task's results besides the model: problems,
    /// prompts, generation settings, limits. Results are cached under it.
    fn fingerprint(&self) -> String;

    /// Number of problems.
    fn len(&self) -> usize;

    /// Whether the task has no problem.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs the model on the problems (the first `options.limit`) and grades its answers.
    fn evaluate(
        &self,
        model: &dyn TextModel,
        options: &EvalOptions,
    ) -> Result<TaskResult, TaskError>;
}

/// A hex SHA-256 of a task kind and its serialised configuration.
pub(crate) fn fingerprint_of<T: Serialize>(kind: &str, config: &T) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(config).expect("task configurations serialise"));
    format!("{:x}", hasher.finalize())
}

/// Renders conversations with the model's chat template.
pub(crate) fn chat_prompts(
    model: &dyn TextModel,
    conversations: &[Vec<ChatMessage>],
) -> Result<Vec<String>, TaskError> {
    conversations
        .iter()
        .map(|messages| {
            model
                .chat_prompt(messages)
                .map_err(|source| TaskError::Model {
                    model: model.identity(),
                    source,
                })
        })
        .collect()
}

/// Generates continuations of `prompts` in batches of `batch_size`, cut at the stop
/// strings, with each output's share of the generation time.
pub(crate) fn generate_all(
    model: &dyn TextModel,
    prompts: &[String],
    params: &GenParams,
    batch_size: usize,
) -> Result<Vec<(String, f64)>, TaskError> {
    let mut outputs = Vec::with_capacity(prompts.len());
    for batch in prompts.chunks(batch_size.max(1)) {
        let start = Instant::now();
        let texts = model
            .generate(batch, params)
            .map_err(|source| TaskError::Model {
                model: model.identity(),
                source,
            })?;
        if texts.len() != batch.len() {
            return Err(TaskError::ModelContract {
                model: model.identity(),
                message: format!(
                    "generate returned {} outputs for {} prompts",
                    texts.len(),
                    batch.len()
                ),
            });
        }
        let share = start.elapsed().as_secs_f64() / batch.len() as f64;
        outputs.extend(texts.iter().map(|t| (cut_at_stop(t, &params.stop), share)));
    }
    Ok(outputs)
}

/// Applies `grade` to every item on `workers` threads, keeping the order.
pub(crate) fn grade_in_parallel<T, R, F>(
    items: &[T],
    workers: usize,
    grade: F,
) -> Result<Vec<R>, TaskError>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> Result<R, TaskError> + Sync,
{
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .build()
        .map_err(|e| TaskError::Config {
            task: "grading".to_string(),
            message: format!("could not start {workers} grading threads: {e}"),
        })?;
    pool.install(|| items.par_iter().map(&grade).collect())
}

/// Applies `update` to every item on `workers` threads.
pub(crate) fn update_in_parallel<T, F>(
    items: &mut [T],
    workers: usize,
    update: F,
) -> Result<(), TaskError>
where
    T: Send,
    F: Fn(&mut T) -> Result<(), TaskError> + Sync,
{
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .build()
        .map_err(|e| TaskError::Config {
            task: "grading".to_string(),
            message: format!("could not start {workers} grading threads: {e}"),
        })?;
    pool.install(|| items.par_iter_mut().try_for_each(&update))
}

/// The first `limit` items.
pub(crate) fn limited<T>(items: &[T], limit: Option<usize>) -> &[T] {
    &items[..limit.unwrap_or(items.len()).min(items.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_kind_and_config() {
        let a = fingerprint_of("coding", &vec![1, 2]);
        assert_eq!(a, fingerprint_of("coding", &vec![1, 2]));
        assert_ne!(a, fingerprint_of("coding", &vec![1, 3]));
        assert_ne!(a, fingerprint_of("os", &vec![1, 2]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn parallel_grading_keeps_the_order_and_reports_errors() {
        let items: Vec<u32> = (0..100).collect();
        let doubled = grade_in_parallel(&items, 3, |x| Ok(x * 2)).unwrap();
        assert_eq!(doubled, (0..100).map(|x| x * 2).collect::<Vec<_>>());
        let failed = grade_in_parallel(&items, 3, |x| {
            if *x == 57 {
                Err(TaskError::Database("boom".into()))
            } else {
                Ok(*x)
            }
        });
        assert!(matches!(failed, Err(TaskError::Database(m)) if m == "boom"));
    }

    #[test]
    fn limited_never_runs_past_the_end() {
        let items = [1, 2, 3];
        assert_eq!(limited(&items, None), &[1, 2, 3]);
        assert_eq!(limited(&items, Some(2)), &[1, 2]);
        assert_eq!(limited(&items, Some(9)), &[1, 2, 3]);
    }
}
