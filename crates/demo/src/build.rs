//! Building the demo models stage by stage (base, one expert per skill, all-data), each into
//! its own Hugging Face folder, skipping stages already built with the same recipe and seed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cycleqd_infer::{
    train_sft, ArchConfig, CausalLm, DType, Device, Engine, SftConfig, SftExample, StepReport,
};
use cycleqd_tasks::generators::Split;
use cycleqd_tasks::ChatMessage;
use serde_json::{json, Value};

use crate::corpus::{held_out_examples, pretraining_examples, Formatter};
use crate::error::{DemoError, Result};
use crate::recipe::{DemoRecipe, DemoScale, TrainPlan};
use crate::skill::{reference_conversations, retention_reference_conversations, Skill};
use crate::vocab::{train_tokenizer, BOS, EOS};

/// Written last into every finished stage folder: what it was built from.
const STAMP: &str = "demo-stage.json";

/// Version of what the stages are built from beyond the recipe (generators, corpus layout),
/// part of every stamp: bumped on such changes so that stale builds are rebuilt.
/// 2: the base also pretrains on the held-out skill.
const DATA_VERSION: u32 = 2;

/// Where the built models are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoModels {
    /// The pretrained base.
    pub base: PathBuf,
    /// One expert per skill: (skill name, folder), in [`Skill::ALL`] order.
    pub experts: Vec<(String, PathBuf)>,
    /// The model fine-tuned on all skills' data.
    pub all_data: PathBuf,
}

