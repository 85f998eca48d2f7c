//! An operating-system problem: a setup script that prepares files, a question about them,
//! and how an answer is judged.

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::sandbox::{Program, Sandbox};

/// How an answer is judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsEvaluation {
    /// The answer must equal this text (both trimmed of surrounding whitespace).
    Match(String),
    /// A bash script run in the problem's sandbox after the model acted, with the answer as
    /// `$1`; exit status 0 passes. It can inspect files the model was asked to change.
    Check(String),
    /// A command run right after setup; the answer must equal its standard output (both
    /// trimmed).
    Example(String),
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsProblem {
    /// Identifier.
    pub id: String,
    /// What the model is asked.
    pub question: String,
    /// A bash script run in the sandbox's working directory before the model acts.
    #[serde(default)]
    pub setup: String,
    /// How the answer is judged.
    pub evaluation: OsEvaluation,
    /// A command whose output answers the question, if known (the reference solution).
    #[serde(default)]
    pub reference_command: Option<String>,
}

/// What a prepared problem expects: set up in its sandbox, with the example's output when
/// the evaluation needs one.
pub(crate) struct Prepared {
    pub(crate) sandbox: Sandbox,
    expected: Option<String>,
}

impl OsProblem {
    /// Runs the setup (and the example command) in `sandbox`.
    pub(crate) fn prepare(&self, mut sandbox: Sandbox) -> Result<Prepared, TaskError> {
        let failed = |what: &str, outcome: &crate::sandbox::RunOutcome| TaskError::Config {
            task: self.id.clone(),
            message: format!(
                "the {what} {}: {}",
                outcome.describe(),
                outcome.stderr_text().trim()
            ),
        };
        if !self.setup.trim().is_empty() {
            let outcome = sandbox.run(&Program::shell(&self.setup))?;
            if !outcome.success() {
                return Err(failed("setup script", &outcome));
            }
        }
        let expected = match &self.evaluation {
            OsEvaluation::Example(command) => {
                let outcome = sandbox.run(&Program::shell(command))?;
                if !outcome.success() {
                    return Err(failed("example command", &outcome));
                }
                Some(outcome.stdout_text())
            }
            _ => None,
        };
        Ok(Prepared { sandbox, expected })
    }
}

impl Prepared {
    /// Judges `answer` (`None` when the model finished without answering).
    pub(crate) fn judge(
        &mut self,
        problem: &OsProblem,
        answer: Option<&str>,
    ) -> Result<crate::task::Verdict, TaskError> {
        use crate::task::Verdict;
        let given = answer.unwrap_or("").trim();
        let compare = |expected: &str| {
            if given == expected.trim() {
                Verdict::pass(format!("answered {given:?}"))
            } else {
                Verdict::fail(format!(
                    "answered {given:?}, expected {:?}",
                    expected.trim()
                ))
            }
        };
        Ok(match &problem.evaluation {
            OsEvaluation::Match(expected) => compare(expected),
            OsEvaluation::Example(_) => compare(self.expected.as_deref().unwrap_or("")),
            OsEvaluation::Check(script) => {
                let outcome = self
                    .sandbox
                    .run(&Program::shell_with_args(script, &[given.to_string()]))?;
                if outcome.success() {
                    Verdict::pass(format!("check script accepted {given:?}"))
                } else {
                    Verdict::fail(format!(
                        "check script {} for answer {given:?}: {}",
                        outcome.describe(),
                        outcome.stdout_text().trim()
                    ))
                }
            }
        })
    }
}
