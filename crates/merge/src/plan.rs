//! Turns a config into one merge task per output tensor: which input tensors play which role
//! (with layer-range slices, output layer l may come from other layers of other models), the
//! method with its global parameters and every model's parameters resolved for that tensor
//! (filters, gradients over the layers, defaults, ranges), and the output dtype. All of it
//! before any tensor is read, so a config error never surfaces halfway through a merge.

use cycleqd_weights::layer_names::{is_input_side, layer_index, with_layer};
use cycleqd_weights::{DType, TensorMeta, TensorSource};

use crate::config::{as_bool, MergeConfig, Parameters, Scalar, Slice, SliceSource};
use crate::error::{MergeError, Result};
use crate::methods::{
    DefaultValue, GlobalParams, Kind, MergeMethod, ModelParams, ParamSpec, Scope,
};

/// One input tensor of a task: which model, and its tensor of which name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInput {
    /// Index into the config's models.
    pub model: usize,
    /// The tensor's name in that model.
    pub tensor: String,
}

/// One output tensor and how to make it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorTask {
    /// Name, shape and output dtype.
    pub meta: TensorMeta,
    /// The method with its global parameters for this tensor.
    pub method: MergeMethod,
    /// The input passed as the base, if the method takes one.
    pub base: Option<TaskInput>,
    /// The inputs passed as the other models, in config order.
    pub models: Vec<TaskInput>,
    /// Per-model parameters, parallel to `models`.
    pub params: Vec<ModelParams>,
}

impl TensorTask {
    /// The base (if any) and then the models.
    pub fn inputs(&self) -> impl Iterator<Item = &TaskInput> {
        self.base.iter().chain(&self.models)
    }
}

/// A whole merge, resolved tensor by tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct MergePlan {
    /// One task per output tensor: the reference model's tensors in its order, layers beyond
    /// its depth after its last layer's.
    pub tensors: Vec<TensorTask>,
    /// Number of layers of the output model.
    pub num_layers: usize,
}

/// Where one output layer comes from: a slice and the layer's offset in it.
#[derive(Clone, Copy, Debug)]
struct OutputLayer {
    slice: usize,
    offset: usize,
}

impl MergePlan {
    /// Resolves `config` for the tensors of `sources` (parallel to `config.models`, already
    /// checked to be compatible), whose models have `num_layers` layers.
    pub fn new(
        config: &MergeConfig,
        sources: &[&dyn TensorSource],
        num_layers: usize,
    ) -> Result<Self> {
        if sources.len() != config.models.len() {
            return Err(MergeError::Invalid(format!(
                "{} sources for {} models in the config",
                sources.len(),
                config.models.len()
            )));
        }
        let layers = output_layers(config, num_layers)?;
        let reference = sources[config.base_index().unwrap_or(0)];
        let mut resolver = Resolver { config, once: None };
        let mut tensors = Vec::with_capacity(reference.metas().len());
        for meta in reference.metas() {
            match layer_index(&meta.name) {
                Some(layer) => {
                    let last = num_layers.saturating_sub(1);
                    for (out, place) in layers.iter().enumerate() {
                        if out.min(last) != layer {
                            continue;
                        }
                        let slice = &config.slices[place.slice];
                        let len = slice.depth().unwrap_or(num_layers);
                        let t = if len > 1 {
                            place.offset as f64 / (len - 1) as f64
                        } else {
                            1.0
                        };
                        let at = At {
                            tensor: with_layer(&meta.name, out),
                            t,
                            slice,
                        };
                        let input = |source: &SliceSource| {
                            let start = source.layers.map_or(0, |(start, _)| start);
                            with_layer(&meta.name, start + place.offset)
                        };
                        tensors.push(resolver.task(meta, &at, sources, &input)?);
                    }
                }
                None => {
                    // Embeddings go with the first slice, the rest (final norm, head) the last.
                    let slice = if is_input_side(&meta.name) {
                        &config.slices[0]
                    } else {
                        &config.slices[config.slices.len() - 1]
                    };
                    let at = At {
                        tensor: meta.name.clone(),
                        t: 0.0,
                        slice,
                    };
                    tensors.push(resolver.task(meta, &at, sources, &|_| meta.name.clone())?);
                }
            }
        }
        Ok(Self {
            tensors,
            num_layers: layers.len(),
        })
    }
}

