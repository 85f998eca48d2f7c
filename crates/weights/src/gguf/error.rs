//! The one error type of the GGUF reader: every variant names the file and what was wrong.

use std::path::PathBuf;

/// Why a GGUF file could not be read, mapped or converted.
///
/// Every variant carries the path of the file, so a message is useful on its own.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or memory-mapped.
    #[error("{}: cannot read the file: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said (in the message, so not chained as a source).
        error: std::io::Error,
    },

    /// The first four bytes are not `GGUF`.
    #[error("{}: not a GGUF file: expected the magic bytes \"GGUF\", found {found:?}", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes of the file (fewer than four if the file is that short).
        found: Vec<u8>,
    },

    /// The header's version is not one this reader understands.
    #[error("{}: GGUF version {version} is not supported (this reader handles versions 2 and 3){hint}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version read from the header.
        version: u32,
        /// Extra advice, e.g. that the file looks big-endian; empty when there is none.
        hint: String,
    },

    /// The file ends before a structure it declares.
    #[error(
        "{}: the file is truncated: {what} at byte {offset} needs {needed} bytes, but the file has only {file_len} bytes",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read, e.g. "tensor info #3" or "metadata key #7".
        what: String,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs from there.
        needed: u64,
        /// The file's length.
        file_len: u64,
    },

    /// A structure is present but its content is invalid.
    #[error("{}: invalid {what}: {problem}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was being read, e.g. "metadata key 'general.alignment'".
        what: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A tensor declares a ggml type id this reader does not know at all.
    #[error(
        "{}: tensor '{tensor}' has ggml type id {type_id}, which is not a known ggml type",
        path.display()
    )]
    UnknownTensorType {
        /// The file.
        path: PathBuf,
        /// The tensor's GGUF name.
        tensor: String,
        /// The type id read from the file.
        type_id: u32,
    },

    /// A tensor has a known ggml type that cannot be dequantized to f32 here.
    #[error(
        "{}: tensor '{tensor}' has type {type_name} (ggml type id {type_id}), which cannot be dequantized; supported types: {supported}",
        path.display()
    )]
    UnsupportedTensorType {
        /// The file.
        path: PathBuf,
        /// The tensor's GGUF name.
        tensor: String,
        /// The ggml type id.
        type_id: u32,
        /// The ggml type name, e.g. `IQ2_XXS`.
        type_name: &'static str,
        /// The types that can be dequantized, comma-separated.
        supported: String,
    },

    /// A tensor's data region lies (partly) outside the file.
    #[error(
        "{}: tensor '{tensor}' data occupies bytes {start}..{end}, past the end of the file ({file_len} bytes)",
        path.display()
    )]
    TensorDataOutOfBounds {
        /// The file.
        path: PathBuf,
        /// The tensor's GGUF name.
        tensor: String,
        /// Absolute start of the data in the file.
        start: u64,
        /// Absolute end (exclusive) of the data.
        end: u64,
        /// The file's length.
        file_len: u64,
    },

    /// A metadata key that the conversion needs is absent.
    #[error("{}: required metadata key '{key}' is missing", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key, e.g. `llama.block_count`.
        key: String,
    },

    /// A metadata key holds a value of the wrong type or an unusable value.
    #[error("{}: metadata key '{key}': expected {expected}, found {found}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What was expected, e.g. "an unsigned integer".
        expected: String,
        /// What was found.
        found: String,
    },

    /// The file's architecture or one of its tensors has no Hugging Face counterpart here.
    #[error("{}: cannot convert to Hugging Face format: {problem}", path.display())]
    Unconvertible {
        /// The file.
        path: PathBuf,
        /// What could not be converted and why.
        problem: String,
    },

    /// A tensor was asked for by a name the file does not have.
    #[error("{}: no tensor named '{name}'", path.display())]
    NoSuchTensor {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
    },
}
