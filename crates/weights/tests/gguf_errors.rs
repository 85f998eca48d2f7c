//! Bad GGUF input: each case gives its own clear error naming the file and the problem, and
//! arbitrary bytes never panic.

mod gguf_writer;

use cycleqd_weights::gguf::{GgufError, GgufFile, LlamaGguf};
use gguf_writer::*;
use proptest::prelude::*;
use tempfile::TempDir;

/// Opens `bytes` as a llama GGUF and returns the error and its message (which must name the file).
fn open_err(bytes: &[u8]) -> (GgufError, String) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("bad.gguf");
    std::fs::write(&path, bytes).unwrap();
    let err = GgufFile::open(&path)
        .and_then(LlamaGguf::from_file)
        .expect_err("must fail");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "no path in: {message}"
    );
    (err, message)
}

#[test]
fn bad_magic() {
    let mut bytes = tiny_llama(TINY).build();
    bytes[..4].copy_from_slice(b"GGML");
    let (err, message) = open_err(&bytes);
    assert!(matches!(err, GgufError::BadMagic { .. }), "{message}");
    assert!(message.contains("not a GGUF file"), "{message}");
    let (err, _) = open_err(b"PK\x03");
    assert!(matches!(err, GgufError::BadMagic { .. }));
}

#[test]
fn empty_and_truncated_header() {
    for len in [0, 2, 4, 6, 10, 23] {
        let bytes = tiny_llama(TINY).build();
        let (err, message) = open_err(&bytes[..len]);
        assert!(
            matches!(err, GgufError::Truncated { .. }),
            "{len} bytes: {message}"
        );
        assert!(message.contains("truncated"), "{message}");
    }
}

#[test]
fn unsupported_versions() {
    for (version, hint) in [
        (1u32, "version 1"),
        (4, "versions 2 and 3"),
        (3u32.swap_bytes(), "big-endian"),
    ] {
        let mut b = tiny_llama(TINY);
        b.version = version;
        let (err, message) = open_err(&b.build());
        assert!(
            matches!(err, GgufError::UnsupportedVersion { .. }),
            "{message}"
        );
        assert!(message.contains(hint), "{message}");
    }
}

#[test]
fn truncated_metadata_and_tensor_info() {
    let b = tiny_llama(TINY);
    let bytes = b.build();
    let (err, message) = open_err(&bytes[..40]);
    assert!(matches!(err, GgufError::Truncated { .. }), "{message}");
    assert!(message.contains("metadata key"), "{message}");
    let (err, message) = open_err(&bytes[..b.metadata_end() + 12]);
    assert!(matches!(err, GgufError::Truncated { .. }), "{message}");
    assert!(message.contains("tensor info"), "{message}");
}

#[test]
fn truncated_tensor_data() {
    let bytes = tiny_llama(TINY).build();
    let (err, message) = open_err(&bytes[..bytes.len() - 10]);
    // The tiny model is written in reverse order, so the embeddings come last.
    assert!(
        matches!(err, GgufError::TensorDataOutOfBounds { .. }),
        "{message}"
    );
    assert!(
        message.contains("token_embd.weight") && message.contains("past the end"),
        "{message}"
    );
}

#[test]
fn tensor_data_region_exceeds_file() {
    let mut b = tiny_llama(TINY);
    let t = b
        .tensors
        .iter_mut()
        .find(|t| t.name == "blk.0.attn_norm.weight")
        .unwrap();
    t.dims = vec![1 << 40];
    let (err, message) = open_err(&b.build());
    assert!(
        matches!(err, GgufError::TensorDataOutOfBounds { .. }),
        "{message}"
    );
    assert!(message.contains("blk.0.attn_norm.weight"), "{message}");
}

#[test]
fn unknown_tensor_type_id() {
    let mut b = tiny_llama(TINY);
    b.tensors[3].type_id = 4; // Q4_2, removed from ggml long ago
    let name = b.tensors[3].name.clone();
    let (err, message) = open_err(&b.build());
    assert!(
        matches!(err, GgufError::UnknownTensorType { type_id: 4, .. }),
        "{message}"
    );
    assert!(
        message.contains(&name) && message.contains("type id 4"),
        "{message}"
    );
}

#[test]
fn known_but_undequantizable_type_fails_on_read() {
    let mut b = tiny_llama(TINY);
    let t = b
        .tensors
        .iter_mut()
        .find(|t| t.name == "blk.0.ffn_up.weight")
        .unwrap();
    t.type_id = GGML_IQ2_XXS;
    t.dims = vec![256, 2];
    t.data = vec![0; 2 * 66];
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("iq2.gguf");
    std::fs::write(&path, b.build()).unwrap();
    // Opening checks layout only; the shape mismatch is caught by the llama mapping instead,
    // so read through the plain file.
    let file = GgufFile::open(&path).unwrap();
    let err = file.read_f32("blk.0.ffn_up.weight").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, GgufError::UnsupportedTensorType { type_id: 16, .. }),
        "{message}"
    );
    for part in [
        path.display().to_string().as_str(),
        "blk.0.ffn_up.weight",
        "IQ2_XXS",
        "16",
        "Q4_K",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
}

#[test]
fn missing_required_key() {
    let mut b = tiny_llama(TINY);
    b.remove("llama.block_count");
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::MissingKey { .. }), "{message}");
    assert!(message.contains("llama.block_count"), "{message}");
}

