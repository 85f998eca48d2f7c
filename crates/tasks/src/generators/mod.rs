//! Procedural problem generators for the demo's tiny models (the three skills, and short
//! comparison questions with one exact answer): seeded, with difficulty settings and
//! disjoint train / validation / test splits.
//!
//! Every problem's answer depends on values stated in its question (numbers, names, paths,
//! columns), so a model has to carry them into code, a shell command, SQL or its answer; the hidden
//! tests, file trees and table rows vary independently of the question. A problem's split
//! is decided by a hash of its question alone, so no question (and no reference answer)
//! can appear in two splits, whatever the seeds.

pub mod coding;
pub mod compare;
pub mod db;
pub mod os;
mod words;

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::answer::AnswerTask;
use crate::coding::CodingTask;
use crate::db::{DbBackend, DbTask};
use crate::error::TaskError;
use crate::model::GenParams;
use crate::os::{OsMode, OsTask};
use crate::suite_settings::WithSettings;

/// A data split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// For fine-tuning (80% of the question space).
    Train,
    /// For the search's fitness (10%).
    Validation,
    /// For reported numbers (10%).
    Test,
}

impl Split {
    /// The split a question belongs to: SHA-256 of its text, first 8 bytes as a
    /// little-endian integer, modulo 10 (0-7 train, 8 validation, 9 test).
    pub fn of(question: &str) -> Split {
        let digest = Sha256::digest(question.as_bytes());
        let head = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        match head % 10 {
            0..=7 => Split::Train,
            8 => Split::Validation,
            _ => Split::Test,
        }
    }

    /// The split's name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "validation" | "val" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            other => Err(format!(
                "unknown split {other:?}; expected train, validation or test"
            )),
        }
    }
}

/// How hard the problems are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    /// One value or one step.
    Easy,
    /// Two or three steps, a filter, an aggregate.
    Medium,
    /// Conditions, lists, grouping, ordering, changes to data.
    Hard,
    /// Easy, medium and hard in turn.
    Mixed,
}

impl Difficulty {
    /// The difficulty's name.
    pub fn name(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
            Difficulty::Mixed => "mixed",
        }
    }
}

