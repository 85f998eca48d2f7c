//! Opens a PEFT LoRA adapter folder and checks everything before any tensor is used: the
//! config's fields (refusing the LoRA variants not implemented here, by field and value), the
//! weights file, every key, every pair and every shape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{split_key, LoraAdapterConfig, ADAPTER_CONFIG, ADAPTER_WEIGHTS, BASE_HASH_KEY};
use crate::error::{Result, WeightsError};
use crate::safetensors_file::{SafetensorsFile, TensorSpan};

/// `init_lora_weights` values that leave the base untouched. The others (PiSSA, CorDA, OLoRA,
/// LoftQ, MiCA, LoRA-GA) rewrite the base weights when the adapter is created, so the adapter
/// only makes sense on that rewritten base, which the folder does not hold.
const PLAIN_INITS: &[&str] = &["gaussian", "eva", "orthogonal"];

/// Config fields that switch on a LoRA variant whose merged weight is not `W + scale·B·A`
/// (or that adds trainable tensors besides the pairs): refused whenever set.
const VARIANT_FIELDS: &[&str] = &[
    "use_dora",
    "lora_bias",
    "use_qalora",
    "use_bdlora",
    "modules_to_save",
    "trainable_token_indices",
    "target_parameters",
    "layer_replication",
    "alora_invocation_tokens",
    "velora_config",
    "monteclora_config",
    "arrow_config",
    "kasa_config",
];

/// One adapted tensor: the base tensor it changes and its LoRA pair.
#[derive(Clone, Debug)]
pub struct LoraPair {
    /// The base tensor, e.g. `model.layers.3.self_attn.q_proj.weight`.
    pub target: String,
    /// `(out, in)`: the shape the base tensor must have.
    pub shape: [usize; 2],
    /// The pair's rank.
    pub rank: usize,
    /// The factor the update `B·A` is multiplied by.
    pub scale: f64,
    a: TensorSpan,
    b: TensorSpan,
}

/// An opened and checked PEFT LoRA adapter folder.
#[derive(Debug)]
pub struct PeftAdapter {
    dir: PathBuf,
    config: LoraAdapterConfig,
    base_model: Option<String>,
    file: SafetensorsFile,
    pairs: Vec<LoraPair>,
}

impl PeftAdapter {
    /// Opens `dir`, checking the config and every tensor of the weights file.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(WeightsError::folder(
                dir,
                "not a folder (expected a PEFT adapter folder with adapter_config.json and adapter_model.safetensors)",
            ));
        }
        let config_path = dir.join(ADAPTER_CONFIG);
        if !config_path.is_file() {
            return Err(WeightsError::folder(
                dir,
                format!("no {ADAPTER_CONFIG}: not a PEFT adapter folder"),
            ));
        }
        let settings = Settings::load(&config_path)?;
        let weights = dir.join(ADAPTER_WEIGHTS);
        if !weights.is_file() {
            let hint = if dir.join("adapter_model.bin").is_file() {
                " (adapter_model.bin is a pickle and is not read: re-save the adapter with `save_pretrained(..., safe_serialization=True)`)"
            } else {
                ""
            };
            return Err(WeightsError::folder(
                dir,
                format!("no {ADAPTER_WEIGHTS}{hint}"),
            ));
        }
        let file = SafetensorsFile::open(&weights)?;
        let pairs = pairs(&weights, &file, &settings)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config: settings.config,
            base_model: settings.base_model,
            file,
            pairs,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rank, alpha, target modules and base as the config gives them (`base_model` is empty
    /// when the config names none; per-module ranks and scales are in [`PeftAdapter::pairs`]).
    pub fn config(&self) -> &LoraAdapterConfig {
        &self.config
    }

    /// `base_model_name_or_path`, when the config gives one.
    pub fn base_model_name_or_path(&self) -> Option<&str> {
        self.base_model.as_deref()
    }

    /// The hex content hash of the base the adapter was made for, when its writer recorded one.
    pub fn base_content_hash(&self) -> Option<&str> {
        self.file.metadata().get(BASE_HASH_KEY).map(String::as_str)
    }

    /// Every adapted tensor, in name order.
    pub fn pairs(&self) -> &[LoraPair] {
        &self.pairs
    }

    /// The pair adapting base tensor `target`, if any.
    pub fn pair(&self, target: &str) -> Option<&LoraPair> {
        self.pairs
            .binary_search_by(|p| p.target.as_str().cmp(target))
            .ok()
            .map(|i| &self.pairs[i])
    }

    /// `scale · B·A` of `pair`, `(out, in)` row-major, computed in f32 like PEFT's merge.
    pub fn delta(&self, pair: &LoraPair) -> Vec<f32> {
        let [out, inp] = pair.shape;
        let r = pair.rank;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        pair.a.meta.dtype.decode(self.file.bytes(&pair.a), &mut a);
        pair.b.meta.dtype.decode(self.file.bytes(&pair.b), &mut b);
        let scale = pair.scale as f32;
        let mut delta = vec![0f32; out * inp];
        for (o, row) in delta.chunks_mut(inp).enumerate() {
            for (k, &b_ok) in b[o * r..(o + 1) * r].iter().enumerate() {
                for (d, &a_ki) in row.iter_mut().zip(&a[k * inp..(k + 1) * inp]) {
                    *d += b_ok * a_ki;
                }
            }
            for d in row.iter_mut() {
                *d *= scale;
            }
        }
        delta
    }

    /// Every stored tensor as (PEFT key, shape, f32 values), in key order: what
    /// [`write_peft_adapter`](super::write_peft_adapter) takes.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let mut out: Vec<(String, Vec<usize>, Vec<f32>)> = self
            .pairs
            .iter()
            .flat_map(|p| [&p.a, &p.b])
            .map(|span| {
                let mut values = Vec::new();
                span.meta.dtype.decode(self.file.bytes(span), &mut values);
                (span.meta.name.clone(), span.meta.shape.clone(), values)
            })
            .collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    }
}

