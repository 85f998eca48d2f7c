//! Cross-checks against public implementations, from fixtures written by scripts under
//! `scripts/`: pyribs' GridArchive cell indices (qd_ribs_fixture.py) and the spec's
//! elite-sampling formula written out in numpy (qd_sampler_fixture.py).

use std::sync::Arc;

use cycleqd_qd::{Archive, BcAxis, CellMapping, Individual, IndividualId, ParentSampler};
use serde::Deserialize;

#[derive(Deserialize)]
struct RibsFixture {
    ribs_version: String,
    cases: Vec<RibsCase>,
}

#[derive(Deserialize)]
struct RibsCase {
    bins: Vec<u32>,
    ranges: Vec<(f64, f64)>,
    points: Vec<Vec<f64>>,
    int_index: Vec<u64>,
    grid_index: Vec<Vec<u32>>,
    edge_points: Vec<Vec<f64>>,
    edge_dim: Vec<usize>,
    edge_number: Vec<u32>,
    edge_grid_index: Vec<Vec<u32>>,
}

fn load<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The mapping of an archive whose BC dimensions are the fixture's measure dimensions:
/// task 0 is the quality, tasks 1..=d carry the measures.
fn mapping_for(case: &RibsCase) -> CellMapping {
    let mut axes = vec![BcAxis::new(0.0, 1.0, 1).unwrap()];
    for (&(lo, hi), &n) in case.ranges.iter().zip(&case.bins) {
        axes.push(BcAxis::new(lo, hi, n).unwrap());
    }
    CellMapping::new(0, &axes)
}

fn scores(point: &[f64]) -> Vec<f64> {
    std::iter::once(0.5).chain(point.iter().copied()).collect()
}

#[test]
fn cell_index_matches_pyribs_grid_archive() {
    let fixture: RibsFixture = load("ribs_grid_index.json");
    assert!(fixture.ribs_version.starts_with("0.12"));
    let mut checked = 0;
    for case in &fixture.cases {
        let mapping = mapping_for(case);
        let mut ours = Vec::new();
        for (point, expected) in case.points.iter().zip(&case.grid_index) {
            let cell = mapping.cell_of(&scores(point));
            assert_eq!(
                cell.bins(),
                expected.as_slice(),
                "point {point:?} in {:?}",
                case.ranges
            );
            ours.push(cell);
            checked += 1;
        }
        // Cell keys order like pyribs' row-major integer index.
        let mut by_key: Vec<usize> = (0..ours.len()).collect();
        by_key.sort_by(|&a, &b| ours[a].cmp(&ours[b]).then(a.cmp(&b)));
        let mut by_int: Vec<usize> = (0..ours.len()).collect();
        by_int.sort_by_key(|&i| (case.int_index[i], i));
        assert_eq!(by_key, by_int);
    }
    assert!(checked >= 400);
}

#[test]
fn edges_differ_from_pyribs_exactly_as_documented() {
    // On an interior edge e_i the spec's rule gives bin i - 1 and pyribs bin i; on lo and
    // hi both agree (0 and n - 1).
    let fixture: RibsFixture = load("ribs_grid_index.json");
    for case in &fixture.cases {
        let mapping = mapping_for(case);
        for (((point, &d), &i), pyribs) in case
            .edge_points
            .iter()
            .zip(&case.edge_dim)
            .zip(&case.edge_number)
            .zip(&case.edge_grid_index)
        {
            let cell = mapping.cell_of(&scores(point));
            let interior = i > 0 && i < case.bins[d];
            let expected = if interior { pyribs[d] - 1 } else { pyribs[d] };
            assert_eq!(
                cell.bins()[d],
                expected,
                "edge {i} of dim {d} in {:?}",
                case.ranges
            );
            if interior {
                assert_eq!(pyribs[d], i);
            }
        }
    }
}

#[derive(Deserialize)]
struct SamplerFixture {
    cases: Vec<SamplerCase>,
}

#[derive(Deserialize)]
struct SamplerCase {
    quality_task: usize,
    axes: Vec<BcAxis>,
    a_lo: f64,
    a_hi: f64,
    elites: Vec<Vec<f64>>,
    p_first: Vec<f64>,
    p_second_given_first: Vec<Vec<f64>>,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1e-3)
}

#[test]
fn elite_sampling_matches_the_numpy_formula() {
    let fixture: SamplerFixture = load("elite_sampler.json");
    let mut constant_column_seen = false;
    for (c, case) in fixture.cases.iter().enumerate() {
        let mut archive = Archive::new(case.quality_task, &case.axes);
        for (i, scores) in case.elites.iter().enumerate() {
            let ind = Arc::new(Individual {
                id: IndividualId(i as u64),
                generation: 0,
                parents: vec![],
                scores: scores.clone(),
                genome: (),
            });
            assert!(
                archive.offer(&ind).accepted(),
                "case {c}: elite {i} shares a cell"
            );
        }
        let k = case.axes.len();
        constant_column_seen |= case.elites.len() > 1
            && (0..k).any(|t| case.elites.iter().all(|e| e[t] == case.elites[0][t]));
        let sampler = ParentSampler::Elite {
            a_lo: case.a_lo,
            a_hi: case.a_hi,
        };
        // Archive order -> fixture index.
        let order: Vec<usize> = archive.elites().map(|(_, e)| e.id().0 as usize).collect();
        let weights = sampler.weights(&archive);
        let total: f64 = weights.iter().sum();
        for (a, &i) in order.iter().enumerate() {
            let p = weights[a] / total;
            assert!(
                close(p, case.p_first[i]),
                "case {c}: P(first = {i}) = {p}, numpy {}",
                case.p_first[i]
            );
            if order.len() == 1 {
                continue;
            }
            for (b, &j) in order.iter().enumerate() {
                let q = if a == b {
                    0.0
                } else {
                    weights[b] / (total - weights[a])
                };
                let expected = case.p_second_given_first[i][j];
                assert!(
                    close(q, expected),
                    "case {c}: P(second = {j} | first = {i}) = {q}, numpy {expected}"
                );
            }
        }
        if order.len() == 1 {
            let mut rng = cycleqd_qd::stream::generation_rng(c as u64, 1);
            let [p1, p2] = sampler.sample(&mut archive, "fixture", &mut rng).unwrap();
            assert_eq!((p1.id, p2.id), (IndividualId(0), IndividualId(0)));
        }
    }
    assert!(constant_column_seen, "the fixture covers constant columns");
}
