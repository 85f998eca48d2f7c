//! The streaming merge driver: one tensor at a time across all inputs, in parallel over
//! tensors, written into a model folder that appears only when complete.
//!
//! Methods that combine inputs entry by entry (linear, task arithmetic and TIES without
//! pruning, the crossover) run over ranges of [`CHUNK`] entries, so a task holds a few
//! megabytes per input plus its encoded output; the others (pruning, SLERP, model stock)
//! need whole tensors. A [`MemoryGate`] keeps the working sets of concurrent tasks within a
//! byte budget, so peak memory is a few tensors times the number of inputs, never a model.
//! Buffers are reused from task to task on each thread.

use std::ops::Range;
use std::path::{Path, PathBuf};

use cycleqd_weights::{ModelWriter, TensorMeta, TensorSource};
use rayon::prelude::*;
use serde_json::Value;

use crate::convert::{decode_into, encode_append};
use crate::error::{MergeError, Result};
use crate::memory_gate::MemoryGate;
use crate::methods::TensorInputs;
use crate::plan::{MergePlan, TensorTask};
use crate::shard_reader::ShardReader;

/// Entries per range for element-wise methods: 256 KiB per input in f32, so that a range's
/// inputs, result and encoding stay in the CPU caches between the steps.
pub const CHUNK: usize = 1 << 16;

/// How to run a merge.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Largest output shard in bytes.
    pub shard_limit: u64,
    /// Bytes of tensor data that concurrent merges may hold at once; `None`: the largest
    /// single task's working set (the biggest tensors then merge one at a time, the rest in
    /// parallel).
    pub memory_budget: Option<u64>,
}

