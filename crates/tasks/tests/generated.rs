//! The generated suites end to end: the reference answers score 1.0 and empty replies 0.0
//! on every skill and difficulty (through prompts, sandboxes and SQLite); splits never
//! share a question; and no single memorised answer solves the test split.

use std::collections::{HashMap, HashSet};

use cycleqd_tasks::db::DbBackend;
use cycleqd_tasks::generators::{self, Difficulty, GenConfig, Split};
use cycleqd_tasks::model::{ChatMessage, GenParams, ModelError, TextModel};
use cycleqd_tasks::oracle::{EmptyModel, ProvidesReferences, ReferenceAnswers, ReferenceTurn};
use cycleqd_tasks::os::OsMode;
use cycleqd_tasks::sft::sft_examples;
use cycleqd_tasks::{EvalOptions, Task};

const DIFFICULTIES: [Difficulty; 3] = [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard];

fn config(split: Split, difficulty: Difficulty, count: usize, seed: u64) -> GenConfig {
    GenConfig {
        seed,
        split,
        difficulty,
        count,
    }
}

/// Runs the reference oracle and the empty oracle on `task`.
fn gold_and_empty<T: Task + ProvidesReferences>(task: &T) -> (f64, f64, String) {
    let options = EvalOptions::default();
    let gold = ReferenceAnswers::new(task.name(), task.reference_dialogues()).unwrap();
    let good = task.evaluate(&gold, &options).unwrap();
    let failures: Vec<String> = good
        .samples
        .iter()
        .filter(|s| !s.verdict.passed)
        .map(|s| format!("{}: {:?} -> {}", s.id, s.output, s.verdict.detail))
        .collect();
    let empty = task.evaluate(&EmptyModel, &options).unwrap();
    (good.score, empty.score, failures.join("\n"))
}

#[test]
fn reference_answers_pass_and_empty_replies_fail_on_generated_coding() {
    for difficulty in DIFFICULTIES {
        let task = generators::coding_task(&config(Split::Test, difficulty, 12, 1)).unwrap();
        let (gold, empty, failures) = gold_and_empty(&task);
        assert_eq!(gold, 1.0, "{difficulty:?}:\n{failures}");
        assert_eq!(empty, 0.0, "{difficulty:?}");
    }
}

#[test]
fn reference_answers_pass_and_empty_replies_fail_on_generated_os() {
    for difficulty in DIFFICULTIES {
        let task = generators::os_task(&config(Split::Test, difficulty, 12, 1), OsMode::SingleTurn)
            .unwrap();
        let (gold, empty, failures) = gold_and_empty(&task);
        assert_eq!(gold, 1.0, "{difficulty:?}:\n{failures}");
        assert_eq!(empty, 0.0, "{difficulty:?}");
    }
}

#[test]
fn the_reference_agent_passes_generated_os_in_agent_mode() {
    let task = generators::os_task(
        &config(Split::Validation, Difficulty::Mixed, 9, 2),
        OsMode::Agent { max_rounds: 3 },
    )
    .unwrap();
    let (gold, empty, failures) = gold_and_empty(&task);
    assert_eq!(gold, 1.0, "{failures}");
    assert_eq!(empty, 0.0);
    let gold_model = ReferenceAnswers::new("agent", task.reference_dialogues()).unwrap();
    let result = task.evaluate(&gold_model, &EvalOptions::default()).unwrap();
    // system, question, command, its output, answer
    assert!(result.samples.iter().all(|s| s.transcript.len() == 5));
}

#[test]
fn reference_answers_pass_and_empty_replies_fail_on_generated_db() {
    for difficulty in DIFFICULTIES {
        let task = generators::db_task(&config(Split::Test, difficulty, 30, 1), &DbBackend::Sqlite)
            .unwrap();
        let (gold, empty, failures) = gold_and_empty(&task);
        assert_eq!(gold, 1.0, "{difficulty:?}:\n{failures}");
        assert_eq!(empty, 0.0, "{difficulty:?}");
    }
}

