//! `basis.json`: what one expert's basis cache entry was built from, and how exact it is.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{RecipeError, Result};

/// The file name of the manifest inside a cache entry.
pub const MANIFEST_FILE: &str = "basis.json";

/// The manifest format this version writes and reads; entries of other versions are rebuilt.
pub const MANIFEST_FORMAT: u32 = 1;

/// What one cache entry holds: the SVD basis of one expert's task vector over one base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BasisManifest {
    /// [`MANIFEST_FORMAT`] at build time.
    pub format: u32,
    /// Content hash of the base (hex).
    pub base_hash: String,
    /// Content hash of the expert (hex).
    pub expert_hash: String,
    /// Singular triplets kept per matrix at most; `None`: all (exact thin SVD).
    pub rank_limit: Option<usize>,
    /// Where the base was read from when the entry was built (for people; not checked).
    pub base_source: String,
    /// Where the expert was read from when the entry was built (for people; not checked).
    pub expert_source: String,
    /// Wall-clock seconds the build took.
    pub build_seconds: f64,
    /// One record per 2-D tensor, in model order.
    pub matrices: Vec<MatrixRecord>,
}

/// How well one matrix's stored basis describes the expert's task vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixRecord {
    /// Tensor name.
    pub name: String,
    /// `[m, n]`.
    pub shape: Vec<usize>,
    /// Singular triplets kept.
    pub rank: usize,
    /// `sqrt(sum of dropped s_i^2 / sum of all s_i^2)`: the relative Frobenius error of the
    /// rank-`rank` approximation alone (0 at full rank), from the f64 singular values.
    pub truncation_error: f64,
    /// Measured `||tau - (U S Vh + residual)|| / ||tau||` in f32: how exactly the stored
    /// entry rebuilds the expert (0 when tau is 0).
    pub rebuild_error: f64,
    /// `||tau||_F`.
    pub norm: f64,
}

impl BasisManifest {
    /// Reads `dir/basis.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| RecipeError::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| RecipeError::cache(&path, format!("not a basis manifest: {e}")))
    }

    /// The manifest as pretty JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("manifests always serialize");
        bytes.push(b'\n');
        bytes
    }

    /// The record of a matrix.
    pub fn matrix(&self, name: &str) -> Option<&MatrixRecord> {
        self.matrices.iter().find(|m| m.name == name)
    }
}
