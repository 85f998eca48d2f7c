//! Turns a config into one merge task per tensor: which inputs play which role, the method
//! with its global parameters and every model's parameters resolved for that tensor (filters,
//! gradients over the layers, defaults), and the output dtype. All of it before any tensor
//! is read, so a config error never surfaces halfway through a merge.

use cycleqd_weights::{DType, TensorMeta, TensorSource};

use crate::config::{
    as_bool, DefaultValue, MergeConfig, MethodKind, ParamSpec, Parameters, Scalar, Scope, Slice,
};
use crate::error::{MergeError, Result};
use crate::methods::{
    draw_crossover_weights, Crossover, Linear, MergeMethod, ModelParams, ModelStock, Slerp,
    TaskArithmetic,
};

/// One output tensor and how to make it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorTask {
    /// Name, shape and output dtype.
    pub meta: TensorMeta,
    /// The method with its global parameters for this tensor.
    pub method: MergeMethod,
    /// Per-model parameters, parallel to [`MergePlan::models`].
    pub params: Vec<ModelParams>,
}

/// A whole merge, resolved tensor by tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct MergePlan {
    /// Index (into the config's models) of the input passed as the base, if the method takes one.
    pub base: Option<usize>,
    /// Indices of the inputs passed as the other models, in order.
    pub models: Vec<usize>,
    /// One task per output tensor, in the base model's tensor order.
    pub tensors: Vec<TensorTask>,
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
        check_layer_cover(config, num_layers)?;
        let method = config.method;
        let (base, models) = if method.base_is_input() {
            (None, (0..config.models.len()).collect())
        } else {
            let base = config.base_index();
            let others: Vec<usize> = (0..config.models.len())
                .filter(|i| Some(*i) != base)
                .collect();
            (base, others)
        };
        let reference = sources[base.unwrap_or(0)];
        let resolver = Resolver { config };
        let mut crossover: Option<(Vec<f64>, [f64; 3])> = None;
        let mut tensors = Vec::with_capacity(reference.metas().len());
        for meta in reference.metas() {
            let (slice, t) = locate(&meta.name, num_layers, &config.slices);
            let slice = &config.slices[slice];
            let at = At {
                tensor: &meta.name,
                t,
                slice,
            };
            let tensor_method = match method {
                MethodKind::CycleqdCrossover => {
                    let key = [
                        resolver.number(&at, "seed")?,
                        resolver.number(&at, "mu")?,
                        resolver.number(&at, "sigma")?,
                    ];
                    let weights = match &crossover {
                        Some((weights, first)) if *first == key => weights.clone(),
                        Some(_) => {
                            return Err(MergeError::tensor(
                                &meta.name,
                                "cycleqd_crossover's seed, mu and sigma must be the same for every tensor (the weights are drawn once per child)",
                            ))
                        }
                        None => {
                            let weights = draw_crossover_weights(key[0] as u64, key[1], key[2], models.len())?;
                            crossover = Some((weights.clone(), key));
                            weights
                        }
                    };
                    MergeMethod::Crossover(Crossover { weights })
                }
                _ => resolver.method(&at)?,
            };
            let params = models
                .iter()
                .map(|&m| resolver.model_params(&at, m))
                .collect::<Result<Vec<_>>>()?;
            let dtypes: Vec<DType> = sources
                .iter()
                .filter_map(|s| s.meta(&meta.name).map(|m| m.dtype))
                .collect();
            tensors.push(TensorTask {
                meta: TensorMeta {
                    dtype: config
                        .out_dtype
                        .or(config.dtype)
                        .unwrap_or_else(|| promote(&dtypes)),
                    ..meta.clone()
                },
                method: tensor_method,
                params,
            });
        }
        Ok(Self {
            base,
            models,
            tensors,
        })
    }
}

/// The dtype that holds every input exactly: the common one, else f32 (as torch promotes).
fn promote(dtypes: &[DType]) -> DType {
    match dtypes.split_first() {
        Some((first, rest)) if rest.iter().all(|d| d == first) => *first,
        _ => DType::F32,
    }
}

fn check_layer_cover(config: &MergeConfig, num_layers: usize) -> Result<()> {
    if let Some((_, end)) = config.slices.last().and_then(|s| s.layers) {
        if end != num_layers {
            return Err(MergeError::Config {
                path: config.path.clone(),
                key: "slices".into(),
                problem: format!(
                    "the slices cover layers 0..{end} but the models have {num_layers} layers; cover every layer exactly once"
                ),
            });
        }
    }
    Ok(())
}

/// The layer a tensor belongs to: the number after a `layers` (or `h`, `blocks`, `layer`)
/// component of its name.
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts
        .windows(2)
        .find(|w| matches!(w[0], "layers" | "h" | "blocks" | "layer"))
        .and_then(|w| w[1].parse().ok())
}

/// The slice whose parameters apply to a tensor, and the tensor's depth t in that slice for
/// gradients: layer i of a slice of n layers has t = i / (n - 1) (t = 1 when n = 1); tensors
/// outside the layers have t = 0 and take the first slice (embeddings) or the last (the rest).
fn locate(name: &str, num_layers: usize, slices: &[Slice]) -> (usize, f64) {
    match layer_index(name) {
        Some(layer) => {
            let found = slices.iter().enumerate().find_map(|(i, s)| {
                let (start, end) = s.layers.unwrap_or((0, num_layers));
                (start..end).contains(&layer).then_some((i, start, end))
            });
            match found {
                Some((i, start, end)) => {
                    let t = if end - start > 1 {
                        (layer - start) as f64 / (end - start - 1) as f64
                    } else {
                        1.0
                    };
                    (i, t)
                }
                None => (slices.len() - 1, 0.0),
            }
        }
        None if name.contains("embed") || name.contains("wte") || name.contains("wpe") => (0, 0.0),
        None => (slices.len() - 1, 0.0),
    }
}

