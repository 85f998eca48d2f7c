//! Writes a PEFT LoRA adapter folder that `PeftModel.from_pretrained` loads.

use std::collections::BTreeMap;
use std::path::Path;

use cycleqd_atomic_write::{write_atomic, Durability};
use serde_json::{json, Map, Value};

use super::{split_key, Factor, ADAPTER_CONFIG, ADAPTER_WEIGHTS, BASE_HASH_KEY};
use crate::error::{Result, WeightsError};

/// What a written adapter's `adapter_config.json` says.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraAdapterConfig {
    /// The rank r of every pair.
    pub rank: usize,
    /// `lora_alpha`: the update is scaled by `alpha / rank`.
    pub alpha: f64,
    /// Module names the adapter targets (`q_proj`, `v_proj`, ...).
    pub target_modules: Vec<String>,
    /// `base_model_name_or_path`: the base's path or hub id.
    pub base_model: String,
}

/// Writes `adapter_config.json` and `adapter_model.safetensors` (f32) into `dir`, which is
/// created if missing. `tensors` are (PEFT key, shape, f32 values), every `lora_A` `(rank, in)`
/// with its `lora_B` `(out, rank)`. `base_content_hash` (hex), when given, is recorded in the
/// safetensors `__metadata__` under `cycleqd.base_content_hash`, so that applying the adapter
/// to another base is refused. Each file is written beside its final name and renamed into
/// place, so a crash never leaves a half-written file under the real name.
pub fn write_peft_adapter(
    dir: &Path,
    config: &LoraAdapterConfig,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    base_content_hash: Option<&str>,
) -> Result<(), WeightsError> {
    check(config, tensors)?;
    std::fs::create_dir_all(dir).map_err(|e| WeightsError::io(dir, e))?;
    let mut metadata = Map::new();
    metadata.insert("format".into(), json!("pt"));
    if let Some(hash) = base_content_hash {
        metadata.insert(BASE_HASH_KEY.into(), json!(hash));
    }
    write_atomic(
        &dir.join(ADAPTER_WEIGHTS),
        &safetensors_bytes(metadata, tensors),
        Durability::Fsync,
    )?;
    let mut text =
        serde_json::to_vec_pretty(&config_json(config)).expect("JSON values always serialize");
    text.push(b'\n');
    Ok(write_atomic(
        &dir.join(ADAPTER_CONFIG),
        &text,
        Durability::Fsync,
    )?)
}

fn check(config: &LoraAdapterConfig, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let invalid = |problem: String| Err(WeightsError::Invalid(problem));
    if config.rank == 0 {
        return invalid("a LoRA adapter's rank must be at least 1".into());
    }
    if !config.alpha.is_finite() {
        return invalid(format!("lora_alpha must be finite, not {}", config.alpha));
    }
    if tensors.is_empty() {
        return invalid("a LoRA adapter needs at least one lora_A/lora_B pair".into());
    }
    // module -> [A shape, B shape]
    let mut pairs: BTreeMap<&str, [Option<&[usize]>; 2]> = BTreeMap::new();
    for (key, shape, values) in tensors {
        let Some((module, factor)) = split_key(key) else {
            return invalid(format!(
                "tensor `{key}`: expected a PEFT key `base_model.model.<module>.lora_A.weight` or `...lora_B.weight`"
            ));
        };
        if shape.iter().product::<usize>() != values.len() {
            return invalid(format!(
                "tensor `{key}`: shape {shape:?} holds {} values, {} were given",
                shape.iter().product::<usize>(),
                values.len()
            ));
        }
        let rank_ok = match factor {
            Factor::A => shape.len() == 2 && shape[0] == config.rank,
            Factor::B => shape.len() == 2 && shape[1] == config.rank,
        };
        if !rank_ok {
            let want = match factor {
                Factor::A => format!("({}, in)", config.rank),
                Factor::B => format!("(out, {})", config.rank),
            };
            return invalid(format!(
                "tensor `{key}`: shape {shape:?}, expected {want} for rank {}",
                config.rank
            ));
        }
        let slot = &mut pairs.entry(module).or_default()[factor as usize];
        if slot.replace(shape).is_some() {
            return invalid(format!("tensor `{key}` is given twice"));
        }
    }
    for (module, [a, b]) in pairs {
        if a.is_none() || b.is_none() {
            let missing = if a.is_none() { "lora_A" } else { "lora_B" };
            return invalid(format!(
                "module `{module}` has no {missing}: every LoRA pair needs both factors"
            ));
        }
    }
    Ok(())
}

