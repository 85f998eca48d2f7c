//! DARE (`dare_linear`, `dare_ties`): how configs name and set task arithmetic with random
//! pruning and L1 rescaling (the procedure is [`super::TaskArithmetic`]'s).

use super::spec::{MethodSpec, WEIGHT};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, SEED, TASK_ARITHMETIC,
};
use super::TaskArithmetic;

/// `dare_linear`: the base and at least one model.
pub static DARE_LINEAR: MethodSpec = MethodSpec {
    name: "dare_linear",
    params: &[
        INT8_MASK,
        normalize(false),
        rescale(true),
        LAMBDA,
        WEIGHT,
        DENSITY,
        SEED,
    ],
    build: |p, _| build_task_vector_method(p, TaskArithmetic::dare_linear(), true),
    ..TASK_ARITHMETIC
};

/// `dare_ties`: as `dare_linear`, with TIES' sign consensus.
pub static DARE_TIES: MethodSpec = MethodSpec {
    name: "dare_ties",
    build: |p, _| build_task_vector_method(p, TaskArithmetic::dare_ties(), true),
    ..DARE_LINEAR
};
