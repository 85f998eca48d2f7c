//! `cycleqd merge` configs: mergekit's YAML format (models or slices, base_model, merge_method,
//! parameters per model and global with filters and gradients, dtype, out_dtype, tokenizer
//! source), read and checked up front. Keys that mergekit knows but this crate does not
//! support are refused by name, as are unknown keys.

mod model_ref;
mod setting;

use std::path::{Path, PathBuf};

use cycleqd_weights::{is_peft_adapter, DType};
use serde_norway::{Mapping, Value};

pub use model_ref::ModelRef;
pub use setting::{Conditional, Scalar, Setting};

use crate::error::{MergeError, Result};
use crate::methods::{find_method, Kind, MethodSpec, ParamSpec, Scope};
use setting::key_text;

/// Top-level keys this reader understands.
const TOP_KEYS: &[&str] = &[
    "merge_method",
    "models",
    "slices",
    "base_model",
    "parameters",
    "dtype",
    "out_dtype",
    "tokenizer_source",
    "tokenizer",
];

/// Top-level mergekit keys with no support here, with the reason given to the user.
const UNSUPPORTED_TOP_KEYS: &[(&str, &str)] = &[
    ("modules", "multi-module models are not supported; use `models` or `slices`"),
    ("chat_template", "chat templates are not rewritten; the output gets the base model's tokenizer files as they are"),
];

/// A checked merge config.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeConfig {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The merge method.
    pub method: &'static MethodSpec,
    /// The base model, if the config names one.
    pub base_model: Option<ModelRef>,
    /// Every input model, once, in order of first mention; a base model that a `models`
    /// config names only as `base_model` comes last (as mergekit adds it).
    pub models: Vec<ModelRef>,
    /// Layer slices in order; a `models` config is one slice over all layers.
    pub slices: Vec<Slice>,
    /// Global parameters.
    pub parameters: Parameters,
    /// Default output dtype (mergekit: the dtype computed in; here arithmetic is always f32).
    pub dtype: Option<DType>,
    /// Output dtype; wins over `dtype`.
    pub out_dtype: Option<DType>,
}

/// A run of output layers merged from the same layers of each source, with its own
/// parameters. A `models` config is one slice over all layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// The inputs, in config order; every source spans the same number of layers.
    pub sources: Vec<SliceSource>,
    /// Parameters of the slice, for every source.
    pub parameters: Parameters,
}

/// One input of a slice.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceSource {
    /// Index into [`MergeConfig::models`].
    pub model: usize,
    /// Layers `[start, end)` of that model; `None` for all of them (a `models` config).
    pub layers: Option<(usize, usize)>,
    /// The source's own parameters.
    pub parameters: Parameters,
}

impl Slice {
    /// The number of layers each source contributes (`None`: all of the models' layers).
    pub fn depth(&self) -> Option<usize> {
        self.sources[0].layers.map(|(start, end)| end - start)
    }

    /// The source reading model `model`, if the slice has one.
    pub fn source_of(&self, model: usize) -> Option<&SliceSource> {
        self.sources.iter().find(|s| s.model == model)
    }
}

/// The parameter settings written at one place of a config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parameters {
    /// Where they were written, e.g. `models[1].parameters` (for messages).
    pub location: String,
    /// Name and setting, in the order written.
    pub settings: Vec<(String, Setting)>,
}

impl Parameters {
    /// The setting of `name`, if written here.
    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

impl MergeConfig {
    /// Reads a YAML config file; relative model paths are taken relative to `relative_to`
    /// (the `cycleqd merge` command passes the working directory, as mergekit does).
    pub fn load(path: &Path, relative_to: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MergeError::Config {
            path: path.to_path_buf(),
            key: "(file)".into(),
            problem: format!("cannot read: {e}"),
        })?;
        Self::from_yaml(&text, path, relative_to)
    }

    /// Parses YAML text; `path` is used in messages only.
    pub fn from_yaml(text: &str, path: &Path, relative_to: &Path) -> Result<Self> {
        let reader = Reader {
            path: path.to_path_buf(),
            relative_to: relative_to.to_path_buf(),
        };
        let doc: Value = serde_norway::from_str(text)
            .map_err(|e| reader.error("(document)", format!("not valid YAML: {e}")))?;
        reader.config(&doc)
    }

