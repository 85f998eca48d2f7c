//! Where a training run stands between two steps (trained values, AdamW's moments, steps
//! done), and its file: what a stopped run needs to continue exactly where it was.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use cycleqd_atomic_write::{write_atomic_with, Durability};
use serde::{Deserialize, Serialize};

use super::adamw::AdamW;
use crate::error::{InferError, Result};

/// First line of a state file.
const MAGIC: &[u8] = b"cycleqd trainer state v1\n";

/// The trained values and the optimizer after `steps_done` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    /// Steps already taken.
    pub steps_done: usize,
    /// The values being trained: every weight (full fine-tune) or the adapters (LoRA).
    pub values: Vec<f32>,
    pub(crate) optimizer: AdamW,
}

/// The JSON line after the magic: everything but the three arrays.
#[derive(Serialize, Deserialize)]
struct Header {
    steps_done: usize,
    len: usize,
    adam_step: i32,
    weight_decay: f64,
}

impl TrainerState {
    /// A run that has not started: `values` as initialised, fresh moments.
    pub(crate) fn fresh(values: Vec<f32>, weight_decay: f64) -> Self {
        let optimizer = AdamW::new(values.len(), weight_decay);
        Self {
            steps_done: 0,
            values,
            optimizer,
        }
    }

    /// Writes the state to `path` atomically (a sibling temporary file, synced, renamed), so
    /// that a kill during the write leaves the previous state file intact.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io =
            |e: std::io::Error| InferError::file(path, format!("writing the trainer state: {e}"));
        let header = Header {
            steps_done: self.steps_done,
            len: self.values.len(),
            adam_step: self.optimizer.step,
            weight_decay: self.optimizer.weight_decay,
        };
        write_atomic_with(path, Durability::Fsync, |out| {
            out.write_all(MAGIC)?;
            serde_json::to_writer(&mut *out, &header)?;
            out.write_all(b"\n")?;
            for array in [&self.values, &self.optimizer.m, &self.optimizer.v] {
                for v in array.iter() {
                    out.write_all(&v.to_le_bytes())?;
                }
            }
            Ok(())
        })
        .map_err(|e| io(e.error))
    }

    /// The steps done by the state in `path` (its header only).
    pub fn steps_in(path: &Path) -> Result<usize> {
        let (header, _) = Self::open(path)?;
        Ok(header.steps_done)
    }

    /// Opens a state file: its header and the reader positioned at the arrays.
    fn open(path: &Path) -> Result<(Header, BufReader<File>)> {
        let bad = |problem: String| InferError::file(path, problem);
        let io = |e: std::io::Error| bad(format!("reading the trainer state: {e}"));
        let file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut magic = vec![0u8; MAGIC.len()];
        input
            .read_exact(&mut magic)
            .map_err(|_| bad("not a cycleqd trainer state (too short)".into()))?;
        if magic != MAGIC {
            return Err(bad("not a cycleqd trainer state (wrong first line)".into()));
        }
        let mut line = Vec::new();
        for byte in input.by_ref().bytes() {
            match byte.map_err(io)? {
                b'\n' => break,
                b => line.push(b),
            }
            if line.len() > 4096 {
                return Err(bad("the header line is not terminated".into()));
            }
        }
        let header: Header = serde_json::from_slice(&line)
            .map_err(|e| bad(format!("the header line is not valid: {e}")))?;
        let body = (MAGIC.len() + line.len() + 1) as u64;
        let expected_size = body + 12 * header.len as u64;
        if size != expected_size {
            return Err(bad(format!(
                "{size} bytes, expected {expected_size} for {} values (truncated or corrupt)",
                header.len
            )));
        }
        Ok((header, input))
    }

    /// Reads a state written by [`TrainerState::save`]; `expected_len` is the number of values
    /// the resumed run trains (a state of another model or adapter shape is refused).
    pub fn load(path: &Path, expected_len: usize) -> Result<Self> {
        let (header, mut input) = Self::open(path)?;
        let io =
            |e: std::io::Error| InferError::file(path, format!("reading the trainer state: {e}"));
        if header.len != expected_len {
            return Err(InferError::file(
                path,
                format!(
                    "it holds {} trained values, this run trains {expected_len} (another model, \
                     adapter rank or target modules?)",
                    header.len
                ),
            ));
        }
        let mut read_array = || -> Result<Vec<f32>> {
            let mut bytes = vec![0u8; 4 * header.len];
            input.read_exact(&mut bytes).map_err(io)?;
            Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let values = read_array()?;
        let m = read_array()?;
        let v = read_array()?;
        Ok(Self {
            steps_done: header.steps_done,
            values,
            optimizer: AdamW::from_parts(m, v, header.adam_step, header.weight_decay),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cycleqd_atomic_write::temp_path;

    fn state() -> TrainerState {
        let mut state = TrainerState::fresh(vec![0.5, -1.0, 2.0], 0.01);
        state
            .optimizer
            .step(&mut state.values, &[0.1, 0.2, -0.3], 1e-2);
        state.steps_done = 1;
        state
    }

    #[test]
    fn a_saved_state_loads_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let saved = state();
        saved.save(&path).unwrap();
        assert_eq!(TrainerState::load(&path, 3).unwrap(), saved);
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn truncated_foreign_or_mismatched_states_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        state().save(&path).unwrap();
        let err = TrainerState::load(&path, 4).unwrap_err().to_string();
        assert!(
            err.contains("holds 3 trained values, this run trains 4"),
            "{err}"
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = TrainerState::load(&path, 3).unwrap_err().to_string();
        assert!(
            err.contains("truncated or corrupt") && err.contains("state.bin"),
            "{err}"
        );
        std::fs::write(&path, b"hello").unwrap();
        let err = TrainerState::load(&path, 3).unwrap_err().to_string();
        assert!(err.contains("not a cycleqd trainer state"), "{err}");
    }
}
