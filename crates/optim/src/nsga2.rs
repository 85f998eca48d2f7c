//! NSGA-II (Deb et al. 2002) as an ask/tell state machine with pymoo's default operators:
//! binary tournaments by dominance then crowding, SBX crossover, polynomial mutation,
//! duplicate elimination, and rank-and-crowding survival. Minimisation of M objectives.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dominance::{crowding_distance, dominates, non_dominated_sort};
use crate::error::{check_finite_vector, OptimError};
use crate::streams::{stream, Purpose};

/// Offspring closer than this (Euclidean) to an existing point count as duplicates (pymoo's
/// `DefaultDuplicateElimination` epsilon).
const DUPLICATE_DISTANCE: f64 = 1e-16;
/// Parents whose coordinates differ by at most this are not crossed in that coordinate.
const SBX_MIN_GAP: f64 = 1e-14;
/// Breeding rounds `ask` spends trying to fill the offspring with non-duplicates before it
/// returns fewer (pymoo's `n_max_iterations`).
const MAX_BREEDING_ROUNDS: usize = 100;

/// Search space, population size and variation operators of an NSGA-II run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nsga2Config {
    /// `[low, high]` of each decision variable; its length is the dimension n.
    pub bounds: Vec<[f64; 2]>,
    /// Members kept after each survival and offspring bred per generation (≥ 2).
    pub population: usize,
    /// Seed of every random draw of the run.
    pub seed: u64,
    /// Caller-given points that open generation 0; random points fill the rest.
    pub initial: Vec<Vec<f64>>,
    /// Probability that a mating applies SBX at all (pymoo: 0.9).
    pub crossover_prob: f64,
    /// Per-variable probability of SBX within a crossing mating (pymoo: 0.5).
    pub crossover_var_prob: f64,
    /// SBX distribution index η_c (pymoo: 15).
    pub crossover_eta: f64,
    /// Probability that an offspring is mutated at all (pymoo's `PM(prob=0.9)`).
    pub mutation_individual_prob: f64,
    /// Per-variable mutation probability; `None` gives pymoo's `min(0.5, 1/n)`.
    pub mutation_prob: Option<f64>,
    /// Polynomial-mutation distribution index η_m (pymoo: 20).
    pub mutation_eta: f64,
    /// Whether offspring equal to a population member or an earlier offspring are re-bred.
    pub eliminate_duplicates: bool,
}

impl Nsga2Config {
    /// pymoo's `NSGA2(pop_size=population)` defaults on the given box.
    pub fn pymoo_defaults(bounds: Vec<[f64; 2]>, population: usize, seed: u64) -> Self {
        Self {
            bounds,
            population,
            seed,
            initial: Vec::new(),
            crossover_prob: 0.9,
            crossover_var_prob: 0.5,
            crossover_eta: 15.0,
            mutation_individual_prob: 0.9,
            mutation_prob: None,
            mutation_eta: 20.0,
            eliminate_duplicates: true,
        }
    }

    fn validate(&self) -> Result<(), OptimError> {
        if self.bounds.is_empty() {
            return Err(invalid(
                "bounds",
                "expected at least one variable, got none".into(),
            ));
        }
        for (i, [low, high]) in self.bounds.iter().enumerate() {
            if !(low.is_finite() && high.is_finite() && low <= high) {
                return Err(invalid(
                    &format!("bounds[{i}]"),
                    format!("expected finite [low, high] with low <= high, got [{low}, {high}]"),
                ));
            }
        }
        if self.population < 2 {
            return Err(invalid(
                "population",
                format!("expected at least 2 members, got {}", self.population),
            ));
        }
        if self.initial.len() > self.population {
            return Err(invalid(
                "initial",
                format!(
                    "expected at most `population` = {} points, got {}",
                    self.population,
                    self.initial.len()
                ),
            ));
        }
        for (k, x) in self.initial.iter().enumerate() {
            check_point(&format!("initial[{k}]"), x, &self.bounds)
                .map_err(|e| invalid("initial", e.to_string()))?;
        }
        let probabilities = [
            ("crossover_prob", Some(self.crossover_prob)),
            ("crossover_var_prob", Some(self.crossover_var_prob)),
            (
                "mutation_individual_prob",
                Some(self.mutation_individual_prob),
            ),
            ("mutation_prob", self.mutation_prob),
        ];
        for (field, p) in probabilities {
            if let Some(p) = p.filter(|p| !(0.0..=1.0).contains(p)) {
                return Err(invalid(
                    field,
                    format!("expected a probability in [0, 1], got {p}"),
                ));
            }
        }
        for (field, eta) in [
            ("crossover_eta", self.crossover_eta),
            ("mutation_eta", self.mutation_eta),
        ] {
            if !(eta.is_finite() && eta >= 0.0) {
                return Err(invalid(
                    field,
                    format!("expected a finite number >= 0, got {eta}"),
                ));
            }
        }
        Ok(())
    }
}

