//! The demo's three skills and their tasks, and the held-out skill the base alone learns:
//! generated problems of mixed difficulty, prompted with the question alone, so that
//! training and evaluation see the same conversations.

use cycleqd_tasks::db::DbBackend;
use cycleqd_tasks::generators::{
    coding_task, compare_task, db_task, os_task, Difficulty, GenConfig, Split,
};
use cycleqd_tasks::oracle::{ProvidesReferences, ReferenceDialogue};
use cycleqd_tasks::os::OsMode;
use cycleqd_tasks::sft::sft_examples;
use cycleqd_tasks::{ChatMessage, Task};

use crate::error::Result;

/// One of the demo's skills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skill {
    /// Python functions graded by hidden unit tests.
    Coding,
    /// Single-turn shell commands answering questions about files.
    Os,
    /// SQL on SQLite graded by result sets.
    Db,
}

impl Skill {
    /// All skills, in the order of the experts.
    pub const ALL: [Skill; 3] = [Skill::Coding, Skill::Os, Skill::Db];

    /// The skill's name: `coding`, `os` or `db`.
    pub fn name(self) -> &'static str {
        match self {
            Skill::Coding => "coding",
            Skill::Os => "os",
            Skill::Db => "db",
        }
    }

    /// A different stream of problems per skill, so that equal seeds do not align them.
    fn seed_offset(self) -> u64 {
        match self {
            Skill::Coding => 0,
            Skill::Os => 1 << 32,
            Skill::Db => 2 << 32,
        }
    }
}

impl std::str::FromStr for Skill {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Skill::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown skill {s:?}; expected coding, os or db"))
    }
}

/// The held-out skill of the skill-retention measurement (the CycleQD paper's Table 3):
/// comparison questions such as "Which number is largest: 41, 87, 12?" answered with one
/// number (the `gen-compare` generator). The base learns it during pretraining; no expert and
/// not the all-data model is fine-tuned on it, so a later model's score on it, divided by the
/// base's, says how much of the base's own skill that model kept.
pub const RETENTION_SKILL: &str = "compare";

/// The held-out skill's problem stream, apart from the three skills' streams.
const RETENTION_SEED_OFFSET: u64 = 3 << 32;

fn mixed(seed: u64, split: Split, count: usize) -> GenConfig {
    GenConfig {
        seed,
        split,
        difficulty: Difficulty::Mixed,
        count,
    }
}

fn config(skill: Skill, split: Split, count: usize, seed: u64) -> GenConfig {
    mixed(seed.wrapping_add(skill.seed_offset()), split, count)
}

fn retention_config(split: Split, count: usize, seed: u64) -> GenConfig {
    mixed(seed.wrapping_add(RETENTION_SEED_OFFSET), split, count)
}

fn spec(generator: &str, config: &GenConfig) -> String {
    format!(
        "gen-{generator}:split={},difficulty={},count={},seed={}",
        config.split.name(),
        config.difficulty.name(),
        config.count,
        config.seed
    )
}

fn conversations(dialogues: &[ReferenceDialogue]) -> Vec<Vec<ChatMessage>> {
    sft_examples(dialogues)
        .into_iter()
        .map(|e| e.messages)
        .collect()
}

/// The demo's task for `skill`: `count` generated problems of `split`, mixed difficulty
/// (easy, medium and hard in turn), drawn with `seed`. The OS task is single-turn and the DB
/// task runs on SQLite.
pub fn demo_task(skill: Skill, split: Split, count: usize, seed: u64) -> Result<Box<dyn Task>> {
    let config = config(skill, split, count, seed);
    Ok(match skill {
        Skill::Coding => Box::new(coding_task(&config)?),
        Skill::Os => Box::new(os_task(&config, OsMode::SingleTurn)?),
        Skill::Db => Box::new(db_task(&config, &DbBackend::Sqlite)?),
    })
}

/// The task spec (as `cycleqd eval --task` and run configs take it) naming exactly the
/// problems of [`demo_task`] with the same arguments.
pub fn demo_task_spec(skill: Skill, split: Split, count: usize, seed: u64) -> String {
    spec(skill.name(), &config(skill, split, count, seed))
}

