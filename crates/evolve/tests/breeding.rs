//! Children from jobs and blends of genomes, over a tiny random base and two synthetic
//! experts: recipes where the mutation allows, lineages otherwise, deterministic per seed,
//! and blends equal to the spec's weight formulas.

use std::collections::BTreeMap;
use std::path::Path;

use cycleqd_evolve::blend::{aggregate_weights, Blend};
use cycleqd_evolve::breed::{blend_identity, breed, genome_identity};
use cycleqd_evolve::weight_genome::WeightLayout;
use cycleqd_evolve::{RunConfig, RunContext};
use cycleqd_recipe::{
    write_perturbed_expert, Ancestors, BasisOptions, BasisSet, Genome, Materializer, Perturbation,
    Recipe, WeightMutation,
};
use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape, TensorSource};

struct Fixture {
    _dir: tempfile::TempDir,
    base: HfModel,
    experts: Vec<HfModel>,
    basis: BasisSet,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    write_random_llama(&base_dir, &LlamaShape::tiny(), 1, DType::F32, 1 << 30).unwrap();
    let base = HfModel::open(&base_dir).unwrap();
    let experts: Vec<HfModel> = (0..2)
        .map(|k| {
            let out = dir.path().join(format!("expert-{k}"));
            write_perturbed_expert(
                &base,
                &base.config().raw,
                &out,
                10 + k,
                &Perturbation::default(),
                None,
            )
            .unwrap();
            HfModel::open(&out).unwrap()
        })
        .collect();
    let sources: Vec<&dyn TensorSource> = experts.iter().map(|e| e as &dyn TensorSource).collect();
    let basis = BasisSet::open_or_build(
        &dir.path().join("basis"),
        &base,
        &base.config().raw,
        &sources,
        &BasisOptions::default(),
        &|_| {},
    )
    .unwrap();
    Fixture {
        _dir: dir,
        base,
        experts,
        basis,
    }
}

fn config(mutation: &str) -> RunConfig {
    let text = format!(
        r#"
base = "b"
out = "o"
[[task]]
name = "a"
expert = "e0"
optimize = "gen-db:split=validation,count=2"
test = "gen-db:split=test,count=2"
[[task]]
name = "b"
expert = "e1"
optimize = "gen-os:split=validation,count=2"
test = "gen-os:split=test,count=2"
[mutation]
kind = "{mutation}"
"#
    );
    RunConfig::parse(&text, Path::new("/tmp/RUN.toml")).unwrap()
}

fn tensor_names(f: &Fixture) -> Vec<String> {
    f.basis
        .layout()
        .entries
        .iter()
        .map(|e| e.name.clone())
        .collect()
}

fn experts(f: &Fixture) -> [Genome; 2] {
    [0, 1].map(|k| Genome::from(Recipe::expert(&f.basis, k).unwrap()))
}

#[test]
fn svd_expert_and_no_mutation_children_of_recipes_are_recipes_fixed_by_the_seed() {
    let f = fixture();
    let [e0, e1] = experts(&f);
    for kind in ["svd_expert", "none"] {
        let config = config(kind);
        let child = |seed| breed(&config, f.basis.layout(), [(&e0, 0), (&e1, 1)], 1, seed).unwrap();
        assert!(matches!(child(5), Genome::Recipe { .. }), "{kind}");
        assert_eq!(child(5), child(5));
        assert_ne!(child(5), child(6));
        let id = |g: &Genome| genome_identity(g, |_| None).unwrap();
        assert_eq!(id(&child(5)), id(&child(5)));
        assert_ne!(id(&child(5)), id(&child(6)));
    }
}

#[test]
fn gaussian_children_are_lineages_whose_identity_needs_the_parents() {
    let f = fixture();
    let [e0, e1] = experts(&f);
    let config = config("gaussian");
    let child = breed(&config, f.basis.layout(), [(&e0, 0), (&e1, 1)], 0, 9).unwrap();
    let Genome::Lineage(lineage) = &child else {
        panic!("expected a lineage, got {child:?}")
    };
    assert_eq!(lineage.parents, [0, 1]);
    assert!(matches!(lineage.mutation, WeightMutation::Gaussian { std, .. } if std == 3e-4));
    assert_eq!(genome_identity(&child, |_| None), None);
    let a = genome_identity(&child, |id: u64| Some(format!("parent {id}"))).unwrap();
    let swapped = genome_identity(&child, |id: u64| Some(format!("parent {}", 1 - id))).unwrap();
    assert_ne!(a, swapped, "the parents' order is part of the identity");

    let ancestors: Ancestors = BTreeMap::from([(0, e0.clone()), (1, e1.clone())]);
    let materializer = Materializer::new(&f.base, &f.basis);
    let names = tensor_names(&f);
    let weights = Blend::single(child.clone(), ancestors.clone())
        .materialize(&materializer, &f.base, &names)
        .unwrap();
    let direct = materializer.materialize(&child, &ancestors).unwrap();
    assert_eq!(weights, direct);
}

