//! `cycleqd similarity` through the binary on a tiny random base and perturbed fine-tunes:
//! a model is fully similar to itself and to a rescaled copy of its task vector, less so to
//! an unrelated fine-tune, and bad inputs are named.

use std::path::Path;
use std::process::Command;

use cycleqd_recipe::{write_perturbed_expert, Perturbation};
use cycleqd_weights::{write_random_llama, DType, HfModel, LlamaShape};

fn similarity(dir: &Path, a: &str, b: &str) -> Result<f64, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .current_dir(dir)
        .args(["similarity", a, b, "--base", "base", "--per-matrix"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("similarity "))
        .unwrap_or_else(|| panic!("no similarity line in {stdout}"));
    Ok(line.split_whitespace().nth(1).unwrap().parse().unwrap())
}

#[test]
fn similarity_is_one_for_the_same_spectrum_and_lower_for_another_fine_tune() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_random_llama(
        &dir.join("base"),
        &LlamaShape::tiny(),
        1,
        DType::F32,
        u64::MAX,
    )
    .unwrap();
    let base = HfModel::open(&dir.join("base")).unwrap();
    let expert = |name: &str, seed: u64, scale: f32| {
        let p = Perturbation {
            scale,
            ..Perturbation::default()
        };
        write_perturbed_expert(&base, &base.config().raw, &dir.join(name), seed, &p, None).unwrap();
    };
    expert("a", 7, 0.02);
    expert("a-doubled", 7, 0.04);
    expert("b", 8, 0.02);

    let geometry = Command::new(env!("CARGO_BIN_EXE_cycleqd"))
        .current_dir(dir)
        .args(["similarity", "a", "a-doubled", "--base", "base"])
        .output()
        .unwrap();
    let text = String::from_utf8(geometry.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("task vectors:"))
        .unwrap_or_else(|| panic!("{text}"));
    let numbers: Vec<f64> = line
        .split(['=', ','])
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    assert_eq!(numbers.len(), 3, "{line}");
    assert!((numbers[1] / numbers[0] - 2.0).abs() < 1e-3, "{line}");
    assert!((numbers[2] - 1.0).abs() < 1e-6, "{line}");

    let same = similarity(dir, "a", "a").unwrap();
    assert!((same - 1.0).abs() < 1e-9, "{same}");
    let scaled = similarity(dir, "a", "a-doubled").unwrap();
    assert!((scaled - 1.0).abs() < 1e-4, "{scaled}");
    let other = similarity(dir, "a", "b").unwrap();
    assert!(other > 0.0 && other < scaled, "{other}");
    assert_eq!(other, similarity(dir, "b", "a").unwrap());

    let err = similarity(dir, "a", "missing").unwrap_err();
    assert!(err.contains("missing"), "{err}");
    let err = similarity(dir, "base", "a").unwrap_err();
    assert!(err.contains("differs from the base"), "{err}");
}