/// Builds (or finds already built) the demo models of `scale` under `out_dir`: `base`,
/// `expert-coding`, `expert-os`, `expert-db` and `all-data`. `progress` hears what happens.
pub fn build_models(
    scale: DemoScale,
    seed: u64,
    out_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoModels> {
    build_models_with(&DemoRecipe::for_scale(scale), seed, out_dir, progress)
}

/// [`build_models`] with any recipe. A stage whose folder holds a finished build of the same
/// recipe and seed is kept; one built from something else is rebuilt; a folder that is not a
/// demo build is an error rather than overwritten.
pub fn build_models_with(
    recipe: &DemoRecipe,
    seed: u64,
    out_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoModels> {
    recipe.check()?;
    std::fs::create_dir_all(out_dir).map_err(|e| DemoError::io(out_dir, e))?;
    let models = DemoModels {
        base: out_dir.join("base"),
        experts: Skill::ALL
            .iter()
            .map(|s| {
                (
                    s.name().to_string(),
                    out_dir.join(format!("expert-{}", s.name())),
                )
            })
            .collect(),
        all_data: out_dir.join("all-data"),
    };
    let mut builder = Builder {
        recipe,
        seed,
        data: None,
        progress,
    };
    builder.stage("base", None, &models.base, 0, |b, run| b.base(run))?;
    for (i, skill) in Skill::ALL.into_iter().enumerate() {
        let dir = &models.experts[i].1;
        builder.stage(
            &format!("expert-{}", skill.name()),
            Some(&recipe.expert),
            dir,
            1 + i as u64,
            |b, run| b.fine_tune(run, &models.base, &[skill], &recipe.expert),
        )?;
    }
    builder.stage(
        "all-data",
        Some(&recipe.all_data),
        &models.all_data,
        4,
        |b, run| b.fine_tune(run, &models.base, &Skill::ALL, &recipe.all_data),
    )?;
    Ok(models)
}

/// A skill and its train-split conversations.
type SkillConversations = (Skill, Vec<Vec<ChatMessage>>);

/// Train-split conversations of the expert skills and of the held-out skill.
struct TrainData {
    skills: Vec<SkillConversations>,
    held_out: Vec<Vec<ChatMessage>>,
}

struct Builder<'a> {
    recipe: &'a DemoRecipe,
    seed: u64,
    /// Train-split conversations, generated on first need.
    data: Option<TrainData>,
    progress: &'a mut dyn FnMut(&str),
}

/// What one stage is building, for its training run.
struct StageRun {
    name: String,
    seed: u64,
}

impl Builder<'_> {
    /// What decides a stage's weights: the seed, the base's recipe, and the stage's own
    /// training run (so changing one expert's plan leaves the base alone).
    fn stamp(&self, stage: &str, plan: Option<&TrainPlan>) -> Value {
        let r = self.recipe;
        json!({
            "stage": stage,
            "data_version": DATA_VERSION,
            "seed": self.seed,
            "shape": r.shape,
            "problems_per_skill": r.problems_per_skill,
            "held_out_problems": r.held_out_problems,
            "pretrain": r.pretrain,
            "fine_tune": plan,
        })
    }

    /// Runs `build` into a hidden folder beside `dir` and renames it into place, unless `dir`
    /// already holds this stage's build.
    fn stage(
        &mut self,
        name: &str,
        plan: Option<&TrainPlan>,
        dir: &Path,
        index: u64,
        build: impl FnOnce(&mut Self, &StageRun) -> Result<Engine>,
    ) -> Result<()> {
        let stamp = self.stamp(name, plan);
        let stamp_path = dir.join(STAMP);
        if dir.exists() {
            match std::fs::read(&stamp_path) {
                Ok(bytes)
                    if serde_json::from_slice::<Value>(&bytes).ok() == Some(stamp.clone()) =>
                {
                    (self.progress)(&format!("{name}: already built in {}", dir.display()));
                    return Ok(());
                }
                Ok(_) => {
                    (self.progress)(&format!(
                        "{name}: {} was built from another recipe or seed; rebuilding",
                        dir.display()
                    ));
                }
                Err(_) => {
                    return Err(DemoError::io(
                        dir,
                        std::io::Error::other(format!(
                        "exists but is not a demo model (no {STAMP}); remove it or build elsewhere"
                    )),
                    ))
                }
            }
        }
        let start = Instant::now();
        (self.progress)(&format!("{name}: building"));
        let run = StageRun {
            name: name.to_string(),
            seed: self.seed.wrapping_mul(1_000_003).wrapping_add(index),
        };
        let engine = build(self, &run)?;
        let parent = dir.parent().unwrap_or(Path::new("."));
        let file_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        let partial = parent.join(format!(".{file_name}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| DemoError::io(&partial, e))?;
        }
        engine
            .save(&partial, cycleqd_weights::DType::F32)
            .map_err(|e| DemoError::infer(name, e))?;
        let stamp_bytes = serde_json::to_vec_pretty(&stamp).expect("JSON values serialize");
        std::fs::write(partial.join(STAMP), stamp_bytes)
            .map_err(|e| DemoError::io(partial.join(STAMP), e))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| DemoError::io(dir, e))?;
        }
        std::fs::rename(&partial, dir).map_err(|e| DemoError::io(dir, e))?;
        (self.progress)(&format!(
            "{name}: done in {:.1} s -> {}",
            start.elapsed().as_secs_f64(),
            dir.display()
        ));
        Ok(())
    }

    /// The train-split conversations of every skill and of the held-out skill.
    fn data(&mut self) -> Result<&TrainData> {
        if self.data.is_none() {
            let start = Instant::now();
            let skills = Skill::ALL
                .into_iter()
                .map(|skill| {
                    let conversations = reference_conversations(
                        skill,
                        Split::Train,
                        self.recipe.problems_per_skill,
                        self.seed,
                    )?;
                    Ok((skill, conversations))
                })
                .collect::<Result<Vec<_>>>()?;
            let held_out = match self.recipe.held_out_problems {
                0 => Vec::new(),
                count => retention_reference_conversations(Split::Train, count, self.seed)?,
            };
            (self.progress)(&format!(
                "data: {} train problems per skill and {} of the held-out skill generated in {:.1} s",
                self.recipe.problems_per_skill,
                held_out.len(),
                start.elapsed().as_secs_f64()
            ));
            self.data = Some(TrainData { skills, held_out });
        }
        Ok(self.data.as_ref().expect("generated above"))
    }

    /// A tokenizer trained on all skills' text (the held-out skill's included), a random
    /// model, and pretraining on [`pretraining_examples`] and [`held_out_examples`].
    fn base(&mut self, run: &StageRun) -> Result<Engine> {
        let recipe = self.recipe;
        let data = self.data()?;
        let all: Vec<Vec<ChatMessage>> = data
            .skills
            .iter()
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        let held_out = data.held_out.clone();
        let texts: Vec<String> = all
            .iter()
            .chain(&held_out)
            .flatten()
            .map(|m| m.content.clone())
            .collect();
        let tokenizer = train_tokenizer(&texts, recipe.shape.vocab_size)?;
        let config_json = config_json(recipe, &tokenizer)?;
        let infer_err = |e| DemoError::infer(&run.name, e);
        let config =
            ArchConfig::from_json(Path::new("config.json"), &config_json).map_err(infer_err)?;
        let model = CausalLm::random(
            config,
            run.seed,
            recipe.shape.init_std,
            &Device::Cpu,
            DType::F32,
        )
        .map_err(infer_err)?;
        let tensors: HashMap<String, _> = model.named_tensors().into_iter().collect();
        let mut engine = Engine::from_tensors(
            &config_json,
            tokenizer.clone(),
            &tensors,
            &Device::Cpu,
            DType::F32,
        )
        .map_err(infer_err)?;
        let formatter = Formatter::new(&tokenizer)?;
        let mut examples = pretraining_examples(&formatter, &all, run.seed)?;
        examples.extend(held_out_examples(&formatter, &held_out)?);
        self.train(run, &mut engine, &examples, &recipe.pretrain)?;
        Ok(engine)
    }

    /// The base fine-tuned on the chat examples of `skills` (equal counts per skill); never
    /// on the held-out skill.
    fn fine_tune(
        &mut self,
        run: &StageRun,
        base: &Path,
        skills: &[Skill],
        plan: &TrainPlan,
    ) -> Result<Engine> {
        let mut engine = Engine::load(base, &Device::Cpu, DType::F32)
            .map_err(|e| DemoError::infer(&run.name, e))?;
        let tokenizer = engine.tokenizer().clone();
        let formatter = Formatter::new(&tokenizer)?;
        let examples = self
            .data()?
            .skills
            .iter()
            .filter(|(skill, _)| skills.contains(skill))
            .flat_map(|(_, c)| c.iter().map(|c| formatter.chat_example(c)))
            .collect::<Result<Vec<_>>>()?;
        self.train(run, &mut engine, &examples, plan)?;
        Ok(engine)
    }

    fn train(
        &mut self,
        run: &StageRun,
        engine: &mut Engine,
        examples: &[SftExample],
        plan: &TrainPlan,
    ) -> Result<()> {
        let config = SftConfig {
            steps: plan.steps,
            batch_size: plan.batch_size,
            learning_rate: plan.learning_rate,
            warmup_steps: plan.warmup_steps,
            weight_decay: plan.weight_decay,
            seed: run.seed,
        };
        let tokens: usize = examples
            .iter()
            .map(|e| e.prompt.len() + e.completion.len())
            .sum();
        (self.progress)(&format!(
            "{}: {} sequences ({} tokens), {} steps of {}",
            run.name,
            examples.len(),
            tokens,
            plan.steps,
            plan.batch_size
        ));
        let every = (plan.steps / 5).max(1);
        let start = Instant::now();
        let progress = &mut *self.progress;
        let mut recent = Vec::with_capacity(every);
        train_sft(engine.model_mut(), examples, &config, |r: &StepReport| {
            recent.push(r.loss);
            if (r.step + 1).is_multiple_of(every) || r.step + 1 == plan.steps {
                let mean = recent.iter().sum::<f32>() / recent.len() as f32;
                progress(&format!(
                    "{}: step {}/{} loss {mean:.3} ({:.1} s)",
                    run.name,
                    r.step + 1,
                    plan.steps,
                    start.elapsed().as_secs_f64()
                ));
                recent.clear();
            }
        })
        .map_err(|e| DemoError::infer(&run.name, e))?;
        Ok(())
    }
}

