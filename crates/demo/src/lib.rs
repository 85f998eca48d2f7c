//! The models of `cycleqd demo`, built from nothing on a CPU in minutes: a tiny
//! Llama-architecture base pretrained on the language of three skills (Python functions,
//! shell commands, SQL) without the question-to-answer mapping, one expert per skill
//! fine-tuned from it on that skill's generated train problems, and an all-data model
//! fine-tuned on the union. The experts are specialists: each solves held-out problems of its
//! own skill and almost none of the others, which is what CycleQD's merging starts from.
//! The base also learns one held-out skill ([`RETENTION_SKILL`]) that no fine-tune sees, so
//! that later models can be scored on how much of it they kept (skill retention).
//!
//! ```no_run
//! use cycleqd_demo::{build_models, DemoScale};
//!
//! let models = build_models(DemoScale::Quick, 0, "demo-models".as_ref(), &mut |m| eprintln!("{m}"))?;
//! println!("base at {}", models.base.display());
//! # Ok::<(), cycleqd_demo::DemoError>(())
//! ```

mod build;
mod corpus;
mod error;
mod recipe;
mod skill;
mod vocab;

pub use build::{build_models, build_models_with, DemoModels};
pub use error::{DemoError, Result};
pub use recipe::{DemoRecipe, DemoScale, ModelShape, TrainPlan};
pub use skill::{
    demo_task, demo_task_spec, reference_conversations, retention_reference_conversations,
    retention_task, retention_task_spec, Skill, RETENTION_SKILL,
};
pub use vocab::{train_tokenizer, CHAT_TEMPLATE};
