//! Shared by the integration tests: the committed reference fixtures and loading models.
// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cycleqd_infer::{ArchConfig, CausalLm, DType, Device};
use cycleqd_weights::HfModel;
use serde_json::Value;

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// A fixture's parsed JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Loads a model folder on the CPU.
pub fn load(dir: &Path, dtype: DType) -> CausalLm {
    let source = HfModel::open(dir).unwrap();
    let config = ArchConfig::from_json(&dir.join("config.json"), &source.config().raw).unwrap();
    CausalLm::from_source(config, &source, &Device::Cpu, dtype).unwrap()
}

/// A JSON array of numbers as `u32`.
pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// A JSON array of numbers as `f32`.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}
