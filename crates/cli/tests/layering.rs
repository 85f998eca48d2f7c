//! The workspace's layering, checked from the sources: crates form a ladder in which nothing
//! below `cycleqd-evolve` depends on it, the binary's low-level commands do not use it, and
//! inside `evolve` no module imports one that imports it back (docs/architecture.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The workspace crates (`cycleqd-*`) each crate's `[dependencies]` names, by crate folder.
fn crate_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let crates = workspace().join("crates");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&crates).expect("crates/") {
        let dir = entry.expect("crates/ entry").path();
        let manifest = read(&dir.join("Cargo.toml"));
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{}: no package name", dir.display()))
            .to_string();
        let mut section = "";
        let mut deps = BTreeSet::new();
        for line in manifest.lines() {
            if line.starts_with('[') {
                section = line;
            } else if section == "[dependencies]" && line.starts_with("cycleqd-") {
                let dep = line.split(['.', ' ', '=']).next().expect("a name");
                deps.insert(dep.to_string());
            }
        }
        graph.insert(name, deps);
    }
    graph
}

/// Modules named after `crate::` in `source` outside its test module: `use crate::a::X`,
/// `use crate::{a::X, b}` and paths like `crate::a::f()`.
fn crate_imports(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut modules = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        let word: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        modules.insert(word);
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            modules.insert(word);
        }
    }
    modules
}

/// A cycle in `graph`, if any, as the nodes along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn crates_form_a_ladder_with_evolve_below_only_the_binary() {
    let graph = crate_dependencies();
    assert!(graph.len() >= 10, "found only {:?}", graph.keys());
    assert_eq!(find_cycle(&graph), None);
    let users: Vec<&String> = graph
        .iter()
        .filter(|(_, deps)| deps.contains("cycleqd-evolve"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(users, ["cycleqd"], "only the binary may depend on evolve");
}

#[test]
fn low_level_commands_do_not_use_the_orchestrator() {
    let low_level = [
        "convert_cmd.rs",
        "inspect_cmd.rs",
        "basis_cmd.rs",
        "materialize_cmd.rs",
        "similarity_cmd.rs",
        "eval_cmd.rs",
        "generate_cmd.rs",
        "finetune_cmd.rs",
        "merge_cmd.rs",
        "data_cmd.rs",
    ];
    let src = workspace().join("crates/cli/src");
    for file in low_level {
        let source = read(&src.join(file));
        assert!(
            !source.contains("cycleqd_evolve"),
            "{file} uses cycleqd_evolve"
        );
    }
}

#[test]
fn evolve_modules_import_without_circles() {
    let src = workspace().join("crates/evolve/src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("evolve/src") {
        let path = entry.expect("evolve/src entry").path();
        let module = path.file_stem().expect("a file name").to_string_lossy();
        if path.extension().is_some_and(|e| e == "rs") && module != "lib" {
            let mut imports = crate_imports(&read(&path));
            imports.remove(module.as_ref());
            graph.insert(module.to_string(), imports);
        }
    }
    assert!(graph.len() >= 10, "found only {:?}", graph.keys());
    assert!(graph["cycleqd_search"].contains("run_context"));
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn imports_are_read_from_use_lines_groups_and_paths() {
    let source = "use crate::a::X;\nuse crate::{b::{Y, Z}, c};\nfn f() { crate::d::g() }\n#[cfg(test)]\nmod tests { use crate::e; }";
    let want: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    assert_eq!(crate_imports(source), want);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("x".to_string(), ["y".to_string()].into()),
        ("y".to_string(), ["x".to_string()].into()),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["x".to_string(), "y".to_string(), "x".to_string()])
    );
}
