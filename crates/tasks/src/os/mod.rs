//! Operating-system skill, AgentBench-OS style: each problem prepares files in a sandbox
//! and asks a question; the model acts with shell commands (one per turn, output fed back)
//! until it answers, or, in single-turn mode for tiny models, replies with one command
//! whose output is taken as its answer.

mod agent;
mod problem;

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use agent::{
    answer_with_last_output, observation, parse_action, run_command_reply, single_turn_command,
    Action, AGENT_SYSTEM_PROMPT, OBSERVATION_CHARS, SINGLE_TURN_SYSTEM_PROMPT,
};
pub use problem::{OsEvaluation, OsProblem};

use crate::error::TaskError;
use crate::jsonl::read_records;
use crate::model::{ChatMessage, GenParams, TextModel};
use crate::oracle::{ProvidesReferences, ReferenceDialogue, ReferenceTurn};
use crate::sandbox::{Limits, Program, Sandbox};
use crate::suite_settings::{SuiteSettings, WithSettings};
use crate::task::{
    chat_prompts, fingerprint_of, grade_in_parallel, limited, update_in_parallel, EvalOptions,
    SampleRecord, Task, TaskResult, Verdict,
};

/// Agent episodes that run at once (each holds a sandbox between turns).
const EPISODES_AT_ONCE: usize = 64;

/// How the model interacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsMode {
    /// One reply: a command whose standard output is the answer.
    SingleTurn,
    /// Up to `max_rounds` replies, each one action.
    Agent {
        /// Replies allowed before the episode fails.
        max_rounds: usize,
    },
}

/// A suite of OS problems.
#[derive(Debug, Clone)]
pub struct OsTask {
    settings: SuiteSettings<Limits>,
    problems: Vec<OsProblem>,
    mode: OsMode,
}

#[derive(Serialize)]
struct Fingerprinted<'a> {
    problems: &'a [OsProblem],
    mode: OsMode,
    system: &'a Option<String>,
    generation: &'a GenParams,
    limits: &'a Limits,
}

