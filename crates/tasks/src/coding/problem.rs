//! A coding problem: a Python function to write, the hidden tests that grade it, and how a
//! model's reply becomes the program that runs them.

use serde::{Deserialize, Serialize};

use super::extract::{defines_function, extract_code};

/// One coding problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodingProblem {
    /// Identifier (`HumanEval/0`, `mbpp/11`, `gen-coding/...`).
    pub id: String,
    /// The user message of an instruct prompt.
    pub question: String,
    /// Python code the solution continues (HumanEval's imports, signature and docstring);
    /// empty when the problem is described in words only.
    pub code_prompt: String,
    /// The function the tests call.
    pub entry_point: String,
    /// Python run before the solution (imports the tests need).
    pub setup: String,
    /// Python run after the solution; the solution passes when it exits with status 0.
    pub tests: String,
    /// A correct solution as a model would reply to the instruct prompt, if known.
    pub reference: Option<String>,
}

/// How the model is prompted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptStyle {
    /// A chat conversation with [`CodingProblem::question`]; the reply holds the code,
    /// fenced or not.
    Instruct,
    /// The raw [`CodingProblem::code_prompt`], continued with the function's body (base
    /// models); only for problems that have a code prompt.
    Completion,
}

impl CodingProblem {
    /// The complete program that grades `output`, a reply in `style`.
    pub fn program(&self, output: &str, style: PromptStyle) -> String {
        let solution = match style {
            PromptStyle::Completion => format!("{}{}", self.code_prompt, output),
            PromptStyle::Instruct => {
                let code = extract_code(output);
                if self.code_prompt.is_empty() {
                    code
                } else if defines_function(&code, &self.entry_point) {
                    // The prompt stays in front for its imports and helper functions; the
                    // model's definition comes later and replaces the docstring-only stub.
                    format!("{}\n\n{}", self.code_prompt, code)
                } else {
                    // A bare body continues the prompt's signature.
                    format!("{}{}", self.code_prompt, code)
                }
            }
        };
        format!("{}\n{}\n\n{}\n", self.setup, solution, self.tests)
    }

    /// The reference reply for `style`, if one is known.
    pub fn reference_reply(&self, style: PromptStyle) -> Option<String> {
        let reference = self.reference.as_ref()?;
        match style {
            PromptStyle::Instruct => Some(reference.clone()),
            PromptStyle::Completion => reference
                .strip_prefix(&self.code_prompt)
                .map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn humaneval_like() -> CodingProblem {
        CodingProblem {
            id: "t/0".into(),
            question: "Complete add".into(),
            code_prompt: "import math\n\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n".into(),
            entry_point: "add".into(),
            setup: String::new(),
            tests: "assert add(1, 2) == 3".into(),
            reference: Some(
                "import math\n\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n".into(),
            ),
        }
    }

    #[test]
    fn completion_style_appends_the_body_to_the_prompt() {
        let p = humaneval_like();
        let program = p.program("    return a + b\n", PromptStyle::Completion);
        assert!(
            program.contains("\"\"\"Sum.\"\"\"\n    return a + b\n"),
            "{program}"
        );
        assert!(program.ends_with("assert add(1, 2) == 3\n"));
        assert_eq!(
            p.reference_reply(PromptStyle::Completion).unwrap(),
            "    return a + b\n"
        );
    }

    #[test]
    fn instruct_style_keeps_the_prompt_before_a_full_definition() {
        let p = humaneval_like();
        let reply = "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\n";
        let program = p.program(reply, PromptStyle::Instruct);
        let stub = program.find("\"\"\"Sum.\"\"\"").unwrap();
        let body = program.find("    return a + b").unwrap();
        assert!(stub < body, "{program}");
        assert!(!program.contains("Sure"), "{program}");
    }

    #[test]
    fn described_problems_run_the_code_alone() {
        let p = CodingProblem {
            code_prompt: String::new(),
            setup: "import re".into(),
            ..humaneval_like()
        };
        assert_eq!(
            p.program("def add(a, b):\n    return a + b", PromptStyle::Instruct),
            "import re\ndef add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n"
        );
    }
}
