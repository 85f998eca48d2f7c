//! Hugging Face folders: round trips, sharding, task vectors, and every bad input's error.

use std::path::{Path, PathBuf};

use cycleqd_weights::{
    copy_model, write_random_llama, CopyOptions, DType, HfModel, LlamaShape, TaskVector,
    TensorSource, WeightsError,
};
use tempfile::TempDir;

fn tiny(dir: &Path, name: &str, seed: u64, dtype: DType, shard_limit: u64) -> PathBuf {
    write_random_llama(
        &dir.join(name),
        &LlamaShape::tiny(),
        seed,
        dtype,
        shard_limit,
    )
    .unwrap()
}

fn copy(src: &HfModel, out: &Path, dtype: Option<DType>, shard_limit: u64) -> PathBuf {
    let companions: Vec<(String, Vec<u8>)> = src
        .companion_files()
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    copy_model(
        src,
        out,
        &src.config().raw,
        &companions,
        &CopyOptions { dtype, shard_limit },
        &|_| {},
    )
    .unwrap()
}

fn assert_same_bits(a: &HfModel, b: &HfModel) {
    assert_eq!(a.metas(), b.metas());
    for m in a.metas() {
        assert_eq!(a.raw_bytes(&m.name), b.raw_bytes(&m.name), "{}", m.name);
    }
}

#[test]
fn round_trip_is_bit_exact_for_every_dtype() {
    let tmp = TempDir::new().unwrap();
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let src = tiny(tmp.path(), &format!("src-{dtype}"), 7, dtype, u64::MAX);
        std::fs::write(src.join("tokenizer.json"), b"{\"model\":{}}").unwrap();
        let a = HfModel::open(&src).unwrap();
        let out = copy(&a, &tmp.path().join(format!("out-{dtype}")), None, u64::MAX);
        let b = HfModel::open(&out).unwrap();
        assert_same_bits(&a, &b);
        assert_eq!(
            std::fs::read(out.join("tokenizer.json")).unwrap(),
            b"{\"model\":{}}"
        );
        assert_eq!(b.config().raw["torch_dtype"], dtype.torch_name());
    }
}

#[test]
fn sharding_at_any_limit_gives_identical_tensors() {
    let tmp = TempDir::new().unwrap();
    let src = tiny(tmp.path(), "src", 3, DType::BF16, u64::MAX);
    let a = HfModel::open(&src).unwrap();
    let mut shard_counts = Vec::new();
    for limit in [1u64, 1000, 5000, 20_000, u64::MAX] {
        let out = copy(&a, &tmp.path().join(format!("out-{limit}")), None, limit);
        let b = HfModel::open(&out).unwrap();
        assert_same_bits(&a, &b);
        shard_counts.push(b.shard_paths().len());
        if b.shard_paths().len() > 1 {
            assert!(out.join("model.safetensors.index.json").is_file());
        }
        // Re-sharding a sharded model is exact too.
        let again = copy(&b, &tmp.path().join(format!("again-{limit}")), None, 3000);
        assert_same_bits(&a, &HfModel::open(&again).unwrap());
    }
    assert_eq!(
        shard_counts[0],
        a.metas().len(),
        "limit 1: one tensor per shard"
    );
    assert_eq!(*shard_counts.last().unwrap(), 1);
    assert!(shard_counts.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn written_shards_are_valid_safetensors_for_the_reference_parser() {
    let tmp = TempDir::new().unwrap();
    let src = tiny(tmp.path(), "src", 3, DType::F16, 4000);
    let ours = HfModel::open(&src).unwrap();
    let mut seen = 0;
    for shard in ours.shard_paths() {
        let bytes = std::fs::read(shard).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, view) in st.tensors() {
            assert_eq!(view.dtype(), safetensors::Dtype::F16);
            assert_eq!(view.shape(), ours.meta(&name).unwrap().shape.as_slice());
            assert_eq!(Some(view.data()), ours.raw_bytes(&name));
            seen += 1;
        }
    }
    assert_eq!(seen, ours.metas().len());
}

#[test]
fn dtype_conversion_rounds_once_from_f32() {
    let tmp = TempDir::new().unwrap();
    let src = tiny(tmp.path(), "src", 5, DType::F32, u64::MAX);
    let a = HfModel::open(&src).unwrap();
    let out = copy(&a, &tmp.path().join("bf16"), Some(DType::BF16), u64::MAX);
    let b = HfModel::open(&out).unwrap();
    for m in a.metas() {
        assert_eq!(b.meta(&m.name).unwrap().dtype, DType::BF16);
        let x = a.read_f32(&m.name).unwrap();
        let y = b.read_f32(&m.name).unwrap();
        for (x, y) in x.iter().zip(&y) {
            assert_eq!(half::bf16::from_f32(*x).to_f32(), *y);
        }
    }
}

#[test]
fn task_vector_round_trips() {
    let tmp = TempDir::new().unwrap();
    let base = HfModel::open(&tiny(tmp.path(), "base", 1, DType::F32, u64::MAX)).unwrap();
    let expert = HfModel::open(&tiny(tmp.path(), "expert", 2, DType::F32, 5000)).unwrap();
    let tau = TaskVector::between(&base, &expert).unwrap();
    assert_eq!(tau.tensors.len(), base.metas().len());
    let rebuilt = tau.apply_to(&base).unwrap();
    for m in expert.metas() {
        let want = expert.read_f32(&m.name).unwrap();
        let got = &rebuilt[&m.name];
        assert_eq!(got.shape, m.shape);
        let max_err = want
            .iter()
            .zip(&got.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // (e - b) + b in f32 is exact up to one rounding of each operation.
        assert!(max_err <= 2.0 * f32::EPSILON, "{}: {max_err}", m.name);
    }
    let self_tau = TaskVector::between(&base, &base).unwrap();
    assert!(self_tau
        .tensors
        .values()
        .all(|t| t.data.iter().all(|v| *v == 0.0)));
}

#[test]
fn task_vector_mismatches_name_the_tensor_and_both_shapes() {
    let tmp = TempDir::new().unwrap();
    let base = HfModel::open(&tiny(tmp.path(), "base", 1, DType::F32, u64::MAX)).unwrap();
    let mut wide = LlamaShape::tiny();
    wide.intermediate_size = 40;
    let other =
        write_random_llama(&tmp.path().join("wide"), &wide, 2, DType::F32, u64::MAX).unwrap();
    let err = TaskVector::between(&base, &HfModel::open(&other).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.layers.0.mlp.down_proj.weight"), "{err}");
    assert!(
        err.contains("[32, 48]") && err.contains("[32, 40]"),
        "{err}"
    );

    let bf = HfModel::open(&tiny(tmp.path(), "bf", 1, DType::BF16, u64::MAX)).unwrap();
    let err = TaskVector::between(&base, &bf).unwrap_err().to_string();
    assert!(err.contains("dtype f32") && err.contains("bf16"), "{err}");

    let mut tied = LlamaShape::tiny();
    tied.tie_word_embeddings = true;
    let tied =
        write_random_llama(&tmp.path().join("tied"), &tied, 2, DType::F32, u64::MAX).unwrap();
    let err = TaskVector::between(&base, &HfModel::open(&tied).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lm_head.weight") && err.contains("missing"),
        "{err}"
    );
}

fn open_err(dir: &Path) -> String {
    let err = HfModel::open(dir).unwrap_err();
    assert!(!matches!(err, WeightsError::Invalid(_)));
    err.to_string()
}

#[test]
fn truncated_shard_is_reported_with_its_file() {
    let tmp = TempDir::new().unwrap();
    let dir = tiny(tmp.path(), "m", 1, DType::F32, u64::MAX);
    let file = dir.join("model.safetensors");
    let len = std::fs::metadata(&file).unwrap().len();
    for keep in [0, 5, 100, len - 1] {
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..keep as usize]).unwrap();
        let err = open_err(&dir);
        assert!(err.contains("model.safetensors"), "{err}");
        assert!(err.contains("truncated"), "{err}");
        std::fs::write(&file, &bytes).unwrap();
    }
}

#[test]
fn corrupt_header_is_reported() {
    let tmp = TempDir::new().unwrap();
    let dir = tiny(tmp.path(), "m", 1, DType::F32, u64::MAX);
    let file = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8] = b'#';
    std::fs::write(&file, &bytes).unwrap();
    let err = open_err(&dir);
    assert!(
        err.contains("model.safetensors") && err.contains("not valid JSON"),
        "{err}"
    );
}

