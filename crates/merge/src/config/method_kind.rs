//! The merge methods a config can name, and the parameters each accepts (names, scopes,
//! types and defaults follow mergekit 0.1.5; `seed`, and `cycleqd_crossover` entirely, are ours).

use std::fmt;
use std::str::FromStr;

/// Where a parameter is set and to which inputs it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One value for the whole merge (per tensor): under `parameters` of the config or a slice.
    Global,
    /// One value per model other than the base; may also be set globally as a default.
    PerModel,
    /// One value per input, the base included (linear's `weight`).
    PerInput,
}

/// The type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A real number.
    Float,
    /// `true` or `false`.
    Bool,
    /// A non-negative integer.
    Int,
}

/// A default value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DefaultValue {
    /// Must be set.
    Required,
    /// A number.
    Number(f64),
    /// A flag.
    Flag(bool),
}

/// One parameter a method accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Its name in configs.
    pub name: &'static str,
    /// Where it applies.
    pub scope: Scope,
    /// Its type.
    pub kind: Kind,
    /// Its default.
    pub default: DefaultValue,
    /// The closed interval a number must lie in, where values outside make no sense
    /// (a fraction, a tolerance).
    pub range: Option<(f64, f64)>,
}

const fn spec(name: &'static str, scope: Scope, kind: Kind, default: DefaultValue) -> ParamSpec {
    ParamSpec {
        name,
        scope,
        kind,
        default,
        range: None,
    }
}

impl ParamSpec {
    const fn within(self, low: f64, high: f64) -> Self {
        Self {
            range: Some((low, high)),
            ..self
        }
    }
}

/// How a method treats the config's `base_model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseRole {
    /// The base is one more input like the others (mergekit: the base is ignored as such).
    Input,
    /// The base is required: the origin of task vectors or of an interpolation.
    Required,
    /// The base is used when the config names one, and the method also works without.
    Optional,
}

/// A merge method by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    /// `linear`
    Linear,
    /// `task_arithmetic`
    TaskArithmetic,
    /// `ties`
    Ties,
    /// `dare_linear`
    DareLinear,
    /// `dare_ties`
    DareTies,
    /// `breadcrumbs`
    Breadcrumbs,
    /// `breadcrumbs_ties`
    BreadcrumbsTies,
    /// `slerp`
    Slerp,
    /// `model_stock`
    ModelStock,
    /// `passthrough`
    Passthrough,
    /// `della`
    Della,
    /// `della_linear`
    DellaLinear,
    /// `sce`
    Sce,
    /// `nuslerp`
    Nuslerp,
    /// `multislerp`
    Multislerp,
    /// `karcher`
    Karcher,
    /// `nearswap`
    Nearswap,
    /// `arcee_fusion`
    ArceeFusion,
    /// `ram`
    Ram,
    /// `ramplus_tl`
    RamplusTl,
    /// `cycleqd_crossover` (ours)
    CycleqdCrossover,
}

/// Every method, in the order the docs list them.
pub const ALL_METHODS: [MethodKind; 21] = [
    MethodKind::Linear,
    MethodKind::TaskArithmetic,
    MethodKind::Ties,
    MethodKind::DareLinear,
    MethodKind::DareTies,
    MethodKind::Breadcrumbs,
    MethodKind::BreadcrumbsTies,
    MethodKind::Slerp,
    MethodKind::ModelStock,
    MethodKind::Passthrough,
    MethodKind::Della,
    MethodKind::DellaLinear,
    MethodKind::Sce,
    MethodKind::Nuslerp,
    MethodKind::Multislerp,
    MethodKind::Karcher,
    MethodKind::Nearswap,
    MethodKind::ArceeFusion,
    MethodKind::Ram,
    MethodKind::RamplusTl,
    MethodKind::CycleqdCrossover,
];

