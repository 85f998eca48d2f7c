//! Pulling the Python code out of a model's reply: fenced code blocks when there are any,
//! else the reply itself.

/// One fenced block: its language tag and its text.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(tag) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((tag.trim().to_ascii_lowercase(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    // A reply cut off by the token limit leaves its last block open.
    blocks.extend(current);
    blocks
}

/// The code in a reply: the first Python (or untagged) fenced block that defines a
/// function, else the first such block, else the first block of any language, else the
/// whole reply.
pub fn extract_code(reply: &str) -> String {
    let blocks = fenced_blocks(reply);
    let pythonic = |tag: &str| matches!(tag, "" | "python" | "py" | "python3");
    blocks
        .iter()
        .find(|(tag, body)| pythonic(tag) && body.contains("def "))
        .or_else(|| blocks.iter().find(|(tag, _)| pythonic(tag)))
        .or_else(|| blocks.first())
        .map_or_else(|| reply.to_string(), |(_, body)| body.clone())
}

/// Whether `code` defines the top-level function `name`.
pub fn defines_function(code: &str, name: &str) -> bool {
    let def = format!("def {name}(");
    let async_def = format!("async def {name}(");
    code.lines()
        .any(|line| line.starts_with(&def) || line.starts_with(&async_def))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_python_block_that_defines_a_function_wins() {
        let reply = "Run:\n```bash\npython x.py\n```\nCode:\n```python\nimport os\n```\n```python\ndef f(x):\n    return x\n```\n";
        assert_eq!(extract_code(reply), "def f(x):\n    return x\n");
    }

    #[test]
    fn an_unclosed_block_runs_to_the_end() {
        assert_eq!(
            extract_code("```py\ndef f():\n    return 1\n"),
            "def f():\n    return 1\n"
        );
    }

    #[test]
    fn a_reply_without_fences_is_the_code() {
        assert_eq!(
            extract_code("def f(x):\n    return x"),
            "def f(x):\n    return x"
        );
        assert_eq!(extract_code(""), "");
    }

    #[test]
    fn only_top_level_definitions_count() {
        assert!(defines_function("import a\ndef add(x):\n  pass", "add"));
        assert!(defines_function("async def add(x): pass", "add"));
        assert!(!defines_function(
            "class A:\n    def add(self): pass",
            "add"
        ));
        assert!(!defines_function("def adder(x): pass", "add"));
    }

    proptest! {
        #[test]
        fn fenced_code_comes_back_verbatim(
            body in "[a-z =+()\n]{0,60}",
            prose in "[A-Za-z .]{0,30}",
        ) {
            let body: String = body
                .lines()
                .filter(|l| !l.trim_start().starts_with("```"))
                .map(|l| format!("{l}\n"))
                .collect();
            let reply = format!("{prose}\n```python\ndef f():\n{body}```\n{prose}");
            prop_assert_eq!(extract_code(&reply), format!("def f():\n{body}"));
        }
    }
}
