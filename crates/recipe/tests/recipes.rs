//! Recipes against weights: experts rebuild exactly, and crossover and mutation done on
//! coefficients then materialized equal the same operations done on weights as the spec
//! writes them.

mod fixture;

use std::collections::BTreeMap;

use cycleqd_recipe::{
    mutate_svd_expert, Ancestors, CrossoverWeights, Genome, Lineage, Materializer, Recipe,
    TensorRole, WeightMutation,
};
use cycleqd_weights::{HfModel, TensorSource};
use fixture::{rel_err, Fixture};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn expert_recipes_rebuild_the_experts() {
    let f = Fixture::new(1, 3);
    let basis = f.basis(None);
    let materializer = Materializer::new(&f.base, &basis);
    for k in 0..3 {
        let genome = Genome::from(Recipe::expert(&basis, k).unwrap());
        let tau = f.task_vector(k);
        let weights = materializer
            .materialize(&genome, &Ancestors::new())
            .unwrap();
        for (i, entry) in basis.layout().entries.iter().enumerate() {
            let rebuilt = materializer
                .task_vector(&genome, &Ancestors::new(), i)
                .unwrap();
            let err = rel_err(&rebuilt, &tau[&entry.name]);
            assert!(
                err < 1e-5,
                "expert {k}, {}: task vector rel. error {err:.2e}",
                entry.name
            );
            let expert = f.experts[k].read_f32(&entry.name).unwrap();
            let err = rel_err(&weights[&entry.name].data, &expert);
            assert!(
                err < 1e-6,
                "expert {k}, {}: weights rel. error {err:.2e}",
                entry.name
            );
        }
    }
}

#[test]
fn written_folder_holds_the_materialized_weights() {
    let f = Fixture::new(2, 2);
    let basis = f.basis(None);
    let materializer = Materializer::new(&f.base, &basis);
    let mut recipe = Recipe::crossover(
        &Recipe::expert(&basis, 0).unwrap(),
        &Recipe::expert(&basis, 1).unwrap(),
        CrossoverWeights { w1: 1.02, w2: 0.97 },
    )
    .unwrap();
    recipe
        .mutate_svd_expert(basis.layout(), 1, 77, 0.1)
        .unwrap();
    let genome = Genome::from(recipe);
    let in_memory = materializer
        .materialize(&genome, &Ancestors::new())
        .unwrap();
    let out = f.dir.path().join("child");
    let written = materializer
        .write(
            &genome,
            &Ancestors::new(),
            &out,
            &f.base.config().raw,
            &[],
            None,
            4096,
            &|_| {},
        )
        .unwrap();
    let child = HfModel::open(&written).unwrap();
    assert_eq!(child.metas().len(), f.base.metas().len());
    for (name, tensor) in &in_memory {
        assert_eq!(child.read_f32(name).unwrap(), tensor.data, "{name}");
    }
}

/// The spec's crossover on task vectors, written out.
fn crossover_weights(
    a: &BTreeMap<String, Vec<f32>>,
    b: &BTreeMap<String, Vec<f32>>,
    w: CrossoverWeights,
) -> BTreeMap<String, Vec<f32>> {
    a.iter()
        .map(|(name, x)| {
            let y = &b[name];
            let mixed = x
                .iter()
                .zip(y)
                .map(|(x, y)| (w.w1 * x + w.w2 * y) / (w.w1 + w.w2))
                .collect();
            (name.clone(), mixed)
        })
        .collect()
}