/// The checked fields of `adapter_config.json`.
struct Settings {
    config: LoraAdapterConfig,
    base_model: Option<String>,
    use_rslora: bool,
    rank_pattern: Vec<(String, usize)>,
    alpha_pattern: Vec<(String, f64)>,
}

impl Settings {
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightsError::io(path, e))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| WeightsError::format(path, format!("not valid JSON: {e}")))?;
        let obj = json
            .as_object()
            .ok_or_else(|| WeightsError::format(path, "expected a JSON object"))?;
        let field = |name: &str, problem: String| WeightsError::Config {
            path: path.to_path_buf(),
            field: name.to_string(),
            problem,
        };
        let get = |name: &str| obj.get(name).filter(|v| !v.is_null());
        let peft_type = get("peft_type").and_then(Value::as_str);
        if peft_type != Some("LORA") {
            return Err(field(
                "peft_type",
                format!(
                    "is {}; only LoRA adapters (\"LORA\") are supported",
                    shown(get("peft_type"))
                ),
            ));
        }
        if let Some(t) = get("task_type") {
            if t.as_str() != Some("CAUSAL_LM") {
                return Err(field(
                    "task_type",
                    format!("is {t}; only causal-LM adapters (\"CAUSAL_LM\") are supported"),
                ));
            }
        }
        let rank = get("r")
            .and_then(Value::as_u64)
            .filter(|r| *r > 0)
            .ok_or_else(|| {
                field(
                    "r",
                    format!("is {}; expected a positive integer", shown(get("r"))),
                )
            })? as usize;
        let alpha = get("lora_alpha").and_then(Value::as_f64).ok_or_else(|| {
            field(
                "lora_alpha",
                format!("is {}; expected a number", shown(get("lora_alpha"))),
            )
        })?;
        let flag = |name: &str| -> Result<bool> {
            match get(name) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(v) => Err(field(name, format!("is {v}; expected true or false"))),
            }
        };
        let use_rslora = flag("use_rslora")?;
        if flag("fan_in_fan_out")? {
            return Err(field(
                "fan_in_fan_out",
                "is true (Conv1D-style transposed weights, e.g. GPT-2); only nn.Linear layouts are supported".into(),
            ));
        }
        if let Some(bias) = get("bias").filter(|b| b.as_str() != Some("none")) {
            return Err(field(
                "bias",
                format!("is {bias}; only \"none\" is supported (trained biases are not applied)"),
            ));
        }
        for name in VARIANT_FIELDS {
            if let Some(v) = get(name).filter(|v| is_set(v)) {
                return Err(field(
                    name,
                    format!("is {v}; this LoRA variant is not supported, only plain LoRA pairs are applied"),
                ));
            }
        }
        match get("init_lora_weights") {
            None | Some(Value::Bool(_)) => {}
            Some(Value::String(s)) if PLAIN_INITS.contains(&s.as_str()) => {}
            Some(v) => {
                return Err(field(
                    "init_lora_weights",
                    format!("is {v}; this initialisation rewrites the base weights, which the adapter folder does not hold (convert it to a plain LoRA with PEFT's `path_initial_model_for_weight_conversion`)"),
                ))
            }
        }
        let target_modules = match get("target_modules") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| field("target_modules", "expected a list of module names".into()))?,
            Some(v) => {
                return Err(field(
                    "target_modules",
                    format!("is {v}; expected a list of module names or a regex"),
                ))
            }
        };
        let rank_pattern = pattern(obj, "rank_pattern", |v| {
            v.as_u64().filter(|r| *r > 0).map(|r| r as usize)
        })
        .map_err(|p| field("rank_pattern", p))?;
        let alpha_pattern =
            pattern(obj, "alpha_pattern", Value::as_f64).map_err(|p| field("alpha_pattern", p))?;
        let base_model = get("base_model_name_or_path")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Self {
            config: LoraAdapterConfig {
                rank,
                alpha,
                target_modules,
                base_model: base_model.clone().unwrap_or_default(),
            },
            base_model,
            use_rslora,
            rank_pattern,
            alpha_pattern,
        })
    }

    /// The rank and scale of `module`, with the patterns applied as PEFT applies them.
    fn rank_and_scale(&self, module: &str) -> std::result::Result<(usize, f64), String> {
        let rank =
            matching("rank_pattern", &self.rank_pattern, module)?.unwrap_or(self.config.rank);
        let alpha =
            matching("alpha_pattern", &self.alpha_pattern, module)?.unwrap_or(self.config.alpha);
        let scale = if self.use_rslora {
            alpha / (rank as f64).sqrt()
        } else {
            alpha / rank as f64
        };
        Ok((rank, scale))
    }
}

