//! The results of a finished run (test-split scores of the base, the experts and the final
//! models) and their rendering as a Markdown table.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{EvolveError, Result};

/// The file in a run directory holding [`RunResults`].
pub const RESULTS_FILE: &str = "results.json";
/// The Markdown rendering of the results.
pub const REPORT_FILE: &str = "report.md";

/// Test-split scores of every model a run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Task names in configured order.
    pub tasks: Vec<String>,
    /// Held-out skills' names (`[[held_out]]`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_out_tasks: Vec<String>,
    /// Generations run (evaluations, for the merge-weight searches).
    pub generations: u64,
    /// One row per model.
    pub rows: Vec<ResultRow>,
}

/// One model's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// The model (`base`, `expert coding`, `cycleqd aggregate`, ...).
    pub name: String,
    /// Test-split scores in task order.
    pub test: Vec<f64>,
    /// Optimisation-split scores, where the run has them.
    #[serde(default)]
    pub optimize: Option<Vec<f64>>,
    /// Scores on the held-out skills, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_out: Vec<f64>,
}

impl ResultRow {
    /// The mean test score.
    pub fn mean(&self) -> f64 {
        self.test.iter().sum::<f64>() / self.test.len().max(1) as f64
    }
}

impl RunResults {
    /// Reads the results of the run in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(RESULTS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EvolveError::RunDir {
                path: dir.to_path_buf(),
                problem: format!(
                    "no {RESULTS_FILE}: the run has not finished (resume it with `cycleqd evolve --resume {}`)",
                    dir.display()
                ),
            },
            _ => EvolveError::io(&path, e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| EvolveError::RunDir {
            path: path.clone(),
            problem: format!("not a results file: {e}"),
        })
    }

    /// The table: one row per model, one column per task, the mean, then one column per
    /// held-out skill, in percent.
    pub fn markdown(&self) -> String {
        self.markdown_with(
            |t| format!("{t} (held out)"),
            |row, i| format!("{:.1}", 100.0 * row.held_out[i]),
        )
    }

    /// The table with the held-out columns' headers and cells (`cell(row, i)` for held-out
    /// skill i) written by the caller.
    pub fn markdown_with(
        &self,
        header: impl Fn(&str) -> String,
        cell: impl Fn(&ResultRow, usize) -> String,
    ) -> String {
        let mut out = String::new();
        out.push_str("| model |");
        for t in &self.tasks {
            out.push_str(&format!(" {t} |"));
        }
        out.push_str(" mean |");
        for t in &self.held_out_tasks {
            out.push_str(&format!(" {} |", header(t)));
        }
        out.push_str("\n|---|");
        for _ in 0..self.tasks.len() + 1 + self.held_out_tasks.len() {
            out.push_str("---:|");
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("| {} |", row.name));
            for s in &row.test {
                out.push_str(&format!(" {:.1} |", 100.0 * s));
            }
            out.push_str(&format!(" {:.1} |", 100.0 * row.mean()));
            for i in 0..row.held_out.len() {
                out.push_str(&format!(" {} |", cell(row, i)));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_model_and_the_mean() {
        let results = RunResults {
            tasks: vec!["coding".into(), "db".into()],
            held_out_tasks: Vec::new(),
            generations: 10,
            rows: vec![
                ResultRow {
                    name: "base".into(),
                    test: vec![0.0, 0.1],
                    optimize: None,
                    held_out: vec![0.4],
                },
                ResultRow {
                    name: "cycleqd aggregate".into(),
                    test: vec![0.5, 0.25],
                    optimize: Some(vec![0.6, 0.3]),
                    held_out: vec![0.3],
                },
            ],
        };
        let mut plain = results.clone();
        plain.rows.iter_mut().for_each(|r| r.held_out.clear());
        assert_eq!(
            plain.markdown(),
            "| model | coding | db | mean |\n|---|---:|---:|---:|\n| base | 0.0 | 10.0 | 5.0 |\n| cycleqd aggregate | 50.0 | 25.0 | 37.5 |\n"
        );
        let mut results = results;
        results.held_out_tasks = vec!["retention".into()];
        let md = results.markdown();
        assert_eq!(
            md,
            "| model | coding | db | mean | retention (held out) |\n|---|---:|---:|---:|---:|\n| base | 0.0 | 10.0 | 5.0 | 40.0 |\n| cycleqd aggregate | 50.0 | 25.0 | 37.5 | 30.0 |\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = RunResults::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("--resume"), "{err}");
    }
}
