//! Dequantization compared with gguf-py (llama.cpp's reference Python package) on random blocks
//! of every type both support; the fixture comes from `scripts/gguf_quant_fixture.py`.
//!
//! The comparison is bit-exact: both sides do the same f32 operations in the same order.

use cycleqd_weights::gguf::{dequantize, GgmlType};
use serde_json::Value;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

#[test]
fn dequantization_is_bit_identical_to_gguf_py() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/gguf/quant_golden.json"))
        .expect("quant_golden.json parses");
    let cases = fixture["cases"].as_array().expect("cases array");
    let mut covered = Vec::new();
    for case in cases {
        let name = case["type"].as_str().unwrap();
        let ty = GgmlType::from_id(case["type_id"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(ty.name(), name);
        let data = hex(case["data_hex"].as_str().unwrap());
        let expected: Vec<f32> = hex(case["expected_f32_le_hex"].as_str().unwrap())
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let got = dequantize(ty, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), expected.len(), "{name}: element count");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                g.to_bits(),
                e.to_bits(),
                "{name} element {i}: got {g:e}, gguf-py says {e:e}"
            );
        }
        covered.push(ty);
    }
    for ty in cycleqd_weights::gguf::DEQUANTIZABLE {
        assert!(
            covered.contains(&ty) || ty == GgmlType::Q8_K,
            "{ty} has no golden case"
        );
    }
}