/// The limits each command of an OS problem runs under.
pub fn os_limits() -> Limits {
    Limits {
        cpu_seconds: 5,
        wall: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// Loads problems from JSON lines, one [`OsProblem`] per line:
/// `{"id", "question", "setup", "evaluation": {"match"|"check"|"example": "..."},
/// "reference_command"}`.
pub fn load_os_problems(path: &Path) -> Result<Vec<OsProblem>, TaskError> {
    Ok(read_records(path)?.into_iter().map(|(_, p)| p).collect())
}

struct Episode<'a> {
    problem: &'a OsProblem,
    prepared: Option<problem::Prepared>,
    conversation: Vec<ChatMessage>,
    first_prompt: String,
    reply: Option<String>,
    last_output: String,
    answer: Option<Option<String>>,
    generation_seconds: f64,
    grading_seconds: f64,
    verdict: Option<Verdict>,
}

impl OsTask {
    /// A task over `problems` in `mode`, with the mode's system prompt, at most 256 new
    /// tokens per reply.
    pub fn new(name: impl Into<String>, problems: Vec<OsProblem>, mode: OsMode) -> Self {
        let system = match mode {
            OsMode::SingleTurn => SINGLE_TURN_SYSTEM_PROMPT,
            OsMode::Agent { .. } => AGENT_SYSTEM_PROMPT,
        };
        OsTask {
            settings: SuiteSettings::new(name, Some(system), 256, os_limits()),
            problems,
            mode,
        }
    }

    /// Problems from a JSON-lines file (see [`load_os_problems`]).
    pub fn from_jsonl(path: &Path, mode: OsMode) -> Result<Self, TaskError> {
        Ok(OsTask::new("os", load_os_problems(path)?, mode))
    }

    /// The problems.
    pub fn problems(&self) -> &[OsProblem] {
        &self.problems
    }

    /// The mode.
    pub fn mode(&self) -> OsMode {
        self.mode
    }

    /// The conversation the model starts from.
    pub fn opening(&self, problem: &OsProblem) -> Vec<ChatMessage> {
        self.settings.opening(problem.question.clone())
    }

    /// Grades one single-turn reply in a fresh sandbox.
    pub fn grade_single_turn(
        &self,
        problem: &OsProblem,
        reply: &str,
    ) -> Result<Verdict, TaskError> {
        let mut prepared = problem.prepare(Sandbox::new(self.settings.limits.clone())?)?;
        let command = single_turn_command(reply);
        if command.is_empty() {
            return Ok(Verdict::fail("no command"));
        }
        let outcome = prepared.sandbox.run(&Program::shell(&command))?;
        let answer = outcome.stdout_text();
        let mut verdict = prepared.judge(problem, Some(&answer))?;
        if !verdict.passed && !outcome.success() {
            verdict.detail = format!("{}; the command {}", verdict.detail, outcome.describe());
        }
        Ok(verdict)
    }

    fn evaluate_single_turn(
        &self,
        model: &dyn TextModel,
        problems: &[OsProblem],
        options: &EvalOptions,
    ) -> Result<Vec<SampleRecord>, TaskError> {
        let openings: Vec<_> = problems.iter().map(|p| self.opening(p)).collect();
        let prompts = chat_prompts(model, &openings)?;
        let outputs = self
            .settings
            .generate(model, &prompts, options.batch_size)?;
        let jobs: Vec<_> = problems.iter().zip(prompts).zip(outputs).collect();
        grade_in_parallel(
            &jobs,
            options.workers,
            |((problem, prompt), (output, gen_s))| {
                let start = Instant::now();
                let verdict = self.grade_single_turn(problem, output)?;
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
        )
    }

    fn evaluate_agent(
        &self,
        model: &dyn TextModel,
        problems: &[OsProblem],
        max_rounds: usize,
        options: &EvalOptions,
    ) -> Result<Vec<SampleRecord>, TaskError> {
        let mut records = Vec::with_capacity(problems.len());
        for chunk in problems.chunks(EPISODES_AT_ONCE) {
            let mut episodes: Vec<Episode> = chunk
                .iter()
                .map(|problem| Episode {
                    problem,
                    prepared: None,
                    conversation: self.opening(problem),
                    first_prompt: String::new(),
                    reply: None,
                    last_output: String::new(),
                    answer: None,
                    generation_seconds: 0.0,
                    grading_seconds: 0.0,
                    verdict: None,
                })
                .collect();
            update_in_parallel(&mut episodes, options.workers, |e| {
                let start = Instant::now();
                e.prepared = Some(
                    e.problem
                        .prepare(Sandbox::new(self.settings.limits.clone())?)?,
                );
                e.grading_seconds += start.elapsed().as_secs_f64();
                Ok(())
            })?;
            for round in 0..max_rounds {
                let active: Vec<usize> = (0..episodes.len())
                    .filter(|&i| episodes[i].answer.is_none())
                    .collect();
                if active.is_empty() {
                    break;
                }
                let conversations: Vec<_> = active
                    .iter()
                    .map(|&i| episodes[i].conversation.clone())
                    .collect();
                let prompts = chat_prompts(model, &conversations)?;
                let outputs = self
                    .settings
                    .generate(model, &prompts, options.batch_size)?;
                for ((&i, prompt), (output, gen_s)) in active.iter().zip(prompts).zip(outputs) {
                    let e = &mut episodes[i];
                    if round == 0 {
                        e.first_prompt = prompt;
                    }
                    e.generation_seconds += gen_s;
                    e.reply = Some(output);
                }
                update_in_parallel(&mut episodes, options.workers, |e| {
                    let Some(reply) = e.reply.take() else {
                        return Ok(());
                    };
                    let start = Instant::now();
                    e.conversation.push(ChatMessage::assistant(reply.clone()));
                    e.last_output = reply.clone();
                    match parse_action(&reply) {
                        Action::Bash(command) => {
                            let prepared = e.prepared.as_mut().expect("prepared above");
                            let outcome = prepared.sandbox.run(&Program::shell(&command))?;
                            e.conversation
                                .push(ChatMessage::user(observation(&outcome)));
                        }
                        Action::Answer(answer) => e.answer = Some(Some(answer)),
                        Action::Finish => e.answer = Some(None),
                        Action::Invalid => e
                            .conversation
                            .push(ChatMessage::user(agent::invalid_action_message())),
                    }
                    e.grading_seconds += start.elapsed().as_secs_f64();
                    Ok(())
                })?;
            }
            update_in_parallel(&mut episodes, options.workers, |e| {
                let start = Instant::now();
                let prepared = e.prepared.as_mut().expect("prepared above");
                e.verdict = Some(match &e.answer {
                    Some(answer) => prepared.judge(e.problem, answer.as_deref())?,
                    None => Verdict::fail(format!("no answer within {max_rounds} rounds")),
                });
                e.grading_seconds += start.elapsed().as_secs_f64();
                // The sandbox goes now, not when the whole chunk is done.
                e.prepared = None;
                Ok(())
            })?;
            records.extend(episodes.into_iter().map(|e| SampleRecord {
                id: e.problem.id.clone(),
                prompt: e.first_prompt,
                output: e.last_output,
                verdict: e.verdict.expect("judged above"),
                generation_seconds: e.generation_seconds,
                grading_seconds: e.grading_seconds,
                transcript: e.conversation,
            }));
        }
        Ok(records)
    }
}

impl WithSettings for OsTask {
    type Limits = Limits;

    fn settings_mut(&mut self) -> &mut SuiteSettings<Limits> {
        &mut self.settings
    }
}

impl Task for OsTask {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn fingerprint(&self) -> String {
        fingerprint_of(
            "os",
            &Fingerprinted {
                problems: &self.problems,
                mode: self.mode,
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
        let samples = match self.mode {
            OsMode::SingleTurn => self.evaluate_single_turn(model, problems, options)?,
            OsMode::Agent { max_rounds } => {
                self.evaluate_agent(model, problems, max_rounds, options)?
            }
        };
        Ok(TaskResult::from_samples(
            self,
            model,
            options.limit,
            samples,
        ))
    }
}

impl ProvidesReferences for OsTask {
    fn reference_dialogues(&self) -> Vec<ReferenceDialogue> {
        self.problems
            .iter()
            .filter_map(|p| {
                let command = p.reference_command.as_ref()?;
                let turns = match self.mode {
                    OsMode::SingleTurn => vec![ReferenceTurn::Reply(command.clone())],
                    OsMode::Agent { .. } => vec![
                        ReferenceTurn::Reply(run_command_reply(command)),
                        ReferenceTurn::Derived(answer_with_last_output),
                    ],
                };
                Some(ReferenceDialogue {
                    opening: self.opening(p),
                    turns,
                })
            })
            .collect()
    }
}
