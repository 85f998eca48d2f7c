//! Append-only JSON-lines files: each record goes out in one write, and reading tolerates
//! the torn, unterminated last line that a process killed mid-write leaves behind.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::QdError;

/// Appends JSON records, one per line.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    file: File,
    /// The file's length: where the next record starts.
    len: u64,
    line: Vec<u8>,
}

impl JsonlWriter {
    /// Opens (creating if needed) a file for appending.
    pub fn open(path: &Path) -> Result<Self, QdError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| QdError::io(path, e))?;
        let len = file.metadata().map_err(|e| QdError::io(path, e))?.len();
        Ok(JsonlWriter {
            path: path.to_path_buf(),
            file,
            len,
            line: Vec::new(),
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one record in a single write; returns the byte offset it starts at.
    pub fn append<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<u64, QdError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(|e| QdError::Record {
            path: self.path.clone(),
            line: 0,
            reason: format!("cannot serialise the record: {e}"),
        })?;
        self.line.push(b'\n');
        self.file
            .write_all(&self.line)
            .map_err(|e| QdError::io(&self.path, e))?;
        let offset = self.len;
        self.len += self.line.len() as u64;
        Ok(offset)
    }

    /// Makes everything appended so far durable (fsync).
    pub fn sync(&self) -> Result<(), QdError> {
        self.file
            .sync_data()
            .map_err(|e| QdError::io(&self.path, e))
    }
}

/// What reading a JSON-lines file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonlScan {
    /// Complete records read (up to where the visitor stopped).
    pub records: u64,
    /// The byte length of those records.
    pub valid_bytes: u64,
    /// Bytes of an unterminated last line (a write cut short by a crash), ignored.
    pub torn_bytes: u64,
}

/// Where a record lies in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    /// The 1-based line number.
    pub line: u64,
    /// The byte offset of the line's start.
    pub offset: u64,
}

/// Reads complete records in order, calling `visit(position, record)` until it breaks or
/// returns an error. A terminated line that does not parse is an error naming the file
/// and line; an unterminated last line is counted as torn and skipped.
pub fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
    mut visit: impl FnMut(RecordPos, T) -> Result<ControlFlow<()>, QdError>,
) -> Result<JsonlScan, QdError> {
    let file = File::open(path).map_err(|e| QdError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut scan = JsonlScan {
        records: 0,
        valid_bytes: 0,
        torn_bytes: 0,
    };
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| QdError::io(path, e))?;
        if n == 0 {
            return Ok(scan);
        }
        if buf.last() != Some(&b'\n') {
            scan.torn_bytes = n as u64;
            return Ok(scan);
        }
        let line = scan.records + 1;
        let record = serde_json::from_slice(&buf).map_err(|e| QdError::Record {
            path: path.to_path_buf(),
            line,
            reason: format!("not a valid record: {e}"),
        })?;
        let pos = RecordPos {
            line,
            offset: scan.valid_bytes,
        };
        if visit(pos, record)?.is_break() {
            return Ok(scan);
        }
        scan.records = line;
        scan.valid_bytes += n as u64;
    }
}

/// Reads the one record that starts at byte `offset`.
pub fn read_record_at<T: DeserializeOwned>(path: &Path, offset: u64) -> Result<T, String> {
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut line = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if line.last() != Some(&b'\n') {
        return Err(format!(
            "{} has no complete record at byte {offset}",
            path.display()
        ));
    }
    serde_json::from_slice(&line)
        .map_err(|e| format!("{}, byte {offset}: not a valid record: {e}", path.display()))
}

/// Cuts a file down to `len` bytes (dropping a torn tail or records to be rewritten).
pub fn truncate(path: &Path, len: u64) -> Result<(), QdError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| QdError::io(path, e))?;
    if file.metadata().map_err(|e| QdError::io(path, e))?.len() != len {
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(|e| QdError::io(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes three records; returns their sizes.
    fn write_three(path: &Path) -> Vec<u64> {
        let mut w = JsonlWriter::open(path).unwrap();
        let mut offsets: Vec<u64> = (0..3u32)
            .map(|i| w.append(&(i, 1.0f64 / 3.0, vec![i as f32 / 7.0])).unwrap())
            .collect();
        offsets.push(w.len());
        offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    type Row = (u32, f64, Vec<f32>);

    fn read_all(path: &Path) -> (Vec<Row>, JsonlScan) {
        let mut rows = Vec::new();
        let scan = read_jsonl(path, |_, r| {
            rows.push(r);
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        (rows, scan)
    }

    #[test]
    fn records_round_trip_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let sizes = write_three(&path);
        let (rows, scan) = read_all(&path);
        assert_eq!(scan.records, 3);
        assert_eq!(scan.valid_bytes, sizes.iter().sum::<u64>());
        assert_eq!(rows[2].1.to_bits(), (1.0f64 / 3.0).to_bits());
        assert_eq!(rows[2].2[0].to_bits(), (2.0f32 / 7.0).to_bits());
        let third: Row = read_record_at(&path, sizes[0] + sizes[1]).unwrap();
        assert_eq!(third, rows[2]);
        assert!(read_record_at::<Row>(&path, 3).is_err());
        assert!(read_record_at::<Row>(&path, scan.valid_bytes).is_err());
    }

    #[test]
    fn torn_tail_is_skipped_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let sizes = write_three(&path);
        let full = std::fs::read(&path).unwrap();
        let keep = (sizes[0] + sizes[1]) as usize;
        for cut in keep..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (rows, scan) = read_all(&path);
            assert_eq!(rows.len(), 2);
            assert_eq!(scan.torn_bytes as usize, cut - keep);
            truncate(&path, scan.valid_bytes).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), &full[..keep]);
        }
    }

    #[test]
    fn the_visitor_can_stop_early() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let sizes = write_three(&path);
        let scan = read_jsonl::<Row>(&path, |pos, _| {
            Ok(if pos.line == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
        .unwrap();
        assert_eq!((scan.records, scan.valid_bytes), (1, sizes[0]));
    }

    #[test]
    fn corrupt_terminated_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        write_three(&path);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.insert_str(text.find('\n').unwrap() + 1, "{garbage}\n");
        std::fs::write(&path, text).unwrap();
        let err = read_jsonl::<Row>(&path, |_, _| Ok(ControlFlow::Continue(())))
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.jsonl, line 2"), "{err}");
    }
}
