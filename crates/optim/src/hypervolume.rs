//! Exact hypervolume of a point set under minimisation: the volume of the region dominated by
//! the set and bounded by a reference point. A sweep for two objectives, slicing along the
//! last objective (HSO) for three or more.

use crate::error::OptimError;

/// The hypervolume of `points` with respect to `reference`. Points that are not strictly
/// better than the reference in every coordinate contribute nothing. Errors when a point's
/// dimension differs from the reference's or a coordinate is not finite.
pub fn hypervolume<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> Result<f64, OptimError> {
    let d = reference.len();
    if d == 0 {
        return Err(OptimError::WrongLength {
            what: "reference point".to_string(),
            expected: 1,
            got: 0,
        });
    }
    if let Some(i) = reference.iter().position(|v| !v.is_finite()) {
        return Err(OptimError::NonFinite {
            what: format!("reference[{i}]"),
            value: reference[i],
        });
    }
    let mut inside = Vec::with_capacity(points.len());
    for (k, p) in points.iter().enumerate() {
        let p = p.as_ref();
        crate::error::check_finite_vector(&format!("points[{k}]"), p, d)?;
        if p.iter().zip(reference).all(|(x, r)| x < r) {
            inside.push(p.to_vec());
        }
    }
    Ok(sliced(inside, reference, d))
}

/// Hypervolume of `points` (all strictly inside the reference box) in their first `d`
/// coordinates.
fn sliced(mut points: Vec<Vec<f64>>, reference: &[f64], d: usize) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    match d {
        1 => reference[0] - points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
        2 => sweep_2d(&mut points, reference),
        _ => {
            let axis = d - 1;
            points.sort_by(|a, b| a[axis].total_cmp(&b[axis]));
            let mut volume = 0.0;
            for i in 0..points.len() {
                let top = points.get(i + 1).map_or(reference[axis], |p| p[axis]);
                let thickness = top - points[i][axis];
                if thickness > 0.0 {
                    // Every point at or below this slab's floor covers the whole slab.
                    let base = non_dominated_prefix(&points[..=i], axis);
                    volume += sliced(base, reference, axis) * thickness;
                }
            }
            volume
        }
    }
}

/// The first `d` coordinates of `points`, without those weakly dominated in them by another,
/// so deeper slices work on small sets.
fn non_dominated_prefix(points: &[Vec<f64>], d: usize) -> Vec<Vec<f64>> {
    let projected: Vec<&[f64]> = points.iter().map(|p| &p[..d]).collect();
    let mut kept: Vec<Vec<f64>> = Vec::new();
    for (i, p) in projected.iter().enumerate() {
        let covered = projected.iter().enumerate().any(|(j, q)| {
            j != i && q.iter().zip(p.iter()).all(|(a, b)| a <= b) && (q != p || j < i)
        });
        if !covered {
            kept.push(p.to_vec());
        }
    }
    kept
}

