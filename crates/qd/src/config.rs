//! The configuration of a cycle: tasks, BC axes, budget, schedule, sampler and seed.

use serde::{Deserialize, Serialize};

use crate::axis::BcAxis;
use crate::error::QdError;
use crate::sampler::ParentSampler;

/// Everything that determines a run's results besides the scores: same config, same
/// scores, bit-identical archives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleConfig {
    /// Task names in configured order (K >= 2, unique, non-empty).
    pub tasks: Vec<String>,
    /// Per task, the BC axis used wherever that task is a behaviour characteristic.
    pub axes: Vec<BcAxis>,
    /// The number of generations G (one child each).
    pub generations: u64,
    /// Generations per quality task before moving to the next one (>= 1).
    pub flip_interval: u64,
    /// How parents are drawn.
    pub sampler: ParentSampler,
    /// W, the number of evaluations in flight: generation g is bred from the archives
    /// after generations 1..=g-W are inserted (>= 1; 1 is the sequential loop).
    pub in_flight: u64,
    /// The run seed; every generation's randomness derives from it.
    pub seed: u64,
    /// The paper's cycling archives (one per quality task), or the fixed-quality ablation.
    #[serde(default, skip_serializing_if = "QualityMode::is_cyclic")]
    pub quality: QualityMode,
}

/// How archives judge quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityMode {
    /// K archives; archive k's quality is task k's score, its BCs the other tasks' scores;
    /// generation g breeds from archive `quality_task(g)` (the paper's method).
    #[default]
    Cyclic,
    /// The fixed-quality ablation: one archive whose quality is the mean of the K scores
    /// and whose BCs are all K scores; every generation breeds from it.
    FixedMean,
}

impl QualityMode {
    /// Whether this is the paper's cyclic mode.
    pub fn is_cyclic(&self) -> bool {
        *self == QualityMode::Cyclic
    }
}

impl CycleConfig {
    /// The paper's defaults for these tasks and axes: G = 1200, flip interval 1, elite
    /// sampling (0.5, 0.8), one evaluation in flight, seed 0.
    pub fn paper(tasks: Vec<String>, axes: Vec<BcAxis>) -> Self {
        CycleConfig {
            tasks,
            axes,
            generations: 1200,
            flip_interval: 1,
            sampler: ParentSampler::PAPER,
            in_flight: 1,
            seed: 0,
            quality: QualityMode::Cyclic,
        }
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), QdError> {
        let k = self.tasks.len();
        if k < 2 {
            return Err(QdError::config(
                "tasks",
                format!("CycleQD needs at least 2 tasks, got {k}"),
            ));
        }
        for (i, name) in self.tasks.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(QdError::config(format!("tasks[{i}]"), "empty task name"));
            }
            if self.tasks[..i].contains(name) {
                return Err(QdError::config(
                    format!("tasks[{i}]"),
                    format!("task `{name}` is listed twice"),
                ));
            }
        }
        if self.axes.len() != k {
            return Err(QdError::config(
                "axes",
                format!("expected one axis per task ({k}), got {}", self.axes.len()),
            ));
        }
        if self.flip_interval == 0 {
            return Err(QdError::config("flip_interval", "expected >= 1, got 0"));
        }
        if self.in_flight == 0 {
            return Err(QdError::config("in_flight", "expected >= 1, got 0"));
        }
        self.sampler.validate("sampler")
    }

    /// The number of tasks K.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// The number of archives: K, or 1 for the fixed-quality ablation.
    pub fn archive_count(&self) -> usize {
        match self.quality {
            QualityMode::Cyclic => self.tasks.len(),
            QualityMode::FixedMean => 1,
        }
    }

    /// The archive generation `g` breeds from.
    pub fn breeding_archive(&self, generation: u64) -> usize {
        match self.quality {
            QualityMode::Cyclic => self.quality_task(generation),
            QualityMode::FixedMean => 0,
        }
    }

    /// The quality task of generation `g`: `floor(g / flip_interval) mod K` (in the
    /// fixed-quality ablation it still cycles, choosing the `svd_expert` mutation's expert).
    pub fn quality_task(&self, generation: u64) -> usize {
        ((generation / self.flip_interval) % self.tasks.len() as u64) as usize
    }

    /// The name of the first field in which `other` differs from `self`, if any.
    pub fn first_difference(&self, other: &CycleConfig) -> Option<&'static str> {
        [
            ("tasks", self.tasks == other.tasks),
            ("axes", self.axes == other.axes),
            ("generations", self.generations == other.generations),
            ("flip_interval", self.flip_interval == other.flip_interval),
            ("sampler", self.sampler == other.sampler),
            ("in_flight", self.in_flight == other.in_flight),
            ("seed", self.seed == other.seed),
            ("quality", self.quality == other.quality),
        ]
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(field, _)| field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CycleConfig {
        let axes = (0..3).map(|_| BcAxis::new(0.0, 0.5, 15).unwrap()).collect();
        CycleConfig::paper(vec!["os".into(), "coding".into(), "db".into()], axes)
    }

    #[test]
    fn quality_task_cycles_from_index_one() {
        let mut c = config();
        let ks: Vec<usize> = (1..=6).map(|g| c.quality_task(g)).collect();
        assert_eq!(ks, vec![1, 2, 0, 1, 2, 0]);
        c.flip_interval = 2;
        let ks: Vec<usize> = (1..=7).map(|g| c.quality_task(g)).collect();
        assert_eq!(ks, vec![0, 1, 1, 2, 2, 0, 0]);
    }

    #[test]
    fn validation_names_the_field() {
        assert!(config().validate().is_ok());
        type Breakage = fn(&mut CycleConfig);
        let cases: Vec<(Breakage, &str)> = vec![
            (|c| c.tasks.truncate(1), "`tasks`"),
            (|c| c.tasks[2] = "os".into(), "`tasks[2]`"),
            (|c| c.tasks[0] = " ".into(), "`tasks[0]`"),
            (|c| c.axes.pop().map(drop).unwrap_or(()), "`axes`"),
            (|c| c.flip_interval = 0, "`flip_interval`"),
            (|c| c.in_flight = 0, "`in_flight`"),
            (
                |c| {
                    c.sampler = ParentSampler::Elite {
                        a_lo: 0.9,
                        a_hi: 0.1,
                    }
                },
                "`sampler`",
            ),
        ];
        for (break_it, field) in cases {
            let mut c = config();
            break_it(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = config();
        let json = serde_json::to_string_pretty(&c).unwrap();
        let back: CycleConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.first_difference(&c), None);
        let mut d = c.clone();
        d.seed = 9;
        assert_eq!(c.first_difference(&d), Some("seed"));
        assert!(
            !json.contains("quality"),
            "the default mode is not written: {json}"
        );
        let mut fixed = c.clone();
        fixed.quality = QualityMode::FixedMean;
        let json = serde_json::to_string(&fixed).unwrap();
        assert!(json.contains(r#""quality":"fixed_mean""#), "{json}");
        assert_eq!(serde_json::from_str::<CycleConfig>(&json).unwrap(), fixed);
        assert_eq!(c.first_difference(&fixed), Some("quality"));
        assert_eq!((fixed.archive_count(), fixed.breeding_archive(5)), (1, 0));
    }
}