/// Runs `steps` random generations on recipes and on weights side by side and compares every
/// individual's materialized task vector with its weights-path twin.
fn recipes_match_weights(seed: u64, rank_limit: Option<usize>, steps: usize) {
    let f = Fixture::new(seed, 3);
    let basis = f.basis(rank_limit);
    let layout = basis.layout();
    let materializer = Materializer::new(&f.base, &basis);
    let mut population: Vec<(Recipe, BTreeMap<String, Vec<f32>>)> = (0..3)
        .map(|k| (Recipe::expert(&basis, k).unwrap(), f.task_vector(k)))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..steps {
        let (i, j) = (
            rng.random_range(0..population.len()),
            rng.random_range(0..population.len()),
        );
        let w = CrossoverWeights::draw(&mut rng, 0.0, 0.01).unwrap();
        let mut recipe = Recipe::crossover(&population[i].0, &population[j].0, w).unwrap();
        let mut weights = crossover_weights(&population[i].1, &population[j].1, w);
        if rng.random_bool(0.7) {
            let (q, mseed) = (rng.random_range(0..3), rng.random::<u64>());
            recipe.mutate_svd_expert(layout, q, mseed, 0.1).unwrap();
            for entry in &layout.entries {
                if let TensorRole::Matrix { .. } = entry.role {
                    let expert_q = basis.experts()[q].matrix(entry).unwrap();
                    let tau = weights.get_mut(&entry.name).unwrap();
                    mutate_svd_expert(&entry.name, tau, &expert_q, mseed, 0.1).unwrap();
                }
            }
        }
        population.push((recipe, weights));
    }
    for (n, (recipe, weights)) in population.iter().enumerate() {
        for (i, entry) in layout.entries.iter().enumerate() {
            let rebuilt = materializer.recipe_task_vector(recipe, i).unwrap();
            let err = rel_err(&rebuilt, &weights[&entry.name]);
            assert!(
                err < 1e-5,
                "individual {n}, {}: rel. error {err:.2e}",
                entry.name
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn crossover_and_mutation_commute_with_materialization(seed in 0u64..1_000_000, rank in prop_oneof![Just(None), (1usize..20).prop_map(Some)]) {
        recipes_match_weights(seed, rank, 5);
    }
}

#[test]
fn lineage_children_are_rebuilt_from_their_ancestors() {
    let f = Fixture::new(4, 2);
    let basis = f.basis(None);
    let materializer = Materializer::new(&f.base, &basis);
    let w = CrossoverWeights { w1: 0.99, w2: 1.01 };
    let experts: Ancestors = (0..2)
        .map(|k| (k as u64, Genome::from(Recipe::expert(&basis, k).unwrap())))
        .collect();
    let lineage = |mutation| {
        Genome::Lineage(Lineage {
            parents: [0, 1],
            weights: w,
            mutation,
        })
    };

    // svd_expert as lineage equals svd_expert as recipe.
    let mut recipe = Recipe::crossover(
        &Recipe::expert(&basis, 0).unwrap(),
        &Recipe::expert(&basis, 1).unwrap(),
        w,
    )
    .unwrap();
    recipe.mutate_svd_expert(basis.layout(), 1, 5, 0.1).unwrap();
    let as_recipe = Genome::from(recipe);
    let as_lineage = lineage(WeightMutation::SvdExpert {
        expert: 1,
        seed: 5,
        rate: 0.1,
    });
    // Gaussian: crossover then N(0, std) noise on every tensor; a grandchild reuses a parent twice.
    let gaussian = lineage(WeightMutation::Gaussian { seed: 9, std: 3e-4 });
    let mut family = experts.clone();
    family.insert(2, gaussian.clone());
    let grandchild = Genome::Lineage(Lineage {
        parents: [2, 2],
        weights: w,
        mutation: WeightMutation::None,
    });
    let tau0 = f.task_vector(0);
    let tau1 = f.task_vector(1);
    for (i, entry) in basis.layout().entries.iter().enumerate() {
        let a = materializer.task_vector(&as_recipe, &experts, i).unwrap();
        let b = materializer.task_vector(&as_lineage, &experts, i).unwrap();
        assert!(rel_err(&b, &a) < 1e-5, "{}", entry.name);

        let g = materializer.task_vector(&gaussian, &experts, i).unwrap();
        let crossed: Vec<f32> = tau0[&entry.name]
            .iter()
            .zip(&tau1[&entry.name])
            .map(|(x, y)| w.mix(*x, *y))
            .collect();
        let noise: Vec<f32> = g.iter().zip(&crossed).map(|(g, c)| g - c).collect();
        let std =
            (noise.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / noise.len() as f64).sqrt();
        assert!(
            (std - 3e-4).abs() < 1.5e-4,
            "{}: noise std {std}",
            entry.name
        );
        let again = materializer.task_vector(&grandchild, &family, i).unwrap();
        assert!(rel_err(&again, &g) < 1e-6, "{}", entry.name);
    }
    assert!(materializer
        .task_vector(&gaussian, &Ancestors::new(), 0)
        .is_err());
    let bad = lineage(WeightMutation::SvdExpert {
        expert: 7,
        seed: 1,
        rate: 0.1,
    });
    let err = materializer.task_vector(&bad, &experts, 0).unwrap_err();
    assert!(err.to_string().contains("expert 7"), "{err}");
}

#[test]
fn svd_child_lineage_grows_the_childs_own_spectrum() {
    let f = Fixture::new(5, 2);
    let basis = f.basis(None);
    let materializer = Materializer::new(&f.base, &basis);
    let w = CrossoverWeights { w1: 1.0, w2: 1.0 };
    let experts: Ancestors = (0..2)
        .map(|k| (k as u64, Genome::from(Recipe::expert(&basis, k).unwrap())))
        .collect();
    let child = Genome::Lineage(Lineage {
        parents: [0, 1],
        weights: w,
        mutation: WeightMutation::SvdChild { seed: 3, rate: 0.1 },
    });
    let plain = Genome::Lineage(Lineage {
        parents: [0, 1],
        weights: w,
        mutation: WeightMutation::None,
    });
    for (i, entry) in basis.layout().entries.iter().enumerate() {
        let mutated = materializer.task_vector(&child, &experts, i).unwrap();
        let crossed = materializer.task_vector(&plain, &experts, i).unwrap();
        match entry.role {
            TensorRole::Matrix { m, n, .. } => {
                let before = cycleqd_recipe::ThinSvd::compute("a", &crossed, m, n).unwrap();
                let after = cycleqd_recipe::ThinSvd::compute("b", &mutated, m, n).unwrap();
                let ratio = before
                    .s
                    .iter()
                    .zip(&after.s)
                    .map(|(b, a)| (a / b) as f64)
                    .sum::<f64>()
                    / before.s.len() as f64;
                assert!(
                    (1.0..1.1).contains(&ratio),
                    "{}: mean growth {ratio}",
                    entry.name
                );
            }
            TensorRole::Scalar => assert_eq!(mutated, crossed, "{}", entry.name),
        }
    }
}

#[test]
fn recipes_refuse_other_bases() {
    let f = Fixture::new(6, 2);
    let full = f.basis(None);
    let cut = f.basis(Some(4));
    let recipe = Recipe::expert(&full, 0).unwrap();
    let materializer = Materializer::new(&f.base, &cut);
    let err = materializer
        .task_vector(&Genome::from(recipe.clone()), &Ancestors::new(), 0)
        .unwrap_err();
    assert!(err.to_string().contains("basis set"), "{err}");
    let other = Recipe::expert(&cut, 0).unwrap();
    assert!(Recipe::crossover(&recipe, &other, CrossoverWeights { w1: 1.0, w2: 1.0 }).is_err());
    assert!(Recipe::expert(&full, 2).is_err());
}

#[test]
fn recipe_sizes_stay_small() {
    let f = Fixture::new(7, 2);
    let basis = f.basis(None);
    let expert = Recipe::expert(&basis, 0).unwrap();
    let per_expert = basis.layout().coefficients_per_expert();
    // Uniform coefficients cost 9 bytes per matrix and expert whatever the rank, 5 per vector.
    let matrices = basis
        .layout()
        .entries
        .iter()
        .filter(|e| matches!(e.role, TensorRole::Matrix { .. }))
        .count();
    let vectors = basis.layout().entries.len() - matrices;
    assert_eq!(expert.encoded_len(), 48 + 2 * (matrices * 9 + vectors * 5));
    let mut child = expert.clone();
    child.mutate_svd_expert(basis.layout(), 0, 1, 0.1).unwrap();
    // A mutated expert's vectors are dense: at most 4 bytes per coefficient plus headers.
    assert!(child.encoded_len() < 48 + 2 * (per_expert * 4 + basis.layout().entries.len() * 9));
    assert_eq!(Recipe::from_bytes(&child.to_bytes()).unwrap(), child);
}