/// The output layers in order, each with its slice; checks every range against the depth.
fn output_layers(config: &MergeConfig, num_layers: usize) -> Result<Vec<OutputLayer>> {
    let mut layers = Vec::new();
    for (s, slice) in config.slices.iter().enumerate() {
        for (i, source) in slice.sources.iter().enumerate() {
            if let Some((start, end)) = source.layers {
                if end > num_layers {
                    return Err(MergeError::Config {
                        path: config.path.clone(),
                        key: format!("slices[{s}].sources[{i}].layer_range"),
                        problem: format!(
                            "[{start}, {end}] goes past the last layer: the models have {num_layers} layers"
                        ),
                    });
                }
            }
        }
        let len = slice.depth().unwrap_or(num_layers);
        layers.extend((0..len).map(|offset| OutputLayer { slice: s, offset }));
    }
    Ok(layers)
}

/// The dtype that holds every input exactly: the common one, else f32 (as torch promotes).
fn promote(dtypes: &[DType]) -> DType {
    match dtypes.split_first() {
        Some((first, rest)) if rest.iter().all(|d| d == first) => *first,
        _ => DType::F32,
    }
}

/// Where a parameter is being resolved: the output tensor, its depth in its slice, the slice.
struct At<'a> {
    tensor: String,
    t: f64,
    slice: &'a Slice,
}

struct Resolver<'a> {
    config: &'a MergeConfig,
    /// A method built once per merge: built for the first tensor, with the global parameters
    /// and number of models it was built from.
    once: Option<(MergeMethod, Vec<f64>)>,
}