/// Where a task reads its inputs from.
pub(crate) enum Input<'a> {
    /// Positioned reads from safetensors shards (what `cycleqd merge` uses).
    Shards(&'a ShardReader),
    /// Any tensor source: its stored bytes when it has them, else whole tensors.
    Source(&'a dyn TensorSource),
}

impl Input<'_> {
    fn read(
        &self,
        name: &str,
        elements: Range<usize>,
        bytes: &mut Vec<u8>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        match self {
            Self::Shards(reader) => reader.read(name, elements, bytes, out),
            Self::Source(source) => {
                let meta = source.meta(name).ok_or_else(|| {
                    MergeError::Invalid(format!("tensor `{name}` is not in {}", source.describe()))
                })?;
                match source.raw_bytes(name) {
                    Some(raw) => {
                        let size = meta.dtype.size();
                        decode_into(
                            meta.dtype,
                            &raw[elements.start * size..elements.end * size],
                            out,
                        );
                    }
                    None => {
                        let all = source.read_f32(name)?;
                        out.clear();
                        out.extend_from_slice(&all[elements]);
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether a range can be read without reading the whole tensor.
    fn reads_ranges(&self, name: &str) -> bool {
        match self {
            Self::Shards(_) => true,
            Self::Source(source) => source.raw_bytes(name).is_some(),
        }
    }
}

/// Merges every tensor of `plan` from `sources` (indexed like the config's models) into a new
/// model folder `out` with `config` as its `config.json` and `companions` (file name, bytes)
/// beside it. `on_tensor` is called once per written tensor (for progress).
pub fn merge_to_folder(
    plan: &MergePlan,
    sources: &[&dyn TensorSource],
    out: &Path,
    config: &Value,
    companions: &[(String, Vec<u8>)],
    options: &StreamOptions,
    on_tensor: &(dyn Fn(&TensorMeta) + Sync),
) -> Result<PathBuf> {
    let inputs: Vec<Input> = sources.iter().map(|s| Input::Source(*s)).collect();
    run(plan, &inputs, out, config, companions, options, on_tensor)
}

/// Per-thread buffers, reused from task to task.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    base: Vec<f32>,
    models: Vec<Vec<f32>>,
    output: Vec<u8>,
}

impl Scratch {
    /// Buffers above this many bytes are freed after a task: the memory gate counts a
    /// task's working set only while it runs, so big buffers must not outlive it.
    const KEEP_BYTES: usize = 64 << 20;

    fn trim(&mut self) {
        fn trim<T>(v: &mut Vec<T>) {
            if v.capacity() * std::mem::size_of::<T>() > Scratch::KEEP_BYTES {
                *v = Vec::new();
            }
        }
        trim(&mut self.bytes);
        trim(&mut self.base);
        self.models.iter_mut().for_each(trim);
        trim(&mut self.output);
    }
}

pub(crate) fn run(
    plan: &MergePlan,
    inputs: &[Input],
    out: &Path,
    config: &Value,
    companions: &[(String, Vec<u8>)],
    options: &StreamOptions,
    on_tensor: &(dyn Fn(&TensorMeta) + Sync),
) -> Result<PathBuf> {
    let metas: Vec<TensorMeta> = plan.tensors.iter().map(|t| t.meta.clone()).collect();
    let writer = ModelWriter::create(out, &metas, options.shard_limit)?;
    let chunked = |task: &TensorTask| {
        task.method.is_elementwise(&task.params)
            && task
                .inputs()
                .all(|i| inputs[i.model].reads_ranges(&i.tensor))
    };
    let working_set = |task: &TensorTask| {
        let count = task.inputs().count();
        let numel = task.meta.numel() as u64;
        let output = numel * task.meta.dtype.size() as u64;
        if chunked(task) {
            let per_chunk = numel.min(CHUNK as u64);
            per_chunk * 4 * (count as u64 + 2) + output
        } else {
            // Inputs, task vectors and result in f32, plus a read buffer and sort keys.
            numel * (4 * (2 * count as u64 + 2) + 2) + output
        }
    };
    let budget = options
        .memory_budget
        .unwrap_or_else(|| plan.tensors.iter().map(working_set).max().unwrap_or(0));
    let gate = MemoryGate::new(budget.max(1));
    plan.tensors
        .par_iter()
        .try_for_each_init(Scratch::default, |scratch, task| {
            let _permit = gate.acquire(working_set(task));
            let numel = task.meta.numel();
            let step = if chunked(task) { CHUNK } else { numel.max(1) };
            scratch.output.clear();
            for start in (0..numel).step_by(step) {
                let range = start..(start + step).min(numel);
                let merged = merge_range(inputs, task, range, scratch)?;
                encode_append(task.meta.dtype, &merged, &mut scratch.output);
            }
            writer.write_raw(&task.meta.name, &scratch.output)?;
            scratch.trim();
            on_tensor(&task.meta);
            Ok::<_, MergeError>(())
        })?;
    Ok(writer.finish(config, companions)?)
}

/// Reads entries `range` of one tensor from every input and merges them.
fn merge_range(
    inputs: &[Input],
    task: &TensorTask,
    range: Range<usize>,
    scratch: &mut Scratch,
) -> Result<Vec<f32>> {
    let name = &task.meta.name;
    let Scratch {
        bytes,
        base,
        models,
        ..
    } = scratch;
    if let Some(b) = &task.base {
        inputs[b.model].read(&b.tensor, range.clone(), bytes, base)?;
    }
    models.resize_with(task.models.len(), Vec::new);
    for (m, values) in task.models.iter().zip(models.iter_mut()) {
        inputs[m.model].read(&m.tensor, range.clone(), bytes, values)?;
    }
    let model_refs: Vec<&[f32]> = models.iter().map(Vec::as_slice).collect();
    let whole = range.len() == task.meta.numel();
    let chunk_shape = [range.len()];
    let merge_inputs = TensorInputs {
        name,
        shape: if whole {
            &task.meta.shape
        } else {
            &chunk_shape
        },
        base: task.base.as_ref().map(|_| base.as_slice()),
        models: &model_refs,
    };
    task.method.merge(&merge_inputs, &task.params)
}