/// One member of the population with its non-domination rank (0 = first front) and its
/// crowding distance within that front (infinite at the front's extremes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Decision vector.
    pub x: Vec<f64>,
    /// Objective values, lower is better.
    pub objectives: Vec<f64>,
    /// Index of the member's non-dominated front.
    pub rank: usize,
    /// Crowding distance in its front; JSON has no infinity, so infinite values are `null`.
    #[serde(with = "infinite_as_null")]
    pub crowding: f64,
}

/// The full state of an NSGA-II run; serialise it to snapshot a run, or rebuild it by
/// replaying the told generations into [`Nsga2::new`] of the same config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nsga2 {
    config: Nsga2Config,
    population: Vec<Member>,
    objective_count: Option<usize>,
    generation: u64,
    evaluations: u64,
}

impl Nsga2 {
    /// Validates `config` and starts a run at generation 0.
    pub fn new(config: Nsga2Config) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Self {
            config,
            population: Vec::new(),
            objective_count: None,
            generation: 0,
            evaluations: 0,
        })
    }

    /// Generation 0: the initial population (caller-given points, then uniform random ones).
    /// Later: `population` offspring bred from the current population (fewer only if
    /// duplicate elimination could not find enough distinct ones). Repeatable.
    pub fn ask(&self) -> Vec<Vec<f64>> {
        let mut rng = stream(self.config.seed, self.generation, Purpose::Ask);
        if self.generation == 0 {
            let mut points = self.config.initial.clone();
            while points.len() < self.config.population {
                let x = self
                    .config
                    .bounds
                    .iter()
                    .map(|[low, high]| low + rng.random::<f64>() * (high - low))
                    .collect();
                points.push(x);
            }
            return points;
        }
        let wanted = self.config.population;
        let mut offspring: Vec<Vec<f64>> = Vec::with_capacity(wanted);
        for _ in 0..MAX_BREEDING_ROUNDS {
            for child in self.breed(wanted - offspring.len(), &mut rng) {
                if offspring.len() == wanted {
                    break;
                }
                let duplicate = self.config.eliminate_duplicates
                    && (self.population.iter().any(|m| same_point(&m.x, &child))
                        || offspring.iter().any(|o| same_point(o, &child)));
                if !duplicate {
                    offspring.push(child);
                }
            }
            if offspring.len() == wanted {
                break;
            }
        }
        offspring
    }

    /// Merges the evaluated candidates into the population and keeps the best `population`
    /// by non-domination rank, then crowding distance (ties broken at random).
    pub fn tell(
        &mut self,
        candidates: &[Vec<f64>],
        objectives: &[Vec<f64>],
    ) -> Result<(), OptimError> {
        if candidates.is_empty() {
            return Err(OptimError::WrongLength {
                what: "candidates (at least one)".to_string(),
                expected: 1,
                got: 0,
            });
        }
        if objectives.len() != candidates.len() {
            return Err(OptimError::WrongLength {
                what: "objectives (one vector per candidate)".to_string(),
                expected: candidates.len(),
                got: objectives.len(),
            });
        }
        let m = self.objective_count.unwrap_or(objectives[0].len());
        if m == 0 {
            return Err(OptimError::WrongLength {
                what: "objectives[0] (at least one objective)".to_string(),
                expected: 1,
                got: 0,
            });
        }
        for (k, (x, f)) in candidates.iter().zip(objectives).enumerate() {
            check_point(&format!("candidates[{k}]"), x, &self.config.bounds)?;
            check_finite_vector(&format!("objectives[{k}]"), f, m)?;
        }

        let mut pool: Vec<Member> = std::mem::take(&mut self.population);
        pool.extend(candidates.iter().zip(objectives).map(|(x, f)| Member {
            x: x.clone(),
            objectives: f.clone(),
            rank: 0,
            crowding: 0.0,
        }));
        let mut rng = stream(self.config.seed, self.generation, Purpose::Tell);
        self.population = survive(pool, self.config.population, &mut rng);
        self.objective_count = Some(m);
        self.evaluations += candidates.len() as u64;
        self.generation += 1;
        Ok(())
    }

    /// The current population, survivors of the last `tell`.
    pub fn population(&self) -> &[Member] {
        &self.population
    }

    /// The members of the first non-dominated front.
    pub fn front(&self) -> Vec<&Member> {
        self.population.iter().filter(|m| m.rank == 0).collect()
    }

    /// Generations told so far (0 before the initial population is told).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Evaluations told so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The configuration the run was started with.
    pub fn config(&self) -> &Nsga2Config {
        &self.config
    }

    /// One breeding round: `ceil(wanted / 2)` matings of tournament winners, two children
    /// each, every child crossed and mutated.
    fn breed(&self, wanted: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
        let matings = wanted.div_ceil(2);
        let winners = self.tournaments(2 * matings, rng);
        let mut children = Vec::with_capacity(2 * matings);
        for pair in winners.chunks(2) {
            let (a, b) = (&self.population[pair[0]].x, &self.population[pair[1]].x);
            let (mut c1, mut c2) = if rng.random::<f64>() < self.config.crossover_prob {
                self.sbx(a, b, rng)
            } else {
                (a.clone(), b.clone())
            };
            self.mutate(&mut c1, rng);
            self.mutate(&mut c2, rng);
            children.push(c1);
            children.push(c2);
        }
        children
    }

    /// `count` binary tournaments over pairs taken from concatenated random permutations of
    /// the population, as pymoo's `TournamentSelection(pressure=2)` draws them.
    fn tournaments(&self, count: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let n = self.population.len();
        if n == 0 {
            // Only a hand-edited snapshot can get here; there is nobody to select.
            return Vec::new();
        }
        let mut contestants = Vec::with_capacity(2 * count + n);
        while contestants.len() < 2 * count {
            let mut permutation: Vec<usize> = (0..n).collect();
            permutation.shuffle(rng);
            contestants.extend(permutation);
        }
        contestants[..2 * count]
            .chunks(2)
            .map(|pair| {
                let (a, b) = (&self.population[pair[0]], &self.population[pair[1]]);
                if dominates(&a.objectives, &b.objectives) {
                    pair[0]
                } else if dominates(&b.objectives, &a.objectives) {
                    pair[1]
                } else if a.crowding > b.crowding {
                    pair[0]
                } else if b.crowding > a.crowding {
                    pair[1]
                } else if rng.random::<bool>() {
                    pair[0]
                } else {
                    pair[1]
                }
            })
            .collect()
    }

    /// Simulated binary crossover with bounded spread (Deb & Agrawal), per variable with
    /// probability `crossover_var_prob`; each child takes either spread value at random.
    fn sbx(&self, a: &[f64], b: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let eta = self.config.crossover_eta;
        let (mut c1, mut c2) = (a.to_vec(), b.to_vec());
        for (i, &[low, high]) in self.config.bounds.iter().enumerate() {
            let crossed = rng.random::<f64>() < self.config.crossover_var_prob;
            if !crossed || (a[i] - b[i]).abs() <= SBX_MIN_GAP || low == high {
                continue;
            }
            let (y1, y2) = if a[i] < b[i] {
                (a[i], b[i])
            } else {
                (b[i], a[i])
            };
            let delta = y2 - y1;
            let u = rng.random::<f64>();
            let spread = |beta: f64| {
                let alpha = 2.0 - beta.powf(-(eta + 1.0));
                if u <= 1.0 / alpha {
                    (u * alpha).powf(1.0 / (eta + 1.0))
                } else {
                    (1.0 / (2.0 - u * alpha)).powf(1.0 / (eta + 1.0))
                }
            };
            let lower = 0.5 * ((y1 + y2) - spread(1.0 + 2.0 * (y1 - low) / delta) * delta);
            let upper = 0.5 * ((y1 + y2) + spread(1.0 + 2.0 * (high - y2) / delta) * delta);
            let (first, second) = if rng.random::<bool>() {
                (lower, upper)
            } else {
                (upper, lower)
            };
            c1[i] = first.clamp(low, high);
            c2[i] = second.clamp(low, high);
        }
        (c1, c2)
    }

    /// Polynomial mutation (Deb & Goyal) of the whole child with probability
    /// `mutation_individual_prob`, each variable with the per-variable probability.
    fn mutate(&self, x: &mut [f64], rng: &mut ChaCha8Rng) {
        let n = self.config.bounds.len();
        let per_variable = self
            .config
            .mutation_prob
            .unwrap_or((1.0 / n as f64).min(0.5));
        let eta = self.config.mutation_eta;
        let mutate_child = rng.random::<f64>() < self.config.mutation_individual_prob;
        for (xi, &[low, high]) in x.iter_mut().zip(&self.config.bounds) {
            let chosen = rng.random::<f64>() < per_variable;
            if !mutate_child || !chosen || low == high {
                continue;
            }
            let width = high - low;
            let u = rng.random::<f64>();
            let power = 1.0 / (eta + 1.0);
            let shift = if u <= 0.5 {
                let headroom = 1.0 - (*xi - low) / width;
                (2.0 * u + (1.0 - 2.0 * u) * headroom.powf(eta + 1.0)).powf(power) - 1.0
            } else {
                let headroom = 1.0 - (high - *xi) / width;
                1.0 - (2.0 * (1.0 - u) + 2.0 * (u - 0.5) * headroom.powf(eta + 1.0)).powf(power)
            };
            *xi = (*xi + shift * width).clamp(low, high);
        }
    }
}

