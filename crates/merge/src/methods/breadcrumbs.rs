//! Breadcrumbs (`breadcrumbs`, `breadcrumbs_ties`): how configs name and set task arithmetic
//! that drops outliers and small entries (the procedure is [`super::TaskArithmetic`]'s).

use super::spec::{spec, DefaultValue, Kind, MethodSpec, Scope, WEIGHT};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, TASK_ARITHMETIC,
};
use super::TaskArithmetic;

/// `breadcrumbs`: the base and at least one model.
pub static BREADCRUMBS: MethodSpec = MethodSpec {
    name: "breadcrumbs",
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
    ..TASK_ARITHMETIC
};

/// `breadcrumbs_ties`: as `breadcrumbs`, with TIES' sign consensus.
pub static BREADCRUMBS_TIES: MethodSpec = MethodSpec {
    name: "breadcrumbs_ties",
    build: |p, _| build_task_vector_method(p, TaskArithmetic::breadcrumbs_ties(), false),
    ..BREADCRUMBS
};
