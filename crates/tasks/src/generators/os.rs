//! Generated OS problems: a random tree of folders and files made by a setup script, and a
//! question about one path, extension, word or size in it. The expected answer is computed
//! here from the tree; the reference is a shell command that prints it.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::words::{EXTENSIONS, ROOTS, SUBDIRS, WORDS};
use super::{draw_distinct, pick, pick_some, Difficulty, GenConfig};
use crate::error::TaskError;
use crate::os::{OsEvaluation, OsProblem};

#[derive(Debug, Clone)]
struct File {
    dir: String,
    name: String,
    lines: Vec<String>,
    numeric: bool,
}

impl File {
    fn path(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }

    fn ext(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or("")
    }

    fn bytes(&self) -> usize {
        self.lines.iter().map(|l| l.len() + 1).sum()
    }
}

#[derive(Debug, Clone)]
struct Tree {
    dirs: Vec<String>,
    files: Vec<File>,
}

impl Tree {
    fn setup_script(&self) -> String {
        let mut script = String::from("set -e\n");
        let dirs: Vec<String> = self.dirs.iter().map(|d| format!("'{d}'")).collect();
        script.push_str(&format!("mkdir -p {}\n", dirs.join(" ")));
        for f in &self.files {
            let lines: Vec<String> = f.lines.iter().map(|l| format!("'{l}'")).collect();
            script.push_str(&format!(
                "printf '%s\\n' {} > '{}'\n",
                lines.join(" "),
                f.path()
            ));
        }
        script
    }

    /// Files anywhere under `dir`.
    fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a File> + 'a {
        self.files
            .iter()
            .filter(move |f| f.dir == dir || f.dir.starts_with(&format!("{dir}/")))
    }
}

