//! The `[search]` table of RUN.toml: the method, budget, parent sampling and archive
//! settings; also given as only the method's name (`search = "cma-es"`), which keeps every
//! other search setting at its default.

use cycleqd_qd::{QualityMode, PAPER_BINS};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Parent sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// The paper's elite sampling.
    Elite,
    /// Two distinct elites, uniformly.
    Uniform,
}

/// Budget and archive settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// CycleQD (the default) or a merge-weight search baseline.
    pub method: SearchMethod,
    /// Generations G (one child each). The weight searches get the same number of
    /// evaluations as a CycleQD run: K (CycleQD scores the experts that seed its archives)
    /// plus G.
    pub generations: u64,
    /// Generations per quality task before cycling to the next.
    pub flip_interval: u64,
    /// Parent sampling.
    pub sampler: SamplerKind,
    /// Elite sampling's scaling range `[a_lo, a_hi]`.
    pub elite_range: [f64; 2],
    /// BC bins per task.
    pub bins: u32,
    /// Evaluations in flight W (the run is the same function of its seed whatever W).
    pub in_flight: u64,
    /// The run seed.
    pub seed: u64,
    /// Also seed the archives with the base model.
    pub seed_base: bool,
    /// `cyclic` (the paper's K archives) or `fixed_mean` (the fixed-quality ablation: one
    /// archive, quality = the mean of the K scores, BCs = the K scores).
    pub quality: QualityMode,
}

/// Which search a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchMethod {
    /// Cyclic quality-diversity search with model-merging crossover (the default).
    #[serde(rename = "cycleqd")]
    CycleQd,
    /// CMA-ES over task-arithmetic weights, maximising the mean optimisation score.
    #[serde(rename = "cma-es")]
    CmaEs,
    /// NSGA-II over task-arithmetic weights, the K scores as objectives.
    #[serde(rename = "nsga2")]
    Nsga2,
}

impl SearchMethod {
    /// The method's name in configs and tables.
    pub fn name(self) -> &'static str {
        match self {
            SearchMethod::CycleQd => "cycleqd",
            SearchMethod::CmaEs => "cma-es",
            SearchMethod::Nsga2 => "nsga2",
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            method: SearchMethod::CycleQd,
            generations: 1200,
            flip_interval: 1,
            sampler: SamplerKind::Elite,
            elite_range: [0.5, 0.8],
            bins: PAPER_BINS,
            in_flight: 1,
            seed: 0,
            seed_base: false,
            quality: QualityMode::Cyclic,
        }
    }
}

/// Deserialises `search` from a table or a method name.
pub(crate) fn table_or_method<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SearchConfig, D::Error> {
    struct TableOrMethod;

    impl<'de> Visitor<'de> for TableOrMethod {
        type Value = SearchConfig;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(r#"a [search] table or a method name: "cycleqd", "cma-es" or "nsga2""#)
        }

        fn visit_str<E: de::Error>(self, name: &str) -> Result<SearchConfig, E> {
            let method = SearchMethod::deserialize(de::value::StrDeserializer::<E>::new(name))?;
            Ok(SearchConfig {
                method,
                ..SearchConfig::default()
            })
        }

        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<SearchConfig, M::Error> {
            SearchConfig::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_any(TableOrMethod)
}
