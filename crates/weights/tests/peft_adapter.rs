//! PEFT LoRA adapters: our base+adapter model against PEFT's own merge (the committed fixture
//! of `scripts/peft_adapter_fixture.py`), the writer's output loaded back by us and by PEFT,
//! and bad folders refused with messages that name the problem.

use std::path::{Path, PathBuf};
use std::process::Command;

use cycleqd_weights::{
    write_peft_adapter, write_random_llama, AdaptedModel, ContentHash, DType, HfModel, LlamaShape,
    PeftAdapter, SafetensorsFile, TensorSource, ADAPTER_CONFIG, ADAPTER_WEIGHTS,
};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../merge/tests/fixtures/golden/peft")
}

fn base() -> HfModel {
    HfModel::open(&fixture().join("base")).unwrap()
}

fn adapter() -> PeftAdapter {
    PeftAdapter::open(&fixture().join("adapter")).unwrap()
}

/// The tensors of PEFT's `merge_and_unload()` that the adapter changed.
fn peft_merged() -> Vec<(String, Vec<f32>)> {
    let file = SafetensorsFile::open(&fixture().join("merged.safetensors")).unwrap();
    file.spans()
        .iter()
        .map(|s| {
            let mut v = Vec::new();
            s.meta.dtype.decode(file.bytes(s), &mut v);
            (s.meta.name.clone(), v)
        })
        .collect()
}

fn max_relative_error(got: &[f32], want: &[f32]) -> f32 {
    let scale = want
        .iter()
        .fold(0f32, |m, x| m.max(x.abs()))
        .max(f32::MIN_POSITIVE);
    got.iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

#[test]
fn base_plus_adapter_equals_peft_merge_and_unload() {
    let model = AdaptedModel::new(base(), adapter(), None).unwrap();
    let merged = peft_merged();
    assert_eq!(merged.len(), 6, "q, v and down projections of 2 layers");
    assert_eq!(model.adapter().pairs().len(), merged.len());
    for (name, want) in &merged {
        let got = model.read_f32(name).unwrap();
        let base_values = model.base().read_f32(name).unwrap();
        assert!(
            max_relative_error(&base_values, want) > 1e-3,
            "{name}: the fixture's update is not trivial"
        );
        let err = max_relative_error(&got, want);
        assert!(err <= 1e-5, "{name}: {err} relative to PEFT's merge");
        assert!(
            model.raw_bytes(name).is_none(),
            "{name} has no stored bytes"
        );
    }
    assert_eq!(model.metas(), base().metas());
    let untouched = "model.layers.0.self_attn.k_proj.weight";
    assert_eq!(
        model.read_f32(untouched).unwrap(),
        base().read_f32(untouched).unwrap()
    );
    assert_eq!(model.raw_bytes(untouched), base().raw_bytes(untouched));
    let a = adapter();
    assert_eq!(a.config().rank, 4);
    assert_eq!(a.config().alpha, 8.0);
    assert_eq!(a.base_model_name_or_path(), Some("../base"));
    assert_eq!(a.base_content_hash(), None);
    assert!(a.pairs().iter().all(|p| p.scale == 2.0));
}

#[test]
fn written_adapters_read_back_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let original = adapter();
    let out = tmp.path().join("copy");
    let tensors = original.tensors();
    write_peft_adapter(&out, original.config(), &tensors, Some("ab12")).unwrap();
    let copy = PeftAdapter::open(&out).unwrap();
    assert_eq!(copy.config(), original.config());
    assert_eq!(copy.tensors(), tensors);
    assert_eq!(copy.base_content_hash(), Some("ab12"));
    for (p, q) in copy.pairs().iter().zip(original.pairs()) {
        assert_eq!(
            (&p.target, p.shape, p.rank, p.scale),
            (&q.target, q.shape, q.rank, q.scale)
        );
    }
}

