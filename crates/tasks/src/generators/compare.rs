//! Generated comparison questions: a list of distinct two-digit numbers and whether the
//! largest or the smallest is wanted; the answer is that number, copied from the question.
//! Easy lists hold three numbers, medium four, hard five.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{draw_distinct, pick_distinct, Difficulty, GenConfig};
use crate::answer::AnswerProblem;
use crate::error::TaskError;

/// The numbers drawn from: two digits, so that each is likely one token of a small BPE.
const NUMBERS: std::ops::RangeInclusive<u32> = 10..=99;

fn numbers_for(difficulty: Difficulty) -> usize {
    match difficulty {
        Difficulty::Easy => 3,
        Difficulty::Medium => 4,
        _ => 5,
    }
}

/// One question and its answer.
fn ask(rng: &mut ChaCha8Rng, difficulty: Difficulty) -> (String, String) {
    let pool: Vec<u32> = NUMBERS.collect();
    let numbers = pick_distinct(rng, &pool, numbers_for(difficulty));
    let listed = numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let (word, answer) = if rng.random_bool(0.5) {
        ("largest", numbers.iter().max())
    } else {
        ("smallest", numbers.iter().min())
    };
    let answer = answer.expect("at least three numbers are drawn");
    (
        format!("Which number is {word}: {listed}?"),
        answer.to_string(),
    )
}

/// Generates comparison problems.
pub fn generate(config: &GenConfig) -> Result<Vec<AnswerProblem>, TaskError> {
    let drawn = draw_distinct("compare", config, ask, |(q, _)| q.as_str())?;
    Ok(drawn
        .into_iter()
        .enumerate()
        .map(|(i, (question, answer))| AnswerProblem {
            also: vec![],
            id: format!(
                "gen-compare/{}/{}/{i}",
                config.split.name(),
                config.difficulty.name()
            ),
            question,
            answer,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::generators::Split;

    fn config(split: Split, difficulty: Difficulty, count: usize, seed: u64) -> GenConfig {
        GenConfig {
            seed,
            split,
            difficulty,
            count,
        }
    }

    /// The answer recomputed from the question's text alone.
    fn solve(question: &str) -> String {
        let (head, list) = question.split_once(": ").unwrap();
        let numbers: Vec<u32> = list
            .trim_end_matches('?')
            .split(", ")
            .map(|n| n.parse().unwrap())
            .collect();
        let pick = if head.ends_with("largest") {
            numbers.iter().max()
        } else {
            assert!(head.ends_with("smallest"), "{question}");
            numbers.iter().min()
        };
        pick.unwrap().to_string()
    }

    #[test]
    fn answers_are_the_extreme_of_the_listed_numbers() {
        for (difficulty, n) in [
            (Difficulty::Easy, 3),
            (Difficulty::Medium, 4),
            (Difficulty::Hard, 5),
        ] {
            for p in generate(&config(Split::Train, difficulty, 50, 4)).unwrap() {
                p.validate().unwrap();
                assert_eq!(p.answer, solve(&p.question), "{}", p.question);
                assert_eq!(p.question.matches(", ").count(), n - 1, "{}", p.question);
            }
        }
    }

    #[test]
    fn splits_are_disjoint_and_every_question_belongs_to_its_split() {
        let mut seen: Vec<HashSet<String>> = Vec::new();
        for split in [Split::Train, Split::Validation, Split::Test] {
            let mut questions = HashSet::new();
            for seed in 0..3 {
                for p in generate(&config(split, Difficulty::Mixed, 200, seed)).unwrap() {
                    assert_eq!(Split::of(&p.question), split, "{}", p.question);
                    questions.insert(p.question);
                }
            }
            for other in &seen {
                assert!(questions.is_disjoint(other), "two splits share a question");
            }
            seen.push(questions);
        }
    }

    #[test]
    fn the_same_config_gives_the_same_problems_and_seeds_differ() {
        let a = config(Split::Test, Difficulty::Mixed, 30, 7);
        let problems = generate(&a).unwrap();
        assert_eq!(problems, generate(&a).unwrap());
        let distinct: HashSet<&str> = problems.iter().map(|p| p.question.as_str()).collect();
        assert_eq!(distinct.len(), 30);
        let other = generate(&config(Split::Test, Difficulty::Mixed, 30, 8)).unwrap();
        assert_ne!(problems, other);
    }

    #[test]
    fn mixed_difficulty_takes_easy_medium_and_hard_in_turn() {
        let problems = generate(&config(Split::Validation, Difficulty::Mixed, 6, 1)).unwrap();
        let lengths: Vec<usize> = problems
            .iter()
            .map(|p| p.question.matches(", ").count() + 1)
            .collect();
        assert_eq!(lengths, [3, 4, 5, 3, 4, 5]);
    }
}