#[test]
fn splits_never_share_a_question_whatever_the_seeds() {
    let mut owner: HashMap<String, Split> = HashMap::new();
    for split in [Split::Train, Split::Validation, Split::Test] {
        let count = if split == Split::Train { 400 } else { 60 };
        for seed in [0, 1] {
            let questions: Vec<String> =
                generators::coding::generate(&config(split, Difficulty::Mixed, count, seed))
                    .unwrap()
                    .into_iter()
                    .map(|p| p.question)
                    .chain(
                        generators::os::generate(&config(split, Difficulty::Mixed, count, seed))
                            .unwrap()
                            .into_iter()
                            .map(|p| p.question),
                    )
                    .chain(
                        generators::db::generate(&config(split, Difficulty::Mixed, count, seed))
                            .unwrap()
                            .into_iter()
                            .map(|p| p.question),
                    )
                    .collect();
            for q in questions {
                let first = *owner.entry(q.clone()).or_insert(split);
                assert_eq!(first, split, "{q:?} is in {first:?} and {split:?}");
            }
        }
    }
    assert!(owner.len() > 1_500, "{} distinct questions", owner.len());
}

/// A test stand-in that says the same thing to every prompt.
struct SameReply(String);

impl TextModel for SameReply {
    fn identity(&self) -> String {
        format!("same-reply:{}", self.0)
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        Ok(messages.iter().map(|m| m.content.as_str()).collect())
    }

    fn generate(&self, prompts: &[String], _: &GenParams) -> Result<Vec<String>, ModelError> {
        Ok(vec![self.0.clone(); prompts.len()])
    }
}

/// The training split's most frequent reference reply.
fn most_common_reply<T: ProvidesReferences>(train: &T) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for dialogue in train.reference_dialogues() {
        if let Some(ReferenceTurn::Reply(r)) = dialogue.turns.first() {
            *counts.entry(r.clone()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(r, n)| (*n, r.clone()))
        .unwrap()
        .0
}

#[test]
fn no_memorised_answer_solves_the_test_split() {
    let train = config(Split::Train, Difficulty::Mixed, 300, 0);
    let test = config(Split::Test, Difficulty::Mixed, 30, 0);
    let options = EvalOptions::default();

    let reply = most_common_reply(&generators::coding_task(&train).unwrap());
    let score = generators::coding_task(&test)
        .unwrap()
        .evaluate(&SameReply(reply.clone()), &options)
        .unwrap()
        .score;
    assert!(score <= 0.1, "coding: {reply:?} scores {score}");

    let reply = most_common_reply(&generators::os_task(&train, OsMode::SingleTurn).unwrap());
    let score = generators::os_task(&test, OsMode::SingleTurn)
        .unwrap()
        .evaluate(&SameReply(reply.clone()), &options)
        .unwrap()
        .score;
    assert!(score <= 0.2, "os: {reply:?} scores {score}");

    let reply = most_common_reply(&generators::db_task(&train, &DbBackend::Sqlite).unwrap());
    let score = generators::db_task(&test, &DbBackend::Sqlite)
        .unwrap()
        .evaluate(&SameReply(reply.clone()), &options)
        .unwrap()
        .score;
    assert!(score <= 0.1, "db: {reply:?} scores {score}");
}

#[test]
fn training_examples_are_the_evaluation_prompts_with_reference_replies() {
    let task = generators::db_task(
        &config(Split::Train, Difficulty::Easy, 5, 0),
        &DbBackend::Sqlite,
    )
    .unwrap();
    let examples = sft_examples(&task.reference_dialogues());
    assert_eq!(examples.len(), 5);
    for (example, problem) in examples.iter().zip(task.problems()) {
        let mut expected = task.opening(problem);
        expected.push(ChatMessage::assistant(problem.answer_sql.clone()));
        assert_eq!(example.messages, expected);
    }
    let questions: HashSet<&str> = task
        .problems()
        .iter()
        .map(|p| p.question.as_str())
        .collect();
    assert_eq!(questions.len(), 5);
}
