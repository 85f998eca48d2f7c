//! Short-answer skills: each problem is a question with one answer (a word, a number, a
//! name). By default a reply passes when, trimmed of surrounding whitespace, it equals the
//! answer; a task can instead accept any reply that mentions the answer (or one of its
//! accepted spellings) as a whole word, for chat models that answer in a sentence.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::model::{ChatMessage, GenParams, TextModel};
use crate::oracle::{ProvidesReferences, ReferenceDialogue, ReferenceTurn};
use crate::suite_settings::{SuiteSettings, WithSettings};
use crate::task::{
    chat_prompts, fingerprint_of, limited, EvalOptions, SampleRecord, Task, TaskResult, Verdict,
};

/// One question with its exact answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerProblem {
    /// A unique id.
    pub id: String,
    /// What the model is asked.
    pub question: String,
    /// The accepted reply (compared after trimming whitespace).
    pub answer: String,
    /// Other accepted spellings, for tasks that grade by mention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
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

/// How a reply is compared with the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Matching {
    /// The trimmed reply equals the answer.
    #[default]
    Exact,
    /// The reply contains the answer or an accepted spelling as a whole word (letter case
    /// ignored).
    Mentions,
}

impl Matching {
    fn is_exact(&self) -> bool {
        *self == Matching::Exact
    }
}

/// A suite of short-answer questions, prompted with the question alone (after the system
/// prompt, when one is set).
#[derive(Debug, Clone)]
pub struct AnswerTask {
    settings: SuiteSettings<()>,
    problems: Vec<AnswerProblem>,
    matching: Matching,
}

#[derive(Serialize)]
struct Fingerprinted<'a> {
    problems: &'a [AnswerProblem],
    generation: &'a GenParams,
    #[serde(skip_serializing_if = "Matching::is_exact")]
    matching: Matching,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a String>,
}

impl AnswerTask {
    /// A task over `problems` (validated), at most 8 new tokens per reply: an answer is one
    /// word or number, and a reply that runs on past it is wrong, not cut.
    pub fn new(name: impl Into<String>, problems: Vec<AnswerProblem>) -> Result<Self, TaskError> {
        for p in &problems {
            p.validate()?;
        }
        Ok(AnswerTask {
            settings: SuiteSettings::new(name, None, 8, ()),
            problems,
            matching: Matching::Exact,
        })
    }

    /// Grades replies by `matching`.
    pub fn with_matching(mut self, matching: Matching) -> Self {
        self.matching = matching;
        self
    }

    /// The problems.
    pub fn problems(&self) -> &[AnswerProblem] {
        &self.problems
    }

    /// The conversation the model is given.
    pub fn opening(&self, problem: &AnswerProblem) -> Vec<ChatMessage> {
        self.settings.opening(problem.question.clone())
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

    /// Whether the reply mentions the answer or an accepted spelling as a whole word.
    pub fn grade_mention(problem: &AnswerProblem, reply: &str) -> Verdict {
        let said = reply.to_lowercase();
        let found = std::iter::once(&problem.answer)
            .chain(&problem.also)
            .find(|a| mentions(&said, &a.to_lowercase()));
        match found {
            Some(a) => Verdict::pass(format!("mentions {a:?}")),
            None => Verdict::fail(format!(
                "expected a mention of {:?}, got {:?}",
                problem.answer,
                reply.trim()
            )),
        }
    }
}

impl WithSettings for AnswerTask {
    type Limits = ();

    fn settings_mut(&mut self) -> &mut SuiteSettings<()> {
        &mut self.settings
    }
}

impl Task for AnswerTask {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn fingerprint(&self) -> String {
        fingerprint_of(
            "answer",
            &Fingerprinted {
                problems: &self.problems,
                generation: &self.settings.generation,
                matching: self.matching,
                system: self.settings.system.as_ref(),
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
        let outputs = self
            .settings
            .generate(model, &prompts, options.batch_size)?;
        // Grading is a string comparison: no worker threads needed.
        let samples = problems
            .iter()
            .zip(prompts)
            .zip(outputs)
            .map(|((problem, prompt), (output, generation_seconds))| {
                let start = Instant::now();
                let verdict = match self.matching {
                    Matching::Exact => AnswerTask::grade(problem, &output),
                    Matching::Mentions => AnswerTask::grade_mention(problem, &output),
                };
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

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
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
            also: vec![],
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
    fn mentions_pass_as_whole_words_in_any_case_and_any_accepted_spelling() {
        let mut p = problem("Kyiv");
        p.also = vec!["Kiev".into()];
        for said in ["Kyiv", "The capital is kyiv.", "It is Kiev", "KYIV!"] {
            assert!(AnswerTask::grade_mention(&p, said).passed, "{said:?}");
        }
        for said in ["Kyivan", "Lviv", "", "kiev2"] {
            let verdict = AnswerTask::grade_mention(&p, said);
            assert!(!verdict.passed, "{said:?}");
            assert!(verdict.detail.contains("\"Kyiv\""), "{verdict:?}");
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
                also: vec![],
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
