//! The expert bases of one base model, cached on disk under content-hash keys: built once,
//! reused by every later run, rebuilt when the base, an expert or the rank limit changes.

use std::path::Path;

use cycleqd_weights::{check_compatible, TensorSource};
use serde_json::Value;

use crate::error::{RecipeError, Result};
use crate::expert_basis::{EntryPlan, ExpertBasis};
use crate::layout::BasisLayout;
use crate::manifest::{BasisManifest, MANIFEST_FORMAT};
use crate::ContentHash;

/// How bases are built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasisOptions {
    /// Keep at most this many singular triplets per matrix, plus the exact residual
    /// (`None`: the full thin SVD, no residual).
    pub rank_limit: Option<usize>,
    /// Largest safetensors shard of a cache entry, in bytes.
    pub shard_limit: u64,
}

impl Default for BasisOptions {
    fn default() -> Self {
        Self {
            rank_limit: None,
            shard_limit: 2_000_000_000,
        }
    }
}

/// Progress of [`BasisSet::open_or_build`], for progress bars and logs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BasisEvent<'a> {
    /// Hashing a model's content (`what` describes it).
    Hashing {
        /// The model.
        what: &'a str,
    },
    /// Expert `expert` found in the cache, nothing to build.
    Cached {
        /// Expert index.
        expert: usize,
        /// Its entry folder.
        dir: &'a Path,
    },
    /// Building expert `expert`'s entry: `tensors` tensors to go.
    Building {
        /// Expert index.
        expert: usize,
        /// Its entry folder.
        dir: &'a Path,
        /// Tensors to decompose or copy.
        tensors: usize,
    },
    /// One more tensor of the entry being built is done.
    TensorDone {
        /// Expert index.
        expert: usize,
    },
    /// Expert `expert`'s entry is built.
    Built {
        /// Expert index.
        expert: usize,
        /// Wall-clock seconds of the build.
        seconds: f64,
    },
}

/// The SVD bases of experts 0..K over one base, as stored in a cache folder.
#[derive(Debug)]
pub struct BasisSet {
    base_hash: ContentHash,
    expert_hashes: Vec<ContentHash>,
    rank_limit: Option<usize>,
    layout: BasisLayout,
    experts: Vec<ExpertBasis>,
    fingerprint: ContentHash,
}