#[test]
fn index_naming_a_missing_shard_is_reported() {
    let tmp = TempDir::new().unwrap();
    let dir = tiny(tmp.path(), "m", 1, DType::F32, 5000);
    let shard = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("-of-"))
        .unwrap();
    std::fs::remove_file(shard).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("model.safetensors.index.json"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn config_missing_a_field_is_reported() {
    let tmp = TempDir::new().unwrap();
    let dir = tiny(tmp.path(), "m", 1, DType::F32, u64::MAX);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("num_hidden_layers");
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let err = open_err(&dir);
    assert!(
        err.contains("config.json") && err.contains("num_hidden_layers"),
        "{err}"
    );
}

#[test]
fn folder_without_weights_is_reported() {
    let tmp = TempDir::new().unwrap();
    let dir = tiny(tmp.path(), "m", 1, DType::F32, u64::MAX);
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), b"pickle").unwrap();
    let err = open_err(&dir);
    assert!(
        err.contains("no weights") && err.contains("pytorch_model.bin"),
        "{err}"
    );
    let err = open_err(&tmp.path().join("nowhere"));
    assert!(
        err.contains("nowhere") && err.contains("not a folder"),
        "{err}"
    );
}

#[test]
fn unsupported_tensor_dtype_is_reported() {
    let tmp = TempDir::new().unwrap();
    let dir = tiny(tmp.path(), "m", 1, DType::F32, u64::MAX);
    let file = dir.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = text[8..8 + header_len].replacen("\"F32\"", "\"I32\"", 1);
    let mut patched = bytes[..8].to_vec();
    patched.extend_from_slice(header.as_bytes());
    patched.extend_from_slice(&bytes[8 + header_len..]);
    std::fs::write(&file, patched).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("I32") && err.contains("supported"), "{err}");
}

#[test]
fn output_is_atomic_and_refuses_to_overwrite() {
    let tmp = TempDir::new().unwrap();
    let src = tiny(tmp.path(), "src", 1, DType::F32, u64::MAX);
    let a = HfModel::open(&src).unwrap();
    let out = tmp.path().join("out");
    // A crash mid-way leaves nothing that looks like a model behind.
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        copy_model(
            &a,
            &out,
            &a.config().raw,
            &[],
            &CopyOptions {
                dtype: None,
                shard_limit: 2000,
            },
            &|m| {
                if m.name.contains("layers.1") {
                    panic!("simulated crash while writing {}", m.name);
                }
            },
        )
    }));
    assert!(crashed.is_err());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["src".to_string()], "{leftovers:?}");
    let out = copy(&a, &out, None, u64::MAX);
    let err = copy_model(
        &a,
        &out,
        &a.config().raw,
        &[],
        &CopyOptions {
            dtype: None,
            shard_limit: u64::MAX,
        },
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("already exists"), "{err}");
}