    /// The index of the base model in [`MergeConfig::models`].
    pub fn base_index(&self) -> Option<usize> {
        let base = self.base_model.as_ref()?;
        self.models.iter().position(|m| m == base)
    }
}

/// Reads one document, knowing where it came from.
struct Reader {
    path: PathBuf,
    relative_to: PathBuf,
}

impl Reader {
    fn error(&self, key: &str, problem: impl Into<String>) -> MergeError {
        MergeError::Config {
            path: self.path.clone(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    fn config(&self, doc: &Value) -> Result<MergeConfig> {
        let top = doc.as_mapping().ok_or_else(|| {
            self.error(
                "(document)",
                "expected a mapping of keys such as merge_method, models, base_model",
            )
        })?;
        for (k, _) in top {
            let key = key_text(k);
            if let Some((_, why)) = UNSUPPORTED_TOP_KEYS.iter().find(|(name, _)| *name == key) {
                return Err(self.error(&key, format!("not supported: {why}")));
            }
            if !TOP_KEYS.contains(&key.as_str()) {
                return Err(self.error(
                    &key,
                    format!("unknown key; expected one of {}", TOP_KEYS.join(", ")),
                ));
            }
        }
        let get = |key: &str| top.get(key).filter(|v| !v.is_null());
        let method = get("merge_method")
            .ok_or_else(|| {
                self.error(
                    "merge_method",
                    "missing: name the merge method, e.g. `merge_method: ties`",
                )
            })?
            .as_str()
            .ok_or_else(|| self.error("merge_method", "expected a method name"))
            .and_then(|name| {
                find_method(name).map_err(|e| self.error("merge_method", e.to_string()))
            })?;
        let base_model = get("base_model")
            .map(|v| self.model_path("base_model", v))
            .transpose()?;
        let dtype = get("dtype").map(|v| self.dtype("dtype", v)).transpose()?;
        let out_dtype = get("out_dtype")
            .map(|v| self.dtype("out_dtype", v))
            .transpose()?;
        self.tokenizer(top, base_model.as_ref())?;
        let parameters = match get("parameters") {
            Some(v) => self.parameters("parameters", v, method, false)?,
            None => Parameters {
                location: "parameters".into(),
                settings: Vec::new(),
            },
        };
        let (models, slices) = match (get("models"), get("slices")) {
            (Some(_), Some(_)) => {
                return Err(self.error("slices", "give either `models` or `slices`, not both"))
            }
            (None, None) => {
                return Err(self.error(
                    "models",
                    "missing: list the models to merge under `models` (or `slices`)",
                ))
            }
            (Some(models), None) => self.models(models, method, base_model.as_ref())?,
            (None, Some(slices)) => self.slices(slices, method, base_model.as_ref())?,
        };
        let config = MergeConfig {
            path: self.path.clone(),
            method,
            base_model,
            models,
            slices,
            parameters,
            dtype,
            out_dtype,
        };
        self.check_inputs(&config)?;
        Ok(config)
    }

    fn check_inputs(&self, config: &MergeConfig) -> Result<()> {
        let method = config.method;
        if method.needs_base() && config.base_model.is_none() {
            return Err(self.error(
                "base_model",
                format!("missing: `{method}` merges task vectors relative to a base model"),
            ));
        }
        let takes_base = config.base_model.is_some() && !method.base_is_input();
        let base = config.base_index();
        for (s, slice) in config.slices.iter().enumerate() {
            let key = if slice.depth().is_some() {
                format!("slices[{s}].sources")
            } else {
                "models".to_string()
            };
            let has_base = takes_base && base.is_some_and(|b| slice.source_of(b).is_some());
            if takes_base && !has_base {
                return Err(self.error(
                    "base_model",
                    format!("with `slices`, the base model must be one of each slice's sources (as in mergekit); slices[{s}] does not read it"),
                ));
            }
            let others = slice.sources.len() - usize::from(has_base);
            let (min, max) = method.models;
            if others < min || others > max {
                let want = match (min, max) {
                    (a, b) if a == b => format!("exactly {a}"),
                    (a, usize::MAX) => format!("at least {a}"),
                    (a, b) => format!("{a} to {b}"),
                };
                let besides = if method.base_is_input() {
                    ""
                } else {
                    " besides the base"
                };
                return Err(self.error(
                    &key,
                    format!("`{method}` merges {want} model(s){besides}, the config has {others}"),
                ));
            }
        }
        Ok(())
    }

    fn tokenizer(&self, top: &Mapping, base: Option<&ModelRef>) -> Result<()> {
        let is_base = |v: &Value| match v.as_str() {
            Some("base") => Ok(true),
            Some("union") => Ok(false),
            // An adapter never changes the vocabulary: the base's model folder is its tokenizer.
            Some(other) => Ok(base.is_some_and(|b| self.resolve(other) == b.path)),
            None => Err(()),
        };
        let explain = "only the base model's tokenizer is supported (`tokenizer_source: base`): inputs must share one vocabulary";
        if let Some(v) = top.get("tokenizer_source").filter(|v| !v.is_null()) {
            if !is_base(v)
                .map_err(|_| self.error("tokenizer_source", "expected `base` or a model"))?
            {
                return Err(self.error("tokenizer_source", format!("not supported: {explain}")));
            }
        }
        if let Some(v) = top.get("tokenizer").filter(|v| !v.is_null()) {
            let map = v
                .as_mapping()
                .ok_or_else(|| self.error("tokenizer", "expected a mapping like {source: base}"))?;
            for (k, v) in map {
                let key = format!("tokenizer.{}", key_text(k));
                match key_text(k).as_str() {
                    "source" => {
                        if !is_base(v)
                            .map_err(|_| self.error(&key, "expected `base` or a model"))?
                        {
                            return Err(self.error(&key, format!("not supported: {explain}")));
                        }
                    }
                    "tokens" | "pad_to_multiple_of" => {
                        return Err(self.error(
                            &key,
                            "not supported: vocabularies are never changed by cycleqd merge",
                        ))
                    }
                    _ => return Err(self.error(&key, "unknown key; expected `source`")),
                }
            }
        }
        Ok(())
    }

    fn dtype(&self, key: &str, v: &Value) -> Result<DType> {
        v.as_str()
            .ok_or_else(|| self.error(key, "expected a dtype name such as bfloat16"))?
            .parse()
            .map_err(|e: String| self.error(key, e))
    }

    fn resolve(&self, text: &str) -> PathBuf {
        let p = Path::new(text);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.relative_to.join(p)
        }
    }

    /// A model reference: `PATH`, or `PATH+ADAPTER` split on `+` as mergekit splits it.
    fn model_path(&self, key: &str, v: &Value) -> Result<ModelRef> {
        let text = match v {
            Value::String(s) => s.as_str(),
            Value::Mapping(_) => {
                return Err(self.error(key, "expected a path to a local Hugging Face folder, or MODEL+ADAPTER; model references written as mappings or with revisions are not supported"))
            }
            _ => return Err(self.error(key, "expected a path to a local Hugging Face folder")),
        };
        match text.split('+').collect::<Vec<_>>().as_slice() {
            [model] => Ok(ModelRef::folder(self.folder(key, model)?)),
            [model, adapter] => {
                let path = self.folder(key, model)?;
                let adapter_path = self.resolve(adapter);
                if !is_peft_adapter(&adapter_path) {
                    return Err(self.error(
                        key,
                        format!(
                            "in `{text}`, {} is not a PEFT adapter folder (no adapter_config.json); MODEL+ADAPTER applies a LoRA adapter to MODEL",
                            adapter_path.display()
                        ),
                    ));
                }
                Ok(ModelRef {
                    path,
                    adapter: Some(adapter_path),
                })
            }
            _ => Err(self.error(
                key,
                format!("cannot parse `{text}`: expected MODEL or MODEL+ADAPTER, with one `+`"),
            )),
        }
    }

    fn folder(&self, key: &str, text: &str) -> Result<PathBuf> {
        let path = self.resolve(text);
        if !path.exists() {
            let hint = if text.contains('@') {
                " (`model@revision` references are not supported)"
            } else if !text.starts_with('.')
                && !text.starts_with('/')
                && text.matches('/').count() == 1
            {
                " (hub ids are not downloaded: give the path of a local copy)"
            } else {
                ""
            };
            return Err(self.error(
                key,
                format!("model folder {} does not exist{hint}", path.display()),
            ));
        }
        Ok(path)
    }

    /// One model entry: `{model: PATH, parameters: {...}}` or just `PATH`.
    fn model_entry(
        &self,
        key: &str,
        v: &Value,
        method: &MethodSpec,
        extra: &[&str],
    ) -> Result<(ModelRef, Parameters, Mapping)> {
        if v.is_string() {
            return Ok((
                self.model_path(key, v)?,
                Parameters {
                    location: format!("{key}.parameters"),
                    ..Parameters::default()
                },
                Mapping::new(),
            ));
        }
        let map = v
            .as_mapping()
            .ok_or_else(|| self.error(key, "expected {model: PATH, parameters: {...}}"))?;
        let mut rest = Mapping::new();
        let mut model = None;
        let mut params = Parameters {
            location: format!("{key}.parameters"),
            settings: Vec::new(),
        };
        for (k, v) in map {
            let name = key_text(k);
            match name.as_str() {
                "model" => model = Some(self.model_path(&format!("{key}.model"), v)?),
                "parameters" if !v.is_null() => {
                    params = self.parameters(&format!("{key}.parameters"), v, method, true)?
                }
                "parameters" => {}
                other if extra.contains(&other) => {
                    rest.insert(k.clone(), v.clone());
                }
                _ => {
                    return Err(self.error(
                        &format!("{key}.{name}"),
                        "unknown key; expected `model` and `parameters`",
                    ))
                }
            }
        }
        let model = model.ok_or_else(|| self.error(key, "missing `model`"))?;
        Ok((model, params, rest))
    }

    fn models(
        &self,
        v: &Value,
        method: &MethodSpec,
        base: Option<&ModelRef>,
    ) -> Result<(Vec<ModelRef>, Vec<Slice>)> {
        let list = v.as_sequence().filter(|l| !l.is_empty()).ok_or_else(|| {
            self.error(
                "models",
                "expected a non-empty list of {model: PATH, parameters: {...}}",
            )
        })?;
        let mut models = Vec::new();
        let mut sources = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let key = format!("models[{i}]");
            let (path, parameters, _) = self.model_entry(&key, entry, method, &[])?;
            if models.contains(&path) {
                return Err(self.error(&key, format!("{path} is listed twice")));
            }
            sources.push(SliceSource {
                model: models.len(),
                layers: None,
                parameters,
            });
            models.push(path);
        }
        if let Some(base) = base {
            if !models.contains(base) {
                sources.push(SliceSource {
                    model: models.len(),
                    layers: None,
                    parameters: Parameters {
                        location: "base_model".into(),
                        settings: Vec::new(),
                    },
                });
                models.push(base.clone());
            }
        }
        let slice = Slice {
            sources,
            parameters: Parameters::default(),
        };
        Ok((models, vec![slice]))
    }

    /// `slices`: any layer ranges of any models, as mergekit allows (depth up-scaling,
    /// frankenmerges), as long as the sources of one slice span the same number of layers.
    fn slices(
        &self,
        v: &Value,
        method: &MethodSpec,
        base: Option<&ModelRef>,
    ) -> Result<(Vec<ModelRef>, Vec<Slice>)> {
        let list = v
            .as_sequence()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| self.error("slices", "expected a non-empty list of {sources: [...]}"))?;
        let mut models: Vec<ModelRef> = Vec::new();
        let mut slices = Vec::new();
        for (s, slice) in list.iter().enumerate() {
            let key = format!("slices[{s}]");
            let map = slice
                .as_mapping()
                .ok_or_else(|| self.error(&key, "expected {sources: [...], parameters: {...}}"))?;
            let mut sources = None;
            let mut parameters = Parameters {
                location: format!("{key}.parameters"),
                settings: Vec::new(),
            };
            for (k, v) in map {
                let name = key_text(k);
                let sub = format!("{key}.{name}");
                match name.as_str() {
                    "sources" => sources = Some(v),
                    "parameters" if !v.is_null() => {
                        parameters = self.parameters(&sub, v, method, false)?
                    }
                    "parameters" => {}
                    "base_model" => {
                        if base != Some(&self.model_path(&sub, v)?) {
                            return Err(self.error(&sub, "a per-slice base model is not supported; set the same `base_model` at the top level"));
                        }
                    }
                    "residual_weight" => return Err(self.error(&sub, "not supported")),
                    _ => {
                        return Err(
                            self.error(&sub, "unknown key; expected `sources` and `parameters`")
                        )
                    }
                }
            }
            let list = sources
                .and_then(Value::as_sequence)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    self.error(
                        &format!("{key}.sources"),
                        "expected a non-empty list of {model, layer_range}",
                    )
                })?;
            let mut entries: Vec<SliceSource> = Vec::new();
            for (i, source) in list.iter().enumerate() {
                let skey = format!("{key}.sources[{i}]");
                let (path, parameters, rest) =
                    self.model_entry(&skey, source, method, &["layer_range"])?;
                let (start, end) = rest
                    .get("layer_range")
                    .and_then(Value::as_sequence)
                    .and_then(|l| match l.as_slice() {
                        [a, b] => Some((a.as_u64()? as usize, b.as_u64()? as usize)),
                        _ => None,
                    })
                    .filter(|(a, b)| a < b)
                    .ok_or_else(|| {
                        self.error(
                            &format!("{skey}.layer_range"),
                            "expected [start, end] with start < end",
                        )
                    })?;
                if let Some(first) = entries.first().and_then(|e| e.layers) {
                    if end - start != first.1 - first.0 {
                        return Err(self.error(
                            &format!("{skey}.layer_range"),
                            format!("[{start}, {end}] spans {} layers but sources[0] spans {}: every source of a slice must span the same number of layers", end - start, first.1 - first.0),
                        ));
                    }
                }
                let model = match models.iter().position(|m| *m == path) {
                    Some(m) => m,
                    None => {
                        models.push(path);
                        models.len() - 1
                    }
                };
                if entries.iter().any(|e| e.model == model) {
                    return Err(self.error(&skey, "model listed twice in one slice"));
                }
                entries.push(SliceSource {
                    model,
                    layers: Some((start, end)),
                    parameters,
                });
            }
            slices.push(Slice {
                sources: entries,
                parameters,
            });
        }
        Ok((models, slices))
    }

    /// A `parameters` mapping; `per_model` says it belongs to one model.
    fn parameters(
        &self,
        key: &str,
        v: &Value,
        method: &MethodSpec,
        per_model: bool,
    ) -> Result<Parameters> {
        let map = v
            .as_mapping()
            .ok_or_else(|| self.error(key, "expected a mapping of parameter names to values"))?;
        let mut settings = Vec::new();
        for (k, v) in map {
            let name = key_text(k);
            let pkey = format!("{key}.{name}");
            let spec = method.param(&name).ok_or_else(|| {
                let accepted: Vec<&str> = method.params.iter().map(|p| p.name).collect();
                self.error(
                    &pkey,
                    format!(
                        "`{method}` has no parameter `{name}`; it accepts {}",
                        accepted.join(", ")
                    ),
                )
            })?;
            if per_model && spec.scope == Scope::Global {
                return Err(self.error(&pkey, format!("`{name}` is a global parameter of `{method}`: set it under the top-level `parameters`")));
            }
            let setting = Setting::from_yaml(v).map_err(|e| self.error(&pkey, e))?;
            for scalar in setting.scalars() {
                check_value(&spec, scalar).map_err(|e| self.error(&pkey, e))?;
            }
            settings.push((name, setting));
        }
        Ok(Parameters {
            location: key.to_string(),
            settings,
        })
    }
}