impl Resolver<'_> {
    /// The task of output tensor `at` (shaped like `meta`), reading from each source of the
    /// slice the tensor `input(source)`.
    fn task(
        &mut self,
        meta: &TensorMeta,
        at: &At,
        sources: &[&dyn TensorSource],
        input: &dyn Fn(&SliceSource) -> String,
    ) -> Result<TensorTask> {
        let config = self.config;
        let base_model = match config.method.base_is_input() {
            true => None,
            false => config.base_index(),
        };
        let mut base = None;
        let mut models = Vec::new();
        let mut params = Vec::new();
        for source in &at.slice.sources {
            let tensor = input(source);
            if sources[source.model].meta(&tensor).is_none() {
                return Err(MergeError::tensor(
                    &at.tensor,
                    format!(
                        "input tensor `{tensor}` is not in {}",
                        config.models[source.model]
                    ),
                ));
            }
            let task_input = TaskInput {
                model: source.model,
                tensor,
            };
            if Some(source.model) == base_model {
                base = Some(task_input);
            } else {
                params.push(self.model_params(at, source)?);
                models.push(task_input);
            }
        }
        let method = self.method(at, models.len())?;
        let dtypes: Vec<DType> = base
            .iter()
            .chain(&models)
            .filter_map(|i| sources[i.model].meta(&i.tensor).map(|m| m.dtype))
            .collect();
        Ok(TensorTask {
            meta: TensorMeta {
                name: at.tensor.clone(),
                dtype: config
                    .out_dtype
                    .or(config.dtype)
                    .unwrap_or_else(|| promote(&dtypes)),
                ..meta.clone()
            },
            method,
            base,
            models,
            params,
        })
    }

    /// The method for a tensor with `models` models besides the base. A method built once per
    /// merge is built for the first tensor and must be given the same for every other.
    fn method(&mut self, at: &At, models: usize) -> Result<MergeMethod> {
        let spec = self.config.method;
        let globals = TensorGlobals { resolver: self, at };
        let Some(why) = spec.once_per_merge else {
            return (spec.build)(&globals, models);
        };
        let mut key = Vec::new();
        for param in spec.params.iter().filter(|p| p.scope == Scope::Global) {
            key.push(match param.kind {
                Kind::Bool => f64::from(u8::from(globals.flag(param.name)?)),
                Kind::Float | Kind::Int => globals.number(param.name)?,
            });
        }
        key.push(models as f64);
        match &self.once {
            Some((method, first)) if *first == key => Ok(method.clone()),
            Some(_) => Err(MergeError::tensor(&at.tensor, why)),
            None => {
                let method = (spec.build)(&globals, models)?;
                self.once = Some((method.clone(), key));
                Ok(method)
            }
        }
    }

    /// The value of `spec` for the tensor at `at`, for `source` (None: global), looked up
    /// from the most specific setting to the least: the source's, the slice's, the config's.
    fn scalar(
        &self,
        at: &At,
        spec: &ParamSpec,
        source: Option<&SliceSource>,
    ) -> Result<Option<Scalar>> {
        let mut scopes: Vec<&Parameters> = Vec::with_capacity(3);
        if let Some(source) = source {
            scopes.push(&source.parameters);
        }
        scopes.push(&at.slice.parameters);
        scopes.push(&self.config.parameters);
        for scope in scopes {
            if let Some(value) = scope
                .get(spec.name)
                .and_then(|s| s.evaluate(&at.tensor, at.t))
            {
                crate::config::check_value(spec, &value).map_err(|e| {
                    MergeError::tensor(&at.tensor, format!("{}.{}: {e}", scope.location, spec.name))
                })?;
                return Ok(Some(value));
            }
        }
        Ok(match spec.default {
            DefaultValue::Required => None,
            DefaultValue::Number(n) => Some(Scalar::Number(n)),
            DefaultValue::Flag(b) => Some(Scalar::Bool(b)),
        })
    }

    fn required(&self, at: &At, name: &str, source: Option<&SliceSource>) -> Result<Scalar> {
        let spec = self
            .config
            .method
            .param(name)
            .expect("method parameters are static");
        self.scalar(at, &spec, source)?.ok_or_else(|| {
            let whose = match source {
                Some(s) => format!(
                    " for model {} (set it under {}, or for every model under parameters)",
                    self.config.models[s.model], s.parameters.location
                ),
                None => " (set it under parameters)".to_string(),
            };
            MergeError::tensor(
                &at.tensor,
                format!(
                    "parameter `{name}` of `{}` is not set{whose}",
                    self.config.method
                ),
            )
        })
    }

    fn number(&self, at: &At, name: &str) -> Result<f64> {
        Ok(self
            .required(at, name, None)?
            .as_number()
            .expect("kind checked"))
    }

    fn flag(&self, at: &At, name: &str) -> Result<bool> {
        Ok(as_bool(&self.required(at, name, None)?).expect("kind checked"))
    }

    fn model_params(&self, at: &At, source: &SliceSource) -> Result<ModelParams> {
        let mut params = ModelParams::default();
        for spec in self.config.method.params {
            if spec.scope == Scope::Global {
                continue;
            }
            let value = self
                .required(at, spec.name, Some(source))?
                .as_number()
                .expect("kind checked");
            match spec.name {
                "weight" => params.weight = value,
                "density" => params.density = value,
                "gamma" => params.gamma = value,
                "epsilon" => params.epsilon = value,
                "scale" => params.scale = value,
                other => unreachable!("per-model parameter `{other}` has no field"),
            }
        }
        if let Some(check) = self.config.method.check_model {
            check(&params).map_err(|e| {
                MergeError::tensor(
                    &at.tensor,
                    format!(
                        "model {} ({}): {e}",
                        self.config.models[source.model], source.parameters.location
                    ),
                )
            })?;
        }
        Ok(params)
    }
}

/// The global parameters of the tensor at `at`, as a method's constructor reads them.
struct TensorGlobals<'r, 'a> {
    resolver: &'r Resolver<'a>,
    at: &'r At<'r>,
}

impl GlobalParams for TensorGlobals<'_, '_> {
    fn number(&self, name: &str) -> Result<f64> {
        self.resolver.number(self.at, name)
    }

    fn flag(&self, name: &str) -> Result<bool> {
        self.resolver.flag(self.at, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::{draw_crossover_weights, Crossover, TaskArithmetic};
    use cycleqd_weights::{write_random_llama, HfModel, LlamaShape};
    use std::path::Path;
    use tempfile::TempDir;

    /// Tiny models `names` (2 layers) in a temp folder, f32 unless named `*bf16`.
    fn models(names: &[&str]) -> TempDir {
        let tmp = TempDir::new().unwrap();
        for (i, n) in names.iter().enumerate() {
            let dtype = if n.ends_with("bf16") {
                DType::BF16
            } else {
                DType::F32
            };
            write_random_llama(
                &tmp.path().join(n),
                &LlamaShape::tiny(),
                i as u64,
                dtype,
                u64::MAX,
            )
            .unwrap();
        }
        tmp
    }

    fn plan(tmp: &TempDir, yaml: &str) -> Result<MergePlan> {
        let config = MergeConfig::from_yaml(yaml, Path::new("c.yaml"), tmp.path())?;
        let opened: Vec<HfModel> = config
            .models
            .iter()
            .map(|p| HfModel::open(&p.path).unwrap())
            .collect();
        let sources: Vec<&dyn TensorSource> =
            opened.iter().map(|m| m as &dyn TensorSource).collect();
        MergePlan::new(&config, &sources, 2)
    }

    fn task<'a>(plan: &'a MergePlan, name: &str) -> &'a TensorTask {
        plan.tensors.iter().find(|t| t.meta.name == name).unwrap()
    }

