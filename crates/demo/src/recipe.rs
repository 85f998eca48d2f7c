//! What the demo builds at each scale: the model's shape, the data and every training run's
//! steps and learning rate. The numbers were tuned on a 2-core CPU (see docs/demo.md).

use serde::{Deserialize, Serialize};

use crate::error::{DemoError, Result};

/// How big and how long the demo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoScale {
    /// About a minute on two cores: a smaller model and fewer steps; weaker specialists.
    Quick,
    /// A few minutes on two cores: clear specialists.
    Full,
}

impl DemoScale {
    /// The scale's name.
    pub fn name(self) -> &'static str {
        match self {
            DemoScale::Quick => "quick",
            DemoScale::Full => "full",
        }
    }
}

impl std::str::FromStr for DemoScale {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "quick" => Ok(DemoScale::Quick),
            "full" => Ok(DemoScale::Full),
            other => Err(format!(
                "unknown demo scale {other:?}; expected quick or full"
            )),
        }
    }
}

/// The Llama architecture of every demo model (they share it, so they can be merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Tokens of the byte-level BPE, special tokens included.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Attention heads (key/value heads too: no grouping at this size).
    pub heads: usize,
    /// Standard deviation of the random initial weights.
    pub init_std: f32,
}

/// One training run: AdamW with linear warmup and cosine decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainPlan {
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Steps of linear warmup.
    pub warmup_steps: usize,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// Everything that decides the demo's models besides the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoRecipe {
    /// The architecture.
    pub shape: ModelShape,
    /// Generated train-split problems per skill: the base's corpus and the experts' data.
    pub problems_per_skill: usize,
    /// Generated train-split problems of the held-out skill ([`crate::RETENTION_SKILL`]),
    /// question -> answer, in the base's pretraining (and in no fine-tune); 0 leaves it out.
    pub held_out_problems: usize,
    /// Pretraining of the base on unpaired questions and answers of all skills, and on the
    /// held-out skill's paired ones.
    pub pretrain: TrainPlan,
    /// Fine-tuning of each expert from the base on its skill's problems.
    pub expert: TrainPlan,
    /// Fine-tuning of the all-data model from the base on all skills' problems, equal counts.
    pub all_data: TrainPlan,
}

impl DemoRecipe {
    /// The recipe of `scale`.
    pub fn for_scale(scale: DemoScale) -> Self {
        let plan = |steps: usize, learning_rate: f64| TrainPlan {
            steps,
            batch_size: 32,
            learning_rate,
            warmup_steps: steps / 10,
            weight_decay: 0.0,
        };
        match scale {
            DemoScale::Quick => DemoRecipe {
                shape: ModelShape {
                    vocab_size: 1024,
                    hidden_size: 64,
                    intermediate_size: 192,
                    layers: 2,
                    heads: 4,
                    init_std: 0.02,
                },
                problems_per_skill: 1500,
                held_out_problems: 4500,
                pretrain: plan(60, 5e-3),
                expert: plan(200, 8e-3),
                all_data: plan(200, 8e-3),
            },
            DemoScale::Full => DemoRecipe {
                shape: ModelShape {
                    vocab_size: 1024,
                    hidden_size: 128,
                    intermediate_size: 384,
                    layers: 2,
                    heads: 4,
                    init_std: 0.02,
                },
                problems_per_skill: 1500,
                // 250 steps taught only the held-out answers' prior (0.067); 500 steps
                // with 13500 problems reach 0.500 on its test split (docs/demo.md).
                held_out_problems: 13500,
                pretrain: plan(500, 3e-3),
                expert: plan(400, 3e-3),
                all_data: plan(600, 3e-3),
            },
        }
    }

    /// Refuses values no run can use, naming the field.
    pub fn check(&self) -> Result<()> {
        let s = &self.shape;
        let positive = [
            ("shape.hidden_size", s.hidden_size),
            ("shape.intermediate_size", s.intermediate_size),
            ("shape.layers", s.layers),
            ("shape.heads", s.heads),
            ("problems_per_skill", self.problems_per_skill),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(DemoError::Recipe(format!("{field} must be at least 1")));
            }
        }
        if !s.hidden_size.is_multiple_of(s.heads) || !(s.hidden_size / s.heads).is_multiple_of(2) {
            return Err(DemoError::Recipe(format!(
                "shape.hidden_size {} must split into {} heads of an even width",
                s.hidden_size, s.heads
            )));
        }
        for (name, plan) in [
            ("pretrain", &self.pretrain),
            ("expert", &self.expert),
            ("all_data", &self.all_data),
        ] {
            if plan.steps == 0 || plan.batch_size == 0 {
                return Err(DemoError::Recipe(format!(
                    "{name}.steps and {name}.batch_size must be at least 1"
                )));
            }
            if !(plan.learning_rate.is_finite() && plan.learning_rate > 0.0) {
                return Err(DemoError::Recipe(format!(
                    "{name}.learning_rate must be a positive number, got {}",
                    plan.learning_rate
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_scales_pass_their_own_checks() {
        for scale in [DemoScale::Quick, DemoScale::Full] {
            DemoRecipe::for_scale(scale).check().unwrap();
            assert_eq!(scale.name().parse::<DemoScale>().unwrap(), scale);
        }
    }

    #[test]
    fn bad_values_are_named() {
        let mut recipe = DemoRecipe::for_scale(DemoScale::Quick);
        recipe.shape.heads = 3;
        assert!(recipe.check().unwrap_err().to_string().contains("heads"));
        let mut recipe = DemoRecipe::for_scale(DemoScale::Quick);
        recipe.expert.learning_rate = f64::NAN;
        let err = recipe.check().unwrap_err().to_string();
        assert!(err.contains("expert.learning_rate"), "{err}");
    }
}