/// Where a parameter is being resolved.
struct At<'a> {
    tensor: &'a str,
    t: f64,
    slice: &'a Slice,
}

struct Resolver<'a> {
    config: &'a MergeConfig,
}

impl Resolver<'_> {
    /// The value of `spec` for the tensor at `at`, for model `model` (None: global), looked up
    /// from the most specific setting to the least: the model's, the slice's, the config's.
    fn scalar(&self, at: &At, spec: &ParamSpec, model: Option<usize>) -> Result<Option<Scalar>> {
        let mut scopes: Vec<&Parameters> = Vec::with_capacity(3);
        if let Some(m) = model {
            scopes.push(&at.slice.model_parameters[m]);
        }
        scopes.push(&at.slice.parameters);
        scopes.push(&self.config.parameters);
        for scope in scopes {
            if let Some(value) = scope
                .get(spec.name)
                .and_then(|s| s.evaluate(at.tensor, at.t))
            {
                crate::config::check_kind(spec.kind, &value).map_err(|e| {
                    MergeError::tensor(at.tensor, format!("{}.{}: {e}", scope.location, spec.name))
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

    fn required(&self, at: &At, name: &str, model: Option<usize>) -> Result<Scalar> {
        let spec = self
            .config
            .method
            .param(name)
            .expect("method parameters are static");
        self.scalar(at, &spec, model)?.ok_or_else(|| {
            let whose = match model {
                Some(m) => format!(
                    " for model {} (set it under {}, or for every model under parameters)",
                    self.config.models[m], self.config.slices[0].model_parameters[m].location
                ),
                None => " (set it under parameters)".to_string(),
            };
            MergeError::tensor(
                at.tensor,
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

    fn method(&self, at: &At) -> Result<MergeMethod> {
        let kind = self.config.method;
        Ok(match kind {
            MethodKind::Linear => MergeMethod::Linear(Linear {
                normalize: self.flag(at, "normalize")?,
            }),
            MethodKind::Slerp => MergeMethod::Slerp(Slerp {
                t: self.number(at, "t")?,
            }),
            MethodKind::ModelStock => MergeMethod::ModelStock(ModelStock {
                filter_wise: self.flag(at, "filter_wise")?,
            }),
            MethodKind::CycleqdCrossover => unreachable!("drawn once per merge by the caller"),
            _ => {
                let defaults = match kind {
                    MethodKind::Ties => TaskArithmetic::ties(),
                    MethodKind::DareLinear => TaskArithmetic::dare_linear(),
                    MethodKind::DareTies => TaskArithmetic::dare_ties(),
                    MethodKind::Breadcrumbs => TaskArithmetic::breadcrumbs(),
                    MethodKind::BreadcrumbsTies => TaskArithmetic::breadcrumbs_ties(),
                    _ => TaskArithmetic::plain(),
                };
                // int8_mask only picks the dtype of mergekit's mask: numerically a no-op.
                self.flag(at, "int8_mask")?;
                MergeMethod::TaskArithmetic(TaskArithmetic {
                    normalize: self.flag(at, "normalize")?,
                    rescale: self.flag(at, "rescale")?,
                    lambda: self.number(at, "lambda")?,
                    seed: if kind.is_random() {
                        self.number(at, "seed")? as u64
                    } else {
                        0
                    },
                    ..defaults
                })
            }
        })
    }

    fn model_params(&self, at: &At, model: usize) -> Result<ModelParams> {
        let mut params = ModelParams::default();
        for spec in self.config.method.params() {
            if spec.scope == Scope::Global {
                continue;
            }
            let value = self
                .required(at, spec.name, Some(model))?
                .as_number()
                .expect("kind checked");
            match spec.name {
                "weight" => params.weight = value,
                "density" => params.density = value,
                "gamma" => params.gamma = value,
                other => unreachable!("per-model parameter `{other}` has no field"),
            }
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn layer_indices() {
        assert_eq!(layer_index("model.layers.12.mlp.up_proj.weight"), Some(12));
        assert_eq!(layer_index("transformer.h.3.attn.c_attn.weight"), Some(3));
        assert_eq!(layer_index("model.embed_tokens.weight"), None);
    }

    #[test]
    fn gradients_follow_layer_depth_and_filters_pick_values() {
        let tmp = models(&["base", "a", "b"]);
        let p = plan(
            &tmp,
            "models:\n  - model: a\n    parameters:\n      weight: [0.2, 0.8]\n  - model: b\n    parameters:\n      weight:\n        - filter: mlp\n          value: 3\n        - value: 1\nbase_model: base\nmerge_method: task_arithmetic\nparameters: {density: 0.5}\n",
        )
        .unwrap();
        assert_eq!((p.base, p.models.clone()), (Some(2), vec![0, 1]));
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
    fn slices_must_reach_the_last_layer() {
        let tmp = models(&["base", "a"]);
        let err = plan(
            &tmp,
            "slices:\n  - sources:\n      - model: base\n        layer_range: [0, 1]\n      - model: a\n        layer_range: [0, 1]\nmerge_method: slerp\nbase_model: base\nparameters: {t: 0.5}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cover layers 0..1") && err.contains("2 layers"),
            "{err}"
        );
    }
}
