//! A tiny llama GGUF written by the test writer, read back through `GgufFile` and `LlamaGguf`:
//! metadata of every type, alignment, name mapping and order, shapes, Q/K un-permutation, config.

mod gguf_writer;

use std::path::PathBuf;

use cycleqd_weights::gguf::{GgmlType, GgufError, GgufFile, LlamaGguf, MetadataValue};
use gguf_writer::*;
use tempfile::TempDir;

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn open_llama(bytes: &[u8]) -> Result<LlamaGguf, GgufError> {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "model.gguf", bytes);
    LlamaGguf::from_file(GgufFile::open(&path)?)
}

#[test]
fn reads_every_metadata_value_type() {
    let mut b = GgufBuilder::default();
    b.kv("u8", T_U8, vec![200])
        .kv("i8", T_I8, vec![0xFE])
        .kv("u16", T_U16, 65000u16.to_le_bytes().to_vec())
        .kv("i16", T_I16, (-300i16).to_le_bytes().to_vec())
        .kv("u32", T_U32, 4_000_000_000u32.to_le_bytes().to_vec())
        .kv("i32", T_I32, (-5i32).to_le_bytes().to_vec())
        .kv("f32", T_F32, 0.5f32.to_le_bytes().to_vec())
        .kv("bool", T_BOOL, vec![1])
        .kv("string", T_STRING, string_bytes("héllo"))
        .kv("u64", T_U64, u64::MAX.to_le_bytes().to_vec())
        .kv("i64", T_I64, i64::MIN.to_le_bytes().to_vec())
        .kv("f64", T_F64, 2.25f64.to_le_bytes().to_vec())
        .kv(
            "strings",
            T_ARRAY,
            array_bytes(T_STRING, &[string_bytes("a"), string_bytes("")]),
        )
        .kv(
            "nested",
            T_ARRAY,
            array_bytes(
                T_ARRAY,
                &[
                    array_bytes(T_I32, &[7i32.to_le_bytes().to_vec()]),
                    array_bytes(T_I32, &[]),
                ],
            ),
        );
    let dir = TempDir::new().unwrap();
    let file = GgufFile::open(write(&dir, "kv.gguf", &b.build())).unwrap();
    use MetadataValue::*;
    let expect = [
        ("u8", U8(200)),
        ("i8", I8(-2)),
        ("u16", U16(65000)),
        ("i16", I16(-300)),
        ("u32", U32(4_000_000_000)),
        ("i32", I32(-5)),
        ("f32", F32(0.5)),
        ("bool", Bool(true)),
        ("string", String("héllo".into())),
        ("u64", U64(u64::MAX)),
        ("i64", I64(i64::MIN)),
        ("f64", F64(2.25)),
        (
            "strings",
            Array(vec![String("a".into()), String("".into())]),
        ),
        ("nested", Array(vec![Array(vec![I32(7)]), Array(vec![])])),
    ];
    for (key, value) in expect {
        assert_eq!(file.get(key), Some(&value), "{key}");
    }
    assert_eq!(file.metadata().len(), 14);
    assert_eq!(file.alignment(), 32);
    assert!(file.tensors().is_empty());
}

#[test]
fn honours_alignment_and_reads_version_2() {
    let mut b = tiny_llama(TINY);
    b.version = 2;
    b.alignment = 64;
    b.u32("general.alignment", 64);
    let offsets = b.offsets();
    let llama = open_llama(&b.build()).unwrap();
    let file = llama.file();
    assert_eq!(file.version(), 2);
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset() % 64, 0);
    for (info, offset) in file.tensors().iter().zip(offsets) {
        assert_eq!(info.offset, offset, "{}", info.name);
    }
    let values = llama.read_f32("model.norm.weight").unwrap();
    let expected: Vec<f32> = (0..TINY.hidden)
        .map(|i| value("model.norm.weight", i))
        .collect();
    assert_eq!(values, expected);
}