impl BasisSet {
    /// Opens the bases of `experts` over `base` in `cache_dir`, building (and caching) the
    /// missing ones. `config` is written beside each new entry (the base's `config.json`).
    /// Hashes every model's content first: an entry is found by its key, see [`entry_key`].
    pub fn open_or_build(
        cache_dir: &Path,
        base: &dyn TensorSource,
        config: &Value,
        experts: &[&dyn TensorSource],
        options: &BasisOptions,
        on_event: &(dyn Fn(BasisEvent<'_>) + Sync),
    ) -> Result<Self> {
        Self::open_imp(cache_dir, base, Some(config), experts, options, on_event)
    }

    /// Opens the cached bases of `experts` over `base`; fails, naming the expert, when one is
    /// not cached (build it with [`BasisSet::open_or_build`] or `cycleqd basis`).
    pub fn open(
        cache_dir: &Path,
        base: &dyn TensorSource,
        experts: &[&dyn TensorSource],
        options: &BasisOptions,
        on_event: &(dyn Fn(BasisEvent<'_>) + Sync),
    ) -> Result<Self> {
        Self::open_imp(cache_dir, base, None, experts, options, on_event)
    }

    fn open_imp(
        cache_dir: &Path,
        base: &dyn TensorSource,
        build_config: Option<&Value>,
        experts: &[&dyn TensorSource],
        options: &BasisOptions,
        on_event: &(dyn Fn(BasisEvent<'_>) + Sync),
    ) -> Result<Self> {
        if experts.is_empty() {
            return Err(RecipeError::Invalid(
                "a basis needs at least one expert".into(),
            ));
        }
        if options.rank_limit == Some(0) {
            return Err(RecipeError::Invalid(
                "rank limit must be at least 1 (leave it out for the full SVD)".into(),
            ));
        }
        for expert in experts {
            check_compatible(base, *expert)?;
        }
        let describe = base.describe();
        on_event(BasisEvent::Hashing { what: &describe });
        let base_hash = ContentHash::of_model(base)?;
        let layout = BasisLayout::new(base.metas(), options.rank_limit);
        let mut expert_hashes = Vec::with_capacity(experts.len());
        let mut bases = Vec::with_capacity(experts.len());
        for (index, expert) in experts.iter().enumerate() {
            let describe = expert.describe();
            on_event(BasisEvent::Hashing { what: &describe });
            let expert_hash = ContentHash::of_model(*expert)?;
            let dir = cache_dir.join(entry_key(&base_hash, &expert_hash, options.rank_limit));
            let cached = if dir.exists() {
                match valid_entry(&dir, &layout, &base_hash, &expert_hash, options.rank_limit) {
                    Ok(entry) => Some(entry),
                    Err(_) if build_config.is_some() => {
                        // A stale or broken entry under our key: nothing in it can be trusted.
                        std::fs::remove_dir_all(&dir).map_err(|e| RecipeError::io(&dir, e))?;
                        None
                    }
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            let entry = match (cached, build_config) {
                (Some(entry), _) => {
                    on_event(BasisEvent::Cached { expert: index, dir: &dir });
                    entry
                }
                (None, Some(config)) => {
                    std::fs::create_dir_all(cache_dir)
                        .map_err(|e| RecipeError::io(cache_dir, e))?;
                    on_event(BasisEvent::Building {
                        expert: index,
                        dir: &dir,
                        tensors: layout.entries.len(),
                    });
                    let plan = EntryPlan {
                        dir: &dir,
                        layout: &layout,
                        rank_limit: options.rank_limit,
                        base_hash: base_hash.hex(),
                        expert_hash: expert_hash.hex(),
                        config,
                        shard_limit: options.shard_limit,
                    };
                    let entry = ExpertBasis::build(&plan, base, *expert, &|| {
                        on_event(BasisEvent::TensorDone { expert: index })
                    })?;
                    on_event(BasisEvent::Built {
                        expert: index,
                        seconds: entry.manifest().build_seconds,
                    });
                    entry
                }
                (None, None) => {
                    return Err(RecipeError::cache(
                        &dir,
                        format!(
                            "no basis for expert {} ({describe}) over base {}; build it with `cycleqd basis`",
                            index,
                            base.describe()
                        ),
                    ))
                }
            };
            expert_hashes.push(expert_hash);
            bases.push(entry);
        }
        let fingerprint = set_fingerprint(&base_hash, &expert_hashes, options.rank_limit);
        Ok(Self {
            base_hash,
            expert_hashes,
            rank_limit: options.rank_limit,
            layout,
            experts: bases,
            fingerprint,
        })
    }

    /// The recipe layout: every tensor with its role and rank.
    pub fn layout(&self) -> &BasisLayout {
        &self.layout
    }

    /// The experts' bases, in the order given.
    pub fn experts(&self) -> &[ExpertBasis] {
        &self.experts
    }

    /// The content hash of the base.
    pub fn base_hash(&self) -> ContentHash {
        self.base_hash
    }

    /// The content hashes of the experts, in order.
    pub fn expert_hashes(&self) -> &[ContentHash] {
        &self.expert_hashes
    }

    /// The rank limit the bases were built with.
    pub fn rank_limit(&self) -> Option<usize> {
        self.rank_limit
    }

    /// Identifies this set (base, experts in order, rank limit): recipes carry it, so a recipe
    /// is never materialized over bases it was not made for.
    pub fn fingerprint(&self) -> ContentHash {
        self.fingerprint
    }
}

/// The cache folder name of one expert's entry: 32 hex digits of SHA-256 over the format
/// version, the base's and the expert's content hashes, and the rank limit.
pub fn entry_key(base: &ContentHash, expert: &ContentHash, rank_limit: Option<usize>) -> String {
    let format = MANIFEST_FORMAT.to_le_bytes();
    let rank = rank_limit.map_or("full".to_string(), |r| r.to_string());
    let key = ContentHash::of_parts(&[
        b"cycleqd svd basis",
        &format,
        &base.0,
        &expert.0,
        rank.as_bytes(),
    ]);
    key.hex()[..32].to_string()
}

fn set_fingerprint(
    base: &ContentHash,
    experts: &[ContentHash],
    rank_limit: Option<usize>,
) -> ContentHash {
    let rank = rank_limit.map_or("full".to_string(), |r| r.to_string());
    let mut parts: Vec<&[u8]> = vec![b"cycleqd basis set", &base.0, rank.as_bytes()];
    parts.extend(experts.iter().map(|e| &e.0[..]));
    ContentHash::of_parts(&parts)
}

fn valid_entry(
    dir: &Path,
    layout: &BasisLayout,
    base: &ContentHash,
    expert: &ContentHash,
    rank_limit: Option<usize>,
) -> Result<ExpertBasis> {
    let manifest = BasisManifest::load(dir)?;
    let expected = (MANIFEST_FORMAT, base.hex(), expert.hex(), rank_limit);
    let found = (
        manifest.format,
        manifest.base_hash.clone(),
        manifest.expert_hash.clone(),
        manifest.rank_limit,
    );
    if found != expected {
        return Err(RecipeError::cache(
            dir,
            "manifest does not match the base, expert and rank limit its key stands for",
        ));
    }
    ExpertBasis::open(dir, layout)
}
