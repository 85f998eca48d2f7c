//! Parameter values as mergekit configs write them: a scalar, a gradient (a list of numbers
//! interpolated over the layers), or conditional values picked by a filter on the tensor name.

use serde_norway::Value;

/// One scalar parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// Any number.
    Number(f64),
    /// A string (YAML may leave numbers like `1e-3` as strings).
    Text(String),
}

impl Scalar {
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(Self::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Self::Number),
            Value::String(s) => Some(Self::Text(s.clone())),
            _ => None,
        }
    }

    /// The number this scalar stands for, if any.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(s) => s.trim().parse().ok(),
            Self::Bool(_) => None,
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "`{b}`"),
            Self::Number(n) => write!(f, "`{n}`"),
            Self::Text(s) => write!(f, "`{s}`"),
        }
    }
}

/// A value with a filter: it applies to tensors whose name contains `filter`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conditional {
    /// Substring of the tensor name; `None` or `*` match every tensor.
    pub filter: Option<String>,
    /// A scalar or a gradient.
    pub value: Setting,
}

/// A parameter setting as written in a config.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    /// The same value everywhere.
    Scalar(Scalar),
    /// Values spread evenly over the layers of a slice, interpolated in between.
    Gradient(Vec<Scalar>),
    /// The first entry whose filter matches the tensor name applies.
    Conditional(Vec<Conditional>),
}

impl Setting {
    /// Reads a setting; the error says what shape was expected.
    pub fn from_yaml(value: &Value) -> Result<Self, String> {
        if let Some(s) = Scalar::from_yaml(value) {
            return Ok(Self::Scalar(s));
        }
        match value {
            Value::Sequence(items) => {
                if let Some(scalars) = items
                    .iter()
                    .map(Scalar::from_yaml)
                    .collect::<Option<Vec<_>>>()
                {
                    return Ok(Self::Gradient(scalars));
                }
                if items.iter().all(Value::is_mapping) {
                    return items
                        .iter()
                        .map(Self::conditional)
                        .collect::<Result<Vec<_>, _>>()
                        .map(Self::Conditional);
                }
                Err("a list must hold either only numbers (a gradient) or only {filter, value} entries".into())
            }
            Value::Mapping(_) => Ok(Self::Conditional(vec![Self::conditional(value)?])),
            _ => Err(
                "expected a number, a boolean, a gradient list or {filter, value} entries".into(),
            ),
        }
    }

    fn conditional(value: &Value) -> Result<Conditional, String> {
        let map = value.as_mapping().expect("checked by the caller");
        let mut filter = None;
        let mut setting = None;
        for (k, v) in map {
            match k.as_str() {
                Some("filter") => {
                    filter = Some(
                        v.as_str()
                            .ok_or("`filter` must be a string (a part of tensor names)")?
                            .to_string(),
                    )
                }
                Some("value") => {
                    let s = Self::from_yaml(v)?;
                    if matches!(s, Self::Conditional(_)) {
                        return Err("a conditional `value` must be a scalar or a gradient".into());
                    }
                    setting = Some(s);
                }
                _ => {
                    return Err(format!(
                        "unknown key `{}` in a conditional value (expected `filter` and `value`)",
                        key_text(k)
                    ))
                }
            }
        }
        Ok(Conditional {
            filter,
            value: setting.ok_or("a conditional entry needs a `value`")?,
        })
    }

    /// Every scalar written in this setting (to validate their types up front).
    pub fn scalars(&self) -> Vec<&Scalar> {
        match self {
            Self::Scalar(s) => vec![s],
            Self::Gradient(v) => v.iter().collect(),
            Self::Conditional(c) => c.iter().flat_map(|c| c.value.scalars()).collect(),
        }
    }

    /// The value for `tensor` at relative depth `t` in [0, 1], or `None` when no filter
    /// matches (the next, less specific, setting then applies). Numeric gradients interpolate
    /// linearly between neighbouring entries; other gradients pick the entry at or below.
    pub fn evaluate(&self, tensor: &str, t: f64) -> Option<Scalar> {
        match self {
            Self::Scalar(s) => Some(s.clone()),
            Self::Gradient(values) => {
                if values.is_empty() {
                    return None;
                }
                let last = values.len() - 1;
                let numbers: Option<Vec<f64>> = values
                    .iter()
                    .map(|v| match v {
                        Scalar::Bool(_) => None,
                        other => other.as_number(),
                    })
                    .collect();
                match numbers {
                    Some(numbers) => {
                        let scaled = t * last as f64;
                        let i0 = (scaled as usize).min(last);
                        let i1 = (i0 + 1).min(last);
                        let frac = scaled - i0 as f64;
                        Some(Scalar::Number(
                            (1.0 - frac) * numbers[i0] + frac * numbers[i1],
                        ))
                    }
                    None => Some(values[((t * last as f64) as usize).min(last)].clone()),
                }
            }
            Self::Conditional(entries) => entries
                .iter()
                .find(|c| match c.filter.as_deref() {
                    None | Some("*") => true,
                    Some(f) => !tensor.is_empty() && tensor.contains(f),
                })
                .and_then(|c| c.value.evaluate(tensor, t)),
        }
    }
}

/// A YAML key as text for messages.
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(yaml: &str) -> Setting {
        Setting::from_yaml(&serde_norway::from_str(yaml).unwrap()).unwrap()
    }

    fn number(s: &Setting, tensor: &str, t: f64) -> Option<f64> {
        s.evaluate(tensor, t).map(|v| v.as_number().unwrap())
    }

    #[test]
    fn gradients_interpolate_over_depth() {
        let g = setting("[0, 0.5, 0.3, 0.7, 1]");
        assert_eq!(number(&g, "x", 0.0), Some(0.0));
        assert_eq!(number(&g, "x", 1.0), Some(1.0));
        // t = 0.5 lands on entry 2 exactly; t = 0.375 halfway between entries 1 and 2.
        assert_eq!(number(&g, "x", 0.5), Some(0.3));
        assert!((number(&g, "x", 0.375).unwrap() - 0.4).abs() < 1e-12);
    }

    #[test]
    fn first_matching_filter_wins() {
        let s = setting(
            "- filter: self_attn\n  value: [0, 1]\n- filter: mlp\n  value: 0.25\n- value: 0.5\n",
        );
        assert_eq!(
            number(&s, "model.layers.0.self_attn.q_proj.weight", 1.0),
            Some(1.0)
        );
        assert_eq!(
            number(&s, "model.layers.0.mlp.up_proj.weight", 0.3),
            Some(0.25)
        );
        assert_eq!(number(&s, "model.norm.weight", 0.3), Some(0.5));
        let only_mlp = setting("filter: mlp\nvalue: 2");
        assert_eq!(number(&only_mlp, "model.norm.weight", 0.0), None);
    }

    #[test]
    fn scientific_strings_are_numbers() {
        assert_eq!(number(&setting("'1e-3'"), "x", 0.0), Some(1e-3));
    }

    #[test]
    fn bad_shapes_are_explained() {
        let bad =
            |yaml: &str| Setting::from_yaml(&serde_norway::from_str(yaml).unwrap()).unwrap_err();
        assert!(bad("[1, {filter: a, value: 1}]").contains("only numbers"));
        assert!(bad("{filtre: a, value: 1}").contains("unknown key `filtre`"));
        assert!(bad("{filter: a}").contains("needs a `value`"));
    }
}