/// Rank-and-crowding survival: whole fronts while they fit, then the most crowded-apart
/// members of the front that overflows (random order among equal distances).
fn survive(pool: Vec<Member>, keep: usize, rng: &mut ChaCha8Rng) -> Vec<Member> {
    let keep = keep.min(pool.len());
    let objectives: Vec<&[f64]> = pool.iter().map(|m| m.objectives.as_slice()).collect();
    let fronts = non_dominated_sort(&objectives);
    let mut chosen: Vec<(usize, usize, f64)> = Vec::with_capacity(keep);
    for (rank, front) in fronts.iter().enumerate() {
        if chosen.len() == keep {
            break;
        }
        let points: Vec<&[f64]> = front.iter().map(|&i| objectives[i]).collect();
        let crowding = crowding_distance(&points);
        let mut order: Vec<usize> = (0..front.len()).collect();
        if chosen.len() + front.len() > keep {
            order.shuffle(rng);
            order.sort_by(|&a, &b| crowding[b].total_cmp(&crowding[a]));
            order.truncate(keep - chosen.len());
        }
        chosen.extend(order.into_iter().map(|k| (front[k], rank, crowding[k])));
    }
    let mut slots: Vec<Option<Member>> = pool.into_iter().map(Some).collect();
    chosen
        .into_iter()
        .filter_map(|(index, rank, crowding)| {
            slots[index].take().map(|mut m| {
                m.rank = rank;
                m.crowding = crowding;
                m
            })
        })
        .collect()
}