/// A pattern map (`rank_pattern`, `alpha_pattern`). PEFT treats each key as a regex matched
/// against the end of a module's path; only keys that are plain module-path text are taken,
/// matched literally, since a regex engine is not worth carrying for a rarely used field.
fn pattern<T>(
    obj: &Map<String, Value>,
    name: &str,
    value: impl Fn(&Value) -> Option<T>,
) -> std::result::Result<Vec<(String, T)>, String> {
    let Some(v) = obj.get(name).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let map = v
        .as_object()
        .ok_or_else(|| format!("is {v}; expected a mapping of module names to values"))?;
    map.iter()
        .map(|(key, v)| {
            let plain = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !plain {
                return Err(format!(
                    "key `{key}` is a regex; only plain module names or paths are supported"
                ));
            }
            let v = value(v).ok_or_else(|| format!("`{key}` has value {v}, not a valid number"))?;
            Ok((key.clone(), v))
        })
        .collect()
}

/// The value of the pattern key matching `module` (the whole path, or its end after a dot).
fn matching<T: Copy + PartialEq + std::fmt::Display>(
    name: &str,
    pattern: &[(String, T)],
    module: &str,
) -> std::result::Result<Option<T>, String> {
    let mut found: Option<(&str, T)> = None;
    for (key, v) in pattern {
        let hit = module == key
            || module
                .strip_suffix(key.as_str())
                .is_some_and(|head| head.ends_with('.'));
        if !hit {
            continue;
        }
        // PEFT takes the first matching key in file order, which a JSON map does not keep.
        if let Some((other, w)) = found.filter(|(_, w)| *w != *v) {
            return Err(format!(
                "`{name}` keys `{other}` ({w}) and `{key}` ({v}) both match module `{module}`; which wins depends on key order, so it is refused"
            ));
        }
        found = Some((key, *v));
    }
    Ok(found.map(|(_, v)| v))
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "missing".to_string(), Value::to_string)
}

/// Pairs every `lora_A` with its `lora_B` and checks their shapes against the ranks.
fn pairs(path: &Path, file: &SafetensorsFile, settings: &Settings) -> Result<Vec<LoraPair>> {
    let bad = |problem: String| WeightsError::format(path, problem);
    let mut by_module: BTreeMap<&str, [Option<&TensorSpan>; 2]> = BTreeMap::new();
    for span in file.spans() {
        let key = span.meta.name.as_str();
        let Some((module, factor)) = split_key(key) else {
            let why = if key.contains("lora_embedding_") {
                "embedding adapters are not supported"
            } else if key.contains("lora_magnitude_vector") {
                "DoRA is not supported"
            } else if key.ends_with(".bias") {
                "LoRA biases are not supported"
            } else {
                "not a LoRA factor"
            };
            return Err(bad(format!(
                "tensor `{key}`: {why}; expected only `base_model.model.<module>.lora_A.weight` and `...lora_B.weight`"
            )));
        };
        by_module.entry(module).or_default()[factor as usize] = Some(span);
    }
    if by_module.is_empty() {
        return Err(bad("holds no LoRA tensors".into()));
    }
    let mut pairs = Vec::with_capacity(by_module.len());
    for (module, [a, b]) in by_module {
        let key = |f: &str| format!("base_model.model.{module}.lora_{f}.weight");
        let (Some(a), Some(b)) = (a, b) else {
            let (has, lacks) = if a.is_some() { ("A", "B") } else { ("B", "A") };
            return Err(bad(format!(
                "tensor `{}` has no partner `{}`: every lora_A needs its lora_B",
                key(has),
                key(lacks)
            )));
        };
        let (rank, scale) = settings
            .rank_and_scale(module)
            .map_err(|p| WeightsError::Config {
                path: path.with_file_name(ADAPTER_CONFIG),
                field: "rank_pattern/alpha_pattern".into(),
                problem: p,
            })?;
        let (sa, sb) = (&a.meta.shape, &b.meta.shape);
        if sa.len() != 2 || sa[0] != rank {
            return Err(bad(format!(
                "tensor `{}` has shape {sa:?}, expected (r, in) with r = {rank}",
                key("A")
            )));
        }
        if sb.len() != 2 || sb[1] != rank {
            return Err(bad(format!(
                "tensor `{}` has shape {sb:?}, expected (out, r) with r = {rank}",
                key("B")
            )));
        }
        pairs.push(LoraPair {
            target: format!("{module}.weight"),
            shape: [sb[0], sa[1]],
            rank,
            scale,
            a: a.clone(),
            b: b.clone(),
        });
    }
    pairs.sort_by(|x, y| x.target.cmp(&y.target));
    Ok(pairs)
}
