//! What a merge method is to configs: its name, how it takes the base and the models, the
//! parameters it accepts (names, scopes, types, defaults, ranges follow mergekit 0.1.5) and how
//! its [`MergeMethod`] is built from resolved parameters. Each method's file holds its spec;
//! [`super::METHODS`] lists them.

use std::fmt;

use super::{MergeMethod, ModelParams};
use crate::error::Result;

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

/// A parameter with no range.
pub(crate) const fn spec(
    name: &'static str,
    scope: Scope,
    kind: Kind,
    default: DefaultValue,
) -> ParamSpec {
    ParamSpec {
        name,
        scope,
        kind,
        default,
        range: None,
    }
}

/// `weight`: one required number per model, as most methods take it (`linear` takes one per
/// input, its base included).
pub(crate) const WEIGHT: ParamSpec = spec(
    "weight",
    Scope::PerModel,
    Kind::Float,
    DefaultValue::Required,
);

impl ParamSpec {
    /// The same parameter, its values limited to [low, high].
    pub(crate) const fn within(self, low: f64, high: f64) -> Self {
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

/// A method's global parameters, resolved for one tensor, as its constructor reads them.
pub trait GlobalParams {
    /// The number `name` (a float or integer parameter).
    fn number(&self, name: &str) -> Result<f64>;
    /// The flag `name`.
    fn flag(&self, name: &str) -> Result<bool>;
}

/// Builds a method for one tensor from its global parameters and the number of models
/// besides the base.
pub type Build = fn(&dyn GlobalParams, usize) -> Result<MergeMethod>;

/// Checks one model's resolved parameters together (where each alone may be valid).
pub type CheckModel = fn(&ModelParams) -> std::result::Result<(), String>;

/// A merge method as configs name it.
#[derive(Clone, Copy, Debug)]
pub struct MethodSpec {
    /// The name configs use (mergekit's).
    pub name: &'static str,
    /// What the config's base model is to this method (mergekit's input contract).
    pub base: BaseRole,
    /// The allowed number of models besides the base (for methods whose base is an input,
    /// of all inputs) in each slice: (min, max).
    pub models: (usize, usize),
    /// The parameters it accepts, in the order they are listed to users.
    pub params: &'static [ParamSpec],
    /// Its constructor.
    pub build: Build,
    /// A check of each model's parameters together, if it has one.
    pub check_model: Option<CheckModel>,
    /// Set for a method built once per merge: its global parameters and the number of models
    /// must be the same for every tensor; the text says so to the user.
    pub once_per_merge: Option<&'static str>,
}

impl MethodSpec {
    /// Whether the base model is a plain input (linear) rather than the origin of task vectors.
    pub fn base_is_input(&self) -> bool {
        self.base == BaseRole::Input
    }

    /// Whether a base model is required.
    pub fn needs_base(&self) -> bool {
        self.base == BaseRole::Required
    }

    /// Whether results depend on a random seed.
    pub fn is_random(&self) -> bool {
        self.param("seed").is_some()
    }

    /// The spec of parameter `name`, if this method has it.
    pub fn param(&self, name: &str) -> Option<ParamSpec> {
        self.params.iter().find(|p| p.name == name).copied()
    }
}

/// Methods are equal when their names are: the registry holds one spec per name.
impl PartialEq for MethodSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl fmt::Display for MethodSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