fn same_point(a: &[f64], b: &[f64]) -> bool {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
        <= DUPLICATE_DISTANCE
}

/// Checks that `x` has one finite value per bound, each within its bound.
fn check_point(what: &str, x: &[f64], bounds: &[[f64; 2]]) -> Result<(), OptimError> {
    check_finite_vector(what, x, bounds.len())?;
    match x
        .iter()
        .zip(bounds)
        .position(|(v, [low, high])| v < low || v > high)
    {
        Some(i) => Err(OptimError::OutOfRange {
            what: format!("{what}[{i}]"),
            value: x[i],
            low: bounds[i][0],
            high: bounds[i][1],
        }),
        None => Ok(()),
    }
}

fn invalid(field: &str, reason: String) -> OptimError {
    OptimError::InvalidConfig {
        field: field.to_string(),
        reason,
    }
}

/// Serde for crowding distances: JSON has no infinity, so `f64::INFINITY` travels as `null`.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_some(value)
        } else {
            serializer.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Nsga2Config {
        Nsga2Config::pymoo_defaults(vec![[0.0, 1.0], [-2.0, 2.0], [5.0, 5.0]], 8, 11)
    }

    fn two_objectives(x: &[f64]) -> Vec<f64> {
        vec![x[0], (1.0 - x[0]) + x[1] * x[1]]
    }

    #[test]
    fn bad_configs_name_the_field() {
        let field_of = |c: Nsga2Config| match Nsga2::new(c) {
            Err(OptimError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        assert_eq!(
            field_of(Nsga2Config {
                bounds: vec![],
                ..config()
            }),
            "bounds"
        );
        assert_eq!(
            field_of(Nsga2Config {
                bounds: vec![[1.0, 0.0]],
                ..config()
            }),
            "bounds[0]"
        );
        assert_eq!(
            field_of(Nsga2Config {
                population: 1,
                ..config()
            }),
            "population"
        );
        assert_eq!(
            field_of(Nsga2Config {
                crossover_prob: 1.5,
                ..config()
            }),
            "crossover_prob"
        );
        assert_eq!(
            field_of(Nsga2Config {
                mutation_prob: Some(-0.1),
                ..config()
            }),
            "mutation_prob"
        );
        assert_eq!(
            field_of(Nsga2Config {
                mutation_eta: f64::NAN,
                ..config()
            }),
            "mutation_eta"
        );
        assert_eq!(
            field_of(Nsga2Config {
                initial: vec![vec![0.5, 3.0, 5.0]],
                ..config()
            }),
            "initial"
        );
        assert_eq!(
            field_of(Nsga2Config {
                initial: vec![vec![0.5, 0.0, 5.0]; 9],
                ..config()
            }),
            "initial"
        );
    }

    #[test]
    fn first_ask_is_initial_points_then_uniform_in_bounds() {
        let c = Nsga2Config {
            initial: vec![vec![0.25, 1.0, 5.0]],
            ..config()
        };
        let nsga = Nsga2::new(c).unwrap();
        let xs = nsga.ask();
        assert_eq!(xs, nsga.ask());
        assert_eq!(xs.len(), 8);
        assert_eq!(xs[0], vec![0.25, 1.0, 5.0]);
        for x in &xs {
            assert!(check_point("x", x, &nsga.config.bounds).is_ok(), "{x:?}");
            assert_eq!(x[2], 5.0);
        }
    }

    #[test]
    fn offspring_stay_in_bounds_and_fronts_are_consistent() {
        let mut nsga = Nsga2::new(config()).unwrap();
        for _ in 0..20 {
            let xs = nsga.ask();
            assert_eq!(xs.len(), 8);
            for x in &xs {
                assert!(check_point("x", x, &nsga.config.bounds).is_ok(), "{x:?}");
            }
            let fs: Vec<Vec<f64>> = xs.iter().map(|x| two_objectives(x)).collect();
            nsga.tell(&xs, &fs).unwrap();
            assert_eq!(nsga.population().len(), 8);
            let front = nsga.front();
            assert!(!front.is_empty());
            for a in &front {
                assert!(nsga
                    .population()
                    .iter()
                    .all(|m| !dominates(&m.objectives, &a.objectives)));
            }
        }
        assert_eq!(nsga.generation(), 20);
        assert_eq!(nsga.evaluations(), 160);
    }

    #[test]
    fn tell_rejects_bad_input_without_changing_state() {
        let mut nsga = Nsga2::new(config()).unwrap();
        let xs = nsga.ask();
        let fs: Vec<Vec<f64>> = xs.iter().map(|x| two_objectives(x)).collect();
        let before = nsga.clone();
        assert!(matches!(
            nsga.tell(&xs, &fs[1..]),
            Err(OptimError::WrongLength { .. })
        ));
        let mut out = xs.clone();
        out[3][1] = 2.5;
        assert_eq!(
            nsga.tell(&out, &fs).unwrap_err().to_string(),
            "candidates[3][1] is 2.5, expected a value in [-2, 2]"
        );
        let mut nan = fs.clone();
        nan[1][0] = f64::NAN;
        assert_eq!(
            nsga.tell(&xs, &nan).unwrap_err().to_string(),
            "objectives[1][0] is NaN, expected a finite number"
        );
        assert_eq!(nsga, before);
        nsga.tell(&xs, &fs).unwrap();
        let children = nsga.ask();
        let short: Vec<Vec<f64>> = children.iter().map(|_| vec![0.0]).collect();
        assert!(
            matches!(nsga.tell(&children, &short), Err(OptimError::WrongLength { what, expected: 2, got: 1 }) if what == "objectives[0]")
        );
    }

    #[test]
    fn survival_keeps_whole_fronts_then_the_least_crowded() {
        let member = |f1: f64, f2: f64| Member {
            x: vec![f1],
            objectives: vec![f1, f2],
            rank: 9,
            crowding: 0.0,
        };
        // Front 0: four points on a line; front 1: one point. Keeping 3 must drop an inner
        // point of front 0 (crowding finite) and keep both extremes (infinite).
        let pool = vec![
            member(0.0, 3.0),
            member(1.0, 2.0),
            member(2.5, 0.5),
            member(3.0, 0.0),
            member(3.0, 3.0),
        ];
        let mut rng = stream(0, 0, Purpose::Tell);
        let kept = survive(pool, 3, &mut rng);
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().all(|m| m.rank == 0));
        let xs: Vec<f64> = kept.iter().map(|m| m.x[0]).collect();
        assert!(
            xs.contains(&0.0) && xs.contains(&3.0) && xs.contains(&1.0),
            "{xs:?}"
        );
        assert_eq!(kept.iter().filter(|m| m.crowding.is_infinite()).count(), 2);
    }

    #[test]
    fn infinite_crowding_survives_json() {
        let m = Member {
            x: vec![1.0],
            objectives: vec![2.0],
            rank: 0,
            crowding: f64::INFINITY,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"crowding\":null"), "{text}");
        assert_eq!(serde_json::from_str::<Member>(&text).unwrap(), m);
    }
}
