//! The generators' small vocabulary. No word contains another, so "lines containing the
//! word W" means the same to `grep` as to the generator.

/// Words for file contents, file names and row names.
pub(crate) const WORDS: [&str; 24] = [
    "apple", "bread", "cloud", "drum", "eagle", "flute", "grape", "honey", "igloo", "jelly",
    "kite", "lemon", "mango", "night", "olive", "piano", "quilt", "robin", "sugar", "tiger",
    "umbra", "violin", "whale", "yacht",
];

/// Folder names at the top of a generated tree.
pub(crate) const ROOTS: [&str; 8] = [
    "data", "logs", "docs", "notes", "files", "work", "src", "backup",
];

/// Folder names below the top.
pub(crate) const SUBDIRS: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "old", "new", "misc", "extra",
];

/// File extensions.
pub(crate) const EXTENSIONS: [&str; 6] = ["txt", "log", "csv", "md", "py", "json"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_word_contains_another() {
        for a in WORDS {
            for b in WORDS {
                assert!(a == b || !a.contains(b), "{a} contains {b}");
            }
        }
    }
}