    #[test]
    fn gradients_follow_layer_depth_and_filters_pick_values() {
        let tmp = models(&["base", "a", "b"]);
        let p = plan(
            &tmp,
            "models:\n  - model: a\n    parameters:\n      weight: [0.2, 0.8]\n  - model: b\n    parameters:\n      weight:\n        - filter: mlp\n          value: 3\n        - value: 1\nbase_model: base\nmerge_method: task_arithmetic\nparameters: {density: 0.5}\n",
        )
        .unwrap();
        let head = task(&p, "lm_head.weight");
        assert_eq!(head.base.as_ref().map(|b| b.model), Some(2));
        assert_eq!(
            head.models.iter().map(|m| m.model).collect::<Vec<_>>(),
            [0, 1]
        );
        let weights = |name: &str| {
            task(&p, name)
                .params
                .iter()
                .map(|m| m.weight)
                .collect::<Vec<_>>()
        };
        assert_eq!(weights("model.layers.0.mlp.up_proj.weight"), [0.2, 3.0]);
        assert_eq!(
            weights("model.layers.1.self_attn.q_proj.weight"),
            [0.8, 1.0]
        );
        // Outside the layers t = 0.
        assert_eq!(weights("lm_head.weight"), [0.2, 1.0]);
        assert_eq!(task(&p, "lm_head.weight").params[0].density, 0.5);
    }

    #[test]
    fn slice_parameters_apply_to_their_layers() {
        let tmp = models(&["base", "a"]);
        let p = plan(
            &tmp,
            "slices:\n  - sources:\n      - model: base\n        layer_range: [0, 1]\n      - model: a\n        layer_range: [0, 1]\n    parameters: {t: 0.1}\n  - sources:\n      - model: a\n        layer_range: [1, 2]\n      - model: base\n        layer_range: [1, 2]\nmerge_method: slerp\nbase_model: base\nparameters: {t: 0.7}\n",
        )
        .unwrap();
        let t = |name: &str| match &task(&p, name).method {
            MergeMethod::Slerp(s) => s.t,
            other => panic!("{other:?}"),
        };
        assert_eq!(t("model.layers.0.mlp.up_proj.weight"), 0.1);
        assert_eq!(t("model.layers.1.mlp.up_proj.weight"), 0.7);
        assert_eq!(t("model.embed_tokens.weight"), 0.1);
        assert_eq!(t("model.norm.weight"), 0.7);
    }

    #[test]
    fn output_dtype_is_out_dtype_then_dtype_then_the_inputs() {
        let tmp = models(&["base", "a_bf16", "b_bf16"]);
        let dtype = |extra: &str, models: &str| {
            let p = plan(
                &tmp,
                &format!(
                    "models:\n{models}merge_method: linear\nparameters: {{weight: 1}}\n{extra}"
                ),
            )
            .unwrap();
            p.tensors[0].meta.dtype
        };
        let both = "  - model: a_bf16\n  - model: b_bf16\n";
        let mixed = "  - model: a_bf16\n  - model: base\n";
        assert_eq!(dtype("", both), DType::BF16);
        assert_eq!(dtype("", mixed), DType::F32);
        assert_eq!(dtype("dtype: float16\n", both), DType::F16);
        assert_eq!(
            dtype("dtype: float16\nout_dtype: float32\n", both),
            DType::F32
        );
    }

