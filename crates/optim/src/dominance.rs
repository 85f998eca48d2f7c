//! Pareto dominance for minimisation: fast non-dominated sorting (Deb et al. 2002) and the
//! NSGA-II crowding distance.

use std::cmp::Ordering;

/// Whether `a` Pareto-dominates `b` under minimisation: no worse in every objective and
/// strictly better in at least one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut strictly_better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        strictly_better |= x < y;
    }
    strictly_better
}

/// Splits `points` into non-dominated fronts: front 0 holds the points nobody dominates,
/// front i+1 those dominated only by points of fronts 0..=i. Each front lists indices into
/// `points` in increasing order; together the fronts partition `0..points.len()`.
pub fn non_dominated_sort<P: AsRef<[f64]>>(points: &[P]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by_me: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut dominators = vec![0usize; n];
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (points[i].as_ref(), points[j].as_ref());
            if dominates(a, b) {
                dominated_by_me[i].push(j);
                dominators[j] += 1;
            } else if dominates(b, a) {
                dominated_by_me[j].push(i);
                dominators[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| dominators[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominated_by_me[i] {
                dominators[j] -= 1;
                if dominators[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(current);
        current = next;
    }
    fronts
}

/// The crowding distance of each point of one front, as pymoo computes it: per objective the
/// gap between a point's two sorted neighbours divided by the objective's range, averaged over
/// objectives. The extreme points of every objective with a non-zero range get infinity, an
/// objective whose values are all equal contributes nothing, and a front of at most two points
/// is all infinite.
pub fn crowding_distance<P: AsRef<[f64]>>(front: &[P]) -> Vec<f64> {
    let n = front.len();
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let objectives = front[0].as_ref().len();
    let mut distance = vec![0.0; n];
    let mut order: Vec<usize> = (0..n).collect();
    for m in 0..objectives {
        let value = |i: usize| front[i].as_ref()[m];
        order.sort_by(|&a, &b| value(a).partial_cmp(&value(b)).unwrap_or(Ordering::Equal));
        let range = value(order[n - 1]) - value(order[0]);
        if range <= 0.0 || !range.is_finite() {
            continue;
        }
        distance[order[0]] = f64::INFINITY;
        distance[order[n - 1]] = f64::INFINITY;
        for k in 1..n - 1 {
            distance[order[k]] += (value(order[k + 1]) - value(order[k - 1])) / range;
        }
    }
    distance.iter().map(|d| d / objectives as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dominance_needs_one_strict_improvement() {
        assert!(dominates(&[1.0, 2.0], &[1.0, 3.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 4.0], &[2.0, 3.0]));
        assert!(!dominates(&[2.0, 3.0], &[1.0, 4.0]));
    }

    #[test]
    fn hand_sorted_example() {
        let points = [
            [1.0, 5.0],
            [2.0, 2.0],
            [5.0, 1.0],
            [3.0, 3.0],
            [4.0, 4.0],
            [6.0, 6.0],
        ];
        let fronts = non_dominated_sort(&points);
        assert_eq!(fronts, vec![vec![0, 1, 2], vec![3], vec![4], vec![5]]);
    }

    #[test]
    fn hand_computed_crowding() {
        // Sorted by f1: 0, 1, 2, 3 with ranges 3 and 3; inner points get
        // (gap1/3 + gap2/3) / 2.
        let front = [[0.0, 3.0], [1.0, 1.5], [2.0, 0.5], [3.0, 0.0]];
        let cd = crowding_distance(&front);
        assert_eq!(cd[0], f64::INFINITY);
        assert_eq!(cd[3], f64::INFINITY);
        assert!((cd[1] - (2.0 / 3.0 + 2.5 / 3.0) / 2.0).abs() < 1e-15);
        assert!((cd[2] - (2.0 / 3.0 + 1.5 / 3.0) / 2.0).abs() < 1e-15);
        assert_eq!(
            crowding_distance(&[[1.0, 1.0], [1.0, 1.0]]),
            vec![f64::INFINITY; 2]
        );
        assert_eq!(crowding_distance(&[[1.0, 1.0]; 3]), vec![0.0; 3]);
    }

    fn point_sets() -> impl Strategy<Value = Vec<Vec<f64>>> {
        (1usize..4).prop_flat_map(|m| {
            // Small integer grids make ties and duplicates common.
            prop::collection::vec(
                prop::collection::vec((0i32..6).prop_map(f64::from), m),
                0..40,
            )
        })
    }

    proptest! {
        #[test]
        fn fronts_partition_and_are_layered(points in point_sets()) {
            let fronts = non_dominated_sort(&points);
            let mut seen: Vec<usize> = fronts.iter().flatten().copied().collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..points.len()).collect::<Vec<_>>());
            for front in &fronts {
                prop_assert!(!front.is_empty());
                for &a in front {
                    for &b in front {
                        prop_assert!(!dominates(&points[a], &points[b]));
                    }
                }
            }
            for pair in fronts.windows(2) {
                for &b in &pair[1] {
                    prop_assert!(pair[0].iter().any(|&a| dominates(&points[a], &points[b])));
                }
            }
        }

        #[test]
        fn extremes_get_infinite_crowding(points in point_sets()) {
            let cd = crowding_distance(&points);
            prop_assert_eq!(cd.len(), points.len());
            prop_assert!(cd.iter().all(|d| *d >= 0.0));
            if points.len() > 2 {
                for m in 0..points[0].len() {
                    let values: Vec<f64> = points.iter().map(|p| p[m]).collect();
                    let lo = values.iter().cloned().fold(f64::MAX, f64::min);
                    let hi = values.iter().cloned().fold(f64::MIN, f64::max);
                    if hi > lo {
                        // Among tied extremes the stable sort marks the first; some point
                        // holding the extreme value must be infinite.
                        prop_assert!((0..points.len()).any(|i| values[i] == lo && cd[i].is_infinite()));
                        prop_assert!((0..points.len()).any(|i| values[i] == hi && cd[i].is_infinite()));
                    }
                }
            } else {
                prop_assert!(cd.iter().all(|d| d.is_infinite()));
            }
        }
    }
}