impl std::str::FromStr for Difficulty {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "easy" => Ok(Difficulty::Easy),
            "medium" => Ok(Difficulty::Medium),
            "hard" => Ok(Difficulty::Hard),
            "mixed" => Ok(Difficulty::Mixed),
            other => Err(format!(
                "unknown difficulty {other:?}; expected easy, medium, hard or mixed"
            )),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GenConfig {
    /// Seed of the draw; the same config always gives the same problems.
    pub seed: u64,
    /// The split the problems come from.
    pub split: Split,
    /// Their difficulty.
    pub difficulty: Difficulty,
    /// How many distinct problems.
    pub count: usize,
}

/// Replies of generated problems are short: a line or two of code, a command, a statement.
fn short_replies(max_new_tokens: usize) -> GenParams {
    GenParams {
        max_new_tokens,
        stop: vec![],
    }
}

fn task_name(skill: &str, config: &GenConfig) -> String {
    format!(
        "gen-{skill}-{}-{}",
        config.split.name(),
        config.difficulty.name()
    )
}

/// A coding task of generated problems, prompted with the question alone (no system
/// prompt), as the tiny models are trained.
pub fn coding_task(config: &GenConfig) -> Result<CodingTask, TaskError> {
    Ok(
        CodingTask::new(task_name("coding", config), coding::generate(config)?)
            .with_gen_params(short_replies(128)),
    )
}

/// An OS task of generated problems. Single-turn mode shows the question alone; agent mode
/// keeps the agent protocol's system prompt.
pub fn os_task(config: &GenConfig, mode: OsMode) -> Result<OsTask, TaskError> {
    let task = OsTask::new(task_name("os", config), os::generate(config)?, mode);
    Ok(match mode {
        OsMode::SingleTurn => task
            .with_system_prompt(None)
            .with_gen_params(short_replies(64)),
        OsMode::Agent { .. } => task,
    })
}

/// A database task of generated problems, prompted with the schema and question alone.
pub fn db_task(config: &GenConfig, backend: &DbBackend) -> Result<DbTask, TaskError> {
    Ok(
        DbTask::new(task_name("db", config), db::generate(config)?, backend)?
            .with_system_prompt(None)
            .with_gen_params(short_replies(64)),
    )
}

/// A task of generated comparison questions ("Which number is largest: 41, 87, 12?"),
/// prompted with the question alone and graded by exact match.
pub fn compare_task(config: &GenConfig) -> Result<AnswerTask, TaskError> {
    AnswerTask::new(task_name("compare", config), compare::generate(config)?)
}

/// Draws `config.count` problems with distinct questions of `config.split`. `make` draws
/// one candidate of a given (non-mixed) difficulty; `question` reads its question.
pub(crate) fn draw_distinct<T>(
    skill: &str,
    config: &GenConfig,
    mut make: impl FnMut(&mut ChaCha8Rng, Difficulty) -> T,
    question: impl Fn(&T) -> &str,
) -> Result<Vec<T>, TaskError> {
    let mut seed = Sha256::new();
    seed.update(skill.as_bytes());
    seed.update(config.difficulty.name().as_bytes());
    seed.update(config.split.name().as_bytes());
    seed.update(config.seed.to_le_bytes());
    let seed: [u8; 32] = seed.finalize().into();
    let mut rng = ChaCha8Rng::from_seed(seed);
    let mut seen = HashSet::new();
    let mut problems = Vec::with_capacity(config.count);
    let attempts = config.count.saturating_mul(500).saturating_add(20_000);
    for _ in 0..attempts {
        if problems.len() == config.count {
            break;
        }
        let difficulty = match config.difficulty {
            Difficulty::Mixed => {
                [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard][problems.len() % 3]
            }
            d => d,
        };
        let candidate = make(&mut rng, difficulty);
        let q = question(&candidate);
        if Split::of(q) == config.split && seen.insert(q.to_string()) {
            problems.push(candidate);
        }
    }
    if problems.len() < config.count {
        return Err(TaskError::Config {
            task: format!("gen-{skill}"),
            message: format!(
                "found only {} distinct {} {} problems of the {} split; ask for fewer",
                problems.len(),
                config.difficulty.name(),
                skill,
                config.split.name()
            ),
        });
    }
    Ok(problems)
}

/// A uniformly drawn element.
pub(crate) fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A uniformly drawn element, or `None` for no elements.
pub(crate) fn pick_some<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| pick(rng, items))
}

/// `n` distinct elements in drawn order.
pub(crate) fn pick_distinct<T: Clone>(rng: &mut impl Rng, items: &[T], n: usize) -> Vec<T> {
    let mut indices: Vec<usize> = (0..items.len()).collect();
    let mut chosen = Vec::with_capacity(n);
    for _ in 0..n.min(items.len()) {
        let i = rng.random_range(0..indices.len());
        chosen.push(items[indices.swap_remove(i)].clone());
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_of_a_question_is_fixed_and_roughly_eighty_ten_ten() {
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            let split = Split::of(&format!("question {i}"));
            assert_eq!(split, Split::of(&format!("question {i}")));
            counts[split as usize] += 1;
        }
        assert!((7_600..8_400).contains(&counts[0]), "{counts:?}");
        assert!((800..1_200).contains(&counts[1]), "{counts:?}");
        assert!((800..1_200).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn drawing_more_problems_than_exist_is_a_clear_error() {
        let config = GenConfig {
            seed: 1,
            split: Split::Test,
            difficulty: Difficulty::Easy,
            count: 50,
        };
        let err = draw_distinct(
            "tiny",
            &config,
            |rng, _| format!("q{}", rng.random_range(0..20)),
            |q| q.as_str(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ask for fewer"), "{err}");
    }

    #[test]
    fn names_parse_back() {
        for split in [Split::Train, Split::Validation, Split::Test] {
            assert_eq!(split.name().parse::<Split>().unwrap(), split);
        }
        for d in [
            Difficulty::Easy,
            Difficulty::Medium,
            Difficulty::Hard,
            Difficulty::Mixed,
        ] {
            assert_eq!(d.name().parse::<Difficulty>().unwrap(), d);
        }
        assert!("dev".parse::<Split>().unwrap_err().contains("train"));
    }
}
