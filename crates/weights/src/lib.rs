//! Model folders in and out (Hugging Face safetensors, GGUF, PEFT LoRA adapters) and task vectors.
//!
//! Everything here works a tensor at a time on memory-mapped files, so models larger than RAM
//! can be read, converted and written. Arithmetic on weights is done in f32.

mod byte_size;
mod config;
mod content_hash;
mod dtype;
mod error;
pub mod gguf;
mod gguf_model;
mod hf_folder;
pub mod layer_names;
pub mod llama_names;
mod memory_model;
mod model_copy;
mod model_input;
mod model_writer;
mod peft_adapter;
mod random_model;
mod safetensors_file;
mod task_vector;
mod tensor;

pub use byte_size::ByteSize;
pub use config::ModelConfig;
pub use content_hash::ContentHash;
pub use dtype::DType;
pub use error::{Result, WeightsError};
pub use gguf_model::GgufModel;
pub use hf_folder::{natural_cmp, HfModel, COMPANION_FILES, SINGLE_WEIGHTS, WEIGHTS_INDEX};
pub use memory_model::MemoryModel;
pub use model_copy::{copy_model, CopyOptions};
pub use model_input::ModelInput;
pub use model_writer::ModelWriter;
pub use peft_adapter::{
    is_peft_adapter, write_peft_adapter, AdaptedModel, LoraAdapterConfig, LoraPair, PeftAdapter,
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, BASE_HASH_KEY,
};
pub use random_model::{write_random_llama, LlamaShape};
pub use safetensors_file::{SafetensorsFile, TensorSpan};
pub use task_vector::{check_compatible, task_vector_tensor, TaskVector};
pub use tensor::{Tensor, TensorMeta, TensorSource};