#[test]
fn maps_names_shapes_and_undoes_the_qk_permutation() {
    let llama = open_llama(&tiny_llama(TINY).build()).unwrap();
    let expected = tiny_tensors(TINY);
    let got: Vec<(&str, &str, &[usize])> = llama
        .tensors()
        .iter()
        .map(|e| (e.gguf_name.as_str(), e.hf_name.as_str(), e.shape.as_slice()))
        .collect();
    let want: Vec<(&str, &str, &[usize])> = expected
        .iter()
        .map(|(g, h, s)| (g.as_str(), h.as_str(), s.as_slice()))
        .collect();
    assert_eq!(got, want, "names, shapes and order");
    for entry in llama.tensors() {
        assert_eq!(entry.gguf_type, GgmlType::F32);
        let values = llama.read_f32(&entry.hf_name).unwrap();
        let n: usize = entry.shape.iter().product();
        let want: Vec<f32> = (0..n).map(|i| value(&entry.hf_name, i)).collect();
        assert_eq!(values, want, "{}", entry.hf_name);
    }
}

#[test]
fn config_json_describes_the_model() {
    let llama = open_llama(&tiny_llama(TINY).build()).unwrap();
    let c = llama.config_json();
    assert_eq!(c["architectures"], serde_json::json!(["LlamaForCausalLM"]));
    assert_eq!(c["model_type"], "llama");
    assert_eq!(c["hidden_size"], 16);
    assert_eq!(c["intermediate_size"], 32);
    assert_eq!(c["num_hidden_layers"], 2);
    assert_eq!(c["num_attention_heads"], 4);
    assert_eq!(c["num_key_value_heads"], 2);
    assert_eq!(c["head_dim"], 4);
    assert_eq!(c["rms_norm_eps"], 1e-6);
    assert_eq!(c["rope_theta"], 10000.0);
    assert_eq!(c["max_position_embeddings"], 256);
    assert_eq!(c["vocab_size"], 40);
    assert_eq!(c["tie_word_embeddings"], false);
    assert_eq!(c["bos_token_id"], 1);
    assert_eq!(c["eos_token_id"], 2);
    assert_eq!(c["torch_dtype"], "float32");
    let g = llama.generation_config_json();
    assert_eq!(g["bos_token_id"], 1);
    assert_eq!(g["eos_token_id"], 2);
}

#[test]
fn missing_output_weight_means_tied_embeddings() {
    let tied = TinyLlama { tied: true, ..TINY };
    let llama = open_llama(&tiny_llama(tied).build()).unwrap();
    assert_eq!(llama.config_json()["tie_word_embeddings"], true);
    assert!(llama
        .tensors()
        .iter()
        .all(|e| e.hf_name != "lm_head.weight"));
    assert!(matches!(
        llama.read_f32("lm_head.weight"),
        Err(GgufError::NoSuchTensor { .. })
    ));
}

#[test]
fn quantized_tensors_dequantize_through_the_mapping() {
    let mut b = tiny_llama(TINY);
    // ffn_down's rows are ffn = 32 long: one Q8_0 block per row.
    let hf: Vec<f32> = (0..TINY.hidden * TINY.ffn)
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let t = b
        .tensors
        .iter_mut()
        .find(|t| t.name == "blk.1.ffn_down.weight")
        .unwrap();
    t.type_id = GGML_Q8_0;
    t.data = q8_0_bytes(&hf);
    let llama = open_llama(&b.build()).unwrap();
    let entry = llama
        .tensors()
        .iter()
        .find(|e| e.hf_name == "model.layers.1.mlp.down_proj.weight")
        .unwrap();
    assert_eq!(entry.gguf_type, GgmlType::Q8_0);
    let got = llama.read_f32(&entry.hf_name).unwrap();
    // Q8_0 keeps each value within half a quantization step (max|x| / 127 / 2) of the original.
    for (g, want) in got.iter().zip(&hf) {
        assert!(
            (g - want).abs() <= 1.0 / 127.0 / 2.0 + 1e-3,
            "{g} vs {want}"
        );
    }
}
