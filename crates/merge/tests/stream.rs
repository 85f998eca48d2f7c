//! The streaming driver on whole (tiny) models: results independent of threads and memory
//! budget (random merges and a frankenmerge), and the crossover config equal to the
//! crossover function.

use std::path::Path;

use cycleqd_merge::{
    crossover_tensor, draw_crossover_weights, MergeConfig, MergeJob, StreamOptions,
};
use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape, TensorSource};
use tempfile::TempDir;

fn models(dir: &Path) {
    for (name, seed) in [("base", 1), ("p1", 2), ("p2", 3), ("p3", 4)] {
        write_random_llama(
            &dir.join(name),
            &LlamaShape::tiny(),
            seed,
            DType::F32,
            30_000,
        )
        .unwrap();
    }
}

fn job(dir: &Path, yaml: &str) -> MergeJob {
    let path = dir.join("merge.yaml");
    std::fs::write(&path, yaml).unwrap();
    MergeJob::prepare(MergeConfig::load(&path, dir).unwrap()).unwrap()
}

/// Every file of a model folder, by name, as bytes.
fn folder_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn random_merges_do_not_depend_on_threads_or_budget() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let configs = [
        "models:\n  - model: p1\n    parameters: {weight: 1.0, density: 0.4}\n  - model: p2\n    parameters: {weight: 0.5, density: 0.6}\nbase_model: base\nmerge_method: dare_ties\nparameters: {seed: 11}\n",
        "models:\n  - model: p1\n  - model: p2\n  - model: p3\nbase_model: base\nmerge_method: cycleqd_crossover\nparameters: {seed: 5, sigma: 0.3}\n",
        "models:\n  - model: p1\n    parameters: {weight: 1.0, density: 0.4}\n  - model: p2\n    parameters: {weight: 0.5, density: 0.6, epsilon: 0.3}\nbase_model: base\nmerge_method: della\nparameters: {seed: 7}\n",
        "slices:\n  - sources: [{model: p1, layer_range: [0, 2]}]\n  - sources: [{model: p2, layer_range: [1, 2], parameters: {scale: 0.5}}]\n  - sources: [{model: p1, layer_range: [0, 1]}]\nmerge_method: passthrough\n",
    ];
    for (c, yaml) in configs.iter().enumerate() {
        let job = job(dir, yaml);
        let mut outputs = Vec::new();
        for (threads, budget) in [(1, None), (3, None), (3, Some(1u64))] {
            let out = dir.join(format!("out-{c}-{threads}-{budget:?}"));
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let options = StreamOptions {
                shard_limit: 20_000,
                memory_budget: budget,
            };
            pool.install(|| job.run(&out, &options, &|_| {})).unwrap();
            outputs.push(folder_bytes(&out));
        }
        assert!(
            outputs.windows(2).all(|w| w[0] == w[1]),
            "config {c}: outputs differ"
        );
    }
}

#[test]
fn crossover_config_equals_the_crossover_function() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    models(dir);
    let job = job(
        dir,
        "models:\n  - model: p1\n  - model: p2\nbase_model: base\nmerge_method: cycleqd_crossover\nparameters: {seed: 42, mu: 0.1, sigma: 0.2}\nout_dtype: float32\n",
    );
    let out = dir.join("child");
    let options = StreamOptions {
        shard_limit: u64::MAX,
        memory_budget: None,
    };
    job.run(&out, &options, &|_| {}).unwrap();
    let weights = draw_crossover_weights(42, 0.1, 0.2, 2).unwrap();
    let open = |name: &str| HfModel::open(&dir.join(name)).unwrap();
    let (child, base, p1, p2) = (open("child"), open("base"), open("p1"), open("p2"));
    for m in base.metas() {
        let read = |model: &HfModel| model.read_f32(&m.name).unwrap();
        let want = crossover_tensor(&read(&base), &[&read(&p1), &read(&p2)], &weights).unwrap();
        assert_eq!(read(&child), want, "{}", m.name);
    }
}
