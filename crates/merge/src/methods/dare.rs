//! DARE (`dare_linear`, `dare_ties`): how configs name and set task arithmetic with random
//! pruning and L1 rescaling (the procedure is [`super::TaskArithmetic`]'s).

use super::spec::{BaseRole, MethodSpec};
use super::task_arithmetic::{
    build_task_vector_method, normalize, rescale, DENSITY, INT8_MASK, LAMBDA, SEED, WEIGHT,
};
use super::TaskArithmetic;

/// `dare_linear`: the base and at least one model.
pub static DARE_LINEAR: MethodSpec = MethodSpec {
    name: "dare_linear",
    base: BaseRole::Required,
    models: (1, usize::MAX),
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
    check_model: None,
    once_per_merge: None,
};

/// `dare_ties`: as `dare_linear`, with TIES' sign consensus.
pub static DARE_TIES: MethodSpec = MethodSpec {
    name: "dare_ties",
    build: |p, _| build_task_vector_method(p, TaskArithmetic::dare_ties(), true),
    ..DARE_LINEAR
};
