//! A merge config made ready to run: its models opened (adapters applied to theirs) and checked
//! against each other, and the plan resolved, all before any tensor is read.

use std::path::{Path, PathBuf};

use cycleqd_weights::{AdaptedModel, HfModel, PeftAdapter, TensorMeta, TensorSource};

use crate::compat::{check_architectures, check_tensors};
use crate::config::{MergeConfig, ModelRef};
use crate::error::Result;
use crate::plan::MergePlan;
use crate::shard_reader::ShardReader;
use crate::stream::{run, Input, StreamOptions};

/// A config with its input models open and its plan made.
pub struct MergeJob {
    config: MergeConfig,
    models: Vec<Opened>,
    plan: MergePlan,
}

/// One input: a model folder, or a folder with a LoRA adapter applied.
// A merge holds a handful of these, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Opened {
    Folder(HfModel),
    Adapted(AdaptedModel<HfModel>),
}

impl Opened {
    fn open(model: &ModelRef) -> Result<Self> {
        let folder = HfModel::open(&model.path)?;
        Ok(match &model.adapter {
            None => Self::Folder(folder),
            Some(adapter) => Self::Adapted(AdaptedModel::new(
                folder,
                PeftAdapter::open(adapter)?,
                None,
            )?),
        })
    }

    /// The model folder (for an adapter, the one it is applied to: its config and tokenizer).
    fn folder(&self) -> &HfModel {
        match self {
            Self::Folder(m) => m,
            Self::Adapted(m) => m.base(),
        }
    }

    fn source(&self) -> &dyn TensorSource {
        match self {
            Self::Folder(m) => m,
            Self::Adapted(m) => m,
        }
    }
}

impl MergeJob {
    /// Opens every model of `config`, checks that they share architecture, tensor names and
    /// shapes, and resolves every tensor's parameters.
    pub fn prepare(config: MergeConfig) -> Result<Self> {
        let models = config
            .models
            .iter()
            .map(Opened::open)
            .collect::<Result<Vec<_>>>()?;
        // The reference model is the base where there is one, as mergekit's output config is.
        let reference = config.base_index().unwrap_or(0);
        let mut order: Vec<&Opened> = vec![&models[reference]];
        order.extend(
            models
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != reference)
                .map(|(_, m)| m),
        );
        check_architectures(
            &order
                .iter()
                .map(|m| m.folder().config())
                .collect::<Vec<_>>(),
        )?;
        check_tensors(&order.iter().map(|m| m.source()).collect::<Vec<_>>())?;
        let sources: Vec<&dyn TensorSource> = models.iter().map(Opened::source).collect();
        let plan = MergePlan::new(
            &config,
            &sources,
            models[reference].folder().config().num_hidden_layers,
        )?;
        Ok(Self {
            config,
            models,
            plan,
        })
    }

    /// The resolved plan.
    pub fn plan(&self) -> &MergePlan {
        &self.plan
    }

    /// The config.
    pub fn config(&self) -> &MergeConfig {
        &self.config
    }

    /// The model whose `config.json` and tokenizer the output gets: the base, else the first.
    pub fn reference_model(&self) -> &HfModel {
        self.models[self.config.base_index().unwrap_or(0)].folder()
    }

    /// Runs the merge into `out` (which must not exist, or be empty), calling `on_tensor`
    /// after each tensor is written.
    pub fn run(
        &self,
        out: &Path,
        options: &StreamOptions,
        on_tensor: &(dyn Fn(&TensorMeta) + Sync),
    ) -> Result<PathBuf> {
        let reference = self.reference_model();
        let companions = reference.read_companions()?;
        // Folders are read by positioned reads; adapted models a whole tensor at a time, since
        // each adapted tensor is computed from the base's.
        let readers = self
            .models
            .iter()
            .map(|m| match m {
                Opened::Folder(f) => ShardReader::open(f).map(Some),
                Opened::Adapted(_) => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let inputs: Vec<Input> = readers
            .iter()
            .zip(&self.models)
            .map(|(reader, model)| match reader {
                Some(r) => Input::Shards(r),
                None => Input::Source(model.source()),
            })
            .collect();
        let mut config = reference.config().raw.clone();
        if self.plan.num_layers != reference.config().num_hidden_layers {
            // Slices set the output's depth (as mergekit writes it): up-scaled or cut models
            // would not load with the inputs' layer count.
            if let Some(fields) = config.as_object_mut() {
                fields.insert("num_hidden_layers".into(), self.plan.num_layers.into());
            }
        }
        run(
            &self.plan,
            &inputs,
            out,
            &config,
            &companions,
            options,
            on_tensor,
        )
    }
}
