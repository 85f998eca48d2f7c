//! Every merge method a config can name, in the order the docs list them, and the lookup by
//! name. mergekit 0.1.5 has no method that is missing here; `cycleqd_crossover` is ours.

use thiserror::Error;

use super::spec::MethodSpec;
use super::{
    arcee_fusion, breadcrumbs, crossover, dare, della, karcher, linear, model_stock, multislerp,
    nearswap, nuslerp, passthrough, ram, sce, slerp, task_arithmetic, ties,
};

/// Every method.
pub static METHODS: [&MethodSpec; 21] = [
    &linear::LINEAR,
    &task_arithmetic::TASK_ARITHMETIC,
    &ties::TIES,
    &dare::DARE_LINEAR,
    &dare::DARE_TIES,
    &breadcrumbs::BREADCRUMBS,
    &breadcrumbs::BREADCRUMBS_TIES,
    &slerp::SLERP,
    &model_stock::MODEL_STOCK,
    &passthrough::PASSTHROUGH,
    &della::DELLA,
    &della::DELLA_LINEAR,
    &sce::SCE,
    &nuslerp::NUSLERP,
    &multislerp::MULTISLERP,
    &karcher::KARCHER,
    &nearswap::NEARSWAP,
    &arcee_fusion::ARCEE_FUSION,
    &ram::RAM,
    &ram::RAMPLUS_TL,
    &crossover::CYCLEQD_CROSSOVER,
];

/// A method name that no method has.
#[derive(Debug, Error)]
#[error("unknown merge method `{name}`; supported: {}", METHODS.map(|m| m.name).join(", "))]
pub struct UnknownMethod {
    /// The name asked for.
    pub name: String,
}

/// The method configs call `name`.
pub fn find_method(name: &str) -> Result<&'static MethodSpec, UnknownMethod> {
    METHODS
        .iter()
        .find(|m| m.name == name)
        .copied()
        .ok_or_else(|| UnknownMethod {
            name: name.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::spec::{BaseRole, DefaultValue, Scope};

    fn method(name: &str) -> &'static MethodSpec {
        find_method(name).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for spec in METHODS {
            assert_eq!(find_method(spec.name).unwrap(), spec);
        }
        assert!(find_method("tie")
            .unwrap_err()
            .to_string()
            .contains("unknown merge method `tie`"));
    }

    #[test]
    fn mergekit_defaults() {
        let default = |name: &str, param| method(name).param(param).unwrap().default;
        assert_eq!(default("ties", "normalize"), DefaultValue::Flag(true));
        assert_eq!(default("dare_ties", "normalize"), DefaultValue::Flag(false));
        assert_eq!(default("dare_linear", "rescale"), DefaultValue::Flag(true));
        assert_eq!(default("breadcrumbs", "gamma"), DefaultValue::Number(0.01));
        assert!(method("ties").param("gamma").is_none());
        assert!(method("ties").param("seed").is_none());
        assert_eq!(default("della", "normalize"), DefaultValue::Flag(true));
        assert_eq!(
            default("della_linear", "normalize"),
            DefaultValue::Flag(false)
        );
        assert_eq!(default("della_linear", "rescale"), DefaultValue::Flag(true));
        assert_eq!(default("della", "epsilon"), DefaultValue::Number(0.15));
        assert_eq!(
            method("della").param("epsilon").unwrap().scope,
            Scope::PerModel
        );
        assert_eq!(method("ram").param("epsilon").unwrap().scope, Scope::Global);
        assert_eq!(default("ramplus_tl", "r"), DefaultValue::Number(0.1));
        assert_eq!(default("ramplus_tl", "alpha"), DefaultValue::Number(0.2));
        assert_eq!(default("sce", "select_topk"), DefaultValue::Number(1.0));
        assert_eq!(
            default("nuslerp", "nuslerp_flatten"),
            DefaultValue::Flag(true)
        );
        assert_eq!(default("multislerp", "eps"), DefaultValue::Number(1e-8));
        assert_eq!(default("karcher", "max_iter"), DefaultValue::Number(10.0));
        assert_eq!(default("nearswap", "t"), DefaultValue::Required);
        assert!(method("arcee_fusion").params.is_empty());
        assert_eq!(method("nuslerp").base, BaseRole::Optional);
        assert_eq!(method("karcher").base, BaseRole::Input);
        assert_eq!(method("passthrough").models, (1, 1));
        assert_eq!(method("nuslerp").models, (2, 2));
        assert!(method("della").is_random() && !method("sce").is_random());
    }
}