/// The conversations of [`demo_task`]'s problems, each ending with the reference reply: what
/// the task shows a model, then what a correct model says.
pub fn reference_conversations(
    skill: Skill,
    split: Split,
    count: usize,
    seed: u64,
) -> Result<Vec<Vec<ChatMessage>>> {
    let config = config(skill, split, count, seed);
    let dialogues = match skill {
        Skill::Coding => coding_task(&config)?.reference_dialogues(),
        Skill::Os => os_task(&config, OsMode::SingleTurn)?.reference_dialogues(),
        Skill::Db => db_task(&config, &DbBackend::Sqlite)?.reference_dialogues(),
    };
    Ok(conversations(&dialogues))
}

/// The held-out skill's task ([`RETENTION_SKILL`]): `count` generated comparison questions of
/// `split`, mixed difficulty (three, four and five numbers in turn), drawn with `seed`,
/// graded by exact match of the trimmed reply.
pub fn retention_task(split: Split, count: usize, seed: u64) -> Result<Box<dyn Task>> {
    Ok(Box::new(compare_task(&retention_config(
        split, count, seed,
    ))?))
}

/// The task spec naming exactly the problems of [`retention_task`] with the same arguments.
pub fn retention_task_spec(split: Split, count: usize, seed: u64) -> String {
    spec(RETENTION_SKILL, &retention_config(split, count, seed))
}

/// The conversations of [`retention_task`]'s problems, each ending with the reference answer.
pub fn retention_reference_conversations(
    split: Split,
    count: usize,
    seed: u64,
) -> Result<Vec<Vec<ChatMessage>>> {
    let task = compare_task(&retention_config(split, count, seed))?;
    Ok(conversations(&task.reference_dialogues()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_the_same_problems_as_the_tasks() {
        let ctx = cycleqd_tasks::TaskContext::from_env();
        for skill in Skill::ALL {
            let spec = demo_task_spec(skill, Split::Validation, 7, 5);
            let from_spec = cycleqd_tasks::task_from_spec(&spec, &ctx).unwrap();
            let direct = demo_task(skill, Split::Validation, 7, 5).unwrap();
            assert_eq!(from_spec.fingerprint(), direct.fingerprint(), "{spec}");
            assert_eq!(from_spec.len(), 7);
        }
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_refused() {
        for skill in Skill::ALL {
            assert_eq!(skill.name().parse::<Skill>().unwrap(), skill);
        }
        assert!("math".parse::<Skill>().unwrap_err().contains("coding"));
    }

    #[test]
    fn reference_conversations_are_a_question_then_its_answer() {
        for skill in Skill::ALL {
            let conversations = reference_conversations(skill, Split::Train, 6, 3).unwrap();
            assert_eq!(conversations.len(), 6);
            for c in &conversations {
                assert_eq!(c.len(), 2, "{c:?}");
                assert_eq!(c[1].role, cycleqd_tasks::Role::Assistant);
            }
        }
    }

    #[test]
    fn the_retention_spec_names_the_retention_task() {
        let ctx = cycleqd_tasks::TaskContext::default();
        let spec = retention_task_spec(Split::Test, 9, 2);
        assert!(spec.starts_with("gen-compare:split=test,"), "{spec}");
        let from_spec = cycleqd_tasks::task_from_spec(&spec, &ctx).unwrap();
        let direct = retention_task(Split::Test, 9, 2).unwrap();
        assert_eq!(from_spec.fingerprint(), direct.fingerprint(), "{spec}");
        assert_eq!(direct.len(), 9);
    }

    #[test]
    fn retention_conversations_are_a_question_then_its_number() {
        let conversations = retention_reference_conversations(Split::Train, 6, 3).unwrap();
        assert_eq!(conversations.len(), 6);
        for c in &conversations {
            assert_eq!(c.len(), 2, "{c:?}");
            assert!(c[0].content.contains(&c[1].content), "{c:?}");
            assert!(c[1].content.parse::<u32>().is_ok(), "{c:?}");
        }
        let spec = retention_task_spec(Split::Train, 6, 3);
        let skills: Vec<String> = Skill::ALL
            .iter()
            .map(|&s| demo_task_spec(s, Split::Train, 6, 3))
            .collect();
        assert!(
            !skills.contains(&spec),
            "the held-out skill is not an expert skill"
        );
    }

    #[test]
    fn tasks_have_the_problems_asked_for() {
        for skill in Skill::ALL {
            assert_eq!(demo_task(skill, Split::Test, 9, 0).unwrap().len(), 9);
        }
    }
}
