//! Result sets normalised the same way for every engine, and their comparison.
//!
//! Every engine's values become one of three kinds: NULL, a number (integers, floats,
//! PostgreSQL NUMERIC and booleans as 0/1, all as f64) or text. Numbers are equal when
//! they differ by at most one part in a million (PostgreSQL's NUMERIC averages and
//! SQLite's doubles agree to far more digits; REAL/float4 columns to about seven).
//! Column names are ignored; column counts must match; rows are compared in order when the
//! question orders them, else as multisets.

use std::cmp::Ordering;

/// One normalised value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any number.
    Number(f64),
    /// Text.
    Text(String),
}

impl Value {
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Number(_) => 1,
            Value::Text(_) => 2,
        }
    }

    fn total_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.total_cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => {
                a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
            }
            _ => self == other,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Rows of a query's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    /// Number of columns.
    pub columns: usize,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

fn show(row: &[Value]) -> String {
    let cells: Vec<String> = row.iter().map(Value::to_string).collect();
    format!("({})", cells.join(", "))
}

fn cmp_rows(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// Compares a result with the expected one; `Err` says how they differ.
pub fn compare(expected: &ResultSet, actual: &ResultSet, ordered: bool) -> Result<(), String> {
    if expected.columns != actual.columns {
        return Err(format!(
            "expected {} columns, got {}",
            expected.columns, actual.columns
        ));
    }
    if expected.rows.len() != actual.rows.len() {
        return Err(format!(
            "expected {} rows, got {}",
            expected.rows.len(),
            actual.rows.len()
        ));
    }
    let (mut want, mut got): (Vec<&Vec<Value>>, Vec<&Vec<Value>>) =
        (expected.rows.iter().collect(), actual.rows.iter().collect());
    if !ordered {
        want.sort_by(|a, b| cmp_rows(a, b));
        got.sort_by(|a, b| cmp_rows(a, b));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if !w.iter().zip(g.iter()).all(|(a, b)| a.same(b)) {
            let position = if ordered {
                format!("row {}", i + 1)
            } else {
                "a row".to_string()
            };
            return Err(format!(
                "{position} differs: expected {}, got {}",
                show(w),
                show(g)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rs(rows: Vec<Vec<Value>>) -> ResultSet {
        ResultSet {
            columns: rows.first().map_or(1, Vec::len),
            rows,
        }
    }

    fn n(x: f64) -> Value {
        Value::Number(x)
    }

    #[test]
    fn numbers_of_different_engines_agree() {
        // SQLite's AVG (a double) and PostgreSQL's AVG (NUMERIC with 16 decimals).
        let sqlite = rs(vec![vec![n(16.0 / 3.0)]]);
        let postgres = rs(vec![vec![n("5.3333333333333333".parse().unwrap())]]);
        assert!(compare(&sqlite, &postgres, true).is_ok());
        assert!(compare(&rs(vec![vec![n(5.0)]]), &rs(vec![vec![n(5.01)]]), true).is_err());
        assert!(compare(
            &rs(vec![vec![n(5.0)]]),
            &rs(vec![vec![Value::Text("5".into())]]),
            true
        )
        .is_err());
    }

    #[test]
    fn order_matters_only_when_asked() {
        let a = rs(vec![vec![n(1.0)], vec![n(2.0)]]);
        let b = rs(vec![vec![n(2.0)], vec![n(1.0)]]);
        assert!(compare(&a, &b, false).is_ok());
        let err = compare(&a, &b, true).unwrap_err();
        assert_eq!(err, "row 1 differs: expected (1), got (2)");
    }

    #[test]
    fn shapes_must_match() {
        let one = rs(vec![vec![n(1.0)]]);
        let two_cols = rs(vec![vec![n(1.0), Value::Null]]);
        assert_eq!(
            compare(&one, &two_cols, false).unwrap_err(),
            "expected 1 columns, got 2"
        );
        assert_eq!(
            compare(&one, &rs(vec![]), false).unwrap_err(),
            "expected 1 rows, got 0"
        );
        assert!(compare(&rs(vec![]), &rs(vec![]), false).is_ok());
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            (-1000i64..1000).prop_map(|i| Value::Number(i as f64)),
            "[a-c]{0,2}".prop_map(Value::Text),
        ]
    }

    proptest! {
        #[test]
        fn any_permutation_matches_unordered(
            rows in prop::collection::vec(prop::collection::vec(value(), 2), 0..8),
            seed in any::<u64>(),
        ) {
            let mut shuffled = rows.clone();
            let len = shuffled.len();
            if len > 1 {
                for i in 0..len {
                    shuffled.swap(i, (seed as usize).wrapping_add(i * 7) % len);
                }
            }
            let a = ResultSet { columns: 2, rows };
            let b = ResultSet { columns: 2, rows: shuffled };
            prop_assert!(compare(&a, &b, false).is_ok());
        }
    }
}
