//! Short-answer skill: each problem is a question whose answer is one exact string (a word
//! or a number) derivable from the question itself; a reply passes when, trimmed of
//! surrounding whitespace, it equals the answer.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::model::{ChatMessage, GenParams, TextModel};
use crate::oracle::{ProvidesReferences, ReferenceDialogue, ReferenceTurn};
use crate::task::{
    chat_prompts, fingerprint_of, generate_all, limited, EvalOptions, SampleRecord, Task,
    TaskResult, Verdict,
};

/// One question with its exact answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerProblem {
    /// A unique id.
    pub id: String,
    /// What the model is asked.
    pub question: String,
    /// The only accepted reply (compared after trimming whitespace).
    pub answer: String,
}

impl AnswerProblem {
    /// Refuses problems no reply can be graded against: an empty question, or an answer
    /// that is empty or carries surrounding whitespace (trimmed replies could never match).
    pub fn validate(&self) -> Result<(), TaskError> {
        let bad = |message: &str| TaskError::Config {
            task: self.id.clone(),
            message: message.to_string(),
        };
        if self.question.trim().is_empty() {
            return Err(bad("the question is empty"));
        }
        if self.answer.trim().is_empty() {
            return Err(bad("the answer is empty"));
        }
        if self.answer.trim() != self.answer {
            return Err(bad(
                "the answer has leading or trailing whitespace; expected it trimmed",
            ));
        }
        Ok(())
    }
}

/// A suite of short-answer questions, prompted with the question alone.
#[derive(Debug, Clone)]
pub struct AnswerTask {
    name: String,
    problems: Vec<AnswerProblem>,
    generation: GenParams,
}

#[derive(Serialize)]
struct Fingerprinted<'a> {
    problems: &'a [AnswerProblem],
    generation: &'a GenParams,
}

impl AnswerTask {
    /// A task over `problems` (validated), at most 8 new tokens per reply: an answer is one
    /// word or number, and a reply that runs on past it is wrong, not cut.
    pub fn new(name: impl Into<String>, problems: Vec<AnswerProblem>) -> Result<Self, TaskError> {
        for p in &problems {
            p.validate()?;
        }
        Ok(AnswerTask {
            name: name.into(),
            problems,
            generation: GenParams {
                max_new_tokens: 8,
                stop: vec![],
            },
        })
    }

    /// Generation settings.
    pub fn with_gen_params(mut self, generation: GenParams) -> Self {
        self.generation = generation;
        self
    }

    /// Renames the task.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The problems.
    pub fn problems(&self) -> &[AnswerProblem] {
        &self.problems
    }

    /// The conversation the model is given.
    pub fn opening(&self, problem: &AnswerProblem) -> Vec<ChatMessage> {
        vec![ChatMessage::user(problem.question.clone())]
    }

    /// Exact match after trimming whitespace.
    pub fn grade(problem: &AnswerProblem, reply: &str) -> Verdict {
        let given = reply.trim();
        if given == problem.answer {
            Verdict::pass(format!("answered {given:?}"))
        } else {
            Verdict::fail(format!("expected {:?}, got {given:?}", problem.answer))
        }
    }
}

impl Task for AnswerTask {
    fn name(&self) -> &str {
        &self.name
    }

    fn fingerprint(&self) -> String {
        fingerprint_of(
            "answer",
            &Fingerprinted {
                problems: &self.problems,
                generation: &self.generation,
            },
        )
    }

    fn len(&self) -> usize {
        self.problems.len()
    }

    fn evaluate(
        &self,
        model: &dyn TextModel,
        options: &EvalOptions,
    ) -> Result<TaskResult, TaskError> {
        let problems = limited(&self.problems, options.limit);
        let openings: Vec<_> = problems.iter().map(|p| self.opening(p)).collect();
        let prompts = chat_prompts(model, &openings)?;
        let outputs = generate_all(model, &prompts, &self.generation, options.batch_size)?;
        // Grading is a string comparison: no worker threads needed.
        let samples = problems
            .iter()
            .zip(prompts)
            .zip(outputs)
            .map(|((problem, prompt), (output, generation_seconds))| {
                let start = Instant::now();
                let verdict = AnswerTask::grade(problem, &output);
                SampleRecord {
                    id: problem.id.clone(),
                    prompt,
                    output,
                    verdict,
                    generation_seconds,
                    grading_seconds: start.elapsed().as_secs_f64(),
                    transcript: vec![],
                }
            })
            .collect();
        Ok(TaskResult::from_samples(
            self,
            model,
            options.limit,
            samples,
        ))
    }
}

impl ProvidesReferences for AnswerTask {
    fn reference_dialogues(&self) -> Vec<ReferenceDialogue> {
        self.problems
            .iter()
            .map(|p| ReferenceDialogue {
                opening: self.opening(p),
                turns: vec![ReferenceTurn::Reply(p.answer.clone())],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{EmptyModel, ReferenceAnswers};

    fn problem(answer: &str) -> AnswerProblem {
        AnswerProblem {
            id: "p".into(),
            question: "Which number is largest: 41, 87, 12?".into(),
            answer: answer.into(),
        }
    }

    #[test]
    fn replies_pass_only_when_they_equal_the_answer_after_trimming() {
        let p = problem("87");
        assert!(AnswerTask::grade(&p, "87").passed);
        assert!(AnswerTask::grade(&p, "  87 \n").passed);
        for wrong in ["41", "870", "8 7", "87.", "The answer is 87", ""] {
            let verdict = AnswerTask::grade(&p, wrong);
            assert!(!verdict.passed, "{wrong:?} passed");
            assert!(verdict.detail.contains("expected \"87\""), "{verdict:?}");
        }
    }

    #[test]
    fn ungradable_problems_are_refused_by_field() {
        for (answer, expected) in [("", "answer is empty"), (" 87", "whitespace")] {
            let err = AnswerTask::new("t", vec![problem(answer)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
        let mut empty_question = problem("87");
        empty_question.question = " ".into();
        let err = empty_question.validate().unwrap_err().to_string();
        assert!(err.contains("question is empty"), "{err}");
    }

    #[test]
    fn reference_answers_score_one_and_empty_replies_zero() {
        let problems: Vec<AnswerProblem> = (0..5)
            .map(|i| AnswerProblem {
                id: format!("p{i}"),
                question: format!("Which number is smallest: {}, 90?", 10 + i),
                answer: format!("{}", 10 + i),
            })
            .collect();
        let task = AnswerTask::new("small", problems).unwrap();
        let oracle = ReferenceAnswers::new("small", task.reference_dialogues()).unwrap();
        let options = EvalOptions::default();
        let result = task.evaluate(&oracle, &options).unwrap();
        assert_eq!((result.passed, result.total), (5, 5));
        let result = task.evaluate(&EmptyModel, &options).unwrap();
        assert_eq!((result.passed, result.total, result.score), (0, 5, 0.0));
    }
}