#[test]
fn peft_loads_the_writers_output() {
    let has_peft = Command::new("python3")
        .args(["-c", "import peft, transformers"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_peft {
        println!("skipped: python3 cannot import peft and transformers");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let original = adapter();
    let out = tmp.path().join("written");
    write_peft_adapter(&out, original.config(), &original.tensors(), Some("ab12")).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peft_adapter_fixture.py");
    let run = Command::new("python3")
        .arg(script)
        .arg("check")
        .arg(&out)
        .arg(fixture().join("base"))
        .arg(fixture().join("merged.safetensors"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "PEFT could not use our adapter: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn half_precision_adapters_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bf16");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        fixture().join("adapter").join(ADAPTER_CONFIG),
        dir.join(ADAPTER_CONFIG),
    )
    .unwrap();
    let tensors = adapter().tensors();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, s, v)| {
            let mut b = Vec::new();
            DType::BF16.encode(v, &mut b);
            (k.clone(), s.clone(), b)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, s, b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, s.clone(), b)
                .unwrap();
            (k.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join(ADAPTER_WEIGHTS)).unwrap();
    let read = PeftAdapter::open(&dir).unwrap().tensors();
    for ((k, _, got), (_, _, want)) in read.iter().zip(&tensors) {
        assert!(max_relative_error(got, want) < 1e-2, "{k}");
        assert!(got.iter().all(|x| half::bf16::from_f32(*x).to_f32() == *x));
    }
}

/// A copy of the fixture adapter with its config edited by `edit`.
fn edited_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> PathBuf {
    let out = dir.join("edited");
    std::fs::create_dir_all(&out).unwrap();
    let src = fixture().join("adapter");
    std::fs::copy(src.join(ADAPTER_WEIGHTS), out.join(ADAPTER_WEIGHTS)).unwrap();
    let mut json: Value =
        serde_json::from_slice(&std::fs::read(src.join(ADAPTER_CONFIG)).unwrap()).unwrap();
    edit(json.as_object_mut().unwrap());
    std::fs::write(out.join(ADAPTER_CONFIG), json.to_string()).unwrap();
    out
}

fn open_error(dir: &Path) -> String {
    PeftAdapter::open(dir).unwrap_err().to_string()
}

#[test]
fn unsupported_config_fields_are_refused_by_name_and_value() {
    let cases: &[(&str, Value, &str)] = &[
        ("peft_type", "IA3".into(), "field `peft_type`: is \"IA3\""),
        ("use_dora", true.into(), "field `use_dora`: is true"),
        ("bias", "all".into(), "field `bias`: is \"all\""),
        (
            "fan_in_fan_out",
            true.into(),
            "field `fan_in_fan_out`: is true",
        ),
        (
            "modules_to_save",
            serde_json::json!(["lm_head"]),
            "field `modules_to_save`: is [\"lm_head\"]",
        ),
        (
            "init_lora_weights",
            "pissa".into(),
            "field `init_lora_weights`: is \"pissa\"",
        ),
        (
            "task_type",
            "SEQ_CLS".into(),
            "field `task_type`: is \"SEQ_CLS\"",
        ),
        ("r", 0.into(), "field `r`: is 0"),
        (
            "rank_pattern",
            serde_json::json!({"^model.*q_proj$": 8}),
            "key `^model.*q_proj$` is a regex",
        ),
    ];
    for (field, value, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = edited_config(tmp.path(), |c| {
            c.insert(field.to_string(), value.clone());
        });
        let err = open_error(&dir);
        assert!(err.contains(ADAPTER_CONFIG), "{err}");
        assert!(err.contains(expected), "{field}: {err}");
    }
}

#[test]
fn alpha_and_rank_patterns_set_the_scale_per_module() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = edited_config(tmp.path(), |c| {
        c.insert("alpha_pattern".into(), serde_json::json!({"q_proj": 16}));
        c.insert("use_rslora".into(), true.into());
    });
    let a = PeftAdapter::open(&dir).unwrap();
    for p in a.pairs() {
        let alpha = if p.target.ends_with("q_proj.weight") {
            16.0
        } else {
            8.0
        };
        assert_eq!(p.scale, alpha / 2.0, "{}: alpha / sqrt(4)", p.target);
    }
    let dir = edited_config(tmp.path(), |c| {
        c.insert(
            "rank_pattern".into(),
            serde_json::json!({"layers.0.self_attn.q_proj": 2}),
        );
    });
    let err = open_error(&dir);
    assert!(
        err.contains("model.layers.0.self_attn.q_proj.lora_A.weight` has shape [4, 32], expected (r, in) with r = 2"),
        "{err}"
    );
}

#[test]
fn corrupt_and_incomplete_folders_are_refused_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture().join("adapter");
    let dir = tmp.path().join("a");
    std::fs::create_dir(&dir).unwrap();
    assert!(open_error(&dir).contains("no adapter_config.json"));
    std::fs::write(dir.join(ADAPTER_CONFIG), "{\"peft_type\": ").unwrap();
    assert!(open_error(&dir).contains("adapter_config.json: not valid JSON"));
    std::fs::copy(src.join(ADAPTER_CONFIG), dir.join(ADAPTER_CONFIG)).unwrap();
    assert!(open_error(&dir).contains("no adapter_model.safetensors"));
    let bytes = std::fs::read(src.join(ADAPTER_WEIGHTS)).unwrap();
    for (what, corrupt, expected) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("tiny", bytes[..5].to_vec(), "too short"),
        (
            "garbage header",
            {
                let mut b = bytes.clone();
                b[8] = b'x';
                b
            },
            "not valid JSON",
        ),
    ] {
        std::fs::write(dir.join(ADAPTER_WEIGHTS), &corrupt).unwrap();
        let err = open_error(&dir);
        assert!(
            err.contains(ADAPTER_WEIGHTS) && err.contains(expected),
            "{what}: {err}"
        );
    }
}