    #[test]
    fn crossover_weights_are_drawn_once() {
        let tmp = models(&["base", "a", "b"]);
        let p = plan(&tmp, "models:\n  - model: a\n  - model: b\nbase_model: base\nmerge_method: cycleqd_crossover\nparameters: {seed: 9, sigma: 0.5}\n").unwrap();
        let want = draw_crossover_weights(9, 0.0, 0.5, 2).unwrap();
        assert!(p.tensors.iter().all(|t| t.method
            == MergeMethod::Crossover(Crossover {
                weights: want.clone()
            })));
        let err = plan(
            &tmp,
            "models:\n  - model: a\n  - model: b\nbase_model: base\nmerge_method: cycleqd_crossover\nparameters:\n  seed:\n    - filter: mlp\n      value: 1\n    - value: 2\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("same for every tensor"), "{err}");
    }

    #[test]
    fn slices_stack_layers_of_any_models_and_set_the_depth() {
        let tmp = models(&["base", "a"]);
        // Depth up-scaling: layers 0-1 of a, then layer 1 of base, then layers 0-1 of a again.
        let p = plan(
            &tmp,
            "slices:\n  - sources: [{model: a, layer_range: [0, 2]}]\n  - sources: [{model: base, layer_range: [1, 2], parameters: {scale: 0.5}}]\n  - sources: [{model: a, layer_range: [0, 2]}]\nmerge_method: passthrough\n",
        )
        .unwrap();
        assert_eq!(p.num_layers, 5);
        let source = |name: &str| {
            let t = task(&p, name);
            assert!(t.base.is_none());
            (
                t.models[0].model,
                t.models[0].tensor.clone(),
                t.params[0].scale,
            )
        };
        let q = |l: usize| format!("model.layers.{l}.self_attn.q_proj.weight");
        // Models in order of first mention: a is 0, base 1.
        assert_eq!(source(&q(1)), (0, q(1), 1.0));
        assert_eq!(source(&q(2)), (1, q(1), 0.5));
        assert_eq!(source(&q(3)), (0, q(0), 1.0));
        assert_eq!(source(&q(4)), (0, q(1), 1.0));
        // Embeddings from the first slice's model, the head from the last one's.
        assert_eq!(source("model.embed_tokens.weight").0, 0);
        assert_eq!(source("lm_head.weight").0, 0);
        let names: Vec<&str> = p.tensors.iter().map(|t| t.meta.name.as_str()).collect();
        assert_eq!(
            names
                .iter()
                .filter(|n| n.ends_with("q_proj.weight"))
                .count(),
            5
        );
        let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "every output tensor once");

        // Fewer layers than the models have; shifted ranges read other layers per source.
        let p = plan(
            &tmp,
            "slices:\n  - sources:\n      - {model: base, layer_range: [0, 1]}\n      - {model: a, layer_range: [1, 2]}\nmerge_method: slerp\nbase_model: base\nparameters: {t: 0.5}\n",
        )
        .unwrap();
        assert_eq!(p.num_layers, 1);
        let t = task(&p, &q(0));
        assert_eq!(t.base.as_ref().unwrap().tensor, q(0));
        assert_eq!(t.models[0].tensor, q(1));
        assert!(p.tensors.iter().all(|t| !t.meta.name.contains("layers.1.")));
    }

    #[test]
    fn ranges_past_the_last_layer_are_named() {
        let tmp = models(&["base", "a"]);
        let err = plan(
            &tmp,
            "slices:\n  - sources: [{model: a, layer_range: [1, 3]}]\nmerge_method: passthrough\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("slices[0].sources[0].layer_range")
                && err.contains("[1, 3]")
                && err.contains("2 layers"),
            "{err}"
        );
    }

    #[test]
    fn della_density_and_epsilon_are_checked_per_model() {
        let tmp = models(&["base", "a"]);
        let err = plan(
            &tmp,
            "models:\n  - model: a\n    parameters: {weight: 1, density: 0.9, epsilon: 0.2}\nbase_model: base\nmerge_method: della\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("models[0].parameters") && err.contains("lower epsilon"),
            "{err}"
        );
        let p = plan(
            &tmp,
            "models:\n  - model: a\n    parameters: {weight: 1, density: 0.5}\nbase_model: base\nmerge_method: della_linear\nparameters: {seed: 3}\n",
        )
        .unwrap();
        let t = &p.tensors[0];
        assert_eq!((t.params[0].density, t.params[0].epsilon), (0.5, 0.15));
        assert_eq!(
            t.method,
            MergeMethod::TaskArithmetic(TaskArithmetic {
                seed: 3,
                ..TaskArithmetic::della_linear()
            })
        );
    }
}
