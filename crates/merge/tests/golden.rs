//! Golden tests: our merges against mergekit 0.1.5's output on the same tiny models and
//! configs (fixtures built by `scripts/merge_golden.py`).
//!
//! Deterministic methods must match to 1e-5 (max abs error, f32). For DARE, whose random
//! masks come from torch's generator in mergekit and from ours here, the tests check what
//! does not depend on the generator: full-density runs exactly; that mergekit's kept entries
//! equal the task vector times mergekit's L1 rescale factor, and ours likewise; the fraction
//! kept; and the size of the merged task vector.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cycleqd_merge::{MergeConfig, MergeJob, StreamOptions};
use cycleqd_weights::{HfModel, SafetensorsFile, TensorSource};
use tempfile::TempDir;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

type Tensors = BTreeMap<String, Vec<f32>>;

fn read_safetensors(path: &Path) -> Tensors {
    let file = SafetensorsFile::open(path).unwrap();
    file.spans()
        .iter()
        .map(|span| {
            let mut values = Vec::new();
            span.meta.dtype.decode(file.bytes(span), &mut values);
            (span.meta.name.clone(), values)
        })
        .collect()
}

fn read_model(dir: &Path) -> Tensors {
    let model = HfModel::open(dir).unwrap();
    model
        .metas()
        .iter()
        .map(|m| (m.name.clone(), model.read_f32(&m.name).unwrap()))
        .collect()
}

/// Runs a case's config through the streaming merge and returns the output tensors.
fn merge_case(case: &str) -> Tensors {
    let config =
        MergeConfig::load(&golden().join(format!("cases/{case}.yaml")), &golden()).unwrap();
    let job = MergeJob::prepare(config).unwrap();
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let options = StreamOptions {
        shard_limit: 40_000,
        memory_budget: None,
    };
    job.run(&out, &options, &|_| {}).unwrap();
    read_model(&out)
}

fn expected(case: &str) -> Tensors {
    read_safetensors(&golden().join(format!("expected/{case}.safetensors")))
}

fn max_abs_error(a: &Tensors, b: &Tensors) -> (f32, String) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut worst = (0.0f32, String::new());
    for (name, x) in a {
        for (x, y) in x.iter().zip(&b[name]) {
            let e = (x - y).abs();
            if e > worst.0 || e.is_nan() {
                worst = (e, name.clone());
            }
        }
    }
    worst
}

const EXACT: &[&str] = &[
    "linear",
    "linear_base_unnormalized",
    "task_arithmetic",
    "task_arithmetic_normalized",
    "ties",
    "ties_rescaled",
    "ties_slices",
    "breadcrumbs",
    "breadcrumbs_ties",
    "dare_linear_full_density",
    "dare_ties_full_density",
    "slerp",
    "model_stock",
    "model_stock_filter_wise",
];

#[test]
fn deterministic_methods_match_mergekit() {
    for case in EXACT {
        let (err, tensor) = max_abs_error(&merge_case(case), &expected(case));
        assert!(err < 1e-5, "{case}: max abs error {err} at `{tensor}`");
    }
}

#[test]
fn bf16_output_matches_mergekit_to_one_rounding_step() {
    let ours = merge_case("linear_bf16_out");
    let theirs = expected("linear_bf16_out");
    for (name, values) in &ours {
        for (a, b) in values.iter().zip(&theirs[name]) {
            // Both round an f32 result that may differ in the last bits: at most one bf16 step.
            let step = f32::from_bits(b.to_bits() & 0x7f80_0000) / 128.0;
            assert!((a - b).abs() <= step, "{name}: {a} vs {b}");
            assert_eq!(
                half::bf16::from_f32(*a).to_f32(),
                *a,
                "{name}: not a bf16 value"
            );
        }
    }
}

/// For a single-model DARE merge, out = base + delta * mask * scale with one scale per tensor:
/// checks that form on `out` (the mask read off `out`) and returns the fraction of kept entries.
fn check_dare_form(
    out: &Tensors,
    base: &Tensors,
    expert: &Tensors,
    rescale: bool,
    who: &str,
) -> f64 {
    let (mut kept, mut total) = (0usize, 0usize);
    for (name, o) in out {
        let (b, x) = (&base[name], &expert[name]);
        let delta: Vec<f32> = x.iter().zip(b).map(|(x, b)| x - b).collect();
        let mask: Vec<bool> = o.iter().zip(b).map(|(o, b)| o != b).collect();
        let l1: f64 = delta.iter().map(|d| f64::from(d.abs())).sum();
        let l1_kept: f64 = delta
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m)
            .map(|(d, _)| f64::from(d.abs()))
            .sum();
        let scale = if rescale { (l1 / l1_kept) as f32 } else { 1.0 };
        for i in 0..o.len() {
            let want = if mask[i] {
                b[i] + delta[i] * scale
            } else {
                b[i]
            };
            assert!(
                (o[i] - want).abs() < 1e-5,
                "{who} {name}[{i}]: {} vs {want}",
                o[i]
            );
        }
        kept += mask.iter().filter(|m| **m).count();
        total += mask.len();
    }
    kept as f64 / total as f64
}

#[test]
fn dare_rescales_by_the_l1_norm_like_mergekit() {
    let base = read_model(&golden().join("models/base"));
    let expert = read_model(&golden().join("models/expert1"));
    for (case, density, rescale) in [
        ("dare_linear_single", 0.3, true),
        ("dare_linear_single_unrescaled", 0.6, false),
    ] {
        let theirs = check_dare_form(&expected(case), &base, &expert, rescale, "mergekit");
        let ours = check_dare_form(&merge_case(case), &base, &expert, rescale, "ours");
        // ~19k entries: the kept fraction's standard deviation is below 0.004.
        for (who, kept) in [("mergekit", theirs), ("ours", ours)] {
            assert!(
                (kept - density).abs() < 0.02,
                "{case}: {who} kept {kept}, density {density}"
            );
        }
    }
}

#[test]
fn dare_ties_statistics_match_mergekit() {
    let base = read_model(&golden().join("models/base"));
    let stats = |t: &Tensors| {
        let (mut changed, mut total, mut sq) = (0usize, 0usize, 0f64);
        for (name, o) in t {
            for (o, b) in o.iter().zip(&base[name]) {
                changed += usize::from(o != b);
                total += 1;
                sq += f64::from(o - b).powi(2);
            }
        }
        (changed as f64 / total as f64, sq.sqrt())
    };
    let (ours_changed, ours_norm) = stats(&merge_case("dare_ties_random"));
    let (theirs_changed, theirs_norm) = stats(&expected("dare_ties_random"));
    assert!(
        (ours_changed - theirs_changed).abs() < 0.02,
        "changed {ours_changed} vs {theirs_changed}"
    );
    assert!(
        (ours_norm / theirs_norm - 1.0).abs() < 0.05,
        "norm {ours_norm} vs {theirs_norm}"
    );
}

#[test]
fn every_fixture_case_is_tested() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap())
            .unwrap();
    let random = [
        "linear_bf16_out",
        "dare_linear_single",
        "dare_linear_single_unrescaled",
        "dare_ties_random",
    ];
    for case in manifest["cases"].as_array().unwrap() {
        let case = case.as_str().unwrap();
        assert!(
            EXACT.contains(&case) || random.contains(&case),
            "case {case} has no test"
        );
    }
}
