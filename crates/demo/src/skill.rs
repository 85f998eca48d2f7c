//! The demo's three skills and their tasks: generated problems of mixed difficulty, prompted
//! with the question alone, so that training and evaluation see the same conversations.

use cycleqd_tasks::db::DbBackend;
use cycleqd_tasks::generators::{coding_task, db_task, os_task, Difficulty, GenConfig, Split};
use cycleqd_tasks::oracle::ProvidesReferences;
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

fn config(skill: Skill, split: Split, count: usize, seed: u64) -> GenConfig {
    GenConfig {
        seed: seed.wrapping_add(skill.seed_offset()),
        split,
        difficulty: Difficulty::Mixed,
        count,
    }
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
    let config = config(skill, split, count, seed);
    format!(
        "gen-{}:split={},difficulty={},count={},seed={}",
        skill.name(),
        config.split.name(),
        config.difficulty.name(),
        config.count,
        config.seed
    )
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
    Ok(sft_examples(&dialogues)
        .into_iter()
        .map(|e| e.messages)
        .collect())
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
    fn tasks_have_the_problems_asked_for() {
        for skill in Skill::ALL {
            assert_eq!(demo_task(skill, Split::Test, 9, 0).unwrap().len(), 9);
        }
    }
}