/// Tensor names with shapes.
type Shapes<'a> = Vec<(&'a str, Vec<usize>)>;

/// Writes `tensors` (F32) as the adapter's weights next to the fixture's config.
fn with_tensors(dir: &Path, tensors: &[(&str, Vec<usize>)]) -> PathBuf {
    let out = edited_config(dir, |_| {});
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()])
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((k, s), d)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                .unwrap();
            (k.to_string(), v)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &out.join(ADAPTER_WEIGHTS)).unwrap();
    out
}

#[test]
fn bad_pairs_are_refused_with_the_key_named() {
    let a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    let b = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    let cases: Vec<(Shapes, &str)> = vec![
        (
            vec![(a, vec![4, 32])],
            "tensor `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` has no partner `base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight`",
        ),
        (
            vec![(a, vec![3, 32]), (b, vec![32, 4])],
            "q_proj.lora_A.weight` has shape [3, 32], expected (r, in) with r = 4",
        ),
        (
            vec![(a, vec![4, 32]), (b, vec![32, 4, 1])],
            "q_proj.lora_B.weight` has shape [32, 4, 1], expected (out, r) with r = 4",
        ),
        (
            vec![(a, vec![4, 32]), (b, vec![32, 4]), ("base_model.model.model.embed_tokens.lora_embedding_A", vec![4, 64])],
            "embedding adapters are not supported",
        ),
        (
            vec![(a, vec![4, 32]), (b, vec![32, 4]), ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", vec![32])],
            "LoRA biases are not supported",
        ),
        (
            vec![(a, vec![4, 32]), (b, vec![32, 4]), ("model.norm.weight", vec![32])],
            "tensor `model.norm.weight`: not a LoRA factor",
        ),
    ];
    for (tensors, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let err = open_error(&with_tensors(tmp.path(), &tensors));
        assert!(err.contains(ADAPTER_WEIGHTS), "{err}");
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn adapters_for_another_base_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // Same shapes, other content: only the recorded hash can tell.
    let written = tmp.path().join("hashed");
    let original = adapter();
    write_peft_adapter(
        &written,
        original.config(),
        &original.tensors(),
        Some("aa11"),
    )
    .unwrap();
    let err = AdaptedModel::new(base(), PeftAdapter::open(&written).unwrap(), Some("bb22"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&written.display().to_string()), "{err}");
    assert!(err.contains("records base content hash aa11"), "{err}");
    assert!(err.contains("has bb22"), "{err}");
    assert!(AdaptedModel::new(base(), PeftAdapter::open(&written).unwrap(), Some("AA11")).is_ok());
    // Unless the caller knows it, the base's hash is computed.
    let actual = ContentHash::of_model(&base()).unwrap().hex();
    let err = AdaptedModel::new(base(), PeftAdapter::open(&written).unwrap(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&format!("has {actual}")), "{err}");
    write_peft_adapter(
        &written,
        original.config(),
        &original.tensors(),
        Some(&actual),
    )
    .unwrap();
    assert!(AdaptedModel::new(base(), PeftAdapter::open(&written).unwrap(), None).is_ok());

    // Another shape: named with both shapes.
    let wide = LlamaShape {
        hidden_size: 48,
        ..LlamaShape::tiny()
    };
    let other =
        write_random_llama(&tmp.path().join("wide"), &wide, 1, DType::F32, u64::MAX).unwrap();
    let err = AdaptedModel::new(HfModel::open(&other).unwrap(), adapter(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("adapts tensor `model.layers.0.mlp.down_proj.weight` as shape [32, 48] (out, in), but the base")
            && err.contains("has shape [48, 48]"),
        "{err}"
    );
}