/// The config PEFT would write for a plain LoRA on a causal LM.
fn config_json(config: &LoraAdapterConfig) -> Value {
    // PEFT writes an integral alpha as an integer; keep the file looking like its own.
    let alpha = if config.alpha.fract() == 0.0 && config.alpha.abs() < 1e15 {
        json!(config.alpha as i64)
    } else {
        json!(config.alpha)
    };
    json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": config.base_model,
        "revision": null,
        "inference_mode": true,
        "r": config.rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": config.target_modules,
        "exclude_modules": null,
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": false,
        "use_dora": false,
        "lora_bias": false,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
    })
}

/// A safetensors file: the 8-byte header length, the JSON header padded with spaces to a
/// multiple of 8 (so the f32 data stays aligned), then the tensors back to back in key order.
fn safetensors_bytes(
    metadata: Map<String, Value>,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
) -> Vec<u8> {
    let mut sorted: Vec<&(String, Vec<usize>, Vec<f32>)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = Map::new();
    header.insert("__metadata__".into(), Value::Object(metadata));
    let mut at = 0usize;
    for (key, shape, values) in &sorted {
        let len = 4 * values.len();
        header.insert(
            key.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [at, at + len]}),
        );
        at += len;
    }
    let mut head =
        serde_json::to_vec(&Value::Object(header)).expect("JSON values always serialize");
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + head.len() + at);
    bytes.extend_from_slice(&(head.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&head);
    for (_, _, values) in sorted {
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoraAdapterConfig {
        LoraAdapterConfig {
            rank: 2,
            alpha: 4.0,
            target_modules: vec!["q_proj".into()],
            base_model: "base".into(),
        }
    }

    fn pair(module: &str, a: Vec<usize>, b: Vec<usize>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let t = |f: &str, s: Vec<usize>| {
            let n = s.iter().product();
            (
                format!("base_model.model.{module}.lora_{f}.weight"),
                s,
                vec![0.5; n],
            )
        };
        vec![t("A", a), t("B", b)]
    }

    fn error(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        write_peft_adapter(dir.path(), &config(), tensors, None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn writes_both_files_with_the_hash_in_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new/adapter");
        let tensors = pair("model.layers.0.self_attn.q_proj", vec![2, 3], vec![5, 2]);
        write_peft_adapter(&out, &config(), &tensors, Some("abc")).unwrap();
        let json: Value =
            serde_json::from_slice(&std::fs::read(out.join(ADAPTER_CONFIG)).unwrap()).unwrap();
        assert_eq!(json["r"], 2);
        assert_eq!(json["lora_alpha"], 4);
        assert_eq!(json["peft_type"], "LORA");
        let bytes = std::fs::read(out.join(ADAPTER_WEIGHTS)).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()[BASE_HASH_KEY], "abc");
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let b = file
            .tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
            .unwrap();
        assert_eq!(b.shape(), &[5, 2]);
        assert_eq!(b.dtype(), safetensors::Dtype::F32);
    }

    #[test]
    fn refuses_what_peft_could_not_load() {
        assert!(error(&[]).contains("at least one"));
        let mut missing_b = pair("m", vec![2, 3], vec![5, 2]);
        missing_b.pop();
        assert!(error(&missing_b).contains("module `m` has no lora_B"));
        assert!(error(&pair("m", vec![3, 3], vec![5, 2])).contains("expected (2, in)"));
        assert!(error(&pair("m", vec![2, 3], vec![5, 3])).contains("expected (out, 2)"));
        let mut bad_key = pair("m", vec![2, 3], vec![5, 2]);
        bad_key[0].0 = "m.lora_A.weight".into();
        assert!(error(&bad_key).contains("tensor `m.lora_A.weight`: expected a PEFT key"));
        let mut short = pair("m", vec![2, 3], vec![5, 2]);
        short[1].2.pop();
        assert!(error(&short).contains("holds 10 values, 9 were given"));
    }
}
