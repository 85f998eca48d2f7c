//! TIES (`ties`): how configs name and set task arithmetic with magnitude pruning and sign
//! consensus (the procedure is [`super::TaskArithmetic`]'s).

use super::spec::{BaseRole, MethodSpec};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, WEIGHT,
};
use super::TaskArithmetic;

/// `ties`: the base and at least one model.
pub static TIES: MethodSpec = MethodSpec {
    name: "ties",
    base: BaseRole::Required,
    models: (1, usize::MAX),
    params: &[
        INT8_MASK,
        normalize(true),
        rescale(false),
        LAMBDA,
        WEIGHT,
        DENSITY,
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::ties(), false),
    check_model: None,
    once_per_merge: None,
};
