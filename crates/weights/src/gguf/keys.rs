//! Typed look-ups of metadata keys, with errors that name the file and the key.

use super::error::GgufError;
use super::file::GgufFile;
use super::metadata::MetadataValue;

fn typed<'a, T>(
    file: &'a GgufFile,
    key: &str,
    expected: &str,
    convert: impl Fn(&'a MetadataValue) -> Option<T>,
) -> Result<Option<T>, GgufError> {
    match file.get(key) {
        None => Ok(None),
        Some(value) => convert(value).map(Some).ok_or_else(|| GgufError::BadKey {
            path: file.path().to_path_buf(),
            key: key.to_string(),
            expected: expected.to_string(),
            found: value.describe(),
        }),
    }
}

fn required<T>(file: &GgufFile, key: &str, value: Option<T>) -> Result<T, GgufError> {
    value.ok_or_else(|| GgufError::MissingKey {
        path: file.path().to_path_buf(),
        key: key.to_string(),
    })
}

/// An optional non-negative integer.
pub fn opt_u64(file: &GgufFile, key: &str) -> Result<Option<u64>, GgufError> {
    typed(file, key, "a non-negative integer", MetadataValue::as_u64)
}

/// A required positive integer that fits in `usize`.
pub fn req_count(file: &GgufFile, key: &str) -> Result<usize, GgufError> {
    let value = required(file, key, opt_u64(file, key)?)?;
    match usize::try_from(value) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(GgufError::BadKey {
            path: file.path().to_path_buf(),
            key: key.to_string(),
            expected: "a positive count".to_string(),
            found: value.to_string(),
        }),
    }
}

/// An optional positive integer that fits in `usize`.
pub fn opt_count(file: &GgufFile, key: &str) -> Result<Option<usize>, GgufError> {
    match file.get(key) {
        None => Ok(None),
        Some(_) => req_count(file, key).map(Some),
    }
}

/// An optional finite number.
pub fn opt_f64(file: &GgufFile, key: &str) -> Result<Option<f64>, GgufError> {
    typed(file, key, "a finite number", |v| {
        v.as_f64().filter(|x| x.is_finite())
    })
}

/// A required finite number.
pub fn req_f64(file: &GgufFile, key: &str) -> Result<f64, GgufError> {
    required(file, key, opt_f64(file, key)?)
}

/// An optional string.
pub fn opt_str<'a>(file: &'a GgufFile, key: &str) -> Result<Option<&'a str>, GgufError> {
    typed(file, key, "a string", MetadataValue::as_str)
}

/// A required string.
pub fn req_str<'a>(file: &'a GgufFile, key: &str) -> Result<&'a str, GgufError> {
    required(file, key, opt_str(file, key)?)
}

/// An optional bool.
pub fn opt_bool(file: &GgufFile, key: &str) -> Result<Option<bool>, GgufError> {
    typed(file, key, "a bool", MetadataValue::as_bool)
}

/// A required array whose items all convert with `convert`.
pub fn req_array<'a, T>(
    file: &'a GgufFile,
    key: &str,
    expected: &str,
    convert: impl Fn(&'a MetadataValue) -> Option<T>,
) -> Result<Vec<T>, GgufError> {
    opt_array(file, key, expected, convert).and_then(|items| required(file, key, items))
}

/// An optional array whose items all convert with `convert`.
pub fn opt_array<'a, T>(
    file: &'a GgufFile,
    key: &str,
    expected: &str,
    convert: impl Fn(&'a MetadataValue) -> Option<T>,
) -> Result<Option<Vec<T>>, GgufError> {
    let Some(value) = file.get(key) else {
        return Ok(None);
    };
    let bad = |found: String| GgufError::BadKey {
        path: file.path().to_path_buf(),
        key: key.to_string(),
        expected: format!("an array of {expected}"),
        found,
    };
    let items = value.as_array().ok_or_else(|| bad(value.describe()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            convert(item).ok_or_else(|| bad(format!("item {i} is {}", item.describe())))
        })
        .collect::<Result<Vec<T>, GgufError>>()
        .map(Some)
}
