//! Reading JSON-lines data files, plain or gzip-compressed (`.gz`), with errors that name
//! the file and line.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::TaskError;

/// Parses every non-blank line of `path` as a `T`; returns `(line number, record)` pairs.
pub(crate) fn read_records<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, TaskError> {
    let io_err = |source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut records = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| TaskError::Data {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        records.push((i + 1, record));
    }
    if records.is_empty() {
        return Err(TaskError::Data {
            path: path.to_path_buf(),
            line: 0,
            message: "no records: expected one JSON object per line".to_string(),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Rec {
        a: u32,
    }

    #[test]
    fn plain_and_gzip_files_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("x.jsonl");
        std::fs::write(&plain, "{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        let gz = dir.path().join("x.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(b"{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        enc.finish().unwrap();
        let want = vec![(1, Rec { a: 1 }), (3, Rec { a: 2 })];
        assert_eq!(read_records::<Rec>(&plain).unwrap(), want);
        assert_eq!(read_records::<Rec>(&gz).unwrap(), want);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n").unwrap();
        let err = read_records::<Rec>(&path).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:2:"), "{err}");
        assert!(err.contains("missing field `a`"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        let err = read_records::<Rec>(&path).unwrap_err().to_string();
        assert!(err.contains("no records"), "{err}");
    }
}
