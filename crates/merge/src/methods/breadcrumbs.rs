//! Breadcrumbs (`breadcrumbs`, `breadcrumbs_ties`): how configs name and set task arithmetic
//! that drops outliers and small entries (the procedure is [`super::TaskArithmetic`]'s).

use super::spec::{spec, BaseRole, DefaultValue, Kind, MethodSpec, Scope};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, WEIGHT,
};
use super::TaskArithmetic;

/// `breadcrumbs`: the base and at least one model.
pub static BREADCRUMBS: MethodSpec = MethodSpec {
    name: "breadcrumbs",
    base: BaseRole::Required,
    models: (1, usize::MAX),
    params: &[
        INT8_MASK,
        normalize(false),
        rescale(false),
        LAMBDA,
        WEIGHT,
        DENSITY,
        spec(
            "gamma",
            Scope::PerModel,
            Kind::Float,
            DefaultValue::Number(0.01),
        ),
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::breadcrumbs(), false),
    check_model: None,
    once_per_merge: None,
};

/// `breadcrumbs_ties`: as `breadcrumbs`, with TIES' sign consensus.
pub static BREADCRUMBS_TIES: MethodSpec = MethodSpec {
    name: "breadcrumbs_ties",
    build: |p, _| build_task_vector_method(p, TaskArithmetic::breadcrumbs_ties(), false),
    ..BREADCRUMBS
};
