//! GGUF metadata values: the twelve scalar/string/array kinds of the format.

/// One metadata value of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum MetadataValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    /// An array; GGUF arrays are homogeneous, and may nest.
    Array(Vec<MetadataValue>),
}

impl MetadataValue {
    /// The GGUF name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            MetadataValue::U8(_) => "uint8",
            MetadataValue::I8(_) => "int8",
            MetadataValue::U16(_) => "uint16",
            MetadataValue::I16(_) => "int16",
            MetadataValue::U32(_) => "uint32",
            MetadataValue::I32(_) => "int32",
            MetadataValue::U64(_) => "uint64",
            MetadataValue::I64(_) => "int64",
            MetadataValue::F32(_) => "float32",
            MetadataValue::F64(_) => "float64",
            MetadataValue::Bool(_) => "bool",
            MetadataValue::String(_) => "string",
            MetadataValue::Array(_) => "array",
        }
    }

    /// The value as a non-negative integer, whatever integer type stores it.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetadataValue::U8(v) => Some(v.into()),
            MetadataValue::U16(v) => Some(v.into()),
            MetadataValue::U32(v) => Some(v.into()),
            MetadataValue::U64(v) => Some(v),
            MetadataValue::I8(v) => u64::try_from(v).ok(),
            MetadataValue::I16(v) => u64::try_from(v).ok(),
            MetadataValue::I32(v) => u64::try_from(v).ok(),
            MetadataValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, whatever integer type stores it.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetadataValue::I8(v) => Some(v.into()),
            MetadataValue::I16(v) => Some(v.into()),
            MetadataValue::I32(v) => Some(v.into()),
            MetadataValue::I64(v) => Some(v),
            MetadataValue::U8(v) => Some(v.into()),
            MetadataValue::U16(v) => Some(v.into()),
            MetadataValue::U32(v) => Some(v.into()),
            MetadataValue::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float (integers convert too).
    ///
    /// An f32 is widened through its shortest decimal form, so `1e-5f32` gives `1e-5`, not
    /// `9.999999747378752e-6`: config files should carry the value the model author wrote.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetadataValue::F32(v) => v.to_string().parse().ok(),
            MetadataValue::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetadataValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetadataValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[MetadataValue]> {
        match self {
            MetadataValue::Array(v) => Some(v),
            _ => None,
        }
    }

    /// A short description for error messages: the type, and the value when it is short.
    pub fn describe(&self) -> String {
        match self {
            MetadataValue::String(s) if s.len() <= 40 => format!("string {s:?}"),
            MetadataValue::String(s) => format!("a string of {} bytes", s.len()),
            MetadataValue::Array(items) => format!("an array of {} items", items.len()),
            MetadataValue::F32(v) => format!("float32 {v}"),
            MetadataValue::F64(v) => format!("float64 {v}"),
            MetadataValue::Bool(v) => format!("bool {v}"),
            other => match other.as_i64() {
                Some(v) => format!("{} {v}", other.type_name()),
                None => format!(
                    "{} {}",
                    other.type_name(),
                    other.as_u64().unwrap_or_default()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_widens_to_its_shortest_decimal() {
        assert_eq!(MetadataValue::F32(1e-5).as_f64(), Some(1e-5));
        assert_eq!(MetadataValue::F32(100000.0).as_f64(), Some(100000.0));
    }

    #[test]
    fn integers_convert_only_when_they_fit() {
        assert_eq!(MetadataValue::I32(-1).as_u64(), None);
        assert_eq!(MetadataValue::I32(7).as_u64(), Some(7));
        assert_eq!(MetadataValue::U64(u64::MAX).as_i64(), None);
        assert_eq!(MetadataValue::String("x".into()).as_u64(), None);
        assert_eq!(
            MetadataValue::U64(u64::MAX).describe(),
            format!("uint64 {}", u64::MAX)
        );
    }
}
