//! Everything a run keeps open: the config, the base, the experts' SVD bases, and the
//! scorer built over them; cache identities and in-memory materialization of its models.

use std::path::{Path, PathBuf};

use cycleqd_infer::parse_dtype;
use cycleqd_recipe::{Ancestors, BasisOptions, BasisSet, Genome, Materializer, Recipe};
use cycleqd_weights::{ModelInput, TensorSource};

use crate::blend::{materialize_in_memory, Blend};
use crate::breed::genome_identity;
use crate::error::{EvolveError, Result};
use crate::eval_job::{JobModel, JobSite};
use crate::run_config::RunConfig;
use crate::run_events::{EventSink, EvolveEvent};
use crate::scorer::{EngineSpec, Scorer, Split};

/// Everything a run keeps open: the config, the base and the experts' SVD bases.
pub struct RunContext {
    /// The resolved config.
    pub config: RunConfig,
    base: ModelInput,
    basis: BasisSet,
    tensor_names: Vec<String>,
    dtype_tag: String,
}

impl RunContext {
    /// Opens the base and experts and builds (or reuses) their SVD bases.
    pub fn open(config: RunConfig, on_event: &mut EventSink<'_>) -> Result<Self> {
        on_event(EvolveEvent::Stage("opening models"));
        let base = ModelInput::open(&config.base)?;
        let expert_paths: Vec<PathBuf> = config.tasks.iter().map(|t| t.expert.clone()).collect();
        let experts = ModelInput::open_all_with_base(&expert_paths, &config.base)?;
        let sources: Vec<&dyn TensorSource> = experts.iter().map(ModelInput::source).collect();
        on_event(EvolveEvent::Stage("SVD bases of the experts' task vectors"));
        let options = BasisOptions {
            rank_limit: config.mutation.rank,
            ..BasisOptions::default()
        };
        let events = std::sync::Mutex::new(on_event);
        let basis = BasisSet::open_or_build(
            &config.basis_cache(),
            base.source(),
            &base.config_json(),
            &sources,
            &options,
            &|e| {
                if let Ok(mut f) = events.lock() {
                    f(EvolveEvent::Basis(e))
                }
            },
        )?;
        let tensor_names = basis
            .layout()
            .entries
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let dtype_tag = format!("{:?}", parse_dtype(&config.evaluation.dtype)?);
        Ok(Self {
            config,
            base,
            basis,
            tensor_names,
            dtype_tag,
        })
    }

    /// The base model.
    pub fn base(&self) -> &ModelInput {
        &self.base
    }

    /// The experts' SVD bases.
    pub fn basis(&self) -> &BasisSet {
        &self.basis
    }

    /// A scorer over the run's tasks, with the engine loaded from the base when a model is
    /// evaluated in this process, and the run's queue when it has one.
    pub fn scorer(&self) -> Result<Scorer> {
        let c = &self.config.evaluation;
        let engine = EngineSpec {
            model: self.config.base.clone(),
            device: c.device.clone(),
            dtype: c.dtype.clone(),
            batch_size: c.batch_size,
        };
        Scorer::new(&self.config, engine, Some(self.job_site()))
    }

    /// What every queue job of the run shares: its models by content hash, the settings.
    pub fn job_site(&self) -> JobSite {
        let c = &self.config.evaluation;
        JobSite {
            base: self.basis.base_hash().hex(),
            experts: self.basis.expert_hashes().iter().map(|h| h.hex()).collect(),
            rank_limit: self.basis.rank_limit(),
            basis: self.basis.fingerprint().hex(),
            dtype: c.dtype.clone(),
            limit: c.limit,
            batch_size: c.batch_size,
            workers: c.workers,
        }
    }

    /// The base folder as a queue job's model.
    pub fn base_model(&self) -> JobModel {
        JobModel::Folder {
            hash: self.basis.base_hash().hex(),
        }
    }

    /// Expert `k`'s folder as a queue job's model.
    pub fn expert_model(&self, k: usize) -> JobModel {
        JobModel::Folder {
            hash: self.basis.expert_hashes()[k].hex(),
        }
    }

    /// A cache identity: the model's content identity and the compute dtype.
    pub fn identity(&self, content: &str) -> String {
        format!("{content}:{}", self.dtype_tag)
    }

    /// The cache identity of a genome that is a recipe (experts, merge-weight children).
    pub fn recipe_identity(&self, genome: &Genome) -> Result<String> {
        let content = genome_identity(genome, |_| None).ok_or_else(|| {
            EvolveError::Invalid("a lineage genome has no identity without its parents".into())
        })?;
        Ok(self.identity(&content))
    }

    /// The scores of a recipe genome on `split`, materialized only when not cached.
    pub fn score_recipe(
        &self,
        scorer: &mut Scorer,
        genome: &Genome,
        split: Split,
        what: &str,
    ) -> Result<Vec<f64>> {
        let blend = Blend::single(genome.clone(), Ancestors::new());
        let model = JobModel::Blend(blend.clone());
        scorer.score_model(&self.recipe_identity(genome)?, split, &model, || {
            self.materialize(&blend, what)
        })
    }

    /// Sends the evaluation of a recipe genome on `split` to the run's queue (nothing
    /// happens when it is cached; only for queued runs, whose scorer never evaluates here).
    pub fn start_recipe(&self, scorer: &mut Scorer, genome: &Genome, split: Split) -> Result<()> {
        let model = JobModel::Blend(Blend::single(genome.clone(), Ancestors::new()));
        let identity = self.recipe_identity(genome)?;
        scorer.start(&identity, split, &model, || {
            Err(EvolveError::Invalid(
                "a queued evaluation was asked for its weights here".into(),
            ))
        })?;
        Ok(())
    }

    /// The identity of the base folder's weights.
    pub fn base_identity(&self) -> String {
        self.identity(&self.basis.base_hash().hex())
    }

    /// The identity of expert `k`'s folder weights.
    pub fn expert_identity(&self, k: usize) -> String {
        self.identity(&self.basis.expert_hashes()[k].hex())
    }

    /// The weights of a blend, in memory.
    pub fn materialize(&self, blend: &Blend, what: &str) -> Result<Box<dyn TensorSource>> {
        materialize_in_memory(blend, self.base.source(), &self.basis, what)
    }

    /// Writes a blend as a Hugging Face folder with the base's config and tokenizer.
    pub fn write(
        &self,
        blend: &Blend,
        out: &Path,
        dtype: Option<cycleqd_weights::DType>,
    ) -> Result<PathBuf> {
        let materializer = Materializer::new(self.base.source(), &self.basis);
        blend.write(
            &materializer,
            self.base.source(),
            &self.tensor_names,
            out,
            &self.base.config_json(),
            &self.base.companions()?,
            dtype,
        )
    }

    /// Expert `k` as a recipe (coefficients 1 on its own basis, 0 elsewhere).
    pub fn expert_genome(&self, k: usize) -> Result<Genome> {
        Ok(Recipe::expert(&self.basis, k)?.into())
    }
}
