//! One behaviour-characteristic axis: a score range cut into bins exactly as numpy's
//! `linspace` edges cut it.

use serde::{Deserialize, Serialize};

use crate::error::QdError;

/// The range `[lo, hi]` of one task's score and its number of bins, used wherever that
/// task is a behaviour characteristic.
///
/// Binning follows the spec to the bit: edges `e_i = lo + i * ((hi - lo) / n)` in f64 for
/// `i < n` and `e_n = hi`, and `bin(x) = clamp(#{i : e_i < x} - 1, 0, n - 1)`. So
/// `x <= lo` maps to 0, `x > hi` to `n - 1`, and a value exactly on an interior edge
/// `e_i` falls in bin `i - 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AxisFields", into = "AxisFields")]
pub struct BcAxis {
    lo: f64,
    hi: f64,
    edges: Vec<f64>,
}

/// The serialised form of a [`BcAxis`]; the edges are derived, not stored.
#[derive(Serialize, Deserialize)]
struct AxisFields {
    lo: f64,
    hi: f64,
    bins: u32,
}

impl TryFrom<AxisFields> for BcAxis {
    type Error = QdError;

    fn try_from(fields: AxisFields) -> Result<Self, QdError> {
        BcAxis::new(fields.lo, fields.hi, fields.bins)
    }
}

impl From<BcAxis> for AxisFields {
    fn from(axis: BcAxis) -> Self {
        AxisFields {
            lo: axis.lo,
            hi: axis.hi,
            bins: axis.bins(),
        }
    }
}

/// The paper's bin count per BC dimension.
pub const PAPER_BINS: u32 = 15;

impl BcAxis {
    /// An axis over `[lo, hi]` with `bins` bins; `lo < hi`, both finite, `bins >= 1`.
    pub fn new(lo: f64, hi: f64, bins: u32) -> Result<Self, QdError> {
        if !lo.is_finite() || !hi.is_finite() || lo >= hi {
            return Err(QdError::config(
                "axis range",
                format!("expected finite lo < hi, got lo = {lo}, hi = {hi}"),
            ));
        }
        if bins == 0 {
            return Err(QdError::config(
                "axis bins",
                "expected at least 1 bin, got 0",
            ));
        }
        // numpy.linspace(lo, hi, n + 1): arange(n + 1) * step + lo, last element set to hi.
        let n = bins as usize;
        let step = (hi - lo) / n as f64;
        let mut edges: Vec<f64> = (0..n).map(|i| i as f64 * step + lo).collect();
        edges.push(hi);
        Ok(BcAxis { lo, hi, edges })
    }

