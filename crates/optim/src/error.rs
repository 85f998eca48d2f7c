//! The error type of the optimisers: every failure names the field or input at fault and what
//! was expected.

/// Everything that can go wrong when configuring an optimiser or telling it results.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    /// A configuration value is out of its allowed range.
    #[error("invalid config: `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `bounds[3]`.
        field: String,
        /// What was expected instead.
        reason: String,
    },
    /// An input has the wrong number of entries.
    #[error("{what}: expected {expected} values, got {got}")]
    WrongLength {
        /// Which input, e.g. `fitness` or `candidates[4]`.
        what: String,
        /// The number of entries required.
        expected: usize,
        /// The number of entries given.
        got: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{what} is {value}, expected a finite number")]
    NonFinite {
        /// Which value, e.g. `fitness[2]` or `objectives[0][1]`.
        what: String,
        /// The value given.
        value: f64,
    },
    /// An input value lies outside the range it must be in.
    #[error("{what} is {value}, expected a value in [{low}, {high}]")]
    OutOfRange {
        /// Which value, e.g. `candidates[1][0]`.
        what: String,
        /// The value given.
        value: f64,
        /// The smallest allowed value.
        low: f64,
        /// The largest allowed value.
        high: f64,
    },
}

/// Checks that `values` has `expected` entries, all finite; `what` names the input in errors.
pub(crate) fn check_finite_vector(
    what: &str,
    values: &[f64],
    expected: usize,
) -> Result<(), OptimError> {
    if values.len() != expected {
        return Err(OptimError::WrongLength {
            what: what.to_string(),
            expected,
            got: values.len(),
        });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(OptimError::NonFinite {
            what: format!("{what}[{i}]"),
            value: values[i],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input_and_the_expectation() {
        let e = check_finite_vector("fitness", &[1.0, 2.0], 3).unwrap_err();
        assert_eq!(e.to_string(), "fitness: expected 3 values, got 2");
        let e = check_finite_vector("fitness", &[1.0, f64::NAN], 2).unwrap_err();
        assert_eq!(e.to_string(), "fitness[1] is NaN, expected a finite number");
        assert!(check_finite_vector("fitness", &[1.0, 2.0], 2).is_ok());
    }
}
