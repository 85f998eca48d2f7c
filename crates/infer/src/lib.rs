//! Llama-family causal LMs (llama, SmolLM2, mistral, qwen2, qwen3) on candle: batched generation
//! with a key/value cache, log-likelihood scoring, chat templates, weights from a folder or from
//! memory, and a small SFT trainer.
//!
//! ```no_run
//! use cycleqd_infer::{Device, DType, Engine, GenerationConfig};
//!
//! let engine = Engine::load("model".as_ref(), &Device::Cpu, DType::F32)?;
//! let out = engine.generate(&["The capital of France is"], &GenerationConfig::default())?;
//! println!("{}", out[0].text);
//! # Ok::<(), cycleqd_infer::InferError>(())
//! ```

mod allocator;
mod chat_template;
mod config;
mod engine;
mod engine_loading;
mod error;
mod generate;
mod model;
mod prefault;
mod sampling;
mod score;
mod simd_dispatch;
mod tokenizer;
mod train;
mod vector_math;

pub use candle_core::{DType, Device, Tensor};
pub use chat_template::{ChatTemplate, Message};
pub use config::{ArchConfig, Family, RopeScaling};
pub use engine::Engine;
pub use engine_loading::{load_engine, load_engine_with_base, parse_device, parse_dtype};
pub use error::{InferError, Result};
pub use generate::{
    generate_tokens, generate_tokens_reporting, Generation, GenerationConfig, StopReason,
};
pub use model::{tensor_specs, CausalLm, TensorSpec};
pub use sampling::Sampling;
pub use score::{score_continuations, ContinuationScore};
pub use tokenizer::TextTokenizer;
pub use train::{
    checkpoint_steps, cosine_with_warmup, train_lora, train_lora_with, train_sft,
    train_sft_autograd, train_sft_with, Checkpoints, LoraAdapters, LoraConfig, SftConfig,
    SftExample, StepReport, LORA_MODULES,
};