#[test]
fn key_of_the_wrong_type() {
    let mut b = tiny_llama(TINY);
    b.string("llama.attention.head_count", "nine");
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::BadKey { .. }), "{message}");
    assert!(
        message.contains("llama.attention.head_count") && message.contains("\"nine\""),
        "{message}"
    );
}

#[test]
fn alignment_must_be_a_power_of_two() {
    let mut b = tiny_llama(TINY);
    b.u32("general.alignment", 24);
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::BadKey { .. }), "{message}");
    assert!(message.contains("general.alignment"), "{message}");
}

#[test]
fn huge_array_count_is_truncation_not_allocation() {
    let mut b = GgufBuilder::default();
    let mut value = T_STRING.to_le_bytes().to_vec();
    value.extend_from_slice(&u64::MAX.to_le_bytes());
    b.kv("tokenizer.ggml.tokens", T_ARRAY, value);
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::Truncated { .. }), "{message}");
    assert!(message.contains("tokenizer.ggml.tokens"), "{message}");
}

#[test]
fn other_architectures_and_unknown_tensors_are_refused() {
    let mut b = tiny_llama(TINY);
    b.string("general.architecture", "mamba");
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::Unconvertible { .. }), "{message}");
    assert!(message.contains("mamba"), "{message}");

    let mut b = tiny_llama(TINY);
    b.f32_tensor("rope_freqs.weight", &[2], &[1.0, 1.0]);
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::Unconvertible { .. }), "{message}");
    assert!(message.contains("rope_freqs.weight"), "{message}");
}

#[test]
fn shapes_must_agree_with_metadata() {
    let mut b = tiny_llama(TINY);
    b.u32("llama.feed_forward_length", 48);
    let (err, message) = open_err(&b.build());
    assert!(matches!(err, GgufError::Unconvertible { .. }), "{message}");
    assert!(message.contains("blk.0.ffn_gate.weight"), "{message}");

    let mut b = tiny_llama(TINY);
    b.tensors.retain(|t| t.name != "blk.1.attn_v.weight");
    let (_, message) = open_err(&b.build());
    assert!(
        message.contains("blk.1.attn_v.weight") && message.contains("missing"),
        "{message}"
    );
}

/// Breaks one thing in a valid file.
type Damage = Box<dyn Fn(&mut GgufBuilder)>;

#[test]
fn malformed_structures() {
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "bool",
            Box::new(|b| {
                b.kv("flag", T_BOOL, vec![2]);
            }),
            "bool byte is 2",
        ),
        (
            "utf8",
            Box::new(|b| {
                b.kv(
                    "name",
                    T_STRING,
                    [2u64.to_le_bytes().to_vec(), vec![0xFF, 0xFE]].concat(),
                );
            }),
            "not UTF-8",
        ),
        (
            "value type",
            Box::new(|b| {
                b.kv("odd", 13, vec![]);
            }),
            "value type 13",
        ),
        (
            "duplicate",
            Box::new(|b| {
                b.kv_again("general.name", T_STRING, string_bytes("again"));
            }),
            "appears twice",
        ),
        (
            "dims",
            Box::new(|b| {
                b.tensors[0].dims = vec![1, 1, 1, 1, 1];
            }),
            "5 dimensions",
        ),
        (
            "overflow",
            Box::new(|b| {
                b.tensors[0].dims = vec![u64::MAX, 2];
            }),
            "overflow",
        ),
        (
            "offset",
            Box::new(|b| {
                b.tensors[1].offset_override = Some(8);
            }),
            "not a multiple of the alignment",
        ),
        (
            "block",
            Box::new(|b| {
                let t = &mut b.tensors[0];
                t.type_id = GGML_Q8_0;
                t.dims = vec![16, 2];
                t.data = vec![0; 34];
            }),
            "block size 32",
        ),
    ];
    for (label, damage, expected) in cases {
        let mut b = tiny_llama(TINY);
        damage(&mut b);
        let (err, message) = open_err(&b.build());
        assert!(
            matches!(err, GgufError::Malformed { .. }),
            "{label}: {message}"
        );
        assert!(message.contains(expected), "{label}: {message}");
    }
}

/// Opens, converts and reads everything; only `Err` or `Ok` may come out, never a panic.
fn read_everything(bytes: &[u8]) -> Result<(), GgufError> {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("fuzz.gguf");
    std::fs::write(&path, bytes).unwrap();
    let file = GgufFile::open(&path)?;
    for info in file.tensors() {
        let _ = file.read_f32(&info.name);
    }
    let llama = LlamaGguf::from_file(file)?;
    let _ = llama.config_json();
    let _ = llama.tokenizer();
    for entry in llama.tensors() {
        llama.read_f32(&entry.hf_name)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
        if magic && bytes.len() >= 8 {
            bytes[..8].copy_from_slice(b"GGUF\x03\0\0\0");
        }
        let _ = read_everything(&bytes);
    }

    #[test]
    fn every_truncation_is_an_error(cut in 0usize..100_000) {
        let bytes = tiny_llama(TINY).build();
        let len = cut % bytes.len();
        prop_assert!(read_everything(&bytes[..len]).is_err());
    }

    #[test]
    fn corrupted_bytes_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = tiny_llama(TINY).build();
        // Corrupt mostly the header, metadata and tensor infos, where the structure lives.
        let structure = 1200.min(bytes.len());
        for (at, value) in flips {
            bytes[at % structure] = value;
        }
        let _ = read_everything(&bytes);
    }
}
