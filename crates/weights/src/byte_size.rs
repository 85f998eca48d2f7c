//! Human byte sizes for options like `--shard-size 2GB`.

use std::fmt;
use std::str::FromStr;

/// A size in bytes, parsed from `500MB`, `2GB`, `1.5GiB`, `4096` (decimal units are powers of
/// 1000, as Hugging Face's `max_shard_size`; `KiB`/`MiB`/`GiB` are powers of 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a size: expected a number and a unit, like 2GB"))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "t" | "tb" => 1_000_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
                ))
            }
        };
        let bytes = value * scale as f64;
        if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(format!("`{s}`: a size must be at least 1 byte"));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        match self.0 {
            n if n >= 1_000_000_000 => write!(f, "{:.2} GB", b / 1e9),
            n if n >= 1_000_000 => write!(f, "{:.1} MB", b / 1e6),
            n if n >= 1_000 => write!(f, "{:.1} KB", b / 1e3),
            n => write!(f, "{n} B"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;

    #[test]
    fn parses_units() {
        assert_eq!("2GB".parse::<ByteSize>().unwrap(), ByteSize(2_000_000_000));
        assert_eq!("1.5 KiB".parse::<ByteSize>().unwrap(), ByteSize(1536));
        assert_eq!("4096".parse::<ByteSize>().unwrap(), ByteSize(4096));
        assert!("2XB"
            .parse::<ByteSize>()
            .unwrap_err()
            .contains("unknown unit"));
        assert!("0".parse::<ByteSize>().is_err());
        assert!("GB".parse::<ByteSize>().is_err());
    }
}