/// Area dominated by 2-D points: sorted by the first objective, each point adds the strip
/// between its second objective and the best second objective seen so far.
fn sweep_2d(points: &mut [Vec<f64>], reference: &[f64]) -> f64 {
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut ceiling = reference[1];
    for p in points.iter() {
        if p[1] < ceiling {
            area += (reference[0] - p[0]) * (ceiling - p[1]);
            ceiling = p[1];
        }
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_2d() {
        // Staircase of (1,3), (2,2), (3,1) under (4,4): 3·1 + 2·1 + 1·1 = 6.
        let points = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]];
        assert_eq!(hypervolume(&points, &[4.0, 4.0]).unwrap(), 6.0);
        // A dominated point and one outside the box change nothing.
        let more = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.5, 2.5], [0.5, 4.0]];
        assert_eq!(hypervolume(&more, &[4.0, 4.0]).unwrap(), 6.0);
        let empty: [[f64; 2]; 0] = [];
        assert_eq!(hypervolume(&empty, &[1.0, 1.0]).unwrap(), 0.0);
    }

    #[test]
    fn hand_computed_3d() {
        // Two unit-offset boxes under (2,2,2): (0,0,1) covers 4·1, (1,1,0) covers 1·2;
        // their overlap [1,2]×[1,2]×[1,2] is 1, so the union is 4 + 2 − 1 = 5.
        let points = [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]];
        assert_eq!(hypervolume(&points, &[2.0, 2.0, 2.0]).unwrap(), 5.0);
        // Three boxes of 0.25 under (1,1,1); every pair and the triple meet in
        // [0.5,1]³ = 0.125, so inclusion–exclusion gives 0.75 − 0.375 + 0.125 = 0.5.
        let corners = [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]];
        let expected = 3.0 * 0.25 - 3.0 * 0.125 + 0.125;
        assert!((hypervolume(&corners, &[1.0, 1.0, 1.0]).unwrap() - expected).abs() < 1e-15);
    }

    #[test]
    fn hand_computed_4d() {
        let points = [[0.0, 0.0, 0.0, 0.5], [0.5, 0.5, 0.5, 0.0]];
        // Box A = 1³·0.5, box B = 0.5³·1, overlap [0.5,1]⁴ = 0.0625.
        let expected = 0.5 + 0.125 - 0.0625;
        assert!((hypervolume(&points, &[1.0; 4]).unwrap() - expected).abs() < 1e-15);
    }

    #[test]
    fn bad_input_is_named() {
        let e = hypervolume(&[[1.0, 2.0, 3.0]], &[4.0, 4.0]).unwrap_err();
        assert_eq!(e.to_string(), "points[0]: expected 2 values, got 3");
        let e = hypervolume(&[[1.0, f64::NAN]], &[4.0, 4.0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "points[0][1] is NaN, expected a finite number"
        );
    }

    /// Brute force: sums the cells of the grid spanned by all coordinates that some point covers.
    fn grid_volume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
        let d = reference.len();
        let cuts: Vec<Vec<f64>> = (0..d)
            .map(|m| {
                let mut c: Vec<f64> = points.iter().map(|p| p[m].min(reference[m])).collect();
                c.push(reference[m]);
                c.sort_by(f64::total_cmp);
                c.dedup();
                c
            })
            .collect();
        let mut volume = 0.0;
        let mut index = vec![0usize; d];
        'cells: loop {
            let mut lower = vec![0.0; d];
            let mut size = 1.0;
            for m in 0..d {
                if index[m] + 1 >= cuts[m].len() {
                    size = 0.0;
                    break;
                }
                lower[m] = cuts[m][index[m]];
                size *= cuts[m][index[m] + 1] - lower[m];
            }
            if size > 0.0
                && points
                    .iter()
                    .any(|p| p.iter().zip(&lower).all(|(a, b)| a <= b))
            {
                volume += size;
            }
            for m in 0..d {
                index[m] += 1;
                if index[m] < cuts[m].len() {
                    continue 'cells;
                }
                index[m] = 0;
            }
            break;
        }
        volume
    }

    fn point_sets() -> impl Strategy<Value = (usize, Vec<Vec<f64>>)> {
        (2usize..5).prop_flat_map(|d| {
            (
                Just(d),
                prop::collection::vec(prop::collection::vec(0.0f64..1.2, d), 0..12),
            )
        })
    }

    proptest! {
        #[test]
        fn matches_grid_brute_force((d, points) in point_sets()) {
            let reference = vec![1.0; d];
            let exact = hypervolume(&points, &reference).unwrap();
            let brute = grid_volume(&points, &reference);
            prop_assert!((exact - brute).abs() < 1e-12, "exact {} brute {}", exact, brute);
        }

        #[test]
        fn adding_a_point_never_lowers_it((d, points) in point_sets(), extra in prop::collection::vec(0.0f64..1.2, 4)) {
            let reference = vec![1.0; d];
            let before = hypervolume(&points, &reference).unwrap();
            let mut more = points.clone();
            more.push(extra[..d].to_vec());
            prop_assert!(hypervolume(&more, &reference).unwrap() >= before - 1e-15);
        }

        #[test]
        fn one_point_is_its_box(point in prop::collection::vec(0.0f64..2.0, 1..6)) {
            let reference = vec![1.5; point.len()];
            let expected: f64 = point.iter().map(|x| (1.5 - x).max(0.0)).product();
            let expected = if point.iter().all(|x| *x < 1.5) { expected } else { 0.0 };
            let hv = hypervolume(&[point], &reference).unwrap();
            prop_assert!((hv - expected).abs() <= 1e-15 * expected.max(1.0));
        }
    }
}
