//! `cycleqd basis` and `cycleqd materialize` end to end on a tiny model and two experts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cycleqd_recipe::{
    write_perturbed_expert, Ancestors, BasisOptions, BasisSet, CrossoverWeights, Genome,
    GenomeFile, Lineage, Materializer, Perturbation, Recipe, WeightMutation,
};
use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape, TensorSource};

fn cycleqd(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Models {
    _dir: tempfile::TempDir,
    root: PathBuf,
    base: PathBuf,
    experts: Vec<PathBuf>,
}

fn models() -> Models {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let shape = LlamaShape::tiny();
    let base = write_random_llama(&root.join("base"), &shape, 3, DType::F32, 1 << 30).unwrap();
    let opened = HfModel::open(&base).unwrap();
    let experts = (0..2)
        .map(|i| {
            write_perturbed_expert(
                &opened,
                &shape.config_json(),
                &root.join(format!("e{i}")),
                i,
                &Perturbation::default(),
                None,
            )
            .unwrap()
        })
        .collect();
    Models {
        _dir: dir,
        root,
        base,
        experts,
    }
}

fn basis_args<'a>(m: &'a Models, cache: &'a Path) -> Vec<&'a Path> {
    let mut args = vec![Path::new("basis"), m.base.as_path()];
    args.extend(m.experts.iter().map(PathBuf::as_path));
    args.extend([Path::new("--out"), cache]);
    args
}

fn materialize_args<'a>(
    m: &'a Models,
    cache: &'a Path,
    recipe: &'a Path,
    out: &'a Path,
) -> Vec<&'a Path> {
    let mut args = vec![Path::new("materialize"), m.base.as_path()];
    args.extend(m.experts.iter().map(PathBuf::as_path));
    args.extend([
        Path::new("--basis"),
        cache,
        Path::new("--recipe"),
        recipe,
        Path::new("--out"),
        out,
    ]);
    args
}

#[test]
fn basis_then_materialize_writes_the_child() {
    let m = models();
    let cache = m.root.join("cache");
    let out = cycleqd(&basis_args(&m, &cache));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("built"), "{}", text(&out));
    let again = cycleqd(&basis_args(&m, &cache));
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("cached"), "{}", text(&again));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);

    let base = HfModel::open(&m.base).unwrap();
    let experts: Vec<HfModel> = m
        .experts
        .iter()
        .map(|p| HfModel::open(p).unwrap())
        .collect();
    let sources: Vec<&dyn TensorSource> = experts.iter().map(|e| e as &dyn TensorSource).collect();
    let basis = BasisSet::open(&cache, &base, &sources, &BasisOptions::default(), &|_| {}).unwrap();
    let w = CrossoverWeights { w1: 1.01, w2: 0.98 };
    let mut recipe = Recipe::crossover(
        &Recipe::expert(&basis, 0).unwrap(),
        &Recipe::expert(&basis, 1).unwrap(),
        w,
    )
    .unwrap();
    recipe
        .mutate_svd_expert(basis.layout(), 0, 42, 0.1)
        .unwrap();
    let recipe_file = m.root.join("child.cqdr");
    std::fs::write(&recipe_file, recipe.to_bytes()).unwrap();

    let child_dir = m.root.join("child");
    let out = cycleqd(&materialize_args(&m, &cache, &recipe_file, &child_dir));
    assert!(out.status.success(), "{}", text(&out));
    let child = HfModel::open(&child_dir).unwrap();
    let expected = Materializer::new(&base, &basis)
        .materialize(&Genome::from(recipe.clone()), &Ancestors::new())
        .unwrap();
    for (name, tensor) in &expected {
        assert_eq!(child.read_f32(name).unwrap(), tensor.data, "{name}");
    }

    // A Gaussian lineage child, from a JSON genome file with its ancestors.
    let file = GenomeFile {
        genome: Genome::Lineage(Lineage {
            parents: [0, 1],
            weights: w,
            mutation: WeightMutation::Gaussian { seed: 7, std: 3e-4 },
        }),
        ancestors: [
            (0, Genome::from(recipe)),
            (1, Genome::from(Recipe::expert(&basis, 1).unwrap())),
        ]
        .into_iter()
        .collect(),
    };
    let genome_file = m.root.join("child.json");
    std::fs::write(&genome_file, serde_json::to_vec(&file).unwrap()).unwrap();
    let lineage_dir = m.root.join("lineage");
    let out = cycleqd(&materialize_args(&m, &cache, &genome_file, &lineage_dir));
    assert!(out.status.success(), "{}", text(&out));
    let expected = Materializer::new(&base, &basis)
        .materialize(&file.genome, &file.ancestors)
        .unwrap();
    let written = HfModel::open(&lineage_dir).unwrap();
    for (name, tensor) in &expected {
        assert_eq!(written.read_f32(name).unwrap(), tensor.data, "{name}");
    }
}

#[test]
fn materialize_explains_missing_bases_and_bad_recipes() {
    let m = models();
    let cache = m.root.join("empty-cache");
    let recipe_file = m.root.join("junk.cqdr");
    std::fs::write(&recipe_file, b"CQDRCP01 too short").unwrap();
    let out = cycleqd(&materialize_args(
        &m,
        &cache,
        &recipe_file,
        &m.root.join("x"),
    ));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("junk.cqdr") && text(&out).contains("truncated"),
        "{}",
        text(&out)
    );

    let json_file = m.root.join("genome.json");
    std::fs::write(
        &json_file,
        br#"{"genome": {"kind": "recipe", "recipe": "AAAA"}}"#,
    )
    .unwrap();
    let out = cycleqd(&materialize_args(&m, &cache, &json_file, &m.root.join("x")));
    assert!(!out.status.success());
    assert!(text(&out).contains("genome.json"), "{}", text(&out));

    let base = HfModel::open(&m.base).unwrap();
    let options = BasisOptions::default();
    let sources: Vec<HfModel> = m
        .experts
        .iter()
        .map(|p| HfModel::open(p).unwrap())
        .collect();
    let refs: Vec<&dyn TensorSource> = sources.iter().map(|e| e as &dyn TensorSource).collect();
    let other_cache = m.root.join("other-cache");
    let basis = BasisSet::open_or_build(
        &other_cache,
        &base,
        &base.config().raw,
        &refs,
        &options,
        &|_| {},
    )
    .unwrap();
    let good = m.root.join("good.cqdr");
    std::fs::write(&good, Recipe::expert(&basis, 0).unwrap().to_bytes()).unwrap();
    let out = cycleqd(&materialize_args(&m, &cache, &good, &m.root.join("x")));
    assert!(!out.status.success());
    assert!(text(&out).contains("cycleqd basis"), "{}", text(&out));
}
