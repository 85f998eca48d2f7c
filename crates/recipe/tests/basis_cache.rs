//! The basis cache: keyed by content, reused, rebuilt when inputs change, and truncation.

mod fixture;

use std::sync::Mutex;

use cycleqd_recipe::{
    entry_key, Ancestors, BasisEvent, BasisOptions, BasisSet, ContentHash, Genome, Materializer,
    Recipe,
};
use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape, TensorSource};
use fixture::{rel_err, Fixture};

/// Opens (building what is missing) and returns which experts were built and which reused.
fn open_logged(f: &Fixture, experts: &[&dyn TensorSource]) -> (Vec<usize>, Vec<usize>) {
    let built = Mutex::new(Vec::new());
    let cached = Mutex::new(Vec::new());
    BasisSet::open_or_build(
        &f.cache(),
        &f.base,
        &f.base.config().raw,
        experts,
        &BasisOptions::default(),
        &|e| match e {
            BasisEvent::Built { expert, .. } => built.lock().unwrap().push(expert),
            BasisEvent::Cached { expert, .. } => cached.lock().unwrap().push(expert),
            _ => {}
        },
    )
    .unwrap();
    (built.into_inner().unwrap(), cached.into_inner().unwrap())
}

#[test]
fn entries_are_built_once_and_reused() {
    let f = Fixture::new(11, 2);
    assert_eq!(open_logged(&f, &f.experts()), (vec![0, 1], vec![]));
    assert_eq!(open_logged(&f, &f.experts()), (vec![], vec![0, 1]));
    // Reversed order: the same entries, found by content.
    let reversed: Vec<&dyn TensorSource> = f.experts().into_iter().rev().collect();
    assert_eq!(open_logged(&f, &reversed), (vec![], vec![0, 1]));
}

#[test]
fn a_changed_expert_gets_a_new_entry() {
    let f = Fixture::new(12, 2);
    open_logged(&f, &f.experts());
    let other_dir = write_random_llama(
        &f.dir.path().join("other"),
        &LlamaShape::tiny(),
        99,
        DType::F32,
        1 << 30,
    )
    .unwrap();
    let other = HfModel::open(&other_dir).unwrap();
    let experts: Vec<&dyn TensorSource> = vec![&f.experts[0], &other];
    assert_eq!(open_logged(&f, &experts), (vec![1], vec![0]));
}

#[test]
fn a_broken_entry_is_rebuilt_and_reported_when_not_building() {
    let f = Fixture::new(13, 1);
    let basis = f.basis(None);
    let dir = basis.experts()[0].dir().to_path_buf();
    let key = entry_key(&basis.base_hash(), &basis.expert_hashes()[0], None);
    assert_eq!(dir.file_name().unwrap().to_str().unwrap(), key);
    drop(basis);
    std::fs::write(dir.join("basis.json"), "{ not json").unwrap();
    let err = BasisSet::open(
        &f.cache(),
        &f.base,
        &f.experts(),
        &BasisOptions::default(),
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("basis.json"), "{err}");
    assert_eq!(open_logged(&f, &f.experts()), (vec![0], vec![]));
    BasisSet::open(
        &f.cache(),
        &f.base,
        &f.experts(),
        &BasisOptions::default(),
        &|_| {},
    )
    .unwrap();
}

#[test]
fn a_missing_entry_names_the_command_that_builds_it() {
    let f = Fixture::new(14, 1);
    let err = BasisSet::open(
        &f.cache(),
        &f.base,
        &f.experts(),
        &BasisOptions::default(),
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("cycleqd basis"), "{err}");
}

#[test]
fn incompatible_experts_are_refused_naming_the_tensor() {
    let f = Fixture::new(15, 1);
    let mut shape = LlamaShape::tiny();
    shape.intermediate_size = 40;
    let odd = HfModel::open(
        &write_random_llama(&f.dir.path().join("odd"), &shape, 1, DType::F32, 1 << 30).unwrap(),
    )
    .unwrap();
    let err = BasisSet::open_or_build(
        &f.cache(),
        &f.base,
        &f.base.config().raw,
        &[&odd],
        &BasisOptions::default(),
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("mlp"), "{err}");
    let options = BasisOptions {
        rank_limit: Some(0),
        ..BasisOptions::default()
    };
    assert!(BasisSet::open_or_build(
        &f.cache(),
        &f.base,
        &f.base.config().raw,
        &f.experts(),
        &options,
        &|_| {}
    )
    .is_err());
}

#[test]
fn truncation_error_falls_with_rank_and_experts_still_rebuild_exactly() {
    let f = Fixture::new(16, 1);
    let tau = f.task_vector(0);
    let mut previous: Option<Vec<f64>> = None;
    for rank in [1, 2, 4, 8, 16, 32] {
        let basis = f.basis(Some(rank));
        let manifest = basis.experts()[0].manifest();
        assert_eq!(manifest.rank_limit, Some(rank));
        let errors: Vec<f64> = manifest
            .matrices
            .iter()
            .map(|m| m.truncation_error)
            .collect();
        for m in &manifest.matrices {
            assert!(
                m.rebuild_error < 1e-5,
                "rank {rank}, {}: {:.2e}",
                m.name,
                m.rebuild_error
            );
            let full = m.shape[0].min(m.shape[1]);
            if rank >= full {
                assert_eq!(m.truncation_error, 0.0, "{}", m.name);
            }
        }
        if let Some(previous) = &previous {
            assert!(
                errors.iter().zip(previous).all(|(e, p)| e <= p),
                "rank {rank}: {errors:?} vs {previous:?}"
            );
            assert!(
                errors.iter().zip(previous).any(|(e, p)| e < p),
                "rank {rank}"
            );
        }
        previous = Some(errors);
        let materializer = Materializer::new(&f.base, &basis);
        let genome = Genome::from(Recipe::expert(&basis, 0).unwrap());
        for (i, entry) in basis.layout().entries.iter().enumerate() {
            let rebuilt = materializer
                .task_vector(&genome, &Ancestors::new(), i)
                .unwrap();
            let err = rel_err(&rebuilt, &tau[&entry.name]);
            assert!(err < 1e-5, "rank {rank}, {}: {err:.2e}", entry.name);
        }
    }
    let full = f.basis(None);
    assert!(full.experts()[0]
        .manifest()
        .matrices
        .iter()
        .all(|m| m.truncation_error == 0.0));
}

#[test]
fn content_hashes_identify_models() {
    let f = Fixture::new(17, 2);
    let a = ContentHash::of_model(&f.experts[0]).unwrap();
    let b = ContentHash::of_model(&f.experts[1]).unwrap();
    assert_ne!(a, b);
    assert_eq!(a, ContentHash::of_model(&f.experts[0]).unwrap());
}