impl MethodKind {
    /// The name configs use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::TaskArithmetic => "task_arithmetic",
            Self::Ties => "ties",
            Self::DareLinear => "dare_linear",
            Self::DareTies => "dare_ties",
            Self::Breadcrumbs => "breadcrumbs",
            Self::BreadcrumbsTies => "breadcrumbs_ties",
            Self::Slerp => "slerp",
            Self::ModelStock => "model_stock",
            Self::Passthrough => "passthrough",
            Self::Della => "della",
            Self::DellaLinear => "della_linear",
            Self::Sce => "sce",
            Self::Nuslerp => "nuslerp",
            Self::Multislerp => "multislerp",
            Self::Karcher => "karcher",
            Self::Nearswap => "nearswap",
            Self::ArceeFusion => "arcee_fusion",
            Self::Ram => "ram",
            Self::RamplusTl => "ramplus_tl",
            Self::CycleqdCrossover => "cycleqd_crossover",
        }
    }

    /// What the config's base model is to this method (mergekit's input contract).
    pub fn base_role(self) -> BaseRole {
        match self {
            Self::Linear | Self::Passthrough | Self::Karcher => BaseRole::Input,
            Self::Nuslerp | Self::Multislerp => BaseRole::Optional,
            _ => BaseRole::Required,
        }
    }

    /// Whether the base model is a plain input (linear) rather than the origin of task vectors.
    pub fn base_is_input(self) -> bool {
        self.base_role() == BaseRole::Input
    }

    /// Whether a base model is required.
    pub fn needs_base(self) -> bool {
        self.base_role() == BaseRole::Required
    }

    /// The allowed number of models besides the base (for methods whose base is an input,
    /// of all inputs) in each slice: (min, max).
    pub fn model_count(self) -> (usize, usize) {
        match self {
            Self::Slerp | Self::Passthrough | Self::Nearswap | Self::ArceeFusion => (1, 1),
            Self::Nuslerp => (2, 2),
            Self::ModelStock | Self::CycleqdCrossover => (2, usize::MAX),
            _ => (1, usize::MAX),
        }
    }

    /// Whether results depend on a random seed.
    pub fn is_random(self) -> bool {
        matches!(
            self,
            Self::DareLinear
                | Self::DareTies
                | Self::Della
                | Self::DellaLinear
                | Self::CycleqdCrossover
        )
    }

    /// The parameters this method accepts.
    pub fn params(self) -> Vec<ParamSpec> {
        use DefaultValue::{Flag, Number, Required};
        use Kind::{Bool, Float, Int};
        use Scope::{Global, PerInput, PerModel};
        match self {
            Self::Linear => vec![
                spec("weight", PerInput, Float, Required),
                spec("normalize", Global, Bool, Flag(true)),
            ],
            Self::Slerp => vec![spec("t", Global, Float, Required)],
            Self::ModelStock => vec![spec("filter_wise", Global, Bool, Flag(false))],
            // mergekit's default scale is "none"; multiplying by 1 is the same.
            Self::Passthrough => vec![spec("scale", PerInput, Float, Number(1.0))],
            Self::Sce => vec![
                spec("int8_mask", Global, Bool, Flag(false)),
                spec("select_topk", Global, Float, Number(1.0)).within(0.0, 1.0),
            ],
            Self::Nuslerp => vec![
                spec("weight", PerModel, Float, Required),
                spec("nuslerp_row_wise", Global, Bool, Flag(false)),
                spec("nuslerp_flatten", Global, Bool, Flag(true)),
            ],
            Self::Multislerp => vec![
                spec("weight", PerModel, Float, Required),
                spec("normalize_weights", Global, Bool, Flag(true)),
                spec("eps", Global, Float, Number(1e-8)).within(0.0, f64::INFINITY),
            ],
            Self::Karcher => vec![
                spec("max_iter", Global, Int, Number(10.0)),
                spec("tol", Global, Float, Number(1e-5)).within(0.0, f64::INFINITY),
            ],
            Self::Nearswap => vec![spec("t", Global, Float, Required)],
            Self::ArceeFusion => vec![],
            Self::Ram => {
                vec![spec("epsilon", Global, Float, Number(1e-5)).within(0.0, f64::INFINITY)]
            }
            Self::RamplusTl => vec![
                spec("r", Global, Float, Number(0.1)),
                spec("alpha", Global, Float, Number(0.2)),
                spec("epsilon", Global, Float, Number(1e-5)).within(0.0, f64::INFINITY),
            ],
            Self::CycleqdCrossover => vec![
                spec("seed", Global, Int, Number(0.0)),
                spec("mu", Global, Float, Number(0.0)),
                spec("sigma", Global, Float, Number(0.01)),
            ],
            Self::TaskArithmetic
            | Self::Ties
            | Self::DareLinear
            | Self::DareTies
            | Self::Breadcrumbs
            | Self::BreadcrumbsTies
            | Self::Della
            | Self::DellaLinear => {
                let della = matches!(self, Self::Della | Self::DellaLinear);
                let normalize = matches!(self, Self::Ties | Self::Della);
                let rescale = matches!(self, Self::DareLinear | Self::DareTies) || della;
                let density = spec("density", PerModel, Float, Number(1.0));
                let mut params = vec![
                    spec("int8_mask", Global, Bool, Flag(false)),
                    spec("normalize", Global, Bool, Flag(normalize)),
                    spec("rescale", Global, Bool, Flag(rescale)),
                    spec("lambda", Global, Float, Number(1.0)),
                    spec("weight", PerModel, Float, Required),
                    // mergekit lets the older methods treat a density above 1 as 1.
                    if della {
                        density.within(0.0, 1.0)
                    } else {
                        density
                    },
                ];
                if matches!(self, Self::Breadcrumbs | Self::BreadcrumbsTies) {
                    params.push(spec("gamma", PerModel, Float, Number(0.01)));
                }
                if della {
                    params.push(spec("epsilon", PerModel, Float, Number(0.15)).within(0.0, 1.0));
                }
                if self.is_random() {
                    params.push(spec("seed", Global, Int, Number(0.0)));
                }
                params
            }
        }
    }

    /// The spec of parameter `name`, if this method has it.
    pub fn param(self, name: &str) -> Option<ParamSpec> {
        self.params().into_iter().find(|p| p.name == name)
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MethodKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(kind) = ALL_METHODS.iter().find(|k| k.name() == s) {
            return Ok(*kind);
        }
        let known: Vec<&str> = ALL_METHODS.iter().map(|k| k.name()).collect();
        Err(format!(
            "unknown merge method `{s}`; supported: {}",
            known.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ALL_METHODS {
            assert_eq!(kind.name().parse::<MethodKind>().unwrap(), kind);
        }
        assert!("tie"
            .parse::<MethodKind>()
            .unwrap_err()
            .contains("unknown merge method `tie`"));
    }

    #[test]
    fn mergekit_defaults() {
        let default = |kind: MethodKind, name| kind.param(name).unwrap().default;
        assert_eq!(
            default(MethodKind::Ties, "normalize"),
            DefaultValue::Flag(true)
        );
        assert_eq!(
            default(MethodKind::DareTies, "normalize"),
            DefaultValue::Flag(false)
        );
        assert_eq!(
            default(MethodKind::DareLinear, "rescale"),
            DefaultValue::Flag(true)
        );
        assert_eq!(
            default(MethodKind::Breadcrumbs, "gamma"),
            DefaultValue::Number(0.01)
        );
        assert!(MethodKind::Ties.param("gamma").is_none());
        assert!(MethodKind::Ties.param("seed").is_none());
        assert_eq!(
            default(MethodKind::Della, "normalize"),
            DefaultValue::Flag(true)
        );
        assert_eq!(
            default(MethodKind::DellaLinear, "normalize"),
            DefaultValue::Flag(false)
        );
        assert_eq!(
            default(MethodKind::DellaLinear, "rescale"),
            DefaultValue::Flag(true)
        );
        assert_eq!(
            default(MethodKind::Della, "epsilon"),
            DefaultValue::Number(0.15)
        );
        assert_eq!(
            MethodKind::Della.param("epsilon").unwrap().scope,
            Scope::PerModel
        );
        assert_eq!(
            MethodKind::Ram.param("epsilon").unwrap().scope,
            Scope::Global
        );
        assert_eq!(
            default(MethodKind::RamplusTl, "r"),
            DefaultValue::Number(0.1)
        );
        assert_eq!(
            default(MethodKind::RamplusTl, "alpha"),
            DefaultValue::Number(0.2)
        );
        assert_eq!(
            default(MethodKind::Sce, "select_topk"),
            DefaultValue::Number(1.0)
        );
        assert_eq!(
            default(MethodKind::Nuslerp, "nuslerp_flatten"),
            DefaultValue::Flag(true)
        );
        assert_eq!(
            default(MethodKind::Multislerp, "eps"),
            DefaultValue::Number(1e-8)
        );
        assert_eq!(
            default(MethodKind::Karcher, "max_iter"),
            DefaultValue::Number(10.0)
        );
        assert_eq!(default(MethodKind::Nearswap, "t"), DefaultValue::Required);
        assert!(MethodKind::ArceeFusion.params().is_empty());
        assert_eq!(MethodKind::Nuslerp.base_role(), BaseRole::Optional);
        assert_eq!(MethodKind::Karcher.base_role(), BaseRole::Input);
        assert_eq!(MethodKind::Passthrough.model_count(), (1, 1));
        assert_eq!(MethodKind::Nuslerp.model_count(), (2, 2));
        assert!(MethodKind::Della.is_random() && !MethodKind::Sce.is_random());
    }
}
