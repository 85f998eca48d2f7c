//! The multi-turn protocol of AgentBench-style OS problems: the model replies with one
//! action per turn (run a bash command, answer, or finish), and sees each command's output
//! in the next user message.

use crate::coding::extract_code;
use crate::model::{ChatMessage, Role};
use crate::sandbox::RunOutcome;

/// The system prompt of agent mode.
pub const AGENT_SYSTEM_PROMPT: &str = "You are working in a Linux shell (bash) to answer a \
question about the files in your current directory. In every turn, think briefly, then end \
your reply with exactly one action:\n\
1. To run a command: a line `Act: bash` followed by the command in a ```bash code block. \
You will see its output.\n\
2. To give the answer: a line `Act: answer(ANSWER)`, with only the answer inside the \
parentheses.\n\
3. When the task asks you to change something and you are done: a line `Act: finish`.\n\
Each command runs in a fresh shell in the same directory; files persist between commands.";

/// The instruction of single-turn mode.
pub const SINGLE_TURN_SYSTEM_PROMPT: &str = "Answer the question about the files in the \
current directory with one bash command whose output is exactly the answer. Reply with the \
command only.";

/// Tool output shown to the model is cut to this many characters.
pub const OBSERVATION_CHARS: usize = 800;

const OUTPUT_HEADER: &str = "The output of the shell:\n\n";
const EMPTY_OUTPUT: &str = "The output of the shell is empty.";
const TRUNCATED: &str = "\n[output truncated]";

/// What the model chose to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run this command.
    Bash(String),
    /// Answer with this text.
    Answer(String),
    /// Done without an answer.
    Finish,
    /// Not a valid action; the model is told so.
    Invalid,
}

/// Reads the last `Act:` line of a reply.
pub fn parse_action(reply: &str) -> Action {
    let Some(at) = reply.rfind("Act:") else {
        return Action::Invalid;
    };
    let rest = reply[at + "Act:".len()..].trim_start();
    if let Some(after) = rest.strip_prefix("bash") {
        let command = extract_code(after).trim().to_string();
        if command.is_empty() {
            Action::Invalid
        } else {
            Action::Bash(command)
        }
    } else if let Some(after) = rest.strip_prefix("answer(") {
        match after.rfind(')') {
            Some(end) => Action::Answer(after[..end].trim().to_string()),
            None => Action::Invalid,
        }
    } else if rest.starts_with("finish") {
        Action::Finish
    } else {
        Action::Invalid
    }
}

/// The message that tells the model a reply had no valid action.
pub fn invalid_action_message() -> String {
    "No valid action found. End your reply with `Act: bash` and a ```bash code block, \
     `Act: answer(...)`, or `Act: finish`."
        .to_string()
}

/// The user message reporting a command's output (standard output, then standard error),
/// cut to [`OBSERVATION_CHARS`].
pub fn observation(outcome: &RunOutcome) -> String {
    let mut text = outcome.stdout_text();
    text.push_str(&outcome.stderr_text());
    let text = text.trim_end();
    if text.is_empty() {
        return EMPTY_OUTPUT.to_string();
    }
    let mut shown: String = text.chars().take(OBSERVATION_CHARS).collect();
    if shown.len() < text.len() {
        shown.push_str(TRUNCATED);
    }
    format!("{OUTPUT_HEADER}{shown}")
}

/// The command of a single-turn reply: its fenced block, or the reply itself.
pub fn single_turn_command(reply: &str) -> String {
    extract_code(reply).trim().to_string()
}

/// The reference agent's last turn: answer with what the last command printed.
pub fn answer_with_last_output(messages: &[ChatMessage]) -> String {
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    let output = last.strip_prefix(OUTPUT_HEADER).unwrap_or("");
    format!("Act: answer({})", output.trim())
}

/// The reference agent's first turn: run the reference command.
pub fn run_command_reply(command: &str) -> String {
    format!("Act: bash\n```bash\n{command}\n```")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sandbox::Termination;

    fn outcome(stdout: &str, stderr: &str) -> RunOutcome {
        RunOutcome {
            termination: Termination::Exited(0),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
        }
    }

    #[test]
    fn actions_are_read_from_the_last_act_line() {
        assert_eq!(
            parse_action("Think: count.\nAct: bash\n```bash\nls | wc -l\n```"),
            Action::Bash("ls | wc -l".into())
        );
        assert_eq!(
            parse_action("Act: bash\nls -a\n"),
            Action::Bash("ls -a".into())
        );
        assert_eq!(
            parse_action("Act: bash\n```bash\nls\n```\nAct: answer(f(x) = 3)"),
            Action::Answer("f(x) = 3".into())
        );
        assert_eq!(parse_action("Act: finish"), Action::Finish);
        assert_eq!(parse_action("I think 3"), Action::Invalid);
        assert_eq!(parse_action("Act: answer(3"), Action::Invalid);
        assert_eq!(parse_action("Act: bash\n```bash\n```"), Action::Invalid);
    }

    #[test]
    fn observations_are_cut_and_read_back_by_the_reference_agent() {
        assert_eq!(observation(&outcome("", "")), EMPTY_OUTPUT);
        let obs = observation(&outcome("42\n", ""));
        let messages = vec![ChatMessage::user("q"), ChatMessage::user(obs)];
        assert_eq!(answer_with_last_output(&messages), "Act: answer(42)");
        let long = observation(&outcome(&"x".repeat(5000), "err"));
        assert!(long.ends_with(TRUNCATED));
        assert_eq!(
            long.len(),
            OUTPUT_HEADER.len() + OBSERVATION_CHARS + TRUNCATED.len()
        );
    }
}