/// The `config.json` of every demo model.
fn config_json(recipe: &DemoRecipe, tokenizer: &cycleqd_infer::TextTokenizer) -> Result<Value> {
    let s = &recipe.shape;
    let id = |token: &str| {
        tokenizer
            .token_id(token)
            .ok_or_else(|| DemoError::Tokenizer(format!("the vocabulary lacks {token}")))
    };
    let vocab_size = tokenizer_vocab_size(tokenizer)?;
    Ok(json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": s.hidden_size,
        "intermediate_size": s.intermediate_size,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.heads,
        "hidden_act": "silu",
        "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": id(BOS)?,
        "eos_token_id": id(EOS)?,
    }))
}

/// Rows of the embedding: one past the largest token id (the trainer may stop below the
/// requested vocabulary size when the corpus has fewer merges).
fn tokenizer_vocab_size(tokenizer: &cycleqd_infer::TextTokenizer) -> Result<usize> {
    let json: Value = serde_json::from_slice(tokenizer.tokenizer_json())
        .map_err(|e| DemoError::Tokenizer(format!("tokenizer.json: {e}")))?;
    let vocab_max = json["model"]["vocab"]
        .as_object()
        .and_then(|v| v.values().filter_map(Value::as_u64).max());
    let added_max = json["added_tokens"]
        .as_array()
        .and_then(|a| a.iter().filter_map(|t| t["id"].as_u64()).max());
    vocab_max
        .max(added_max)
        .map(|m| m as usize + 1)
        .ok_or_else(|| DemoError::Tokenizer("tokenizer.json has an empty vocabulary".into()))
}
