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
}

const fn spec(name: &'static str, scope: Scope, kind: Kind, default: DefaultValue) -> ParamSpec {
    ParamSpec {
        name,
        scope,
        kind,
        default,
    }
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
    /// `cycleqd_crossover` (ours)
    CycleqdCrossover,
}

/// Every method, in the order the docs list them.
pub const ALL_METHODS: [MethodKind; 10] = [
    MethodKind::Linear,
    MethodKind::TaskArithmetic,
    MethodKind::Ties,
    MethodKind::DareLinear,
    MethodKind::DareTies,
    MethodKind::Breadcrumbs,
    MethodKind::BreadcrumbsTies,
    MethodKind::Slerp,
    MethodKind::ModelStock,
    MethodKind::CycleqdCrossover,
];

/// mergekit methods this crate does not implement, named so that the error can say so.
const MERGEKIT_ONLY: &[&str] = &[
    "passthrough",
    "della",
    "della_linear",
    "sce",
    "nuslerp",
    "multislerp",
    "karcher",
    "nearswap",
    "arcee_fusion",
    "ram",
    "ramplus_tl",
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
            Self::CycleqdCrossover => "cycleqd_crossover",
        }
    }

    /// Whether the base model is a plain input (linear) rather than the origin of task vectors.
    pub fn base_is_input(self) -> bool {
        self == Self::Linear
    }

    /// Whether a base model is required.
    pub fn needs_base(self) -> bool {
        !self.base_is_input()
    }

    /// The allowed number of models besides the base: (min, max).
    pub fn model_count(self) -> (usize, usize) {
        match self {
            Self::Slerp => (1, 1),
            Self::ModelStock | Self::CycleqdCrossover => (2, usize::MAX),
            _ => (1, usize::MAX),
        }
    }

    /// Whether results depend on a random seed.
    pub fn is_random(self) -> bool {
        matches!(
            self,
            Self::DareLinear | Self::DareTies | Self::CycleqdCrossover
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
            | Self::BreadcrumbsTies => {
                let normalize = self == Self::Ties;
                let rescale = matches!(self, Self::DareLinear | Self::DareTies);
                let mut params = vec![
                    spec("int8_mask", Global, Bool, Flag(false)),
                    spec("normalize", Global, Bool, Flag(normalize)),
                    spec("rescale", Global, Bool, Flag(rescale)),
                    spec("lambda", Global, Float, Number(1.0)),
                    spec("weight", PerModel, Float, Required),
                    spec("density", PerModel, Float, Number(1.0)),
                ];
                if matches!(self, Self::Breadcrumbs | Self::BreadcrumbsTies) {
                    params.push(spec("gamma", PerModel, Float, Number(0.01)));
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
        if MERGEKIT_ONLY.contains(&s) {
            return Err(format!(
                "mergekit's `{s}` is not supported by cycleqd merge; supported: {}",
                known.join(", ")
            ));
        }
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
        assert!("della"
            .parse::<MethodKind>()
            .unwrap_err()
            .contains("not supported"));
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
    }
}