    /// The paper's range rule from the experts' scores on this task: `lo = 0.85 * min`,
    /// `hi = 1.15 * max`; when `lo == hi`, widened to `[lo - 0.05, hi + 0.05]` clipped to
    /// `[0, 1]`. Scores must be fractions in `[0, 1]`.
    pub fn from_expert_scores(task: &str, scores: &[f64], bins: u32) -> Result<Self, QdError> {
        let field = format!("expert scores of task `{task}`");
        if scores.is_empty() {
            return Err(QdError::config(field, "no expert scores given"));
        }
        if let Some(bad) = scores
            .iter()
            .find(|s| !(s.is_finite() && (0.0..=1.0).contains(*s)))
        {
            return Err(QdError::config(
                field,
                format!("expected fractions in [0, 1], got {bad}"),
            ));
        }
        let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut lo, mut hi) = (0.85 * min, 1.15 * max);
        if lo == hi {
            lo = (lo - 0.05).clamp(0.0, 1.0);
            hi = (hi + 0.05).clamp(0.0, 1.0);
        }
        BcAxis::new(lo, hi, bins)
    }

    /// The lower end of the range.
    pub fn lo(&self) -> f64 {
        self.lo
    }

    /// The upper end of the range.
    pub fn hi(&self) -> f64 {
        self.hi
    }

    /// The number of bins.
    pub fn bins(&self) -> u32 {
        (self.edges.len() - 1) as u32
    }

    /// The `bins + 1` bin edges, numpy-linspace style.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// The bin of score `x` (see the type's docs for the exact rule).
    pub fn bin(&self, x: f64) -> u32 {
        // Edges are non-decreasing, so the count of edges below x is a partition point.
        let below = self.edges.partition_point(|&e| e < x);
        below.saturating_sub(1).min(self.edges.len() - 2) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn axis(lo: f64, hi: f64, bins: u32) -> BcAxis {
        BcAxis::new(lo, hi, bins).unwrap()
    }

    #[test]
    fn edges_match_numpy_linspace() {
        // Values printed by repr(numpy.linspace(0, 0.45, 16)) with numpy 2.4.
        let a = axis(0.0, 0.45, 15);
        assert_eq!(a.edges()[1], 0.030000000000000002);
        assert_eq!(a.edges()[3], 0.09000000000000001);
        assert_eq!(a.edges()[7], 0.21000000000000002);
        assert_eq!(a.edges()[9], 0.27);
        assert_eq!(a.edges()[15], 0.45);
        assert_eq!(a.edges().len(), 16);
    }

    #[test]
    fn ends_and_outside_the_range() {
        let a = axis(0.0, 0.75, 15);
        assert_eq!(a.bin(-1.0), 0);
        assert_eq!(a.bin(0.0), 0);
        assert_eq!(a.bin(1e-12), 0);
        assert_eq!(a.bin(0.75), 14);
        assert_eq!(a.bin(0.7500001), 14);
        assert_eq!(a.bin(5.0), 14);
    }

    #[test]
    fn interior_edge_falls_in_the_lower_bin() {
        let a = axis(0.0, 0.75, 15);
        for i in 1..15 {
            let e = a.edges()[i];
            assert_eq!(a.bin(e), (i - 1) as u32, "edge {i} = {e}");
            assert_eq!(a.bin(f64::from_bits(e.to_bits() + 1)), i as u32);
        }
    }

    #[test]
    fn one_bin_takes_everything() {
        let a = axis(0.2, 0.4, 1);
        for x in [-3.0, 0.2, 0.3, 0.4, 9.0] {
            assert_eq!(a.bin(x), 0);
        }
    }

    #[test]
    fn rejects_bad_ranges() {
        assert!(BcAxis::new(0.5, 0.5, 3).is_err());
        assert!(BcAxis::new(0.6, 0.5, 3).is_err());
        assert!(BcAxis::new(f64::NAN, 0.5, 3).is_err());
        assert!(BcAxis::new(0.0, f64::INFINITY, 3).is_err());
        let err = BcAxis::new(0.0, 1.0, 0).unwrap_err().to_string();
        assert!(err.contains("bins"), "{err}");
    }

    #[test]
    fn paper_rule_from_expert_scores() {
        let a = BcAxis::from_expert_scores("os", &[0.2, 0.4, 0.3], 15).unwrap();
        assert_eq!(a.lo(), 0.85 * 0.2);
        assert_eq!(a.hi(), 1.15 * 0.4);
        // All experts at 0: widened to [-0.05, 0.05] and clipped to [0, 1].
        let z = BcAxis::from_expert_scores("db", &[0.0, 0.0], 15).unwrap();
        assert_eq!((z.lo(), z.hi()), (0.0, 0.05));
        let err = BcAxis::from_expert_scores("db", &[0.3, 1.5], 15)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`db`") && err.contains("1.5"), "{err}");
        assert!(BcAxis::from_expert_scores("db", &[], 15).is_err());
    }

    #[test]
    fn serde_keeps_only_range_and_bins() {
        let a = axis(0.1, 0.9, 7);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"lo":0.1,"hi":0.9,"bins":7}"#);
        assert_eq!(serde_json::from_str::<BcAxis>(&json).unwrap(), a);
        assert!(serde_json::from_str::<BcAxis>(r#"{"lo":1,"hi":0,"bins":7}"#).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The partition-point shortcut equals the spec's counting definition everywhere,
        /// edges and outside values included.
        #[test]
        fn bin_equals_spec_definition(
            lo in -2.0f64..2.0,
            width in 1e-6f64..3.0,
            bins in 1u32..40,
            pick in 0usize..64,
            x in -6.0f64..6.0,
        ) {
            let a = axis(lo, lo + width, bins);
            let n = bins as i64;
            let spec = |x: f64| {
                let below = a.edges().iter().filter(|&&e| e < x).count() as i64;
                (below - 1).clamp(0, n - 1) as u32
            };
            let on_edge = a.edges()[pick % a.edges().len()];
            for v in [x, on_edge, f64::from_bits(on_edge.to_bits() + 1), lo - 1.0, lo + width + 1.0] {
                prop_assert_eq!(a.bin(v), spec(v));
            }
        }

        /// Binning is monotone: a larger score never lands in a lower bin.
        #[test]
        fn bin_is_monotone(lo in -1.0f64..1.0, width in 1e-3f64..2.0, bins in 1u32..30,
                           x in -3.0f64..3.0, dx in 0.0f64..1.0) {
            let a = axis(lo, lo + width, bins);
            prop_assert!(a.bin(x) <= a.bin(x + dx));
        }
    }
}
