//! TIES (`ties`): how configs name and set task arithmetic with magnitude pruning and sign
//! consensus (the procedure is [`super::TaskArithmetic`]'s).

use super::spec::{MethodSpec, WEIGHT};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, TASK_ARITHMETIC,
};
use super::TaskArithmetic;

/// `ties`: the base and at least one model.
pub static TIES: MethodSpec = MethodSpec {
    name: "ties",
    params: &[
        INT8_MASK,
        normalize(true),
        rescale(false),
        LAMBDA,
        WEIGHT,
        DENSITY,
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::ties(), false),
    ..TASK_ARITHMETIC
};