fn draw_tree(rng: &mut ChaCha8Rng, difficulty: Difficulty) -> Tree {
    let (subdirs, files, max_lines) = match difficulty {
        Difficulty::Easy => (rng.random_range(0..=1), rng.random_range(2..=4), 6),
        Difficulty::Medium => (rng.random_range(1..=3), rng.random_range(4..=8), 10),
        _ => (rng.random_range(2..=4), rng.random_range(6..=12), 15),
    };
    let root = pick(rng, &ROOTS).to_string();
    let mut dirs = vec![root.clone()];
    for _ in 0..subdirs {
        // Nest under any existing folder, so deeper trees appear as they grow.
        let parent = pick(rng, &dirs).clone();
        let dir = format!("{parent}/{}", pick(rng, &SUBDIRS));
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let mut used = BTreeSet::new();
    let mut all = Vec::new();
    while all.len() < files {
        let dir = pick(rng, &dirs).clone();
        let name = format!("{}.{}", pick(rng, &WORDS), pick(rng, &EXTENSIONS));
        if !used.insert(format!("{dir}/{name}")) {
            continue;
        }
        let numeric = rng.random_bool(0.5);
        let n = rng.random_range(1..=max_lines);
        let lines = (0..n)
            .map(|_| {
                if numeric {
                    rng.random_range(0..100).to_string()
                } else {
                    let k = rng.random_range(1..=3);
                    (0..k)
                        .map(|_| *pick(rng, &WORDS))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            })
            .collect();
        all.push(File {
            dir,
            name,
            lines,
            numeric,
        });
    }
    Tree { dirs, files: all }
}

/// A question, its reference command and its answer.
type Asked = (String, String, String);

fn ask(rng: &mut ChaCha8Rng, tree: &Tree, difficulty: Difficulty) -> Option<Asked> {
    let numeric: Vec<&File> = tree.files.iter().filter(|f| f.numeric).collect();
    let wordy: Vec<&File> = tree.files.iter().filter(|f| !f.numeric).collect();
    let any = pick(rng, &tree.files);
    match (difficulty, rng.random_range(0..3)) {
        (Difficulty::Easy, 0) => Some((
            format!("How many lines does the file {} have?", any.path()),
            format!("wc -l < {}", any.path()),
            any.lines.len().to_string(),
        )),
        (Difficulty::Easy, 1) => Some((
            format!("What is the first line of the file {}?", any.path()),
            format!("head -n 1 {}", any.path()),
            any.lines[0].clone(),
        )),
        (Difficulty::Easy, _) => Some((
            format!("What is the last line of the file {}?", any.path()),
            format!("tail -n 1 {}", any.path()),
            any.lines.last().cloned().unwrap_or_default(),
        )),
        (Difficulty::Medium, 0) => {
            let dir = pick(rng, &tree.dirs);
            let ext = any.ext();
            let count = tree.under(dir).filter(|f| f.ext() == ext).count();
            Some((
                format!("How many files with the extension .{ext} are in the folder {dir} and its subfolders?"),
                format!("find {dir} -type f -name '*.{ext}' | wc -l"),
                count.to_string(),
            ))
        }
        (Difficulty::Medium, 1) => {
            let file = *pick_some(rng, &wordy)?;
            let word = *pick(rng, &WORDS);
            let count = file.lines.iter().filter(|l| l.contains(word)).count();
            Some((
                format!(
                    "How many lines of the file {} contain the word {word}?",
                    file.path()
                ),
                format!("grep -c {word} {}", file.path()),
                count.to_string(),
            ))
        }
        (Difficulty::Medium, _) => {
            let file = *pick_some(rng, &numeric)?;
            let max = file
                .lines
                .iter()
                .filter_map(|l| l.parse::<i64>().ok())
                .max()?;
            Some((
                format!("What is the largest number in the file {}?", file.path()),
                format!("sort -n {} | tail -n 1", file.path()),
                max.to_string(),
            ))
        }
        (_, 0) => {
            let file = *pick_some(rng, &numeric)?;
            let sum: i64 = file
                .lines
                .iter()
                .filter_map(|l| l.parse::<i64>().ok())
                .sum();
            Some((
                format!(
                    "What is the sum of the numbers in the file {}?",
                    file.path()
                ),
                format!("awk '{{s += $1}} END {{print s}}' {}", file.path()),
                sum.to_string(),
            ))
        }
        (_, 1) => {
            let dir = pick(rng, &tree.dirs);
            let sizes: Vec<usize> = tree
                .files
                .iter()
                .filter(|f| &f.dir == dir)
                .map(File::bytes)
                .collect();
            let n = if sizes.is_empty() {
                rng.random_range(5..50)
            } else {
                sizes[rng.random_range(0..sizes.len())]
            };
            let count = sizes.iter().filter(|&&s| s > n).count();
            Some((
                format!("How many files directly in the folder {dir} are larger than {n} bytes?"),
                format!("find {dir} -maxdepth 1 -type f -size +{n}c | wc -l"),
                count.to_string(),
            ))
        }
        _ => {
            let dir = pick(rng, &tree.dirs);
            let count = tree
                .dirs
                .iter()
                .filter(|d| {
                    d.strip_prefix(&format!("{dir}/"))
                        .is_some_and(|rest| !rest.contains('/'))
                })
                .count();
            Some((
                format!("How many folders are directly inside the folder {dir}?"),
                format!("find {dir} -mindepth 1 -maxdepth 1 -type d | wc -l"),
                count.to_string(),
            ))
        }
    }
}

/// Generates OS problems, graded by exact match with the answer computed from the tree.
pub fn generate(config: &GenConfig) -> Result<Vec<OsProblem>, TaskError> {
    let drawn = draw_distinct(
        "os",
        config,
        |rng, difficulty| loop {
            let tree = draw_tree(rng, difficulty);
            if let Some((question, command, answer)) = ask(rng, &tree, difficulty) {
                break (question, command, answer, tree.setup_script());
            }
        },
        |(q, ..)| q.as_str(),
    )?;
    Ok(drawn
        .into_iter()
        .enumerate()
        .map(|(i, (question, command, answer, setup))| OsProblem {
            id: format!(
                "gen-os/{}/{}/{i}",
                config.split.name(),
                config.difficulty.name()
            ),
            question,
            setup,
            evaluation: OsEvaluation::Match(answer),
            reference_command: Some(command),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn setup_scripts_quote_every_path_and_line() {
        let tree = Tree {
            dirs: vec!["data".into(), "data/old".into()],
            files: vec![File {
                dir: "data/old".into(),
                name: "kite.log".into(),
                lines: vec!["apple drum".into(), "kite".into()],
                numeric: false,
            }],
        };
        assert_eq!(
            tree.setup_script(),
            "set -e\nmkdir -p 'data' 'data/old'\nprintf '%s\\n' 'apple drum' 'kite' > 'data/old/kite.log'\n"
        );
        assert_eq!(tree.files[0].bytes(), 16);
        assert_eq!(tree.under("data").count(), 1);
        assert_eq!(tree.under("dat").count(), 0);
    }

    #[test]
    fn every_difficulty_draws_answerable_questions() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for difficulty in [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard] {
            let mut asked = 0;
            for _ in 0..50 {
                let tree = draw_tree(&mut rng, difficulty);
                if let Some((q, cmd, _)) = ask(&mut rng, &tree, difficulty) {
                    assert!(q.ends_with('?'), "{q}");
                    assert!(!cmd.is_empty());
                    asked += 1;
                }
            }
            assert!(asked > 25, "{difficulty:?}: only {asked} of 50");
        }
    }
}
