//! Builds the demo models at a tiny scale: the folders load as Hugging Face models, a second
//! build reuses them, a changed recipe rebuilds them, and fine-tuning moves each expert toward
//! its own skill's held-out answers.

use cycleqd_demo::{
    build_models_with, reference_conversations, DemoModels, DemoRecipe, DemoScale, Skill,
};
use cycleqd_infer::{DType, Device, Engine, Message};
use cycleqd_tasks::generators::Split;
use cycleqd_tasks::Role;

fn tiny_recipe() -> DemoRecipe {
    let mut recipe = DemoRecipe::for_scale(DemoScale::Quick);
    recipe.shape.vocab_size = 400;
    recipe.shape.hidden_size = 32;
    recipe.shape.intermediate_size = 64;
    recipe.shape.layers = 1;
    recipe.problems_per_skill = 60;
    recipe.held_out_problems = 30;
    recipe.pretrain.steps = 10;
    recipe.expert.steps = 40;
    recipe.expert.learning_rate = 1e-2;
    recipe.all_data.steps = 4;
    recipe
}

/// Mean log-likelihood per problem of `skill`'s held-out reference replies.
fn reference_loglikelihood(engine: &Engine, skill: Skill) -> f64 {
    let requests: Vec<(String, String)> = reference_conversations(skill, Split::Test, 12, 0)
        .unwrap()
        .into_iter()
        .map(|c| {
            let opening: Vec<Message> = c[..c.len() - 1]
                .iter()
                .map(|m| {
                    assert_eq!(m.role, Role::User);
                    Message::new("user", m.content.clone())
                })
                .collect();
            let prompt = engine.apply_chat_template(&opening, true).unwrap();
            (prompt, c.last().unwrap().content.clone())
        })
        .collect();
    let scores = engine.loglikelihood(&requests).unwrap();
    scores.iter().sum::<f64>() / scores.len() as f64
}

fn build(recipe: &DemoRecipe, dir: &std::path::Path) -> (DemoModels, Vec<String>) {
    let mut log = Vec::new();
    let models = build_models_with(recipe, 0, dir, &mut |m| log.push(m.to_string())).unwrap();
    (models, log)
}

#[test]
fn tiny_demo_builds_loads_caches_and_specializes() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = tiny_recipe();
    let (models, log) = build(&recipe, dir.path());
    assert_eq!(models.experts.len(), 3);
    // The base pretrains on up to three documents per expert-skill problem (a mismatched
    // pair is dropped when the drawn answer equals the own one) plus the held-out skill's
    // pairs; the experts and the all-data model never see the held-out skill.
    let sequences = |stage: &str| {
        log.iter()
            .filter_map(|m| m.strip_prefix(&format!("{stage}: ")))
            .find_map(|m| m.split(" sequences").next()?.parse::<usize>().ok())
    };
    assert!(
        log.iter()
            .any(|m| m.contains("and 30 of the held-out skill")),
        "{log:?}"
    );
    let base_sequences = sequences("base").unwrap();
    assert!(
        (60 * 3 * 2 + 30..=60 * 3 * 3 + 30).contains(&base_sequences),
        "{log:?}"
    );
    assert_eq!(sequences("expert-os"), Some(60), "{log:?}");
    assert_eq!(sequences("all-data"), Some(60 * 3), "{log:?}");

    let base = Engine::load(&models.base, &Device::Cpu, DType::F32).unwrap();
    let db_expert = Engine::load(&models.experts[2].1, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(models.experts[2].0, "db");
    let loaded = cycleqd_infer::load_engine(&models.all_data, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(loaded.config().vocab_size, base.config().vocab_size);
    assert_eq!(loaded.config().hidden_size, 32);
    let (before, after) = (
        reference_loglikelihood(&base, Skill::Db),
        reference_loglikelihood(&db_expert, Skill::Db),
    );
    assert!(
        after > before + 5.0,
        "the DB expert should find held-out DB answers likelier than the base: {before} -> {after}"
    );

    let (_, log) = build(&recipe, dir.path());
    assert_eq!(
        log.iter().filter(|m| m.contains("already built")).count(),
        5,
        "{log:?}"
    );

    let mut changed = recipe.clone();
    changed.all_data.steps = 3;
    let (_, log) = build(&changed, dir.path());
    assert_eq!(
        log.iter().filter(|m| m.contains("already built")).count(),
        4,
        "{log:?}"
    );
    assert!(log.iter().any(|m| m.contains("all-data: done")), "{log:?}");
}

#[test]
fn a_folder_that_is_not_a_demo_build_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("base")).unwrap();
    std::fs::write(dir.path().join("base/keep.txt"), "mine").unwrap();
    let err = build_models_with(&tiny_recipe(), 0, dir.path(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a demo model"), "{err}");
    assert!(dir.path().join("base/keep.txt").is_file());
}

#[test]
fn an_impossible_recipe_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = tiny_recipe();
    recipe.expert.batch_size = 0;
    let err = build_models_with(&recipe, 0, dir.path(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("expert.batch_size"), "{err}");
    assert!(!dir.path().join("base").exists());
}