/// Checks that a written scalar is a value of `spec`: of its type and within its range.
pub(crate) fn check_value(spec: &ParamSpec, scalar: &Scalar) -> Result<(), String> {
    check_kind(spec.kind, scalar)?;
    match (spec.range, scalar.as_number()) {
        (Some((low, high)), Some(n)) if n < low || n > high => Err(if high.is_infinite() {
            format!("`{}` must be at least {low}, found {n}", spec.name)
        } else {
            format!("`{}` must be in [{low}, {high}], found {n}", spec.name)
        }),
        _ => Ok(()),
    }
}

/// Checks that a written scalar can be a value of `kind`.
fn check_kind(kind: Kind, scalar: &Scalar) -> Result<(), String> {
    match kind {
        Kind::Float => scalar
            .as_number()
            .filter(|n| n.is_finite())
            .map(|_| ())
            .ok_or_else(|| format!("expected a number, found {scalar}")),
        Kind::Bool => as_bool(scalar)
            .map(|_| ())
            .ok_or_else(|| format!("expected true or false, found {scalar}")),
        Kind::Int => scalar
            .as_number()
            .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u64::MAX as f64)
            .map(|_| ())
            .ok_or_else(|| format!("expected a non-negative integer, found {scalar}")),
    }
}

/// A scalar as a flag, accepting what pydantic's lax mode accepts.
pub(crate) fn as_bool(scalar: &Scalar) -> Option<bool> {
    match scalar {
        Scalar::Bool(b) => Some(*b),
        Scalar::Number(n) if *n == 0.0 || *n == 1.0 => Some(*n == 1.0),
        Scalar::Text(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        Scalar::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// A folder holding empty model folders `names` (the reader only checks they exist).
    fn folders(names: &[&str]) -> TempDir {
        let tmp = TempDir::new().unwrap();
        for n in names {
            std::fs::create_dir(tmp.path().join(n)).unwrap();
        }
        tmp
    }

    fn parse(tmp: &TempDir, yaml: &str) -> Result<MergeConfig> {
        MergeConfig::from_yaml(yaml, Path::new("c.yaml"), tmp.path())
    }

    fn error(tmp: &TempDir, yaml: &str) -> String {
        parse(tmp, yaml).unwrap_err().to_string()
    }

    #[test]
    fn models_config_appends_the_base_last() {
        let tmp = folders(&["a", "b", "base"]);
        let c = parse(
            &tmp,
            "models:\n  - model: a\n    parameters: {weight: 0.3}\n  - b\nbase_model: base\nmerge_method: ties\nparameters: {density: 0.5}\nout_dtype: bfloat16\n",
        )
        .unwrap();
        let names: Vec<_> = c
            .models
            .iter()
            .map(|p| p.path.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "base"]);
        assert_eq!(c.base_index(), Some(2));
        assert_eq!(c.slices.len(), 1);
        assert_eq!(
            c.slices[0].sources[0].parameters.get("weight"),
            Some(&Setting::Scalar(Scalar::Number(0.3)))
        );
        assert!(c.parameters.get("density").is_some());
        assert_eq!(c.out_dtype, Some(DType::BF16));
    }

    #[test]
    fn slices_take_any_ranges_of_one_length_per_slice() {
        let tmp = folders(&["a", "base"]);
        let slice = |a: u32, b: u32, c: u32, d: u32| {
            format!("  - sources:\n      - model: base\n        layer_range: [{a}, {b}]\n      - model: a\n        layer_range: [{c}, {d}]\n")
        };
        let tail = "merge_method: slerp\nbase_model: base\nparameters: {t: 0.5}\n";
        // Overlapping, shifted and repeated ranges are frankenmerges, as in mergekit.
        let ok = parse(
            &tmp,
            &format!("slices:\n{}{}{tail}", slice(0, 2, 1, 3), slice(1, 2, 0, 1)),
        )
        .unwrap();
        let ranges: Vec<Vec<_>> = ok
            .slices
            .iter()
            .map(|s| s.sources.iter().map(|x| (x.model, x.layers)).collect())
            .collect();
        assert_eq!(
            ranges,
            [
                vec![(0, Some((0, 2))), (1, Some((1, 3)))],
                vec![(0, Some((1, 2))), (1, Some((0, 1)))]
            ]
        );
        assert_eq!(ok.base_index(), Some(0));
        let err = error(&tmp, &format!("slices:\n{}{tail}", slice(0, 2, 1, 2)));
        assert!(
            err.contains("slices[0].sources[1].layer_range")
                && err.contains("same number of layers"),
            "{err}"
        );
        let err = error(&tmp, "slices:\n  - sources:\n      - model: a\n        layer_range: [0, 2]\nmerge_method: task_arithmetic\nbase_model: base\n");
        assert!(
            err.contains("base model must be one of each slice's sources"),
            "{err}"
        );
        // Passthrough takes one source per slice, and any number of slices of any models.
        let dus = parse(&tmp, "slices:\n  - sources: [{model: a, layer_range: [0, 2]}]\n  - sources: [{model: base, layer_range: [1, 2]}]\n  - sources: [{model: a, layer_range: [0, 2]}]\nmerge_method: passthrough\n").unwrap();
        assert_eq!(dus.models.len(), 2);
        assert_eq!(
            dus.slices.iter().map(Slice::depth).collect::<Vec<_>>(),
            [Some(2), Some(1), Some(2)]
        );
        let err = error(
            &tmp,
            &format!("slices:\n{}merge_method: passthrough\n", slice(0, 2, 0, 2)),
        );
        assert!(
            err.contains(
                "`slices[0].sources`: `passthrough` merges exactly 1 model(s), the config has 2"
            ),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let tmp = folders(&["a", "base"]);
        let head = "models:\n  - model: a\n    parameters: {weight: 1}\nbase_model: base\n";
        let bare = "models:\n  - model: a\nbase_model: base\n";
        let cases = [
            (
                format!("{head}merge_method: ties\nname: x\n"),
                "`name`: unknown key",
            ),
            (
                format!("{head}merge_method: ties\nchat_template: chatml\n"),
                "`chat_template`: not supported",
            ),
            (
                format!("{head}merge_method: ties\ntokenizer: {{source: union}}\n"),
                "`tokenizer.source`: not supported",
            ),
            (
                format!("{head}merge_method: ties\ndtype: int4\n"),
                "`dtype`: unknown dtype `int4`",
            ),
            (
                format!("{head}merge_method: ties\nparameters: {{lambda: [a, b]}}\n"),
                "`parameters.lambda`: expected a number",
            ),
            (
                format!("{head}merge_method: ties\nparameters: {{normalize: maybe}}\n"),
                "expected true or false",
            ),
            (
                format!("{head}merge_method: dare_ties\nparameters: {{seed: -1}}\n"),
                "non-negative integer",
            ),
            (
                format!("{head}merge_method: ties\nparameters: {{t: 0.5}}\n"),
                "`ties` has no parameter `t`",
            ),
            (
                "models:\n  - model: a\n    parameters: {weight: 1}\nmerge_method: ties\n"
                    .to_string(),
                "`base_model`: missing",
            ),
            (
                "models:\n  - model: a+lora\nmerge_method: linear\n".to_string(),
                "is not a PEFT adapter folder (no adapter_config.json)",
            ),
            (
                "models:\n  - model: a\n  - model: a\nmerge_method: linear\n".to_string(),
                "listed twice",
            ),
            (
                "models: []\nmerge_method: linear\n".to_string(),
                "`models`: expected a non-empty list",
            ),
            ("merge_method: linear\n".to_string(), "`models`: missing"),
            (
                "models:\n  - model: a\n    parameters: {weight: 1, density: 1.5}\nbase_model: base\nmerge_method: della\n".to_string(),
                "`models[0].parameters.density`: `density` must be in [0, 1], found 1.5",
            ),
            (
                format!("{bare}merge_method: sce\nparameters: {{select_topk: 2}}\n"),
                "`parameters.select_topk`: `select_topk` must be in [0, 1], found 2",
            ),
            (
                format!("{bare}merge_method: ram\nparameters: {{epsilon: -1}}\n"),
                "`epsilon` must be at least 0, found -1",
            ),
            (
                format!("{bare}merge_method: karcher\nparameters: {{max_iter: 2.5}}\n"),
                "`parameters.max_iter`: expected a non-negative integer",
            ),
            (
                "models:\n  - model: a\nmerge_method: nearswap\nparameters: {t: 0.1}\n".to_string(),
                "`base_model`: missing: `nearswap`",
            ),
            (
                format!("{head}merge_method: nuslerp\n"),
                "`models`: `nuslerp` merges exactly 2 model(s) besides the base, the config has 1",
            ),
            (
                format!("{bare}merge_method: passthrough\n"),
                "`models`: `passthrough` merges exactly 1 model(s), the config has 2",
            ),
            ("- a\n".to_string(), "expected a mapping"),
        ];
        for (yaml, needle) in cases {
            let err = error(&tmp, &yaml);
            assert!(
                err.contains(needle) && err.contains("c.yaml"),
                "expected `{needle}` in: {err}"
            );
        }
    }

    #[test]
    fn tokenizer_from_the_base_is_accepted() {
        let tmp = folders(&["a", "base"]);
        for extra in [
            "tokenizer_source: base",
            "tokenizer_source: base\n",
            "tokenizer: {source: base}",
        ] {
            let yaml = format!("models:\n  - model: a\n    parameters: {{weight: 1}}\nbase_model: base\nmerge_method: task_arithmetic\n{extra}\n");
            parse(&tmp, &yaml).unwrap();
        }
    }
}
