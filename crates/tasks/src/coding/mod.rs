//! Coding: the model writes a Python function; hidden unit tests run it in the sandbox.
//! Loads HumanEval and MBPP-format data; the procedural generator makes problems for tiny
//! models ([`crate::generators::coding`]).

mod extract;
mod load;
mod problem;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use extract::{defines_function, extract_code};
pub use load::{complete_function_question, describe_function_question, load_humaneval, load_mbpp};
pub use problem::{CodingProblem, PromptStyle};

use crate::error::TaskError;
use crate::model::{ChatMessage, GenParams, TextModel};
use crate::oracle::{ProvidesReferences, ReferenceDialogue, ReferenceTurn};
use crate::sandbox::{Limits, Program, Sandbox};
use crate::suite_settings::{SuiteSettings, WithSettings};
use crate::task::{
    chat_prompts, fingerprint_of, grade_in_parallel, limited, EvalOptions, SampleRecord, Task,
    TaskResult, Verdict,
};

/// HumanEval's stop strings for completion prompts: the function ends where top-level code
/// starts again.
pub fn completion_stops() -> Vec<String> {
    ["\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#"]
        .map(String::from)
        .to_vec()
}

/// A suite of coding problems.
#[derive(Debug, Clone)]
pub struct CodingTask {
    settings: SuiteSettings<Limits>,
    problems: Vec<CodingProblem>,
    style: PromptStyle,
}

#[derive(Serialize)]
struct Fingerprinted<'a> {
    problems: &'a [CodingProblem],
    style: PromptStyle,
    system: &'a Option<String>,
    generation: &'a GenParams,
    limits: &'a Limits,
}

/// The limits a coding problem's tests run under.
pub fn coding_limits() -> Limits {
    Limits {
        cpu_seconds: 5,
        wall: Duration::from_secs(10),
        ..Limits::default()
    }
}

impl CodingTask {
    /// A task over `problems`, prompted as instructions, 512 new tokens at most.
    pub fn new(name: impl Into<String>, problems: Vec<CodingProblem>) -> Self {
        CodingTask {
            settings: SuiteSettings::new(name, None, 512, coding_limits()),
            problems,
            style: PromptStyle::Instruct,
        }
    }

    /// HumanEval from its JSON-lines file (see [`load_humaneval`]).
    pub fn humaneval(path: &std::path::Path) -> Result<Self, TaskError> {
        Ok(CodingTask::new("humaneval", load_humaneval(path)?))
    }

    /// MBPP-format problems from a JSON-lines file (see [`load_mbpp`]).
    pub fn mbpp(path: &std::path::Path) -> Result<Self, TaskError> {
        Ok(CodingTask::new("mbpp", load_mbpp(path)?))
    }

    /// Prompts in `style`. Completion needs a code prompt on every problem; it also sets
    /// HumanEval's stop strings.
    pub fn with_style(mut self, style: PromptStyle) -> Result<Self, TaskError> {
        if style == PromptStyle::Completion {
            if let Some(p) = self.problems.iter().find(|p| p.code_prompt.is_empty()) {
                return Err(TaskError::Config {
                    task: self.settings.name,
                    message: format!(
                        "problem {} is described in words only; completion prompts need code \
                         to continue (use the instruct style)",
                        p.id
                    ),
                });
            }
            self.settings.generation.stop = completion_stops();
        }
        self.style = style;
        Ok(self)
    }

    /// Keeps only the first `count` problems (all when there are fewer).
    pub fn with_count(mut self, count: usize) -> Self {
        self.problems.truncate(count);
        self
    }

    /// The problems.
    pub fn problems(&self) -> &[CodingProblem] {
        &self.problems
    }

    /// The conversation an instruct model is given for `problem`.
    pub fn opening(&self, problem: &CodingProblem) -> Vec<ChatMessage> {
        self.settings.opening(problem.question.clone())
    }

    /// Runs `problem`'s tests on a reply in a fresh sandbox. The program must exit with
    /// status 0 after printing a token that only the end of the tests prints, so that a
    /// solution that exits early (`sys.exit(0)`, `os._exit(0)`) does not pass.
    pub fn grade(&self, problem: &CodingProblem, output: &str) -> Result<Verdict, TaskError> {
        let token = format!("cycleqd-tests-done-{:016x}", rand::random::<u64>());
        let program = format!(
            "{}
print({token:?})
",
            problem.program(output, self.style)
        );
        let mut sandbox = Sandbox::new(self.settings.limits.clone())?;
        let outcome = sandbox.run(&Program::python(&program))?;
        let finished = outcome.stdout_text().lines().any(|l| l == token);
        Ok(if outcome.success() && finished {
            Verdict::pass("all tests passed")
        } else if outcome.success() {
            Verdict::fail("the program exited before its tests finished")
        } else {
            let stderr = outcome.stderr_text();
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let last: String = last.chars().take(300).collect();
            Verdict::fail(format!("{}: {last}", outcome.describe()))
        })
    }
}

impl WithSettings for CodingTask {
    type Limits = Limits;

    fn settings_mut(&mut self) -> &mut SuiteSettings<Limits> {
        &mut self.settings
    }
}

impl Task for CodingTask {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn fingerprint(&self) -> String {
        fingerprint_of(
            "coding",
            &Fingerprinted {
                problems: &self.problems,
                style: self.style,
                system: &self.settings.system,
                generation: &self.settings.generation,
                limits: &self.settings.limits,
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
        let prompts = match self.style {
            PromptStyle::Instruct => {
                let openings: Vec<_> = problems.iter().map(|p| self.opening(p)).collect();
                chat_prompts(model, &openings)?
            }
            PromptStyle::Completion => problems.iter().map(|p| p.code_prompt.clone()).collect(),
        };
        let outputs = self
            .settings
            .generate(model, &prompts, options.batch_size)?;
        let jobs: Vec<_> = problems.iter().zip(prompts).zip(outputs).collect();
        let samples = grade_in_parallel(
            &jobs,
            options.workers,
            |((problem, prompt), (output, gen_s))| {
                let start = Instant::now();
                let verdict = self.grade(problem, output)?;
                Ok(SampleRecord {
                    id: problem.id.clone(),
                    prompt: prompt.clone(),
                    output: output.clone(),
                    verdict,
                    generation_seconds: *gen_s,
                    grading_seconds: start.elapsed().as_secs_f64(),
                    transcript: vec![],
                })
            },
        )?;
        Ok(TaskResult::from_samples(
            self,
            model,
            options.limit,
            samples,
        ))
    }
}

impl ProvidesReferences for CodingTask {
    fn reference_dialogues(&self) -> Vec<ReferenceDialogue> {
        self.problems
            .iter()
            .filter_map(|p| {
                let reply = p.reference_reply(self.style)?;
                let opening = match self.style {
                    PromptStyle::Instruct => self.opening(p),
                    PromptStyle::Completion => vec![ChatMessage::user(p.code_prompt.clone())],
                };
                Some(ReferenceDialogue {
                    opening,
                    turns: vec![ReferenceTurn::Reply(reply)],
                })
            })
            .collect()
    }
}