#[test]
fn svd_child_children_grow_the_crossover_child_singular_values_by_up_to_rate() {
    let f = fixture();
    let [e0, e1] = experts(&f);
    let config = config("svd_child");
    let child = breed(&config, f.basis.layout(), [(&e0, 0), (&e1, 1)], 1, 4).unwrap();
    let Genome::Lineage(lineage) = &child else {
        panic!("expected a lineage, got {child:?}")
    };
    assert!(matches!(lineage.mutation, WeightMutation::SvdChild { rate, .. } if rate == 0.1));
    assert_eq!(
        child,
        breed(&config, f.basis.layout(), [(&e0, 0), (&e1, 1)], 1, 4).unwrap()
    );

    let ancestors: Ancestors = BTreeMap::from([(0, e0.clone()), (1, e1.clone())]);
    let materializer = Materializer::new(&f.base, &f.basis);
    let mut unmutated = lineage.clone();
    unmutated.mutation = WeightMutation::None;
    let plain = Genome::Lineage(unmutated);
    let mut grown_somewhere = false;
    for (index, entry) in f.basis.layout().entries.iter().enumerate() {
        let before = materializer.task_vector(&plain, &ancestors, index).unwrap();
        let after = materializer.task_vector(&child, &ancestors, index).unwrap();
        let cycleqd_recipe::TensorRole::Matrix { m, n, .. } = entry.role else {
            assert_eq!(before, after, "{}: not a matrix, left alone", entry.name);
            continue;
        };
        let s0 = singular_values(&before, m, n);
        let s1 = singular_values(&after, m, n);
        for (a, b) in s1.iter().zip(&s0) {
            if *b > 1e-4 * s0[0] {
                let growth = a / b;
                assert!((0.999..1.101).contains(&growth), "{}: {growth}", entry.name);
                grown_somewhere |= growth > 1.001;
            }
        }
    }
    assert!(grown_somewhere);
}

fn singular_values(values: &[f32], m: usize, n: usize) -> Vec<f32> {
    cycleqd_recipe::ThinSvd::compute("t", values, m, n)
        .unwrap()
        .s
}

#[test]
fn the_aggregate_is_the_base_plus_the_weighted_task_vectors() {
    let f = fixture();
    let [e0, e1] = experts(&f);
    let beta = aggregate_weights(&[0.9, 0.3], 1.0);
    let blend = Blend {
        members: vec![(beta[0], e0), (beta[1], e1)],
        ancestors: Ancestors::new(),
    };
    let materializer = Materializer::new(&f.base, &f.basis);
    let names = tensor_names(&f);
    let weights = blend.materialize(&materializer, &f.base, &names).unwrap();
    for name in &names {
        let b = f.base.read_f32(name).unwrap();
        let t0 = f.experts[0].read_f32(name).unwrap();
        let t1 = f.experts[1].read_f32(name).unwrap();
        for (i, got) in weights[name].data.iter().enumerate() {
            let want = b[i] + beta[0] as f32 * (t0[i] - b[i]) + beta[1] as f32 * (t1[i] - b[i]);
            assert!((got - want).abs() < 1e-4, "{name}[{i}]: {got} vs {want}");
        }
    }
    let id = blend_identity(&[(beta[0], "x".into()), (beta[1], "y".into())]);
    assert_ne!(
        id,
        blend_identity(&[(beta[1], "x".into()), (beta[0], "y".into())])
    );
}

#[test]
fn merge_weight_genomes_are_task_arithmetic_per_layer_group() {
    let f = fixture();
    let materializer = Materializer::new(&f.base, &f.basis);
    let names = tensor_names(&f);
    let layout = WeightLayout::new(&f.basis, 2).unwrap();
    assert_eq!(layout.dimension(), 4);
    assert_eq!(layout.expert(1), vec![0.0, 0.0, 1.0, 1.0]);
    // x[k * groups + g]: expert 0 at 0.3 on layer 0 (and the embeddings), 0.9 on layer 1
    // (and the final norm and head); expert 1 at -0.5 and 0.2.
    let x = [0.3, 0.9, -0.5, 0.2];
    let genome = layout.genome(&f.basis, &x).unwrap();
    assert!(matches!(genome, Genome::Recipe { .. }));
    let weights = Blend::single(genome, Ancestors::new())
        .materialize(&materializer, &f.base, &names)
        .unwrap();
    for name in &names {
        let late =
            name.contains("layers.1.") || !(name.contains("layers.0.") || name.contains("embed"));
        let (w0, w1) = if late { (x[1], x[3]) } else { (x[0], x[2]) };
        let b = f.base.read_f32(name).unwrap();
        let t0 = f.experts[0].read_f32(name).unwrap();
        let t1 = f.experts[1].read_f32(name).unwrap();
        for (i, got) in weights[name].data.iter().enumerate() {
            let want = b[i] + w0 as f32 * (t0[i] - b[i]) + w1 as f32 * (t1[i] - b[i]);
            assert!((got - want).abs() < 1e-4, "{name}[{i}]: {got} vs {want}");
        }
    }
    assert_eq!(
        layout.genome(&f.basis, &layout.expert(0)).unwrap(),
        experts(&f)[0]
    );
    assert!(layout.genome(&f.basis, &[0.1, 0.2]).is_err());
    assert!(layout.genome(&f.basis, &[0.1, f64::NAN, 0.0, 0.0]).is_err());
    let err = WeightLayout::new(&f.basis, 3).unwrap_err().to_string();
    assert!(
        err.contains("layer_groups = 3") && err.contains("2 layers"),
        "{err}"
    );
}

#[test]
fn a_missing_expert_is_named() {
    let f = fixture();
    let mut config = config("svd_expert");
    config.base = f.base.dir().to_path_buf();
    config.tasks[0].expert = f.experts[0].dir().to_path_buf();
    config.tasks[1].expert = f.base.dir().join("no-such-expert");
    let err = RunContext::open(config, &mut |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no-such-expert"), "{err}");
}
