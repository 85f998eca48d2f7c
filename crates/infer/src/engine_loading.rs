//! Loading the engine from whatever the user names (a Hugging Face folder, a GGUF file, a
//! PEFT adapter folder on its base), and the device and compute dtype by name.

use std::path::Path;

use candle_core::{DType, Device};
use cycleqd_weights::ModelInput;

use crate::engine::Engine;
use crate::error::{InferError, Result};
use crate::tokenizer::TextTokenizer;

/// Parses a device name: `cpu` or `cuda:N`.
pub fn parse_device(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = name
        .strip_prefix("cuda")
        .map(|rest| rest.strip_prefix(':').unwrap_or(rest))
        .map(|n| {
            if n.is_empty() {
                Ok(0)
            } else {
                n.parse::<usize>()
            }
        });
    match ordinal {
        Some(Ok(n)) => Device::new_cuda(n).map_err(|e| {
            InferError::Invalid(format!(
                "device {name}: CUDA is not available ({e}); build with the `cuda` feature on a machine with a GPU"
            ))
        }),
        _ => Err(InferError::Invalid(format!(
            "device '{name}' is not a device (use cpu or cuda:N)"
        ))),
    }
}

/// Parses a compute dtype: f32 or bf16.
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        other => Err(InferError::Invalid(format!(
            "compute dtype '{other}' is not supported (use f32 or bf16)"
        ))),
    }
}

/// Loads a Hugging Face folder, a GGUF file or an adapter folder (on the base it names) into
/// the engine.
pub fn load_engine(model: &Path, device: &Device, dtype: DType) -> Result<Engine> {
    load_engine_with_base(model, None, device, dtype)
}

/// Loads `model` into the engine; an adapter folder is applied to `base` when given.
pub fn load_engine_with_base(
    model: &Path,
    base: Option<&Path>,
    device: &Device,
    dtype: DType,
) -> Result<Engine> {
    let input = ModelInput::open_with_base(model, base)?;
    let tokenizer = TextTokenizer::from_companions(&input.companions()?, model)?;
    Engine::from_source(
        &input.config_json(),
        tokenizer,
        input.source(),
        device,
        dtype,
    )
}
